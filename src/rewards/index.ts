/**
 * Rewards: pure, bounded verifiers `(response, reference) → { score, parts, reason }` and a registry
 * by name for the trainer ("math", "countdown", "kk", "format", "language"). `combineRewards` sums
 * weighted rewards into one (parts are prefixed with each reward's name).
 */
import { scoreCountdown } from "./countdown.js";
import type { CountdownOptions, CountdownRef } from "./countdown.js";
import { scoreFormat } from "./format.js";
import type { FormatOptions } from "./format.js";
import { scoreKK } from "./kk.js";
import type { KKOptions, KKPuzzle } from "./kk.js";
import { scoreLanguage } from "./language.js";
import type { LanguageOptions } from "./language.js";
import { verifyMath } from "./math/index.js";
import type { MathOptions } from "./math/index.js";
import type { RewardFn, RewardResult } from "./types.js";

export type { RewardFn, RewardResult } from "./types.js";
export { verifyMath } from "./math/index.js";
export type { MathOptions, MathResult } from "./math/index.js";
export { scoreCountdown } from "./countdown.js";
export { scoreKK } from "./kk.js";
export { scoreFormat } from "./format.js";
export { scoreLanguage } from "./language.js";

export interface MathRewardOptions extends MathOptions {
  /** Score for a correct answer (1) and for a wrong or missing one (0). */
  correct?: number;
  wrong?: number;
}

/** The math reward: 1 when verifyMath says correct, else 0 (values configurable). Reference: the gold answer string. */
export function mathReward(o: MathRewardOptions = {}): RewardFn<string> {
  return (response, gold) => {
    const r = verifyMath(response, gold, o);
    const score = r.correct ? (o.correct ?? 1) : (o.wrong ?? 0);
    return { score, parts: { math: score }, reason: r.reason };
  };
}

/** name → factory(options) → reward function. */
export const REWARDS = {
  math: (o: MathRewardOptions = {}): RewardFn<string> => mathReward(o),
  countdown: (o: CountdownOptions = {}): RewardFn<CountdownRef> => (r, ref) => scoreCountdown(r, ref, o),
  kk: (o: KKOptions = {}): RewardFn<Pick<KKPuzzle, "names" | "solution">> => (r, ref) => scoreKK(r, ref, o),
  format: (o: FormatOptions = {}): RewardFn<unknown> => (r) => scoreFormat(r, null, o),
  language: (o: LanguageOptions = {}): RewardFn<unknown> => (r) => scoreLanguage(r, null, o),
} as const;

export type RewardName = keyof typeof REWARDS;

export interface WeightedReward<R = unknown> {
  name: string;
  fn: RewardFn<R>;
  weight: number;
}

/**
 * Σ weight·score over the rewards, all given the same reference. parts: `${name}` → weighted score
 * of each, plus `${name}.${part}` for each reward's own (unweighted) parts. A reward that throws
 * (it should not) scores 0 and is named in the reason.
 */
export function combineRewards<R>(rewards: WeightedReward<R>[]): RewardFn<R> {
  return (response, ref) => {
    let score = 0;
    const parts: Record<string, number> = {};
    const reasons: string[] = [];
    for (const { name, fn, weight } of rewards) {
      let r: RewardResult;
      try {
        r = fn(response, ref);
      } catch (e) {
        r = { score: 0, parts: {}, reason: `error: ${e instanceof Error ? e.message : String(e)}` };
      }
      score += weight * r.score;
      parts[name] = weight * r.score;
      for (const [k, v] of Object.entries(r.parts)) parts[`${name}.${k}`] = v;
      reasons.push(`${name}: ${r.reason}`);
    }
    return { score, parts, reason: reasons.join("; ") };
  };
}
