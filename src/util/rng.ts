/**
 * The project's seeded random numbers (the only place a PRNG is written down).
 *
 * `Rng`: state that can be saved and restored exactly (checkpoints hold one RNG per purpose: data,
 * sampling, init). The generator is sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, 128-bit
 * state, passes PractRand); seeds are expanded with splitmix32 so that nearby seeds give unrelated
 * streams, and a purpose name is hashed (FNV-1a) into the seed. New code uses this one.
 *
 * `Xoshiro128`: xoshiro128** (Blackman & Vigna), 128-bit state, for the two hot streams that are
 * seeded their own way and never saved: the model's init normals (src/model/params.ts) and the
 * sampler's per-sequence streams (src/model/sample.ts SeqRng). Their sequences are pinned.
 *
 * `mulberry32`: a stream of uniforms from one 32-bit seed, kept because the Countdown and Knights &
 * Knaves generators (src/tasks/countdown-gen.ts, kk-gen.ts) and LoRA's adapter init have always drawn
 * from it: the puzzles a seed gives (and so a run's data and its held-out side) must not change.
 */

/** The whole state: four unsigned 32-bit words. JSON-serialisable. */
export interface RngState {
  a: number;
  b: number;
  c: number;
  d: number;
}

const utf8 = new TextEncoder();

/** FNV-1a 32-bit hash of a string's UTF-8 bytes (stable across runs and platforms; lone surrogates hash as U+FFFD). */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of utf8.encode(s)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** murmur3's 32-bit finaliser: a bijective mix of one word. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** splitmix32: a stream of well-mixed words from one seed (for filling generator states). */
export function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    return fmix32(s);
  };
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A generator from an integer seed and an optional purpose ("data", "sampling", "init", …). */
  constructor(seed: number, purpose = "") {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    const mixed = (Math.trunc(seed) ^ fnv1a32(purpose)) >>> 0;
    const hi = Math.floor(Math.abs(seed) / 2 ** 32) >>> 0;
    const sm = splitmix32(mixed ^ Math.imul(hi, 0x9e3779b1));
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm() | 1;
    for (let i = 0; i < 12; i++) this.u32(); // warm up
  }

  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  state(): RngState {
    return { a: this.a, b: this.b, c: this.c, d: this.d };
  }

  setState(s: RngState): void {
    for (const k of ["a", "b", "c", "d"] as const) {
      const v = s[k];
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`RNG state word ${k} must be an unsigned 32-bit integer, got ${String(v)}`);
    }
    this.a = s.a;
    this.b = s.b;
    this.c = s.c;
    this.d = s.d;
  }

  /** Next unsigned 32-bit integer (sfc32). */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = (this.b ^ (this.b >>> 9)) >>> 0;
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.u32() >>> 5; // 27 bits
    const lo = this.u32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** Uniform integer in [0, n), unbiased (rejection), n ≤ 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`int(n) needs an integer 1 ≤ n ≤ 2^32, got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.u32();
      if (x < limit) return x % n;
    }
  }

  /** Uniform integer in [lo, hi] (both included). */
  intBetween(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** Standard normal (Box–Muller, no cached spare: the state stays four words). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** An element chosen uniformly. */
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError("pick from an empty array");
    return xs[this.int(xs.length)]!;
  }

  /** Fisher–Yates shuffle in place; returns the array. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = xs[i]!;
      xs[i] = xs[j]!;
      xs[j] = t;
    }
    return xs;
  }
}

// ***** mulberry32: the puzzle generators' stream *****

/** A source of uniforms in [0, 1). */
export type Uniform = () => number;

/** mulberry32 (Tommy Ettinger): 32-bit state, uniforms with 32 random bits. Same seed, same sequence. */
export function mulberry32(seed: number): Uniform {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in [lo, hi] inclusive (one draw; the generators' sequences depend on exactly this). */
export function randInt(u: Uniform, lo: number, hi: number): number {
  return lo + Math.floor(u() * (hi - lo + 1));
}

/** Fisher–Yates shuffle in place with a Uniform; returns the array. */
export function shuffle<T>(u: Uniform, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

// ***** xoshiro128**: the init and sampling streams *****

/** xoshiro128** over four 32-bit words (never all zero). */
export class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(s0: number, s1: number, s2: number, s3: number) {
    if ((s0 | s1 | s2 | s3) === 0) throw new RangeError("xoshiro128** state must not be all zero");
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
  }

  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
