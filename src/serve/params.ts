/**
 * OpenAI request bodies → checked sampling parameters, and the OpenAI error shape.
 *
 * Every problem with a request is an ApiError (HTTP status, OpenAI `type` and `code`, the offending
 * `param`), answered as {"error": {"message", "type", "code", "param"}} by the server. Fields we do not
 * implement are rejected when they would change the result (echo, suffix, best_of ≠ n, non-zero
 * penalties, logit_bias); fields that do not (user, metadata, …) are ignored, as most servers do.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = "invalid_request_error",
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }

  body(): { error: { message: string; type: string; code: string | null; param: string | null } } {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
  }
}

export const badParam = (param: string, message: string): ApiError => new ApiError(400, message, "invalid_request_error", "invalid_parameter", param);

/** Most samples per prompt (n). */
export const MAX_N = 128;
/** Most stop strings per request. */
export const MAX_STOP = 16;
/** Most prompts in one /v1/completions request. */
export const MAX_PROMPTS = 256;

export interface SamplingParams {
  n: number;
  temperature: number;
  topP: number;
  topK: number;
  /** null = the rest of the context. */
  maxTokens: number | null;
  stop: string[];
  stopTokenIds: number[];
  seed: number | undefined;
  stream: boolean;
  includeUsage: boolean;
  /** Per-token log-probs wanted (completions: logprobs ≥ 0; chat: logprobs true). */
  logprobs: boolean;
  returnTokenIds: boolean;
  includeStopStr: boolean;
  /** vLLM's skip_special_tokens: leave special tokens out of the text (default true). */
  skipSpecial: boolean;
}

type Body = Record<string, unknown>;

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const present = (b: Body, k: string): boolean => b[k] !== undefined && b[k] !== null;

function num(b: Body, k: string, def: number, ok: (x: number) => boolean, what: string): number {
  if (!present(b, k)) return def;
  const v = b[k];
  if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) throw badParam(k, `'${k}' must be ${what}, got ${JSON.stringify(v)}`);
  return v;
}

function bool(b: Body, k: string, def: boolean): boolean {
  if (!present(b, k)) return def;
  if (typeof b[k] !== "boolean") throw badParam(k, `'${k}' must be true or false, got ${JSON.stringify(b[k])}`);
  return b[k];
}

