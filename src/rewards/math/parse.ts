/**
 * A bounded recursive-descent parser for the LaTeX math that final answers use: numbers, fractions
 * (`\frac`, `\frac12`, `a/b`, mixed numbers), radicals, π, powers, implicit products, functions,
 * percentages, degrees, units and `\text`, relations and inequality chains, intervals, tuples, sets,
 * matrices and top-level lists ("1, 2", "1 or 2"). The result is an `ast.ts` Node.
 *
 * Bounds: input length (MAX_CHARS), nesting depth (MAX_DEPTH) and token count; exceeding any of them
 * is a ParseError (→ "not correct"), never a stack overflow. Never evaluates anything.
 */
import type { Node } from "./ast.js";
import * as Q from "./rational.js";

export const MAX_CHARS = 8192;
export const MAX_DEPTH = 100;

export class ParseError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = "ParseError";
  }
}

type Tok =
  | { t: "num"; s: string }
  | { t: "word"; s: string } // a run of ASCII letters
  | { t: "cmd"; s: string } // \name or \{ etc (without the backslash)
  | { t: "text"; s: string } // \text{…} content
  | { t: "ch"; s: string }; // any other single character

/** Units and unit-like words that are dropped after a quantity (never single letters). */
export const UNITS = new Set(
  (
    "cm mm km m2 cm2 meter meters metre metres centimeter centimeters centimetre centimetres millimeter millimeters " +
    "kilometer kilometers kilometre kilometres inch inches ft feet foot yd yard yards mile miles mi " +
    "unit units sq square squared cubic cu degree degrees deg radian radians rad " +
    "dollar dollars cent cents euro euros usd " +
    "hour hours hr hrs minute minutes min mins second seconds secs day days week weeks month months year years " +
    "gram grams kg mg lb lbs pound pounds ounce ounces oz liter liters litre litres ml " +
    "mph kmh kph people persons students items ways times per cups " +
    // counted nouns the MATH answers put after a number (minerva's normaliser drops these too)
    "points digits edges integers meals multiples tickets children gm sides vertices diagonals numbers " +
    "coins marbles balls pages books handshakes games rounds outfits arrangements committees triangles squares"
  ).split(" "),
);

/** Single letters that are units inside \text after a quantity (5\text{ m}); never as bare letters. */
const TEXT_UNIT_LETTERS = new Set(["m", "s", "g", "l", "h", "k"]);

/** Unit words that are also function names or letters outside \text (sec is secant, g a variable). */
const TEXT_ONLY_UNITS = new Set(["sec", "g"]);

/** \text content made only of unit words ("cm", "sq units", "square meters", "m", "km/h"). */
function isUnitText(raw: string): boolean {
  const words = raw.trim().toLowerCase().replace(/[.]+$/, "").split(/[\s^{}0-9/]+/).filter((w) => w !== "");
  if (words.length === 0) return false;
  // one-letter units only in short unit texts ("m", "m/s"), never in longer phrases
  return words.every((w) => UNITS.has(w) || TEXT_ONLY_UNITS.has(w) || w === "of" || (words.length <= 2 && TEXT_UNIT_LETTERS.has(w)));
}

const FUNCS = new Set([
  "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
  "ln", "log", "exp", "lg",
]);

const TEXT_CMDS = new Set(["text", "textbf", "textrm", "textit", "mathrm", "mbox", "mathbf", "mathit", "textsf", "operatorname", "mathsf", "mathtt", "texttt", "emph", "textnormal"]);

/** Unicode look-alikes → LaTeX. */
const UNICODE: Record<string, string> = {
  "−": "-", "–": "-", "—": "-", "×": "\\times ", "÷": "\\div ", "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ",
  "π": "\\pi ", "∞": "\\infty ", "√": "\\sqrt ", "·": "\\cdot ", "∪": "\\cup ", "±": "\\pm ", "∈": "\\in ",
  "⩽": "\\le ", "⩾": "\\ge ", "∩": "\\cap ",
};

const SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹";
const VULGAR: Record<string, string> = {
  "½": "1}{2", "⅓": "1}{3", "⅔": "2}{3", "¼": "1}{4", "¾": "3}{4", "⅕": "1}{5", "⅖": "2}{5", "⅗": "3}{5", "⅘": "4}{5",
  "⅙": "1}{6", "⅚": "5}{6", "⅛": "1}{8", "⅜": "3}{8", "⅝": "5}{8", "⅞": "7}{8",
};

