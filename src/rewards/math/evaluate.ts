/**
 * Evaluating a scalar Node: exactly (as a Surd, with variables bound to rationals) or, when that is
 * impossible, in double precision (variables bound to the same values). Both check a time budget.
 */
import type { Node } from "./ast.js";
import * as Q from "./rational.js";
import * as S from "./surd.js";
import type { Surd } from "./surd.js";

/** Thrown when a verification runs past its time budget. */
export class BudgetExceeded extends Error {
  constructor() {
    super("time budget exceeded");
    this.name = "BudgetExceeded";
  }
}

/** Deadline checker: cheap to call in loops (reads the clock every 64 ticks). */
export class Budget {
  private ticks = 0;
  constructor(readonly deadline: number) {}
  static ms(ms: number): Budget {
    return new Budget(performance.now() + ms);
  }
  tick(): void {
    if ((++this.ticks & 15) === 0 && performance.now() > this.deadline) throw new BudgetExceeded();
  }
  check(): void {
    if (performance.now() > this.deadline) throw new BudgetExceeded();
  }
}

export type Env = ReadonlyMap<string, Q.Rat>;

/** Not a scalar (a tuple, a set, a relation…): cannot be evaluated to one number. */
export class NotScalar extends Error {
  constructor(k: string) {
    super(`not a scalar: ${k}`);
    this.name = "NotScalar";
  }
}

export function evalExact(n: Node, env: Env, b: Budget): Surd {
  b.tick();
  switch (n.k) {
    case "num":
      return S.fromRat(n.v);
    case "var": {
      const v = env.get(n.name);
      if (!v) throw new S.NotExact(`unbound ${n.name}`);
      return S.fromRat(v);
    }
    case "const":
      if (n.name === "pi") return S.PI;
      throw new S.NotExact(n.name);
    case "add": {
      let acc: Surd = S.fromRat(Q.ZERO);
      for (const t of n.terms) acc = S.add(acc, evalExact(t, env, b));
      return acc;
    }
    case "neg":
      return S.neg(evalExact(n.a, env, b));
    case "mul": {
      let acc: Surd = S.fromRat(Q.ONE);
      for (const f of n.fs) acc = S.mul(acc, evalExact(f, env, b));
      return acc;
    }
    case "div":
      return S.div(evalExact(n.a, env, b), evalExact(n.b, env, b));
    case "pow": {
      const base = evalExact(n.a, env, b);
      const e = S.asRat(evalExact(n.b, env, b));
      if (e === null) throw new S.NotExact("irrational exponent");
      return S.pow(base, e);
    }
    case "pct":
      return S.mul(evalExact(n.a, env, b), S.fromRat(Q.rat(1n, 100n)));
    case "fn":
      return evalFnExact(n.name, n.args.map((a) => evalExact(a, env, b)));
    default:
      throw new NotScalar(n.k);
  }
}

function evalFnExact(name: string, args: Surd[]): Surd {
  const a = args[0] as Surd;
  switch (name) {
    case "sqrt":
      return S.sqrt(a);
    case "root": {
      const k = S.asRat(args[1] as Surd);
      if (!k || k.d !== 1n || k.n < 2n || k.n > 64n) throw new S.NotExact("root index");
      return S.root(a, Number(k.n));
    }
    case "abs": {
      const r = S.asRat(a);
      if (r !== null) return S.fromRat(Q.sign(r) < 0 ? Q.neg(r) : r);
      const v = S.toNumber(a);
      if (!Number.isFinite(v) || Math.abs(v) < 1e-9) throw new S.NotExact("abs of a small irrational");
      return v < 0 ? S.neg(a) : a;
    }
    case "fact": {
      const r = S.asRat(a);
      if (!r || r.d !== 1n || r.n < 0n) throw new S.NotExact("factorial of a non-natural");
      if (r.n > 500n) throw new Q.Overflow("factorial too large");
      let f = 1n;
      for (let i = 2n; i <= r.n; i++) f *= i;
      return S.fromRat(Q.rat(f));
    }
    case "binom": {
      const n = S.asRat(a);
      const k = S.asRat(args[1] as Surd);
      if (!n || !k || n.d !== 1n || k.d !== 1n || k.n < 0n) throw new S.NotExact("binomial");
      if (k.n > 2000n) throw new Q.Overflow("binomial too large");
      let num: Q.Rat = Q.ONE;
      for (let i = 0n; i < k.n; i++) num = Q.div(Q.mul(num, Q.sub(n, Q.rat(i))), Q.rat(i + 1n));
      return S.fromRat(num);
    }
    case "floor":
    case "ceil": {
      const r = S.asRat(a);
      if (!r) throw new S.NotExact(name);
      let q = r.n / r.d;
      if (r.n < 0n && q * r.d !== r.n) q -= 1n; // BigInt division truncates
      if (name === "ceil" && q * r.d !== r.n) q += 1n;
      return S.fromRat(Q.rat(q));
    }
    default:
      throw new S.NotExact(name);
  }
}

