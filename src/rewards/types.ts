/**
 * The reward contract (one for training, evaluation and sampling):
 *
 *   Reward<R> = (response, problem, ctx) → Scored | Promise<Scored>
 *
 * `Scored.reward` is the scalar (null = unscorable: left out of the group's baseline, advantage 0),
 * `parts` names its components. A task's verifier is a Reward (src/tasks/types.ts's `Task.score`);
 * src/rewards/compose.ts weighs the named parts (accuracy, format, language, length, judge) into one.
 *
 * The verifiers themselves (scoreCountdown, scoreKK, scoreFormat, scoreLanguage, codeReward, …) return
 * their verdict as a `RewardResult` ({ score, parts, reason }); a task or a part wraps that into `Scored`.
 */

/** A verifier's verdict. */
export interface RewardResult {
  score: number;
  parts: Record<string, number>;
  reason: string;
}

/** A scored response. */
export interface Scored {
  /** The scalar reward; null = unscorable (left out of the group's baseline, advantage 0). */
  reward: number | null;
  parts: Record<string, number>;
  correct: boolean;
  extracted: string | null;
  reason: string;
}

export interface ScoreContext {
  /** Text the prompt ends with that belongs to the response (the r1-zero template's "<think>"). */
  responsePrefix: string;
}

/** What a reward reads of a problem (src/tasks/types.ts's Problem fits). */
export interface ProblemLike<R = unknown> {
  id: string;
  question: string;
  /** The gold answer as text. */
  answer: string;
  /** What the verifier takes (a gold string, { numbers, target }, a K&K puzzle, tests, …). */
  reference: R;
}

/** The reward contract. Async allowed (the code sandbox, a judge endpoint). */
export type Reward<R = unknown> = (response: string, problem: ProblemLike<R>, ctx: ScoreContext) => Scored | Promise<Scored>;