/** String-level clean-up of LaTeX noise that carries no meaning in an answer. */
export function normalize(src: string): string {
  let s = src.replace(/[−–—×÷≤≥≠π∞√·∪±∈⩽⩾∩]/g, (c) => UNICODE[c] ?? c);
  // unicode superscript digits (x² → x^{2}) and vulgar fractions (½ → \frac{1}{2}, so 3½ is mixed)
  s = s.replace(/[⁰¹²³⁴⁵⁶⁷⁸⁹]+/g, (m) => `^{${[...m].map((c) => SUPERSCRIPTS.indexOf(c)).join("")}}`);
  s = s.replace(/[½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞]/g, (c) => `\\frac{${VULGAR[c] ?? ""}}`);
  // an angle in degrees inside a trigonometric function: \sin 30^\circ, \cos(60^{\circ}) → radians
  s = s.replace(
    /\\(sin|cos|tan|cot|sec|csc)\s*(\(?)\s*(-?\d{1,12}(?:\.\d{1,12})?)\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|°)\s*(\)?)/g,
    (m, f: string, open: string, deg: string, close: string) => (open === "(") === (close === ")") ? `\\${f}(${deg}\\pi/180)` : m,
  );
  // upright e is Euler's number
  s = s.replace(/\\(?:mathrm|mathit|operatorname)\s*\{\s*e\s*\}/g, "e");
  // a repeating decimal 0.1\overline{6} → the exact fraction (1/6), before anything reads the digits
  s = s.replace(/(\d{0,40})\.(\d{0,40})\\overline\s*\{\s*(\d{1,40})\s*\}/g, (_m, i: string, f: string, r: string) => {
    const all = BigInt((i || "0") + f + r);
    const head = BigInt((i || "0") + f);
    const den = 10n ** BigInt(f.length) * (10n ** BigInt(r.length) - 1n);
    return `(\\frac{${all - head}}{${den}})`;
  });
  s = s
    .replace(/\\(?:dfrac|tfrac|cfrac)(?![a-zA-Z])/g, "\\frac")
    .replace(/\\(?:dbinom|tbinom)(?![a-zA-Z])/g, "\\binom")
    .replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])|°/g, " ")
    .replace(/\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg)(?![a-zA-Z])\s*\.?/g, "")
    .replace(/\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits|mathstrut|hfill)(?![a-zA-Z])/g, "")
    .replace(/(\d)\s*\{,\}\s*(?=\d{3})/g, "$1")
    .replace(/(\d),\\!\s*(?=\d{3}(?!\d))/g, "$1")
    .replace(/(\d)\\[,;: ]\s*(?=\d{3}(?!\d))/g, "$1")
    .replace(/(?<!\\)\\!/g, "")
    .replace(/(?<!\\)\\[,;: ]|\\(?:q?quad|enspace|enskip|thinspace|medspace|thickspace|negthinspace|negmedspace|negthickspace)(?![a-zA-Z])|~/g, " ")
    .replace(/\\\$|\$/g, " ")
    // ordinal suffixes: 5^{\text{th}}, 5^\mathrm{th}, 5^{th}, 2^{nd}
    .replace(/(\d)\s*\^\s*(?:\{\s*(?:\\(?:text|mathrm)\s*\{\s*)?(?:th|st|nd|rd)\s*\}?\s*\}|\\(?:text|mathrm)\s*\{\s*(?:th|st|nd|rd)\s*\})/g, "$1")
    // a residue with its modulus (9 \pmod{11}, 9 (\mod 11)) is the residue
    .replace(/(?:\\pmod\s*\{[^{}]{0,64}\}|\(\s*\\b?mod\s*[^()]{0,64}\))\s*$/, "")
    .replace(/(^|[^\\])%/g, "$1\\%");
  // "7 3/4" is the mixed number 7¾ when it is the whole answer (as PRM800K's grader reads it)
  s = s.replace(/^([+-]?\d{1,12})\s+(\d{1,12})\s*\/\s*(\d{1,12})$/, "$1\\frac{$2}{$3}");
  // "1 000 000" → 1000000 (only when the whole answer is such a number)
  if (/^[+-]?\d{1,3}(?: \d{3})+(?:\.\d+)?$/.test(s.trim())) s = s.replace(/ /g, "");
  // "1,000,000" → 1000000, only when nothing in the answer makes a comma meaningful as a separator.
  if (!/[([{]|\\\{|\\langle/.test(s.replace(/\\(?:text|mbox|mathrm|textbf)\s*\{[^{}]*\}/g, ""))) {
    s = s.replace(/(^|[^\d.])([1-9]\d{0,2}(?:,\d{3})+)(?![\d,])/g, (_m, pre: string, num: string) => pre + num.replace(/,/g, ""));
  }
  return s.trim();
}

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s[i] as string;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    if ((c >= "0" && c <= "9") || (c === "." && i + 1 < n && /\d/.test(s[i + 1] as string))) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+(?![a-zA-Z]))?/.exec(s.slice(i, i + 600));
      const lit = m ? m[0] : c;
      out.push({ t: "num", s: lit });
      i += lit.length;
      continue;
    }
    if ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z")) {
      let j = i;
      while (j < n && /[a-zA-Z]/.test(s[j] as string)) j++;
      out.push({ t: "word", s: s.slice(i, j) });
      i = j;
      continue;
    }
    if (c === "\\") {
      let j = i + 1;
      while (j < n && /[a-zA-Z]/.test(s[j] as string)) j++;
      if (j === i + 1) {
        // \{ \} \% \\ \, …
        out.push({ t: "cmd", s: s[i + 1] ?? "" });
        i += 2;
        continue;
      }
      const name = s.slice(i + 1, j);
      if (TEXT_CMDS.has(name)) {
        let k = j;
        while (k < n && s[k] === " ") k++;
        if (s[k] === "{") {
          // raw content up to the matching brace
          let depth = 0;
          let e = k;
          for (; e < n; e++) {
            if (s[e] === "\\") {
              e++;
              continue;
            }
            if (s[e] === "{") depth++;
            else if (s[e] === "}" && --depth === 0) break;
          }
          if (e >= n) throw new ParseError("unbalanced \\text");
          out.push({ t: "text", s: s.slice(k + 1, e) });
          i = e + 1;
          continue;
        }
      }
      out.push({ t: "cmd", s: name });
      i = j;
      continue;
    }
    out.push({ t: "ch", s: c });
    i++;
  }
  return out;
}

