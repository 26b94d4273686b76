/**
 * The kernel conformance suite: every kernel of a Backend against the TypeScript reference on random
 * inputs, odd sizes included, at the native backend's tolerances. Run by native.test.ts and webgpu.test.ts.
 */
import { expect, it } from "vitest";
import { packedBf16Size, SAMPLE_CHUNK, type Backend } from "../../src/kernels/backend.js";
import { tsBackend as R, roundBf16 } from "../../src/kernels/ts.js";
import { cuSeqlens, expectClose, randn, rng, type Tol } from "./util.js";


/** fp32 elementwise / row kernels vs the fp64-accumulating reference. */
export const ELEM: Tol = { atol: 1e-6, rtol: 1e-5 };
/** reductions over rows/columns (fp32 partial sums). */
export const RED: Tol = { atol: 1e-5, rtol: 1e-4 };
/** fp32 GEMM: K ≤ 1024 products of values in [-1, 1). */
export const GEMM: Tol = { atol: 1e-4, rtol: 1e-4 };
/** bf16 GEMM: both backends use the same bf16-rounded operands, only the accumulation order differs. */
export const GEMM_BF16: Tol = { atol: 2e-4, rtol: 2e-4 };
/** attention (softmax with the polynomial exp, fp32 dots). */
export const ATTN: Tol = { atol: 2e-5, rtol: 2e-4 };
/** the sampler's exp pass: exp of fp32 arguments down to −87 (relative error up to ~6e-6). */
export const SAMPLE: Tol = { atol: 1e-30, rtol: 1e-5 };
/** vocabulary softmax. */
export const VOCAB: Tol = { atol: 2e-5, rtol: 1e-4 };

export interface ConformanceOptions {
  /** Runs the bf16 matmul cases once per entry, after calling it (e.g. to switch the native bf16 path). */
  bf16Paths?: Array<{ label: string; before: () => void; after: () => void }>;
}

/** The reference's one-row samplePrep. */
const R_samplePrep = (e: Float32Array, st: Float64Array, z: Float32Array, invT: number): void => R.samplePrep(e, st, z, invT);

