/**
 * Exact rational arithmetic on BigInt, with a size cap: every result whose numerator or denominator
 * would exceed MAX_BITS throws `Overflow`, so `9^{9^{9^9}}` is never computed (callers fall back to
 * a structural comparison). Values are always reduced, denominator > 0.
 */

/** Largest numerator/denominator size we compute exactly (bits). 2^4096 is far beyond any answer. */
export const MAX_BITS = 4096;

/** Thrown when an exact computation would exceed MAX_BITS (or is otherwise too large to do exactly). */
export class Overflow extends Error {
  constructor(what: string) {
    super(`exact arithmetic overflow: ${what}`);
    this.name = "Overflow";
  }
}

export interface Rat {
  readonly n: bigint; // numerator, any sign
  readonly d: bigint; // denominator, > 0
}

const LIMIT = 1n << BigInt(MAX_BITS);

function abs(a: bigint): bigint {
  return a < 0n ? -a : a;
}

export function gcd(a: bigint, b: bigint): bigint {
  a = abs(a);
  b = abs(b);
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function check(x: bigint): bigint {
  if (x >= LIMIT || x <= -LIMIT) throw new Overflow("operand beyond 2^" + MAX_BITS);
  return x;
}

export function rat(n: bigint, d: bigint = 1n): Rat {
  if (d === 0n) throw new RangeError("division by zero");
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  const g = gcd(n, d);
  if (g > 1n) {
    n /= g;
    d /= g;
  }
  return { n: check(n), d: check(d) };
}

export const ZERO: Rat = { n: 0n, d: 1n };
export const ONE: Rat = { n: 1n, d: 1n };

export const isZero = (a: Rat): boolean => a.n === 0n;
export const isInt = (a: Rat): boolean => a.d === 1n;
export const eq = (a: Rat, b: Rat): boolean => a.n === b.n && a.d === b.d;
export const add = (a: Rat, b: Rat): Rat => rat(a.n * b.d + b.n * a.d, a.d * b.d);
export const sub = (a: Rat, b: Rat): Rat => rat(a.n * b.d - b.n * a.d, a.d * b.d);
export const mul = (a: Rat, b: Rat): Rat => rat(a.n * b.n, a.d * b.d);
export const neg = (a: Rat): Rat => ({ n: -a.n, d: a.d });
export function div(a: Rat, b: Rat): Rat {
  if (b.n === 0n) throw new RangeError("division by zero");
  return rat(a.n * b.d, a.d * b.n);
}
export const sign = (a: Rat): number => (a.n > 0n ? 1 : a.n < 0n ? -1 : 0);
export const cmp = (a: Rat, b: Rat): number => sign(sub(a, b));

/** a^k for an integer k; refuses (Overflow) when the result would clearly exceed the cap. */
export function powInt(a: Rat, k: bigint): Rat {
  if (k === 0n) return ONE;
  if (a.n === 0n) {
    if (k < 0n) throw new RangeError("division by zero");
    return ZERO;
  }
  if (k < 0n) return powInt(div(ONE, a), -k);
  const bits = Math.max(bitLength(a.n), bitLength(a.d));
  // |a| = 1 stays small for any k; otherwise the result has about (bits-1)*k bits.
  if (!(abs(a.n) === 1n && a.d === 1n) && BigInt(Math.max(bits - 1, 1)) * k > BigInt(MAX_BITS)) {
    throw new Overflow("power too large");
  }
  if (abs(a.n) === 1n && a.d === 1n) return rat(k % 2n === 0n ? 1n : a.n);
  let n = 1n;
  let d = 1n;
  let bn = a.n;
  let bd = a.d;
  let e = k;
  while (e > 0n) {
    if (e & 1n) {
      n = check(n * bn);
      d = check(d * bd);
    }
    e >>= 1n;
    if (e > 0n) {
      bn = check(bn * bn);
      bd = check(bd * bd);
    }
  }
  return rat(n, d);
}

export function bitLength(x: bigint): number {
  return abs(x).toString(2).length;
}

/** Integer k-th root if x is a perfect k-th power (x ≥ 0), else null. */
export function exactRoot(x: bigint, k: number): bigint | null {
  if (x < 0n) return null;
  if (x < 2n) return x;
  const r = nthRootFloor(x, k);
  return r ** BigInt(k) === x ? r : null;
}

/** floor(x^(1/k)) for x ≥ 0 by Newton's method on BigInt. */
export function nthRootFloor(x: bigint, k: number): bigint {
  if (x < 2n) return x;
  const K = BigInt(k);
  // Start above the root: 2^(ceil(bits/k)).
  let r = 1n << BigInt(Math.ceil(bitLength(x) / k));
  for (;;) {
    const next = ((K - 1n) * r + x / r ** (K - 1n)) / K;
    if (next >= r) return r;
    r = next;
  }
}

/** Parse a decimal literal "123", "1.25", "1.5e-3" (no sign) exactly. */
export function fromDecimal(s: string): Rat {
  const m = /^(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!m || !/\d/.test(s)) throw new RangeError(`not a decimal: ${s}`);
  const intPart = m[1] ?? "";
  const frac = m[2] ?? "";
  const exp = m[3] !== undefined ? Number(m[3]) : 0;
  if (Math.abs(exp) > MAX_BITS / 3 || intPart.length + frac.length > MAX_BITS / 3) throw new Overflow("decimal too long");
  const digits = BigInt((intPart + frac) || "0");
  const scale = exp - frac.length;
  return scale >= 0 ? rat(digits * 10n ** BigInt(scale)) : rat(digits, 10n ** BigInt(-scale));
}

/** Nearest double (exact enough for the numeric fallback; handles huge n/d without Infinity/Infinity). */
export function toNumber(a: Rat): number {
  const v = Number(a.n) / Number(a.d);
  if (Number.isFinite(v) && v !== 0) return v;
  if (a.n === 0n) return 0;
  // Scale both to keep precision when n or d are beyond double range.
  const shift = bitLength(a.n) - bitLength(a.d);
  const scaled = shift >= 0 ? Number((a.n << 64n) / (a.d << BigInt(shift))) : Number(((a.n << 64n) << BigInt(-shift)) / a.d);
  return scaled * Math.pow(2, shift - 64);
}

export function toString(a: Rat): string {
  return a.d === 1n ? a.n.toString() : `${a.n}/${a.d}`;
}

/**
 * Square-free decomposition of a positive integer: x = s^2 * r with r square-free. Trial division up
 * to a bound; if an unfactored cofactor remains that is not a perfect square, it is kept in r (which
 * may then not be square-free — still a sound canonical form only if the cofactor has no square
 * factor, so we refuse with Overflow when the cofactor is large).
 */
export function squareFree(x: bigint): { s: bigint; r: bigint } {
  if (x <= 0n) throw new RangeError("squareFree of non-positive");
  let s = 1n;
  let r = 1n;
  let rest = x;
  for (let p = 2n; p * p <= rest; p += p === 2n ? 1n : 2n) {
    if (p > 100000n) break;
    let k = 0;
    while (rest % p === 0n) {
      rest /= p;
      k++;
    }
    if (k >= 2) s *= p ** BigInt(k >> 1);
    if (k & 1) r *= p;
  }
  if (rest > 1n) {
    const q = exactRoot(rest, 2);
    if (q !== null) s *= q;
    else if (rest < 100000n * 100000n) r *= rest; // no factor ≤ 1e5 ⇒ prime
    else throw new Overflow("cannot factor radicand");
  }
  return { s, r };
}