const REL_CMDS: Record<string, string> = {
  le: "<=", leq: "<=", leqslant: "<=", ge: ">=", geq: ">=", geqslant: ">=", lt: "<", gt: ">",
  ne: "!=", neq: "!=", in: "in", approx: "=", equiv: "=",
};

const GREEK = new Set([
  "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
  "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega",
  "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega",
]);

class Parser {
  private pos = 0;
  private depth = 0;
  private absDepth = 0;
  constructor(private toks: Tok[]) {}

  private peek(o = 0): Tok | undefined {
    return this.toks[this.pos + o];
  }
  private isCh(s: string, o = 0): boolean {
    const t = this.peek(o);
    return t !== undefined && t.t === "ch" && t.s === s;
  }
  private isCmd(s: string, o = 0): boolean {
    const t = this.peek(o);
    return t !== undefined && t.t === "cmd" && t.s === s;
  }
  private expectCh(s: string): void {
    if (!this.isCh(s)) throw new ParseError(`expected '${s}'`);
    this.pos++;
  }
  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw new ParseError("nesting too deep");
  }
  private leave(): void {
    this.depth--;
  }

  parseTop(): Node {
    const n = this.parseList();
    if (this.pos < this.toks.length) throw new ParseError(`unexpected '${this.peek()?.s ?? ""}'`);
    return n;
  }

  /** comma / "or" / "and" separated list */
  private parseList(): Node {
    const items: Node[] = [];
    let and = false;
    for (;;) {
      if (this.atListSep()) {
        const t = this.peek() as Tok;
        if ((t.t === "word" || t.t === "text") && t.s.trim().toLowerCase().startsWith("and")) and = true;
        this.pos++;
        continue;
      }
      if (this.atEnd()) break;
      items.push(this.parseRel());
      if (!this.atListSep()) break;
    }
    if (items.length === 0) throw new ParseError("empty");
    if (items.length === 1) return items[0] as Node;
    return and ? { k: "list", items, and: true } : { k: "list", items };
  }

  private atEnd(): boolean {
    const t = this.peek();
    return t === undefined || (t.t === "ch" && (t.s === "}" || t.s === ")" || t.s === "]")) || (t.t === "cmd" && (t.s === "}" || t.s === "rangle" || t.s === "end" || t.s === "\\")) || this.isCh("&");
  }

  private atListSep(): boolean {
    const t = this.peek();
    if (!t) return false;
    if (t.t === "ch" && (t.s === "," || t.s === ";")) return true;
    if (t.t === "word" && (t.s === "or" || t.s === "and")) return true;
    if (t.t === "text") {
      const w = t.s.trim().toLowerCase();
      return w === "or" || w === "and" || w === "," || w === "" || w === "and also";
    }
    if (t.t === "cmd" && (t.s === "text" || t.s === "quad")) return true;
    return false;
  }

  private relOp(): string | null {
    const t = this.peek();
    if (!t) return null;
    if (t.t === "ch") {
      if (t.s === "=") return "=";
      if (t.s === "<" || t.s === ">") {
        if (this.isCh("=", 1)) {
          this.pos++;
          return t.s + "=";
        }
        return t.s;
      }
      if (t.s === "!" && this.isCh("=", 1)) {
        this.pos++;
        return "!=";
      }
    }
    if (t.t === "cmd") return REL_CMDS[t.s] ?? null;
    return null;
  }

  private parseRel(): Node {
    const parts: Node[] = [this.parseUnion()];
    const ops: string[] = [];
    for (;;) {
      const op = this.relOp();
      if (op === null) break;
      this.pos++;
      ops.push(op);
      parts.push(this.parseUnion());
    }
    return ops.length === 0 ? (parts[0] as Node) : { k: "rel", ops, parts };
  }

  private parseUnion(): Node {
    const parts: Node[] = [this.parseAdd()];
    while (this.isCmd("cup") || this.isWordU()) {
      this.pos++;
      parts.push(this.parseAdd());
    }
    const u: Node = parts.length === 1 ? (parts[0] as Node) : { k: "union", parts };
    if (this.isCmd("setminus") || this.isCmd("backslash")) {
      this.pos++;
      return realsMinus(u, this.parseAdd());
    }
    return u;
  }
  /** The word just consumed (at pos − 1) touches a number or an operator. */
  private inMathContext(): boolean {
    const prev = this.toks[this.pos - 2];
    const next = this.toks[this.pos];
    const op = (x: Tok | undefined, chars: string): boolean => x !== undefined && x.t === "ch" && chars.includes(x.s);
    return (prev !== undefined && prev.t === "num") || op(prev, "+-*/^=(") || op(next, "+-*/^_=)") || (prev !== undefined && prev.t === "cmd" && (prev.s === "cdot" || prev.s === "times"));
  }

  private isWordU(): boolean {
    const t = this.peek();
    return t !== undefined && t.t === "word" && t.s === "U";
  }

  private parseAdd(): Node {
    this.enter();
    let terms: Node[] = [];
    if (this.isCh("-") || this.isCh("+")) {
      const negative = this.isCh("-");
      this.pos++;
      const f = this.parseMul();
      terms.push(negative ? { k: "neg", a: f } : f);
    } else if (this.isCmd("pm") || this.isCmd("mp")) {
      this.pos++;
      const f = this.parseMul();
      terms.push({ k: "pm", a: { k: "num", v: Q.ZERO, decimal: false }, b: f });
    } else terms.push(this.parseMul());
    for (;;) {
      if (this.isCh("+")) {
        this.pos++;
        terms.push(this.parseMul());
      } else if (this.isCh("-")) {
        this.pos++;
        terms.push({ k: "neg", a: this.parseMul() });
      } else if (this.isCmd("pm") || this.isCmd("mp")) {
        this.pos++;
        const b = this.parseMul();
        const a: Node = terms.length === 1 ? (terms[0] as Node) : { k: "add", terms };
        terms = [{ k: "pm", a, b }];
      } else break;
    }
    this.leave();
    return terms.length === 1 ? (terms[0] as Node) : { k: "add", terms };
  }

  private parseMul(): Node {
    this.enter();
    let acc: Node = this.parseUnary();
    const fs: Node[] = [];
    for (;;) {
      if (this.isCh("*") || this.isCmd("cdot") || this.isCmd("times") || this.isCmd("ast")) {
        this.pos++;
        fs.push(acc);
        acc = this.parseUnary();
      } else if (this.isCh("/") || this.isCmd("div")) {
        this.pos++;
        const b = this.parseUnary();
        acc = { k: "div", a: fs.length ? { k: "mul", fs: [...fs.splice(0), acc] } : acc, b };
      } else if (this.startsPrimary()) {
        const next = this.parseUnary();
        // mixed number: 3\frac{1}{2} = 3 + 1/2 (and -3\frac12 = -(3 + 1/2))
        const isFrac = next.k === "div" && next.a.k === "num" && next.b.k === "num" && !next.a.decimal && !next.b.decimal;
        if (isFrac && fs.length === 0 && isIntLit(acc)) {
          acc = { k: "add", terms: [acc, next] };
          continue;
        }
        if (isFrac && fs.length === 0 && acc.k === "neg" && isIntLit(acc.a)) {
          acc = { k: "neg", a: { k: "add", terms: [acc.a, next] } };
          continue;
        }
        // a mixed-number percentage: 33\frac{1}{3}\% is (33 + 1/3)%
        const p = next.k === "pct" ? next.a : null;
        if (p && p.k === "div" && p.a.k === "num" && p.b.k === "num" && !p.a.decimal && !p.b.decimal && fs.length === 0 && isIntLit(acc)) {
          acc = { k: "pct", a: { k: "add", terms: [acc, p] } };
          continue;
        }
        fs.push(acc);
        acc = next;
      } else if (this.skipUnit()) {
        continue;
      } else break;
    }
    this.leave();
    return fs.length === 0 ? acc : { k: "mul", fs: [...fs, acc] };
  }

  /** Skips a unit word or \text{unit} (with an optional ^2 / ^{3}); returns whether it did. */
  private skipUnit(): boolean {
    const t = this.peek();
    if (!t) return false;
    const isUnit = (t.t === "text" && isUnitText(t.s)) || (t.t === "word" && UNITS.has(t.s.toLowerCase()));
    if (!isUnit) return false;
    this.pos++;
    if (this.isCh("^")) {
      this.pos++;
      this.parsePrimaryArg();
    }
    return true;
  }

  private startsPrimary(): boolean {
    const t = this.peek();
    if (!t) return false;
    switch (t.t) {
      case "num":
        return true;
      case "word":
        return !(t.s === "or" || t.s === "and" || t.s === "U") && !UNITS.has(t.s.toLowerCase());
      case "text": {
        const w = t.s.trim().toLowerCase();
        return !(w === "or" || w === "and" || w === "," || w === "" || isUnitText(t.s));
      }
      case "ch":
        return t.s === "(" || t.s === "[" || t.s === "{" || (t.s === "|" && this.absDepth === 0);
      case "cmd":
        return (
          ["frac", "sqrt", "pi", "infty", "{", "binom", "begin", "angle", "measuredangle", "langle", "lbrace", "lbrack", "lvert", "vert", "|", "lfloor", "lceil", "e", "emptyset", "varnothing", "overline", "mathbb", "vec", "hat", "bar", "tilde"].includes(t.s) ||
          GREEK.has(t.s) ||
          FUNCS.has(t.s)
        );
    }
  }

  private parseUnary(): Node {
    if (this.isCh("-")) {
      this.pos++;
      this.enter();
      const a = this.parseUnary();
      this.leave();
      return { k: "neg", a };
    }
    if (this.isCh("+")) {
      this.pos++;
      return this.parseUnary();
    }
    return this.parsePostfix();
  }

  private parsePostfix(): Node {
    this.enter();
    let a = this.parsePrimary();
    for (;;) {
      if (this.isCh("^")) {
        this.pos++;
        const b = this.parsePowerArg();
        a = { k: "pow", a, b };
      } else if (this.isCh("_") && a.k === "var") {
        this.pos++;
        const sub = this.parsePrimaryArg();
        a = { k: "var", name: `${a.name}_${showSub(sub)}` };
      } else if (this.isCh("!")) {
        if (this.isCh("=", 1)) break;
        this.pos++;
        a = { k: "fn", name: "fact", args: [a] };
      } else if (this.isCmd("%") || this.isPercentWord()) {
        this.pos++;
        a = { k: "pct", a };
      } else if (this.isCh("'")) {
        this.pos++;
        a = { k: "var", name: `${showSub(a)}'` };
      } else break;
    }
    this.leave();
    return a;
  }

  /** "50 percent", "50 \text{ percent}", "50 pct" */
  private isPercentWord(): boolean {
    const t = this.peek();
    if (!t || (t.t !== "word" && t.t !== "text")) return false;
    const w = t.s.trim().toLowerCase();
    return w === "percent" || w === "pct" || w === "percentage";
  }

  /** The argument of ^ : a braced group, or a single token (x^2, x^-1 tolerated, 2^\frac12). */
  private parsePowerArg(): Node {
    if (this.isCh("-")) {
      this.pos++;
      return { k: "neg", a: this.parsePrimaryArg() };
    }
    return this.parsePrimaryArg();
  }

  /**
   * A TeX macro argument: `{…}` or a single token. A multi-digit number as an unbraced argument
   * contributes only its first digit (`\frac12` is 1/2, `x^23` is x^2·3).
   */
  private parsePrimaryArg(): Node {
    const t = this.peek();
    if (!t) throw new ParseError("missing argument");
    if (t.t === "ch" && t.s === "{") return this.parsePrimary();
    if (t.t === "num" && t.s.length > 1) {
      const first = t.s[0] as string;
      const rest = t.s.slice(1);
      if (/^\d/.test(rest)) this.toks[this.pos] = { t: "num", s: rest };
      else if (rest === ".") this.pos++; // "\frac12." : a trailing period
      else throw new ParseError(`malformed argument '${t.s}'`);
      return numNode(first);
    }
    if (t.t === "word" && t.s.length > 1) {
      this.toks[this.pos] = { t: "word", s: t.s.slice(1) };
      return { k: "var", name: t.s[0] as string };
    }
    return this.parsePrimary();
  }

  private parseGroupBody(close: (t: Tok) => boolean): Node {
    this.enter();
    const n = this.parseList();
    const t = this.peek();
    if (!t || !close(t)) throw new ParseError("unbalanced group");
    this.pos++;
    this.leave();
    return n;
  }

  private parsePrimary(): Node {
    this.enter();
    const r = this.parsePrimaryInner();
    this.leave();
    return r;
  }

  private parsePrimaryInner(): Node {
    const t = this.peek();
    if (!t) throw new ParseError("unexpected end");
    this.pos++;
    switch (t.t) {
      case "num":
        return numNode(t.s);
      case "text":
        return textNode(t.s);
      case "word": {
        if (FUNCS.has(t.s)) return this.parseFunc(t.s);
        // plain-text spellings: 2pi, sqrt(2), inf
        if (t.s === "pi") return { k: "const", name: "pi" };
        if (t.s === "sqrt") return this.parseCommand("sqrt");
        if (t.s === "inf" || t.s === "infty" || t.s === "infinity") return { k: "const", name: "inf" };
        if (t.s.length === 1) return t.s === "e" ? { k: "const", name: "e" } : { k: "var", name: t.s };
        if (t.s.length >= 3) {
          // a run of letters next to a number or an operator is a product of variables (2xyz,
          // xyz+1); on its own it is a word ("odd", "Evelyn")
          if (t.s.length <= 8 && this.inMathContext()) {
            this.toks.splice(this.pos - 1, 1, ...[...t.s].map((c): Tok => ({ t: "word", s: c })));
            const c = t.s[0] as string;
            return c === "e" ? { k: "const", name: "e" } : { k: "var", name: c };
          }
          return { k: "text", s: t.s.toLowerCase() };
        }
        // two letters: an implicit product (xy); a power or subscript binds to the last letter only
        // (yx^2 is y·x², not (yx)²): hand the second letter back as the next factor
        const nx = this.peek();
        if (nx && nx.t === "ch" && (nx.s === "^" || nx.s === "_" || nx.s === "!")) {
          this.pos--;
          this.toks[this.pos] = { t: "word", s: t.s.slice(1) };
          const c = t.s[0] as string;
          return c === "e" ? { k: "const", name: "e" } : { k: "var", name: c };
        }
        return { k: "mul", fs: [...t.s].map((c) => (c === "e" ? { k: "const", name: "e" } : { k: "var", name: c }) as Node) };
      }
      case "ch":
        switch (t.s) {
          case "{": {
            if (this.isCh("}")) {
              this.pos++;
              return { k: "set", items: [] };
            }
            return this.parseGroupBody((x) => x.t === "ch" && x.s === "}");
          }
          case "(":
          case "[":
            return this.parseBracketed(t.s);
          case "|": {
            this.absDepth++;
            const inner = this.parseGroupBody((x) => x.t === "ch" && x.s === "|");
            this.absDepth--;
            return { k: "fn", name: "abs", args: [inner] };
          }
        }
        throw new ParseError(`unexpected '${t.s}'`);
      case "cmd":
        return this.parseCommand(t.s);
    }
  }

  /** ( … ) or [ … ] : grouping, tuple or interval; the closing bracket may differ from the opening. */
  private parseBracketed(open: string): Node {
    this.enter();
    const items: Node[] = [];
    if (this.isCh(")") || this.isCh("]")) {
      const close = (this.peek() as Tok).s;
      this.pos++;
      this.leave();
      return { k: "seq", open, close, items };
    }
    for (;;) {
      items.push(this.parseRel());
      if (this.isCh(",") || this.isCh(";")) {
        this.pos++;
        continue;
      }
      break;
    }
    const t = this.peek();
    if (!t || t.t !== "ch" || (t.s !== ")" && t.s !== "]")) throw new ParseError("unbalanced bracket");
    this.pos++;
    this.leave();
    if (items.length === 1 && ((open === "(" && t.s === ")") || (open === "[" && t.s === "]"))) return items[0] as Node;
    return { k: "seq", open, close: t.s, items };
  }

  private parseFunc(name: string): Node {
    let power: Node | null = null;
    let base: Node | null = null;
    for (let i = 0; i < 2; i++) {
      if (this.isCh("^")) {
        this.pos++;
        power = this.parsePowerArg();
      } else if (this.isCh("_")) {
        this.pos++;
        base = this.parsePrimaryArg();
      }
    }
    // \sin(x), \sin x, \sin 2x (argument = the following product of primaries, without + or -)
    let arg: Node;
    if (this.isCh("(")) arg = this.parsePrimary();
    else {
      const fs: Node[] = [this.parsePostfix()];
      while (this.startsPrimary() && !this.isFuncStart()) fs.push(this.parsePostfix());
      arg = fs.length === 1 ? (fs[0] as Node) : { k: "mul", fs };
    }
    const f: Node = { k: "fn", name: name === "lg" ? "log10" : name, args: base ? [arg, base] : [arg] };
    // \sin^{-1} x means arcsin; any other power applies to the value
    if (power && power.k === "neg" && power.a.k === "num" && Q.eq(power.a.v, Q.ONE) && ["sin", "cos", "tan"].includes(name)) {
      return { k: "fn", name: `arc${name}`, args: [arg] };
    }
    return power ? { k: "pow", a: f, b: power } : f;
  }
  private isFuncStart(): boolean {
    const t = this.peek();
    return t !== undefined && (t.t === "cmd" || t.t === "word") && FUNCS.has(t.s);
  }

  private parseCommand(name: string): Node {
    // \angle ABC names an angle (m\angle ABC = 40^\circ)
    if (name === "angle" || name === "measuredangle") {
      const t = this.peek();
      if (t && t.t === "word") {
        this.pos++;
        return { k: "var", name: `angle(${t.s})` };
      }
      throw new ParseError("\\angle without a name");
    }
    if (name === "frac") {
      const a = this.parsePrimaryArg();
      const b = this.parsePrimaryArg();
      return { k: "div", a, b };
    }
    if (name === "binom") {
      const a = this.parsePrimaryArg();
      const b = this.parsePrimaryArg();
      return { k: "fn", name: "binom", args: [a, b] };
    }
    if (name === "sqrt") {
      if (this.isCh("[")) {
        this.pos++;
        const idx = this.parseAdd();
        this.expectCh("]");
        const a = this.parsePrimaryArg();
        return { k: "fn", name: "root", args: [a, idx] };
      }
      return { k: "fn", name: "sqrt", args: [this.parsePrimaryArg()] };
    }
    if (name === "pi") return { k: "const", name: "pi" };
    if (name === "infty") return { k: "const", name: "inf" };
    if (name === "e") return { k: "const", name: "e" };
    if (name === "emptyset" || name === "varnothing") return { k: "set", items: [] };
    if (GREEK.has(name)) return { k: "var", name };
    if (FUNCS.has(name)) return this.parseFunc(name);
    if (name === "{" || name === "lbrace") {
      if (this.isCmd("}") || this.isCmd("rbrace")) {
        this.pos++;
        return { k: "set", items: [] };
      }
      const body = this.parseGroupBody((x) => x.t === "cmd" && (x.s === "}" || x.s === "rbrace"));
      return { k: "set", items: body.k === "list" ? body.items : [body] };
    }
    if (name === "langle") {
      const body = this.parseGroupBody((x) => x.t === "cmd" && x.s === "rangle");
      return { k: "seq", open: "(", close: ")", items: body.k === "list" ? body.items : [body] };
    }
    if (name === "lbrack") return this.parseBracketed("[");
    if (name === "lvert" || name === "vert" || name === "|") {
      const body = this.parseGroupBody((x) => x.t === "cmd" && (x.s === "rvert" || x.s === "vert" || x.s === "|"));
      return { k: "fn", name: "abs", args: [body] };
    }
    if (name === "lfloor" || name === "lceil") {
      const closer = name === "lfloor" ? "rfloor" : "rceil";
      const body = this.parseGroupBody((x) => x.t === "cmd" && x.s === closer);
      return { k: "fn", name: name === "lfloor" ? "floor" : "ceil", args: [body] };
    }
    if (name === "mathbb" && this.peek()?.t === "ch" && this.isCh("{") && this.peek(1)?.s === "R" && this.isCh("}", 2)) {
      this.pos += 3;
      return { k: "seq", open: "(", close: ")", items: [{ k: "neg", a: { k: "const", name: "inf" } }, { k: "const", name: "inf" }] };
    }
    if (name === "overline" || name === "vec" || name === "hat" || name === "bar" || name === "tilde" || name === "mathbb") {
      const a = this.parsePrimaryArg();
      return { k: "var", name: `${name}(${showSub(a)})` };
    }
    if (name === "begin") return this.parseEnv();
    throw new ParseError(`unsupported \\${name}`);
  }

  private envName(): string {
    this.expectCh("{");
    const t = this.peek();
    if (!t || t.t !== "word") throw new ParseError("bad environment");
    this.pos++;
    let name = t.s;
    if (this.isCh("*")) {
      this.pos++;
      name += "*";
    }
    this.expectCh("}");
    return name;
  }

  private parseEnv(): Node {
    const env = this.envName();
    if (!/^(?:[pbvBV]?matrix|array|smallmatrix)\*?$/.test(env)) throw new ParseError(`unsupported environment ${env}`);
    if (env.startsWith("array") && this.isCh("{")) {
      // column spec {cc|c}
      while (this.pos < this.toks.length && !this.isCh("}")) this.pos++;
      this.pos++;
    }
    const rows: Node[][] = [];
    let row: Node[] = [];
    this.enter();
    for (;;) {
      if (this.isCmd("end")) {
        this.pos++;
        this.envName();
        if (row.length) rows.push(row);
        break;
      }
      if (this.pos >= this.toks.length) throw new ParseError("unterminated environment");
      row.push(this.parseRel());
      if (this.isCh("&")) {
        this.pos++;
      } else if (this.isCmd("\\")) {
        this.pos++;
        rows.push(row);
        row = [];
      } else if (!this.isCmd("end")) throw new ParseError("bad matrix entry");
    }
    this.leave();
    if (rows.length === 0 || rows.some((r) => r.length !== (rows[0] as Node[]).length)) throw new ParseError("ragged matrix");
    return { k: "matrix", rows };
  }
}

