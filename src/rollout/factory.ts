/**
 * One place that builds a rollout engine from a description, so the trainer's `rollout.engine: local |
 * remote` choice is one call: `createRolloutEngine({ kind: "remote", baseUrl, model, ... })`.
 *
 * For remote rollouts the trainer should also set `rl.tisCap` (truncated importance sampling, see
 * ./remote.ts): the endpoint's log-probs come back as `Completion.logprobs` (logpEngine).
 */
import type { InferenceModel } from "../model/sample.js";
import type { RolloutEngine } from "./engine.js";
import { LocalRolloutEngine, type LocalEngineOptions } from "./local.js";
import { RemoteRolloutEngine, type RemoteEngineOptions } from "./remote.js";

export type EngineSpec<C = unknown> =
  | ({ kind: "local"; model: InferenceModel<C> } & LocalEngineOptions)
  | ({ kind: "remote" } & RemoteEngineOptions);

export function createRolloutEngine<C>(spec: EngineSpec<C>): RolloutEngine {
  if (spec.kind === "local") {
    const { kind: _k, model, ...o } = spec;
    return new LocalRolloutEngine(model, o);
  }
  const { kind: _k, ...o } = spec;
  // A trainer needs the completion's token ids; prompts go as ids.
  return new RemoteRolloutEngine({ requireTokenIds: true, promptFormat: "ids", ...o });
}
