/**
 * The local rollout engine: the in-process model through the KV-cache sampler (src/model/sample.ts).
 *
 * One BatchSampler (one KV cache, allocated once) serves every call: concurrent `generate` calls join
 * the same continuous batch, and the sampler is stepped in a loop that yields to the event loop between
 * steps (so an HTTP server stays responsive while it generates). The weights are read at every step, so
 * after an optimizer step the next call samples from the updated policy.
 *
 * Log-probs are the model's own, temperature 1 (`logprobKind = "model"`).
 *
 * Episodes (a request with `episode`, ./episode.ts): the sampler pauses a sequence when its turn ends
 * with a call; the environment answers asynchronously while the other sequences keep decoding; the
 * observation's ids are then fed into that sequence's cache slot and sampling resumes. When every
 * unfinished sequence waits for its environment, the loop sleeps until one answers.
 */
import { AhaError, UserError } from "../errors.js";
import { BatchSampler, SeqRng, type InferenceModel, type SampleEvent, type SampleRequest } from "../model/sample.js";
import type { Completion, GenerateOptions, RolloutEngine, RolloutEvent, RolloutRequest } from "./engine.js";
import { EpisodeRunner } from "./episode.js";
import { yieldToLoop } from "../util/yield.js";

export interface LocalEngineOptions {
  /** Sequences decoded at once (KV-cache slots). */
  slots: number;
  /** KV-cache positions per slot: prompt + completion must fit. */
  maxLen: number;
  /** Base of the per-call default seeds. Default 0. */
  seed?: number;
  /** Token ids → text, to fill `Completion.text`. */
  decode?: (ids: Int32Array) => string;
  /** Most prompt tokens per prefill call. Default 8192. */
  maxPrefillTokens?: number;
}

interface Call {
  /** sampler request index → position in the call */
  local: Map<number, number>;
  /** Episodes: "sampler request index:sample" → its runner. */
  episodes: Map<string, EpisodeRunner>;
  /** Resolved or rejected (late environment answers are dropped). */
  settled: boolean;
  out: Completion[][];
  left: number;
  opts: GenerateOptions;
  resolve: (c: Completion[][]) => void;
  reject: (e: unknown) => void;
  onAbort: () => void;
}

export class LocalRolloutEngine<C> implements RolloutEngine {
  readonly name = "local";
  readonly logprobKind = "model" as const;
  private readonly sampler: BatchSampler<C>;
  private readonly decode: ((ids: Int32Array) => string) | undefined;
  private readonly byRequest = new Map<number, Call>();
  private readonly baseSeed: number;
  private calls = 0;
  private pumping = false;
  private closed = false;
  /** Wakes the loop while every unfinished sequence waits for its environment. */
  private wake: (() => void) | null = null;

  constructor(model: InferenceModel<C>, opts: LocalEngineOptions) {
    this.sampler = new BatchSampler(model, {
      slots: opts.slots,
      maxLen: opts.maxLen,
      ...(opts.maxPrefillTokens !== undefined ? { maxPrefillTokens: opts.maxPrefillTokens } : {}),
    });
    this.decode = opts.decode;
    this.baseSeed = opts.seed ?? 0;
  }

  generate(requests: readonly RolloutRequest[], opts: GenerateOptions = {}): Promise<Completion[][]> {
    if (this.closed) return Promise.reject(new AhaError("AHA_ENGINE_CLOSED", "the rollout engine is closed"));
    if (opts.signal?.aborted) return Promise.reject(aborted());
    const callSeed = opts.seed ?? this.baseSeed * 1_000_003 + this.calls;
    this.calls++;
    const added: number[] = [];
    const episodes = new Map<string, EpisodeRunner>();
    try {
      requests.forEach((r, i) => {
        const seed = r.seed ?? new SeqRng(callSeed, i, 0x5eed).nextU32();
        if (!r.episode) {
          added.push(this.sampler.add(toSampleRequest(r, seed, this.stopWhen(r, i))));
          return;
        }
        const runners = Array.from({ length: r.n ?? 1 }, () => new EpisodeRunner({ ...r.episode!, stopStrings: r.stopStrings ?? [] }, r.maxNewTokens, opts.signal));
        const idx = this.sampler.add({
          ...toSampleRequest(r, seed, (tokens, j) => runners[j]!.stops(tokens)),
          pauseWhen: (tokens, j) => runners[j]!.endsTurn(tokens),
        });
        runners.forEach((run, j) => episodes.set(`${idx}:${j}`, run));
        added.push(idx);
      });
    } catch (e) {
      for (const idx of added) this.drop(idx);
      return Promise.reject(e);
    }
    return new Promise<Completion[][]>((resolve, reject) => {
      const call: Call = {
        local: new Map(added.map((idx, i) => [idx, i])),
        episodes,
        settled: false,
        out: requests.map((r) => new Array<Completion>(r.n ?? 1)),
        left: requests.reduce((a, r) => a + (r.n ?? 1), 0),
        opts,
        resolve,
        reject,
        onAbort: () => this.fail(call, aborted()),
      };
      if (call.left === 0) {
        resolve(call.out);
        return;
      }
      for (const idx of added) this.byRequest.set(idx, call);
      opts.signal?.addEventListener("abort", call.onAbort, { once: true });
      this.wake?.(); // the loop may sleep while every sequence waits for its environment
      void this.pump();
    });
  }

