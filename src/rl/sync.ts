/**
 * Weight sync as the step's `afterUpdate` stage: every `every` steps the policy's weights are written to
 * `<dir>/step-<N>` (temp folder, then renamed: a server never reads a half-written folder) — a PEFT
 * adapter folder for LoRA, a Hugging Face folder for full fine-tuning — and every endpoint is told to
 * load them (src/rollout/sync.ts). The weight version is the step whose weights were pushed. Older
 * pushed folders are removed once a newer one is loaded everywhere (the last two are kept). An endpoint
 * that fails to load is reported; when none loads the run stops: training on ever staler samples would
 * be silently off-policy.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { AhaError } from "../errors.js";
import { pushWeights, type PushOptions, type PushResult } from "../rollout/sync.js";
import type { Policy } from "./policy.js";
import type { StepContext } from "./stages.js";

export interface WeightSyncOptions extends PushOptions {
  /** Where pushed weight folders go (the servers must be able to read it). */
  dir: string;
  /** Push every N steps (1 = after every update). */
  every: number;
  /** Called after each push with the version (the step) and the results. */
  onPush?: (version: number, results: PushResult[]) => void;
  warn?: (message: string) => void;
}

export interface WeightSync {
  /** The afterUpdate stage: pushes every `every` steps. */
  stage: (ctx: StepContext, step: number) => Promise<void>;
  /** Pushes the policy's weights as those of `step` now (a run's start: the servers get the weights it starts from). */
  push: (policy: Policy, step: number, engine?: StepContext["engine"]) => Promise<void>;
  /** The step whose weights at least one server loaded last (0 = none pushed: the servers' own, the base). */
  pushedStep(): number;
}

export function weightSyncStage(o: WeightSyncOptions): WeightSync {
  const pushed: string[] = [];
  let last = 0;
  const push = async (policy: Policy, step: number, engine?: StepContext["engine"]): Promise<void> => {
    fs.mkdirSync(o.dir, { recursive: true });
    const folder = path.resolve(o.dir, `step-${step}`);
    const tmp = `${folder}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    policy.saveWeights(tmp);
    fs.rmSync(folder, { recursive: true, force: true });
    fs.renameSync(tmp, folder);
    const results = await pushWeights(o, folder);
    o.onPush?.(step, results);
    const failed = results.filter((r) => !r.ok);
    if (failed.length === results.length) {
      throw new AhaError("AHA_SYNC_FAILED", `no rollout server loaded the weights of step ${step}: ${failed.map((f) => `${f.endpoint}: ${f.message}`).join("; ")}`, "check the servers' logs, and that they can read " + o.dir);
    }
    last = step;
    // a server that did not load them is held out of the rollouts until a later push reaches it: no
    // sample may come from weights older than the version the trainer records
    for (const r of results) engine?.holdEndpoint?.(r.endpoint, r.ok ? null : `did not load the weights of step ${step}: ${r.message}`);
    for (const f of failed) o.warn?.(`${f.endpoint} did not load the weights of step ${step} (${f.message}); it gets no requests until it loads newer weights`);
    if (failed.length === 0) {
      pushed.push(folder);
      while (pushed.length > 2) fs.rmSync(pushed.shift()!, { recursive: true, force: true });
    }
  };  const stage = async (ctx: StepContext, step: number): Promise<void> => {
    if (o.every > 0 && step % o.every === 0) await push(ctx.policy, step, ctx.engine);
  };
  return { stage, push, pushedStep: () => last };
}
