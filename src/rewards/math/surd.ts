/**
 * Exact values of the form  Σ c_k · √r_k · π^p_k  (c_k rational, r_k square-free positive integer,
 * p_k integer): enough to compare `2\sqrt{2}` with `\sqrt{8}`, `\frac{1}{\sqrt2}` with
 * `\frac{\sqrt2}{2}`, `\frac{\pi}{6}·3` with `\frac{\pi}{2}` exactly. Anything outside this form
 * (nested radicals, cube roots of non-cubes, transcendental functions) throws `NotExact` and the
 * caller falls back to high-precision numeric comparison.
 *
 * The representation is canonical (terms keyed by (r, p), zero terms dropped), so two values are
 * equal iff their term maps are equal.
 */
import * as Q from "./rational.js";
import type { Rat } from "./rational.js";

export class NotExact extends Error {
  constructor(what: string) {
    super(`not exactly representable: ${what}`);
    this.name = "NotExact";
  }
}

/** Most terms a value may hold before we give up on exactness (keeps products bounded). */
const MAX_TERMS = 64;

export interface Term {
  c: Rat;
  r: bigint; // square-free radicand ≥ 1
  p: number; // power of π
}

/** key "r|p" → term */
export type Surd = ReadonlyMap<string, Term>;

const key = (r: bigint, p: number): string => `${r}|${p}`;

export function fromRat(c: Rat): Surd {
  return Q.isZero(c) ? new Map() : new Map([[key(1n, 0), { c, r: 1n, p: 0 }]]);
}

export const PI: Surd = new Map([[key(1n, 1), { c: Q.ONE, r: 1n, p: 1 }]]);

function addTerm(m: Map<string, Term>, t: Term): void {
  const k = key(t.r, t.p);
  const old = m.get(k);
  const c = old ? Q.add(old.c, t.c) : t.c;
  if (Q.isZero(c)) m.delete(k);
  else m.set(k, { c, r: t.r, p: t.p });
  if (m.size > MAX_TERMS) throw new NotExact("too many terms");
}

export function add(a: Surd, b: Surd): Surd {
  const m = new Map(a);
  for (const t of b.values()) addTerm(m, t);
  return m;
}

export function neg(a: Surd): Surd {
  const m = new Map<string, Term>();
  for (const [k, t] of a) m.set(k, { c: Q.neg(t.c), r: t.r, p: t.p });
  return m;
}

function mulTerm(a: Term, b: Term): Term {
  // √r1·√r2 = g·√(r1 r2 / g²) with g = gcd(r1, r2) (both square-free)
  const g = Q.gcd(a.r, b.r);
  const r = (a.r / g) * (b.r / g);
  const p = a.p + b.p;
  if (Math.abs(p) > 64) throw new NotExact("power of pi too large");
  return { c: Q.mul(Q.mul(a.c, b.c), Q.rat(g)), r, p };
}

export function mul(a: Surd, b: Surd): Surd {
  if (a.size * b.size > MAX_TERMS * 4) throw new NotExact("product too large");
  const m = new Map<string, Term>();
  for (const x of a.values()) for (const y of b.values()) addTerm(m, mulTerm(x, y));
  return m;
}

export function isZero(a: Surd): boolean {
  return a.size === 0;
}

/** The rational value if `a` is rational, else null. */
export function asRat(a: Surd): Rat | null {
  if (a.size === 0) return Q.ZERO;
  if (a.size !== 1) return null;
  const t = a.values().next().value as Term;
  return t.r === 1n && t.p === 0 ? t.c : null;
}

function invTerm(t: Term): Surd {
  // 1/(c √r π^p) = (1/(c r)) √r π^-p
  return new Map([[key(t.r, -t.p), { c: Q.div(Q.ONE, Q.mul(t.c, Q.rat(t.r))), r: t.r, p: -t.p }]]);
}

/**
 * 1/a. Single terms invert directly; a sum of terms is rationalised by repeatedly multiplying by
 * conjugates (flip the sign of every term containing one chosen radical factor q): that removes q
 * from the denominator, and at most a few rounds leave one term. Bounded by MAX_TERMS.
 */
