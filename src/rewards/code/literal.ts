/**
 * A bounded parser for Python literals and JSON (one grammar accepting both), used to compare program
 * outputs and predictions structurally: `[1, 2.0, 'a']` equals `[1,2,"a"]`. Never evaluates anything.
 *
 * Accepted: None/True/False and null/true/false; ints (underscores, 0x/0o/0b, any size up to
 * MAX_INT_DIGITS), floats (incl. inf/nan/Infinity/NaN); strings with ' " ''' """ and r/b/u prefixes,
 * Python and JSON escapes, adjacent-string concatenation; lists, tuples, dicts, sets, `set()`; unary
 * + and -. Bounds: MAX_LITERAL_CHARS of input, MAX_DEPTH of nesting.
 */

export const MAX_LITERAL_CHARS = 100_000;
export const MAX_DEPTH = 64;
/** Python's own default limit for int ↔ str conversion. */
export const MAX_INT_DIGITS = 4300;

export type PyValue =
  | { k: "none" }
  | { k: "bool"; v: boolean }
  | { k: "int"; v: bigint }
  | { k: "float"; v: number }
  | { k: "str"; v: string }
  | { k: "bytes"; v: string }
  | { k: "list"; v: PyValue[] }
  | { k: "tuple"; v: PyValue[] }
  | { k: "set"; v: PyValue[] }
  | { k: "dict"; v: [PyValue, PyValue][] };

class ParseError extends Error {}

const NAMES: Record<string, PyValue> = {
  None: { k: "none" },
  null: { k: "none" },
  True: { k: "bool", v: true },
  true: { k: "bool", v: true },
  False: { k: "bool", v: false },
  false: { k: "bool", v: false },
  inf: { k: "float", v: Infinity },
  Infinity: { k: "float", v: Infinity },
  nan: { k: "float", v: NaN },
  NaN: { k: "float", v: NaN },
};

