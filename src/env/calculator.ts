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
import type { Tool, ToolResult } from "./types.js";

/** Time budget of one evaluation (ms). */
const BUDGET_MS = 200;

/**
 * Calculator syntax → the LaTeX parser's: `**` is `^`, and an exponent (digits, a name, or a
 * parenthesised group) is braced, so `2^100` means 2 to the 100th (LaTeX would read `2^1` then `00`).
 */
export function toLatex(expr: string): string {
  const s = expr.replace(/\*\*/g, "^");
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch !== "^") {
      out += ch;
      continue;
    }
    let j = i + 1;
    while (j < s.length && s[j] === " ") j++;
    if (s[j] === "(") {
      let depth = 0;
      let k = j;
      for (; k < s.length; k++) {
        if (s[k] === "(") depth++;
        else if (s[k] === ")" && --depth === 0) break;
      }
      out += `^{${s.slice(j, k + 1)}}`;
      i = k;
    } else if (s[j] === "-" || /[0-9.a-zA-Z]/.test(s[j] ?? "")) {
      let k = j + 1;
      while (k < s.length && /[0-9.a-zA-Z]/.test(s[k]!)) k++;
      out += `^{${s.slice(j, k)}}`;
      i = k - 1;
    } else {
      out += ch;
    }
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

export const calculator: Tool = {
  name: "calculator",
  description: "Evaluates an arithmetic expression exactly (+ - * / ^, parentheses, sqrt; big integers and fractions).",
  parameters: { type: "object", properties: { expression: { type: "string", description: "e.g. 1234*567" } }, required: ["expression"] },
  inputKey: "expression",
  resultTag: "result",
  run(input) {
    const e = input["expression"];
    return typeof e === "string" ? calculate(e) : { text: "error: give the expression as a string", error: "bad arguments" };
  },
};
