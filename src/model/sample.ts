/**
 * Sampling: batched generation with a KV cache and continuous batching, plus the full-recompute oracle.
 *
 * Written against a small inference interface (`InferenceModel`, which src/model/model.ts's `Model`
 * satisfies) so that it can also be tested with a fake model.
 *
 * How a batch runs (`BatchSampler`):
 * - The cache has a fixed number of slots (the batch size). Requests wait in a queue; whenever slots are
 *   free, waiting prompts are prefilled together in one `prefill` call, while running sequences keep
 *   decoding (continuous batching: a finished sequence's slot goes to the next one at the next step).
 * - The n samples of one prompt share its single prefill: every sample draws its first token from the
 *   prompt's last-token logits right after it, and its cache slot is a `copySlot` of the prompt's slot
 *   (the last sample takes the prompt's slot itself). If slots run out, the remaining samples wait for
 *   free slots; a prompt whose slot had to be given away is prefilled again later, for its cache only
 *   (its samples already hold their first tokens, so they are unaffected).
 * - Every sequence (request r, sample j) has its own RNG stream derived from (seed, r, j), so what it
 *   samples does not depend on which other sequences share its batch or on the order they are scheduled.
 *   (Bit-identical logits across batch compositions are up to the kernels: a GEMM may round differently
 *   for a different number of rows. At temperature 0 this only matters for exact near-ties.)
 *
 * Log-probs: every token comes with
 * - `logprobs`: log p(token) under the MODEL's distribution, softmax(logits) at temperature 1, no top-k/
 *   top-p. This is what the RL trainer compares with its own forward pass (the "old" policy log-prob);
 * - `samplerLogprobs`: log q(token) under the distribution actually sampled from (after temperature,
 *   top-k, top-p; 0 for greedy). Useful for off-policy corrections; not the same thing when T ≠ 1 or
 *   top-k/top-p cut anything.
 *
 * Sampling order is temperature → top-k → top-p (as transformers and vLLM do). Ties at the top-k / top-p
 * boundary are all kept. Top-k and top-p use a radix selection over the float bits of the
 * probabilities (three histogram passes, no sort), so a 151,936-token vocabulary costs O(V) per token.
 * The exp pass over the vocabulary (max, softmax sums, the tempered weights) is the backend's
 * `samplePrep` (native: one SIMD pass); the selection and the inverse CDF stay here.
 */
import { AhaError, UserError } from "../errors.js";
import { SAMPLE_CHUNK, type Backend } from "../kernels/backend.js";
import { getBackend } from "../kernels/index.js";
import { fmix32, splitmix32, Xoshiro128 } from "../util/rng.js";
import { yieldToLoop } from "../util/yield.js";

// ***** the model interface the sampler needs *****

/**
 * What the sampler needs from a model. `C` is the model's KV cache type (opaque here).
 * - `prefill` writes each prompt's keys/values into its slot from position 0 (replacing what was there)
 *   and returns the logits of each prompt's last token, (S, V).
 * - `decode` appends one token per slot and returns its logits, (B, V), rows in the order of `slots`:
 *   a view of `out` (≥ B·V floats, reused by the sampler from step to step) if the model uses it, else a new array.
 * - `copySlot` copies one slot's cache (and length) to another.
 * - `lastLogits` recomputes from scratch, no cache: last-token logits of each packed sequence, (S, V).
 */
export interface InferenceModel<C = unknown> {
  readonly cfg: { readonly vocabSize: number };
  createKVCache(slots: number, maxLen: number): C;
  prefill(cache: C, slots: Int32Array, tokens: Int32Array, cuSeqlens: Int32Array, out?: Float32Array): Float32Array;
  decode(cache: C, slots: Int32Array, tokens: Int32Array, out?: Float32Array): Float32Array;
  copySlot(cache: C, from: number, to: number): void;
  lastLogits(tokens: Int32Array, cuSeqlens: Int32Array): Float32Array;
}

// ***** requests and results *****

export interface SampleRequest {
  /** Prompt token ids (at least one). */
  promptIds: ArrayLike<number>;
  /** Samples for this prompt; they share one prefill. Default 1. */
  n?: number;
  /** Stop after this many new tokens (finish reason "length"). */
  maxNewTokens: number;
  /** 0 = greedy (argmax). Default 1. */
  temperature?: number;
  /** Nucleus sampling: keep the smallest set of most likely tokens with mass ≥ topP. Default 1 (off). */
  topP?: number;
  /** Keep only the topK most likely tokens (ties at the boundary kept). Default 0 (off). */
  topK?: number;
  /** Tokens that end a sequence (finish reason "stop"); the stop token is included in the output. */
  stopTokenIds?: readonly number[];
  /**
   * Called after each new token with the tokens so far (e.g. to look for stop strings) and the sample's
   * index; true ends the sequence with finish reason "stop", keeping that token. Must be pure and cheap.
   */
  stopWhen?: (tokens: readonly number[], sampleIndex: number) => boolean;
  /**
   * Multi-turn episodes: called after each sampled token (not stopped); true pauses the sequence (a
   * "pause" event; it keeps its cache slot) until `resume` appends tokens to it or `endPaused` ends it.
   */
  pauseWhen?: (tokens: readonly number[], sampleIndex: number) => boolean;
  /**
   * RNG seed for this request's samples (stream = (seed, sample index)). Default: the sampler's seed
   * with this request's index (stream = (seed, request index, sample index)).
   */
  seed?: number;
}