function showSub(n: Node): string {
  if (n.k === "var") return n.name;
  if (n.k === "num") return Q.toString(n.v);
  if (n.k === "text") return n.s;
  return JSON.stringify(n).slice(0, 64);
}

function isInf(n: Node, negative: boolean): boolean {
  if (negative) return n.k === "neg" && n.a.k === "const" && n.a.name === "inf";
  return n.k === "const" && n.name === "inf";
}

/** A literal number (optionally negated), or null. */
function literal(n: Node): Q.Rat | null {
  if (n.k === "num") return n.v;
  if (n.k === "neg" && n.a.k === "num") return Q.neg(n.a.v);
  return null;
}

/** An interval end: a literal number or ±∞ (as a number), or null. */
function endpoint(n: Node): Q.Rat | "-inf" | "inf" | null {
  if (isInf(n, true)) return "-inf";
  if (isInf(n, false)) return "inf";
  return literal(n);
}

/** a < b for endpoints (∞ larger than everything). */
function below(a: Q.Rat | "-inf" | "inf", b: Q.Rat | "-inf" | "inf"): boolean {
  if (a === b) return false;
  if (a === "-inf" || b === "inf") return true;
  if (a === "inf" || b === "-inf") return false;
  return Q.cmp(a, b) < 0;
}

