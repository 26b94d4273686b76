/**
 * The `calculator` tool: exact arithmetic through the math verifier's parser and exact evaluator
 * (src/rewards/math: BigInt rationals, surds; never eval). `1234*567` → `699678`, `(2+3)/4` → `5/4`,
 * `2^100` → all 31 digits, `sqrt(2)` → a decimal (not rational). Bounded: the parser's size and depth
 * limits, the rationals' bit cap, and a time budget per call.
 */
import { Budget, BudgetExceeded, evalExact } from "../rewards/math/evaluate.js";
import { MAX_CHARS, ParseError, parseLatex } from "../rewards/math/parse.js";
import { Overflow } from "../rewards/math/rational.js";
import * as S from "../rewards/math/surd.js";
import { textTool } from "./tools.js";
import type { Tool, ToolResult } from "./types.js";

/** Time budget of one evaluation (ms). */
const BUDGET_MS = 200;

/**
 * Calculator syntax → the LaTeX parser's: `**` is `^`, and an exponent (digits, a name, or a
 * parenthesised group, itself translated) is braced, right-associative as in Python: `2^100` is 2 to
 * the 100th (LaTeX would read `2^1` then `00`), `2^3^2` is 2^(3^2).
 */
export function toLatex(expr: string): string {
  const s = expr.replace(/\*\*/g, "^");
  const skip = (k: number): number => {
    while (k < s.length && s[k] === " ") k++;
    return k;
  };
  /** The operand starting at k (after spaces): [its translation, the index after it]. */
  const operand = (k: number): [string, number] => {
    const j = skip(k);
    if (s[j] === "(") {
      let depth = 0;
      let e = j;
      for (; e < s.length; e++) {
        if (s[e] === "(") depth++;
        else if (s[e] === ")" && --depth === 0) break;
      }
      return [`(${toLatex(s.slice(j + 1, e))})`, e + 1];
    }
    let e = s[j] === "-" ? j + 1 : j;
    while (e < s.length && /[0-9.a-zA-Z]/.test(s[e]!)) e++;
    return [s.slice(j, e), e];
  };
  /** An exponent at k: an operand, and `^ exponent` after it (right-associative). */
  const exponent = (k: number): [string, number] => {
    const [base, e] = operand(k);
    const n = skip(e);
    if (s[n] !== "^") return [base, e];
    const [rest, e2] = exponent(n + 1);
    return [`${base}^{${rest}}`, e2];
  };
  let out = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== "^") {
      out += s[i]!;
      continue;
    }
    const [ex, e] = exponent(i + 1);
    if (ex === "") {
      out += "^"; // nothing to raise to: the parser reports it
      continue;
    }
    out += `^{${ex}}`;
    i = e - 1;
  }
  return out;
}

/** Evaluates one expression exactly; never throws. */
export function calculate(expr: string): ToolResult {
  const src = expr.trim();
  if (src === "") return { text: "error: empty expression", error: "parse error" };
  if (src.length > MAX_CHARS) return { text: `error: expression longer than ${MAX_CHARS} characters`, error: "too long" };
  try {
    const value = evalExact(parseLatex(toLatex(src)), new Map(), Budget.ms(BUDGET_MS));
    const r = S.asRat(value);
    if (r) return { text: r.d === 1n ? r.n.toString() : `${r.n}/${r.d}` };
    const x = S.toNumber(value);
    return Number.isFinite(x) ? { text: String(Number(x.toPrecision(15))) } : { text: "error: the value is not finite", error: "math error" };
  } catch (e) {
    if (e instanceof ParseError) return { text: `error: cannot parse the expression (${e.message})`, error: "parse error" };
    if (e instanceof S.NotExact) return { text: `error: ${/unbound (\S+)/.test(e.message) ? `unknown name ${/unbound (\S+)/.exec(e.message)![1]}` : "cannot evaluate that exactly"}`, error: "math error" };
    if (e instanceof Overflow) return { text: "error: the number is too large", error: "too large" };
    if (e instanceof BudgetExceeded) return { text: "error: the calculation takes too long", error: "budget" };
    if (e instanceof RangeError) return { text: `error: ${e.message}`, error: "math error" };
    return { text: "error: cannot evaluate the expression", error: "math error" };
  }
}

export const calculator: Tool = textTool({
  name: "calculator",
  description: "Evaluates an arithmetic expression exactly (+ - * / ^, parentheses, sqrt; big integers and fractions).",
  arg: "expression",
  argDescription: "e.g. 1234*567",
  resultTag: "result",
  run: (e) => calculate(e),
});
