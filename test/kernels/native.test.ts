/**
 * Every native kernel against the TypeScript reference on random inputs, odd sizes included.
 * The addon MUST load (CI installs libdnnl-dev and builds it in `npm ci`): if it does not, these tests
 * fail — unless AHA_BACKEND=ts is set explicitly, which declares a machine without the native backend.
 */
import { describe, expect, it } from "vitest";
import type { Backend } from "../../src/kernels/backend.js";
import { loadNativeBackend } from "../../src/kernels/native.js";
import { tsBackend as R } from "../../src/kernels/ts.js";
import { kernelConformance } from "./conformance.js";

const load = loadNativeBackend();
const tsOnly = process.env["AHA_BACKEND"] === "ts";

describe("native addon", () => {
  it(tsOnly ? "is not required (AHA_BACKEND=ts)" : "loads (build it with `npm run build:native`)", () => {
    if (tsOnly) return;
    expect(load.ok ? "loaded" : load.error).toBe("loaded");
  });
});

describe.runIf(load.ok)("native kernels match the reference", () => {
  const N = (load.ok ? load.backend : R) as Backend;
  const addon = load.ok ? load.addon : null;
  kernelConformance(N, {
    bf16Paths: (["native", "emulate"] as const).map((mode) => ({
      label: mode, before: () => addon?.setBf16Gemm(mode), after: () => addon?.setBf16Gemm("auto"),
    })),
  });

  it("rejects wrong lengths instead of touching memory", () => {
    expect(() => N.matmul(new Float32Array(3), new Float32Array(4), new Float32Array(4), 2, 2, 2)).toThrow(/length/);
    expect(() => N.attentionForward(new Float32Array(8), new Float32Array(2), new Float32Array(8), new Float32Array(8),
      new Float32Array(8), Int32Array.from([0, 3]), 2, 1, 1, 4, 1)).toThrow(/cuSeqlens/);
  });
});
