/**
 * `aha pipeline` (src/runner/pipeline.ts): the whole config is checked before anything runs (errors
 * name the file, line, stage and key); the shipped examples/r1.yaml is valid; a small recipe on the
 * demo model killed between stages and then inside its RL stage resumes: finished stages are not redone,
 * the RL stage continues from its checkpoint without repeating a step, and each stage's output feeds
 * the next.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { run as runPipelineCli } from "../../src/cli/pipeline.js";
import { DEMO_MODEL } from "../../src/runner/config.js";
import { parsePipeline, readPipelineStatus, runPipeline } from "../../src/runner/pipeline.js";
import { latestCheckpoint } from "../../src/runs/checkpoint.js";

const root = mkdtempSync(path.join(tmpdir(), "aha-pipeline-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the config", () => {
  it("every problem is reported at once, naming the file, line, stage and key", () => {
    const yaml = [
      "model: models/demo-adder", //                      1
      "colour: blue", //                                  2 unknown top-level key
      "common:", //                                       3
      "  task: arithmetic", //                            4
      "  clip_high: 0.3", //                              5 no stage kind knows it
      "stages:", //                                       6
      "  - name: a", //                                   7
      "    kind: sft", //                                 8 no data and no sample stage before it
      "    steps: 2", //                                  9
      "  - name: b", //                                  10
      "    kind: rl", //                                 11
      "    clip_high: 0.3", //                           12 unknown key (did you mean clip-high?)
      "    lr: -1", //                                   13 out of range
      "    run-dir: x", //                               14 set by the pipeline
      "  - name: c", //                                  15
      "    kind: distill", //                            16 no such kind
      "  - name: d", //                                  17
      "    kind: sample", //                             18
      "    from: nowhere", //                            19 not an earlier stage
      "    filter-per-prompt: 0", //                     20 out of range
      "  - name: e", //                                  21
      "    kind: rl", //                                 22
      "    lora-rank: 8", //                             23 adapters cannot feed the next stage
    ].join("\n");
    let msg = "";
    try {
      parsePipeline(yaml, "r1.yaml");
    } catch (e) {
      msg = (e as Error).message;
    }
    const lines = msg.split("\n");
    const has = (re: RegExp): void => void expect(lines.some((l) => re.test(l)), `${re} in:\n${msg}`).toBe(true);
    has(/^r1\.yaml:2: unknown key 'colour'/);
    has(/^r1\.yaml:5: common key 'clip_high' is not a key of any stage kind/);
    has(/^r1\.yaml:7: stage 1 'a': sft needs 'data'/);
    has(/r1\.yaml:12.*unknown key 'clip_high'; did you mean 'clip-high'\?.*stage 2 'b'/);
    has(/^r1\.yaml:13 \(stage 2 'b'\) lr: lr = -1 is not allowed/);
    has(/^r1\.yaml:14: stage 2 'b': 'run-dir' is set by the pipeline/);
    has(/^r1\.yaml:16: stage 3 'c': kind must be one of sft \| rl \| sample \| eval, got 'distill'/);
    has(/^r1\.yaml:19: stage 4 'd': from = "nowhere" must be 'base' or the name of an earlier sft or rl stage \(base, a, b\)/);
    has(/^r1\.yaml:20 \(stage 4 'd'\) filter-per-prompt: filter-per-prompt = 0 is not allowed/);
    has(/^r1\.yaml:23 \(stage 5 'e'\) lora-rank: stage 5 'e': lora-rank > 0 is not supported in a pipeline/);
    expect(lines.length).toBe(10);
  });

  it("the shipped examples/r1.yaml is valid, and --check says so", async () => {
    const plan = parsePipeline(readFileSync("examples/r1.yaml", "utf8"), "examples/r1.yaml");
    expect(plan.stages.map((s) => `${s.kind}:${s.name}`)).toEqual(["sample:cold-start-data", "sft:cold-start", "rl:reasoning-rl", "sample:rejection-sampling", "sft:sft", "rl:final-rl", "eval:eval"]);
    expect(plan.stages[4]!.from).toBe("base");
    expect(plan.stages[0]!.settings["task"]).toBe("arithmetic"); // common keys reach every stage that knows them
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const code = await runPipelineCli(["--config", "examples/r1.yaml", "--check"]);
    const text = out.mock.calls.map((c) => String(c[0])).join("");
    out.mockRestore();
    expect(code).toBe(0);
    expect(text).toMatch(/7 stages, all keys valid: cold-start-data \(sample\) → cold-start \(sft\)/);
  });
});

describe("a run", () => {
  const config = path.join(root, "small.yaml");
  writeFileSync(config, [
    `model: ${DEMO_MODEL}`,
    "common: { task: arithmetic, seed: 0 }",
    "stages:",
    "  - { name: data, kind: sample, prompts: 12, samples: 4, temperature: 1, top-p: 1, max-tokens: 120 }",
    "  - { name: cold, kind: sft, steps: 4, batch-size: 8, lr: 3e-4, save-every: 1 }",
    "  - { name: rl, kind: rl, steps: 6, prompts-per-step: 4, group-size: 4, max-new-tokens: 120, lr: 1e-4, kl-coef: 0, eval-samples: 0, save-every: 1 }",
    "  - { name: eval, kind: eval, held-out: 10, samples: 2, max-tokens: 120 }",
  ].join("\n") + "\n");

  it("killed between stages and inside its RL stage, it resumes without redoing finished work", async () => {
    const dir = path.join(root, "run");
    const vn = path.resolve("node_modules/.bin/vite-node");
    const until = async (what: string, cond: () => boolean, exited: () => boolean): Promise<void> => {
      const t0 = Date.now();
      while (!cond() && !exited() && Date.now() - t0 < 240_000) await new Promise((r) => setTimeout(r, 5));
      expect(cond(), `${what} before the child ended`).toBe(true);
    };
    const stage = (name: string) => readPipelineStatus(dir)?.stages.find((s) => s.name === name);
    const kill = async (what: string, cond: () => boolean): Promise<void> => {
      const child = spawn(vn, [path.resolve("test/runner/pipeline-child.ts"), config, dir], { stdio: "ignore", env: { ...process.env, OMP_NUM_THREADS: "1" } });
      let exited = false;
      const exit = new Promise((r) => child.on("exit", () => { exited = true; r(null); }));
      await until(what, cond, () => exited);
      child.kill("SIGKILL");
      await exit;
    };
    // 1: between stages — as soon as the sft stage is recorded done
    await kill("the sft stage done", () => stage("cold")?.state === "done");
    const samples = readFileSync(path.join(dir, "01-data", "samples.jsonl"), "utf8");
    const sftModel = stage("cold")!.output!.model!;
    const sftMtime = statSync(path.join(sftModel, "model.safetensors")).mtimeMs;
    expect(readPipelineStatus(dir)!.state).toBe("crashed");
    // 2: inside the RL stage — once it has 2 checkpoints
    await kill("2 RL checkpoints", () => (latestCheckpoint(path.join(dir, "03-rl"))?.state.step ?? 0) >= 2);
    const rlAt = latestCheckpoint(path.join(dir, "03-rl"))!.state.step;
    expect(rlAt).toBeLessThan(6);
    // 3: resumed to the end here
    const res = await runPipeline(parsePipeline(readFileSync(config, "utf8"), config), { runDir: dir });
    expect(res.status.state).toBe("finished");
    expect(res.status.stages.map((s) => s.state)).toEqual(["done", "done", "done", "done"]);
    // finished stages were not redone
    expect(readFileSync(path.join(dir, "01-data", "samples.jsonl"), "utf8")).toBe(samples);
    expect(statSync(path.join(sftModel, "model.safetensors")).mtimeMs).toBe(sftMtime);
    // the RL stage continued from its checkpoint: every step once, 1..6
    const steps = readFileSync(path.join(dir, "03-rl", "metrics.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { step: number }).step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
    // outputs chained: sample → sft's data, sft's checkpoint → rl's model, rl's checkpoint → eval's model
    const st = res.status.stages;
    expect(JSON.parse(readFileSync(path.join(dir, "02-cold", "config.json"), "utf8")).data).toBe(st[0]!.output!.data);
    expect(st[1]!.output!.model).toBe(path.join(dir, "02-cold", "checkpoints", "step-4", "model"));
    expect(st[2]!.model).toBe(st[1]!.output!.model);
    expect(st[3]!.model).toBe(path.join(dir, "03-rl", "checkpoints", "step-6", "model"));
    const summary = JSON.parse(readFileSync(path.join(dir, "04-eval", "summary.json"), "utf8")) as { "pass@1": number; questions: number; model: string };
    expect(summary.questions).toBe(10);
    expect(st[3]!.output!["pass@1"]).toBe(summary["pass@1"]);
    // a finished pipeline run again does nothing and says so
    const again = await runPipeline(parsePipeline(readFileSync(config, "utf8"), config), { runDir: dir });
    expect(again.status.stages.map((s) => s.finished)).toEqual(st.map((s) => s.finished));
  }, 480_000);

  it("a config whose finished stage changed is refused, naming the stage", async () => {
    const dir = path.join(root, "run");
    const changed = readFileSync(config, "utf8").replace("prompts: 12", "prompts: 13");
    await expect(runPipeline(parsePipeline(changed, "changed.yaml"), { runDir: dir })).rejects.toThrow(/stage 'data' is done with other settings than changed\.yaml gives it/);
  });
});