/** The parameters common to /v1/completions and /v1/chat/completions. */
export function parseSampling(b: Body, kind: "completions" | "chat"): SamplingParams {
  const n = num(b, "n", 1, (x) => isInt(x) && x >= 1 && x <= MAX_N, `an integer in 1..${MAX_N}`);
  if (present(b, "best_of") && b.best_of !== n) throw badParam("best_of", "'best_of' other than n is not supported");
  if (present(b, "echo") && b.echo !== false) throw badParam("echo", "'echo' is not supported");
  if (present(b, "suffix")) throw badParam("suffix", "'suffix' is not supported");
  for (const k of ["presence_penalty", "frequency_penalty"]) num(b, k, 0, (x) => x === 0, "0 (penalties are not supported)");
  if (present(b, "repetition_penalty")) num(b, "repetition_penalty", 1, (x) => x === 1, "1 (penalties are not supported)");
  if (present(b, "logit_bias") && (typeof b.logit_bias !== "object" || Object.keys(b.logit_bias as object).length > 0)) throw badParam("logit_bias", "'logit_bias' is not supported");
  const temperature = num(b, "temperature", 1, (x) => x >= 0 && x <= 100, "a number in [0, 100]");
  const topP = num(b, "top_p", 1, (x) => x > 0 && x <= 1, "a number in (0, 1]");
  const topKRaw = num(b, "top_k", 0, (x) => isInt(x) && x >= -1, "an integer ≥ -1 (-1 or 0 = off)");
  const maxKey = kind === "chat" && present(b, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  const maxTokens = present(b, maxKey) ? num(b, maxKey, 0, (x) => isInt(x) && x >= 1, "a positive integer") : null;
  let stop: string[] = [];
  if (present(b, "stop")) {
    const s = b.stop;
    stop = typeof s === "string" ? [s] : Array.isArray(s) ? (s as unknown[]).map((x) => x as string) : [];
    if (!(typeof s === "string" || Array.isArray(s)) || stop.some((x) => typeof x !== "string" || x.length === 0) || stop.length > MAX_STOP) {
      throw badParam("stop", `'stop' must be a non-empty string or a list of at most ${MAX_STOP} non-empty strings`);
    }
  }
  let stopTokenIds: number[] = [];
  if (present(b, "stop_token_ids")) {
    const s = b.stop_token_ids;
    if (!Array.isArray(s) || !s.every((x) => isInt(x) && x >= 0)) throw badParam("stop_token_ids", "'stop_token_ids' must be a list of token ids");
    stopTokenIds = s as number[];
  }
  const seed = present(b, "seed") ? num(b, "seed", 0, (x) => Number.isSafeInteger(x), "an integer") : undefined;
  const stream = bool(b, "stream", false);
  let includeUsage = false;
  if (present(b, "stream_options")) {
    const so = b.stream_options;
    if (typeof so !== "object" || Array.isArray(so)) throw badParam("stream_options", "'stream_options' must be an object");
    includeUsage = bool(so as Body, "include_usage", false);
  }
  let logprobs: boolean;
  if (kind === "completions") {
    logprobs = present(b, "logprobs");
    if (logprobs) num(b, "logprobs", 0, (x) => isInt(x) && x >= 0 && x <= 20, "an integer in 0..20");
  } else {
    logprobs = bool(b, "logprobs", false);
    num(b, "top_logprobs", 0, (x) => isInt(x) && x === 0, "0 (aha serve gives the sampled token's log-prob only)");
  }
  return {
    n, temperature, topP, topK: topKRaw < 0 ? 0 : topKRaw, maxTokens, stop, stopTokenIds, seed, stream, includeUsage, logprobs,
    returnTokenIds: bool(b, "return_token_ids", false),
    includeStopStr: bool(b, "include_stop_str_in_output", false),
    skipSpecial: bool(b, "skip_special_tokens", true),
  };
}

/** /v1/completions `prompt`: a string, a list of strings, a list of token ids, or a list of lists of ids. */
export type PromptInput = { text: string } | { ids: number[] };

export function parsePrompts(b: Body): PromptInput[] {
  const p = b.prompt;
  const bad = (): ApiError => badParam("prompt", "'prompt' must be a string, a list of strings, a list of token ids or a list of lists of token ids");
  if (typeof p === "string") return [{ text: p }];
  if (!Array.isArray(p) || p.length === 0) throw bad();
  if (p.every(isInt)) return [{ ids: p as number[] }];
  if (p.length > MAX_PROMPTS) throw badParam("prompt", `at most ${MAX_PROMPTS} prompts per request`);
  return p.map((x: unknown) => {
    if (typeof x === "string") return { text: x };
    if (Array.isArray(x) && x.length > 0 && x.every(isInt)) return { ids: x as number[] };
    throw bad();
  });
}

export interface ChatMessageIn {
  role: string;
  content: string;
}

/** /v1/chat/completions `messages`: roles system/user/assistant/tool/developer; content a string or text parts. */
export function parseMessages(b: Body): ChatMessageIn[] {
  const m = b.messages;
  if (!Array.isArray(m) || m.length === 0) throw badParam("messages", "'messages' must be a non-empty list of {role, content}");
  return m.map((x: unknown, i) => {
    const o = x as Body;
    if (typeof o !== "object" || o === null || typeof o.role !== "string" || !["system", "user", "assistant", "tool", "developer"].includes(o.role)) {
      throw badParam(`messages[${i}].role`, `messages[${i}]: role must be one of system, user, assistant, tool, developer`);
    }
    let content: string;
    if (typeof o.content === "string") content = o.content;
    else if (Array.isArray(o.content) && o.content.every((c: unknown) => typeof c === "object" && c !== null && (c as Body).type === "text" && typeof (c as Body).text === "string")) {
      content = (o.content as { text: string }[]).map((c) => c.text).join("");
    } else throw badParam(`messages[${i}].content`, `messages[${i}]: content must be a string or a list of {"type":"text","text":...} parts`);
    return { role: o.role, content };
  });
}
