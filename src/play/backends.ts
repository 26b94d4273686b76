/**
 * Which kernels the /play page trains with, picked in its worker: WebGPU when asked for or available
 * (aha's WGSL kernels, src/kernels/webgpu/), else WASM SIMD (src/kernels/wasm.ts, the module fetched
 * from the page's folder), else the TypeScript reference ("js"). Each choice says why, for the page.
 */
import type { Backend } from "../kernels/backend.js";
import { tsBackend } from "../kernels/ts.js";
import { wasmBackendFrom, wasmSimdSupported } from "../kernels/wasm.js";
import type { BackendChoice } from "./protocol.js";

export interface Picked {
  backend: Backend;
  name: "webgpu" | "wasm" | "js";
  /** Why, in words (the adapter, or why a faster path was not taken). */
  detail: string;
}

/** A WebGPU backend factory (null while this build has none): the adapter's description and the backend. */
export type WebGpuFactory = () => Promise<{ backend: Backend; adapter: string } | { error: string }>;

export async function pickBackend(choice: BackendChoice, wasmUrl: URL, webgpu: WebGpuFactory | null): Promise<Picked> {
  const notes: string[] = [];
  if (choice === "auto" || choice === "webgpu") {
    const gpu = (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu;
    if (!gpu) notes.push("this browser has no WebGPU (navigator.gpu)");
    else if (!webgpu) notes.push("WebGPU is present, but this build of aha has no WebGPU kernels");
    else {
      const r = await webgpu();
      if ("backend" in r) return { backend: r.backend, name: "webgpu", detail: `WebGPU on ${r.adapter}` };
      notes.push(`WebGPU failed: ${r.error}`);
    }
    if (choice === "webgpu") throw new Error(`backend=webgpu: ${notes.join("; ")}`);
  }
  if (choice === "auto" || choice === "wasm") {
    if (!wasmSimdSupported()) notes.push("this browser has no WASM SIMD");
    else {
      try {
        const res = await fetch(wasmUrl);
        if (!res.ok) throw new Error(`${wasmUrl.pathname}: HTTP ${res.status} (the WASM kernels were not built: apt-get install clang lld, then npm run build)`);
        const backend = await wasmBackendFrom(await res.arrayBuffer());
        return { backend, name: "wasm", detail: ["WASM SIMD kernels", ...notes].join("; ") };
      } catch (e) {
        notes.push(`WASM failed: ${(e as Error).message}`);
      }
    }
    if (choice === "wasm") throw new Error(`backend=wasm: ${notes.join("; ")}`);
  }
  return { backend: tsBackend, name: "js", detail: ["the TypeScript reference kernels", ...notes].join("; ") };
}
