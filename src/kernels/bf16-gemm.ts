/**
 * Which path bf16 matrix products take on this machine, per shape class (native/addon.cc):
 *   "onednn"  oneDNN's bf16 matmul on bf16 buffers (fp32 operands converted to bf16 first)
 *   "emulate" operands rounded to bf16 but kept in fp32, then oneDNN's fp32 matmul
 * Both multiply the same bf16 values (exact in fp32) and accumulate in fp32: results differ only by
 * fp32 accumulation order, so determinism given a seed does not depend on the path.
 *
 * Classes: "decode" (m or n < 32), "nt" (x · Wᵀ), "nn" (dout · W), "tn" (doutᵀ · x). Each is timed once
 * per machine (./choice.ts: cached, AHA_BF16_GEMM=onednn|emulate overrides) on a shape of its kind with
 * operands as the model passes them (fp32 activations, bf16 weights), a few milliseconds per round.
 */
import { choose, cacheFileFromEnv, machineBusy, overrideFromEnv, thisCpu, type Choice, type Chosen, type MachineId, type Measured } from "./choice.js";
import type { NativeAddon } from "./native.js";

export const BF16_PATHS = ["onednn", "emulate"] as const;
export type Bf16Path = (typeof BF16_PATHS)[number];
export const BF16_CLASSES = ["decode", "nt", "nn", "tn"] as const;
export type Bf16Class = (typeof BF16_CLASSES)[number];

/** The environment variable that forces one path for every class. */
export const BF16_ENV = "AHA_BF16_GEMM";

/**
 * The product timed for each class: m, n, k, flags (1 transA, 2 transB), whether b is a bf16 array.
 * decode: 16 rows through a Qwen2.5-0.5B MLP weight; the others: 1,024 rows through a 512 × 512 weight.
 */
export const BF16_PROBES: Record<Bf16Class, { m: number; n: number; k: number; flags: number; bBf16: boolean }> = {
  decode: { m: 16, n: 4864, k: 896, flags: 2, bBf16: true },
  nt: { m: 1024, n: 512, k: 512, flags: 2, bBf16: true },
  nn: { m: 1024, n: 512, k: 512, flags: 0, bBf16: true },
  tn: { m: 512, n: 512, k: 1024, flags: 1, bBf16: false },
};

/**
 * Rounds per path and the target time of one round. The paths alternate round by round and the best
 * round of each is kept: on a shared machine a round can be slowed many times over by other processes
 * (seen: 20× on 2 cores under load 25), and the minimum of many short rounds is what survives that.
 */
const ROUNDS = 9;
const ROUND_SECONDS = 0.004;
/** Steady: the machine not busy, and for each path the two best rounds within this factor of each other. */
const STEADY = 1.2;

/** Seconds per call of each path on `cls`'s probe: best of ROUNDS alternating rounds (~0.08 s in all). */
export function measureBf16Class(addon: NativeAddon, cls: Bf16Class): Measured<Bf16Path> {
  const { m, n, k, flags, bBf16 } = BF16_PROBES[cls];
  const a = new Float32Array(m * k), bf = new Float32Array(k * n);
  for (let i = 0; i < a.length; i++) a[i] = Math.sin(i) * 0.5;
  for (let i = 0; i < bf.length; i++) bf[i] = Math.cos(i) * 0.5;
  const b16 = new Uint16Array(bf.length);
  addon.toBf16(b16, bf);
  const b = bBf16 ? b16 : bf;
  const c = new Float32Array(m * n);
  const call = (): void => addon.matmul(c, a, b, m, n, k, flags | 8);
  const iters: Record<Bf16Path, number> = { onednn: 1, emulate: 1 };
  const rounds: Record<Bf16Path, number[]> = { onednn: [], emulate: [] };
  for (const p of BF16_PATHS) {
    addon.setBf16Path(cls, p);
    call(); // primitive creation, scratch buffers
    const t0 = performance.now();
    call();
    const one = Math.max((performance.now() - t0) / 1e3, 1e-6);
    iters[p] = Math.max(1, Math.min(100, Math.round(ROUND_SECONDS / one)));
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const p of BF16_PATHS) {
      addon.setBf16Path(cls, p);
      const t0 = performance.now();
      for (let i = 0; i < iters[p]; i++) call();
      rounds[p].push((performance.now() - t0) / 1e3 / iters[p]);
    }
  }
  const seconds = {} as Record<Bf16Path, number>;
  let steady = !machineBusy();
  for (const p of BF16_PATHS) {
    const r = rounds[p].sort((x, y) => x - y);
    seconds[p] = r[0]!;
    steady &&= r[1]! <= STEADY * r[0]!;
  }
  return { seconds, steady };
}

export interface Bf16Resolution {
  choices: Record<Bf16Class, Chosen<Bf16Path>>;
  cacheFile: string | null;
}

/** This machine's identity for the cache, with the addon's library versions and thread count. */
export function nativeMachine(addon: NativeAddon): MachineId {
  const v = addon.versions();
  return { ...thisCpu(), libs: { onednn: v.onednn, onednnIsa: v.isa }, threads: addon.info().threads };
}

/**
 * Sets every class's path on the addon: AHA_BF16_GEMM if set, else the cache, else a measurement.
 * `measure` is injectable (tests); by default the probe above.
 */
export function resolveBf16Gemm(addon: NativeAddon, env: NodeJS.ProcessEnv = process.env,
  measure: (cls: Bf16Class) => Measured<Bf16Path> = (cls) => measureBf16Class(addon, cls)): Bf16Resolution {
  const override = overrideFromEnv(BF16_ENV, BF16_PATHS, env);
  const cacheFile = cacheFileFromEnv(env);
  const list: Array<Choice<Bf16Path>> = BF16_CLASSES.map((cls) => ({
    name: `bf16-gemm:${cls}`, paths: BF16_PATHS, measure: () => measure(cls),
  }));
  const got = choose(list, { cacheFile, machine: nativeMachine(addon), override });
  const choices = {} as Record<Bf16Class, Chosen<Bf16Path>>;
  for (const cls of BF16_CLASSES) {
    choices[cls] = got[`bf16-gemm:${cls}`]!;
    addon.setBf16Path(cls, choices[cls].path);
  }
  return { choices, cacheFile };
}
