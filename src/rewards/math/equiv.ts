/**
 * Equivalence of two parsed answers (gold first). Exact wherever possible:
 *   - scalars: exact evaluation (rationals, radicals, π) with variables bound to the same random
 *     rationals at several points — a polynomial/rational identity that holds at random rational
 *     points is (with overwhelming probability) an identity; transcendental parts fall back to double
 *     precision with a 1e-9 relative tolerance (2e-7 when an answer is written as a decimal, or a
 *     decimal with ≥ 6 places that is the value correctly rounded);
 *   - percentages: "20\%" may stand for 20 or 0.2; a bare 20 never equals 0.2;
 *   - equations: x=3 ~ 3; two equations are equal when L−R of one is a constant non-zero multiple
 *     of L−R of the other; inequalities: as intervals when one variable is bounded by constants,
 *     otherwise as (L−R) with a POSITIVE multiple (direction matters);
 *   - intervals: bracket types must match; tuples: ordered; sets and bare lists: unordered;
 *   - matrices: same shape, elementwise.
 */
import { show } from "./ast.js";
import type { Node } from "./ast.js";
import * as Q from "./rational.js";
import * as S from "./surd.js";
import { Budget, BudgetExceeded, NotScalar, evalExact, evalFloat, freeVars } from "./evaluate.js";
import type { Env } from "./evaluate.js";

/** Relative tolerance for values computed in double precision (transcendental functions). */
const FLOAT_RTOL = 1e-9;
/**
 * Relative tolerance when either side is written as a decimal (an approximation may be meant).
 * Tighter than 1e-6 so that 5–6 digit roundings (3.14159 for π, 0.666666 for 2/3) do not pass;
 * correctly rounded decimals with ≥ 6 places pass by `roundedDecimal`.
 */
const DECIMAL_RTOL = 2e-7;
/** Absolute floor only for an exact 0 against a trigonometric expression (e.g. sin(π) = 1.2e-16). */
const FLOAT_ATOL = 1e-12;

/** Random rational evaluation points: awkward fractions so that coincidences are negligible. */
const POINTS: Q.Rat[] = [
  Q.rat(13n, 7n), Q.rat(29n, 11n), Q.rat(41n, 13n), Q.rat(53n, 17n), Q.rat(67n, 19n),
  Q.rat(79n, 23n), Q.rat(97n, 29n), Q.rat(113n, 31n), Q.rat(131n, 37n), Q.rat(151n, 41n),
];
const NPOINTS = 3;

/** Point p of the variables: the second point is negative (so |x| ≠ x and √(x²) ≠ x are caught). */
function envFor(vars: string[], p: number): Map<string, Q.Rat> {
  const m = new Map<string, Q.Rat>();
  vars.forEach((v, j) => {
    const x = Q.add(POINTS[(p * 3 + j * 7) % POINTS.length] as Q.Rat, Q.rat(BigInt(j)));
    m.set(v, p % 3 === 1 ? Q.neg(x) : x);
  });
  return m;
}

function floatEnv(env: Env): Map<string, number> {
  const m = new Map<string, number>();
  for (const [k, v] of env) m.set(k, Q.toNumber(v));
  return m;
}

function hasDecimal(n: Node): boolean {
  switch (n.k) {
    case "num":
      return n.decimal;
    case "add":
      return n.terms.some(hasDecimal);
    case "mul":
      return n.fs.some(hasDecimal);
    case "neg":
    case "pct":
      return hasDecimal(n.a);
    case "div":
    case "pow":
      return hasDecimal(n.a) || hasDecimal(n.b);
    case "fn":
      return n.args.some(hasDecimal);
    default:
      return false;
  }
}

