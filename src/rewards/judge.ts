/**
 * The `judge` reward part: an OpenAI-compatible endpoint grades a response against the reference answer
 * (a generative verifier, as in General-Reasoner: verifier-free RL for free-form answers).
 *
 *   judgeReward({ endpoint, model, template?, … }) → Reward
 *
 * One call per response: the template is rendered with the question, the reference answer and the
 * response's answer part, sent as one user message to `POST {endpoint}/chat/completions`, and the judge's
 * reply is read for its verdict.
 *
 * What is judged (the "answer part"): the response's answer region (src/rewards/extract.ts's
 * `answerRegion`: the text after the last `</think>`, up to a `<think>` opened after it; the whole
 * response when it has no think tags; nothing when, with the template's prefilled "<think>", the
 * thinking never closes), and in it the last `<answer>…</answer>` span when there is one; trimmed. Over `maxAnswerChars` (16 384) only
 * its last characters are kept (a final answer sits at the end) and the prompt says it was cut. An empty
 * answer part scores 0 without a call.
 *
 * The verdict rule (`parseVerdict`): the LAST "Final Decision:" in the reply (case-insensitive; spaces,
 * markdown `*`/`_`, quotes and backticks may surround the word) followed by Yes / No / True / False wins;
 * a word followed by "/" or "|" is an echo of the instructions ("Yes/No") and does not count. Yes or
 * True → reward 1 (`correct`), No or False → 0. The reply's `content` is read; when it has no verdict
 * the `reasoning_content` (servers that split a thinking judge's reasoning off) is read the same way.
 * A reply with no verdict is unscorable (reward null) with the reply's first 200 characters in the reason.
 *
 * Failures are never a silent 0: HTTP 429, 408, 5xx, network errors and timeouts are retried (`retries`
 * times, exponential backoff from `backoffMs` with ±25 % jitter, capped at 30 s; a Retry-After header is
 * honoured up to 30 s); any other non-2xx status, a body that is not a chat completion or is over
 * `maxReplyBytes`, is not retried. After that the result is `reward: null` with the status or error in
 * the reason. At most `concurrency` requests are in flight at once across all calls of one judge (a
 * request waiting for its backoff holds no slot). Every call is bounded: (1 + retries) × timeoutMs plus
 * the backoffs, plus its wait for a slot.
 *
 * A rewards-layer module: imports only src/errors.ts and rewards/. Uses Node 20's global fetch.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../errors.js";
import { backoffMs as backoffAfter, errorMessage, isRetryableStatus, retryAfterMs, Semaphore } from "../util/http.js";
import { answerRegion, lastTagSpan } from "./extract.js";
import type { ProblemLike, Reward, ScoreContext, Scored } from "./types.js";

/**
 * The default judge prompt. Placeholders: {question} (the problem's question), {reference} (its gold
 * answer as text), {response} (the answer part of the response being graded). It asks the judge to
 * compare final answers only (not to solve the question, not to grade the reasoning), to accept
 * equivalent forms, and to end with "Final Decision: Yes" or "Final Decision: No" — the line
 * `parseVerdict` reads (General-Reasoner's verifier uses the same closing line).
 */
export const JUDGE_TEMPLATE = `You are checking a student's answer against the reference answer of a question.

### Question
{question}

### Reference answer
{reference}

### Student's answer
{response}

Decide whether the student's final answer is equivalent to the reference answer. Equivalent means the same value or the same meaning, possibly in another form (for example 1/2 and 0.5, or x = 3 and 3, or different wording of the same fact). Do not solve the question yourself and do not grade the reasoning: compare the final answers only. The reference answer is correct. An answer that is incomplete, only partly right, or gives several different answers is not equivalent.

Explain briefly, then end your reply with exactly one line: "Final Decision: Yes" if the student's answer is equivalent to the reference answer, or "Final Decision: No" if it is not.`;

/** The placeholders a template may use. */
export const JUDGE_PLACEHOLDERS = ["question", "reference", "response"] as const;
type Placeholder = (typeof JUDGE_PLACEHOLDERS)[number];

