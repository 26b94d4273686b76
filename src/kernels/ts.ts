/**
 * The plain TypeScript backend: the reference every fast kernel is tested against.
 * Clear loops, correct over fast; fp64 accumulators wherever a reduction is involved.
 * bf16 is emulated by rounding operands to bf16 (round-to-nearest-even) and accumulating in fp64.
 */
import { packedBf16Size, SAMPLE_CHUNK, type Backend, type BF16, type F32, type MatmulOptions } from "./backend.js";

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** fp32 → bf16 bits, round-to-nearest-even (NaN stays a quiet NaN). */
export function f32ToBf16Bits(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x007fffff) !== 0) return ((u >>> 16) | 0x40) & 0xffff;
  const rounded = (u + 0x7fff + ((u >>> 16) & 1)) >>> 0;
  return (rounded >>> 16) & 0xffff;
}

/** bf16 bits → fp32 value. */
export function bf16BitsToF32(b: number): number {
  u32buf[0] = (b & 0xffff) << 16;
  return f32buf[0]!;
}

/** Round an fp32 value to the nearest bf16 value (as a number). */
export function roundBf16(x: number): number {
  return bf16BitsToF32(f32ToBf16Bits(x));
}

/** Operand as fp64 values: bf16 arrays decoded, fp32 arrays rounded to bf16 when `bf16` is asked. */
function operand(x: F32 | BF16, bf16: boolean): Float64Array {
  const out = new Float64Array(x.length);
  if (x instanceof Uint16Array) {
    for (let i = 0; i < x.length; i++) out[i] = bf16BitsToF32(x[i]!);
  } else if (bf16) {
    for (let i = 0; i < x.length; i++) out[i] = roundBf16(x[i]!);
  } else {
    for (let i = 0; i < x.length; i++) out[i] = x[i]!;
  }
  return out;
}

function checkLen(name: string, arr: { length: number }, need: number): void {
  if (arr.length < need) throw new RangeError(`${name}: length ${arr.length} < required ${need}`);
}

const silu = (x: number): number => x / (1 + Math.exp(-x));

/** copyRows' arguments: src holds at.length rows of rowLen, and every row's offset fits in dst (any backend). */
export function checkCopyRows(dst: { length: number }, src: { length: number }, rowLen: number, at: Int32Array): void {
  checkLen("copyRows src", src, at.length * rowLen);
  for (let r = 0; r < at.length; r++) {
    const o = at[r]!;
    if (!(o >= 0 && o + rowLen <= dst.length)) throw new RangeError(`copyRows: row ${r} at ${o} + ${rowLen} is outside dst (${dst.length})`);
  }
}

function copyRowsF32(dst: F32, src: F32, rowLen: number, at: Int32Array): void {
  for (let r = 0; r < at.length; r++) {
    if (rowLen >= 512) dst.set(src.subarray(r * rowLen, (r + 1) * rowLen), at[r]!);
    else for (let i = at[r]!, j = r * rowLen, e = j + rowLen; j < e; i++, j++) dst[i] = src[j]!;
  }
}

function copyRowsU16(dst: BF16, src: BF16, rowLen: number, at: Int32Array): void {
  for (let r = 0; r < at.length; r++) {
    if (rowLen >= 512) dst.set(src.subarray(r * rowLen, (r + 1) * rowLen), at[r]!);
    else for (let i = at[r]!, j = r * rowLen, e = j + rowLen; j < e; i++, j++) dst[i] = src[j]!;
  }
}

