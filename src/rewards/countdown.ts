/**
 * Countdown (TinyZero's task): given numbers and a target, the last <answer>…</answer> holds an
 * equation using each number exactly once with + − * / and parentheses, equal to the target.
 *
 * Scoring as TinyZero's `countdown.py:compute_score`: 0 when there is no <answer> span, `formatScore`
 * (0.1) when there is one but the equation is invalid (characters other than digits, + - * / ( ) and
 * spaces; numbers not exactly the given multiset) or wrong, `score` (1.0) when correct.
 * Deliberate differences from TinyZero (its accidents, not its intent):
 *   - the equation is parsed by our own parser and evaluated with exact rationals, never eval'd, so
 *     1000000/999999 is not 1 (TinyZero: |result − target| < 1e-5 in floating point);
 *   - the answer span may be on any line (TinyZero looks only at the last line of the output);
 *   - `.` is not accepted (TinyZero's character check allows it, so "1.5" passed as the numbers 1, 5);
 *   - `**` and `//` are rejected (TinyZero's eval would compute powers / floor division);
 *   - an answer inside the thinking is not the answer (see `extractEquation`): TinyZero has no such
 *     rule, only its last-line search keeps such an answer from counting, so it still counts when it
 *     sits on the line of the </think>.
 * Like TinyZero, a unary minus is accepted and "Assistant:" (if present) starts the response.
 */
import { answerBounds, lastTagSpan } from "./extract.js";
import * as Q from "./math/rational.js";
import type { Rat } from "./math/rational.js";
import type { RewardResult } from "./types.js";

export interface CountdownRef {
  numbers: number[];
  target: number;
}

export interface CountdownOptions {
  /** Score for a correct equation (TinyZero: 1.0). */
  score?: number;
  /** Score for an answer span whose equation is invalid or wrong (TinyZero: 0.1). */
  formatScore?: number;
  /** Score when no answer span exists (TinyZero: 0). */
  noAnswerScore?: number;
  /** Text the prompt already contains before the response (the r1-zero template's "<think>"). */
  prefix?: string;
}

/** Longest equation we parse (characters). */
const MAX_EQUATION = 1000;

type Expr = { k: "num"; v: bigint; s: string } | { k: "op"; op: string; a: Expr; b: Expr } | { k: "neg"; a: Expr };

class EqError extends Error {}

/** Parses digits, + - * / ( ) and spaces. Throws EqError on anything else. */
export function parseEquation(src: string): Expr {
  if (src.length > MAX_EQUATION) throw new EqError("equation too long");
  if (!/^[\d+\-*/()\s]+$/.test(src)) throw new EqError("invalid characters");
  const toks = src.match(/\d+|[+\-*/()]/g) ?? [];
  let i = 0;
  let depth = 0;
  const peek = (): string | undefined => toks[i];
  const expr = (): Expr => {
    let a = term();
    while (peek() === "+" || peek() === "-") {
      const op = toks[i++] as string;
      a = { k: "op", op, a, b: term() };
    }
    return a;
  };
  const term = (): Expr => {
    let a = unary();
    while (peek() === "*" || peek() === "/") {
      const op = toks[i++] as string;
      if (peek() === "*" || peek() === "/") throw new EqError(`'${op}${peek()}' is not allowed`);
      a = { k: "op", op, a, b: unary() };
    }
    return a;
  };
  const unary = (): Expr => {
    if (peek() === "-") {
      i++;
      return { k: "neg", a: unary() };
    }
    if (peek() === "+") {
      i++;
      return unary();
    }
    return atom();
  };
  const atom = (): Expr => {
    const t = toks[i++];
    if (t === undefined) throw new EqError("unexpected end");
    if (t === "(") {
      if (++depth > 200) throw new EqError("too deep");
      const e = expr();
      if (toks[i++] !== ")") throw new EqError("missing )");
      depth--;
      return e;
    }
    if (/^\d+$/.test(t)) {
      if (t.length > 30) throw new EqError("number too long");
      // as in TinyZero (Python's eval rejects "01"), a leading zero makes the equation invalid
      if (t.length > 1 && t.startsWith("0")) throw new EqError(`leading zero in ${t}`);
      return { k: "num", v: BigInt(t), s: t };
    }
    throw new EqError(`unexpected '${t}'`);
  };
  const e = expr();
  if (i !== toks.length) throw new EqError(`unexpected '${toks[i]}'`);
  return e;
}

function evalEq(e: Expr): Rat {
  switch (e.k) {
    case "num":
      return Q.rat(e.v);
    case "neg":
      return Q.neg(evalEq(e.a));
    case "op": {
      const a = evalEq(e.a);
      const b = evalEq(e.b);
      if (e.op === "+") return Q.add(a, b);
      if (e.op === "-") return Q.sub(a, b);
      if (e.op === "*") return Q.mul(a, b);
      if (Q.isZero(b)) throw new EqError("division by zero");
      return Q.div(a, b);
    }
  }
}

function numbersOf(e: Expr, out: bigint[] = []): bigint[] {
  if (e.k === "num") out.push(e.v);
  else if (e.k === "neg") numbersOf(e.a, out);
  else {
    numbersOf(e.a, out);
    numbersOf(e.b, out);
  }
  return out;
}

/**
 * The equation to score: the last <answer>…</answer> span of `prefix + response` that lies after the
 * last </think> (when there is one), before any <think> opened after it (a think block that never
 * closes: the response stopped while thinking), and after the first "Assistant:" if present (TinyZero's
 * start of the response, for text that includes the prompt). An answer written inside the thinking is
 * a draft, not the answer: with the r1-zero template (prefix "<think>"), "… <answer>1+2</answer> more
 * thoughts </think>" has no answer.
 */
export function extractEquation(response: string, prefix = ""): string | null {
  const text = prefix + response;
  const region = answerBounds(text); // the shared rule (src/rewards/extract.ts's answerRegion)
  const end = region.end;
  const at = text.indexOf("Assistant:");
  const start = Math.max(region.start, at >= 0 ? at + "Assistant:".length : 0);
  const span = start < end ? lastTagSpan(text.slice(start, end), "answer") : null;
  return span === null ? null : span.trim();
}

export function scoreCountdown(response: string, ref: CountdownRef, opts: CountdownOptions = {}): RewardResult {
  const full = opts.score ?? 1.0;
  const partial = opts.formatScore ?? 0.1;
  const none = opts.noAnswerScore ?? 0;
  const eq = extractEquation(response, opts.prefix);
  if (eq === null) return { score: none, parts: { countdown: none }, reason: "no answer" };
  const fail = (reason: string): RewardResult => ({ score: partial, parts: { countdown: partial }, reason });
  let e: Expr;
  try {
    e = parseEquation(eq);
  } catch (err) {
    return fail(`invalid equation: ${err instanceof Error ? err.message : String(err)}`);
  }
  const used = numbersOf(e).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const given = ref.numbers.map((n) => BigInt(n)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  if (used.length !== given.length || used.some((u, i) => u !== given[i])) return fail("numbers not used exactly once each");
  let v: Rat;
  try {
    v = evalEq(e);
  } catch (err) {
    return fail(err instanceof EqError ? err.message : "cannot evaluate");
  }
  if (!Q.eq(v, Q.rat(BigInt(ref.target)))) return fail(`equals ${Q.toString(v)}, not ${ref.target}`);
  return { score: full, parts: { countdown: full }, reason: "correct" };
}