/** Registers the conformance tests (call inside a describe) for backend N. */
export function kernelConformance(N: Backend, opts: ConformanceOptions = {}): void {
  const SIZES = [1, 3, 17, 33, 129];

  /** run fn on both backends with fresh copies of the same inputs, compare the listed outputs */
  function both<T extends Float32Array[]>(make: () => T, fn: (B: Backend, xs: T) => void, outIdx: number[], tol: Tol,
    label: string): void {
    const a = make();
    const b = a.map((x) => x.slice()) as T;
    fn(R, a);
    fn(N, b);
    for (const i of outIdx) expectClose(`${label} arg ${i}`, b[i]!, a[i]!, tol);
  }

  it("matmul fp32: every transpose, accumulate, odd sizes", () => {
    const r = rng(10);
    for (const [m, n, k] of [[1, 1, 1], [3, 17, 33], [17, 3, 129], [33, 129, 17], [64, 64, 64], [5, 200, 300]] as const) {
      for (const transA of [false, true]) for (const transB of [false, true]) for (const accumulate of [false, true]) {
        const a = randn(r, m * k), b = randn(r, k * n), c0 = randn(r, m * n);
        const cr = c0.slice(), cn = c0.slice();
        const opts = { transA, transB, accumulate };
        R.matmul(cr, a, b, m, n, k, opts);
        N.matmul(cn, a, b, m, n, k, opts);
        expectClose(`matmul ${m}x${k}x${n} ${JSON.stringify(opts)}`, cn, cr, GEMM);
      }
    }
  });

  for (const path of opts.bf16Paths ?? [{ label: "default", before: () => {}, after: () => {} }]) {
    it(`matmul bf16 (${path.label} path): fp32 operands rounded, BF16 arrays used as they are, mixed`, () => {
      path.before();
      try {
        matmulBf16Cases(N);
      } finally {
        path.after();
      }
    });
  }


  it("toBf16 is bit-exact (ties to even, NaN, inf, subnormals)", () => {
    const r = rng(12);
    const src = randn(r, 1000, 100);
    src.set([1 + 2 ** -8, 1 + 3 * 2 ** -8, NaN, Infinity, -Infinity, 1e-40, -0, 3.4e38], 0);
    const a = new Uint16Array(src.length), b = new Uint16Array(src.length);
    R.toBf16(a, src);
    N.toBf16(b, src);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(roundBf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6); // the reference itself rounds ties to even
  });

  it("add, addBias, addBiasBackward, scale, sumSquares", () => {
    const r = rng(13);
    for (const n of SIZES) for (const rows of [1, 3, 129]) {
      both(() => [new Float32Array(n), randn(r, n), randn(r, n)], (B, [o, a, b]) => B.add(o, a, b), [0], ELEM, `add ${n}`);
      both(() => [randn(r, rows * n), randn(r, n)], (B, [x, bias]) => B.addBias(x, bias, rows, n), [0], ELEM, `addBias ${rows}x${n}`);
      both(() => [randn(r, n), randn(r, rows * n)], (B, [db, d]) => B.addBiasBackward(db, d, rows, n), [0], RED,
        `addBiasBackward ${rows}x${n}`);
      both(() => [randn(r, rows * n)], (B, [x]) => B.scale(x, -1.7), [0], ELEM, `scale ${n}`);
    }
    for (const n of [1, 17, 4097, 100_003]) {
      const x = randn(r, n);
      expectClose(`sumSquares ${n}`, [N.sumSquares(x)], [R.sumSquares(x)], { atol: 1e-9, rtol: 1e-6 });
    }
  });

  it("embedding forward and backward (repeated ids)", () => {
    const r = rng(14);
    for (const C of SIZES) for (const T of [1, 3, 33]) {
      const V = 7;
      const ids = Int32Array.from({ length: T }, () => Math.floor(r() * V));
      both(() => [new Float32Array(T * C), randn(r, V * C)], (B, [o, w]) => B.embeddingForward(o, ids, w, T, C), [0], ELEM,
        `embeddingForward T=${T} C=${C}`);
      both(() => [randn(r, V * C), randn(r, T * C)], (B, [dw, d]) => B.embeddingBackward(dw, d, ids, T, C), [0], ELEM,
        `embeddingBackward T=${T} C=${C}`);
    }
    expect(() => N.embeddingForward(new Float32Array(2), Int32Array.from([7]), new Float32Array(14), 1, 2)).toThrow(/outside/);
  });

  it("rmsnorm forward and backward", () => {
    const r = rng(15);
    for (const C of [...SIZES, 64, 896]) for (const rows of [1, 3, 17, 300]) {
      both(() => [new Float32Array(rows * C), new Float32Array(rows), randn(r, rows * C, 3), randn(r, C)],
        (B, [o, rs, x, w]) => B.rmsnormForward(o, rs, x, w, rows, C, 1e-6), [0, 1], ELEM, `rmsnormForward ${rows}x${C}`);
      const x = randn(r, rows * C, 3), w = randn(r, C);
      const rstd = new Float32Array(rows);
      R.rmsnormForward(new Float32Array(rows * C), rstd, x, w, rows, C, 1e-6);
      both(() => [randn(r, rows * C), randn(r, C), randn(r, rows * C)],
        (B, [dx, dw, dy]) => B.rmsnormBackward(dx, dw, dy, x, w, rstd, rows, C), [0, 1], RED, `rmsnormBackward ${rows}x${C}`);
    }
  });

  it("rope forward and inverse", () => {
    const r = rng(16);
    for (const D of [2, 6, 64, 80, 128]) for (const [T, H] of [[1, 1], [3, 7], [17, 2]] as const) {
      const cos = randn(r, T * D / 2), sin = randn(r, T * D / 2);
      for (const inverse of [false, true]) {
        both(() => [randn(r, T * H * D)], (B, [x]) => B.rope(x, cos, sin, T, H, D, inverse), [0], ELEM,
          `rope T=${T} H=${H} D=${D} inverse=${inverse}`);
      }
    }
  });

  it("swiglu forward and backward", () => {
    const r = rng(17);
    for (const n of [...SIZES, 40_000]) {
      both(() => [new Float32Array(n), randn(r, n, 8), randn(r, n, 2)], (B, [o, g, u]) => B.swigluForward(o, g, u), [0],
        ELEM, `swigluForward ${n}`);
      both(() => [randn(r, n), randn(r, n), randn(r, n), randn(r, n, 8), randn(r, n, 2)],
        (B, [dg, du, d, g, u]) => B.swigluBackward(dg, du, d, g, u), [0, 1], ELEM, `swigluBackward ${n}`);
    }
  });

  it("attention forward and backward: packed sequences, GQA ratios 1, 2, 7, D = 64/80/128 and odd", () => {
    const r = rng(18);
    const cases: Array<{ lens: number[]; Hkv: number; group: number; D: number }> = [
      { lens: [1], Hkv: 1, group: 1, D: 3 },
      { lens: [17], Hkv: 2, group: 2, D: 64 },
      { lens: [5, 1, 33, 2], Hkv: 1, group: 7, D: 80 },
      { lens: [3, 29], Hkv: 2, group: 1, D: 128 },
      { lens: [129], Hkv: 1, group: 2, D: 64 },
      { lens: [0, 4, 0], Hkv: 3, group: 1, D: 17 },
    ];
    for (const { lens, Hkv, group, D } of cases) {
      const Hq = Hkv * group;
      const T = lens.reduce((a, b) => a + b, 0);
      const cu = cuSeqlens(lens);
      const scale = 1 / Math.sqrt(D);
      const label = `attention lens=${lens} Hq=${Hq} Hkv=${Hkv} D=${D}`;
      const q = randn(r, T * Hq * D, 2), k = randn(r, T * Hkv * D, 2), v = randn(r, T * Hkv * D);
      both(() => [new Float32Array(T * Hq * D), new Float32Array(Hq * T)],
        (B, [o, lse]) => B.attentionForward(o, lse, q, k, v, cu, T, Hq, Hkv, D, scale), [0, 1], ATTN, `${label} fwd`);
      const out = new Float32Array(T * Hq * D), lse = new Float32Array(Hq * T);
      R.attentionForward(out, lse, q, k, v, cu, T, Hq, Hkv, D, scale);
      const dout = randn(r, T * Hq * D);
      both(() => [randn(r, T * Hq * D), randn(r, T * Hkv * D), randn(r, T * Hkv * D)],
        (B, [dq, dk, dv]) => B.attentionBackward(dq, dk, dv, dout, out, lse, q, k, v, cu, T, Hq, Hkv, D, scale),
        [0, 1, 2], ATTN, `${label} bwd`);
    }
  });

  it("attention decode against a KV cache (slots out of order, lengths 1..maxLen)", () => {
    const r = rng(19);
    for (const [Hkv, group, D] of [[1, 1, 64], [2, 7, 80], [2, 2, 128], [3, 1, 5]] as const) {
      const Hq = Hkv * group, maxLen = 37, nSlots = 5, B = 4;
      const kc = randn(r, nSlots * maxLen * Hkv * D, 2), vc = randn(r, nSlots * maxLen * Hkv * D);
      const slots = Int32Array.from([3, 0, 4, 1]), lens = Int32Array.from([1, 37, 17, 2]);
      const q = randn(r, B * Hq * D, 2);
      both(() => [new Float32Array(B * Hq * D)],
        (Bk, [o]) => Bk.attentionDecode(o, q, kc, vc, slots, lens, B, maxLen, Hq, Hkv, D, 1 / Math.sqrt(D)), [0], ATTN,
        `attentionDecode Hq=${Hq} Hkv=${Hkv} D=${D}`);
    }
  });

  it("attention decode against a bf16 KV cache", () => {
    const r = rng(22);
    for (const [Hkv, group, D] of [[2, 7, 64], [1, 1, 5]] as const) {
      const Hq = Hkv * group, maxLen = 37, nSlots = 5, B = 4;
      const kc = new Uint16Array(nSlots * maxLen * Hkv * D), vc = new Uint16Array(kc.length);
      R.toBf16(kc, randn(r, kc.length, 2));
      R.toBf16(vc, randn(r, vc.length));
      const slots = Int32Array.from([3, 0, 4, 1]), lens = Int32Array.from([1, 37, 17, 2]);
      const q = randn(r, B * Hq * D, 2);
      both(() => [new Float32Array(B * Hq * D)],
        (Bk, [o]) => Bk.attentionDecode(o, q, kc, vc, slots, lens, B, maxLen, Hq, Hkv, D, 1 / Math.sqrt(D)), [0], ATTN,
        `attentionDecode bf16 Hq=${Hq} Hkv=${Hkv} D=${D}`);
    }
  });

  it("packBf16 is bit-exact; matmulPacked matches, and each row does not depend on how many rows share the call", () => {
    const r = rng(23);
    for (const [n, k] of [[1, 1], [17, 5], [70, 33], [130, 600], [64, 1030]] as const) {
      const w = randn(r, n * k);
      const p1 = new Uint16Array(packedBf16Size(n, k)), p2 = new Uint16Array(p1.length);
      R.packBf16(p1, w, n, k);
      N.packBf16(p2, w, n, k);
      expect(p2).toEqual(p1);
      for (const m of [1, 5, 6, 7, 8, 13, 16, 17, 64]) { // both register tilings (6 × 4 and 8 × 3) and their remainders
        const x = randn(r, m * k);
        both(() => [new Float32Array(m * n)], (B, [c]) => B.matmulPacked(c, x, p1, m, n, k), [0], GEMM_BF16,
          `matmulPacked ${m}x${k}x${n}`);
        const all = new Float32Array(m * n), last = new Float32Array(n);
        N.matmulPacked(all, x, p1, m, n, k);
        N.matmulPacked(last, x.subarray((m - 1) * k), p1, 1, n, k);
        expect(last).toEqual(all.subarray((m - 1) * n));
      }
    }
  });

  it("matmulPackedMany: outputs of any widths (0 and non-multiples of 16 included), with and without biases", () => {
    const r = rng(27);
    for (const [ns, k] of [[[896, 128, 128], 64], [[40, 0, 3, 130], 33], [[17], 600], [[200, 200], 1030]] as const) {
      const sizes = ns.map((n) => packedBf16Size(n, k)), wp = new Uint16Array(sizes.reduce((s, x) => s + x, 0));
      let off = 0;
      ns.forEach((n, i) => { R.packBf16(wp.subarray(off, off + sizes[i]!), randn(r, n * k), n, k); off += sizes[i]!; });
      const biases = ns.map((n, i) => (i % 2 === 0 ? randn(r, n) : null));
      for (const m of [1, 7, 16, 64]) {
        const x = randn(r, m * k);
        for (const bs of [biases, undefined]) {
          both(() => ns.map((n) => randn(r, m * n)), (B, outs) => B.matmulPackedMany(outs, x, wp, m, [...ns], k, bs), ns.map((_, i) => i),
            GEMM_BF16, `matmulPackedMany ${m}x${k}x[${ns.join(",")}] ${bs ? "bias" : "no bias"}`);
        }
        // each output as its own matmulPacked (+ bias); the last row alone as within all rows
        const outs = ns.map((n) => new Float32Array(m * n)), lasts = ns.map((n) => new Float32Array(n));
        N.matmulPackedMany(outs, x, wp, m, [...ns], k, biases);
        N.matmulPackedMany(lasts, x.subarray((m - 1) * k), wp, 1, [...ns], k, biases);
        off = 0;
        ns.forEach((n, i) => {
          const alone = new Float32Array(m * n);
          N.matmulPacked(alone, x, wp.subarray(off, off + sizes[i]!), m, n, k);
          if (biases[i]) N.addBias(alone, biases[i]!, m, n);
          N.download(alone);
          N.download(outs[i]!);
          N.download(lasts[i]!);
          expectClose(`matmulPackedMany ${m} rows out ${i} vs matmulPacked`, outs[i]!, alone, GEMM_BF16);
          expect(lasts[i]).toEqual(outs[i]!.subarray((m - 1) * n));
          off += sizes[i]!;
        });
      }
      expect(() => N.matmulPackedMany(ns.map((n) => new Float32Array(n)), randn(r, k), wp.subarray(1), 1, [...ns], k)).toThrow(/wPacked/);
    }
  });

  it("copyRows: rows into their offsets (fp32 and bf16), the rest untouched; out-of-range rows refused", () => {
    const r = rng(26);
    for (const rowLen of [3, 128, 600]) {
      const at = Int32Array.of(5 * rowLen + 1, 0, 2 * rowLen, 9 * rowLen);
      const src = randn(r, at.length * rowLen), dst0 = randn(r, 10 * rowLen + 1);
      const want = dst0.slice();
      at.forEach((o, k) => want.set(src.subarray(k * rowLen, (k + 1) * rowLen), o));
      const got = dst0.slice();
      N.copyRows(got, src, rowLen, at);
      N.download(got);
      expect(got).toEqual(want);
      const b16 = new Uint16Array(dst0.length), s16 = Uint16Array.from(src, (_, i) => i + 1);
      N.copyRows(b16, s16, rowLen, at);
      N.download(b16);
      at.forEach((o, k) => expect(b16.subarray(o, o + rowLen)).toEqual(s16.subarray(k * rowLen, (k + 1) * rowLen)));
      expect(b16[at[0]! - 1]).toBe(0);
    }
    expect(() => N.copyRows(new Float32Array(8), new Float32Array(4), 4, Int32Array.of(6))).toThrow(/outside dst/);
  });

  it("samplePrep: the sampler's pass over the vocabulary", () => {
    const r = rng(24);
    for (const V of [1, 17, 1025, 151_936]) for (const invT of [0, 1, 1 / 0.6]) {
      const z = randn(r, V, 12);
      if (V > 3) z[2] = -Infinity;
      const chunks = Math.ceil(V / SAMPLE_CHUNK);
      const eR = new Float32Array(V), eN = new Float32Array(V), sR = new Float64Array(4 + chunks), sN = new Float64Array(4 + chunks);
      R.samplePrep(eR, sR, z, invT);
      N.samplePrep(eN, sN, z, invT);
      expect([sN[0], sN[1]]).toEqual([sR[0], sR[1]]);
      // fp32 argument (z − max)·invT rounds by ~|x|·6e-8 relative; the polynomial exp adds ~2e-7
      expectClose(`samplePrep stats V=${V} invT=${invT}`, sN, sR, SAMPLE);
      expectClose(`samplePrep e V=${V} invT=${invT}`, eN, eR, SAMPLE);
      if (V > 3) expect(eN[2]).toBe(0);
    }
  });

  it("samplePrep over rows (invT per row): each row as the one-row reference", () => {
    const r = rng(25);
    for (const V of [17, 1025, 151_936]) {
      const invT = Float32Array.of(1, 0, 1 / 0.6, 2);
      const R = invT.length, ns = 4 + Math.ceil(V / SAMPLE_CHUNK);
      const z = randn(r, R * V, 12);
      z[V + 3] = z[V + V - 1] = 40; // row 1: a tie for the maximum, the first index wins
      const eN = new Float32Array(R * V), sN = new Float64Array(R * ns);
      N.samplePrep(eN, sN, z, invT);
      for (let row = 0; row < R; row++) {
        const eR = new Float32Array(V), sR = new Float64Array(ns);
        R_samplePrep(eR, sR, z.subarray(row * V, (row + 1) * V), invT[row]!);
        const sRow = sN.subarray(row * ns, (row + 1) * ns);
        expect([sRow[0], sRow[1]]).toEqual([sR[0], sR[1]]);
        expectClose(`samplePrep rows V=${V} row ${row} stats`, sRow, sR, SAMPLE);
        if (invT[row]! > 0) expectClose(`samplePrep rows V=${V} row ${row} e`, eN.subarray(row * V, (row + 1) * V), eR, SAMPLE);
      }
      expect(sN[ns + 1]).toBe(3);
    }
    expect(() => N.samplePrep(new Float32Array(10), new Float64Array(20), new Float32Array(10), new Float32Array(3))).toThrow(/multiple/);
  });

  it("samplePrep with an empty e: the same stats (one row and rows), nothing written; NaN carried, a dead chunk 0", () => {
    const r = rng(27);
    const E0 = new Float32Array(0);
    for (const V of [1, 17, 1025, 151_936]) {
      const ns = 4 + Math.ceil(V / SAMPLE_CHUNK);
      for (const invT of [0, 1, 1 / 0.6]) {
        const z = randn(r, V, 12);
        if (V > 3) z[2] = -Infinity;
        const eR = new Float32Array(V), sR = new Float64Array(ns), sN = new Float64Array(ns);
        R_samplePrep(eR, sR, z, invT);
        N.samplePrep(E0, sN, z, invT);
        expect([sN[0], sN[1]]).toEqual([sR[0], sR[1]]);
        expectClose(`samplePrep stats only V=${V} invT=${invT}`, sN, sR, SAMPLE);
      }
      const invT = Float32Array.of(1, 0, 2);
      const z = randn(r, 3 * V, 12);
      const sN = new Float64Array(3 * ns);
      N.samplePrep(E0, sN, z, invT);
      for (let row = 0; row < 3; row++) {
        const sR = new Float64Array(ns);
        R_samplePrep(new Float32Array(V), sR, z.subarray(row * V, (row + 1) * V), invT[row]!);
        expectClose(`samplePrep stats only rows V=${V} row ${row}`, sN.subarray(row * ns, (row + 1) * ns), sR, SAMPLE);
      }
    }
    // a whole chunk at −∞ adds 0; one NaN in a chunk that is otherwise −∞ still makes the sums NaN
    const V = 3 * SAMPLE_CHUNK, ns = 7;
    const z = randn(r, V, 4);
    z.fill(-Infinity, SAMPLE_CHUNK, 2 * SAMPLE_CHUNK);
    const sN = new Float64Array(ns), sR = new Float64Array(ns);
    N.samplePrep(E0, sN, z, 1);
    R_samplePrep(new Float32Array(V), sR, z, 1);
    expect(sN[5]).toBe(0);
    expectClose("samplePrep stats only, a dead chunk", sN, sR, SAMPLE);
    z[SAMPLE_CHUNK + 5] = NaN;
    N.samplePrep(E0, sN, z, 1);
    expect(Number.isNaN(sN[2])).toBe(true);
  });

  it("logprobs forward and backward (in place, null gradients, negative targets)", () => {
    const r = rng(20);
    for (const V of [1, 3, 17, 129, 5003]) for (const T of [1, 3, 33]) {
      const logits = randn(r, T * V, 8);
      const targets = Int32Array.from({ length: T }, (_, t) => (t % 5 === 4 ? -1 : Math.floor(r() * V)));
      both(() => [new Float32Array(T), new Float32Array(T), new Float32Array(T)],
        (B, [lp, en, lse]) => B.logprobsForward(lp, en, lse, logits, targets, T, V), [0, 1, 2], VOCAB,
        `logprobsForward T=${T} V=${V}`);
      const lp = new Float32Array(T), en = new Float32Array(T), lse = new Float32Array(T);
      R.logprobsForward(lp, en, lse, logits, targets, T, V);
      const dlogp = randn(r, T), dent = randn(r, T);
      for (const [gl, ge] of [[dlogp, dent], [dlogp, null], [null, dent]] as const) {
        both(() => [new Float32Array(T * V)], (B, [d]) => B.logprobsBackward(d, logits, lse, en, gl, ge, targets, T, V), [0],
          VOCAB, `logprobsBackward T=${T} V=${V} dlogp=${gl !== null} dentropy=${ge !== null}`);
      }
      both(() => [logits.slice()], (B, [d]) => B.logprobsBackward(d, d, lse, en, dlogp, dent, targets, T, V), [0], VOCAB,
        `logprobsBackward in place T=${T} V=${V}`);
    }
  });

  it("adamw over several steps", () => {
    const r = rng(21);
    for (const n of [...SIZES, 70_001]) {
      const grads = [randn(r, n), randn(r, n), randn(r, n, 1e-3)];
      both(() => [randn(r, n), new Float32Array(n), new Float32Array(n)], (B, [p, m, v]) => {
        grads.forEach((g, i) => B.adamw(p, g, m, v, 3e-3, 0.9, 0.95, 1e-8, 0.1, i + 1));
      }, [0, 1, 2], ELEM, `adamw ${n}`);
    }
  });

}

