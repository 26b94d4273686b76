/**
 * The R1 template's format reward: the response (after an optional prefix the prompt already
 * contains, e.g. "<think>") must be `<think>…</think>` then `<answer>…</answer>` and nothing else
 * but whitespace. Tags configurable. Linear scan, no backtracking regex.
 */
import type { RewardResult } from "./types.js";

export interface FormatOptions {
  thinkTag?: string; // "think"
  answerTag?: string; // "answer"
  /** Text of the prompt that the response continues (the R1-Zero template ends with "<think>"). */
  prefix?: string;
  /** Score for the right shape (1) and for anything else (0). */
  reward?: number;
  penalty?: number;
}

/** Whether `text` is exactly  ws <think> … </think> ws <answer> … </answer> ws  with no nested/extra tags. */
export function formatOk(text: string, thinkTag = "think", answerTag = "answer"): boolean {
  const [to, tc, ao, ac] = [`<${thinkTag}>`, `</${thinkTag}>`, `<${answerTag}>`, `</${answerTag}>`];
  const t = text.trim();
  if (!t.startsWith(to) || !t.endsWith(ac)) return false;
  const b = t.indexOf(tc);
  if (b < 0) return false;
  const c = t.indexOf(ao, b + tc.length);
  if (c < 0 || t.slice(b + tc.length, c).trim() !== "") return false;
  const inner = t.slice(c + ao.length, t.length - ac.length);
  const thought = t.slice(to.length, b);
  // no stray tags inside
  return ![to, tc, ao, ac].some((x) => inner.includes(x) || thought.includes(x));
}

export function scoreFormat(response: string, _ref: unknown = null, o: FormatOptions = {}): RewardResult {
  const ok = formatOk((o.prefix ?? "") + response, o.thinkTag ?? "think", o.answerTag ?? "answer");
  const score = ok ? (o.reward ?? 1) : (o.penalty ?? 0);
  return { score, parts: { format: score }, reason: ok ? "well-formed" : "malformed" };
}
