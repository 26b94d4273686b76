/**
 * verifyMath(response, gold) → { correct, extracted, reason }: extraction (src/rewards/extract.ts),
 * a bounded LaTeX parse of both sides (parse.ts) and exact equivalence (equiv.ts), within a time
 * budget. Pure: same inputs, same result; never throws on any response. The answer is read after the
 * thinking only (`answerRegion`): pass the template's prefilled "<think>" as `prefix`.
 */
import { allBoxed, extractAnswer, lastBoxed, stripMathDelims } from "../extract.js";
import type { ExtractOptions } from "../extract.js";
import type { Node } from "./ast.js";
import { equiv } from "./equiv.js";
import { Budget, BudgetExceeded } from "./evaluate.js";
import { ParseError, normalize, parseLatex } from "./parse.js";

export interface MathOptions extends ExtractOptions {
  /** Time budget per verification in ms (default 1000). Over budget → not correct, reason "budget". */
  budgetMs?: number;
  /** Longest response accepted, in characters (default 4 MiB): longer → not correct, "too long". */
  maxResponseChars?: number;
}

export interface MathResult {
  correct: boolean;
  /** The extracted answer text, or null when none was found. */
  extracted: string | null;
  /** "correct", "wrong", "no answer", "empty answer", "unbalanced \boxed", "unparsable answer: …", "bad gold: …", "budget", "too long" */
  reason: string;
}

const DEFAULTS = { budgetMs: 1000, maxResponseChars: 4 << 20 };

/** Parsed gold answers (the same gold is verified G times per prompt). */
const goldCache = new Map<string, Node | ParseError>();
const GOLD_CACHE_MAX = 4096;

/** Empties the parsed-gold cache (benchmarks measure the uncached path with it). */
export function clearGoldCache(): void {
  goldCache.clear();
}

function parseGold(gold: string): Node | ParseError {
  const hit = goldCache.get(gold);
  if (hit) return hit;
  let text = gold;
  const boxes = allBoxed(gold);
  const boxed = lastBoxed(gold);
  // a gold solution boxing several answers (\boxed{1}\boxed{2}) means all of them
  if (boxes.length > 1) text = boxes.join(", ");
  else if (typeof boxed === "string" && boxed !== "unbalanced" && boxed !== "") text = boxed;
  let out: Node | ParseError;
  try {
    out = parseLatex(stripMathDelims(text));
  } catch (e) {
    out = e instanceof ParseError ? e : new ParseError(String(e));
  }
  if (goldCache.size >= GOLD_CACHE_MAX) goldCache.clear();
  goldCache.set(gold, out);
  return out;
}

/** Last-resort comparison when a side does not parse: identical after normalisation (spaces ignored). */
function sameText(a: string, b: string): boolean {
  const f = (s: string): string => {
    try {
      return normalize(s).replace(/\s+/g, "").replace(/\\text\{([^{}]*)\}/g, "$1").toLowerCase();
    } catch {
      return s;
    }
  };
  return f(a) === f(b);
}

/** A leading multiple-choice marker: (C), \text{(C)}, \textbf{(C) }, then the rest. */
const MC_PREFIX = /^\s*(?:\\text(?:bf)?\{\s*\(([A-Ea-e])\)\s*\}|\(([A-E])\)(?=\s|\\|$))\s*(?:\\[ ,;]|~)?\s*(.*)$/s;

function mcResult(ok: boolean, extracted: string): MathResult {
  return { correct: ok, extracted, reason: ok ? "correct" : "wrong" };
}

/** A gold that is a multiple-choice letter with its value ("\textbf{(A) }12"): [letter, value], else null. */
function mcGold(gold: string): [string, string] | null {
  const boxed = lastBoxed(gold);
  const text = stripMathDelims(typeof boxed === "string" && boxed !== "unbalanced" && boxed !== "" ? boxed : gold);
  const m = MC_PREFIX.exec(text);
  if (!m) return null;
  const rest = (m[3] ?? "").trim();
  return rest === "" ? null : [(m[1] ?? m[2]) as string, rest];
}

export function verifyMath(response: string, gold: string, opts: MathOptions = {}): MathResult {
  // a gold choice with its value: the letter or the value answers it
  const mc = typeof gold === "string" && gold.length < 512 ? mcGold(gold) : null;
  if (mc) {
    const byLetter = verifyOne(response, mc[0], opts);
    if (byLetter.correct) return byLetter;
    // an answer naming another choice is wrong even when it repeats the right value
    const other = byLetter.extracted === null ? null : MC_PREFIX.exec(byLetter.extracted);
    if (other) return { correct: false, extracted: byLetter.extracted, reason: "wrong" };
    return verifyOne(response, mc[1], opts);
  }
  return verifyOne(response, gold, opts);
}

function verifyOne(response: string, gold: string, opts: MathOptions): MathResult {
  const budgetMs = opts.budgetMs ?? DEFAULTS.budgetMs;
  const maxChars = opts.maxResponseChars ?? DEFAULTS.maxResponseChars;
  if (typeof response !== "string" || response.length > maxChars) return { correct: false, extracted: null, reason: "too long" };
  const ex = extractAnswer(response, opts);
  if (!ex.ok) return { correct: false, extracted: null, reason: ex.reason };
  const extracted = stripMathDelims(ex.text);
  const budget = Budget.ms(budgetMs);
  try {
    const g = parseGold(gold);
    // "\textbf{(C)}\ 12": a multiple-choice letter followed by its value — the letter answers a
    // letter gold, the value answers anything else
    const mc = MC_PREFIX.exec(extracted);
    if (mc && !(g instanceof ParseError)) {
      const letter = (mc[1] ?? mc[2]) as string;
      const goldLetter = g.k === "var" && /^[A-Ea-e]$/.test(g.name) ? g.name.toUpperCase() : null;
      if (goldLetter !== null) return mcResult(goldLetter === letter.toUpperCase(), extracted);
      const rest = (mc[3] ?? "").trim();
      if (rest !== "") {
        let r: Node | null = null;
        try {
          r = parseLatex(rest);
        } catch (e) {
          if (!(e instanceof ParseError)) throw e;
        }
        if (r !== null) return mcResult(equiv(g, r, budget), extracted);
      }
    }
    let a: Node;
    try {
      a = parseLatex(extracted);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      if (!(g instanceof ParseError) || !sameText(gold, extracted)) return { correct: false, extracted, reason: `unparsable answer: ${e.message}` };
      return { correct: true, extracted, reason: "correct (same text)" };
    }
    if (g instanceof ParseError) {
      const ok = sameText(gold, extracted);
      return { correct: ok, extracted, reason: ok ? "correct (same text)" : `bad gold: ${g.message}` };
    }
    budget.check();
    const ok = equiv(g, a, budget);
    return { correct: ok, extracted, reason: ok ? "correct" : "wrong" };
  } catch (e) {
    if (e instanceof BudgetExceeded) return { correct: false, extracted, reason: "budget" };
    if (e instanceof RangeError) return { correct: false, extracted, reason: `error: ${e.message}` };
    return { correct: false, extracted, reason: `error: ${e instanceof Error ? e.message : String(e)}` };
  }
}
