/**
 * The tools demo (`aha train --demo tools`), short: its settings resolve to the shipped calculator model
 * on the multiply task; a 2-step run on that model calls the calculator, every observation it gets back
 * is the calculator's exact result, the observation tokens (and only they) are masked out of the loss,
 * the reward agrees with an independent product, and tools/calls_per_episode is in metrics.jsonl and
 * the before/after figures.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeBatch, type Batch } from "../../src/rl/stages.js";
import { prepareTrainRun, resolveTrainSettings, TOOLS_DEMO_MODEL } from "../../src/runner/index.js";
import { readJsonl } from "../../src/util/jsonl.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "aha-tools-demo-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("aha train --demo tools", () => {
  it("resolves to the shipped calculator model, the multiply task and the calculator; --model beside it is refused", () => {
    const { config: c, demo, demoName } = resolveTrainSettings({ flags: new Map([["demo", "tools"]]) });
    expect([demo, demoName]).toEqual([true, "tools"]);
    expect(c.model.model).toBe(TOOLS_DEMO_MODEL);
    expect(fs.existsSync(path.join(TOOLS_DEMO_MODEL, "model.safetensors"))).toBe(true);
    expect(c.task).toMatchObject({ task: "multiply", template: "none" });
    expect(c.tools).toMatchObject({ tools: ["calculator"], toolFormat: "tags" });
    // flags still win over the demo's settings; no --demo and no model is the first demo
    expect(resolveTrainSettings({ flags: new Map([["demo", "tools"], ["steps", "3"]]) }).config.train.steps).toBe(3);
    expect(resolveTrainSettings({}).demoName).toBe("adder");
    expect(() => resolveTrainSettings({ flags: new Map([["demo", "tools"], ["model", "/some/where"]]) })).toThrow(/--demo tools trains its shipped model/);
    expect(() => resolveTrainSettings({ flags: new Map([["demo", "tool"]]) })).toThrow(/demo/);
  });

  it("a short run: calls happen, results are exact, observation tokens are masked, metrics recorded", async () => {
    const dir = path.join(tmp, "run");
    const batches: Batch[] = [];
    const said: string[] = [];
    const run = await prepareTrainRun(
      // every group trained on (no dynamic sampling), so every sampled episode reaches the batch
      { demo: "tools", steps: 2, "prompts-per-step": 8, "group-size": 8, "dynamic-sampling": false, "held-out": 16, "eval-samples": 4, "run-dir": dir },
      { reporter: { say: (l) => said.push(l) }, stages: { batch: (rl, samples) => (batches.push(makeBatch(rl, samples)), batches[batches.length - 1]!) } },
    );
    let decode: (ids: ArrayLike<number>) => string;
    try {
      decode = (ids) => run.tokenizer.decode(Int32Array.from(ids));
      await run.run();
    } finally {
      await run.close();
    }
    expect(batches).toHaveLength(2);
    let calls = 0;
    for (const b of batches) {
      b.samples.forEach((s, i) => {
        const mask = b.mask.subarray(b.offsets[i]!, b.offsets[i + 1]!);
        const env = (s.episode?.spans ?? []).filter((sp) => sp.kind === "env");
        // mask 0 exactly on the environment's spans (truncated responses aside: not masked by overlong here)
        for (let t = 0; t < mask.length; t++) expect(mask[t], `${s.text} token ${t}`).toBe(env.some((sp) => t >= sp.start && t < sp.end) ? 0 : 1);
        // the masked tokens decode to the observations, each the calculator's exact answer to the call before it
        const masked = Array.from(s.response).filter((_, t) => mask[t] === 0);
        expect(decode(masked)).toBe(env.map((sp) => sp.text).join(""));
        for (const c of s.episode?.calls ?? []) {
          calls++;
          const expr = String(c.input["expression"]);
          const m = /^(\d+)\*(\d+)$/.exec(expr);
          if (m) expect(c.output).toBe((BigInt(m[1]!) * BigInt(m[2]!)).toString());
          else if (/^\d+$/.test(expr)) expect(c.output).toBe(BigInt(expr).toString());
          else if (/^[\d*]*$/.test(expr) && (/^\*|\*$|\*\*\*/.test(expr) || expr === "")) expect(c.output).toMatch(/^error: /); // a dangling operator
        }
        // the reward is 1 exactly when the last answer is the product
        const { a, b: y } = s.problem.reference as { a: number; b: number };
        const answer = /<answer>([^<]*)<\/answer>(?!.*<answer>)/s.exec(s.text)?.[1]?.trim();
        expect(s.reward, s.text).toBe(answer === String(a * y) ? 1 : 0);
      });
    }
    expect(calls).toBeGreaterThan(0); // the base model calls the calculator, if rarely
    const metrics = readJsonl<Record<string, number>>(path.join(dir, "metrics.jsonl")).rows;
    expect(metrics).toHaveLength(2);
    for (const m of metrics) expect(m["tools/calls_per_episode"]).toBeGreaterThan(0);
    const summary = JSON.parse(fs.readFileSync(path.join(dir, "summary.json"), "utf8")) as { base: Record<string, number>; final: Record<string, number> };
    for (const k of ["tools/calls_per_episode", "tools/call_share"]) expect(Number.isFinite(summary.base[k]), k).toBe(true);
    expect(said.some((l) => /^episodes that call a tool: [\d.]+% → [\d.]+%$/.test(l))).toBe(true);
  }, 120_000);
});
