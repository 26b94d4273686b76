/**
 * Episodes: a sample that talks to an environment (src/env/) between its model turns.
 *
 * One `EpisodeRunner` per sample keeps the episode's token ids — the model's own tokens exactly as
 * sampled, then the observation tokens the environment appended, in order (the model's text is never
 * re-tokenized) — with a mask (1 = model token) and the spans, calls and finish reason for
 * samples.jsonl. The engines drive it:
 *
 *   local  (./local.ts):  the sampler pauses a sequence when `endsTurn` says a call ended; the runner's
 *                         `endTurn` runs the environment (async: other sequences keep decoding); its
 *                         observation ids are fed into the sequence's cache and decoding resumes.
 *   remote (./remote.ts): each turn is one completion request whose prompt is the token ids so far.
 *
 * Limits (`EpisodeLimits`) end the episode with a named finish reason: `max_turns`, `max_tokens`,
 * `tool_timeout` (the episode's tool seconds are spent; a hanging tool is abandoned), and
 * `max_observation_bytes`. An environment that throws ends it with `env_error`. None of these fails
 * the run: the reason is recorded per sample.
 *
 * No Node APIs here (the trainer imports it, and the /play page bundles the trainer): building a setup
 * from a config (tool modules, the code sandbox) is ./episode-setup.ts.
 */
import type { EpisodeFinish, EpisodeLimits, EpisodeRecord, EpisodeSpan, Environment, Episode, ModelTurn, StepResult, ToolCallRecord } from "../env/types.js";
import type { Problem } from "../tasks/types.js";

export interface EpisodeSpec {
  env: Environment;
  problem: Problem<unknown>;
  limits: EpisodeLimits;
  /** Observation text → token ids (no BOS, no post-processor; special tokens in the text are parsed). */
  encode: (text: string) => number[];
  /** Token ids → text, special tokens kept. */
  decode: (ids: ArrayLike<number>) => string;
  /** Ids of the environment's `turnEnd` strings that are one token each (`turnEndIds`). */
  turnEndIds?: readonly number[];
  /** Stop strings of the response (the task's), matched within the current model turn only. */
  stopStrings?: readonly string[];
}

/** What a run sets up once for all its episodes (the problem and the decoder come per request). */
export type EpisodeSetup = Omit<EpisodeSpec, "problem" | "decode" | "stopStrings">;

/** The `turnEnd` strings that the tokenizer encodes as exactly one token → those ids. */
export function turnEndIds(turnEnd: readonly string[], encode: (text: string) => number[]): number[] {
  const ids: number[] = [];
  for (const s of turnEnd) {
    const e = encode(s);
    if (e.length === 1) ids.push(e[0]!);
  }
  return ids;
}

/** Longest recorded result text per call in samples.jsonl (the model saw all of it, up to the byte limit). */
const RECORD_CHARS = 4096;

export class EpisodeRunner {
  /** Response tokens so far (model and environment). */
  readonly tokens: number[] = [];
  /** Per token: 1 = the model's, 0 = the environment's. */
  readonly mask: number[] = [];
  private readonly spans: EpisodeSpan[] = [];
  private readonly calls: ToolCallRecord[] = [];
  private episode: Episode | null = null;
  private starting: Promise<Episode> | null = null;
  private turnStart = 0;
  private turns = 0;
  private toolMs = 0;
  private obsBytes = 0;
  private finish: EpisodeFinish | null = null;
  private detail: string | undefined;
  private reward: number | undefined;
  private readonly endIds: Set<number>;
  private readonly window: number;

  /** Tokens after the prompt at most: the limits' maxTokens and the request's maxNewTokens, the smaller. */
  private readonly maxTokens: number;

  constructor(
    readonly spec: EpisodeSpec,
    maxNewTokens: number,
    private readonly signal?: AbortSignal,
  ) {
    this.maxTokens = Math.min(spec.limits.maxTokens, maxNewTokens);
    this.endIds = new Set(spec.turnEndIds ?? []);
    const longest = Math.max(0, ...spec.env.turnEnd.map((s) => s.length), ...(spec.stopStrings ?? []).map((s) => s.length));
    this.window = longest + 8; // tokens: each decodes to ≥ 1 character or joins one
  }

  /** Whether the model's tokens of the current turn (the tail of `all`, the response so far) end with a call. */
  endsTurn(all: readonly number[]): boolean {
    const last = all[all.length - 1];
    if (last !== undefined && this.endIds.has(last)) return true;
    return this.tailHas(all, this.spec.env.turnEnd);
  }

  /** Whether the current turn contains one of the response's stop strings. */
  stops(all: readonly number[]): boolean {
    const stops = this.spec.stopStrings ?? [];
    return stops.length > 0 && this.tailHas(all, stops);
  }

  private tailHas(all: readonly number[], needles: readonly string[]): boolean {
    if (needles.length === 0) return false;
    const from = Math.max(this.turnStart, all.length - this.window);
    if (from >= all.length) return false;
    const text = this.spec.decode(all.slice(from));
    return needles.some((s) => text.includes(s));
  }

  /** The episode's current token ids as the engine knows them: the model's new tokens of this turn are `all`'s tail. */
  private takeModelTokens(all: ArrayLike<number>): number[] {
    const turn: number[] = [];
    for (let i = this.tokens.length; i < all.length; i++) {
      this.tokens.push(all[i]!);
      this.mask.push(1);
      turn.push(all[i]!);
    }
    return turn;
  }

