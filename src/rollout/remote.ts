/**
 * The remote rollout engine: the RolloutEngine interface over an OpenAI-compatible endpoint (vLLM,
 * SGLang, `aha serve`, llama.cpp's server, Ollama, hosted APIs).
 *
 * Each RolloutRequest is one POST /v1/completions (or /v1/chat/completions when it carries `messages`)
 * with `n` samples; requests run concurrently up to `concurrency` per endpoint, with retries and backoff.
 * `baseUrl` may list several endpoints serving the same model: requests are balanced and fail over, down
 * endpoints are probed, `endpoints()` reports their state (./endpoints.ts). What the trainer needs comes back in vLLM's extra fields, which `aha serve`
 * speaks too:
 *   - the prompt goes as token ids (`prompt: [ids]`) so the server samples from exactly the trainer's
 *     prompt ("auto": ids when the request has them, else `promptText`);
 *   - `return_token_ids: true` → `choices[i].token_ids`: the completion's ids, the stop token included;
 *   - `logprobs: 0` → `choices[i].logprobs.token_logprobs`: one log-prob per generated token;
 *   - `include_stop_str_in_output: true`, `stop_token_ids`, `top_k`: the local engine's semantics.
 *
 * Truncated importance sampling (the trainer's side): the server's weights lag the trainer's, and its
 * numerics differ, so its log-probs are not the trainer's "old policy" log-probs. `Completion.logprobs`
 * here are the engine's log q(token); set `rl.tisCap` (e.g. 2) and the objective (src/rl/objective.ts)
 * weights each token by min(exp(logp_old − logp_engine), C) with logp_old recomputed by the trainer.
 * `logprobKind` is what the server reports: vLLM and `aha serve` give the model's own log-probs
 * (temperature 1, before top-p) — "model" — unless configured otherwise; say "sampler" if yours gives
 * the sampling distribution's.
 *
 * Streaming: the engine asks for whole answers; `onEvent` gets each completion's token events and its
 * finish event when its answer arrives.
 *
 * Episodes (a request with `episode`, ./episode.ts): each sample is its own episode, one completion
 * request per model turn, stopping at the environment's turn-end strings (and ids); the next turn's
 * prompt is the prompt's ids + every token so far (the server's own ids, then the observation's), so
 * nothing the model wrote is re-tokenized. Needs the prompt as ids and a server that returns token ids.
 */
import { AhaError } from "../errors.js";
import type { Completion, GenerateOptions, LogprobKind, RolloutEngine, RolloutRequest } from "./engine.js";
import { EndpointPool, type EndpointPoolOptions, type EndpointState } from "./endpoints.js";
import { EpisodeRunner } from "./episode.js";

export interface RemoteEngineOptions extends Omit<EndpointPoolOptions, "baseUrls"> {
  /**
   * Base URL, e.g. http://127.0.0.1:8000/v1 (a URL without /v1 gets it appended), or several (a list or a
   * comma-separated string) serving the same model: requests are balanced and fail over (./endpoints.ts).
   */
  baseUrl: string | readonly string[];
  /** The model name the server knows. */
  model: string;
  /** How prompts are sent: "ids" (token ids), "text" (promptText), "auto" (ids when given, else text). */
  promptFormat?: "auto" | "ids" | "text";
  /** Ask for per-token log-probs. Default true. */
  logprobs?: boolean;
  /** What the server's log-probs are (see the file comment). Default "model". */
  logprobKind?: Exclude<LogprobKind, "none">;
  /** Fail when the server returns no token ids (a trainer needs them). Default false. */
  requireTokenIds?: boolean;
  /** One HTTP request per sample (servers without `n`, e.g. Ollama). Default false. */
  splitN?: boolean;
  /** Extra body fields for every request (e.g. {"chat_template_kwargs": {...}}). */
  extraBody?: Record<string, unknown>;
}

/** A rollout request that may be a chat: then `messages` are sent to /v1/chat/completions. */
export interface RemoteRolloutRequest extends RolloutRequest {
  messages?: { role: string; content: string }[];
}

interface ChoiceJson {
  index?: number;
  text?: string;
  message?: { content?: string | null };
  finish_reason?: string | null;
  token_ids?: unknown;
  logprobs?: { token_logprobs?: unknown; content?: unknown } | null;
}

interface ResponseJson {
  choices?: ChoiceJson[];
  usage?: { completion_tokens?: number };
}

const isIntArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => Number.isInteger(x));

export class RemoteRolloutEngine implements RolloutEngine {
  readonly name: string;
  readonly logprobKind: LogprobKind;
  /** The endpoints: balancing, retries, failover, probes (./endpoints.ts). */
  readonly pool: EndpointPool;
  private readonly o: RemoteEngineOptions;
  private readonly closer = new AbortController();
  private closed = false;