export type FinishReason = "stop" | "length";

export interface SampleOutput {
  requestIndex: number;
  sampleIndex: number;
  /** New tokens (the stop token included when finishReason is "stop"). */
  tokens: Int32Array;
  /** log p(token) under the model at temperature 1 (no top-k/top-p). See the file comment. */
  logprobs: Float32Array;
  /** log q(token) under the sampling distribution (temperature, top-k, top-p); 0 for greedy. */
  samplerLogprobs: Float32Array;
  finishReason: FinishReason;
}

export type SampleEvent =
  | { type: "token"; requestIndex: number; sampleIndex: number; token: number; logprob: number }
  | { type: "pause"; requestIndex: number; sampleIndex: number; tokens: Int32Array }
  | { type: "finish"; output: SampleOutput };

export interface SamplerOptions {
  /** Cache slots = the most sequences decoded at once. */
  slots: number;
  /** Cache length per slot: prompt + new tokens must fit. */
  maxLen: number;
  /** Default seed of requests without their own. Default 0. */
  seed?: number;
  /** Most prompt tokens prefilled in one call (at least one prompt always). Default 8192. */
  maxPrefillTokens?: number;
}

// ***** per-sequence RNG *****

/** xoshiro128** seeded from (seed, a, b) through murmur3's finaliser; one stream per sequence. */
export class SeqRng extends Xoshiro128 {
  constructor(seed: number, a: number, b: number) {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) >>> 0;
    let h = fmix32(lo ^ 0x9e3779b9);
    h = fmix32(h ^ fmix32(hi + 0x7f4a7c15));
    h = fmix32(h ^ fmix32((a >>> 0) + 0x243f6a88));
    h = fmix32(h ^ fmix32((b >>> 0) + 0x85a308d3));
    const next = splitmix32(h); // fills the state (never all zero)
    super(next(), next(), next(), next() | 1);
  }
}

// ***** choosing one token from logits *****

export interface SamplingParams {
  temperature: number;
  topP: number;
  topK: number;
}

/**
 * Picks tokens from logit rows. Holds O(rows·V) scratch, so keep one per vocabulary and reuse it.
 * After `sample` / `sampleRow`, `logprob` and `samplerLogprob` describe the token chosen.
 *
 * A decoding step's rows go through `prepare` (one backend samplePrep call for all of them: the native
 * backend spreads the rows over its threads), then `sampleRow` for each; `sample` is both for one row.
 */
export class TokenSampler {
  readonly vocabSize: number;
  logprob = 0;
  samplerLogprob = 0;
  private eAll: Float32Array; // (rows, V) unnormalised probabilities after temperature, max 1
  private statsAll: Float64Array; // (rows, ns): samplePrep's [max, argmax, Σ exp, Σ e, Σ e per chunk…]
  private invT = new Float32Array(1);
  private prepared: Float32Array | null = null; // the logits prepare saw (rows, V)
  private preparedRows = 0;
  private eWritten = false; // prepare had samplePrep write e (some row cuts by top-k / top-p)
  private e: Float32Array; // the current row of eAll
  private keys: Uint32Array; // float bits of e: ordered like the values (all ≥ 0)
  private readonly cand: Int32Array; // candidate indices during selection
  private readonly hist = new Float64Array(2048);
  private readonly ns: number; // stats per row
  private readonly be: Backend;

  /** `backend` runs the pass over the vocabulary (samplePrep); default: the selected backend. */
  constructor(vocabSize: number, backend: Backend = getBackend()) {
    this.vocabSize = vocabSize;
    this.be = backend;
    this.ns = 4 + Math.ceil(vocabSize / SAMPLE_CHUNK);
    this.eAll = new Float32Array(vocabSize);
    this.statsAll = new Float64Array(this.ns);
    this.e = this.eAll;
    this.keys = new Uint32Array(this.eAll.buffer, 0, vocabSize);
    this.cand = new Int32Array(vocabSize);
  }

  /** logits (V); u uniform in [0, 1) (unused when greedy). Returns the token id. */
  sample(logits: Float32Array, p: SamplingParams, u: number): number {
    const V = this.vocabSize;
    this.prepare(logits.length === V ? logits : logits.subarray(0, V), [p]);
    return this.sampleRow(0, p, u);
  }

