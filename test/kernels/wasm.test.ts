/**
 * The wasm backend's WASM SIMD kernels against the TypeScript reference, at the native tests'
 * tolerances. The module must be built (`npm run build`, or `node scripts/build-wasm.mjs`; CI installs
 * clang and lld): a missing module fails here instead of skipping.
 */
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { tsBackend as R } from "../../src/kernels/ts.js";
import { wasmBackendFrom, wasmSimdSupported } from "../../src/kernels/wasm.js";
import type { Backend } from "../../src/kernels/backend.js";
import { cuSeqlens, expectClose, randn, rng, type Tol } from "./util.js";
// @ts-expect-error -- a plain .mjs build script without types
import { WASM_OUT } from "../../scripts/build-wasm.mjs";

/** The native backend's tolerances (test/kernels/native.test.ts). fp32 GEMM: K ≤ 1024 products of values in [-1, 1). */
const GEMM: Tol = { atol: 1e-4, rtol: 1e-4 };
/** fp32 elementwise / row kernels vs the fp64-accumulating reference. */
const ELEM: Tol = { atol: 1e-6, rtol: 1e-5 };
/** reductions over rows (fp32 partial sums). */
const RED: Tol = { atol: 1e-5, rtol: 1e-4 };
/** attention (softmax with the polynomial exp, fp32 dots). */
const ATTN: Tol = { atol: 2e-5, rtol: 2e-4 };

const load = (): Promise<Backend> => wasmBackendFrom(readFileSync(WASM_OUT as string));

/** Runs fn on the reference and on W with fresh copies of the same inputs; compares the outputs listed. */
function both<T extends Float32Array[]>(W: Backend, make: () => T, fn: (B: Backend, xs: T) => void, outIdx: number[], tol: Tol, label: string): void {
  const a = make();
  const b = a.map((x) => x.slice()) as T;
  fn(R, a);
  fn(W, b);
  for (const i of outIdx) expectClose(`${label} arg ${i}`, b[i]!, a[i]!, tol);
}

