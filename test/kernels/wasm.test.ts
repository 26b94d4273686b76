/**
 * The wasm backend (src/kernels/wasm.ts: WASM SIMD kernels for the hot loops, the TypeScript reference
 * for the rest) through the kernel conformance suite (test/kernels/conformance.ts: every kernel against
 * the reference at the native backend's tolerances), plus what is particular to it: operands longer
 * than needed, a product larger than the module's memory, exp's over- and underflow.
 * The module must be built (`npm run build`, or `node scripts/build-wasm.mjs`; CI installs clang and
 * lld): a missing module fails here instead of skipping.
 */
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { tsBackend as R } from "../../src/kernels/ts.js";
import { wasmBackendFrom, wasmSimdSupported } from "../../src/kernels/wasm.js";
import { ELEM, GEMM, kernelConformance } from "./conformance.js";
import { expectClose, randn, rng } from "./util.js";
// @ts-expect-error -- a plain .mjs build script without types
import { WASM_OUT } from "../../scripts/build-wasm.mjs";

const built = existsSync(WASM_OUT as string);
const W = built ? await wasmBackendFrom(readFileSync(WASM_OUT as string)) : R;

describe("wasm kernels", () => {
  it("the module is built (node scripts/build-wasm.mjs) and this engine has WASM SIMD", () => {
    expect(built ? "built" : `${WASM_OUT as string} missing`).toBe("built");
    expect(wasmSimdSupported()).toBe(true);
    expect(W.name).toBe("wasm");
  });

  it("matmul with operands longer than needed; a product larger than the memory grows it; a short operand is a RangeError", () => {
    const r = rng(3);
    for (const [m, n, k] of [[130, 344, 128], [300, 500, 700]] as const) { // the second: 4.8 MB > the 1 MiB initial memory
      for (const transB of [false, true]) {
        const a = randn(r, m * k + 3), b = randn(r, k * n + 5);
        const cr = new Float32Array(m * n), cw = new Float32Array(m * n);
        R.matmul(cr, a, b, m, n, k, { transB });
        W.matmul(cw, a, b, m, n, k, { transB });
        expectClose(`matmul ${m}x${k}x${n} transB=${transB}`, cw, cr, { ...GEMM, atol: 2e-4 });
      }
    }
    expect(() => W.matmul(new Float32Array(4), new Float32Array(3), new Float32Array(4), 2, 2, 2)).toThrow(RangeError);
  });

  it("swiglu at gates far beyond exp's range (±90, ±200); a bad decode length is a RangeError", () => {
    const g = Float32Array.from([-200, -90, -20, 20, 90, 200]), u = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const or = new Float32Array(6), ow = new Float32Array(6);
    R.swigluForward(or, g, u);
    W.swigluForward(ow, g, u);
    expectClose("swiglu", ow, or, ELEM);
    expect(() => W.attentionDecode(new Float32Array(4), new Float32Array(4), new Float32Array(40), new Float32Array(40), Int32Array.from([0]), Int32Array.from([11]), 1, 10, 1, 1, 4, 0.5)).toThrow(RangeError);
  });
});

describe("wasm kernels: the conformance suite", () => {
  kernelConformance(W);
});
