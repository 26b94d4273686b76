/**
 * The reward section of the config (keys: reward, judge-…; see src/util/config.ts): which parts make
 * the reward and with what weights (src/rewards/compose.ts), and the judge part's endpoint.
 */
import { z } from "zod";
import { setting as f } from "../util/config.js";
import { parseRewardWeights, REWARD_PARTS } from "./compose.js";

export const rewardSchema = z.strictObject({
  reward: f(
    z.string().min(1),
    "accuracy=1",
    `Reward parts with weights, R = Σ weight·part (${REWARD_PARTS.join(", ")}): accuracy = the task's verifier; format = R1's <think>…</think><answer>…</answer> shape (1/0); language = share of the chain of thought in the target language (key 'language'); length = Kimi k1.5's length reward within a group; judge = an OpenAI-compatible grader (judge-* keys). E.g. accuracy=1,format=0.1,language=0.1.`,
    "DeepSeek-R1 §2.2.2 (accuracy + format), §2.3.3 (language consistency); Kimi k1.5 §2.3.3 (length); General-Reasoner (model-based verifier)",
  ),
  judgeEndpoint: f(z.string().min(1).nullable(), null, "Base URL of the judge's OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (the judge part needs it)."),
  judgeModel: f(z.string().min(1).nullable(), null, "The judge model's name at that server."),
  judgeTemplate: f(z.string().min(1).nullable(), null, "A file holding the judge's prompt template with {question}, {reference} and {response} (none = the built-in JUDGE_TEMPLATE; the reply must end 'Final Decision: Yes|No')."),
  judgeApiKey: f(z.string().min(1).nullable(), null, "Bearer key for the judge (default: $OPENAI_API_KEY)."),
  judgeRetries: f(z.int().min(0), 3, "Retries of a failed judge call (429, 5xx, network, timeout); after them the response is unscorable, never 0."),
  judgeTimeout: f(z.number().gt(0), 60, "Seconds a judge call may take."),
  judgeConcurrency: f(z.int().min(1), 8, "Judge calls in flight at once."),
});

export type RewardConfig = z.output<typeof rewardSchema>;

export function checkReward(c: RewardConfig): string[] {
  let weights: Record<string, number>;
  try {
    weights = parseRewardWeights(c.reward);
  } catch (e) {
    return [(e as Error).message];
  }
  const out: string[] = [];
  if ("judge" in weights && (c.judgeEndpoint === null || c.judgeModel === null)) out.push("reward includes 'judge': set judge-endpoint URL and judge-model NAME");
  return out;
}

export const rewardSection = { title: "Reward", prefix: "", schema: rewardSchema, check: checkReward };
