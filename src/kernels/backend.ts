/**
 * The compute backend: one interface, two implementations.
 *
 * - `ts`     (src/kernels/ts.ts): plain TypeScript loops. The reference every fast kernel is tested against.
 * - `native` (src/kernels/native.ts + native/*.cc): an N-API addon; matrix products through oneDNN
 *            (fp32, and bf16 inputs with fp32 accumulation — AMX where the CPU has it), its own fused
 *            SIMD kernels for the rest, OpenMP threads.
 *
 * No layer above this one knows which implementation runs (`getBackend()` in ./index.ts picks one;
 * AHA_BACKEND=ts|native forces it).
 *
 * Conventions (llm.c habits):
 * - All tensors are row-major Float32Array views (usually subarrays of one arena). Shapes are in the
 *   doc comments: `x (T, C)` means T rows of C floats.
 * - Argument order: outputs first, then saved activations, then inputs and weights, then dims.
 * - Every `...Backward` ADDS into its gradient outputs (`+=`); the caller zeroes grads once per step.
 *   The exceptions say so explicitly ("overwrites").
 * - Packed variable-length sequences: a batch is T tokens in a row; `cuSeqlens` (Int32Array, S+1
 *   entries, cuSeqlens[0] = 0, cuSeqlens[S] = T) marks where each of the S sequences starts. Attention
 *   is causal inside each sequence and never crosses a boundary.
 * - bf16 tensors are Uint16Array holding the upper 16 bits of the fp32 value (round-to-nearest-even
 *   when converted by `toBf16`).
 */

export type F32 = Float32Array;
export type BF16 = Uint16Array;

export interface MatmulOptions {
  /** A is stored (K, M) and used transposed. Default false: A is (M, K). */
  transA?: boolean;
  /** B is stored (N, K) and used transposed (the nn.Linear layout: weight (out, in)). Default false: B is (K, N). */
  transB?: boolean;
  /** C += A·B instead of C = A·B. Default false. */
  accumulate?: boolean;
  /**
   * Compute in bf16 with fp32 accumulation: fp32 operands are rounded to bf16 first. Operands that are
   * already BF16 arrays are used as they are. Default false (fp32). The ts backend emulates this by
   * rounding the operands to bf16, so both backends agree to fp32-accumulation error.
   */
  bf16?: boolean;
}

export interface Backend {
  readonly name: "ts" | "native" | "webgpu" | "wasm";

  // ***** where tensors live (docs/webgpu.md). A device backend (webgpu) keeps the arrays of the
  // ArrayBuffers given to keepOnDevice in device memory: kernels use the device copy, and the host copy
  // is current only after download(); host writes reach the device only through upload(). Any other
  // array is copied in and out at each call. On CPU backends these are no-ops (zero and copy: plain loops). *****

  /** Keep x's whole ArrayBuffer on the device from now on (its current host contents go up once). */
  keepOnDevice(x: F32 | BF16): void;
  /** The host wrote x: send it to the device copy. */
  upload(x: F32 | BF16): void;
  /** The host is about to read x: bring the device's values into it. */
  download(x: F32 | BF16): void;
  /** x (n) = 0, where x lives. */
  zero(x: F32): void;
  /**
   * A zeroed buffer of `bytes` for a large long-lived array that is read in full often (the packed
   * inference weights: streamed every decoding step). native: memory
   * backed by 2 MiB pages where the kernel offers transparent huge pages on request — fewer TLB misses
   * while a decoding step streams the weights, one page fault per 2 MiB on first touch; elsewhere a
   * plain ArrayBuffer.
   */
  allocLarge(bytes: number): ArrayBuffer;
  /** dst (n) = src (n), where they live; dst and src do not overlap and have the same element type. */
  copy<X extends F32 | BF16>(dst: X, src: X): void;
  /**
   * Row r of src (rows of rowLen, at.length rows) into dst at element offset at[r], where they live: a
   * decoding step's new keys/values into their cache slots in one call (one copy per row cost more than
   * the attention at 64 sequences). Rows must not overlap in dst.
   */
  copyRows<X extends F32 | BF16>(dst: X, src: X, rowLen: number, at: Int32Array): void;

  // ***** matrix products *****

  /**
   * c (M, N) = op(a) · op(b)   [+ c if accumulate]
   * a: (M, K) or (K, M) if transA;  b: (K, N) or (N, K) if transB.
   * a or b may be BF16 arrays (then the product is bf16 × bf16 with fp32 accumulation).
   */
  matmul(c: F32, a: F32 | BF16, b: F32 | BF16, m: number, n: number, k: number, opts?: MatmulOptions): void;

  /** Round fp32 to bf16 (round-to-nearest-even). out (n) = bf16(src (n)). */
  toBf16(out: BF16, src: F32): void;