const TRIG = /\b(?:sin|cos|tan|cot|sec|csc)\(/;

function hasTrig(n: Node): boolean {
  return TRIG.test(show(n));
}

function hasInfinity(n: Node): boolean {
  return show(n).includes("\\inf");
}

type Outcome = "equal" | "unequal" | "unknown";

function closeFloat(x: number, y: number, rtol: number, atol: number): boolean {
  if (x === y) return true;
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  const d = Math.abs(x - y);
  return d <= rtol * Math.max(Math.abs(x), Math.abs(y)) || (Math.abs(x) < atol && Math.abs(y) < atol);
}

/**
 * `d` is a decimal literal with at least 6 decimal places and 6 significant digits that is `x`
 * correctly rounded (|d − x| ≤ ½·10^-places): "0.333333" for 1/3, "0.142857" for 1/7. Never makes a
 * tiny value equal to 0 ("0.000000" has no significant digits).
 */
function roundedDecimal(d: Node, x: Node, b: Budget): boolean {
  const lit = d.k === "neg" ? d.a : d;
  if (lit.k !== "num" || !lit.decimal || lit.places === undefined || lit.sig === undefined) return false;
  if (lit.places < 6 || lit.sig < 6 || lit.places > 30) return false;
  if (freeVars(x).size > 0) return false;
  const xv = evalFloat(x, new Map(), b);
  const dv = evalFloat(d, new Map(), b);
  if (!Number.isFinite(xv) || !Number.isFinite(dv)) return false;
  return Math.abs(dv - xv) <= 0.5 * Math.pow(10, -lit.places) * (1 + 1e-9);
}

/** Compares two scalar nodes (no relations, no collections). */
export function scalarEqual(g: Node, a: Node, b: Budget): boolean {
  const vars = [...new Set([...freeVars(g), ...freeVars(a)])].sort();
  const npts = vars.length === 0 ? 1 : NPOINTS;
  const decimal = hasDecimal(g) || hasDecimal(a);
  // 1) exact
  let exact: Outcome = "equal";
  for (let p = 0; p < npts && exact === "equal"; p++) {
    const env = envFor(vars, p);
    try {
      const x = evalExact(g, env, b);
      const y = evalExact(a, env, b);
      if (!S.equal(x, y)) exact = "unequal";
    } catch (e) {
      if (e instanceof BudgetExceeded || e instanceof NotScalar) throw e;
      exact = "unknown"; // NotExact, Overflow, division by zero
    }
  }
  if (exact === "equal") return true;
  if (exact === "unequal" && !decimal) return false;
  if (roundedDecimal(g, a, b) || roundedDecimal(a, g, b)) return true;
  // 2) double precision at the same points
  const rtol = decimal ? DECIMAL_RTOL : FLOAT_RTOL;
  const trig = hasTrig(g) || hasTrig(a);
  let valid = 0;
  for (let p = 0; p < Math.max(npts, 1); p++) {
    const env = floatEnv(envFor(vars, p));
    const x = evalFloat(g, env, b);
    const y = evalFloat(a, env, b);
    // undefined on one side (outside its domain, e.g. √x at a negative point): this point says nothing
    if (Number.isNaN(x) || Number.isNaN(y)) continue;
    if (!Number.isFinite(x) && !Number.isFinite(y)) {
      // both infinite: equal only when both really are ±∞ (not an overflow of a huge power)
      if (x === y && hasInfinity(g) && hasInfinity(a)) valid++;
      continue;
    }
    // the absolute floor only for an exact 0 against trigonometry (sin π = 1.2e-16); never for
    // e^{-30} against 0 or against e^{-31}
    const atol = exact !== "unequal" && (x === 0 || y === 0) && trig ? FLOAT_ATOL : 0;
    if (!closeFloat(x, y, rtol, atol)) return false;
    valid++;
  }
  if (valid > 0) return true;
  // 3) nothing computable (huge powers, domain errors everywhere): structural identity only
  return show(g) === show(a);
}

/** Percent-aware scalar comparison: "20\%" may be read as 20 or as 0.2 (either side). */
function scalarEqualPct(g: Node, a: Node, b: Budget): boolean {
  // both percentages: the numbers before the signs must agree (50% is not 0.5%)
  if (g.k === "pct" && a.k === "pct") return scalarEqual(g.a, a.a, b);
  const gs = g.k === "pct" ? [g, g.a] : [g];
  const as = a.k === "pct" ? [a, a.a] : [a];
  for (const x of gs) for (const y of as) if (scalarEqual(x, y, b)) return true;
  return false;
}

function hasPm(n: Node): boolean {
  switch (n.k) {
    case "pm":
      return true;
    case "add":
      return n.terms.some(hasPm);
    case "mul":
      return n.fs.some(hasPm);
    case "neg":
    case "pct":
      return hasPm(n.a);
    case "div":
    case "pow":
      return hasPm(n.a) || hasPm(n.b);
    case "fn":
      return n.args.some(hasPm);
    default:
      return false;
  }
}

/** Most values one ± expression may expand to (2 per ±). */
const MAX_PM_BRANCHES = 8;

/** Every sign choice of the ± inside `n` (a ± b → a+b, a−b; \frac{-b \pm \sqrt{d}}{2a} → two roots). */
function expandPmDeep(n: Node): Node[] {
  const cross = (lists: Node[][], make: (xs: Node[]) => Node): Node[] => {
    let acc: Node[][] = [[]];
    for (const l of lists) {
      acc = acc.flatMap((prefix) => l.map((x) => [...prefix, x]));
      if (acc.length > MAX_PM_BRANCHES) throw new NotScalar("too many ± branches");
    }
    return acc.map(make);
  };
  switch (n.k) {
    case "pm":
      return expandPmDeep(n.a).flatMap((a) => expandPmDeep(n.b).flatMap((b) => [
        { k: "add", terms: [a, b] } as Node,
        { k: "add", terms: [a, { k: "neg", a: b }] } as Node,
      ]));
    case "add":
      return cross(n.terms.map(expandPmDeep), (terms) => ({ k: "add", terms }));
    case "mul":
      return cross(n.fs.map(expandPmDeep), (fs) => ({ k: "mul", fs }));
    case "neg":
      return expandPmDeep(n.a).map((a) => ({ k: "neg", a }));
    case "pct":
      return expandPmDeep(n.a).map((a) => ({ k: "pct", a }));
    case "div":
      return cross([expandPmDeep(n.a), expandPmDeep(n.b)], ([a, b]) => ({ k: "div", a: a as Node, b: b as Node }));
    case "pow":
      return cross([expandPmDeep(n.a), expandPmDeep(n.b)], ([a, b]) => ({ k: "pow", a: a as Node, b: b as Node }));
    case "fn":
      return cross(n.args.map(expandPmDeep), (args) => ({ k: "fn", name: n.name, args }));
    default:
      return [n];
  }
}

/** a ± b (anywhere inside a scalar) → its values; null when there is no ±. */
function expandPm(n: Node): Node[] | null {
  if (!hasPm(n)) return null;
  return expandPmDeep(n);
}

function items(n: Node): Node[] {
  if (n.k === "list" || n.k === "set") return n.items.flatMap((x) => expandPm(x) ?? [x]);
  return expandPm(n) ?? [n];
}

/** Unordered one-to-one matching. */
function unorderedEqual(gs: Node[], as: Node[], b: Budget): boolean {
  if (gs.length !== as.length) return false;
  const used = new Array<boolean>(as.length).fill(false);
  for (const x of gs) {
    let found = false;
    for (let j = 0; j < as.length; j++) {
      if (used[j]) continue;
      if (equiv(x, as[j] as Node, b)) {
        used[j] = true;
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

function orderedEqual(gs: Node[], as: Node[], b: Budget): boolean {
  return gs.length === as.length && gs.every((x, i) => equiv(x, as[i] as Node, b));
}

// ---------------------------------------------------------------- intervals

interface Interval {
  lo: Node;
  hi: Node;
  loClosed: boolean;
  hiClosed: boolean;
}
const NEG_INF: Node = { k: "neg", a: { k: "const", name: "inf" } };
const POS_INF: Node = { k: "const", name: "inf" };

function isVar(n: Node | undefined): n is { k: "var"; name: string } {
  return n !== undefined && n.k === "var";
}

/** An interval or union of intervals as a list; null when `n` is not one. */
function asIntervals(n: Node): Interval[] | null {
  if (n.k === "seq" && n.items.length === 2) {
    return [{ lo: n.items[0] as Node, hi: n.items[1] as Node, loClosed: n.open === "[", hiClosed: n.close === "]" }];
  }
  if (n.k === "union") {
    const out: Interval[] = [];
    for (const p of n.parts) {
      const i = asIntervals(p);
      if (!i) return null;
      out.push(...i);
    }
    return out;
  }
  if (n.k === "rel") return relAsIntervals(n);
  if (n.k === "list" && n.and) return intersectRels(n.items);
  if (n.k === "list") {
    // "x < -2 or x > 3"
    const out: Interval[] = [];
    for (const p of n.items) {
      if (p.k !== "rel") return null;
      const i = relAsIntervals(p);
      if (!i) return null;
      out.push(...i);
    }
    // overlapping pieces ("x > -2, x < 5") were hardly meant as a union (that is every real): the
    // joiner is ambiguous, so no reading is taken
    const merged = out.length > 1 ? mergeIntervals(out, Budget.ms(50)) : out;
    return merged !== null && merged.length === out.length ? out : null;
  }
  return null;
}

/** A list of inequalities (no "=" or "∈"): "x < 2 or x > 3", "x ≥ −2 and x ≤ 5". */
function isInequalityList(n: Node): boolean {
  return n.k === "list" && n.items.every((it) => it.k === "rel" && it.ops.every((o) => o !== "=" && o !== "in"));
}

/**
 * "x ≥ −2 and x ≤ 5": the intersection of one-interval conditions on the same variable with constant
 * ends (→ [−2, 5]); null for anything else (never read as a union).
 */
function intersectRels(items: Node[]): Interval[] | null {
  let v: string | null = null;
  let cur: Interval | null = null;
  const b = Budget.ms(50);
  for (const it of items) {
    if (it.k !== "rel") return null;
    const vs = [...freeVars(it)];
    if (vs.length !== 1 || (v !== null && vs[0] !== v)) return null;
    v = vs[0] as string;
    const iv = relAsIntervals(it);
    if (!iv || iv.length !== 1) return null;
    const x = iv[0] as Interval;
    if (cur === null) {
      cur = x;
      continue;
    }
    const [clo, chi, xlo, xhi] = [endValue(cur.lo, b), endValue(cur.hi, b), endValue(x.lo, b), endValue(x.hi, b)];
    if (clo === null || chi === null || xlo === null || xhi === null) return null;
    const next: Interval = { ...cur };
    if (equiv(cur.lo, x.lo, b)) next.loClosed = cur.loClosed && x.loClosed;
    else if (xlo > clo) {
      next.lo = x.lo;
      next.loClosed = x.loClosed;
    }
    if (equiv(cur.hi, x.hi, b)) next.hiClosed = cur.hiClosed && x.hiClosed;
    else if (xhi < chi) {
      next.hi = x.hi;
      next.hiClosed = x.hiClosed;
    }
    const lo = endValue(next.lo, b);
    const hi = endValue(next.hi, b);
    if (lo === null || hi === null || lo > hi || (lo === hi && !(next.loClosed && next.hiClosed))) return null; // empty
    cur = next;
  }
  return cur ? [cur] : null;
}

/** x < 5, 5 ≤ x, 1 < x ≤ 2, x ∈ [0,1), x ≠ 3 → intervals (one variable, constant bounds). */
function relAsIntervals(n: Extract<Node, { k: "rel" }>): Interval[] | null {
  const { ops, parts } = n;
  if (ops.length === 1 && ops[0] === "in" && isVar(parts[0])) return asIntervals(parts[1] as Node);
  const vi = parts.findIndex((p) => p.k === "var");
  if (vi < 0 || parts.some((p, i) => i !== vi && freeVars(p).size > 0)) return null;
  if (ops.some((o) => o === "=" || o === "in")) return null;
  if (ops.length === 1 && ops[0] === "!=") {
    const c = parts[1 - vi] as Node;
    return [
      { lo: NEG_INF, hi: c, loClosed: false, hiClosed: false },
      { lo: c, hi: POS_INF, loClosed: false, hiClosed: false },
    ];
  }
  let lo: Node = NEG_INF;
  let hi: Node = POS_INF;
  let loClosed = false;
  let hiClosed = false;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as string;
    if (op === "!=") return null;
    const left = i;
    const right = i + 1;
    if (left !== vi && right !== vi) continue; // a < b between constants: no constraint on x
    const other = parts[left === vi ? right : left] as Node;
    // normalise to "x OP c"
    let o = op;
    if (right === vi) o = op.replace("<", "#").replace(">", "<").replace("#", ">");
    if (o === "<" || o === "<=") {
      hi = other;
      hiClosed = o === "<=";
    } else {
      lo = other;
      loClosed = o === ">=";
    }
  }
  return [{ lo, hi, loClosed, hiClosed }];
}

function intervalEqual(x: Interval, y: Interval, b: Budget): boolean {
  return x.loClosed === y.loClosed && x.hiClosed === y.hiClosed && equiv(x.lo, y.lo, b) && equiv(x.hi, y.hi, b);
}

function intervalsEqual(xs: Interval[], ys: Interval[], b: Budget): boolean {
  if (intervalsEqualAsWritten(xs, ys, b)) return true;
  if (xs.length < 2 && ys.length < 2) return false;
  // [0,1] ∪ [1,2] is [0,2]: merge touching/overlapping pieces with constant endpoints, then compare
  const mx = mergeIntervals(xs, b);
  const my = mergeIntervals(ys, b);
  return mx !== null && my !== null && (mx.length !== xs.length || my.length !== ys.length) && intervalsEqualAsWritten(mx, my, b);
}

/** A constant endpoint's value in double precision (±Infinity for ±∞), or null. */
function endValue(n: Node, b: Budget): number | null {
  if (freeVars(n).size > 0) return null;
  const v = evalFloat(n, new Map(), b);
  return Number.isNaN(v) ? null : v;
}

/**
 * Sorted pieces with touching or overlapping ones merged; null when an endpoint is not a constant.
 * Two endpoints are "the same point" only when exactly equal (equiv), never by float closeness.
 */
function mergeIntervals(xs: Interval[], b: Budget): Interval[] | null {
  if (xs.length > 16) return null;
  const vals: { iv: Interval; lo: number; hi: number }[] = [];
  for (const iv of xs) {
    const lo = endValue(iv.lo, b);
    const hi = endValue(iv.hi, b);
    if (lo === null || hi === null) return null;
    vals.push({ iv, lo, hi });
  }
  vals.sort((p, q) => p.lo - q.lo);
  const out: { iv: Interval; hi: number }[] = [];
  for (const v of vals) {
    const last = out[out.length - 1];
    if (last) {
      const touching = equiv(last.iv.hi, v.iv.lo, b);
      if ((touching && (last.iv.hiClosed || v.iv.loClosed)) || (!touching && v.lo < last.hi)) {
        // merge: keep the larger upper end (an exactly equal end is closed if either is)
        if (equiv(last.iv.hi, v.iv.hi, b)) last.iv = { ...last.iv, hiClosed: last.iv.hiClosed || v.iv.hiClosed };
        else if (v.hi > last.hi) {
          last.iv = { ...last.iv, hi: v.iv.hi, hiClosed: v.iv.hiClosed };
          last.hi = v.hi;
        }
        continue;
      }
    }
    out.push({ iv: { ...v.iv }, hi: v.hi });
  }
  return out.map((o) => o.iv);
}

function intervalsEqualAsWritten(xs: Interval[], ys: Interval[], b: Budget): boolean {
  if (xs.length !== ys.length) return false;
  const used = new Array<boolean>(ys.length).fill(false);
  return xs.every((x) => {
    const j = ys.findIndex((y, k) => !used[k] && intervalEqual(x, y, b));
    if (j < 0) return false;
    used[j] = true;
    return true;
  });
}

// ---------------------------------------------------------------- equations and inequalities

/** L − R */
function diff(l: Node, r: Node): Node {
  return { k: "add", terms: [l, { k: "neg", a: r }] };
}

/**
 * f ≡ c·h for a constant c ≠ 0 (c > 0 when `positive`), tested at random points, exactly when
 * possible, else in double precision.
 */
function proportional(f: Node, h: Node, positive: boolean, b: Budget): boolean {
  const vars = [...new Set([...freeVars(f), ...freeVars(h)])].sort();
  let ratio: number | null = null;
  let ratioExact: S.Surd | null = null;
  let nonzero = 0;
  for (let p = 0; p < 4; p++) {
    const env = envFor(vars, p);
    let done = false;
    try {
      const x = evalExact(f, env, b);
      const y = evalExact(h, env, b);
      if (S.isZero(x) !== S.isZero(y)) return false;
      if (!S.isZero(x)) {
        const r = S.div(x, y);
        if (ratioExact && !S.equal(r, ratioExact)) return false;
        ratioExact = r;
        nonzero++;
      }
      done = true;
    } catch (e) {
      if (e instanceof BudgetExceeded || e instanceof NotScalar) throw e;
    }
    if (done) continue;
    const fe = floatEnv(env);
    const x = evalFloat(f, fe, b);
    const y = evalFloat(h, fe, b);
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    const zx = Math.abs(x) < 1e-12;
    const zy = Math.abs(y) < 1e-12;
    if (zx !== zy) return false;
    if (zx) continue;
    const r = x / y;
    if (ratio !== null && !closeFloat(r, ratio, FLOAT_RTOL, 0)) return false;
    ratio = r;
    nonzero++;
  }
  if (nonzero === 0) return show(f) === show(h);
  if (ratioExact && ratio !== null && !closeFloat(S.toNumber(ratioExact), ratio, FLOAT_RTOL, 0)) return false;
  const r = ratioExact ? S.toNumber(ratioExact) : (ratio as number);
  return positive ? r > 0 : true;
}

function relEqual(g: Extract<Node, { k: "rel" }>, a: Extract<Node, { k: "rel" }>, b: Budget): boolean {
  const gi = relAsIntervals(g);
  const ai = relAsIntervals(a);
  if (gi && ai) return intervalsEqual(gi, ai, b);
  if (g.ops.length !== a.ops.length) return false;
  if (g.ops.every((o) => o === "=") && a.ops.every((o) => o === "=")) {
    // same variable isolated on the left: compare right-hand sides (handles "x = 1, 2"-style values)
    if (isVar(g.parts[0]) && isVar(a.parts[0]) && g.parts.length === 2 && a.parts.length === 2) {
      if (g.parts[0].name === a.parts[0].name && equiv(g.parts[1] as Node, a.parts[1] as Node, b)) return true;
    }
    if (g.parts.length !== 2) return false;
    const f = diff(g.parts[0] as Node, g.parts[1] as Node);
    const h = diff(a.parts[0] as Node, a.parts[1] as Node);
    return tryScalar(() => proportional(f, h, false, b), g, a);
  }
  if (g.ops.length !== 1) return orderedRelEqual(g, a, b);
  // one inequality each: normalise to  F < 0 / F <= 0 / F != 0
  const norm = (n: Extract<Node, { k: "rel" }>): { strict: boolean; f: Node; op: string } | null => {
    const op = n.ops[0] as string;
    const l = n.parts[0] as Node;
    const r = n.parts[1] as Node;
    if (op === "<" || op === "<=") return { strict: op === "<", f: diff(l, r), op: "<" };
    if (op === ">" || op === ">=") return { strict: op === ">", f: diff(r, l), op: "<" };
    if (op === "!=") return { strict: true, f: diff(l, r), op: "!=" };
    return null;
  };
  const x = norm(g);
  const y = norm(a);
  if (!x || !y || x.op !== y.op || x.strict !== y.strict) return false;
  return tryScalar(() => proportional(x.f, y.f, x.op === "<", b), g, a);
}

function orderedRelEqual(g: Extract<Node, { k: "rel" }>, a: Extract<Node, { k: "rel" }>, b: Budget): boolean {
  return g.ops.every((o, i) => o === a.ops[i]) && orderedEqual(g.parts, a.parts, b);
}

/** Runs a scalar comparison; a tuple/set inside arithmetic (not a scalar) falls back to structural identity. */
function tryScalar(f: () => boolean, g: Node, a: Node): boolean {
  try {
    return f();
  } catch (e) {
    if (e instanceof NotScalar) return show(g) === show(a);
    throw e;
  }
}

/** The value side of "x = 3" / "f(x) = 3"-style answers: the last part of an = chain, when the first part is a variable. */
/** x = 5+5+1 = 11 → x = 11: a chain of equalities is its first and last parts (the steps between are work). */
function chainEnds(n: Extract<Node, { k: "rel" }>): Extract<Node, { k: "rel" }> {
  if (n.parts.length <= 2 || !n.ops.every((o) => o === "=")) return n;
  return { k: "rel", ops: ["="], parts: [n.parts[0] as Node, n.parts[n.parts.length - 1] as Node] };
}

function valueOfAssignment(n: Node): Node | null {
  if (n.k === "rel" && n.ops.length === 1 && n.ops[0] === "in" && isVar(n.parts[0])) return n.parts[1] as Node;
  if (n.k !== "rel" || !n.ops.every((o) => o === "=")) return null;
  const first = n.parts[0] as Node;
  if (first.k === "var" || (first.k === "mul" && first.fs.every((f) => f.k === "var"))) return n.parts[n.parts.length - 1] as Node;
  // (x, y) = (1, 2): a tuple of names assigned a tuple of values
  if (first.k === "seq" && first.open === "(" && first.items.every((f) => f.k === "var")) return n.parts[n.parts.length - 1] as Node;
  // a computation ending in its value (2+3 = 5, x = 5+5+1 = 11): the last part, when it is a constant
  const last = n.parts[n.parts.length - 1] as Node;
  if ((n.parts.length > 2 || freeVars(first).size === 0) && freeVars(last).size === 0) return last;
  return null;
}

// ---------------------------------------------------------------- entry point

/** A union of sets ({1,2} ∪ {3}) as one set, duplicates (same canonical form) removed. */
function unionOfSets(n: Node): Node {
  if (n.k !== "union" || !n.parts.every((p) => p.k === "set")) return n;
  const seen = new Set<string>();
  const items: Node[] = [];
  for (const p of n.parts) {
    for (const it of (p as Extract<Node, { k: "set" }>).items) {
      const key = show(it);
      if (!seen.has(key)) {
        seen.add(key);
        items.push(it);
      }
    }
  }
  return { k: "set", items };
}

export function equiv(g0: Node, a0: Node, b: Budget): boolean {
  b.tick();
  const g = unionOfSets(g0);
  const a = unionOfSets(a0);
  // lists of one
  if (g.k === "list" && g.items.length === 1) return equiv(g.items[0] as Node, a, b);
  if (a.k === "list" && a.items.length === 1) return equiv(g, a.items[0] as Node, b);

  // text answers
  if (g.k === "text" || a.k === "text") return g.k === "text" && a.k === "text" && g.s.replace(/\s/g, "") === a.s.replace(/\s/g, "");

  // relations
  if (g.k === "rel" && a.k === "rel") return relEqual(chainEnds(g), chainEnds(a), b);
  if (a.k === "rel") {
    const gi = asIntervals(g);
    const ai = relAsIntervals(a);
    if (gi && ai) return intervalsEqual(gi, ai, b);
    const v = valueOfAssignment(a);
    return v !== null && equiv(g, v, b);
  }
  if (g.k === "rel") {
    const gi = relAsIntervals(g);
    const ai = asIntervals(a);
    if (gi && ai) return intervalsEqual(gi, ai, b);
    const v = valueOfAssignment(g);
    return v !== null && equiv(v, a, b);
  }

  // intervals and unions
  if (g.k === "union" || a.k === "union") {
    const gi = asIntervals(g);
    const ai = asIntervals(a);
    if (gi && ai) return intervalsEqual(gi, ai, b);
    if (g.k === "union" && a.k === "union") return unorderedEqual(g.parts, a.parts, b);
    return false;
  }

  // inequalities joined by "and" (an intersection) or "or" (a union): compared only as sets of reals
  if (isInequalityList(g) || isInequalityList(a)) {
    const gi = asIntervals(g);
    const ai = asIntervals(a);
    if (gi && ai) return intervalsEqual(gi, ai, b);
    // not representable (an empty intersection, several variables): equal only if written the same way
    return g.k === "list" && a.k === "list" && g.and === a.and && unorderedEqual(g.items, a.items, b);
  }

  // tuples / intervals
  if (g.k === "seq" && a.k === "seq") {
    if (g.items.length === 2 || a.items.length === 2) {
      if (g.open !== a.open || g.close !== a.close) return false;
    }
    return orderedEqual(g.items, a.items, b);
  }
  // a tuple written without brackets ("1, 2" for gold "(1, 2)") is compared in order
  if (g.k === "seq" && a.k === "list") return g.open === "(" && g.close === ")" && orderedEqual(g.items, a.items, b);
  if (a.k === "seq" && g.k === "list") return a.open === "(" && a.close === ")" && orderedEqual(g.items, a.items, b);

  // sets, lists, ± : unordered
  const gl = g.k === "list" || g.k === "set" || hasPm(g);
  const al = a.k === "list" || a.k === "set" || hasPm(a);
  if (gl || al) {
    if (!gl || !al) return false;
    return unorderedEqual(items(g), items(a), b);
  }

  if (g.k === "matrix" || a.k === "matrix") {
    if (g.k !== "matrix" || a.k !== "matrix") return false;
    if (g.rows.length !== a.rows.length) return false;
    return g.rows.every((r, i) => orderedEqual(r, a.rows[i] as Node[], b));
  }
  if (g.k === "seq" || a.k === "seq") return false;

  return tryScalar(() => scalarEqualPct(g, a, b), g, a);
}
