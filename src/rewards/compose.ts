/**
 * Rewards that compose: `--reward accuracy=1,format=0.1,language=0.1` (the same key in YAML) weighs
 * named parts into one scalar, R = Σ weight · part. The parts:
 *   accuracy — the task's verifier (its reward as the task defines it: Countdown's 0 / 0.1 / 1, …);
 *   format   — R1's tags: `<think>…</think>` then `<answer>…</answer>` and nothing else (1 / 0);
 *   language — R1's language-consistency reward: the share of the chain of thought in the target
 *              language (DeepSeek-R1 §2.3.3);
 *   length   — Kimi k1.5's length reward (§2.3.3): within a group, λ = 0.5 − (len − min)/(max − min);
 *              a correct response gets λ, a wrong one min(0, λ); 0 when all lengths are equal;
 *   judge    — an OpenAI-compatible endpoint grades the response against the reference answer
 *              (src/rewards/judge.ts); a failed call is unscorable, never a silent 0.
 * A response is unscorable (reward null) when its accuracy or judge part is. Each part's raw value is
 * in `parts` under its name (the trainer's metric `reward/<part>`); the task's own sub-parts follow as
 * `accuracy.<name>`. Responses of a group are scored concurrently (async parts: the code sandbox, a judge).
 */
import { UserError } from "../errors.js";
import { scoreFormat } from "./format.js";
import { scoreLanguage } from "./language.js";
import type { ProblemLike, Reward, ScoreContext, Scored } from "./types.js";

export const REWARD_PARTS = ["accuracy", "format", "language", "length", "judge"] as const;
export type RewardPart = (typeof REWARD_PARTS)[number];
export type RewardWeights = Partial<Record<RewardPart, number>>;

/** "accuracy=1,format=0.1" → { accuracy: 1, format: 0.1 }; errors name the part (`where` names the setting). */
export function parseRewardWeights(text: string, where = "reward"): RewardWeights {
  const out: RewardWeights = {};
  const items = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (items.length === 0) throw new UserError(`${where}: no reward parts given`, `e.g. accuracy=1,format=0.1 (parts: ${REWARD_PARTS.join(", ")})`);
  for (const item of items) {
    const eq = item.indexOf("=");
    const name = (eq < 0 ? item : item.slice(0, eq)).trim();
    const value = eq < 0 ? "1" : item.slice(eq + 1).trim();
    if (!(REWARD_PARTS as readonly string[]).includes(name)) throw new UserError(`${where}: unknown reward part '${name}' (parts: ${REWARD_PARTS.join(", ")})`);
    const w = Number(value);
    if (value === "" || !Number.isFinite(w)) throw new UserError(`${where}: weight of '${name}' must be a number, got '${value}'`);
    if (name in out) throw new UserError(`${where}: part '${name}' given twice`);
    out[name as RewardPart] = w;
  }
  return out;
}

/** The weights as text again ("accuracy=1,format=0.1"). */
export function formatRewardWeights(w: RewardWeights): string {
  return Object.entries(w).map(([k, v]) => `${k}=${v}`).join(",");
}

/** Kimi k1.5's length reward for one group: lengths in tokens, correct per response. */
export function lengthRewards(lengths: readonly number[], correct: readonly boolean[]): number[] {
  const min = Math.min(...lengths);
  const max = Math.max(...lengths);
  if (!(max > min)) return lengths.map(() => 0);
  return lengths.map((len, i) => {
    const lambda = 0.5 - (len - min) / (max - min);
    return correct[i] ? lambda : Math.min(0, lambda);
  });
}

export interface ComposeOptions<R> {
  weights: RewardWeights;
  /** The task's verifier. */
  accuracy: Reward<R>;
  /** The language part's target language (src/rewards/language.ts: en, zh, …). */
  language?: string;
  /** The judge part (src/rewards/judge.ts); required when `weights.judge` is set. */
  judge?: Reward<R> | null;
}

/** One response of a group: its text and its length in tokens. */
export interface GroupResponse {
  text: string;
  tokens: number;
}

/** Scores a group's responses to one problem (async: parts may be). */
export type GroupScorer<R = unknown> = (responses: readonly GroupResponse[], problem: ProblemLike<R>, ctx: ScoreContext) => Promise<Scored[]>;

export function composeRewards<R>(o: ComposeOptions<R>): GroupScorer<R> {
  const w = o.weights;
  const names = Object.keys(w) as RewardPart[];
  if (names.length === 0) throw new UserError("reward: no reward parts given", `e.g. accuracy=1 (parts: ${REWARD_PARTS.join(", ")})`);
  if (w.judge !== undefined && !o.judge) throw new UserError("reward: the judge part needs a judge endpoint", "set judge-endpoint and judge-model");
  return async (responses, problem, ctx) => {
    const one = async (text: string): Promise<{ acc: Scored; judge: Scored | null }> => {
      const [acc, judge] = await Promise.all([o.accuracy(text, problem, ctx), w.judge !== undefined ? o.judge!(text, problem, ctx) : null]);
      return { acc, judge };
    };
    const got = await Promise.all(responses.map((r) => one(r.text)));
    const length = w.length !== undefined ? lengthRewards(responses.map((r) => r.tokens), got.map((g) => g.acc.correct)) : null;
    return got.map(({ acc, judge }, i): Scored => {
      const text = responses[i]!.text;
      const parts: Record<string, number> = {};
      const reasons: string[] = [];
      let total: number | null = 0;
      const add = (name: RewardPart, v: number | null, reason?: string): void => {
        if (reason !== undefined && names.length > 1) reasons.push(`${name}: ${reason}`);
        else if (reason !== undefined) reasons.push(reason);
        if (v === null) {
          total = null;
          return;
        }
        parts[name] = v;
        if (total !== null) total += w[name]! * v;
      };
      for (const name of names) {
        if (name === "accuracy") add(name, acc.reward, acc.reason);
        else if (name === "format") add(name, scoreFormat(text, null, { prefix: ctx.responsePrefix }).score);
        else if (name === "language") add(name, scoreLanguage(text, null, { prefix: ctx.responsePrefix, ...(o.language ? { lang: o.language } : {}) }).score);
        else if (name === "length") add(name, length![i]!);
        else add(name, judge!.reward, judge!.reason);
      }
      if (names.includes("accuracy")) for (const [k, v] of Object.entries(acc.parts)) if (k !== "accuracy") parts[`accuracy.${k}`] = v;
      return { reward: total, parts, correct: acc.correct, extracted: acc.extracted, reason: reasons.join("; ") };
    });
  };
}