  constructor(o: RemoteEngineOptions) {
    this.o = o;
    const { baseUrl, ...rest } = o;
    this.pool = new EndpointPool({ ...rest, baseUrls: baseUrl });
    this.name = `remote:${this.pool.urls.join(",")}`;
    this.logprobKind = o.logprobs === false ? "none" : o.logprobKind ?? "model";
  }

  async generate(requests: readonly RolloutRequest[], opts: GenerateOptions = {}): Promise<Completion[][]> {
    if (this.closed) throw new AhaError("AHA_ENGINE_CLOSED", "the rollout engine is closed");
    const ac = new AbortController();
    const signals = [this.closer.signal, ac.signal, ...(opts.signal ? [opts.signal] : [])];
    const signal = AbortSignal.any(signals);
    const jobs: Promise<void>[] = [];
    const out: Completion[][] = requests.map((r) => new Array<Completion>(r.n ?? 1));
    requests.forEach((r, ri) => {
      const n = r.n ?? 1;
      const seed = r.seed ?? (opts.seed !== undefined ? (opts.seed * 1_000_003 + ri) >>> 0 : undefined);
      if (r.episode) {
        for (let j = 0; j < n; j++) {
          jobs.push(this.episode(r, ri, j, seed === undefined ? undefined : (seed + j * 7919) >>> 0, signal).then((completion) => {
            out[ri]![j] = completion;
            if (opts.onEvent) {
              completion.tokenIds.forEach((t, k) => opts.onEvent!({ type: "token", requestIndex: ri, sampleIndex: j, token: t, logprob: completion.logprobs ? completion.logprobs[k]! : null }));
              opts.onEvent({ type: "finish", completion });
            }
          }));
        }
        return;
      }
      const parts = this.o.splitN ? Array.from({ length: n }, (_, j) => ({ first: j, count: 1, seed: seed === undefined ? undefined : (seed + j) >>> 0 })) : [{ first: 0, count: n, seed }];
      for (const part of parts) {
        if (part.count === 0) continue;
        jobs.push(
          this.one(r as RemoteRolloutRequest, ri, part.count, part.seed, signal).then((cs) => {
            cs.forEach((c, j) => {
              const completion = { ...c, sampleIndex: part.first + j };
              out[ri]![part.first + j] = completion;
              if (opts.onEvent) {
                completion.tokenIds.forEach((t, k) =>
                  opts.onEvent!({ type: "token", requestIndex: ri, sampleIndex: completion.sampleIndex, token: t, logprob: completion.logprobs ? completion.logprobs[k]! : null }));
                opts.onEvent({ type: "finish", completion });
              }
            });
          }),
        );
      }
    });
    try {
      await Promise.all(jobs);
    } catch (e) {
      ac.abort(); // stop the other requests of this call
      if (opts.signal?.aborted) throw new AhaError("AHA_ABORTED", "generation was aborted");
      if (this.closer.signal.aborted) throw new AhaError("AHA_ENGINE_CLOSED", "the rollout engine was closed while generating");
      throw e;
    }
    return out;
  }

  private body(r: RemoteRolloutRequest, n: number, seed: number | undefined, idsPrompt = false): { path: string; body: Record<string, unknown> } {
    const chat = r.messages !== undefined;
    const body: Record<string, unknown> = {
      model: this.o.model,
      n,
      max_tokens: r.maxNewTokens,
      temperature: r.temperature ?? 1,
      top_p: r.topP ?? 1,
      ...(r.topK ? { top_k: r.topK } : {}),
      ...(r.stopStrings && r.stopStrings.length > 0 ? { stop: [...r.stopStrings], include_stop_str_in_output: true } : {}),
      ...(r.stopTokenIds && r.stopTokenIds.length > 0 ? { stop_token_ids: [...r.stopTokenIds] } : {}),
      ...(seed !== undefined ? { seed } : {}),
      return_token_ids: true,
      ...this.o.extraBody,
    };
    if (this.o.logprobs !== false) body.logprobs = chat ? true : 0;
    if (chat) {
      body.messages = r.messages;
      return { path: "/chat/completions", body };
    }
    const fmt = this.o.promptFormat ?? "auto";
    const useIds = idsPrompt || fmt === "ids" || (fmt === "auto" && r.promptIds.length > 0);
    if (useIds) {
      if (r.promptIds.length === 0) throw new AhaError("AHA_BAD_INPUT", "promptFormat 'ids' needs promptIds");
      body.prompt = Array.from(r.promptIds);
    } else {
      if (r.promptText === undefined) throw new AhaError("AHA_BAD_INPUT", "this request has no promptText (promptFormat 'text')");
      body.prompt = r.promptText;
    }
    return { path: "/completions", body };
  }

