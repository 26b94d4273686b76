/**
 * The Countdown generator (TinyZero's task; the verifier is src/rewards/countdown.ts): seeded, every
 * instance solvable by construction.
 */
import type { CountdownRef } from "../rewards/countdown.js";
import * as Q from "../rewards/math/rational.js";
import type { Rat } from "../rewards/math/rational.js";
import { mulberry32, randInt } from "../util/rng.js";

export interface CountdownInstance extends CountdownRef {
  /** One solution, as an equation over the numbers (proof of solvability). */
  solution: string;
}

export interface CountdownGenOptions {
  /** How many numbers (TinyZero's data: 3 or 4). */
  minNumbers?: number;
  maxNumbers?: number;
  /** Range of each number (TinyZero: 1..100). */
  minNumber?: number;
  maxNumber?: number;
  /** Range of the target (TinyZero's data: 1..100-ish positive integers). */
  minTarget?: number;
  maxTarget?: number;
}

/**
 * Seeded generator of solvable instances: numbers are drawn first, then a random expression tree
 * over all of them is built until one evaluates to an integer target in range (so every instance is
 * solvable by construction; the tree is returned as `solution`).
 */
export function generateCountdown(seed: number, count: number, o: CountdownGenOptions = {}): CountdownInstance[] {
  const rng = mulberry32(seed);
  const [minN, maxN] = [o.minNumbers ?? 3, o.maxNumbers ?? 4];
  const [lo, hi] = [o.minNumber ?? 1, o.maxNumber ?? 100];
  const [tlo, thi] = [o.minTarget ?? 1, o.maxTarget ?? 100];
  const out: CountdownInstance[] = [];
  while (out.length < count) {
    const n = randInt(rng, minN, maxN);
    const numbers = Array.from({ length: n }, () => randInt(rng, lo, hi));
    for (let attempt = 0; attempt < 200; attempt++) {
      // combine a random pair until one value is left
      let pool: { v: Rat; s: string }[] = numbers.map((x) => ({ v: Q.rat(BigInt(x)), s: String(x) }));
      while (pool.length > 1) {
        const i = randInt(rng, 0, pool.length - 1);
        let j = randInt(rng, 0, pool.length - 2);
        if (j >= i) j++;
        const a = pool[i] as { v: Rat; s: string };
        const b = pool[j] as { v: Rat; s: string };
        const op = "+-*/"[randInt(rng, 0, 3)] as string;
        if (op === "/" && Q.isZero(b.v)) continue;
        const v = op === "+" ? Q.add(a.v, b.v) : op === "-" ? Q.sub(a.v, b.v) : op === "*" ? Q.mul(a.v, b.v) : Q.div(a.v, b.v);
        pool = pool.filter((_, k) => k !== i && k !== j);
        pool.push({ v, s: `(${a.s} ${op} ${b.s})` });
      }
      const r = (pool[0] as { v: Rat; s: string }).v;
      if (r.d === 1n && r.n >= BigInt(tlo) && r.n <= BigInt(thi)) {
        const s = (pool[0] as { s: string }).s;
        out.push({ numbers, target: Number(r.n), solution: s.startsWith("(") ? s.slice(1, -1) : s });
        break;
      }
    }
  }
  return out;
}