  /**
   * A model turn ended. `all` = the response's tokens so far (the previous ones as recorded here, then
   * the model's new ones). Returns the observation ids to append, or null when the episode is over
   * (`record()` then has the finish reason).
   */
  async endTurn(all: ArrayLike<number>, ended: ModelTurn["ended"]): Promise<number[] | null> {
    const turnIds = this.takeModelTokens(all);
    const text = this.spec.decode(turnIds);
    this.spans.push({ kind: "model", start: this.turnStart, end: this.tokens.length, text });
    const index = this.turns++;
    if (ended === "length") return this.end("max_tokens");
    if (ended === "call" && this.turns >= this.spec.limits.maxTurns) return this.end("max_turns");
    const leftMs = this.spec.limits.toolSeconds * 1000 - this.toolMs;
    if (ended === "call" && leftMs <= 0) return this.end("tool_timeout");
    const leftBytes = this.spec.limits.observationBytes - this.obsBytes;
    let result: StepResult;
    const t0 = performance.now();
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    this.signal?.addEventListener("abort", onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(leftMs, 1));
      });
      // starting the episode counts as tool time too (an environment that hangs in start is cut the same way)
      const answer = this.started().then((ep) => ep.step({ text, tokenIds: turnIds, ended, index }, { signal: ac.signal, timeoutMs: Math.max(leftMs, 1), maxOutputBytes: leftBytes }));
      answer.catch(() => undefined); // a late failure after the timeout is not an unhandled rejection
      const r = await Promise.race([answer, timeout]);
      if (r === "timeout") {
        ac.abort();
        this.toolMs += performance.now() - t0;
        return this.end("tool_timeout", `the environment did not answer within the episode's ${this.spec.limits.toolSeconds} tool seconds`);
      }
      result = r;
    } catch (e) {
      this.toolMs += performance.now() - t0;
      return this.end("env_error", e instanceof Error ? e.message : String(e));
    } finally {
      clearTimeout(timer);
      this.signal?.removeEventListener("abort", onAbort);
    }
    this.toolMs += performance.now() - t0;
    if (result.type === "end") {
      if (result.reward !== undefined) this.reward = result.reward;
      return this.end(ended === "stop" && result.reason === undefined ? "stop" : "env_end", result.reason);
    }
    // The response ended (end of sequence): an observation cannot be answered any more.
    if (ended !== "call") return this.end("stop");
    for (const c of result.calls ?? []) this.calls.push(c.output.length > RECORD_CHARS ? { ...c, output: `${c.output.slice(0, RECORD_CHARS)}… [${c.output.length} chars]` } : c);
    const bytes = new TextEncoder().encode(result.text).length;
    if (bytes > leftBytes) return this.end("max_observation_bytes", `an observation of ${bytes} bytes; the episode had ${leftBytes} of ${this.spec.limits.observationBytes} left`);
    this.obsBytes += bytes;
    const ids = this.spec.encode(result.text);
    // At least one model token must fit after the observation.
    if (this.tokens.length + ids.length >= this.maxTokens) return this.end("max_tokens", `the observation (${ids.length} tokens) does not fit the episode's ${this.maxTokens} tokens`);
    const start = this.tokens.length;
    for (const id of ids) {
      this.tokens.push(id);
      this.mask.push(0);
    }
    this.spans.push({ kind: "env", start, end: this.tokens.length, text: result.text });
    this.turnStart = this.tokens.length;
    return ids;
  }

  private started(): Promise<Episode> {
    if (this.episode) return Promise.resolve(this.episode);
    this.starting ??= Promise.resolve(this.spec.env.start(this.spec.problem)).then((ep) => (this.episode = ep));
    return this.starting;
  }

  private end(finish: EpisodeFinish, detail?: string): null {
    this.finish = finish;
    this.detail = detail;
    return null;
  }

  /** Closes the environment's episode (once); errors are recorded, not thrown. */
  async close(): Promise<void> {
    const ep = this.episode;
    this.episode = null;
    try {
      await ep?.close?.();
    } catch (e) {
      this.detail ??= `close: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  get finished(): boolean {
    return this.finish !== null;
  }

  record(): EpisodeRecord {
    return {
      spans: this.spans.slice(),
      calls: this.calls.slice(),
      turns: this.turns,
      finish: this.finish ?? "stop",
      ...(this.detail !== undefined ? { detail: this.detail } : {}),
      ...(this.reward !== undefined ? { reward: this.reward } : {}),
      toolSeconds: this.toolMs / 1000,
    };
  }

  lossMask(): Uint8Array {
    return Uint8Array.from(this.mask);
  }
}

/**
 * The tools/ metrics of some episodes (none: {}): per episode, the mean of calls, model turns, failed
 * calls and tool seconds; the share of response tokens the environment appended (masked out of the
 * loss); and the share of episodes each limit or failure ended (`tools/finish/<reason>`).
 */
export function toolMetrics(eps: readonly EpisodeRecord[]): Record<string, number> {
  if (eps.length === 0) return {};
  const mean = (f: (e: EpisodeRecord) => number): number => eps.reduce((a, e) => a + f(e), 0) / eps.length;
  let all = 0;
  let env = 0;
  for (const e of eps) {
    all += e.spans.length > 0 ? e.spans[e.spans.length - 1]!.end : 0;
    for (const s of e.spans) if (s.kind === "env") env += s.end - s.start;
  }
  const m: Record<string, number> = {
    "tools/calls_per_episode": mean((e) => e.calls.length),
    "tools/turns_per_episode": mean((e) => e.turns),
    "tools/errors": mean((e) => e.calls.filter((c) => c.error !== undefined).length),
    "tools/seconds": mean((e) => e.toolSeconds),
    "tools/masked_share": all > 0 ? env / all : 0,
  };
  for (const e of eps) if (e.finish !== "stop") m[`tools/finish/${e.finish}`] = (m[`tools/finish/${e.finish}`] ?? 0) + 1 / eps.length;
  return m;
}