export interface JudgeOptions {
  /** Base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1 (a URL without a /vN path gets /v1). */
  endpoint: string;
  /** The judge model's name as the server knows it. */
  model: string;
  /**
   * Prompt template (default JUDGE_TEMPLATE) with {question}, {reference}, {response}; {response} is
   * required. `{{` and `}}` are literal braces; any other `{name}` is an error at construction; a brace
   * not around an identifier (`\frac{1}{2}`) is literal.
   */
  template?: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Retries after the first try, for 429 / 408 / 5xx / network errors / timeouts. Default 3. */
  retries?: number;
  /** Per-request timeout (ms), reading the body included. Default 60 000. */
  timeoutMs?: number;
  /** The judge's max_tokens. Default 1024. */
  maxTokens?: number;
  /** Sampling temperature. Default 0 (the same reply for the same prompt). */
  temperature?: number;
  /** Requests in flight at once, shared across all calls of this judge. Default 8. */
  concurrency?: number;
  /** First retry's backoff (ms); doubles each retry, ±25 % jitter, capped at 30 s. Default 500 (tests: a few ms). */
  backoffMs?: number;
  /** Largest reply body read (bytes); a larger one is unscorable. Default 1 MiB. */
  maxReplyBytes?: number;
  /** Largest answer part sent (characters); a longer one keeps its end, and the prompt says so. Default 16 384. */
  maxAnswerChars?: number;
  /** The fetch to use (tests). Default: the global fetch. */
  fetch?: typeof fetch;
}

type Segment = string | { name: Placeholder };

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;

/**
 * Compiles a template into literal text and placeholders (one linear scan; the values put in are never
 * scanned again, so a response containing "{reference}" stays as it is). Throws naming an unknown one.
 */
export function compileJudgeTemplate(template: string, where = "judge template"): Segment[] {
  const out: Segment[] = [];
  let lit = "";
  const seen = new Set<Placeholder>();
  for (let i = 0; i < template.length; i++) {
    const ch = template[i]!;
    if ((ch === "{" || ch === "}") && template[i + 1] === ch) {
      lit += ch;
      i++;
      continue;
    }
    if (ch === "{" && IDENT_START.test(template[i + 1] ?? "")) {
      let j = i + 1;
      while (j < template.length && j - i <= 64 && IDENT_PART.test(template[j]!)) j++;
      if (template[j] === "}") {
        const name = template.slice(i + 1, j);
        if (!(JUDGE_PLACEHOLDERS as readonly string[]).includes(name)) {
          throw new UserError(`${where}: unknown placeholder {${name}}`, `placeholders: ${JUDGE_PLACEHOLDERS.map((p) => `{${p}}`).join(", ")}; write {{ and }} for literal braces`);
        }
        if (lit !== "") out.push(lit);
        lit = "";
        out.push({ name: name as Placeholder });
        seen.add(name as Placeholder);
        i = j;
        continue;
      }
    }
    lit += ch;
  }
  if (lit !== "") out.push(lit);
  if (!seen.has("response")) throw new UserError(`${where}: the template has no {response} placeholder`, "the judge must see the response it grades");
  return out;
}

function render(segments: readonly Segment[], values: Record<Placeholder, string>): string {
  let s = "";
  for (const seg of segments) s += typeof seg === "string" ? seg : values[seg.name];
  return s;
}

/**
 * The answer part of a response: in its answer region (after the thinking; `prefix` is the template's
 * "<think>"), the last <answer> span, else the whole region (trimmed).
 */
export function judgedAnswer(response: string, prefix = ""): string {
  const region = answerRegion(response, prefix);
  const span = lastTagSpan(region, "answer");
  return (span ?? region).trim();
}

/** Keeps the last `max` characters (not splitting a surrogate pair). */
function tail(s: string, max: number): string {
  if (s.length <= max) return s;
  let start = s.length - max;
  const c = s.charCodeAt(start);
  if (c >= 0xdc00 && c <= 0xdfff) start++; // a low surrogate: its pair was cut
  return s.slice(start);
}

/** The first `max` characters, with "…" when cut (for reasons and `extracted`). */
function head(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--; // a high surrogate: keep the pair together
  return s.slice(0, end) + "…";
}

const DECISION = "final decision";
const VERDICTS: Record<string, boolean> = { yes: true, true: true, no: false, false: false };

