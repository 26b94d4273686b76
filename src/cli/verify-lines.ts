/**
 * One JSONL line in, the fields to add out: the math, countdown and kk kinds of `aha verify`
 * (the code and codeio kinds live in src/cli/verify-code.ts with the same shape and these helpers).
 * A bad line throws UserError naming `where` (file:line) and the field. Every kind takes an optional
 * "prefix" field: what the prompt already wrote of the response (the r1-zero template's "<think>"), so
 * that a response that never closes its thinking has no answer (src/rewards/extract.ts's answerRegion).
 */
import { UserError } from "../errors.js";
import { scoreCountdown } from "../rewards/countdown.js";
import { scoreKK } from "../rewards/kk.js";
import { verifyMath } from "../rewards/math/index.js";

export interface LineOptions {
  /** math: also accept "Answer: 7" / the last number */
  lenient?: boolean;
  /** math: time budget per verification, ms */
  budgetMs?: number;
}

/** The line as an object, or a UserError naming `where`. */
export function obj(line: unknown, where: string): Record<string, unknown> {
  if (typeof line !== "object" || line === null || Array.isArray(line)) throw new UserError(`${where}: expected a JSON object`);
  return line as Record<string, unknown>;
}

/** A string field, or a UserError naming `where` and the field. */
export function str(o: Record<string, unknown>, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== "string") throw new UserError(`${where}: field "${key}" must be a string`);
  return v;
}

/** The optional "prefix" field ("" when absent). */
export function linePrefix(o: Record<string, unknown>, where: string): string {
  if (o.prefix === undefined) return "";
  if (typeof o.prefix !== "string") throw new UserError(`${where}: field "prefix" must be a string`);
  return o.prefix;
}

/** math: {gold, response} → {correct, extracted, reason}. A numeric gold is accepted and read as its decimal text. */
export function verifyMathLine(line: unknown, where: string, opts: LineOptions = {}): Record<string, unknown> {
  const o = obj(line, where);
  const gold = typeof o.gold === "number" && Number.isFinite(o.gold) ? String(o.gold) : str(o, "gold", where);
  const r = verifyMath(str(o, "response", where), gold, {
    ...(opts.lenient ? { lenient: true } : {}),
    ...(opts.budgetMs !== undefined ? { budgetMs: opts.budgetMs } : {}),
    prefix: linePrefix(o, where),
  });
  return { correct: r.correct, extracted: r.extracted, reason: r.reason };
}

/** countdown: {numbers, target, response} → {score, reason} */
export function verifyCountdownLine(line: unknown, where: string): Record<string, unknown> {
  const o = obj(line, where);
  const nums = o.numbers;
  if (!Array.isArray(nums) || nums.length === 0 || nums.some((n) => !Number.isSafeInteger(n) || (n as number) < 0)) {
    throw new UserError(`${where}: field "numbers" must be a non-empty list of non-negative integers`);
  }
  if (!Number.isSafeInteger(o.target)) throw new UserError(`${where}: field "target" must be an integer`);
  const r = scoreCountdown(str(o, "response", where), { numbers: nums as number[], target: o.target as number }, { prefix: linePrefix(o, where) });
  return { score: r.score, reason: r.reason };
}

/** kk: the generator's fields (names, solution) + response → {score, format, answer, reason} */
export function verifyKKLine(line: unknown, where: string): Record<string, unknown> {
  const o = obj(line, where);
  const names = o.names;
  const solution = o.solution;
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== "string" || n === "")) {
    throw new UserError(`${where}: field "names" must be a non-empty list of names`);
  }
  if (!Array.isArray(solution) || solution.length !== names.length || solution.some((s) => typeof s !== "boolean")) {
    throw new UserError(`${where}: field "solution" must be a list of booleans (true = knight), one per name`);
  }
  const r = scoreKK(str(o, "response", where), { names: names as string[], solution: solution as boolean[] }, { prefix: linePrefix(o, where) });
  return { score: r.score, format: r.parts.format, answer: r.parts.answer, reason: r.reason };
}