  /**
   * The pass over the vocabulary for rows (params.length rows of V in logits), in one backend call;
   * `sampleRow(r, params[r], u)` then picks each row's token. Valid until the next prepare / sample.
   */
  prepare(logits: Float32Array, params: readonly SamplingParams[]): void {
    const V = this.vocabSize, R = params.length;
    if (logits.length < R * V) throw new Error(`prepare: ${logits.length} logits for ${R} rows of ${V}`);
    // e (the tempered weights of the whole vocabulary) is only needed to cut by top-k / top-p; a row
    // that samples from all of it finds its token from the chunk sums and one chunk's weights
    // (sampleRow), so the pass writes nothing: at 64 rows × 151,936 that was 39 MB per step.
    const needE = params.some((q) => !isGreedy(q) && cuts(q, V));
    if (needE && this.eAll.length < R * V) this.eAll = new Float32Array(R * V);
    if (this.statsAll.length < R * this.ns) this.statsAll = new Float64Array(R * this.ns);
    if (this.invT.length < R) this.invT = new Float32Array(R);
    for (let r = 0; r < R; r++) {
      const q = params[r]!;
      this.invT[r] = isGreedy(q) ? 0 : 1 / q.temperature;
    }
    const rows = logits.length === R * V ? logits : logits.subarray(0, R * V);
    const e = needE ? this.eAll.subarray(0, R * V) : NO_E;
    if (R === 1) this.be.samplePrep(e, this.statsAll.subarray(0, this.ns), rows, this.invT[0]!);
    else this.be.samplePrep(e, this.statsAll.subarray(0, R * this.ns), rows, this.invT.subarray(0, R));
    this.prepared = rows;
    this.preparedRows = R;
    this.eWritten = needE;
  }

  /** Row r of what `prepare` saw, with the params it was prepared with; u as in `sample`. Returns the token id. */
  sampleRow(r: number, p: SamplingParams, u: number): number {
    const V = this.vocabSize;
    if (!this.prepared || r >= this.preparedRows) throw new Error(`sampleRow: row ${r} was not prepared`);
    const logits = this.prepared.subarray(r * V, (r + 1) * V);
    const greedy = isGreedy(p);
    // one backend pass over V: max, argmax, Σ exp(l − m) at temperature 1, and (rows that cut) e = exp((l − m) / T)
    const st = this.statsAll.subarray(r * this.ns, (r + 1) * this.ns);
    const m = st[0]!, arg = st[1]!, s1 = st[2]!;
    if (!Number.isFinite(m)) throw new AhaError("AHA_BAD_LOGITS", `the model produced non-finite logits (max ${m})`);
    if (!Number.isFinite(s1)) throw new AhaError("AHA_BAD_LOGITS", "the model produced NaN logits");
    const lse = m + Math.log(s1);
    if (greedy) {
      this.logprob = logits[arg]! - lse;
      this.samplerLogprob = 0;
      return arg;
    }
    let mass = st[3]!;
    // a row that cuts nothing takes the same path whatever the other rows of its step do, so its token
    // does not depend on the batch it shares
    if (!cuts(p, V)) {
      const tok = this.sampleWhole(logits, st, p, u);
      this.logprob = logits[tok]! - lse;
      return tok;
    }
    if (!this.eWritten) throw new Error(`sampleRow: row ${r} cuts by top-k / top-p but was prepared without them`);
    this.e = this.eAll.subarray(r * V, (r + 1) * V);
    this.keys = new Uint32Array(this.eAll.buffer, this.eAll.byteOffset + r * V * 4, V);
    // Threshold on float bits: keep token i iff keys[i] >= thr.
    let thr = 0;
    if (p.topK > 0 && p.topK < V) {
      thr = this.select(thr, p.topK, false);
      mass = this.keptMass(thr);
    }
    if (p.topP < 1) {
      thr = this.select(thr, p.topP * mass, true);
      mass = this.keptMass(thr);
    }
    // Inverse CDF in index order over the kept tokens.
    const r0 = u * mass;
    const { keys, e } = this;
    let acc = 0;
    let tok = -1;
    let from = 0;
    if (thr === 0) {
      // nothing cut: skip whole chunks by their sums, then scan (on past the chunk if rounding requires)
      for (let c = 0; c < this.ns - 4 && acc + st[4 + c]! <= r0; c++) {
        acc += st[4 + c]!;
        from += SAMPLE_CHUNK;
      }
      from = Math.min(from, V - 1);
    }
    for (let i = from; i < V; i++) {
      if (keys[i]! >= thr) {
        acc += e[i]!;
        tok = i;
        if (acc > r0) break;
      }
    }
    this.logprob = logits[tok]! - lse;
    this.samplerLogprob = Math.log(e[tok]! / mass);
    return tok;
  }