/**
 * The verdict in a judge's reply: true (Yes / True), false (No / False), or null when there is none.
 * The last "Final Decision:" followed by a verdict word wins; "Yes/No" (an echo of the instructions)
 * does not count. Linear in the reply's length: indexOf scans and a bounded look at each hit.
 */
export function parseVerdict(reply: string): boolean | null {
  const low = reply.toLowerCase();
  let found: boolean | null = null;
  let from = 0;
  for (;;) {
    const at = low.indexOf(DECISION, from);
    if (at < 0) return found;
    from = at + DECISION.length;
    let i = from;
    const limit = Math.min(low.length, i + 16);
    // "Final Decision:", "**Final Decision:**\nYes", "Final Decision: `Yes`", "final decision : yes"
    while (i < limit && " \t\r\n*_:\"'`".includes(low[i]!)) i++;
    let j = i;
    while (j < low.length && j - i < 6 && low[j]! >= "a" && low[j]! <= "z") j++;
    const word = low.slice(i, j);
    if (!(word in VERDICTS)) continue;
    const next = low[j] ?? "";
    if ((next >= "a" && next <= "z") || next === "/" || next === "|") continue;
    found = VERDICTS[word]!;
  }
}

/** Normalises the endpoint to the chat-completions URL; a bad URL is a UserError. */
export function judgeUrl(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UserError(`judge endpoint: not a URL: ${endpoint}`, "e.g. http://127.0.0.1:8000/v1");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UserError(`judge endpoint ${endpoint}: only http and https are supported`);
  let s = url.toString().replace(/\/+$/, "");
  if (s.endsWith("/chat/completions")) return s;
  if (!/\/v\d+[a-z]*$/.test(s)) s += "/v1";
  return s + "/chat/completions";
}

const MAX_BACKOFF_MS = 30_000;
const ERROR_BODY_BYTES = 64 * 1024;

type Body = { text: string } | { over: true };

/** Reads a body up to `cap` bytes; a longer one is cancelled unread. */
async function readCapped(res: Response, cap: number): Promise<Body> {
  const len = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(len) && len > cap) {
    await res.body?.cancel().catch(() => undefined);
    return { over: true };
  }
  if (!res.body) return { text: "" };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > cap) {
      await reader.cancel().catch(() => undefined);
      return { over: true };
    }
    chunks.push(value);
  }
  return { text: Buffer.concat(chunks).toString("utf8") };
}


function positiveInt(v: number, name: string, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new UserError(`judge: ${name} must be an integer ≥ ${min}, got ${v}`);
  return v;
}


type Attempt = { ok: true; content: string; reasoning: string; finish: string } | { ok: false; retry: boolean; problem: string; retryAfterMs?: number };

