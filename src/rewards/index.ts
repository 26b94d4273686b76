/**
 * Rewards: pure, bounded verifiers and the one reward contract (`Reward`, src/rewards/types.ts);
 * `composeRewards` (./compose.ts) weighs the named parts — accuracy, format, language, length, judge.
 */
import { verifyMath } from "./math/index.js";
import type { MathOptions } from "./math/index.js";
import type { Reward } from "./types.js";

export type { Reward, RewardResult, Scored, ScoreContext, ProblemLike } from "./types.js";
export { composeRewards, parseRewardWeights, formatRewardWeights, lengthRewards, REWARD_PARTS, type RewardPart, type RewardWeights, type GroupScorer, type GroupResponse, type ComposeOptions } from "./compose.js";
export { verifyMath } from "./math/index.js";
export type { MathOptions, MathResult } from "./math/index.js";
export { scoreCountdown } from "./countdown.js";
export { scoreKK } from "./kk.js";
export { scoreFormat } from "./format.js";
export { scoreLanguage } from "./language.js";
export { judgeReward, parseVerdict, judgedAnswer, compileJudgeTemplate, judgeUrl, JUDGE_TEMPLATE, JUDGE_PLACEHOLDERS, type JudgeOptions } from "./judge.js";

export interface MathRewardOptions extends MathOptions {
  /** Score for a correct answer (1) and for a wrong or missing one (0). */
  correct?: number;
  wrong?: number;
}

/** The math reward as a Reward: 1 when verifyMath says correct, else 0 (values configurable); ctx.responsePrefix is the prefix. */
export function mathReward(o: MathRewardOptions = {}): Reward<string> {
  return (response, problem, ctx) => {
    const r = verifyMath(response, problem.reference, { ...o, prefix: o.prefix ?? ctx?.responsePrefix ?? "" });
    const score = r.correct ? (o.correct ?? 1) : (o.wrong ?? 0);
    return { reward: score, parts: { accuracy: r.correct ? 1 : 0 }, correct: r.correct, extracted: r.extracted, reason: r.reason };
  };
}
