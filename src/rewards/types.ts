/**
 * The reward contract the trainer uses: a pure function (response, reference) → { score, parts, reason }.
 * `parts` names the components (e.g. { format: 1, answer: 2 }); `score` is their (weighted) total.
 * Rewards are combined with weights by `combineRewards` (src/rewards/index.ts).
 */
export interface RewardResult {
  score: number;
  parts: Record<string, number>;
  reason: string;
}

/** A reward function. `reference` is task-specific (a gold string, { numbers, target }, a K&K puzzle…). */
export type RewardFn<R = unknown> = (response: string, reference: R) => RewardResult;
