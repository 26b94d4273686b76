/**
 * The wasm backend: the TypeScript reference with its hot loops replaced by WASM SIMD kernels
 * (src/kernels/wasm/kernels.c, built into build/wasm/aha_kernels.wasm by scripts/build-wasm.mjs) — what
 * the /play page runs in browsers without WebGPU. No Node APIs: the caller hands in the module's bytes
 * (fetched in a browser, read from disk in the tests).
 *
 * Kernels in WASM: fp32 matrix products (every transpose but both at once), attention forward, backward
 * and decoding, SwiGLU, RMSNorm (forward and backward). The rest of the interface
 * (and bf16 products) runs the TypeScript reference. The module has its own linear memory: operands are
 * copied in and results out around each call (O(m·k + k·n + m·n) next to the product's O(m·n·k)), and
 * the memory grows when a call needs more.
 */
import type { Backend, BF16, F32, MatmulOptions } from "./backend.js";
import { tsBackend } from "./ts.js";

/** The part of the WebAssembly API used here (the build's lib has no DOM types). */
declare const WebAssembly: {
  instantiate(bytes: ArrayBuffer | ArrayBufferView, imports: object): Promise<{ instance: WasmInstance }>;
  validate(bytes: ArrayBuffer | ArrayBufferView): boolean;
};
export interface WasmInstance {
  exports: object;
}

interface Exports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  __heap_base: { value: number };
  matmul_nt(c: number, a: number, b: number, m: number, n: number, k: number, accumulate: number): void;
  matmul_nn(c: number, a: number, b: number, m: number, n: number, k: number, sai: number, sap: number, accumulate: number): void;
  attention_forward(out: number, lse: number, q: number, k: number, v: number, cu: number, S: number, T: number, Hq: number, Hkv: number, D: number, scale: number, scores: number): void;
  attention_backward(dq: number, dk: number, dv: number, dout: number, out: number, lse: number, q: number, k: number, v: number, cu: number, S: number, T: number, Hq: number, Hkv: number, D: number, scale: number): void;
  attention_decode(out: number, q: number, k: number, v: number, start: number, lens: number, B: number, Hq: number, Hkv: number, D: number, scale: number, scores: number): void;
  swiglu_forward(out: number, gate: number, up: number, n: number): void;
  swiglu_backward(dgate: number, dup: number, dout: number, gate: number, up: number, n: number): void;
  rmsnorm_forward(out: number, rstd: number, inp: number, w: number, rows: number, C: number, eps: number): void;
  rmsnorm_backward(dinp: number, dw: number, dout: number, inp: number, w: number, rstd: number, rows: number, C: number, dwacc: number): void;
}

const PAGE = 65536;

/** Compiles and instantiates the kernels module (its bytes), then wraps it as a Backend. */
export async function wasmBackendFrom(bytes: ArrayBuffer | ArrayBufferView): Promise<Backend> {
  const { instance } = await WebAssembly.instantiate(bytes, {});
  return wasmBackend(instance);
}

/** Whether this JavaScript engine validates WASM SIMD (a module using one v128 instruction). */
export function wasmSimdSupported(): boolean {
  // (module (func (result v128) (v128.const i32x4 0 0 0 0)))
  const probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(probe);
  } catch {
    return false;
  }
}