  // ***** decoding: products with pre-packed bf16 weights *****

  /**
   * out (packedBf16Size(n, k)) = w (n, k) (the nn.Linear layout) rounded to bf16 and packed into panels
   * of 16 rows of w × k/2 pairs: out[((j·K2 + p)·16 + c)·2 + e] = bf16(w[16j + c, 2p + e]), K2 = ⌈k/2⌉,
   * zero where the row or column is past the end. Done once per weight version; matmulPacked reads it.
   */
  packBf16(out: BF16, w: F32, n: number, k: number): void;
  /**
   * c (m, n) = bf16(x (m, k)) · Wᵀ, fp32 accumulation, W packed by packBf16. Overwrites c. The decoding
   * product: one pass over the packed weights per call (native: avx512_bf16 vdpbf16ps where present).
   */
  matmulPacked(c: F32, x: F32, wPacked: BF16, m: number, n: number, k: number): void;
  /**
   * Linears that read the same x, each packed by packBf16 and stored one after another in wPacked (q, k
   * and v; gate and up): outs[i] (m, ns[i]) = bf16(x (m, k)) · W_iᵀ + biases[i] (ns[i]; null or no biases:
   * none). Overwrites each out. One call where there were one per linear and an addBias each: x is
   * converted once and the threads share the columns of all of them (k and v alone were too narrow to
   * keep two threads streaming).
   */
  matmulPackedMany(outs: F32[], x: F32, wPacked: BF16, m: number, ns: number[], k: number, biases?: (F32 | null)[]): void;

  // ***** elementwise and small reductions *****

  /** out (n) = a (n) + b (n). out may alias a or b. */
  add(out: F32, a: F32, b: F32): void;
  /** x (rows, n) += bias (n), broadcast over rows. */
  addBias(x: F32, bias: F32, rows: number, n: number): void;
  /** dbias (n) += sum over rows of dout (rows, n). */
  addBiasBackward(dbias: F32, dout: F32, rows: number, n: number): void;
  /** x (n) *= s. */
  scale(x: F32, s: number): void;
  /** Σ x² in fp64, returned as a number (for global-norm gradient clipping). */
  sumSquares(x: F32): number;

  // ***** embedding *****

  /** out (T, C) = wte[ids[t]] for each t. wte (V, C). Overwrites out. */
  embeddingForward(out: F32, ids: Int32Array, wte: F32, T: number, C: number): void;
  /** dwte (V, C) += scatter of dout (T, C) at ids. */
  embeddingBackward(dwte: F32, dout: F32, ids: Int32Array, T: number, C: number): void;

  // ***** RMSNorm (Llama / Qwen: y = x / sqrt(mean(x²) + eps) * w) *****

  /**
   * out (rows, C), rstd (rows) saved for backward; inp (rows, C), w (C). Overwrites out and rstd.
   * Also used for Qwen3's per-head q/k norm with rows = T·heads, C = headDim.
   */
  rmsnormForward(out: F32, rstd: F32, inp: F32, w: F32, rows: number, C: number, eps: number): void;
  /** dinp (rows, C) +=, dw (C) +=, from dout (rows, C); inp, w, rstd as in forward. */
  rmsnormBackward(dinp: F32, dw: F32, dout: F32, inp: F32, w: F32, rstd: F32, rows: number, C: number): void;

  // ***** rotary position embedding (HF "rotate_half" layout: pairs are (i, i + D/2)) *****

  /**
   * In place on x (T, H, D): for each token t and head h, with c = cos[t, i], s = sin[t, i], i < D/2:
   *   x1' = x1·c − x2·s,  x2' = x2·c + x1·s     where x1 = x[t,h,i], x2 = x[t,h,i+D/2].
   * cos, sin: (T, D/2), built by the model from positions (so rope scaling lives in the model).
   * inverse = true applies the transpose rotation (sin → −sin): that is the backward pass.
   */
  rope(x: F32, cos: F32, sin: F32, T: number, H: number, D: number, inverse: boolean): void;

  // ***** SwiGLU MLP activation: out = silu(gate) * up *****

  /** out (n) = silu(gate (n)) · up (n). Overwrites out. */
  swigluForward(out: F32, gate: F32, up: F32): void;
  /**
   * dgate (n) =, dup (n) =, from dout (n); gate, up as in forward. Overwrites both, so the caller need
   * not zero them (for model S's batch that zeroing was 23 MB a layer, ~5 ms of a 230 ms step).
   */
  swigluBackward(dgate: F32, dup: F32, dout: F32, gate: F32, up: F32): void;

  // ***** attention over packed variable-length sequences (causal, grouped-query) *****

