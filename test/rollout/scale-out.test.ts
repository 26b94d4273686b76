/**
 * Scale-out end to end on the demo model: a run samples from two `aha serve` servers and pushes its
 * weights to both after every update — full fine-tuning through SGLang's /update_weights_from_disk,
 * LoRA through vLLM's /v1/load_lora_adapter — in sync mode (each step's samples from the weights of
 * the step before) and async mode (staleness ≤ max-staleness). The servers end holding exactly the
 * trainer's weights.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFromArgs } from "../../src/cli/serve.js";
import { saveHfModel } from "../../src/formats/hf.js";
import { parseHfConfig } from "../../src/model/config.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { isTimingKey } from "../../src/rl/trainer.js";
import { DEMO_MODEL, prepareTrainRun } from "../../src/runner/index.js";
import type { RunningServer } from "../../src/serve/server.js";
import { readJsonl } from "../../src/util/jsonl.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "aha-scale-out-"));
let servers: RunningServer[] = [];
beforeAll(async () => {
  servers = [await serve(DEMO_MODEL), await serve(DEMO_MODEL)];
}, 60_000);
afterAll(async () => {
  for (const s of servers) await s.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function serve(dir: string, extra: string[] = []): Promise<RunningServer> {
  return (await startFromArgs(["--model", dir, "--port", "0", "--served-model-name", "demo", "--slots", "16", "--max-len", "160", ...extra]))!;
}

const health = async (s: RunningServer): Promise<Record<string, unknown>> => (await (await fetch(s.url + "/health")).json()) as Record<string, unknown>;

/** Greedy token ids of a few prompts (prompts as ids, so no tokenizer differences). */
async function greedy(url: string, model = "demo"): Promise<number[][]> {
  const res = await fetch(url + "/v1/completions", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ model, prompt: [[1, 5, 6, 7], [1, 9, 8, 7, 6]], max_tokens: 12, temperature: 0, return_token_ids: true, skip_special_tokens: false }),
  });
  const j = (await res.json()) as { choices: { index: number; token_ids: number[] }[] };
  return j.choices.sort((a, b) => a.index - b.index).map((c) => c.token_ids);
}

const SMALL = { model: DEMO_MODEL, "samples-per-step": 16, "prompts-per-step": 4, "group-size": 4, "max-new-tokens": 60, "eval-samples": 0, "save-every": 0, "tis-cap": 2, "rollout-engine": "remote", "rollout-model-name": "demo", "rollout-concurrency": 2 };

