import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineConfig, field } from "../../src/util/config.js";
import { UserError } from "../../src/errors.js";
import { rlSection, trainSection } from "../../src/rl/config.js";
import { PRESETS, PRESET_NAMES } from "../../src/rl/presets.js";

const spec = defineConfig({ rl: rlSection, train: trainSection });
const noFile = (p: string): string => {
  throw new Error(`no file ${p}`);
};
const fromArgv = (argv: string[], files: Record<string, string> = {}) => spec.fromArgv(argv, (p) => (p in files ? files[p]! : noFile(p))).config;
const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as Error).message;
  }
  throw new Error("expected an error");
};

describe("config: defaults and presets", () => {
  it("no arguments: the grpo preset and every default", () => {
    const c = fromArgv([]);
    expect(c.rl.algorithm).toBe("grpo");
    expect(c.rl.klCoef).toBe(0.04);
    expect(c.rl.lossAgg).toBe("seq-mean-token-mean");
    expect(c.train.lr).toBe(1e-6);
    expect(c.rl.tisCap).toBeNull();
  });
  it("every preset resolves to exactly its table's values", () => {
    for (const name of PRESET_NAMES) {
      const c = fromArgv(["--algorithm", name]);
      for (const [k, v] of Object.entries(PRESETS[name].values)) expect(c.rl[k as keyof typeof c.rl], `${name}.${k}`).toEqual(v);
    }
  });
  it("dapo: clip-higher 0.28, token-mean, dynamic sampling, β 0", () => {
    const c = fromArgv(["--algorithm=dapo"]);
    expect([c.rl.clipLow, c.rl.clipHigh, c.rl.lossAgg, c.rl.dynamicSampling, c.rl.klCoef]).toEqual([0.2, 0.28, "token-mean", true, 0]);
  });
  it("explicit keys override the preset; flags override YAML", () => {
    const yaml = "algorithm: dapo\nclip-high: 0.3\nlr: 0.0001\n";
    const c = fromArgv(["--config", "c.yaml", "--clip-high", "0.25", "--no-dynamic-sampling"], { "c.yaml": yaml });
    expect(c.rl.algorithm).toBe("dapo");
    expect(c.rl.clipHigh).toBe(0.25);
    expect(c.rl.dynamicSampling).toBe(false);
    expect(c.train.lr).toBe(1e-4);
    expect(c.rl.lossAgg).toBe("token-mean"); // from the preset
  });
  it("flag value types: booleans, none for nullable, lists", () => {
    const c = fromArgv(["--dynamic-sampling", "--dual-clip", "3", "--tis-cap", "none", "--recheck-words", "wait, hmm", "--grad-clip", "null"]);
    expect(c.rl.dynamicSampling).toBe(true);
    expect(c.rl.dualClip).toBe(3);
    expect(c.rl.tisCap).toBeNull();
    expect(c.rl.recheckWords).toEqual(["wait", "hmm"]);
    expect(c.train.gradClip).toBeNull();
    expect(fromArgv(["--dynamic-sampling", "false"]).rl.dynamicSampling).toBe(false);
  });
  it("toFlat gives config.json keys that load back to the same config", () => {
    const c = fromArgv(["--algorithm", "gspo", "--seed", "7"]);
    const flat = spec.toFlat(c);
    expect(flat["clip-high"]).toBe(4e-4);
    const again = fromArgv(["--config", "config.json"], { "config.json": JSON.stringify(flat) });
    expect(again).toEqual(c);
  });
});