describe("wasm kernels", () => {
  it("the module is built (node scripts/build-wasm.mjs)", () => {
    expect(existsSync(WASM_OUT as string) ? "built" : `${WASM_OUT as string} missing`).toBe("built");
    expect(wasmSimdSupported()).toBe(true);
  });

  it("matmul fp32: every transpose, accumulate, odd sizes, operands longer than needed", async () => {
    const W = await wasmBackendFrom(readFileSync(WASM_OUT as string));
    expect(W.name).toBe("wasm");
    const r = rng(10);
    for (const [m, n, k] of [[1, 1, 1], [3, 17, 33], [17, 3, 129], [33, 129, 17], [64, 64, 64], [5, 200, 300], [130, 344, 128]] as const) {
      for (const transA of [false, true]) for (const transB of [false, true]) for (const accumulate of [false, true]) {
        const a = randn(r, m * k + 3), b = randn(r, k * n + 5), c0 = randn(r, m * n);
        const cr = c0.slice(), cw = c0.slice();
        const opts = { transA, transB, accumulate };
        R.matmul(cr, a, b, m, n, k, opts);
        W.matmul(cw, a, b, m, n, k, opts);
        expectClose(`matmul ${m}x${k}x${n} ${JSON.stringify(opts)}`, cw, cr, GEMM);
      }
    }
  });

  it("a product larger than the memory grows it; a short operand is a RangeError", async () => {
    const W = await wasmBackendFrom(readFileSync(WASM_OUT as string));
    const r = rng(3);
    const [m, n, k] = [300, 500, 700]; // 4.8 MB of operands > the 1 MiB initial memory
    const a = randn(r, m * k), b = randn(r, k * n);
    const cr = new Float32Array(m * n), cw = new Float32Array(m * n);
    R.matmul(cr, a, b, m, n, k, { transB: true });
    W.matmul(cw, a, b, m, n, k, { transB: true });
    expectClose("large matmul", cw, cr, { atol: 2e-4, rtol: 1e-4 });
    expect(() => W.matmul(cw, a.subarray(0, 10), b, m, n, k)).toThrow(RangeError);
  });

  it("rmsnorm forward and backward", async () => {
    const W = await load();
    const r = rng(15);
    for (const C of [1, 3, 17, 64, 128, 130]) for (const rows of [1, 3, 17, 300]) {
      both(W, () => [new Float32Array(rows * C), new Float32Array(rows), randn(r, rows * C, 3), randn(r, C)],
        (B, [o, rs, x, w]) => B.rmsnormForward(o, rs, x, w, rows, C, 1e-5), [0, 1], ELEM, `rmsnormForward ${rows}x${C}`);
      const x = randn(r, rows * C, 3), w = randn(r, C);
      const rstd = new Float32Array(rows);
      R.rmsnormForward(new Float32Array(rows * C), rstd, x, w, rows, C, 1e-5);
      both(W, () => [randn(r, rows * C), randn(r, C), randn(r, rows * C)],
        (B, [dx, dw, dy]) => B.rmsnormBackward(dx, dw, dy, x, w, rstd, rows, C), [0, 1], RED, `rmsnormBackward ${rows}x${C}`);
    }
  });

  it("swiglu forward and backward (large |gate|: exp over- and underflow)", async () => {
    const W = await load();
    const r = rng(17);
    for (const n of [1, 3, 17, 344, 40_000]) {
      both(W, () => [new Float32Array(n), randn(r, n, 8), randn(r, n, 2)], (B, [o, g, u]) => B.swigluForward(o, g, u), [0], ELEM, `swigluForward ${n}`);
      both(W, () => [randn(r, n), randn(r, n), randn(r, n), randn(r, n, 8), randn(r, n, 2)],
        (B, [dg, du, d, g, u]) => B.swigluBackward(dg, du, d, g, u), [0, 1], ELEM, `swigluBackward ${n}`);
    }
    both(W, () => [new Float32Array(4), Float32Array.from([-200, -90, 90, 200]), Float32Array.from([1, 1, 1, 1])],
      (B, [o, g, u]) => B.swigluForward(o, g, u), [0], ELEM, "swigluForward at ±90, ±200");
  });

  it("attention forward and backward: packed sequences, GQA, D = 32/64 and odd, empty sequences", async () => {
    const W = await load();
    const r = rng(18);
    const cases: Array<{ lens: number[]; Hkv: number; group: number; D: number }> = [
      { lens: [1], Hkv: 1, group: 1, D: 3 },
      { lens: [17], Hkv: 2, group: 2, D: 64 },
      { lens: [5, 1, 33, 2], Hkv: 1, group: 7, D: 32 },
      { lens: [40, 60], Hkv: 4, group: 1, D: 32 },
      { lens: [0, 4, 0], Hkv: 3, group: 1, D: 17 },
    ];
    for (const { lens, Hkv, group, D } of cases) {
      const Hq = Hkv * group;
      const T = lens.reduce((a, b) => a + b, 0);
      const cu = cuSeqlens(lens);
      const scale = 1 / Math.sqrt(D);
      const label = `attention lens=${lens} Hq=${Hq} Hkv=${Hkv} D=${D}`;
      const q = randn(r, T * Hq * D, 2), k = randn(r, T * Hkv * D, 2), v = randn(r, T * Hkv * D);
      both(W, () => [new Float32Array(T * Hq * D), new Float32Array(Hq * T)],
        (B, [o, lse]) => B.attentionForward(o, lse, q, k, v, cu, T, Hq, Hkv, D, scale), [0, 1], ATTN, `${label} fwd`);
      const out = new Float32Array(T * Hq * D), lse = new Float32Array(Hq * T);
      R.attentionForward(out, lse, q, k, v, cu, T, Hq, Hkv, D, scale);
      const dout = randn(r, T * Hq * D);
      both(W, () => [randn(r, T * Hq * D), randn(r, T * Hkv * D), randn(r, T * Hkv * D)],
        (B, [dq, dk, dv]) => B.attentionBackward(dq, dk, dv, dout, out, lse, q, k, v, cu, T, Hq, Hkv, D, scale),
        [0, 1, 2], ATTN, `${label} bwd`);
    }
  });

  it("attention decode against a KV cache (slots out of order, lengths 1..maxLen); a bad length is a RangeError", async () => {
    const W = await load();
    const r = rng(19);
    for (const [Hkv, group, D] of [[1, 1, 64], [2, 7, 32], [4, 1, 32], [3, 1, 5]] as const) {
      const Hq = Hkv * group, maxLen = 37, nSlots = 5, B = 4;
      const kc = randn(r, nSlots * maxLen * Hkv * D, 2), vc = randn(r, nSlots * maxLen * Hkv * D);
      const slots = Int32Array.from([3, 0, 4, 1]), lens = Int32Array.from([1, 37, 17, 2]);
      const q = randn(r, B * Hq * D, 2);
      both(W, () => [new Float32Array(B * Hq * D)],
        (Bk, [o]) => Bk.attentionDecode(o, q, kc, vc, slots, lens, B, maxLen, Hq, Hkv, D, 1 / Math.sqrt(D)), [0], ATTN,
        `attentionDecode Hq=${Hq} Hkv=${Hkv} D=${D}`);
    }
    expect(() => W.attentionDecode(new Float32Array(4), new Float32Array(4), new Float32Array(40), new Float32Array(40), Int32Array.from([0]), Int32Array.from([11]), 1, 10, 1, 1, 4, 0.5)).toThrow(RangeError);
  });
});
