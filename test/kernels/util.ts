/** Test helpers for the kernel tests: a seeded RNG, a tolerance check that reports the max difference. */
import { mulberry32 } from "../../src/util/rng.js";

/** A small seeded PRNG (mulberry32, from src/util/rng.ts). */
export const rng = mulberry32;

/** n uniform values in [-scale, scale). */
export function randn(r: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

export interface Tol { atol: number; rtol: number }

/**
 * Compare got against ref with |got − ref| ≤ atol + rtol·|ref|. Returns null when everything passes,
 * else a message naming the worst element, its values and the max absolute difference.
 */
export function compare(name: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tol): string | null {
  if (got.length !== ref.length) return `${name}: length ${got.length} != ${ref.length}`;
  let worst = -1;
  let worstExcess = 0;
  let maxAbs = 0;
  let bad = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = got[i]!;
    const r = ref[i]!;
    const diff = Math.abs(g - r);
    if (!(diff <= maxAbs)) maxAbs = Number.isNaN(diff) ? Infinity : Math.max(maxAbs, diff);
    const allowed = tol.atol + tol.rtol * Math.abs(r);
    const excess = Number.isNaN(diff) ? Infinity : diff - allowed;
    if (excess > 0) {
      bad++;
      if (excess > worstExcess || worst < 0) { worst = i; worstExcess = excess; }
    }
  }
  if (bad === 0) return null;
  return `${name}: ${bad}/${ref.length} outside atol=${tol.atol} rtol=${tol.rtol}; max |diff| ${maxAbs.toExponential(3)}; ` +
    `worst at [${worst}]: got ${got[worst]} ref ${ref[worst]}`;
}

/** Throws (with compare's message) when got and ref differ beyond tol. */
export function expectClose(name: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tol): void {
  const msg = compare(name, got, ref, tol);
  if (msg !== null) throw new Error(msg);
}

/**
 * Central finite differences of L(x) = Σ_o w_o · f(x)_o with respect to every element of x
 * (computed in fp64 from fp32 outputs). f must not keep references to x.
 */
export function finiteDiff(x: Float32Array, f: () => Float32Array, w: Float32Array, h: number): Float64Array {
  const g = new Float64Array(x.length);
  const loss = (): number => {
    const y = f();
    let s = 0;
    for (let i = 0; i < y.length; i++) s += w[i]! * y[i]!;
    return s;
  };
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i]!;
    x[i] = x0 + h;
    const lp = loss();
    x[i] = x0 - h;
    const lm = loss();
    x[i] = x0;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

/** cuSeqlens from a list of sequence lengths. */
export function cuSeqlens(lens: number[]): Int32Array {
  const cu = new Int32Array(lens.length + 1);
  for (let i = 0; i < lens.length; i++) cu[i + 1] = cu[i]! + lens[i]!;
  return cu;
}