/** The judge reward (see the file's comment). Options are checked here: a bad one throws a UserError. */
export function judgeReward(o: JudgeOptions): Reward<unknown> {
  const url = judgeUrl(o.endpoint);
  if (typeof o.model !== "string" || o.model.trim() === "") throw new UserError("judge: a model name is needed", "set judge-model");
  const segments = compileJudgeTemplate(o.template ?? JUDGE_TEMPLATE);
  const retries = positiveInt(o.retries ?? 3, "retries", 0);
  const timeoutMs = positiveInt(o.timeoutMs ?? 60_000, "timeoutMs");
  const maxTokens = positiveInt(o.maxTokens ?? 1024, "maxTokens");
  const concurrency = positiveInt(o.concurrency ?? 8, "concurrency");
  const maxReplyBytes = positiveInt(o.maxReplyBytes ?? 1024 * 1024, "maxReplyBytes");
  const maxAnswerChars = positiveInt(o.maxAnswerChars ?? 16_384, "maxAnswerChars");
  const firstBackoffMs = o.backoffMs ?? 500;
  if (!Number.isFinite(firstBackoffMs) || firstBackoffMs < 0) throw new UserError(`judge: backoffMs must be a number ≥ 0, got ${firstBackoffMs}`);
  const temperature = o.temperature ?? 0;
  if (!Number.isFinite(temperature) || temperature < 0) throw new UserError(`judge: temperature must be a number ≥ 0, got ${temperature}`);
  const doFetch = o.fetch ?? fetch;
  const slots = new Semaphore(concurrency);
  const headers: Record<string, string> = { "content-type": "application/json", ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) };

  const attempt = async (body: string): Promise<Attempt> => {
    await slots.take();
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      const res = await doFetch(url, { method: "POST", headers, body, signal: timeout });
      if (!res.ok) {
        const got = await readCapped(res, ERROR_BODY_BYTES);
        const message = "text" in got ? errorMessage(got.text, (t) => head(t, 300)) : "(error body too large)";
        const retry = isRetryableStatus(res.status);
        const after = retry ? retryAfterMs(res.headers, MAX_BACKOFF_MS) : null;
        return { ok: false, retry, problem: `HTTP ${res.status}: ${message}`, ...(after !== null ? { retryAfterMs: after } : {}) };
      }
      const got = await readCapped(res, maxReplyBytes);
      if (!("text" in got)) return { ok: false, retry: false, problem: `the reply is over ${maxReplyBytes} bytes` };
      let j: { choices?: { message?: { content?: unknown; reasoning_content?: unknown }; finish_reason?: unknown }[] };
      try {
        j = JSON.parse(got.text) as typeof j;
      } catch {
        return { ok: false, retry: false, problem: `the reply is not JSON: ${JSON.stringify(head(got.text, 200))}` };
      }
      const choice = Array.isArray(j?.choices) ? j.choices[0] : undefined;
      const msg = choice?.message;
      if (!msg || typeof msg !== "object") return { ok: false, retry: false, problem: `the reply is not a chat completion: ${JSON.stringify(head(got.text, 200))}` };
      const content = typeof msg.content === "string" ? msg.content : "";
      const reasoning = typeof msg.reasoning_content === "string" ? msg.reasoning_content : "";
      return { ok: true, content, reasoning, finish: typeof choice?.finish_reason === "string" ? choice.finish_reason : "" };
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const problem = timeout.aborted ? `no reply within ${timeoutMs} ms` : `${err.cause?.code ?? err.name}: ${err.cause?.message ?? err.message}`;
      return { ok: false, retry: true, problem };
    } finally {
      slots.give();
    }
  };

  return async (response: string, problem: ProblemLike<unknown>, ctx?: ScoreContext): Promise<Scored> => {
    const full = judgedAnswer(response, ctx?.responsePrefix ?? "");
    const extracted = head(full, 2048);
    const unscorable = (reason: string): Scored => ({ reward: null, parts: {}, correct: false, extracted, reason: `judge: ${reason}` });
    if (full === "") return { reward: 0, parts: { judge: 0 }, correct: false, extracted: null, reason: "judge: empty answer (not sent)" };
    let shown = tail(full, maxAnswerChars);
    if (shown.length < full.length) shown = `[The answer was cut: only its last ${shown.length} of ${full.length} characters are shown.]\n${shown}`;
    const prompt = render(segments, { question: problem.question, reference: problem.answer, response: shown });
    const body = JSON.stringify({ model: o.model, messages: [{ role: "user", content: prompt }], temperature, max_tokens: maxTokens });
    let last: Attempt | null = null;
    for (let i = 0; i <= retries; i++) {
      last = await attempt(body);
      if (last.ok || !last.retry || i === retries) break;
      await sleep(last.retryAfterMs ?? backoffAfter(firstBackoffMs, i));
    }
    if (!last) return unscorable("no attempt was made");
    if (!last.ok) return unscorable(last.retry ? `${last.problem} (after ${retries + 1} tries)` : last.problem);
    let verdict = parseVerdict(last.content);
    if (verdict === null && last.reasoning !== "") verdict = parseVerdict(last.reasoning);
    if (verdict === null) {
      const cut = last.finish === "length" ? " (the reply hit max_tokens)" : "";
      return unscorable(`no verdict in the reply${cut}: ${JSON.stringify(head(last.content || last.reasoning, 200))}`);
    }
    return verdict
      ? { reward: 1, parts: { judge: 1 }, correct: true, extracted, reason: "judge: yes" }
      : { reward: 0, parts: { judge: 0 }, correct: false, extracted, reason: "judge: no" };
  };
}
