/**
 * prepareTrainRun on the demo model, small: composed rewards end to end (each part a metric, the reward
 * their weighted sum, a judge over HTTP), a broken newest checkpoint (skipped with a warning naming
 * it; recorded rows kept), no usable checkpoint (an error naming the file before anything runs), a
 * truncated optimizer file named before the base evaluation, and a finished run resumed with more steps
 * (the final evaluation belongs to the new weights; the old one is kept under its step).
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEMO_MODEL, prepareTrainRun, type Reporter } from "../../src/runner/index.js";
import { readJsonl } from "../../src/util/jsonl.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "aha-runner-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SMALL = { model: DEMO_MODEL, "prompts-per-step": 4, "group-size": 4, "max-new-tokens": 60, "held-out": 4, "eval-samples": 2, "save-every": 2 };

function recorder(): { reporter: Partial<Reporter>; said: string[]; warned: string[] } {
  const said: string[] = [];
  const warned: string[] = [];
  return { said, warned, reporter: { say: (l) => said.push(l), warn: (l) => warned.push(l) } };
}

async function runOnce(settings: Record<string, unknown>, rec = recorder()) {
  const run = await prepareTrainRun({ ...SMALL, ...settings }, { reporter: rec.reporter });
  try {
    return { res: await run.run(), rec };
  } finally {
    await run.close();
  }
}

describe("rewards from the config", () => {
  it("accuracy=1,format=0.5,length=0.1: each part is a metric, the reward is their weighted sum", async () => {
    const dir = path.join(tmp, "compose");
    const { res } = await runOnce({ steps: 1, reward: "accuracy=1,format=0.5,length=0.1", "run-dir": dir, "eval-samples": 0, "samples-per-step": 16 });
    const m = res.metrics[0]!;
    for (const k of ["reward/accuracy", "reward/format", "reward/length"]) expect(Number.isFinite(m[k]), k).toBe(true);
    const rows = readJsonl<{ reward: number; parts: Record<string, number>; correct: boolean }>(path.join(dir, "samples.jsonl")).rows;
    expect(rows).toHaveLength(16);
    for (const r of rows) {
      expect(r.reward).toBeCloseTo(r.parts["accuracy"]! + 0.5 * r.parts["format"]! + 0.1 * r.parts["length"]!, 12);
      expect(r.parts["accuracy"]).toBe(r.correct ? 1 : 0);
    }
    expect(new Set(rows.map((r) => r.parts["format"]))).toEqual(new Set([0, 1])); // both shapes occur, so the weight is exercised
  }, 120_000);

  it("settings that cannot work together fail before anything is written", async () => {
    const dir = path.join(tmp, "never");
    await expect(prepareTrainRun({ ...SMALL, async: true, "tis-cap": 2, "run-dir": dir })).rejects.toThrow(/async rollouts need remote servers/);
    await expect(prepareTrainRun({ ...SMALL, "rollout-engine": "remote", "rollout-endpoint": "http://127.0.0.1:9/v1", "rollout-model-name": "m", "rollout-sync": "vllm", "run-dir": dir })).rejects.toThrow(/rollout-sync vllm loads LoRA adapters/);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it("a bad reward setting names the part", async () => {
    await expect(prepareTrainRun({ ...SMALL, reward: "acuracy=1" }, { persist: false })).rejects.toThrow(/unknown reward part 'acuracy'/);
    await expect(prepareTrainRun({ ...SMALL, reward: "judge=1" }, { persist: false })).rejects.toThrow(/judge-endpoint/);
  });

  it("judge=1 through an OpenAI-compatible endpoint: every response graded, failures unscorable (not 0)", async () => {
    let calls = 0;
    const srv = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        calls++;
        const prompt = (JSON.parse(body) as { messages: { content: string }[] }).messages[0]!.content;
        if (calls % 5 === 0) { res.writeHead(500).end("{}"); return; } // some calls fail (retries 0 → unscorable)
        const yes = prompt.includes("<wait>") || calls % 2 === 0;
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ choices: [{ message: { content: `Final Decision: ${yes ? "Yes" : "No"}` } }] }));
      });
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/v1`;
      const run = await prepareTrainRun({ ...SMALL, steps: 1, reward: "judge=1", "judge-endpoint": url, "judge-model": "grader", "judge-retries": 0 }, { persist: false });
      const res = await run.run();
      await run.close();
      const m = res.metrics[0]!;
      expect(calls).toBe(16);
      expect(m["reward/unscorable_frac"]).toBeCloseTo(3 / 16, 12); // calls 5, 10, 15 failed
      expect(m["reward/judge"]).toBeGreaterThan(0);
      expect(m["reward/judge"]).toBeLessThan(1);
    } finally {
      srv.close();
    }
  }, 120_000);
});

describe("resume", () => {
  it("a broken newest checkpoint is skipped with a warning naming it; the rows it drops are kept", async () => {
    const dir = path.join(tmp, "broken-newest");
    await runOnce({ steps: 4, "run-dir": dir, "eval-samples": 0 });
    const state = path.join(dir, "checkpoints", "step-4", "state.json");
    fs.writeFileSync(state, "{ not json");
    const before = readJsonl<{ step: number }>(path.join(dir, "metrics.jsonl")).rows;
    expect(before.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    const rec = recorder();
    const { res } = await runOnce({ resume: dir, steps: 5 }, rec);
    expect(rec.warned.join("\n")).toMatch(/checkpoint step-4 is not usable \(.*step-4\/state\.json: unreadable.*\); resuming from step-2/);
    expect(res.steps).toBe(5);
    const after = readJsonl<{ step: number }>(path.join(dir, "metrics.jsonl")).rows;
    expect(after.map((r) => r.step)).toEqual([1, 2, 3, 4, 5]);
    const aside = fs.readdirSync(path.join(dir, "superseded")).filter((f) => f.startsWith("metrics-after-step-2"));
    expect(aside).toHaveLength(1);
    const kept = readJsonl<{ step: number }>(path.join(dir, "superseded", aside[0]!)).rows;
    expect(kept).toEqual(before.slice(2)); // the recorded steps 3 and 4, exactly
  }, 120_000);

  it("no usable checkpoint: an error naming the file, before anything runs, and nothing is changed", async () => {
    const dir = path.join(tmp, "all-broken");
    await runOnce({ steps: 2, "run-dir": dir, "eval-samples": 0 });
    fs.writeFileSync(path.join(dir, "checkpoints", "step-2", "state.json"), "");
    const metrics = fs.readFileSync(path.join(dir, "metrics.jsonl"), "utf8");
    await expect(prepareTrainRun({ resume: dir, steps: 4 })).rejects.toThrow(/no usable checkpoint.*step-2\/state\.json/);
    expect(fs.readFileSync(path.join(dir, "metrics.jsonl"), "utf8")).toBe(metrics);
  }, 120_000);

  it("a truncated optimizer.safetensors is named when the run is prepared, before the base evaluation", async () => {
    const dir = path.join(tmp, "truncated");
    await runOnce({ steps: 2, "run-dir": dir });
    const opt = path.join(dir, "checkpoints", "step-2", "optimizer.safetensors");
    fs.truncateSync(opt, fs.statSync(opt).size - 100);
    const rec = recorder();
    await expect(prepareTrainRun({ resume: dir, steps: 4 }, { reporter: rec.reporter })).rejects.toThrow(/optimizer\.safetensors/);
    expect(rec.said.some((l) => l.includes("model: pass@1"))).toBe(false);
  }, 120_000);

  it("a finished run resumed with more steps evaluates the new weights; the old final evaluation is kept under its step", async () => {
    const dir = path.join(tmp, "more-steps");
    const first = await runOnce({ steps: 2, "run-dir": dir });
    expect(JSON.parse(fs.readFileSync(path.join(dir, "eval", "final", "weights.json"), "utf8"))).toEqual({ step: 2 });
    const rec = recorder();
    const second = await runOnce({ resume: dir, steps: 4 }, rec);
    expect(second.res.steps).toBe(4);
    expect(JSON.parse(fs.readFileSync(path.join(dir, "eval", "final", "weights.json"), "utf8"))).toEqual({ step: 4 });
    const old = JSON.parse(fs.readFileSync(path.join(dir, "eval", "final-step-2", "summary.json"), "utf8")) as { "pass@1": number };
    expect(old["pass@1"]).toBe(first.res.final!["pass@1"]);
    const now = JSON.parse(fs.readFileSync(path.join(dir, "eval", "final", "summary.json"), "utf8")) as { "pass@1": number };
    const summary = JSON.parse(fs.readFileSync(path.join(dir, "summary.json"), "utf8")) as { final: { "pass@1": number }; steps: number };
    expect(summary.steps).toBe(4);
    expect(summary.final["pass@1"]).toBe(now["pass@1"]);
    expect(rec.warned.join("\n")).toMatch(/eval\/final held results of the weights at step 2/);
    // the base evaluation (step 0's weights) is reused, not moved
    expect(fs.existsSync(path.join(dir, "eval", "base-step-0"))).toBe(false);
    expect(second.res.base!["pass@1"]).toBe(first.res.base!["pass@1"]);
  }, 120_000);
});