/**
 * A \setminus {p₁, …, pₙ} where A is an interval or a union of intervals with literal (or infinite)
 * ends and the p are literal numbers: the pieces with the points cut out. Anything else is unparsable.
 */
function realsMinus(a: Node, b: Node): Node {
  const pieces = a.k === "union" ? a.parts : [a];
  const pts = b.k === "set" ? b.items.map(literal) : [literal(b)];
  if (pieces.length > 16 || pts.length === 0 || pts.length > 16 || pts.some((p) => p === null)) throw new ParseError("unsupported \\setminus");
  const sorted = (pts as Q.Rat[]).slice().sort(Q.cmp);
  const num = (r: Q.Rat): Node => (Q.sign(r) < 0 ? { k: "neg", a: { k: "num", v: Q.neg(r), decimal: false } } : { k: "num", v: r, decimal: false });
  const parts: Node[] = [];
  for (const p of pieces) {
    if (p.k !== "seq" || p.items.length !== 2) throw new ParseError("unsupported \\setminus");
    const lo = endpoint(p.items[0] as Node);
    const hi = endpoint(p.items[1] as Node);
    if (lo === null || hi === null) throw new ParseError("unsupported \\setminus");
    let curLo: Node = p.items[0] as Node;
    let curOpen = p.open;
    let curLoVal = lo;
    let close = p.close;
    for (const q of sorted) {
      if (curLoVal !== "-inf" && curLoVal !== "inf" && Q.eq(curLoVal, q)) curOpen = "(";
      else if (hi !== "-inf" && hi !== "inf" && Q.eq(hi, q)) close = ")";
      else if (below(curLoVal, q) && below(q, hi)) {
        parts.push({ k: "seq", open: curOpen, close: ")", items: [curLo, num(q)] });
        curLo = num(q);
        curLoVal = q;
        curOpen = "(";
      }
    }
    parts.push({ k: "seq", open: curOpen, close, items: [curLo, p.items[1] as Node] });
  }
  return parts.length === 1 ? (parts[0] as Node) : { k: "union", parts };
}