describe("config: PPO with a critic (ppo, orz, vapo)", () => {
  it("the GRPO family trains no critic and leaves the critic's settings at their defaults", () => {
    for (const name of ["grpo", "dr-grpo", "dapo", "rloo", "reinforce++", "gspo"]) {
      const c = fromArgv(["--algorithm", name]).rl;
      expect([c.critic, c.lmLossCoef, c.valueWarmupSteps, c.vapoAlpha, c.actorLambda], name).toEqual(["none", 0, 0, null, null]);
    }
  });
  it("ppo: verl/TinyZero — GAE γ 1 λ 1 whitened, k1 KL 0.001 in the reward, clip 0.2, value clip 0.5, critic lr 1e-5, entropy 0.001", () => {
    const c = fromArgv(["--algorithm", "ppo"]).rl;
    expect([c.advantage, c.critic, c.gamma, c.gaeLambda, c.gaeWhiten]).toEqual(["gae", "value", 1, 1, true]);
    expect([c.klCoef, c.klEstimator, c.klIn, c.clipLow, c.clipHigh, c.valueClip, c.criticLr, c.entropyCoef, c.lossAgg]).toEqual([0.001, "k1", "reward", 0.2, 0.2, 0.5, 1e-5, 0.001, "token-mean"]);
  });
  it("orz: no KL, value clip 0.2, critic lr 5e-6", () => {
    const c = fromArgv(["--algorithm", "orz"]).rl;
    expect([c.advantage, c.critic, c.gamma, c.gaeLambda, c.klCoef, c.clipLow, c.clipHigh, c.valueClip, c.criticLr]).toEqual(["gae", "value", 1, 1, 0, 0.2, 0.2, 0.2, 5e-6]);
  });
  it("vapo: value pretraining 50, λ_critic 1 with α 0.05, clip-higher 0.28, token-mean, LM loss 0.1, critic lr 2e-6", () => {
    const c = fromArgv(["--algorithm", "vapo"]).rl;
    expect([c.advantage, c.critic, c.valueWarmupSteps, c.gaeLambda, c.vapoAlpha, c.actorLambda, c.clipLow, c.clipHigh, c.lossAgg, c.lmLossCoef, c.criticLr, c.klCoef]).toEqual(["gae", "value", 50, 1, 0.05, null, 0.2, 0.28, "token-mean", 0.1, 2e-6, 0]);
  });
  it("cross-field checks name the keys", () => {
    expect(errorOf(() => fromArgv(["--advantage", "gae"]))).toMatch(/advantage = gae needs critic = value/);
    expect(errorOf(() => fromArgv(["--algorithm", "ppo", "--advantage", "group-mean"]))).toMatch(/critic = value trains a value model that only advantage = gae uses; advantage is 'group-mean'/);
    expect(errorOf(() => fromArgv(["--value-warmup-steps", "5"]))).toMatch(/value-warmup-steps = 5 .*needs critic = value/);
    expect(errorOf(() => fromArgv(["--vapo-alpha", "0.05"]))).toMatch(/vapo-alpha = 0.05 .*needs advantage = gae/);
    expect(errorOf(() => fromArgv(["--algorithm", "vapo", "--actor-lambda", "0.95"]))).toMatch(/actor-lambda \(0.95\) and vapo-alpha \(0.05\) both set/);
    expect(errorOf(() => fromArgv(["--algorithm", "ppo", "--ratio", "sequence"]))).toMatch(/ratio = sequence needs one advantage per response; advantage 'gae'/);
    expect(errorOf(() => fromArgv(["--gae-lambda", "1.5"]))).toMatch(/gae-lambda = 1.5 .*allowed: number ≥ 0, ≤ 1/);
    // GAE needs no group: group-size 1 is allowed with a critic.
    expect(fromArgv(["--algorithm", "ppo", "--group-size", "1"]).rl.groupSize).toBe(1);
    expect(fromArgv(["--algorithm", "vapo", "--vapo-alpha", "none", "--actor-lambda", "0.95"]).rl.actorLambda).toBe(0.95);
    // The LM loss on correct samples is not tied to the critic.
    expect(fromArgv(["--lm-loss-coef", "0.1"]).rl.lmLossCoef).toBe(0.1);
  });
  it("--help cites the sources of the critic's keys and presets", () => {
    const help = spec.help("Usage: aha train [options]");
    expect(help).toMatch(/--value-clip <number> {3}\(default: 0\.5; set by --algorithm\)\n[^]*?Source: verl critic\.cliprange_value 0\.5/);
    expect(help).toMatch(/--vapo-alpha <number> {3}\(default: none; set by --algorithm\)\n[^]*?Source: VAPO: α 0\.05/);
    expect(help).toMatch(/ vapo [^]*?value-warmup-steps=50[^]*?lm-loss-coef=0\.1[^]*?Source: VAPO \(Yue et al\. 2025, arXiv 2504\.05118/);
    expect(help).toMatch(/ orz [^]*?Source: Open-Reasoner-Zero/);
  });
});

describe("config: importance sampling (truncate, icepop) and async rollouts", () => {
  it("defaults: truncate with no cap (off), IcePop bounds 0.5 and 5, synchronous, staleness 1", () => {
    const c = fromArgv([]).rl;
    expect([c.tisMode, c.tisCap, c.icepopLow, c.icepopHigh, c.async, c.maxStaleness]).toEqual(["truncate", null, 0.5, 5, false, 1]);
  });
  it("icepop is on by itself; async with tis-cap or icepop is accepted", () => {
    expect(fromArgv(["--tis-mode", "icepop", "--icepop-low", "0.4", "--icepop-high", "3"]).rl).toMatchObject({ tisMode: "icepop", icepopLow: 0.4, icepopHigh: 3 });
    expect(fromArgv(["--async", "--tis-cap", "2", "--max-staleness", "0"]).rl).toMatchObject({ async: true, tisCap: 2, maxStaleness: 0 });
    expect(fromArgv(["--async", "--tis-mode", "icepop"]).rl.async).toBe(true);
  });
  it("cross-checks name the keys", () => {
    expect(errorOf(() => fromArgv(["--tis-mode", "icepop", "--tis-cap", "2"]))).toMatch(/tis-cap = 2 is the cap of tis-mode = truncate; tis-mode = icepop uses icepop-low and icepop-high/);
    expect(errorOf(() => fromArgv(["--tis-mode", "icepop", "--icepop-low", "2", "--icepop-high", "2"]))).toMatch(/icepop-low \(2\) must be smaller than icepop-high \(2\)/);
    expect(errorOf(() => fromArgv(["--icepop-high", "3"]))).toMatch(/icepop-low \(0.5\) and icepop-high \(3\) are IcePop's bounds; they need tis-mode = icepop/);
    expect(errorOf(() => fromArgv(["--async"]))).toMatch(/async = true .*needs importance sampling: set tis-cap \(tis-mode = truncate\) or tis-mode = icepop/);
    expect(errorOf(() => fromArgv(["--max-staleness", "-1"]))).toMatch(/max-staleness = -1 .*allowed: integer ≥ 0/);
    expect(errorOf(() => fromArgv(["--tis-mode", "mis"]))).toMatch(/tis-mode = mis .*truncate \| icepop/);
  });
});

describe("config: rejections name the key, the value and what is allowed", () => {
  it("unknown flag with a suggestion", () => {
    expect(errorOf(() => fromArgv(["--clip-hihg", "0.3"]))).toMatch(/--clip-hihg: unknown key 'clip-hihg'; did you mean 'clip-high'\?/);
  });
  it("bad number", () => {
    expect(errorOf(() => fromArgv(["--clip-high", "abc"]))).toMatch(/--clip-high: clip-high = abc is not allowed .*allowed: number ≥ 0/);
  });
  it("out of range with the bound", () => {
    expect(errorOf(() => fromArgv(["--clip-low", "1.5"]))).toMatch(/clip-low = 1.5 .*allowed: number ≥ 0, < 1/);
  });
  it("integer field given a fraction", () => {
    expect(errorOf(() => fromArgv(["--group-size", "2.5"]))).toMatch(/group-size = 2.5 .*allowed: integer ≥ 1/);
  });
  it("bad enum lists the options", () => {
    expect(errorOf(() => fromArgv(["--loss-agg", "mean"]))).toMatch(/loss-agg = mean .*one of token-mean \| seq-mean-token-mean \| seq-mean-token-sum \| seq-mean-token-sum-norm/);
    expect(errorOf(() => fromArgv(["--algorithm", "trpo"]))).toMatch(/algorithm = trpo .*grpo \| dr-grpo \| dapo \| rloo \| reinforce\+\+ \| gspo \| ppo \| orz \| vapo/);
  });
  it("unknown YAML key and bad YAML value carry the line number", () => {
    const yaml = "lr: 0.001\n\nclip_high: 0.3\nsteps: -1\n";
    expect(errorOf(() => fromArgv(["--config", "c.yaml"], { "c.yaml": yaml }))).toMatch(/c\.yaml:3: unknown key 'clip_high'; did you mean 'clip-high'/);
    expect(errorOf(() => fromArgv(["--config", "c.yaml"], { "c.yaml": "lr: 0.001\nsteps: -1\n" }))).toMatch(/c\.yaml:2: steps = -1 is not allowed/);
  });
  it("YAML syntax errors carry line and column", () => {
    expect(errorOf(() => fromArgv(["--config", "c.yaml"], { "c.yaml": "lr: 0.1\nsteps: [1, 2\n" }))).toMatch(/^c\.yaml:\d+:\d+: YAML error/);
    expect(errorOf(() => fromArgv(["--config", "c.yaml"], { "c.yaml": "- 1\n- 2\n" }))).toMatch(/expected a mapping/);
  });
  it("a missing config file and a flag without a value", () => {
    expect(errorOf(() => fromArgv(["--config", "nope.yaml"]))).toMatch(/--config nope\.yaml: cannot read/);
    expect(errorOf(() => fromArgv(["--lr"]))).toMatch(/--lr needs a value/);
  });
  it("cross-field invariants name both keys", () => {
    expect(errorOf(() => fromArgv(["--group-size", "1"]))).toMatch(/group-size = 1: advantage 'group-mean' .* needs group-size ≥ 2/);
    expect(errorOf(() => fromArgv(["--prompts-per-step", "10", "--mini-batches", "3"]))).toMatch(/prompts-per-step \(10\) must be divisible by mini-batches \(3\)/);
  });
  it("reports every problem at once", () => {
    const msg = errorOf(() => fromArgv(["--clip-low", "2", "--steps", "0"]));
    expect(msg).toMatch(/clip-low/);
    expect(msg).toMatch(/steps/);
  });
});

describe("config: --help is generated from the schema", () => {
  const help = spec.help("Usage: aha train [options]");
  it("lists every key with its default and source", () => {
    for (const f of spec.fields.values()) expect(help, f.key).toContain(`--${f.key}`);
    expect(help).toMatch(/--clip-high <number> {3}\(default: 0\.2; set by --algorithm\)\n.*\n {6}Source: DAPO: 0\.28/);
    expect(help).toMatch(/--group-size <integer> {3}\(default: 8\)\n/);
    expect(help).toMatch(/--loss-agg <token-mean\|seq-mean-token-mean\|seq-mean-token-sum\|seq-mean-token-sum-norm> {3}\(default: seq-mean-token-mean; set by --algorithm\)/);
  });
  it("wraps descriptions at 100 columns", () => {
    for (const line of help.split("\n")) if (line.startsWith("      ") && !line.includes("=")) expect(line.length, line).toBeLessThanOrEqual(100);
  });
  it("lists the presets with their settings", () => {
    for (const name of PRESET_NAMES) expect(help).toContain(`    ${name.padEnd(12)} ${PRESETS[name].description}`);
    expect(help).toMatch(/ dapo [^]*?clip-high=0\.28[^]*?loss-agg=token-mean[^]*?Source: DAPO/);
  });
  it("--help is reported by parseArgs", () => {
    expect(spec.fromArgv(["--help"], noFile).help).toBe(true);
  });
});

describe("config: the sections of aha train and aha sft combine", () => {
  it("task + rl + train and sft + train have unique keys and resolve", async () => {
    const { taskSection } = await import("../../src/tasks/config.js");
    const { sftSection } = await import("../../src/rl/sft.js");
    const t = defineConfig({ task: taskSection, rl: rlSection, train: trainSection });
    expect(t.fromArgv(["--task", "countdown", "--algorithm", "dapo"], noFile).config.task.task).toBe("countdown");
    const s = defineConfig({ sft: sftSection, train: trainSection });
    expect(s.fromArgv(["--data", "d.jsonl"], noFile).config.sft.batchSize).toBe(16);
  });
});

describe("config: the machinery refuses a badly declared schema", () => {
  it("duplicate keys across sections", () => {
    const s = { title: "t", prefix: "", schema: z.strictObject({ lr: field(z.number(), 1, { description: "x" }) }) };
    expect(() => defineConfig({ a: s, b: s })).toThrow(/defined twice/);
  });
  it("a field without a description", () => {
    expect(() => defineConfig({ a: { title: "t", prefix: "", schema: z.strictObject({ x: z.number().default(1) }) } })).toThrow(/no description/);
  });
  it("a prefix makes lora-rank from rank", () => {
    const spec2 = defineConfig({ lora: { title: "LoRA", prefix: "lora-", schema: z.strictObject({ rank: field(z.int().min(0), 0, { description: "rank" }) }) } });
    expect(spec2.fromArgv(["--lora-rank", "16"], noFile).config.lora.rank).toBe(16);
  });
});