  /** Stop strings → a check on the decoded tail (long enough to hold the longest stop string). */
  private stopWhen(r: RolloutRequest, i: number): ((tokens: readonly number[]) => boolean) | undefined {
    const stops = r.stopStrings ?? [];
    if (stops.length === 0) return undefined;
    const decode = this.decode;
    if (!decode) throw new UserError(`request ${i}: stopStrings need the engine's decode function (LocalEngineOptions.decode)`);
    if (stops.some((s) => s.length === 0)) throw new UserError(`request ${i}: stopStrings must not be empty strings`);
    const window = Math.max(...stops.map((s) => s.length)) + 8; // tokens: each decodes to ≥ 1 character or joins one
    return (tokens) => {
      const text = decode(Int32Array.from(tokens.slice(-window)));
      return stops.some((s) => text.includes(s));
    };
  }

  /** Sampler requests (prompts) of calls still in flight: 0 when idle (a server's leak check reads it). */
  get inFlight(): number {
    return this.byRequest.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    const calls = new Set(this.byRequest.values());
    for (const c of calls) this.fail(c, new AhaError("AHA_ENGINE_CLOSED", "the rollout engine was closed while generating"));
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.sampler.busy) {
        if (!this.sampler.runnable) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = null;
          continue;
        }
        for (const e of this.sampler.step()) this.dispatch(e);
        await yieldToLoop();
      }
    } catch (err) {
      // A model error fails every pending call.
      for (const c of new Set(this.byRequest.values())) this.fail(c, err);
    } finally {
      this.pumping = false;
    }
  }

  private dispatch(e: SampleEvent): void {
    const idx = e.type === "finish" ? e.output.requestIndex : e.requestIndex;
    const call = this.byRequest.get(idx);
    if (!call) return;
    const ri = call.local.get(idx)!;
    if (e.type === "token") {
      call.opts.onEvent?.({ type: "token", requestIndex: ri, sampleIndex: e.sampleIndex, token: e.token, logprob: e.logprob });
      return;
    }
    if (e.type === "pause") {
      void this.answer(call, idx, e.sampleIndex, e.tokens);
      return;
    }
    const o = e.output;
    const run = call.episodes.get(`${idx}:${o.sampleIndex}`);
    if (run) {
      void this.endEpisode(call, ri, o.sampleIndex, run, o.tokens, o.logprobs, o.finishReason);
      return;
    }
    this.complete(call, {
      requestIndex: ri,
      sampleIndex: o.sampleIndex,
      tokenIds: o.tokens,
      logprobs: o.logprobs,
      finishReason: o.finishReason,
      ...(this.decode ? { text: this.decode(o.tokens) } : {}),
    });
  }

  /** A sequence paused on a call: the environment answers, then the sequence resumes or ends. */
  private async answer(call: Call, idx: number, sample: number, tokens: Int32Array): Promise<void> {
    const run = call.episodes.get(`${idx}:${sample}`)!;
    const ids = await run.endTurn(tokens, "call");
    if (call.settled) return; // the call failed or was aborted meanwhile
    try {
      if (ids) this.sampler.resume(idx, sample, ids);
      else this.sampler.endPaused(idx, sample);
    } catch (e) {
      this.fail(call, e); // ids the model cannot take (a tokenizer that does not fit the model)
      return;
    }
    this.wake?.();
  }

  /** A sequence finished (stop or length): its last turn goes to the environment, then the completion. */
  private async endEpisode(call: Call, ri: number, sampleIndex: number, run: EpisodeRunner, tokens: Int32Array, logprobs: Float32Array, reason: "stop" | "length"): Promise<void> {
    if (!run.finished) await run.endTurn(tokens, reason === "length" ? "length" : "stop");
    await run.close();
    const rec = run.record();
    this.complete(call, {
      requestIndex: ri,
      sampleIndex,
      tokenIds: tokens,
      logprobs,
      finishReason: rec.finish === "max_tokens" ? "length" : "stop",
      ...(this.decode ? { text: this.decode(tokens) } : {}),
      lossMask: run.lossMask(),
      episode: rec,
    });
  }

  private complete(call: Call, completion: Completion): void {
    if (call.settled) return; // failed or aborted while its environment answered
    const ri = completion.requestIndex;
    call.out[ri]![completion.sampleIndex] = completion;
    call.opts.onEvent?.({ type: "finish", completion } satisfies RolloutEvent);
    if (--call.left === 0) {
      call.settled = true;
      for (const i of call.local.keys()) this.drop(i);
      call.opts.signal?.removeEventListener("abort", call.onAbort);
      call.resolve(call.out);
    }
  }

  private fail(call: Call, err: unknown): void {
    if (call.settled) return;
    call.settled = true;
    for (const run of call.episodes.values()) void run.close();
    for (const i of call.local.keys()) this.drop(i);
    call.opts.signal?.removeEventListener("abort", call.onAbort);
    call.reject(err);
    this.wake?.(); // the loop may sleep waiting for an environment of this call
  }

  private drop(idx: number): void {
    this.sampler.cancel(idx);
    this.sampler.forget(idx);
    this.byRequest.delete(idx);
  }
}

function aborted(): AhaError {
  return new AhaError("AHA_ABORTED", "generation was aborted");
}

function toSampleRequest(r: RolloutRequest, seed: number, stopWhen: ((tokens: readonly number[], sampleIndex: number) => boolean) | undefined): SampleRequest {
  return {
    promptIds: r.promptIds,
    maxNewTokens: r.maxNewTokens,
    seed,
    ...(stopWhen ? { stopWhen } : {}),
    ...(r.n !== undefined ? { n: r.n } : {}),
    ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
    ...(r.topP !== undefined ? { topP: r.topP } : {}),
    ...(r.topK !== undefined ? { topK: r.topK } : {}),
    ...(r.stopTokenIds !== undefined ? { stopTokenIds: r.stopTokenIds } : {}),
  };
}