export function wasmBackend(instance: WasmInstance): Backend {
  const x = instance.exports as unknown as Exports;
  const base = Math.ceil(Number(x.__heap_base.value) / 16) * 16;
  let buf = x.memory.buffer; // refreshed after the memory grows (growing detaches the old buffer)

  /** Offsets (in 4-byte elements) of `sizes` (element counts) laid out from the heap base, 16-byte aligned; grows the memory. */
  function layout(...sizes: number[]): number[] {
    const offs: number[] = [];
    let p = base;
    for (const n of sizes) {
      offs.push(p / 4);
      p += Math.ceil((4 * n) / 16) * 16;
    }
    const have = x.memory.buffer.byteLength;
    if (p > have) x.memory.grow(Math.ceil((p - have) / PAGE));
    if (buf !== x.memory.buffer) buf = x.memory.buffer;
    return offs;
  }
  const put = (off: number, src: F32, n: number): void => {
    if (src.length < n) throw new RangeError(`wasm backend: an operand has ${src.length} elements, ${n} needed`);
    // a fresh view per copy: V8 copies into (and out of) a view of exactly the range much faster than
    // through a subarray of one view over the whole memory
    new Float32Array(buf, 4 * off, n).set(n === src.length ? src : src.subarray(0, n));
  };
  const putI = (off: number, src: Int32Array, n: number): void => new Int32Array(buf, 4 * off, n).set(n === src.length ? src : src.subarray(0, n));
  const get = (dst: F32, off: number, n: number): void => (n === dst.length ? dst : dst.subarray(0, n)).set(new Float32Array(buf, 4 * off, n));
  const B4 = 4; // bytes per element: the kernels take byte addresses

  function matmul(c: F32, a: F32 | BF16, b: F32 | BF16, m: number, n: number, k: number, opts: MatmulOptions = {}): void {
    const transA = opts.transA ?? false;
    const transB = opts.transB ?? false;
    if (opts.bf16 || a instanceof Uint16Array || b instanceof Uint16Array || (transA && transB)) {
      tsBackend.matmul(c, a, b, m, n, k, opts);
      return;
    }
    if (a.length < m * k || b.length < k * n || c.length < m * n) {
      throw new RangeError(`matmul: a ${a.length} (need ${m * k}), b ${b.length} (need ${k * n}), c ${c.length} (need ${m * n})`);
    }
    const acc = opts.accumulate ? 1 : 0;
    const [pc, pa, pb] = layout(m * n, m * k, k * n) as [number, number, number];
    put(pa, a, m * k);
    put(pb, b, k * n);
    if (acc) put(pc, c, m * n);
    if (transB) x.matmul_nt(pc * B4, pa * B4, pb * B4, m, n, k, acc);
    else if (transA) x.matmul_nn(pc * B4, pa * B4, pb * B4, m, n, k, 1, m, acc);
    else x.matmul_nn(pc * B4, pa * B4, pb * B4, m, n, k, k, 1, acc);
    get(c, pc, m * n);
  }

  const longest = (cu: Int32Array): number => {
    let mx = 1;
    for (let s = 0; s + 1 < cu.length; s++) mx = Math.max(mx, cu[s + 1]! - cu[s]!);
    return mx;
  };

  const backend: Backend = {
    ...tsBackend,
    name: "wasm",
    matmul,

    attentionForward(out, lse, q, k, v, cu, T, Hq, Hkv, D, scale) {
      const nq = T * Hq * D, nk = T * Hkv * D, S = cu.length - 1;
      const [po, pl, pq, pk, pv, pcu, ps] = layout(nq, Hq * T, nq, nk, nk, S + 1, longest(cu)) as number[] as [number, number, number, number, number, number, number];
      put(pq, q, nq);
      put(pk, k, nk);
      put(pv, v, nk);
      putI(pcu, cu, S + 1);
      x.attention_forward(po * B4, pl * B4, pq * B4, pk * B4, pv * B4, pcu * B4, S, T, Hq, Hkv, D, scale, ps * B4);
      get(out, po, nq);
      get(lse, pl, Hq * T);
    },

    attentionBackward(dq, dk, dv, dout, out, lse, q, k, v, cu, T, Hq, Hkv, D, scale) {
      const nq = T * Hq * D, nk = T * Hkv * D, S = cu.length - 1;
      const p = layout(nq, nk, nk, nq, nq, Hq * T, nq, nk, nk, S + 1) as [number, number, number, number, number, number, number, number, number, number];
      const [pdq, pdk, pdv, pdo, po, pl, pq, pk, pv, pcu] = p;
      put(pdq, dq, nq);
      put(pdk, dk, nk);
      put(pdv, dv, nk);
      put(pdo, dout, nq);
      put(po, out, nq);
      put(pl, lse, Hq * T);
      put(pq, q, nq);
      put(pk, k, nk);
      put(pv, v, nk);
      putI(pcu, cu, S + 1);
      x.attention_backward(pdq * B4, pdk * B4, pdv * B4, pdo * B4, po * B4, pl * B4, pq * B4, pk * B4, pv * B4, pcu * B4, S, T, Hq, Hkv, D, scale);
      get(dq, pdq, nq);
      get(dk, pdk, nk);
      get(dv, pdv, nk);
    },

    attentionDecode(out, q, kCache, vCache, slots, lens, B, maxLen, Hq, Hkv, D, scale) {
      // only the cache rows in use travel: query b's lens[b] rows of slot slots[b], packed one after another
      const row = Hkv * D;
      const start = new Int32Array(B);
      let rows = 0;
      let longestLen = 1;
      for (let b = 0; b < B; b++) {
        const len = lens[b]!;
        if (len < 1 || len > maxLen) throw new RangeError(`attentionDecode: lens[${b}] = ${len} outside [1, ${maxLen}]`);
        start[b] = rows;
        rows += len;
        longestLen = Math.max(longestLen, len);
      }
      const nq = B * Hq * D;
      const [po, pq, pk, pv, pst, plen, ps] = layout(nq, nq, rows * row, rows * row, B, B, longestLen) as [number, number, number, number, number, number, number];
      put(pq, q, nq);
      if ((kCache instanceof Uint16Array) !== (vCache instanceof Uint16Array)) throw new TypeError("attentionDecode: kCache and vCache must have the same type");
      const bf16 = kCache instanceof Uint16Array;
      for (let b = 0; b < B; b++) {
        const from = slots[b]! * maxLen * row;
        const n = lens[b]! * row;
        if (bf16) {
          // a bf16 KV cache: widened to fp32 on the way in (bf16 bits are fp32's top half)
          const dk = new Uint32Array(buf, 4 * (pk + start[b]! * row), n);
          const dv = new Uint32Array(buf, 4 * (pv + start[b]! * row), n);
          for (let i = 0; i < n; i++) {
            dk[i] = kCache[from + i]! << 16;
            dv[i] = vCache[from + i]! << 16;
          }
        } else {
          new Float32Array(buf, 4 * (pk + start[b]! * row), n).set(kCache.subarray(from, from + n));
          new Float32Array(buf, 4 * (pv + start[b]! * row), n).set(vCache.subarray(from, from + n));
        }
      }
      putI(pst, start, B);
      putI(plen, lens, B);
      x.attention_decode(po * B4, pq * B4, pk * B4, pv * B4, pst * B4, plen * B4, B, Hq, Hkv, D, scale, ps * B4);
      get(out, po, nq);
    },

    swigluForward(out, gate, up) {
      const n = out.length;
      const [po, pg, pu] = layout(n, n, n) as [number, number, number];
      put(pg, gate, n);
      put(pu, up, n);
      x.swiglu_forward(po * B4, pg * B4, pu * B4, n);
      get(out, po, n);
    },

    swigluBackward(dgate, dup, dout, gate, up) {
      const n = dout.length;
      const [pdg, pdu, pdo, pg, pu] = layout(n, n, n, n, n) as [number, number, number, number, number];
      put(pdg, dgate, n);
      put(pdu, dup, n);
      put(pdo, dout, n);
      put(pg, gate, n);
      put(pu, up, n);
      x.swiglu_backward(pdg * B4, pdu * B4, pdo * B4, pg * B4, pu * B4, n);
      get(dgate, pdg, n);
      get(dup, pdu, n);
    },

    rmsnormForward(out, rstd, inp, w, rows, C, eps) {
      const n = rows * C;
      const [po, pr, pi, pw] = layout(n, rows, n, C) as [number, number, number, number];
      put(pi, inp, n);
      put(pw, w, C);
      x.rmsnorm_forward(po * B4, pr * B4, pi * B4, pw * B4, rows, C, eps);
      get(out, po, n);
      get(rstd, pr, rows);
    },

    rmsnormBackward(dinp, dw, dout, inp, w, rstd, rows, C) {
      const n = rows * C;
      const [pdi, pdw, pdo, pi, pw, pr, pacc] = layout(n, C, n, n, C, rows, C) as [number, number, number, number, number, number, number];
      put(pdi, dinp, n);
      put(pdw, dw, C);
      put(pdo, dout, n);
      put(pi, inp, n);
      put(pw, w, C);
      put(pr, rstd, rows);
      x.rmsnorm_backward(pdi * B4, pdw * B4, pdo * B4, pi * B4, pw * B4, pr * B4, rows, C, pacc * B4);
      get(dinp, pdi, n);
      get(dw, pdw, C);
    },
  };
  return backend;
}
