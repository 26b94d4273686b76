/**
 * Knights & Knaves (Logic-RL's task). Knights always tell the truth, knaves always lie.
 *
 * The puzzles come from src/tasks/kk-gen.ts (seeded; kept only when exactly one assignment is
 * consistent, as solveKK below finds).
 *
 * Verifier: scoring as Logic-RL's released `verl/utils/reward_score/kk.py:compute_score`: format +1
 * when the response has exactly one <think>…</think> followed by exactly one <answer>…</answer>, else
 * −1; answer: +2 when every person's role is stated and all are right, −1.5 when all are stated but
 * some are wrong, −2 when the answer cannot be parsed (see `parseKKAnswer`) — and −2 too when the
 * format is wrong (the answer is then not looked at). So a format failure totals −3, below a
 * well-formed unparseable answer (−1). All values configurable. The format already keeps an answer
 * inside the thinking from counting (the one <answer> must follow the one </think>; with `prefix`
 * "<think>", a response that never closes its thinking fails it); the answer is read from
 * `answerRegion` like every other verifier's.
 */
import { answerRegion, lastTagSpan } from "./extract.js";
import type { RewardResult } from "./types.js";

/** A statement about the people (indices into `names`). */
export type Stmt =
  | { k: "is"; who: number; knight: boolean }
  | { k: "not"; a: Stmt }
  | { k: "and"; a: Stmt; b: Stmt }
  | { k: "or"; a: Stmt; b: Stmt }
  | { k: "iff"; a: Stmt; b: Stmt }
  | { k: "implies"; a: Stmt; b: Stmt };

export interface KKPuzzle {
  /** The puzzle text given to the model. */
  quiz: string;
  names: string[];
  /** solution[i]: person i is a knight. */
  solution: boolean[];
  /** "A is a knight, and B is a knave." */
  solution_text: string;
  statements: Stmt[];
}

export function truth(s: Stmt, world: boolean[]): boolean {
  switch (s.k) {
    case "is":
      return world[s.who] === s.knight;
    case "not":
      return !truth(s.a, world);
    case "and":
      return truth(s.a, world) && truth(s.b, world);
    case "or":
      return truth(s.a, world) || truth(s.b, world);
    case "iff":
      return truth(s.a, world) === truth(s.b, world);
    case "implies":
      return !truth(s.a, world) || truth(s.b, world);
  }
}

/** All assignments in which every knight's statement is true and every knave's is false. */
export function solveKK(statements: Stmt[], n: number): boolean[][] {
  const out: boolean[][] = [];
  for (let mask = 0; mask < 1 << n; mask++) {
    const world = Array.from({ length: n }, (_, i) => ((mask >> i) & 1) === 1);
    if (statements.every((s, i) => truth(s, world) === world[i])) out.push(world);
  }
  return out;
}

// ---------------------------------------------------------------- verifier

export interface KKOptions {
  formatReward?: number; // ±1 (Logic-RL)
  correctReward?: number; // +2
  wrongReward?: number; // −1.5
  unparsableReward?: number; // −2, also the answer part when the format is wrong (Logic-RL)
  /** Text the prompt already contains before the response (e.g. "<think>" when the template prefills it). */
  prefix?: string;
}

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Role per name from the answer text, as Logic-RL's `parse_model_answer`: the words "knight" and
 * "knave" (counted anywhere, case-insensitively) must appear exactly once per person — so a hedge
 * ("Zoey is a knight or a knave") or an extra claim does not parse — and each name must be stated as
 * "Zoey is a knight" / "Zoey is a knave" (the first such statement counts). Null when it does not parse.
 */
export function parseKKAnswer(answer: string, names: string[]): boolean[] | null {
  const lower = answer.toLowerCase();
  const roleWords = lower.split("knight").length - 1 + (lower.split("knave").length - 1);
  if (roleWords !== names.length) return null;
  const out: boolean[] = [];
  for (const name of names) {
    const m = new RegExp(`\\b${esc(name)}\\b\\s+is\\s+a\\s+\\b(knight|knave)\\b`, "i").exec(answer);
    if (!m) return null;
    out.push((m[1] as string).toLowerCase() === "knight");
  }
  return out;
}

/** Exactly one <think>…</think> followed by exactly one <answer>…</answer>. */
export function kkFormatOk(text: string): boolean {
  const count = (t: string): number => text.split(t).length - 1;
  if (count("<think>") !== 1 || count("</think>") !== 1 || count("<answer>") !== 1 || count("</answer>") !== 1) return false;
  const a = text.indexOf("<think>");
  const b = text.indexOf("</think>");
  const c = text.indexOf("<answer>");
  const d = text.indexOf("</answer>");
  return a < b && b < c && c < d;
}

export function scoreKK(response: string, ref: Pick<KKPuzzle, "names" | "solution">, opts: KKOptions = {}): RewardResult {
  const fmt = opts.formatReward ?? 1;
  const text = (opts.prefix ?? "") + response;
  const formatOk = kkFormatOk(text);
  const format = formatOk ? fmt : -Math.abs(fmt);
  // Logic-RL scores the answer of a badly formatted response as unparseable (−2), unread
  let answer = opts.unparsableReward ?? -2;
  let reason = "bad format";
  if (formatOk) {
    // the format already puts the one answer after the one </think>; read it the shared way
    const span = lastTagSpan(answerRegion(text), "answer") ?? "";
    const pred = parseKKAnswer(span, ref.names);
    if (pred === null) {
      answer = opts.unparsableReward ?? -2;
      reason = "unparsable answer";
    } else if (pred.every((p, i) => p === ref.solution[i])) {
      answer = opts.correctReward ?? 2;
      reason = "correct";
    } else {
      answer = opts.wrongReward ?? -1.5;
      reason = "wrong";
    }
  }
  return { score: format + answer, parts: { format, answer }, reason };
}