/** bf16 products of N against the reference: fp32 operands rounded, BF16 arrays used as they are, and mixed. */
export function matmulBf16Cases(N: Backend): void {
  const r = rng(11);
  for (const [m, n, k] of [[1, 1, 1], [3, 17, 33], [33, 129, 17], [16, 96, 129], [40, 64, 100]] as const) {
    for (const transA of [false, true]) for (const transB of [false, true]) {
      const a = randn(r, m * k), b = randn(r, k * n), c0 = randn(r, m * n);
      const opts = { transA, transB, accumulate: true, bf16: true };
      const cr = c0.slice(), cn = c0.slice();
      R.matmul(cr, a, b, m, n, k, opts);
      N.matmul(cn, a, b, m, n, k, opts);
      expectClose(`bf16 matmul ${m}x${k}x${n} ${JSON.stringify(opts)}`, cn, cr, GEMM_BF16);
      const ab = new Uint16Array(m * k), bb = new Uint16Array(k * n);
      N.toBf16(ab, a);
      N.toBf16(bb, b);
      const cm = new Float32Array(m * n);
      N.matmul(cm, ab, b, m, n, k, { transA, transB }); // BF16 a makes the product bf16 × bf16
      R.matmul(cr, a, b, m, n, k, { transA, transB, bf16: true });
      expectClose(`mixed bf16 matmul ${m}x${k}x${n}`, cm, cr, GEMM_BF16);
      N.matmul(cm, ab, bb, m, n, k, { transA, transB });
      expectClose(`bf16 arrays matmul ${m}x${k}x${n}`, cm, cr, GEMM_BF16);
    }
  }
}