const SIMPLE_ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", "'": "'", '"': '"', "/": "/", b: "\b", f: "\f", v: "\v", a: "\x07", "0": "\0" };

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  parseAll(): PyValue {
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) throw new ParseError(`unexpected ${JSON.stringify(this.s[this.i])} at ${this.i}`);
    return v;
  }

  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }

  private peek(): string {
    this.ws();
    return this.s[this.i] ?? "";
  }

  private expect(ch: string): void {
    if (this.peek() !== ch) throw new ParseError(`expected '${ch}' at ${this.i}`);
    this.i++;
  }

  private value(depth: number): PyValue {
    if (depth > MAX_DEPTH) throw new ParseError("nested too deeply");
    const c = this.peek();
    if (c === "[") return { k: "list", v: this.items("[", "]", depth) };
    if (c === "(") {
      const start = this.i;
      this.i++;
      if (this.peek() === ")") {
        this.i++;
        return { k: "tuple", v: [] };
      }
      const first = this.value(depth + 1);
      if (this.peek() === ")") {
        this.i++;
        return first; // parenthesised value, not a tuple
      }
      this.i = start;
      return { k: "tuple", v: this.items("(", ")", depth) };
    }
    if (c === "{") return this.braces(depth);
    if (c === "-" || c === "+") {
      this.i++;
      const v = this.value(depth + 1);
      if (v.k === "int") return { k: "int", v: c === "-" ? -v.v : v.v };
      if (v.k === "float") return { k: "float", v: c === "-" ? -v.v : v.v };
      throw new ParseError("sign before a non-number");
    }
    if (/[0-9.]/.test(c)) return this.number();
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.s.slice(this.i, this.i + 16))!;
      const word = m[0];
      const next = this.s[this.i + word.length];
      if ((next === "'" || next === '"') && /^(r|u|b|br|rb)$/i.test(word)) return this.strings();
      this.i += word.length;
      if (word === "set" && this.s.startsWith("()", this.i)) {
        this.i += 2;
        return { k: "set", v: [] };
      }
      const v = NAMES[word];
      if (!v) throw new ParseError(`unknown name ${word}`);
      return v;
    }
    if (c === "'" || c === '"') return this.strings();
    throw new ParseError(c === "" ? "unexpected end" : `unexpected ${JSON.stringify(c)} at ${this.i}`);
  }

  private items(open: string, close: string, depth: number): PyValue[] {
    this.expect(open);
    const out: PyValue[] = [];
    while (this.peek() !== close) {
      out.push(this.value(depth + 1));
      if (this.peek() === ",") this.i++;
      else if (this.peek() !== close) throw new ParseError(`expected ',' or '${close}' at ${this.i}`);
    }
    this.i++;
    return out;
  }

  private braces(depth: number): PyValue {
    this.expect("{");
    if (this.peek() === "}") {
      this.i++;
      return { k: "dict", v: [] };
    }
    const first = this.value(depth + 1);
    if (this.peek() === ":") {
      const entries: [PyValue, PyValue][] = [];
      let key: PyValue | null = first;
      for (;;) {
        if (key === null) key = this.value(depth + 1);
        this.expect(":");
        entries.push([key, this.value(depth + 1)]);
        key = null;
        if (this.peek() === ",") this.i++;
        if (this.peek() === "}") break;
      }
      this.i++;
      return { k: "dict", v: entries };
    }
    const items = [first];
    for (;;) {
      if (this.peek() === ",") this.i++;
      else if (this.peek() !== "}") throw new ParseError(`expected ',' or '}' at ${this.i}`);
      if (this.peek() === "}") break;
      items.push(this.value(depth + 1));
    }
    this.i++;
    return { k: "set", v: items };
  }

  private number(): PyValue {
    const rest = this.s.slice(this.i, this.i + MAX_INT_DIGITS + 64);
    const radix = /^0([xXoObB])[0-9a-fA-F_]+/.exec(rest);
    if (radix) {
      this.i += radix[0].length;
      const body = radix[0].slice(2).replace(/_/g, "");
      const p = radix[1]!.toLowerCase();
      const re = p === "x" ? /^[0-9a-f]+$/i : p === "o" ? /^[0-7]+$/ : /^[01]+$/;
      if (!re.test(body)) throw new ParseError("bad digits");
      return { k: "int", v: BigInt(`0${p}${body}`) };
    }
    const m = /^(?:\d[\d_]*)?(?:\.[\d_]*)?(?:[eE][+-]?\d+)?/.exec(rest)!;
    const text = m[0];
    if (text === "" || text === ".") throw new ParseError(`bad number at ${this.i}`);
    this.i += text.length;
    if (/[jJ]/.test(this.s[this.i] ?? "")) throw new ParseError("complex numbers are not supported");
    const clean = text.replace(/_/g, "");
    if (/^\d+$/.test(clean)) {
      if (clean.length > MAX_INT_DIGITS) throw new ParseError("integer too long");
      return { k: "int", v: BigInt(clean) };
    }
    const v = Number(clean);
    if (Number.isNaN(v)) throw new ParseError(`bad number ${text}`);
    return { k: "float", v };
  }

  /** One or more adjacent string literals, concatenated (all str or all bytes). */
  private strings(): PyValue {
    let out = "";
    let kind: "str" | "bytes" | null = null;
    for (;;) {
      this.ws();
      const m = /^([rRuUbB]{0,2})(['"])/.exec(this.s.slice(this.i, this.i + 3));
      if (!m) break;
      const prefix = m[1]!.toLowerCase();
      const k = prefix.includes("b") ? "bytes" : "str";
      if (kind !== null && kind !== k) throw new ParseError("cannot mix bytes and str");
      kind = k;
      this.i += prefix.length;
      out += this.string(prefix.includes("r"));
    }
    if (kind === null) throw new ParseError(`expected a string at ${this.i}`);
    return { k: kind, v: out };
  }

  private string(raw: boolean): string {
    const q = this.s[this.i]!;
    const triple = this.s.startsWith(q.repeat(3), this.i);
    const end = triple ? q.repeat(3) : q;
    this.i += end.length;
    let out = "";
    for (;;) {
      if (this.i >= this.s.length) throw new ParseError("unterminated string");
      if (this.s.startsWith(end, this.i)) {
        this.i += end.length;
        return out;
      }
      const c = this.s[this.i]!;
      if (c === "\n" && !triple) throw new ParseError("newline in string");
      if (c !== "\\") {
        out += c;
        this.i++;
        continue;
      }
      const e = this.s[this.i + 1] ?? "";
      if (raw) {
        out += c + e; // a raw string keeps the backslash (and the escaped quote)
        this.i += 2;
        continue;
      }
      this.i += 2;
      if (e === "\n") continue;
      if (e === "N") throw new ParseError("named escapes (\\N{…}) are not supported");
      if (e in SIMPLE_ESCAPES && !(e === "0" && /[0-7]/.test(this.s[this.i] ?? ""))) {
        out += SIMPLE_ESCAPES[e];
        continue;
      }
      const hex = e === "x" ? 2 : e === "u" ? 4 : e === "U" ? 8 : 0;
      if (hex > 0) {
        const h = this.s.slice(this.i, this.i + hex);
        if (!new RegExp(`^[0-9a-fA-F]{${hex}}$`).test(h)) throw new ParseError("bad \\x/\\u escape");
        const cp = parseInt(h, 16);
        if (cp > 0x10ffff) throw new ParseError("code point out of range");
        out += String.fromCodePoint(cp);
        this.i += hex;
        continue;
      }
      const oct = /^[0-7]{1,3}/.exec(e + this.s.slice(this.i, this.i + 2));
      if (oct) {
        out += String.fromCharCode(parseInt(oct[0], 8));
        this.i += oct[0].length - 1;
        continue;
      }
      out += "\\" + e; // Python keeps unknown escapes as they are
    }
  }
}

/** Parses a Python/JSON literal; null when the text is not one (or is beyond the bounds). */
export function parseLiteral(text: string): PyValue | null {
  if (text.length > MAX_LITERAL_CHARS) return null;
  try {
    return new Parser(text.trim()).parseAll();
  } catch (e) {
    if (e instanceof ParseError || e instanceof SyntaxError || e instanceof RangeError) return null;
    throw e;
  }
}

/** Converts a JSON value (as read from a JSONL record) into a PyValue. */
export function fromJson(x: unknown, depth = 0): PyValue {
  if (depth > MAX_DEPTH) throw new RangeError("nested too deeply");
  if (x === null || x === undefined) return { k: "none" };
  if (typeof x === "boolean") return { k: "bool", v: x };
  if (typeof x === "number") return Number.isInteger(x) ? { k: "int", v: BigInt(x) } : { k: "float", v: x };
  if (typeof x === "string") return { k: "str", v: x };
  if (Array.isArray(x)) return { k: "list", v: x.map((e) => fromJson(e, depth + 1)) };
  return { k: "dict", v: Object.entries(x as Record<string, unknown>).map(([k, v]) => [{ k: "str", v: k }, fromJson(v, depth + 1)]) };
}

/** Exact canonical text, used as the identity of dict keys and set members. Lists ≡ tuples. */
export function canonical(v: PyValue): string {
  switch (v.k) {
    case "none":
      return "None";
    case "bool":
      return v.v ? "True" : "False";
    case "int":
      return v.v.toString();
    case "float":
      return Number.isInteger(v.v) && Math.abs(v.v) < 2 ** 53 ? String(v.v) : `f${v.v}`;
    case "str":
      return JSON.stringify(v.v);
    case "bytes":
      return "b" + JSON.stringify(v.v);
    case "list":
    case "tuple":
      return `[${v.v.map(canonical).join(",")}]`;
    case "set":
      return `{${v.v.map(canonical).sort().join(",")}}`;
    case "dict":
      return `{${v.v.map(([k, x]) => `${canonical(k)}:${canonical(x)}`).sort().join(",")}}`;
  }
}

export interface LiteralCompareOptions {
  /** Relative tolerance for floats (and int vs float); Python's repr round-trips, models round. */
  relTol?: number;
}

function num(v: PyValue): number | null {
  if (v.k === "int") return Number(v.v);
  if (v.k === "float") return v.v;
  return null;
}

/**
 * Structural equality, Python-like with two deliberate choices: lists equal tuples (JSON has no tuples),
 * and booleans do not equal 1/0 (a prediction of `1` for `True` is wrong). Floats compare with relTol.
 */
export function literalEqual(a: PyValue, b: PyValue, opts: LiteralCompareOptions = {}): boolean {
  const relTol = opts.relTol ?? 1e-9;
  const na = num(a);
  const nb = num(b);
  if (na !== null && nb !== null) {
    if (a.k === "int" && b.k === "int") return a.v === b.v;
    if (Number.isNaN(na) || Number.isNaN(nb)) return Number.isNaN(na) && Number.isNaN(nb);
    if (na === nb) return true;
    return Math.abs(na - nb) <= relTol * Math.max(Math.abs(na), Math.abs(nb));
  }
  const seq = (v: PyValue): PyValue[] | null => (v.k === "list" || v.k === "tuple" ? v.v : null);
  const sa = seq(a);
  const sb = seq(b);
  if (sa && sb) return sa.length === sb.length && sa.every((x, i) => literalEqual(x, sb[i]!, opts));
  if (a.k !== b.k) return false;
  switch (a.k) {
    case "none":
      return true;
    case "bool":
    case "str":
    case "bytes":
      return a.v === (b as typeof a).v;
    case "set":
      return canonical(a) === canonical(b);
    case "dict": {
      const bv = (b as typeof a).v;
      if (a.v.length !== bv.length) return false;
      const m = new Map(bv.map(([k, x]) => [canonical(k), x]));
      return a.v.every(([k, x]) => {
        const y = m.get(canonical(k));
        return y !== undefined && literalEqual(x, y, opts);
      });
    }
    default:
      return false;
  }
}
