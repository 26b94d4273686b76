/**
 * CodeI/O rewards (Li et al. 2025, "CodeI/O: Condensing Reasoning Patterns via Code Input-Output
 * Prediction"): given a program, predict its output for an input, or an input that yields an output.
 *
 * Programs read their input from stdin and print their output. A record is `{code, input, output}`
 * where input/output are the stdin/stdout text (or any JSON value, compared structurally).
 *   - mode "output": the predicted output is compared with the record's after parsing both as
 *     JSON/Python literals (src/rewards/code/literal.ts) where possible, else as text (trailing
 *     whitespace per line ignored). Pure; no program is run.
 *   - mode "input": the reference code is run in the sandbox on the predicted input and its stdout is
 *     compared with the record's output the same way.
 * The answer is the last <answer>…</answer> in the response, else the last fenced block — both looked
 * for after the thinking only (src/rewards/extract.ts's answerRegion; `prefix` is the template's "<think>").
 */
import { answerRegion } from "../extract.js";
import type { RewardResult } from "../types.js";
import { fencedBlocks, MAX_RESPONSE_CHARS, normalizeOutput } from "./extract.js";
import { fromJson, literalEqual, parseLiteral, type LiteralCompareOptions } from "./literal.js";
import { head, printable } from "./reward.js";
import { type Language, SandboxPool, sharedPool, type SandboxOptions } from "./sandbox.js";

export type CodeioMode = "output" | "input";

export interface CodeioRecord {
  code: string;
  input: unknown; // stdin text, or a JSON value (given to the program as its JSON text)
  output: unknown; // stdout text, or a JSON value
  language?: Language; // default python
}

export interface CodeioReference extends CodeioRecord {
  mode: CodeioMode;
}

export interface CodeioOptions extends SandboxOptions, LiteralCompareOptions {
  pool?: SandboxPool;
  /** Text the prompt already wrote of the response (the r1-zero template's "<think>"); see answerRegion. */
  prefix?: string;
}

export interface CodeioResult extends RewardResult {
  score: number;
  parts: { correct: number };
  reason: string;
  /** The answer taken from the response (null if none). */
  answer: string | null;
}

/** Longest answer considered (characters). */
export const MAX_ANSWER_CHARS = 20_000;

/**
 * The last <answer>…</answer> (closed), else the last closed fenced block, trimmed; null if none. Only
 * after the thinking (`answerRegion(full, prefix)`): a draft inside <think> is not the answer.
 */
export function extractAnswer(full: string, prefix = ""): string | null {
  if (full.length > MAX_RESPONSE_CHARS) return null;
  const response = answerRegion(full, prefix);
  const close = response.lastIndexOf("</answer>");
  if (close >= 0) {
    const open = response.lastIndexOf("<answer>", close);
    if (open >= 0) {
      const a = response.slice(open + "<answer>".length, close).trim();
      // An answer may itself be fenced: take the block's body.
      const inner = fencedBlocks(a);
      const body = inner.length > 0 ? inner[inner.length - 1]!.code.trim() : a;
      return body.length <= MAX_ANSWER_CHARS ? body : null;
    }
  }
  const blocks = fencedBlocks(response);
  const last = blocks[blocks.length - 1];
  if (!last) return null;
  const body = last.code.trim();
  return body.length <= MAX_ANSWER_CHARS ? body : null;
}

/** The text form of a record field: strings as they are, other JSON values as JSON. */
export function asText(x: unknown): string {
  return typeof x === "string" ? x : JSON.stringify(x);
}

/**
 * Does `actual` (text) match `expected` (text or JSON value)? Structurally when both parse as
 * literals, else as text with trailing whitespace per line ignored.
 */
export function valuesMatch(actual: string, expected: unknown, opts: LiteralCompareOptions = {}): boolean {
  const a = parseLiteral(actual);
  if (typeof expected !== "string") {
    if (a !== null) return literalEqual(a, fromJson(expected), opts);
    return normalizeOutput(actual) === normalizeOutput(JSON.stringify(expected));
  }
  const e = parseLiteral(expected);
  if (a !== null && e !== null) return literalEqual(a, e, opts);
  return normalizeOutput(actual) === normalizeOutput(expected);
}

export async function codeioReward(response: string, reference: CodeioReference, options: CodeioOptions = {}): Promise<CodeioResult> {
  const answer = extractAnswer(response, options.prefix);
  if (answer === null) return { score: 0, parts: { correct: 0 }, reason: "no_answer: no <answer>…</answer> or fenced block", answer };
  if (reference.mode === "output") {
    const ok = valuesMatch(answer, reference.output, options);
    return { score: ok ? 1 : 0, parts: { correct: ok ? 1 : 0 }, reason: ok ? "correct" : "wrong_output", answer };
  }
  const pool = options.pool ?? sharedPool(options);
  const stdin = answer.endsWith("\n") ? answer : answer + "\n";
  const run = await pool.run({ language: reference.language ?? "python", source: reference.code, stdin });
  if (run.status !== "ok") return { score: 0, parts: { correct: 0 }, reason: `${run.status}: ${printable(run.detail)}`, answer };
  const ok = valuesMatch(run.stdout, reference.output, options);
  return {
    score: ok ? 1 : 0,
    parts: { correct: ok ? 1 : 0 },
    reason: ok ? "correct" : `wrong_input: the program printed "${printable(head(run.stdout, 80).replace(/\n/g, "\\n"))}"`,
    answer,
  };
}

/** The generic reward shape, with options bound. */
export function makeCodeioReward(options: CodeioOptions = {}): (response: string, reference: CodeioReference) => Promise<CodeioResult> {
  const pool = options.pool ?? sharedPool(options);
  return (response, reference) => codeioReward(response, reference, { ...options, pool });
}