export const tsBackend: Backend = {
  name: "ts",

  // ***** where tensors live: host memory only *****

  keepOnDevice(): void {},
  upload(): void {},
  download(): void {},
  zero(x: F32): void {
    x.fill(0);
  },
  allocLarge(bytes: number): ArrayBuffer {
    return new ArrayBuffer(bytes);
  },
  copy<X extends F32 | BF16>(dst: X, src: X): void {
    if (dst.length !== src.length) throw new RangeError(`copy: lengths ${dst.length} and ${src.length} differ`);
    (dst as F32).set(src as ArrayLike<number>);
  },

  copyRows<X extends F32 | BF16>(dst: X, src: X, rowLen: number, at: Int32Array): void {
    checkCopyRows(dst, src, rowLen, at);
    // short rows (a head's keys): an element loop beats making a view per row; one loop per element
    // type keeps each loop's element access monomorphic
    if (dst instanceof Float32Array) copyRowsF32(dst, src as F32, rowLen, at);
    else copyRowsU16(dst as BF16, src as BF16, rowLen, at);
  },

  // ***** matrix products *****

  matmul(c: F32, a: F32 | BF16, b: F32 | BF16, m: number, n: number, k: number, opts: MatmulOptions = {}): void {
    const transA = opts.transA ?? false;
    const transB = opts.transB ?? false;
    // a BF16 operand makes the whole product bf16 × bf16 (the other operand is rounded too)
    const bf16 = (opts.bf16 ?? false) || a instanceof Uint16Array || b instanceof Uint16Array;
    checkLen("matmul a", a, m * k);
    checkLen("matmul b", b, k * n);
    checkLen("matmul c", c, m * n);
    const A = operand(a.subarray(0, m * k), bf16);
    const B = operand(b.subarray(0, k * n), bf16);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = transA ? A[p * m + i]! : A[i * k + p]!;
          const bv = transB ? B[j * k + p]! : B[p * n + j]!;
          s += av * bv;
        }
        c[i * n + j] = opts.accumulate ? c[i * n + j]! + s : s;
      }
    }
  },

  toBf16(out: BF16, src: F32): void {
    checkLen("toBf16 out", out, src.length);
    for (let i = 0; i < src.length; i++) out[i] = f32ToBf16Bits(src[i]!);
  },

  // ***** elementwise and small reductions *****

  add(out: F32, a: F32, b: F32): void {
    for (let i = 0; i < out.length; i++) out[i] = a[i]! + b[i]!;
  },

  addBias(x: F32, bias: F32, rows: number, n: number): void {
    for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) x[r * n + j] = x[r * n + j]! + bias[j]!;
  },

  addBiasBackward(dbias: F32, dout: F32, rows: number, n: number): void {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += dout[r * n + j]!;
      dbias[j] = dbias[j]! + s;
    }
  },

  scale(x: F32, s: number): void {
    for (let i = 0; i < x.length; i++) x[i] = x[i]! * s;
  },

  sumSquares(x: F32): number {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
    return s;
  },

  // ***** embedding *****

  embeddingForward(out: F32, ids: Int32Array, wte: F32, T: number, C: number): void {
    const V = wte.length / C;
    for (let t = 0; t < T; t++) {
      const id = ids[t]!;
      if (id < 0 || id >= V) throw new RangeError(`embeddingForward: token id ${id} at ${t} outside [0, ${V})`);
      for (let c = 0; c < C; c++) out[t * C + c] = wte[id * C + c]!;
    }
  },

  embeddingBackward(dwte: F32, dout: F32, ids: Int32Array, T: number, C: number): void {
    for (let t = 0; t < T; t++) {
      const id = ids[t]!;
      for (let c = 0; c < C; c++) dwte[id * C + c] = dwte[id * C + c]! + dout[t * C + c]!;
    }
  },

  // ***** RMSNorm *****

  rmsnormForward(out: F32, rstd: F32, inp: F32, w: F32, rows: number, C: number, eps: number): void {
    for (let r = 0; r < rows; r++) {
      let ss = 0;
      for (let c = 0; c < C; c++) ss += inp[r * C + c]! * inp[r * C + c]!;
      const rs = 1 / Math.sqrt(ss / C + eps);
      rstd[r] = rs;
      const rsf = rstd[r]!;
      for (let c = 0; c < C; c++) out[r * C + c] = inp[r * C + c]! * rsf * w[c]!;
    }
  },

  rmsnormBackward(dinp: F32, dw: F32, dout: F32, inp: F32, w: F32, rstd: F32, rows: number, C: number): void {
    // y_c = x_c·r·w_c, r = (mean(x²)+eps)^-1/2;  dx_c = r·w_c·dy_c − x_c·r³/C · Σ_j dy_j·w_j·x_j
    const dwAcc = new Float64Array(C);
    for (let row = 0; row < rows; row++) {
      const r = rstd[row]!;
      let dot = 0;
      for (let c = 0; c < C; c++) dot += dout[row * C + c]! * w[c]! * inp[row * C + c]!;
      const k = (dot * r * r * r) / C;
      for (let c = 0; c < C; c++) {
        const x = inp[row * C + c]!;
        const dy = dout[row * C + c]!;
        dinp[row * C + c] = dinp[row * C + c]! + (r * w[c]! * dy - x * k);
        dwAcc[c] = dwAcc[c]! + dy * x * r;
      }
    }
    for (let c = 0; c < C; c++) dw[c] = dw[c]! + dwAcc[c]!;
  },

  // ***** rotary position embedding *****

  rope(x: F32, cos: F32, sin: F32, T: number, H: number, D: number, inverse: boolean): void {
    const half = D / 2;
    const sg = inverse ? -1 : 1;
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const base = (t * H + h) * D;
        for (let i = 0; i < half; i++) {
          const c = cos[t * half + i]!;
          const s = sg * sin[t * half + i]!;
          const x1 = x[base + i]!;
          const x2 = x[base + i + half]!;
          x[base + i] = x1 * c - x2 * s;
          x[base + i + half] = x2 * c + x1 * s;
        }
      }
    }
  },

  // ***** SwiGLU *****

  swigluForward(out: F32, gate: F32, up: F32): void {
    for (let i = 0; i < out.length; i++) out[i] = silu(gate[i]!) * up[i]!;
  },

  swigluBackward(dgate: F32, dup: F32, dout: F32, gate: F32, up: F32): void {
    for (let i = 0; i < dout.length; i++) {
      const g = gate[i]!;
      const sig = 1 / (1 + Math.exp(-g));
      const d = dout[i]!;
      dup[i] = d * g * sig;
      dgate[i] = d * up[i]! * sig * (1 + g * (1 - sig));
    }
  },

  // ***** attention *****

  attentionForward(out: F32, lse: F32, q: F32, k: F32, v: F32, cuSeqlens: Int32Array,
    T: number, Hq: number, Hkv: number, D: number, scale: number): void {
    const group = Hq / Hkv;
    const S = cuSeqlens.length - 1;
    const acc = new Float64Array(D);
    for (let s = 0; s < S; s++) {
      const start = cuSeqlens[s]!;
      const end = cuSeqlens[s + 1]!;
      const scores = new Float64Array(end - start);
      for (let h = 0; h < Hq; h++) {
        const kh = Math.floor(h / group);
        for (let i = start; i < end; i++) {
          const qo = (i * Hq + h) * D;
          let mx = -Infinity;
          for (let j = start; j <= i; j++) {
            const ko = (j * Hkv + kh) * D;
            let dot = 0;
            for (let d = 0; d < D; d++) dot += q[qo + d]! * k[ko + d]!;
            const sc = dot * scale;
            scores[j - start] = sc;
            if (sc > mx) mx = sc;
          }
          let sum = 0;
          for (let j = start; j <= i; j++) sum += Math.exp(scores[j - start]! - mx);
          acc.fill(0);
          for (let j = start; j <= i; j++) {
            const p = Math.exp(scores[j - start]! - mx) / sum;
            const vo = (j * Hkv + kh) * D;
            for (let d = 0; d < D; d++) acc[d] = acc[d]! + p * v[vo + d]!;
          }
          for (let d = 0; d < D; d++) out[qo + d] = acc[d]!;
          lse[h * T + i] = mx + Math.log(sum);
        }
      }
    }
    void T;
  },

  attentionBackward(dq: F32, dk: F32, dv: F32, dout: F32, out: F32, lse: F32, q: F32, k: F32, v: F32,
    cuSeqlens: Int32Array, T: number, Hq: number, Hkv: number, D: number, scale: number): void {
    // P_ij = exp(s_ij − lse_i); dV_j += Σ_i P_ij dO_i; dP_ij = dO_i·V_j; dS_ij = P_ij (dP_ij − Δ_i),
    // Δ_i = dO_i·O_i; dQ_i += scale Σ_j dS_ij K_j; dK_j += scale Σ_i dS_ij Q_i.
    const group = Hq / Hkv;
    const S = cuSeqlens.length - 1;
    const dqAcc = new Float64Array(D);
    for (let s = 0; s < S; s++) {
      const start = cuSeqlens[s]!;
      const end = cuSeqlens[s + 1]!;
      for (let h = 0; h < Hq; h++) {
        const kh = Math.floor(h / group);
        for (let i = start; i < end; i++) {
          const qo = (i * Hq + h) * D;
          let delta = 0;
          for (let d = 0; d < D; d++) delta += dout[qo + d]! * out[qo + d]!;
          const l = lse[h * T + i]!;
          dqAcc.fill(0);
          for (let j = start; j <= i; j++) {
            const ko = (j * Hkv + kh) * D;
            let dot = 0;
            for (let d = 0; d < D; d++) dot += q[qo + d]! * k[ko + d]!;
            const p = Math.exp(dot * scale - l);
            let dp = 0;
            for (let d = 0; d < D; d++) dp += dout[qo + d]! * v[ko + d]!;
            const ds = p * (dp - delta) * scale;
            for (let d = 0; d < D; d++) {
              dv[ko + d] = dv[ko + d]! + p * dout[qo + d]!;
              dk[ko + d] = dk[ko + d]! + ds * q[qo + d]!;
              dqAcc[d] = dqAcc[d]! + ds * k[ko + d]!;
            }
          }
          for (let d = 0; d < D; d++) dq[qo + d] = dq[qo + d]! + dqAcc[d]!;
        }
      }
    }
  },

  attentionDecode(out: F32, q: F32, kCache: F32 | BF16, vCache: F32 | BF16, slots: Int32Array, lens: Int32Array,
    B: number, maxLen: number, Hq: number, Hkv: number, D: number, scale: number): void {
    if ((kCache instanceof Uint16Array) !== (vCache instanceof Uint16Array)) throw new TypeError("attentionDecode: kCache and vCache must have the same type");
    const kv = kCache instanceof Uint16Array ? (x: F32 | BF16, i: number) => bf16BitsToF32(x[i]!) : (x: F32 | BF16, i: number) => x[i]!;
    const group = Hq / Hkv;
    const rowStride = Hkv * D;
    const acc = new Float64Array(D);
    for (let b = 0; b < B; b++) {
      const slot = slots[b]!;
      const len = lens[b]!;
      if (len < 1 || len > maxLen) throw new RangeError(`attentionDecode: lens[${b}] = ${len} outside [1, ${maxLen}]`);
      const scores = new Float64Array(len);
      for (let h = 0; h < Hq; h++) {
        const kh = Math.floor(h / group);
        const qo = (b * Hq + h) * D;
        let mx = -Infinity;
        for (let j = 0; j < len; j++) {
          const ko = (slot * maxLen + j) * rowStride + kh * D;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qo + d]! * kv(kCache, ko + d);
          scores[j] = dot * scale;
          if (scores[j]! > mx) mx = scores[j]!;
        }
        let sum = 0;
        for (let j = 0; j < len; j++) sum += Math.exp(scores[j]! - mx);
        acc.fill(0);
        for (let j = 0; j < len; j++) {
          const p = Math.exp(scores[j]! - mx) / sum;
          const vo = (slot * maxLen + j) * rowStride + kh * D;
          for (let d = 0; d < D; d++) acc[d] = acc[d]! + p * kv(vCache, vo + d);
        }
        for (let d = 0; d < D; d++) out[qo + d] = acc[d]!;
      }
    }
  },

  // ***** decoding *****

  packBf16(out: BF16, w: F32, n: number, k: number): void {
    const K2 = Math.ceil(k / 2), NB = Math.ceil(n / 16);
    checkLen("packBf16 out", out, packedBf16Size(n, k));
    checkLen("packBf16 w", w, n * k);
    for (let j = 0; j < NB; j++) {
      for (let p = 0; p < K2; p++) {
        for (let c = 0; c < 16; c++) {
          for (let e = 0; e < 2; e++) {
            const row = 16 * j + c, col = 2 * p + e;
            out[((j * K2 + p) * 16 + c) * 2 + e] = row < n && col < k ? f32ToBf16Bits(w[row * k + col]!) : 0;
          }
        }
      }
    }
  },

  matmulPacked(c: F32, x: F32, wPacked: BF16, m: number, n: number, k: number): void {
    const K2 = Math.ceil(k / 2);
    checkLen("matmulPacked c", c, m * n);
    checkLen("matmulPacked x", x, m * k);
    checkLen("matmulPacked wPacked", wPacked, packedBf16Size(n, k));
    for (let i = 0; i < m; i++) {
      for (let o = 0; o < n; o++) {
        const base = (Math.floor(o / 16) * K2 * 16 + (o % 16)) * 2;
        let s = 0;
        for (let kk = 0; kk < k; kk++) {
          const w = bf16BitsToF32(wPacked[base + (kk >> 1) * 32 + (kk & 1)]!);
          s += roundBf16(x[i * k + kk]!) * w;
        }
        c[i * n + o] = s;
      }
    }
  },

  matmulPackedMany(outs: F32[], x: F32, wPacked: BF16, m: number, ns: number[], k: number, biases?: (F32 | null)[]): void {
    if (ns.length !== outs.length || (biases && biases.length !== outs.length)) throw new Error("matmulPackedMany: outs, ns and biases differ in length");
    let off = 0;
    for (let i = 0; i < outs.length; i++) {
      const n = ns[i]!, size = packedBf16Size(n, k), c = outs[i]!, b = biases?.[i];
      checkLen("matmulPackedMany wPacked", wPacked, off + size);
      tsBackend.matmulPacked(c.subarray(0, m * n), x, wPacked.subarray(off, off + size), m, n, k);
      if (b) {
        checkLen("matmulPackedMany bias", b, n);
        tsBackend.addBias(c, b, m, n);
      }
      off += size;
    }
  },

  // ***** vocabulary head *****

  logprobsForward(logp: F32, entropy: F32, lse: F32, logits: F32, targets: Int32Array, T: number, V: number): void {
    for (let t = 0; t < T; t++) {
      const o = t * V;
      let mx = -Infinity;
      for (let v = 0; v < V; v++) if (logits[o + v]! > mx) mx = logits[o + v]!;
      let sum = 0;
      let sumZ = 0; // Σ e^(z−mx)·(z−mx)
      for (let v = 0; v < V; v++) {
        const z = logits[o + v]! - mx;
        const e = Math.exp(z);
        sum += e;
        sumZ += e * z;
      }
      const logZ = Math.log(sum);
      const l = mx + logZ;
      lse[t] = l;
      // H = −Σ p (z − logZ) = logZ − Σ p z
      entropy[t] = logZ - sumZ / sum;
      const tgt = targets[t]!;
      logp[t] = tgt < 0 ? 0 : logits[o + tgt]! - l;
    }
  },

  logprobsBackward(dlogits: F32, logits: F32, lse: F32, entropy: F32, dlogp: F32 | null, dentropy: F32 | null,
    targets: Int32Array, T: number, V: number): void {
    for (let t = 0; t < T; t++) {
      const o = t * V;
      const tgt = targets[t]!;
      const gl = dlogp && tgt >= 0 ? dlogp[t]! : 0;
      const ge = dentropy ? dentropy[t]! : 0;
      const l = lse[t]!;
      const H = entropy[t]!;
      for (let v = 0; v < V; v++) {
        const logpv = logits[o + v]! - l;
        const p = Math.exp(logpv);
        let g = -gl * p - ge * p * (logpv + H);
        if (v === tgt) g += gl;
        dlogits[o + v] = g;
      }
    }
  },

  samplePrep(e: F32, stats: Float64Array, logits: F32, invT: number | F32): void {
    if (typeof invT !== "number") {
      const R = invT.length, V = logits.length / R;
      if (!Number.isInteger(V)) throw new RangeError(`samplePrep: logits length ${logits.length} is not a multiple of the rows in invT (${R})`);
      const ns = 4 + Math.ceil(V / SAMPLE_CHUNK);
      if (e.length > 0) checkLen("samplePrep e", e, R * V);
      checkLen("samplePrep stats", stats, R * ns);
      for (let r = 0; r < R; r++) {
        tsBackend.samplePrep(e.length > 0 ? e.subarray(r * V, (r + 1) * V) : e, stats.subarray(r * ns, (r + 1) * ns), logits.subarray(r * V, (r + 1) * V), invT[r]!);
      }
      return;
    }
    const V = logits.length;
    const writeE = e.length > 0;
    if (writeE) checkLen("samplePrep e", e, V);
    checkLen("samplePrep stats", stats, 4 + Math.ceil(V / SAMPLE_CHUNK));
    let m = -Infinity, arg = 0;
    for (let i = 0; i < V; i++) if (logits[i]! > m) { m = logits[i]!; arg = i; }
    let s1 = 0, mass = 0;
    for (let c = 0; c * SAMPLE_CHUNK < V; c++) {
      let chunk = 0;
      for (let i = c * SAMPLE_CHUNK; i < Math.min(V, (c + 1) * SAMPLE_CHUNK); i++) {
        const d = logits[i]! - m;
        s1 += Math.exp(d);
        if (invT > 0) {
          const w = Math.exp(d * invT);
          if (writeE) e[i] = w;
          chunk += w;
        }
      }
      stats[4 + c] = chunk;
      mass += chunk;
    }
    stats[0] = m;
    stats[1] = arg;
    stats[2] = s1;
    stats[3] = mass;
  },

  // ***** optimizer *****

  adamw(p: F32, g: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, step: number): void {
    const bc1 = 1 - Math.pow(beta1, step);
    const bc2 = 1 - Math.pow(beta2, step);
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]!;
      let pi = p[i]! * (1 - lr * weightDecay);
      const mi = beta1 * m[i]! + (1 - beta1) * gi;
      const vi = beta2 * v[i]! + (1 - beta2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      pi -= (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps);
      p[i] = pi;
    }
  },
};