  /**
   * Inverse CDF over the whole vocabulary without e: whole chunks skipped by their sums, then the
   * weights exp((z − max)/T) of the chunk the draw falls in (on into the next ones where rounding
   * leaves it short), computed here. The token ends up the last one with a positive weight if rounding
   * leaves the draw past them all. Sets samplerLogprob; returns the token.
   */
  private sampleWhole(logits: Float32Array, st: Float64Array, p: SamplingParams, u: number): number {
    const V = this.vocabSize, nc = this.ns - 4, m = st[0]!, invT = 1 / p.temperature, mass = st[3]!;
    const r0 = u * mass;
    let acc = 0;
    let c = 0;
    for (; c < nc - 1 && acc + st[4 + c]! <= r0; c++) acc += st[4 + c]!;
    let tok = st[1]!, w = 1; // the argmax (weight 1) if nothing is found
    scan: for (; c < nc; c++) {
      const i1 = Math.min(V, (c + 1) * SAMPLE_CHUNK);
      for (let i = c * SAMPLE_CHUNK; i < i1; i++) {
        const wi = Math.fround(Math.exp((logits[i]! - m) * invT));
        if (wi > 0) {
          acc += wi;
          tok = i;
          w = wi;
          if (acc > r0) break scan;
        }
      }
    }
    this.samplerLogprob = Math.log(w / mass);
    return tok;
  }

  private keptMass(thr: number): number {
    const { e, keys } = this;
    let s = 0;
    for (let i = 0; i < this.vocabSize; i++) if (keys[i]! >= thr) s += e[i]!;
    return s;
  }

  /**
   * Radix selection over the float bits of e (only tokens with key ≥ floor): the largest key k such that
   * the weight of {key ≥ k} is ≥ target, weight = probability mass (byMass) or count. Three levels of
   * 11 + 11 + 10 bits; the first scans the vocabulary, the next ones only the candidates left.
   */
  private select(floor: number, target: number, byMass: boolean): number {
    const { e, keys, cand, hist } = this;
    let above = 0; // weight of tokens with a key above the current prefix's range
    let prefix = 0;
    let nc = 0;
    const levels: [number, number][] = [
      [21, 0x7ff],
      [10, 0x7ff],
      [0, 0x3ff],
    ];
    for (let lv = 0; lv < 3; lv++) {
      const [shift, mask] = levels[lv]!;
      hist.fill(0, 0, mask + 1);
      if (lv === 0) {
        for (let i = 0; i < this.vocabSize; i++) {
          const k = keys[i]!;
          if (k >= floor) hist[(k >>> shift) & mask]! += byMass ? e[i]! : 1;
        }
      } else {
        for (let c = 0; c < nc; c++) {
          const i = cand[c]!;
          hist[(keys[i]! >>> shift) & mask]! += byMass ? e[i]! : 1;
        }
      }
      let bin = -1;
      let lowest = -1;
      for (let b = mask; b >= 0; b--) {
        const h = hist[b]!;
        if (h === 0) continue;
        lowest = b;
        if (above + h >= target) {
          bin = b;
          break;
        }
        above += h;
      }
      if (bin < 0) {
        // Rounding left the target just out of reach: take everything down to the lowest bin.
        bin = lowest;
        above -= hist[lowest]!;
      }
      prefix = (prefix | (bin << shift)) >>> 0;
      // Keep the candidates inside the chosen bin.
      const hiMask = (0xffffffff << shift) >>> 0;
      let n = 0;
      if (lv === 0) {
        for (let i = 0; i < this.vocabSize; i++) {
          const k = keys[i]!;
          if (k >= floor && ((k & hiMask) >>> 0) === prefix) cand[n++] = i;
        }
      } else {
        for (let c = 0; c < nc; c++) {
          const i = cand[c]!;
          if (((keys[i]! & hiMask) >>> 0) === prefix) cand[n++] = i;
        }
      }
      nc = n;
    }
    return Math.max(prefix, floor);
  }
}

const GREEDY: SamplingParams = { temperature: 0, topP: 1, topK: 0 };
const NO_E = new Float32Array(0);

function isGreedy(p: SamplingParams): boolean {
  return p.temperature === 0 || p.topK === 1;
}

/** Whether sampling with p cuts the vocabulary (top-k or top-p): then it needs every token's weight. */
function cuts(p: SamplingParams, V: number): boolean {
  return (p.topK > 0 && p.topK < V) || p.topP < 1;
}

// ***** validation *****

interface ReqState {
  index: number;
  prompt: Int32Array;
  n: number;
  maxNew: number;
  params: SamplingParams;
  stop: Set<number>;
  stopWhen: ((tokens: readonly number[], sampleIndex: number) => boolean) | null;
  pauseWhen: ((tokens: readonly number[], sampleIndex: number) => boolean) | null;
  streamSeed: number;
  streamA: number;
  outputs: (SampleOutput | undefined)[];
  /** Slot holding the prompt's cache, -1 if none. */
  tplSlot: number;
  /** Started sequences that still need a slot. */
  waiting: Seq[];
}

interface Seq {
  req: ReqState;
  sample: number;
  rng: SeqRng;
  tokens: number[];
  logprobs: number[];
  samplerLogprobs: number[];
  slot: number;
  /** Tokens of `tokens` already in the cache (the next decode feeds tokens[fed]); -1 before a slot. */
  fed: number;
  /** Paused on its first token before it had a slot: pauses as soon as it gets one. */
  pauseOnStart: boolean;
}

