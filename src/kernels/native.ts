/**
 * The native backend: the N-API addon built from native/*.cc into build/Release/aha_native.node by
 * scripts/build-native.mjs (node-gyp, during `npm ci`). Matrix products through oneDNN (fp32, and bf16
 * with fp32 accumulation), fused SIMD + OpenMP kernels for the rest. This file only adapts the call
 * shapes: typed arrays are passed through without copies; the addon checks every length.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import type { Backend, BF16, F32, MatmulOptions } from "./backend.js";
import { resolveBf16Gemm, type Bf16Resolution } from "./bf16-gemm.js";
import { tsBackend } from "./ts.js";

/** The raw addon, as exported by native/addon.cc. */
export interface NativeAddon {
  matmul(c: F32, a: F32 | BF16, b: F32 | BF16, m: number, n: number, k: number, flags: number): void;
  /** oneDNN's implementation name for a product (flags as in matmul). */
  matmulImpl(m: number, n: number, k: number, flags: number): string;
  /**
   * The path bf16 products of one shape class take (native/addon.cc): "onednn" = oneDNN's bf16 matmul,
   * "emulate" = operands rounded to bf16, fp32 matmul. Classes: decode (m or n < 32), nt, nn, tn (the
   * layout: transA → tn, transB → nt). Set by ./bf16-gemm.ts on first bf16 use (measured, cached).
   */
  setBf16Path(cls: "decode" | "nt" | "nn" | "tn", path: "onednn" | "emulate"): void;
  /** The class and path a bf16 product with these dims and flags (as in matmul) takes now. */
  bf16Route(m: number, n: number, flags: number): { class: "decode" | "nt" | "nn" | "tn"; path: "onednn" | "emulate" };
  /** oneDNN's version ("2.6.3+hash") and the ISA it dispatches to (its enum, as a string). */
  versions(): { onednn: string; isa: string };
  /** Seconds per m×k×n product (b transposed) of oneDNN alone, timed in C++ (best of 3 × iters). */
  benchRaw(m: number, n: number, k: number, bf16: number, iters: number): number;
  /** Measured fp32 FMA peak in GFLOP/s on all OpenMP threads; null without AVX-512. */
  fmaPeak(iters: number): number | null;
  toBf16(out: BF16, src: F32): void;
  add(out: F32, a: F32, b: F32): void;
  addBias(x: F32, bias: F32, rows: number, n: number): void;
  addBiasBackward(dbias: F32, dout: F32, rows: number, n: number): void;
  scale(x: F32, s: number): void;
  sumSquares(x: F32): number;
  embeddingForward(out: F32, ids: Int32Array, wte: F32, T: number, C: number): void;
  embeddingBackward(dwte: F32, dout: F32, ids: Int32Array, T: number, C: number): void;
  rmsnormForward(out: F32, rstd: F32, inp: F32, w: F32, rows: number, C: number, eps: number): void;
  rmsnormBackward(dinp: F32, dw: F32, dout: F32, inp: F32, w: F32, rstd: F32, rows: number, C: number): void;
  rope(x: F32, cos: F32, sin: F32, T: number, H: number, D: number, inverse: boolean): void;
  swigluForward(out: F32, gate: F32, up: F32): void;
  swigluBackward(dgate: F32, dup: F32, dout: F32, gate: F32, up: F32): void;
  attentionForward(out: F32, lse: F32, q: F32, k: F32, v: F32, cuSeqlens: Int32Array,
    T: number, Hq: number, Hkv: number, D: number, scale: number): void;
  attentionBackward(dq: F32, dk: F32, dv: F32, dout: F32, out: F32, lse: F32, q: F32, k: F32, v: F32,
    cuSeqlens: Int32Array, T: number, Hq: number, Hkv: number, D: number, scale: number): void;
  attentionDecode(out: F32, q: F32, kCache: F32 | BF16, vCache: F32 | BF16, slots: Int32Array, lens: Int32Array,
    B: number, maxLen: number, Hq: number, Hkv: number, D: number, scale: number): void;
  packBf16(out: BF16, w: F32, n: number, k: number): void;
  matmulPacked(c: F32, x: F32, wPacked: BF16, m: number, n: number, k: number): void;
  matmulPackedMany(outs: F32[], x: F32, wPacked: BF16, m: number, ns: number[], k: number, biases?: (F32 | null)[]): void;
  samplePrep(e: F32, stats: Float64Array, logits: F32, invT: number | F32): void;
  /**
   * The machine limits decoding is measured against (native/decode.cc): the vdpbf16ps peak (GFLOP/s, 0
   * without avx512_bf16), the best read bandwidth over a buffer of `bandwidthBytes` (GB/s), and whether
   * matmulPacked runs on avx512_bf16 (packedNative) or the portable fp32 loop.
   */
  decodeLimits(bandwidthBytes: number, rounds: number, peakIters: number): { bf16PeakGflops: number; readGBs: number; packedNative: boolean };
  logprobsForward(logp: F32, entropy: F32, lse: F32, logits: F32, targets: Int32Array, T: number, V: number): void;
  logprobsBackward(dlogits: F32, logits: F32, lse: F32, entropy: F32, dlogp: F32 | null, dentropy: F32 | null,
    targets: Int32Array, T: number, V: number): void;
  adamw(p: F32, g: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, step: number): void;
  /** The SIMD clone the loader picked ("avx512f" | "avx2" | "default") and the OpenMP thread count. */
  info(): { simd: string; threads: number };
  setThreads(n: number): void;
  allocLarge(bytes: number): ArrayBuffer;
}