export function inv(a: Surd): Surd {
  if (a.size === 0) throw new RangeError("division by zero");
  let den: Surd = a;
  let num: Surd = fromRat(Q.ONE);
  for (let round = 0; round < 8; round++) {
    if (den.size === 1) return mul(num, invTerm(den.values().next().value as Term));
    // π powers differing across terms: cannot rationalise exactly (transcendental).
    const ps = new Set([...den.values()].map((t) => t.p));
    if (ps.size > 1) throw new NotExact("sum with different powers of pi in a denominator");
    const q = pickPrime([...den.values()].map((t) => t.r));
    if (q === null) throw new NotExact("cannot rationalise");
    const conj = new Map<string, Term>();
    for (const [k, t] of den) conj.set(k, t.r % q === 0n ? { c: Q.neg(t.c), r: t.r, p: t.p } : t);
    num = mul(num, conj);
    den = mul(den, conj);
    if (den.size === 0) throw new RangeError("division by zero");
  }
  throw new NotExact("denominator too complex");
}

/** A prime factor of one of the radicands (smallest found by trial division), or null if all are 1. */
function pickPrime(rs: bigint[]): bigint | null {
  for (const r of rs) {
    if (r === 1n) continue;
    for (let p = 2n; p * p <= r && p < 100000n; p++) if (r % p === 0n) return p;
    return r; // r itself is prime (square-free, no small factor) or too large to factor; r works as a "prime" for conjugation when it is one
  }
  return null;
}

export function div(a: Surd, b: Surd): Surd {
  const rb = asRat(b);
  if (rb !== null) {
    if (Q.isZero(rb)) throw new RangeError("division by zero");
    return mul(a, fromRat(Q.div(Q.ONE, rb)));
  }
  return mul(a, inv(b));
}

/** √a for a rational a ≥ 0 (or a single term c·π^(2k)); anything else is NotExact. */
export function sqrt(a: Surd): Surd {
  if (a.size === 0) return a;
  if (a.size !== 1) throw new NotExact("square root of a sum");
  const t = a.values().next().value as Term;
  if (t.r !== 1n || t.p % 2 !== 0 || Q.sign(t.c) < 0) throw new NotExact("square root of a non-rational");
  // √(n/d) = √(n d) / d
  const { s, r } = Q.squareFree(t.c.n * t.c.d);
  return new Map([[key(r, t.p / 2), { c: Q.rat(s, t.c.d), r, p: t.p / 2 }]]);
}

/** k-th root (k ≥ 3) of a rational perfect power; else NotExact. */
export function root(a: Surd, k: number): Surd {
  if (k === 2) return sqrt(a);
  const c = asRat(a);
  if (c === null) throw new NotExact("root of a non-rational");
  const negative = Q.sign(c) < 0;
  if (negative && k % 2 === 0) throw new NotExact("even root of a negative");
  const n = Q.exactRoot(negative ? -c.n : c.n, k);
  const d = Q.exactRoot(c.d, k);
  if (n === null || d === null) throw new NotExact("root of a non-perfect power");
  return fromRat(Q.rat(negative ? -n : n, d));
}

/** a^e for a rational exponent e. Integer e by repeated squaring; e = m/k via root then power. */
export function pow(a: Surd, e: Rat): Surd {
  if (e.d === 1n) {
    let k = e.n;
    if (k < 0n) {
      a = inv(a);
      k = -k;
    }
    const ra = asRat(a);
    if (ra !== null) return fromRat(Q.powInt(ra, k));
    if (k > 64n) throw new NotExact("large power of an irrational");
    let out: Surd = fromRat(Q.ONE);
    let base = a;
    while (k > 0n) {
      if (k & 1n) out = mul(out, base);
      k >>= 1n;
      if (k > 0n) base = mul(base, base);
    }
    return out;
  }
  if (e.d > 64n) throw new NotExact("root degree too large");
  return pow(root(a, Number(e.d)), Q.rat(e.n));
}

export function equal(a: Surd, b: Surd): boolean {
  if (a.size !== b.size) return false;
  for (const [k, t] of a) {
    const u = b.get(k);
    if (!u || !Q.eq(t.c, u.c)) return false;
  }
  return true;
}

export function toNumber(a: Surd): number {
  let s = 0;
  for (const t of a.values()) s += Q.toNumber(t.c) * Math.sqrt(Number(t.r)) * Math.pow(Math.PI, t.p);
  return s;
}
