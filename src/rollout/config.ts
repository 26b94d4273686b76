/**
 * The rollout section of the config (keys: rollout-engine, rollout-endpoint, …; see src/util/config.ts)
 * and the engine it describes: `rolloutEngineFromConfig(c, { model, … })` is the one call a trainer makes
 * for `rollout-engine: local | remote`.
 */
import { z } from "zod";
import { setting as f } from "../util/config.js";
import type { InferenceModel } from "../model/sample.js";
import type { RolloutEngine } from "./engine.js";
import { parseEndpointList } from "./endpoints.js";
import { createRolloutEngine } from "./factory.js";


export const rolloutSchema = z.strictObject({
  engine: f(z.enum(["local", "remote"]), "local", "Where rollouts are sampled: local (the policy in this process, KV-cache batch) or remote (an OpenAI-compatible server: vLLM, SGLang, aha serve; set endpoint and model-name, and tis-cap)."),
  endpoint: f(z.string().min(1).nullable(), null, "Base URL of the remote engine, e.g. http://127.0.0.1:8000/v1; or several, comma-separated, serving the same model: requests are balanced (fewest in flight) and fail over; the run stops only when none answers."),
  modelName: f(z.string().min(1).nullable(), null, "The model's name at the remote engine."),
  apiKey: f(z.string().min(1).nullable(), null, "Bearer key for the remote engine (default: $OPENAI_API_KEY)."),
  concurrency: f(z.int().min(1), 16, "Remote requests in flight at once, per endpoint (one request per prompt, n = group size)."),
  retries: f(z.int().min(0), 5, "Retries of a remote request on 429 / 5xx / network errors, over all endpoints (another endpoint at once, else exponential backoff)."),
  slots: f(z.int().min(1).nullable(), null, "Local: sequences decoded at once (KV-cache slots); none = prompts per step × group size."),
  sync: f(z.enum(["none", "vllm", "sglang"]), "none", "Remote: push the trainer's weights to the servers after updates — vllm: POST /v1/load_lora_adapter with a PEFT adapter folder (LoRA runs; vLLM with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True); sglang: POST /update_weights_from_disk with a Hugging Face folder (full fine-tuning). aha serve answers both. none: the servers keep their weights (then set tis-cap).", "vLLM and SGLang weight-update APIs"),
  syncEvery: f(z.int().min(1), 1, "Remote: push the weights every N steps."),
  syncDir: f(z.string().min(1).nullable(), null, "Remote: the folder pushed weights are written to; the servers must be able to read it (none = <run-dir>/weights)."),
  loraName: f(z.string().min(1), "aha-policy", "Remote with sync vllm: the adapter's name at the servers (requests then name it as the model)."),
});

export type RolloutConfig = z.output<typeof rolloutSchema>;

export function checkRollout(c: RolloutConfig): string[] {
  const out: string[] = [];
  if (c.engine === "remote" && c.endpoint === null) out.push("rollout-engine = remote needs rollout-endpoint URL");
  if (c.endpoint !== null) {
    try {
      parseEndpointList(c.endpoint);
    } catch (e) {
      out.push(`rollout-endpoint: ${(e as Error).message}`);
    }
  }
  if (c.engine === "remote" && c.modelName === null) out.push("rollout-engine = remote needs rollout-model-name (the model's name at the endpoint)");
  if (c.sync !== "none" && c.engine !== "remote") out.push(`rollout-sync = ${c.sync} pushes weights to remote servers; it needs rollout-engine = remote`);
  return out;
}

export const rolloutSection = { title: "Rollout engine", prefix: "rollout-", schema: rolloutSchema, check: checkRollout };

export interface LocalParts<C> {
  model: InferenceModel<C>;
  /** Slots when the config leaves them to the trainer. */
  slots: number;
  maxLen: number;
  decode?: (ids: Int32Array) => string;
  seed?: number;
}

/** The engine of the config. Remote: prompts go as token ids, token ids and log-probs come back (see ./remote.ts). */
export function rolloutEngineFromConfig<C>(c: RolloutConfig, local: LocalParts<C>): RolloutEngine {
  if (c.engine === "local") {
    return createRolloutEngine({
      kind: "local", model: local.model, slots: c.slots ?? local.slots, maxLen: local.maxLen,
      ...(local.decode ? { decode: local.decode } : {}), ...(local.seed !== undefined ? { seed: local.seed } : {}),
    });
  }
  const apiKey = c.apiKey ?? process.env.OPENAI_API_KEY;
  return createRolloutEngine({
    kind: "remote", baseUrl: c.endpoint!, model: c.modelName!, concurrency: c.concurrency, retries: c.retries,
    ...(apiKey ? { apiKey } : {}),
  });
}