  /**
   * out (T, Hq·D); lse (Hq, T) saved for backward (log-sum-exp of the scaled scores of each query row).
   * q (T, Hq·D), k (T, Hkv·D), v (T, Hkv·D); query head h reads kv head floor(h / (Hq/Hkv)).
   * Causal inside each sequence of cuSeqlens; scores scaled by `scale` (usually 1/sqrt(D)). Overwrites out, lse.
   */
  attentionForward(out: F32, lse: F32, q: F32, k: F32, v: F32, cuSeqlens: Int32Array,
    T: number, Hq: number, Hkv: number, D: number, scale: number): void;
  /** dq (T, Hq·D) +=, dk (T, Hkv·D) +=, dv (T, Hkv·D) += from dout (T, Hq·D); out, lse, q, k, v as in forward. */
  attentionBackward(dq: F32, dk: F32, dv: F32, dout: F32, out: F32, lse: F32, q: F32, k: F32, v: F32,
    cuSeqlens: Int32Array, T: number, Hq: number, Hkv: number, D: number, scale: number): void;
  /**
   * Decoding against a KV cache: B queries, one new token each, already written into the cache.
   * out (B, Hq·D); q (B, Hq·D); kCache, vCache (slots, maxLen, Hkv·D); query b attends to positions
   * [0, lens[b]) of cache slot slots[b] (lens includes the new token). Overwrites out.
   * The caches are both fp32 or both bf16 (a bf16 KV cache: half the bytes read per step).
   */
  attentionDecode(out: F32, q: F32, kCache: F32 | BF16, vCache: F32 | BF16, slots: Int32Array, lens: Int32Array,
    B: number, maxLen: number, Hq: number, Hkv: number, D: number, scale: number): void;

  // ***** the vocabulary head: log-softmax and entropy *****

  /**
   * For each row t of logits (T, V): lse[t] = logsumexp(logits[t]); logp[t] = logits[t, targets[t]] − lse[t];
   * entropy[t] = −Σ_v p_v log p_v. Overwrites logp, entropy, lse (all (T)). targets[t] < 0 gives logp[t] = 0.
   */
  logprobsForward(logp: F32, entropy: F32, lse: F32, logits: F32, targets: Int32Array, T: number, V: number): void;
  /**
   * dlogits (T, V) — OVERWRITES (it is usually the logits buffer itself, reused in place) — from
   * dlogp (T) and dentropy (T) (either may be null = zero):
   *   d logp[t] / d logits[t,v]    = 1[v = target] − p_v
   *   d entropy[t] / d logits[t,v] = −p_v (log p_v + entropy[t])
   * lse and entropy as saved by forward. dlogits may alias logits.
   */
  logprobsBackward(dlogits: F32, logits: F32, lse: F32, entropy: F32, dlogp: F32 | null, dentropy: F32 | null,
    targets: Int32Array, T: number, V: number): void;

  /**
   * The token sampler's pass over one logits row z (V): stats (Float64Array(4 + ⌈V / SAMPLE_CHUNK⌉)) =
   * [max, argmax (first index), Σ exp(z − max), Σ e, then Σ e over each chunk of SAMPLE_CHUNK tokens];
   * e (V) = exp((z − max)·invT). invT = 0 (greedy): e untouched, stats[3…] = 0. z = −∞ gives e = 0.
   * invT a Float32Array of R values: R rows in one call (a decoding step's batch; native: rows over the
   * threads), logits and e (R·V), stats R blocks of (4 + ⌈V / SAMPLE_CHUNK⌉), row r at invT[r].
   * e empty (length 0): the stats only, e is not written — what a sampler that cuts nothing (no top-k,
   * no top-p) needs; native then reads z once instead of twice and writes nothing (its sums may round
   * differently in the last bits).
   */
  samplePrep(e: F32, stats: Float64Array, logits: F32, invT: number | F32): void;

  // ***** optimizer *****

  /**
   * One AdamW step on a tensor (PyTorch torch.optim.AdamW semantics, decoupled weight decay):
   *   p -= lr·wd·p;  m = b1·m + (1−b1)·g;  v = b2·v + (1−b2)·g²;
   *   p -= lr · (m / (1−b1^step)) / (sqrt(v / (1−b2^step)) + eps)
   * step counts from 1.
   */
  adamw(p: F32, g: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, step: number): void;
}

/** Elements of packBf16's output for w (n, k): n rounded up to 16, k up to 2. */
export function packedBf16Size(n: number, k: number): number {
  return Math.ceil(n / 16) * 16 * Math.ceil(k / 2) * 2;
}

/** Tokens per chunk sum of samplePrep (the sampler's inverse CDF skips whole chunks). */
export const SAMPLE_CHUNK = 1024;
