/**
 * `aha train`: --help lists every key and the presets; bad flags and values are exit code 2 naming the
 * key; with no arguments the command resolves to the built-in demo's settings (checked against the
 * trial in MEASUREMENTS.md, not by running the 1-minute demo); a 2-step run on a tiny random model
 * folder (the demo's 21-token tokenizer) writes a valid run directory and --resume continues it; the
 * LoRA path on a countdown task with a byte-level tokenizer writes a PEFT adapter checkpoint.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import { DEMO_MODEL, resolveTrainConfig, trainSpec } from "../../src/cli/train.js";
import { PRESET_NAMES } from "../../src/rl/presets.js";
import { makeModelFolder } from "../serve/helpers.js";
import { makeTinyAdderFolder } from "./tiny-adder.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "aha-cli-train-"));
const modelDir = path.join(root, "tiny-adder");
let byteModel: ReturnType<typeof makeModelFolder>;
afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
  byteModel?.cleanup();
});

beforeAll(() => {
  makeTinyAdderFolder(modelDir);
  byteModel = makeModelFolder(9, 1024);
});

async function aha(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const e = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    const code = await main(["train", ...argv]);
    return { code, out: o.mock.calls.map((c) => String(c[0])).join(""), err: e.mock.calls.map((c) => String(c[0])).join("") };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const readJson = (f: string) => JSON.parse(fs.readFileSync(f, "utf8")) as Record<string, unknown>;
const metrics = (dir: string) => fs.readFileSync(path.join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
const TINY = ["--model", modelDir, "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "6", "--held-out", "3", "--eval-samples", "2", "--lr", "0.01", "--save-every", "1"];

describe("aha train", () => {
  it("--help lists every key with its default, and the presets", async () => {
    const r = await aha(["--help"]);
    expect(r.code).toBe(0);
    for (const key of trainSpec.fields.keys()) expect(r.out, key).toContain(`--${key}`);
    for (const p of PRESET_NAMES) expect(r.out).toMatch(new RegExp(`^    ${p.replace("+", "\\+")} `, "m"));
    expect(r.out).toContain("(default: 0.2; set by --algorithm)");
    expect(r.out).toContain("Without --model, the demo's settings apply");
  });

  it("bad flags and values: exit code 2, the key named, no stack trace", async () => {
    const cases: [string[], RegExp][] = [
      [["--clip-hihg", "0.3"], /unknown key 'clip-hihg'; did you mean 'clip-high'\?/],
      [["--lr", "-1"], /--lr: lr = -1 is not allowed.*allowed: number > 0/],
      [["--task", "sudoku"], /task = sudoku is not allowed.*arithmetic \| countdown \| kk \| file/],
      [["--lora-rank", "two"], /lora-rank = two is not allowed/],
      [["--model", path.join(root, "nowhere")], /model .*nowhere: not a model folder/],
      [["--task", "file"], /task = file needs --data FILE/],
      [["--resume", path.join(root, "nowhere")], /resume .*nowhere: cannot read/],
      [["stray"], /unexpected argument 'stray'/],
    ];
    for (const [argv, msg] of cases) {
      const r = await aha(argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.err, argv.join(" ")).toMatch(msg);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });

  it("no arguments: the built-in demo's settings (the trial of MEASUREMENTS.md) on models/demo-adder", () => {
    const { config: c, demo } = resolveTrainConfig([]);
    expect(demo).toBe(true);
    expect(c.model.model).toBe(DEMO_MODEL);
    expect(fs.existsSync(path.join(DEMO_MODEL, "model.safetensors"))).toBe(true);
    expect(c.task).toMatchObject({ task: "arithmetic", template: "none", heldOut: 200 });
    expect(c.model).toMatchObject({ evalSamples: 8, evalTemperature: 1, evalMaxTokens: null, precision: "fp32", resume: null });
    expect(c.rl).toMatchObject({
      algorithm: "grpo", advantage: "group-mean", scaleRewards: "group", clipLow: 0.2, clipHigh: 0.2, klCoef: 0, lossAgg: "token-mean",
      dynamicSampling: true, dynamicSamplingRounds: 0, promptsPerStep: 16, groupSize: 8, maxNewTokens: 120, temperature: 1, epochs: 1, miniBatches: 1,
    });
    expect(c.train).toMatchObject({ lr: 1e-4, steps: 120, seed: 0, lrSchedule: "constant", warmupSteps: 0 });
    expect(c.lora.rank).toBe(0);
    // flags still override the demo's settings, and a model turns them off
    expect(resolveTrainConfig(["--steps", "5"]).config.train.steps).toBe(5);
    const other = resolveTrainConfig(["--model", modelDir]);
    expect(other.demo).toBe(false);
    expect(other.config.train.lr).toBe(1e-6);
    expect(other.config.rl.klCoef).toBe(0.04);
  });

  it("--config FILE.yaml sits between the demo's settings and the flags; its errors name file:line", () => {
    const files: Record<string, string> = { "a.yaml": "steps: 7\nlr: 0.001\nclip-high: 0.28\n", "b.yaml": "steps: 7\nclip_high: 0.28\n" };
    const read = (f: string) => files[f]!;
    const { config: c, demo } = resolveTrainConfig(["--config", "a.yaml", "--lr", "0.002"], read);
    expect(demo).toBe(true);
    expect(c.train).toMatchObject({ steps: 7, lr: 0.002 });
    expect(c.rl).toMatchObject({ clipHigh: 0.28, maxNewTokens: 120 });
    expect(() => resolveTrainConfig(["--config", "b.yaml"], read)).toThrow(/b\.yaml:2: unknown key 'clip_high'; did you mean 'clip-high'\?/);
  });

  it("a 2-step run on a tiny model folder writes a valid run directory; --resume continues it", async () => {
    const dir = path.join(root, "run");
    const r = await aha([...TINY, "--steps", "2", "--run-dir", dir]);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(0);
    expect(readJson(path.join(dir, "status.json"))).toMatchObject({ state: "finished", step: 2, total_steps: 2, kind: "train", task: "arithmetic", model: "tiny-adder", algorithm: "grpo" });
    const cfg = readJson(path.join(dir, "config.json"));
    expect(cfg).toMatchObject({ model: modelDir, "prompts-per-step": 2, "lora-rank": 0, "run-dir": null });
    expect(Object.keys(cfg).sort()).toEqual([...trainSpec.fields.keys()].sort());
    expect(metrics(dir).map((m) => m.step)).toEqual([1, 2]);
    expect(metrics(dir)[0]).toHaveProperty("recheck_share");
    const samples = fs.readFileSync(path.join(dir, "samples.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; prompt: string });
    expect(samples.length).toBe(8);
    expect(samples[0]!.prompt).toMatch(/^\d+\+\d+=$/);
    expect(fs.readFileSync(path.join(dir, "checkpoints", "latest"), "utf8").trim()).toBe("step-2");
    for (const f of ["model/model.safetensors", "model/config.json", "model/tokenizer.json", "optimizer.safetensors", "state.json"]) expect(fs.existsSync(path.join(dir, "checkpoints", "step-2", f)), f).toBe(true);
    const s = readJson(path.join(dir, "summary.json")) as { base: Record<string, number>; final: Record<string, number>; steps: number; wall_seconds: number };
    expect(s.steps).toBe(2);
    expect(s.wall_seconds).toBeGreaterThan(0);
    for (const k of ["pass@1", "pass@2", "length/mean", "recheck_share"]) {
      expect(s.base[k], k).toBeGreaterThanOrEqual(0);
      expect(s.final[k], k).toBeGreaterThanOrEqual(0);
    }
    const baseRows = fs.readFileSync(path.join(dir, "eval", "base", "results.jsonl"), "utf8").trim().split("\n");
    expect(baseRows.length).toBe(3);
    expect(r.out).toContain("pass@1 on held-out problems:");
    expect(r.out).toContain("aha dashboard");

    // the same run directory again without --resume is refused
    const again = await aha([...TINY, "--steps", "2", "--run-dir", dir]);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/already holds a run/);

    // --resume with more steps: steps 3 and 4 follow; the config comes from the run
    const res = await aha(["--resume", dir, "--steps", "4"]);
    expect(res.code).toBe(0);
    expect(res.out).toContain("resuming at step 2");
    expect(metrics(dir).map((m) => m.step)).toEqual([1, 2, 3, 4]);
    expect(readJson(path.join(dir, "status.json"))).toMatchObject({ state: "finished", step: 4 });
    expect(fs.readFileSync(path.join(dir, "checkpoints", "latest"), "utf8").trim()).toBe("step-4");
    // a finished run has nothing to resume unless given more steps
    const done = await aha(["--resume", dir]);
    expect(done.code).toBe(2);
    expect(done.err).toMatch(/has finished its 4 steps/);
    expect(readJson(path.join(dir, "status.json"))).toMatchObject({ state: "finished", step: 4 });
  });

  it("--task countdown --lora-rank N on a Qwen-shaped folder trains adapters and saves a PEFT folder", async () => {
    const dir = path.join(root, "lora");
    const r = await aha(["--model", byteModel.dir, "--task", "countdown", "--lora-rank", "2", "--steps", "1", "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "4", "--held-out", "0", "--lr", "1e-3", "--run-dir", dir]);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.code, r.err).toBe(0);
    expect(readJson(path.join(dir, "config.json"))).toMatchObject({ task: "countdown", "lora-rank": 2, "kl-coef": 0.04 });
    const ckpt = path.join(dir, "checkpoints", "step-1", "model");
    expect(fs.existsSync(path.join(ckpt, "adapter_model.safetensors"))).toBe(true);
    expect(readJson(path.join(ckpt, "adapter_config.json"))).toMatchObject({ r: 2, lora_alpha: 4 });
    expect(metrics(dir)[0]).toHaveProperty("kl");
    expect(fs.existsSync(path.join(dir, "summary.json"))).toBe(true);
  });
});
