/**
 * Picks the compute backend. AHA_BACKEND=ts|native|webgpu forces one (a forced `native` that cannot load
 * is an error; `webgpu` without the optional `webgpu` package is a UserError saying how to get it);
 * otherwise the native addon when it loads, else the TypeScript reference with ONE warning.
 */
import type { Backend } from "./backend.js";
import { tsBackend } from "./ts.js";
import { loadNativeBackend } from "./native.js";
import { requireWebGpuBackend } from "./webgpu-node.js";

export type { Backend, BF16, F32, MatmulOptions } from "./backend.js";
export { tsBackend } from "./ts.js";

let chosen: Backend | undefined;

/** The backend for this process (chosen once, then cached). */
export function getBackend(): Backend {
  if (chosen) return chosen;
  const want = process.env["AHA_BACKEND"];
  if (want === "ts") {
    chosen = tsBackend;
  } else if (want === "native") {
    const r = loadNativeBackend();
    if (!r.ok) throw new Error(`AHA_BACKEND=native but the native addon did not load: ${r.error}`);
    chosen = r.backend;
  } else if (want === "webgpu") {
    chosen = requireWebGpuBackend();
  } else if (want === undefined || want === "") {
    const r = loadNativeBackend();
    if (r.ok) {
      chosen = r.backend;
    } else {
      process.stderr.write(`aha: warning: native kernels unavailable (${r.error}); using the slow TypeScript backend. ` +
        "Install libdnnl-dev and g++, then run `npm run build:native`.\n");
      chosen = tsBackend;
    }
  } else {
    throw new Error(`AHA_BACKEND must be 'ts', 'native' or 'webgpu', got '${want}'`);
  }
  return chosen;
}