  /** One sample as an episode: a completion request per model turn, the prompt continued by token ids. */
  private async episode(r: RolloutRequest, ri: number, j: number, seed: number | undefined, signal: AbortSignal): Promise<Completion> {
    const spec = r.episode!;
    if (r.promptIds.length === 0) throw new AhaError("AHA_BAD_INPUT", "an episode on a remote engine needs its prompt as token ids");
    const run = new EpisodeRunner({ ...spec, stopStrings: r.stopStrings ?? [] }, r.maxNewTokens, signal);
    const prompt = Array.from(r.promptIds);
    const logp: number[] = [];
    let haveLogp = this.o.logprobs !== false;
    try {
      for (let turn = 0; ; turn++) {
        const req: RemoteRolloutRequest = {
          promptIds: [...prompt, ...run.tokens], n: 1, maxNewTokens: r.maxNewTokens - run.tokens.length,
          ...(r.temperature !== undefined ? { temperature: r.temperature } : {}), ...(r.topP !== undefined ? { topP: r.topP } : {}), ...(r.topK !== undefined ? { topK: r.topK } : {}),
          stopStrings: [...spec.env.turnEnd, ...(r.stopStrings ?? [])],
          stopTokenIds: [...(r.stopTokenIds ?? []), ...(spec.turnEndIds ?? [])],
        };
        const [c] = await this.one(req, ri, 1, seed === undefined ? undefined : (seed + turn * 104_729) >>> 0, signal, true);
        const all = [...run.tokens, ...c!.tokenIds];
        if (c!.logprobs) logp.push(...c!.logprobs);
        else haveLogp = false;
        const call = c!.tokenIds.length > 0 && run.endsTurn(all);
        const ids = await run.endTurn(all, call ? "call" : c!.finishReason === "length" ? "length" : "stop");
        if (!ids) break;
        for (let k = 0; k < ids.length; k++) logp.push(0);
      }
    } finally {
      await run.close();
    }
    const rec = run.record();
    const tokenIds = Int32Array.from(run.tokens);
    return {
      requestIndex: ri, sampleIndex: j, tokenIds, logprobs: haveLogp ? Float32Array.from(logp) : null,
      finishReason: rec.finish === "max_tokens" ? "length" : "stop", text: spec.decode(tokenIds), lossMask: run.lossMask(), episode: rec,
    };
  }

  /** Per-endpoint state ({url, up, requests, failures, inFlight, lastError}), for logs and metrics. */
  endpoints(): EndpointState[] {
    return this.pool.state();
  }

  /** Holds an endpoint out of rotation (a reason) or lets it back (null); see EndpointPool.hold. */
  holdEndpoint(url: string, reason: string | null): void {
    this.pool.hold(url, reason);
  }

  private async one(r: RemoteRolloutRequest, ri: number, n: number, seed: number | undefined, signal: AbortSignal, needIds = false): Promise<Completion[]> {
    // the same body (seed included) whichever endpoint serves it
    const { path, body } = this.body(r, n, seed, needIds);
    const { value } = await this.pool.post(path, body, (json, url) => this.parse(json, url + path, ri, n, needIds), signal);
    return value;
  }

  /** The completions of an answer; throws when it is not a valid one (the endpoint's fault: another may be tried). */
  private parse(json: unknown, where: string, ri: number, n: number, needIds = false): Completion[] {
    const res = (json !== null && typeof json === "object" ? json : {}) as ResponseJson;
    const choices = Array.isArray(res.choices) ? res.choices : [];
    if (choices.length !== n) throw new AhaError("AHA_ENDPOINT_ERROR", `${where}: asked for ${n} choices, got ${choices.length}`);
    const sorted = [...choices].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    return sorted.map((c, j): Completion => {
      const ids = isIntArray(c.token_ids) ? Int32Array.from(c.token_ids) : null;
      if (!ids && (this.o.requireTokenIds || needIds)) {
        throw new AhaError("AHA_ENDPOINT_NO_TOKEN_IDS", `${where} returned no token ids`, "the server must support vLLM's return_token_ids (vLLM ≥ 0.10.2, aha serve)");
      }
      const lpRaw = Array.isArray(c.logprobs?.token_logprobs)
        ? (c.logprobs.token_logprobs as unknown[])
        : Array.isArray(c.logprobs?.content)
          ? (c.logprobs.content as { logprob?: unknown }[]).map((x) => x?.logprob)
          : null;
      let logprobs: Float32Array | null = null;
      if (lpRaw && this.o.logprobs !== false && (!ids || lpRaw.length === ids.length)) {
        logprobs = Float32Array.from(lpRaw, (x) => (typeof x === "number" ? x : Number.NaN));
      }
      const numTokens = ids ? ids.length : lpRaw ? lpRaw.length : n === 1 && typeof res.usage?.completion_tokens === "number" ? res.usage.completion_tokens : undefined;
      const text = c.text ?? c.message?.content ?? "";
      return {
        requestIndex: ri, sampleIndex: j, tokenIds: ids ?? new Int32Array(0), logprobs,
        finishReason: c.finish_reason === "length" ? "length" : "stop", text,
        ...(numTokens !== undefined ? { numTokens } : {}),
      };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closer.abort();
    this.pool.close();
  }
}