describe("weights pushed to two aha serve servers", () => {
  it("full fine-tuning, SGLang's route, sync mode: every step samples the previous step's weights; the servers end with the trainer's", async () => {
    const before = await Promise.all(servers.map((s) => health(s)));
    const dir = path.join(tmp, "sync");
    const run = await prepareTrainRun({ ...SMALL, steps: 3, "run-dir": dir, "rollout-endpoint": servers.map((s) => s.url + "/v1").join(","), "rollout-sync": "sglang" });
    const res = await run.run();
    await run.close();
    expect(res.metrics.map((m) => m["rollout/staleness"])).toEqual([0, 0, 0]);
    expect(res.metrics.map((m) => m["rollout/endpoints_up"])).toEqual([2, 2, 2]);
    const rows = readJsonl<{ step: number; weight_version: number; response: string; truncated: boolean }>(path.join(dir, "samples.jsonl")).rows;
    for (const r of rows) expect(r.weight_version).toBe(r.step - 1);
    // the servers stop at the task's stop string, a special token of the demo's vocabulary, as the local engine does
    const ended = rows.filter((r) => !r.truncated);
    expect(ended.length).toBeGreaterThan(0);
    for (const r of ended) expect(r.response).toMatch(/<\/answer>$/);
    const after = await Promise.all(servers.map((s) => health(s)));
    after.forEach((h, i) => expect(h["weight_version"]).toBe((before[i]!["weight_version"] as number) + 4)); // the start + 3 steps
    // what the servers hold now = the trainer's final weights (a fresh server on the last checkpoint)
    const fresh = await serve(path.join(dir, "checkpoints", "step-3", "model"));
    try {
      const want = await greedy(fresh.url);
      for (const s of servers) expect(await greedy(s.url)).toEqual(want);
      expect(await greedy(fresh.url)).not.toEqual(await greedy((await serveBase()).url));
    } finally {
      await fresh.close();
      await base?.close();
    }
  }, 120_000);

  it("sync mode is deterministic: the same seed through two fresh servers gives the same run", async () => {
    const once = async (name: string): Promise<Record<string, number>[]> => {
      const fresh = [await serve(DEMO_MODEL), await serve(DEMO_MODEL)];
      servers.push(...fresh);
      const run = await prepareTrainRun({ ...SMALL, steps: 2, "run-dir": path.join(tmp, name), "rollout-endpoint": fresh.map((x) => x.url + "/v1").join(","), "rollout-sync": "sglang" });
      const res = await run.run();
      await run.close();
      return res.metrics.map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => !isTimingKey(k))));
    };
    expect(await once("det-a")).toEqual(await once("det-b"));
  }, 120_000);

  it("async, max-staleness 1: the run overlaps sampling with training and never trains on older samples", async () => {
    const dir = path.join(tmp, "async");
    const run = await prepareTrainRun({ ...SMALL, steps: 4, "run-dir": dir, "rollout-endpoint": servers.map((s) => s.url + "/v1").join(","), "rollout-sync": "sglang", async: true, "max-staleness": 1 });
    const res = await run.run();
    await run.close();
    const st = res.metrics.map((m) => m["rollout/staleness"]!);
    expect(Math.max(...st)).toBe(1);
    expect(st[0]).toBe(0);
    const rows = readJsonl<{ step: number; weight_version: number }>(path.join(dir, "samples.jsonl")).rows;
    for (const r of rows) expect(r.step - 1 - r.weight_version).toBeLessThanOrEqual(1);
  }, 120_000);

  it("a server that fails to load the weights is held out of the rollouts (no sample from older weights), and the run goes on", async () => {
    // B serves a model of another shape: every weight update fails there
    const cfg = parseHfConfig({
      architectures: ["LlamaForCausalLM"], vocab_size: 21, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2,
      num_key_value_heads: 2, tie_word_embeddings: true, max_position_embeddings: 256, bos_token_id: 1, eos_token_id: 2,
    }, "config.json");
    const m = new Model(cfg);
    initParams(m.params, cfg, 3);
    const other = path.join(tmp, "other-shape");
    saveHfModel(other, cfg, m.params, { copyFrom: DEMO_MODEL });
    const a = await serve(DEMO_MODEL);
    const b = await serve(other);
    servers.push(a, b);
    const warned: string[] = [];
    const dir = path.join(tmp, "held");
    const run = await prepareTrainRun({ ...SMALL, steps: 2, "run-dir": dir, "rollout-endpoint": [a, b].map((s) => s.url + "/v1").join(","), "rollout-sync": "sglang" }, { reporter: { warn: (l) => warned.push(l) } });
    const res = await run.run();
    await run.close();
    expect(res.steps).toBe(2);
    expect(warned.join("\n")).toMatch(new RegExp(`${b.url}/v1 did not load the weights of step 0 .*it gets no requests`));
    expect((await health(b))["completion_tokens"]).toBe(0); // B sampled nothing
    expect((await health(a))["completion_tokens"] as number).toBeGreaterThan(0);
    expect(res.metrics.map((x) => x["rollout/endpoints_up"])).toEqual([1, 1]);
  }, 120_000);

  it("LoRA, vLLM's route: the policy is served as an adapter the requests name", async () => {
    const dir = path.join(tmp, "lora");
    const fresh2 = [await serve(DEMO_MODEL), await serve(DEMO_MODEL)]; // the base weights (the tests above changed the others')
    servers.push(...fresh2);
    const run = await prepareTrainRun({ ...SMALL, steps: 2, "lora-rank": 4, lr: 0.02, "run-dir": dir, "rollout-endpoint": fresh2.map((s) => s.url + "/v1").join(","), "rollout-sync": "vllm" });
    const res = await run.run();
    await run.close();
    expect(res.steps).toBe(2);
    for (const s of fresh2) {
      const models = (await (await fetch(s.url + "/v1/models")).json()) as { data: { id: string; parent: string | null }[] };
      expect(models.data.find((m) => m.id === "aha-policy")).toMatchObject({ parent: "demo" });
    }
    // the adapter the servers hold is the run's last one: a fresh server with it answers the same
    const fresh = await serve(DEMO_MODEL, ["--adapter", path.join(dir, "checkpoints", "step-2", "model")]);
    try {
      const want = await greedy(fresh.url);
      for (const s of fresh2) expect(await greedy(s.url, "aha-policy")).toEqual(want);
      expect(await greedy(fresh2[0]!.url, "demo")).not.toEqual(want); // the base name still answers with the base
    } finally {
      await fresh.close();
    }
  }, 120_000);
});

let base: RunningServer | null = null;
async function serveBase(): Promise<RunningServer> {
  base ??= await serve(DEMO_MODEL);
  return base;
}