export function evalFloat(n: Node, env: ReadonlyMap<string, number>, b: Budget): number {
  b.tick();
  switch (n.k) {
    case "num":
      return Q.toNumber(n.v);
    case "var": {
      const v = env.get(n.name);
      return v === undefined ? NaN : v;
    }
    case "const":
      return n.name === "pi" ? Math.PI : n.name === "e" ? Math.E : Infinity;
    case "add": {
      let s = 0;
      for (const t of n.terms) s += evalFloat(t, env, b);
      return s;
    }
    case "neg":
      return -evalFloat(n.a, env, b);
    case "mul": {
      let p = 1;
      for (const f of n.fs) p *= evalFloat(f, env, b);
      return p;
    }
    case "div":
      return fdiv(evalFloat(n.a, env, b), evalFloat(n.b, env, b));
    case "pow": {
      const x = evalFloat(n.a, env, b);
      const e = evalFloat(n.b, env, b);
      // undefined stays undefined: Math.pow(NaN, 0) and Math.pow(±∞, 0) are 1 in JS, 0^(−1) is ∞
      if (Number.isNaN(x) || Number.isNaN(e) || (e === 0 && !Number.isFinite(x)) || (x === 0 && e < 0)) return NaN;
      // real powers of negatives with an odd-denominator exponent: (-8)^(1/3) = -2, (-8)^(2/3) = 4
      if (x < 0 && !Number.isInteger(e)) {
        for (const d of [3, 5, 7, 9, 11]) {
          const m = Math.round(e * d);
          if (Math.abs(e * d - m) < 1e-9) return (m % 2 === 0 ? 1 : -1) * Math.pow(-x, e);
        }
      }
      return Math.pow(x, e);
    }
    case "pct":
      return evalFloat(n.a, env, b) / 100;
    case "fn": {
      const args = n.args.map((a) => evalFloat(a, env, b));
      return evalFnFloat(n.name, args);
    }
    default:
      throw new NotScalar(n.k);
  }
}

/** x/0 is undefined (NaN), never ±∞: a division by zero must not become a value (1/(1/0) = 0, (1/0)^0 = 1). */
const fdiv = (x: number, y: number): number => (y === 0 ? NaN : x / y);

const FLOAT_FNS: Record<string, (x: number, y?: number) => number> = {
  sqrt: Math.sqrt,
  root: (x, k = 2) => (x < 0 && k % 2 === 1 ? -Math.pow(-x, 1 / k) : Math.pow(x, 1 / k)),
  abs: Math.abs,
  sin: Math.sin,
  cos: Math.cos,
  tan: Math.tan,
  cot: (x) => fdiv(1, Math.tan(x)),
  sec: (x) => fdiv(1, Math.cos(x)),
  csc: (x) => fdiv(1, Math.sin(x)),
  arcsin: Math.asin,
  arccos: Math.acos,
  arctan: Math.atan,
  sinh: Math.sinh,
  cosh: Math.cosh,
  tanh: Math.tanh,
  ln: Math.log,
  exp: Math.exp,
  log10: Math.log10,
  log: (x, base) => (base === undefined ? Math.log(x) : fdiv(Math.log(x), Math.log(base))),
  floor: Math.floor,
  ceil: Math.ceil,
  fact: (x) => (Number.isInteger(x) && x >= 0 && x <= 170 ? factorial(x) : NaN),
  binom: (n, k = 0) => (Number.isInteger(k) && k >= 0 && k <= 1000 ? binomial(n, k) : NaN),
};

function factorial(x: number): number {
  let f = 1;
  for (let i = 2; i <= x; i++) f *= i;
  return f;
}
function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 0; i < k; i++) r = (r * (n - i)) / (i + 1);
  return r;
}

function evalFnFloat(name: string, args: number[]): number {
  const f = FLOAT_FNS[name];
  if (!f) return NaN;
  return f(args[0] as number, args[1]);
}

/** Free variable names of a node. */
export function freeVars(n: Node, out: Set<string> = new Set()): Set<string> {
  switch (n.k) {
    case "var":
      out.add(n.name);
      break;
    case "add":
      n.terms.forEach((t) => freeVars(t, out));
      break;
    case "mul":
      n.fs.forEach((t) => freeVars(t, out));
      break;
    case "neg":
    case "pct":
      freeVars(n.a, out);
      break;
    case "div":
    case "pow":
    case "pm":
      freeVars(n.a, out);
      freeVars(n.b, out);
      break;
    case "fn":
      n.args.forEach((t) => freeVars(t, out));
      break;
    case "seq":
    case "set":
    case "list":
      n.items.forEach((t) => freeVars(t, out));
      break;
    case "rel":
    case "union":
      n.parts.forEach((t) => freeVars(t, out));
      break;
    case "matrix":
      n.rows.forEach((r) => r.forEach((t) => freeVars(t, out)));
      break;
    default:
      break;
  }
  return out;
}