function checkInt(x: unknown, min: number, what: string): number {
  if (typeof x !== "number" || !Number.isInteger(x) || x < min) throw new UserError(`${what} must be an integer ≥ ${min}, got ${String(x)}`);
  return x;
}

function normalise(r: SampleRequest, index: number, vocabSize: number, maxLen: number, defaultSeed: number): Omit<ReqState, "outputs" | "tplSlot" | "waiting"> {
  const at = `request ${index}`;
  const prompt = Int32Array.from(r.promptIds);
  if (prompt.length === 0) throw new UserError(`${at}: promptIds is empty (at least one token is needed)`);
  for (let i = 0; i < prompt.length; i++) {
    const t = r.promptIds[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw new UserError(`${at}: promptIds[${i}] = ${t} is not a token id in [0, ${vocabSize})`);
  }
  const n = checkInt(r.n ?? 1, 1, `${at}: n`);
  const maxNew = checkInt(r.maxNewTokens, 0, `${at}: maxNewTokens`);
  if (prompt.length + Math.max(maxNew - 1, 0) > maxLen) {
    throw new UserError(`${at}: prompt (${prompt.length} tokens) + maxNewTokens (${maxNew}) does not fit the cache length ${maxLen}`);
  }
  const temperature = r.temperature ?? 1;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new UserError(`${at}: temperature must be ≥ 0 (0 = greedy), got ${temperature}`);
  const topP = r.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new UserError(`${at}: topP must be in (0, 1], got ${topP}`);
  const topK = checkInt(r.topK ?? 0, 0, `${at}: topK`);
  const stop = new Set<number>();
  for (const s of r.stopTokenIds ?? []) stop.add(checkInt(s, 0, `${at}: stopTokenIds`));
  if (r.seed !== undefined && !Number.isSafeInteger(r.seed)) throw new UserError(`${at}: seed must be an integer, got ${r.seed}`);
  return {
    index,
    prompt,
    n,
    maxNew,
    params: { temperature, topP, topK },
    stop,
    stopWhen: r.stopWhen ?? null,
    pauseWhen: r.pauseWhen ?? null,
    streamSeed: r.seed ?? defaultSeed,
    streamA: r.seed !== undefined ? 0xffffffff : index,
  };
}

// ***** the KV-cache sampler *****

export class BatchSampler<C> {
  private readonly model: InferenceModel<C>;
  private readonly cache: C;
  private readonly opts: Required<SamplerOptions>;
  private readonly tok: TokenSampler;
  private readonly reqs: (ReqState | null)[] = [];
  private readonly queue: ReqState[] = [];
  /** Requests with samples still waiting for a slot, in arrival order. */
  private readonly starting: ReqState[] = [];
  private readonly running = new Map<number, Seq>();
  /** Paused sequences (holding their slots), by "request:sample". */
  private readonly paused = new Map<string, Seq>();
  private readonly free: number[] = [];
  private readonly pendingEvents: SampleEvent[] = [];
  private unfinished = 0;
  /** decode's logits, (slots, V), reused from step to step */
  private logitsBuf = new Float32Array(0);

  /** `cache` (from `model.createKVCache(opts.slots, opts.maxLen)`) is reused when given, else created. */
  constructor(model: InferenceModel<C>, opts: SamplerOptions, cache?: C) {
    checkInt(opts.slots, 1, "slots");
    checkInt(opts.maxLen, 1, "maxLen");
    this.model = model;
    this.opts = { seed: 0, maxPrefillTokens: 8192, ...opts };
    this.cache = cache ?? model.createKVCache(opts.slots, opts.maxLen);
    this.tok = new TokenSampler(model.cfg.vocabSize);
    for (let s = opts.slots - 1; s >= 0; s--) this.free.push(s);
  }

  /** Queues a request; returns its index (results and events refer to it). Can be called while running. */
  add(r: SampleRequest): number {
    const base = normalise(r, this.reqs.length, this.tok.vocabSize, this.opts.maxLen, this.opts.seed);
    const req: ReqState = { ...base, outputs: new Array<SampleOutput | undefined>(base.n).fill(undefined), tplSlot: -1, waiting: [] };
    this.reqs.push(req);
    this.unfinished += req.n;
    if (req.maxNew === 0) {
      for (let j = 0; j < req.n; j++) this.finish(this.newSeq(req, j), "length", this.pendingEvents);
    } else {
      this.queue.push(req);
    }
    return req.index;
  }

  /** True while some sequence is unfinished. */
  get busy(): boolean {
    return this.unfinished > 0 || this.pendingEvents.length > 0;
  }

  /** True when `step` has work now (false while every unfinished sequence is paused). */
  get runnable(): boolean {
    return this.pendingEvents.length > 0 || this.running.size > 0 || this.queue.length > 0 || this.starting.length > 0;
  }

  /**
   * Continues a paused sequence: `append` (token ids, e.g. a tool's result) is fed into its cache, then
   * sampling resumes. The appended tokens join the output's tokens with log-probs 0; they count against
   * maxNewTokens, and at least one sampled token must still fit.
   */
  resume(index: number, sample: number, append: ArrayLike<number>): void {
    const seq = this.paused.get(`${index}:${sample}`);
    if (!seq) throw new Error(`resume: request ${index} sample ${sample} is not paused`);
    const V = this.tok.vocabSize;
    for (let i = 0; i < append.length; i++) {
      const t = append[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new UserError(`resume: appended token ${i} = ${t} is not a token id in [0, ${V})`);
    }
    if (seq.tokens.length + append.length >= seq.req.maxNew) {
      throw new UserError(`resume: ${append.length} appended tokens leave no room for a new one (maxNewTokens ${seq.req.maxNew}, ${seq.tokens.length} so far)`);
    }
    this.paused.delete(`${index}:${sample}`);
    for (let i = 0; i < append.length; i++) {
      seq.tokens.push(append[i]!);
      seq.logprobs.push(0);
      seq.samplerLogprobs.push(0);
    }
    this.running.set(seq.slot, seq);
  }

  /** Ends a paused sequence (finish reason "stop", its tokens as they are) and frees its slot. */
  endPaused(index: number, sample: number): void {
    const seq = this.paused.get(`${index}:${sample}`);
    if (!seq) throw new Error(`endPaused: request ${index} sample ${sample} is not paused`);
    this.paused.delete(`${index}:${sample}`);
    this.free.push(seq.slot);
    this.finish(seq, "stop", this.pendingEvents);
  }

  /** The outputs of request `index` (undefined entries are unfinished or cancelled). */
  outputs(index: number): readonly (SampleOutput | undefined)[] {
    const r = this.reqs[index];
    if (!r) throw new Error(`request ${index} is unknown or was forgotten`);
    return r.outputs;
  }

  /** Drops the unfinished sequences of request `index` (no finish events for them); frees their slots. */
  cancel(index: number): void {
    const req = this.reqs[index];
    if (!req) return;
    const q = this.queue.indexOf(req);
    if (q >= 0) this.queue.splice(q, 1);
    const st = this.starting.indexOf(req);
    if (st >= 0) this.starting.splice(st, 1);
    if (req.tplSlot >= 0) this.free.push(req.tplSlot);
    req.tplSlot = -1;
    req.waiting = [];
    for (const [slot, seq] of this.running) {
      if (seq.req === req) {
        this.running.delete(slot);
        this.free.push(slot);
      }
    }
    for (const [key, seq] of this.paused) {
      if (seq.req === req) {
        this.paused.delete(key);
        this.free.push(seq.slot);
      }
    }
    for (let j = 0; j < req.n; j++) if (req.outputs[j] === undefined) this.unfinished--;
    req.n = 0; // nothing of it is pending any more
  }

  /** Releases the memory of a finished or cancelled request (long-running samplers, e.g. a server). */
  forget(index: number): void {
    const req = this.reqs[index];
    if (req && req.outputs.every((o, j) => o !== undefined || j >= req.n)) this.reqs[index] = null;
  }

  /** One round: admit waiting work into free slots (prefill), then one decode step for every running sequence. */
  step(): SampleEvent[] {
    const events = this.pendingEvents.splice(0);
    this.admit(events);
    if (this.running.size > 0) this.decodeStep(events);
    return events;
  }

  /** Runs until every queued request is done; returns outputs grouped by request. */
  run(onEvent?: (e: SampleEvent) => void): SampleOutput[][] {
    while (this.busy) {
      const ev = this.step();
      if (onEvent) for (const e of ev) onEvent(e);
    }
    return this.reqs.map((r) => (r ? (r.outputs as SampleOutput[]) : []));
  }

  private newSeq(req: ReqState, sample: number): Seq {
    return { req, sample, rng: new SeqRng(req.streamSeed, req.streamA, sample), tokens: [], logprobs: [], samplerLogprobs: [], slot: -1, fed: -1, pauseOnStart: false };
  }

  /**
   * Samples a token for seq from logits (V), or from row `logits` of the tok.prepare'd step: "run" (goes
   * on), "done" (finished) or "pause" (waits for `resume`).
   */
  private advance(seq: Seq, logits: Float32Array | number, events: SampleEvent[]): "run" | "done" | "pause" {
    const p = seq.req.params, u = p.temperature === 0 ? 0 : seq.rng.uniform();
    const t = typeof logits === "number" ? this.tok.sampleRow(logits, p, u) : this.tok.sample(logits, p, u);
    seq.tokens.push(t);
    seq.logprobs.push(this.tok.logprob);
    seq.samplerLogprobs.push(this.tok.samplerLogprob);
    events.push({ type: "token", requestIndex: seq.req.index, sampleIndex: seq.sample, token: t, logprob: this.tok.logprob });
    if (seq.req.stop.has(t) || seq.req.stopWhen?.(seq.tokens, seq.sample) === true) return this.finish(seq, "stop", events) && "done";
    if (seq.req.pauseWhen?.(seq.tokens, seq.sample) === true) return "pause";
    if (seq.tokens.length >= seq.req.maxNew) return this.finish(seq, "length", events) && "done";
    return "run";
  }

  /** Moves a sequence (which holds a slot) to the paused ones and reports it. */
  private pause(seq: Seq, events: SampleEvent[]): void {
    this.paused.set(`${seq.req.index}:${seq.sample}`, seq);
    events.push({ type: "pause", requestIndex: seq.req.index, sampleIndex: seq.sample, tokens: Int32Array.from(seq.tokens) });
  }

  private finish(seq: Seq, reason: FinishReason, events: SampleEvent[]): true {
    const output: SampleOutput = {
      requestIndex: seq.req.index,
      sampleIndex: seq.sample,
      tokens: Int32Array.from(seq.tokens),
      logprobs: Float32Array.from(seq.logprobs),
      samplerLogprobs: Float32Array.from(seq.samplerLogprobs),
      finishReason: reason,
    };
    seq.req.outputs[seq.sample] = output;
    this.unfinished--;
    events.push({ type: "finish", output });
    return true;
  }

  private admit(events: SampleEvent[]): void {
    for (;;) {
      for (const req of this.starting) this.place(req);
      for (let i = this.starting.length - 1; i >= 0; i--) if (this.starting[i]!.waiting.length === 0) this.starting.splice(i, 1);
      if (this.starting.length > 0) {
        // Samples wait for slots. If nothing runs, nothing will free one: hand the prompt's own slot over.
        if (this.running.size === 0 && this.paused.size === 0 && this.free.length === 0) {
          const req = this.starting.find((r) => r.tplSlot >= 0)!;
          const seq = req.waiting.shift()!;
          this.startIn(seq, req.tplSlot);
          req.tplSlot = -1;
          continue;
        }
        return; // no new prompts until the current ones have all their samples placed
      }
      if (this.queue.length === 0 || this.free.length === 0) return;
      // Prefill as many queued prompts as the free slots (counting their samples) and token budget allow.
      const batch: ReqState[] = [];
      let need = 0;
      let toks = 0;
      while (this.queue.length > 0 && batch.length < this.free.length) {
        const r = this.queue[0]!;
        if (batch.length > 0 && (need + r.n > this.free.length || toks + r.prompt.length > this.opts.maxPrefillTokens)) break;
        batch.push(this.queue.shift()!);
        need += r.n;
        toks += r.prompt.length;
      }
      const slots = Int32Array.from(batch, () => this.free.pop()!);
      const logits = this.prefill(slots, batch);
      const V = this.tok.vocabSize;
      batch.forEach((req, b) => {
        req.tplSlot = slots[b]!;
        // every sample draws its first token now, from the prompt's row of the step buffer
        const row = logits.subarray(b * V, (b + 1) * V);
        for (let j = 0; j < req.n; j++) {
          const seq = this.newSeq(req, j);
          const next = this.advance(seq, row, events);
          seq.pauseOnStart = next === "pause";
          if (next !== "done") req.waiting.push(seq);
        }
        this.starting.push(req);
      });
    }
  }

  /** Gives waiting samples of req slots: copies of the prompt's slot, the last one the slot itself. */
  private place(req: ReqState): void {
    while (req.waiting.length > 0) {
      if (req.tplSlot >= 0 && req.waiting.length === 1) {
        this.startIn(req.waiting.shift()!, req.tplSlot);
        req.tplSlot = -1;
      } else if (this.free.length === 0) {
        return;
      } else if (req.tplSlot >= 0) {
        const s = this.free.pop()!;
        this.model.copySlot(this.cache, req.tplSlot, s);
        this.startIn(req.waiting.shift()!, s);
      } else {
        // The prompt's slot was given away: prefill the prompt again (for the cache; its logits are not needed).
        const s = this.free.pop()!;
        this.prefill(Int32Array.of(s), [req]);
        req.tplSlot = s;
      }
    }
    if (req.tplSlot >= 0) {
      this.free.push(req.tplSlot); // every sample finished on its first token
      req.tplSlot = -1;
    }
  }

  private startIn(seq: Seq, slot: number): void {
    seq.slot = slot;
    seq.fed = seq.tokens.length - 1; // the cache holds the prompt; the first sampled token is fed next
    if (seq.pauseOnStart) {
      seq.pauseOnStart = false;
      this.pause(seq, this.pendingEvents);
    } else {
      this.running.set(slot, seq);
    }
  }

  /** The prompts' last-token logits, (S, V): a view of the step buffer, valid until the next decode step. */
  private prefill(slots: Int32Array, reqs: ReqState[]): Float32Array {
    const cu = new Int32Array(reqs.length + 1);
    reqs.forEach((r, i) => (cu[i + 1] = cu[i]! + r.prompt.length));
    const tokens = new Int32Array(cu[reqs.length]!);
    reqs.forEach((r, i) => tokens.set(r.prompt, cu[i]!));
    return this.model.prefill(this.cache, slots, tokens, cu, this.stepLogits(reqs.length));
  }

  /**
   * The logits buffer of a prefill or decoding step (rows × V floats at least), one for the whole run:
   * fresh arrays of that size cost page faults as long as the products (a fresh 64 × 151,936 output
   * made the head product 4-5× slower in a prefill).
   */
  private stepLogits(rows: number): Float32Array {
    const V = this.tok.vocabSize;
    if (this.logitsBuf.length < rows * V) this.logitsBuf = new Float32Array(Math.max(rows, this.opts.slots) * V);
    return this.logitsBuf;
  }


  private decodeStep(events: SampleEvent[]): void {
    const seqs = [...this.running.values()];
    const slots = Int32Array.from(seqs, (s) => s.slot);
    // A resumed sequence feeds its appended tokens one per step (their logits are not sampled from).
    const tokens = Int32Array.from(seqs, (s) => s.tokens[s.fed++]!);
    const logits = this.model.decode(this.cache, slots, tokens, this.stepLogits(seqs.length));
    // every row's pass over the vocabulary in one call (rows still feeding appended tokens: greedy, unused)
    this.tok.prepare(logits, seqs.map((s) => (s.fed < s.tokens.length ? GREEDY : s.req.params)));
    seqs.forEach((seq, b) => {
      if (seq.fed < seq.tokens.length) return;
      const next = this.advance(seq, b, events);
      if (next === "run") return;
      this.running.delete(seq.slot);
      if (next === "done") this.free.push(seq.slot);
      else this.pause(seq, events);
    });
  }
}

// ***** entry points *****

/** Generates all requests with the KV-cache sampler; outputs grouped by request, then sample. */
export function generate<C>(model: InferenceModel<C>, requests: readonly SampleRequest[], opts: SamplerOptions, onEvent?: (e: SampleEvent) => void): SampleOutput[][] {
  const s = new BatchSampler(model, opts);
  for (const r of requests) s.add(r);
  return s.run(onEvent);
}

/** Streams events as they happen (yielding to the event loop between steps, for servers and terminals). */
export async function* generateStream<C>(model: InferenceModel<C>, requests: readonly SampleRequest[], opts: SamplerOptions): AsyncGenerator<SampleEvent> {
  const s = new BatchSampler(model, opts);
  for (const r of requests) s.add(r);
  while (s.busy) {
    for (const e of s.step()) yield e;
    await yieldToLoop();
  }
}

/**
 * The oracle: no cache, every step recomputes the whole sequence with `lastLogits` (all unfinished
 * sequences packed into one call). Same RNG streams and token choice as the KV-cache sampler, so the
 * two must produce identical tokens at temperature 0 (and, given equal logits, at any temperature).
 */
export function generateFullRecompute<C>(model: InferenceModel<C>, requests: readonly SampleRequest[], opts: { seed?: number; maxLen?: number } = {}): SampleOutput[][] {
  const V = model.cfg.vocabSize;
  const tok = new TokenSampler(V);
  const out: SampleOutput[][] = [];
  interface S { req: ReturnType<typeof normalise>; j: number; rng: SeqRng; toks: number[]; lp: number[]; slp: number[] }
  let live: S[] = [];
  requests.forEach((r, i) => {
    const req = normalise(r, i, V, opts.maxLen ?? Number.MAX_SAFE_INTEGER, opts.seed ?? 0);
    out.push(new Array<SampleOutput>(req.n));
    for (let j = 0; j < req.n; j++) live.push({ req, j, rng: new SeqRng(req.streamSeed, req.streamA, j), toks: [], lp: [], slp: [] });
  });
  const done = (s: S, reason: FinishReason): void => {
    out[s.req.index]![s.j] = {
      requestIndex: s.req.index,
      sampleIndex: s.j,
      tokens: Int32Array.from(s.toks),
      logprobs: Float32Array.from(s.lp),
      samplerLogprobs: Float32Array.from(s.slp),
      finishReason: reason,
    };
  };
  for (const s of live) if (s.req.maxNew === 0) done(s, "length");
  live = live.filter((s) => s.req.maxNew > 0);
  while (live.length > 0) {
    const cu = new Int32Array(live.length + 1);
    live.forEach((s, i) => (cu[i + 1] = cu[i]! + s.req.prompt.length + s.toks.length));
    const tokens = new Int32Array(cu[live.length]!);
    live.forEach((s, i) => {
      tokens.set(s.req.prompt, cu[i]!);
      tokens.set(s.toks, cu[i]! + s.req.prompt.length);
    });
    const logits = model.lastLogits(tokens, cu);
    live = live.filter((s, i) => {
      const t = tok.sample(logits.subarray(i * V, (i + 1) * V), s.req.params, s.req.params.temperature === 0 ? 0 : s.rng.uniform());
      s.toks.push(t);
      s.lp.push(tok.logprob);
      s.slp.push(tok.samplerLogprob);
      const stopped = s.req.stop.has(t) || s.req.stopWhen?.(s.toks, s.j) === true;
      const reason: FinishReason | null = stopped ? "stop" : s.toks.length >= s.req.maxNew ? "length" : null;
      if (reason !== null) done(s, reason);
      return reason === null;
    });
  }
  return out;
}