export type NativeLoad = { ok: true; backend: Backend; addon: NativeAddon } | { ok: false; error: string };

/** Where the addon is built (relative to this file: src/kernels/ or dist/kernels/ → repo root). */
export const ADDON_PATH = new URL("../../build/Release/aha_native.node", import.meta.url);

/** matmul flag bits, as native/addon.cc reads them. */
export function matmulFlags(opts: MatmulOptions | undefined): number {
  if (!opts) return 0;
  return (opts.transA ? 1 : 0) | (opts.transB ? 2 : 0) | (opts.accumulate ? 4 : 0) | (opts.bf16 ? 8 : 0);
}

let bf16: Bf16Resolution | undefined;

/**
 * The bf16 paths of this process: resolved on the first bf16 product (AHA_BF16_GEMM, else the cache,
 * else a measurement of about half a second — ./bf16-gemm.ts), then fixed.
 */
export function bf16Gemm(a: NativeAddon): Bf16Resolution {
  bf16 ??= resolveBf16Gemm(a);
  return bf16;
}

function wrap(a: NativeAddon): Backend {
  return {
    name: "native",
    keepOnDevice: tsBackend.keepOnDevice,
    upload: tsBackend.upload,
    download: tsBackend.download,
    zero: tsBackend.zero,
    copy: tsBackend.copy,
    allocLarge: (bytes) => {
      try {
        return a.allocLarge(bytes);
      } catch (e) {
        if (e instanceof RangeError) throw e; // a bad size
        return new ArrayBuffer(bytes); // a Node built without external buffers
      }
    },
    copyRows: tsBackend.copyRows,
    matmul: (c, x, y, m, n, k, opts) => {
      if (bf16 === undefined && (opts?.bf16 || x instanceof Uint16Array || y instanceof Uint16Array)) bf16Gemm(a);
      a.matmul(c, x, y, m, n, k, matmulFlags(opts));
    },
    toBf16: (out, src) => a.toBf16(out, src),
    add: (out, x, y) => a.add(out, x, y),
    addBias: (x, bias, rows, n) => a.addBias(x, bias, rows, n),
    addBiasBackward: (dbias, dout, rows, n) => a.addBiasBackward(dbias, dout, rows, n),
    scale: (x, s) => a.scale(x, s),
    sumSquares: (x) => a.sumSquares(x),
    embeddingForward: (out, ids, wte, T, C) => a.embeddingForward(out, ids, wte, T, C),
    embeddingBackward: (dwte, dout, ids, T, C) => a.embeddingBackward(dwte, dout, ids, T, C),
    rmsnormForward: (out, rstd, inp, w, rows, C, eps) => a.rmsnormForward(out, rstd, inp, w, rows, C, eps),
    rmsnormBackward: (dinp, dw, dout, inp, w, rstd, rows, C) => a.rmsnormBackward(dinp, dw, dout, inp, w, rstd, rows, C),
    rope: (x, cos, sin, T, H, D, inverse) => a.rope(x, cos, sin, T, H, D, inverse),
    swigluForward: (out, gate, up) => a.swigluForward(out, gate, up),
    swigluBackward: (dgate, dup, dout, gate, up) => a.swigluBackward(dgate, dup, dout, gate, up),
    attentionForward: (out, lse, q, k, v, cu, T, Hq, Hkv, D, scale) =>
      a.attentionForward(out, lse, q, k, v, cu, T, Hq, Hkv, D, scale),
    attentionBackward: (dq, dk, dv, dout, out, lse, q, k, v, cu, T, Hq, Hkv, D, scale) =>
      a.attentionBackward(dq, dk, dv, dout, out, lse, q, k, v, cu, T, Hq, Hkv, D, scale),
    attentionDecode: (out, q, kc, vc, slots, lens, B, maxLen, Hq, Hkv, D, scale) =>
      a.attentionDecode(out, q, kc, vc, slots, lens, B, maxLen, Hq, Hkv, D, scale),
    packBf16: (out, w, n, k) => a.packBf16(out, w, n, k),
    matmulPacked: (c, x, wp, m, n, k) => a.matmulPacked(c, x, wp, m, n, k),
    matmulPackedMany: (outs, x, wp, m, ns, k, biases) => a.matmulPackedMany(outs, x, wp, m, ns, k, biases),
    samplePrep: (e, stats, logits, invT) => a.samplePrep(e, stats, logits, invT),
    logprobsForward: (logp, ent, lse, logits, targets, T, V) => a.logprobsForward(logp, ent, lse, logits, targets, T, V),
    logprobsBackward: (dlogits, logits, lse, ent, dlogp, dent, targets, T, V) =>
      a.logprobsBackward(dlogits, logits, lse, ent, dlogp, dent, targets, T, V),
    adamw: (p, g, m, v, lr, b1, b2, eps, wd, step) => a.adamw(p, g, m, v, lr, b1, b2, eps, wd, step),
  };
}

let cached: NativeLoad | undefined;

/** Loads the addon once; never throws (the reason is in `error`). */
export function loadNativeBackend(): NativeLoad {
  if (cached) return cached;
  if (!existsSync(ADDON_PATH)) {
    cached = { ok: false, error: `${ADDON_PATH.pathname} is not built` };
    return cached;
  }
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH.pathname) as NativeAddon;
    cached = { ok: true, backend: wrap(addon), addon };
  } catch (e) {
    cached = { ok: false, error: `loading ${ADDON_PATH.pathname} failed: ${(e as Error).message}` };
  }
  return cached;
}