function isIntLit(n: Node): boolean {
  return n.k === "num" && n.v.d === 1n && !n.decimal;
}

function numNode(s: string): Node {
  const m = /^(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m || !/[.eE]/.test(s)) return { k: "num", v: Q.fromDecimal(s), decimal: false };
  const places = (m[2] ?? "").length - Number(m[3] ?? 0);
  const sig = ((m[1] ?? "") + (m[2] ?? "")).replace(/^0+/, "").length;
  return { k: "num", v: Q.fromDecimal(s), decimal: true, places, sig };
}

/** \text{…} content: a multiple-choice letter "(A)" → A; digits → a number; other words → text. */
function textNode(raw: string): Node {
  const s = raw.trim();
  const mc = /^\(?([A-Za-z])\)?$/.exec(s);
  if (mc) return { k: "var", name: mc[1] as string };
  if (/^[+-]?\d+(\.\d+)?$/.test(s)) {
    const v = numNode(s.replace(/^[+-]/, ""));
    return s.startsWith("-") ? { k: "neg", a: v } : v;
  }
  const words = s.toLowerCase().replace(/\s+/g, " ").replace(/[.]$/, "");
  // the whole real line in words
  if (words === "all real numbers" || words === "all reals" || words === "all real x") {
    return { k: "seq", open: "(", close: ")", items: [{ k: "neg", a: { k: "const", name: "inf" } }, { k: "const", name: "inf" }] };
  }
  return { k: "text", s: words };
}

/** Parses an answer. Throws ParseError on anything outside the supported subset or over the bounds. */
export function parseLatex(src: string): Node {
  if (src.length > MAX_CHARS) throw new ParseError("answer too long");
  const s = normalize(src);
  if (s.length === 0) throw new ParseError("empty");
  // "1, 2, 3, …" goes on: not a finite answer
  if (/\.\.\.|…|\\(?:[lcv]?dots[cbmio]?)(?![a-zA-Z])/.test(s)) throw new ParseError("an ellipsis is not a finite answer");
  const toks = tokenize(s);
  if (toks.length > MAX_CHARS) throw new ParseError("too many tokens");
  // a single word ("No"; "yes", "Evelyn" are text anyway) is a text answer, not the product n·o;
  // other two-letter answers ("ab") stay products of variables
  const only = toks[0];
  if (toks.length === 1 && only !== undefined && only.t === "word" && only.s.toLowerCase() === "no") return { k: "text", s: "no" };
  try {
    return new Parser(toks).parseTop();
  } catch (e) {
    if (e instanceof RangeError && /call stack/i.test(e.message)) throw new ParseError("nesting too deep");
    if (e instanceof Q.Overflow) throw new ParseError("number too large");
    throw e;
  }
}
