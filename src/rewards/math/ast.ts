/** The structure a LaTeX answer parses into (src/rewards/math/parse.ts builds it). */
import type { Rat } from "./rational.js";

export type Node =
  | { k: "num"; v: Rat; decimal: boolean; places?: number; sig?: number } // decimal: written with a decimal point (an approximation may be meant); places/sig: decimal places and significant digits of such a literal
  | { k: "var"; name: string }
  | { k: "const"; name: "pi" | "e" | "inf" }
  | { k: "add"; terms: Node[] }
  | { k: "neg"; a: Node }
  | { k: "mul"; fs: Node[] }
  | { k: "div"; a: Node; b: Node }
  | { k: "pow"; a: Node; b: Node }
  | { k: "fn"; name: string; args: Node[] } // sqrt, root, sin, …, abs, fact, binom, log (args[1] = base)
  | { k: "pct"; a: Node } // 20\%
  | { k: "pm"; a: Node; b: Node } // a ± b
  | { k: "seq"; open: string; close: string; items: Node[] } // (a,b)  [a,b)  \langle a,b \rangle
  | { k: "set"; items: Node[] } // \{a, b\}
  | { k: "matrix"; rows: Node[][] }
  | { k: "rel"; ops: string[]; parts: Node[] } // a = b,  a < x \le b,  x \in [0,1]
  | { k: "list"; items: Node[]; and?: true } // top-level "1, 2" or "1 \text{ or } 2"; and: joined by "and" (for inequalities: an intersection)
  | { k: "union"; parts: Node[] } // A \cup B
  | { k: "text"; s: string };

/** A canonical string for a node (used for structural comparison when values cannot be computed). */
export function show(n: Node): string {
  switch (n.k) {
    case "num":
      return n.v.d === 1n ? `${n.v.n}` : `${n.v.n}/${n.v.d}`;
    case "var":
      return n.name;
    case "const":
      return `\\${n.name}`;
    case "add":
      return `(${n.terms.map(show).join("+")})`;
    case "neg":
      return `-${show(n.a)}`;
    case "mul":
      return `(${n.fs.map(show).join("*")})`;
    case "div":
      return `(${show(n.a)}/${show(n.b)})`;
    case "pow":
      return `(${show(n.a)}^${show(n.b)})`;
    case "fn":
      return `${n.name}(${n.args.map(show).join(",")})`;
    case "pct":
      return `${show(n.a)}%`;
    case "pm":
      return `(${show(n.a)}±${show(n.b)})`;
    case "seq":
      return `${n.open}${n.items.map(show).join(",")}${n.close}`;
    case "set":
      return `{${n.items.map(show).join(",")}}`;
    case "matrix":
      return `[${n.rows.map((r) => r.map(show).join("&")).join(";")}]`;
    case "rel":
      return n.parts.map((p, i) => (i === 0 ? show(p) : `${n.ops[i - 1]}${show(p)}`)).join("");
    case "list":
      return n.items.map(show).join(",");
    case "union":
      return n.parts.map(show).join("∪");
    case "text":
      return JSON.stringify(n.s);
  }
}
