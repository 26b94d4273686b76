// Training on the code tasks: `train()` (run: null) on a tiny random model with a character tokenizer,
// two steps each of --task code and --task codeio. With the model sampling, the async sandboxed score
// runs inside the loop and every sample is scored; with a rollout engine that returns chosen responses
// (right, partly right and wrong programs), the rewards and the accuracy are exactly the expected ones,
// the groups are scored concurrently, and the sandbox pool bounds the programs running at once.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelConfig } from "../../src/model/config.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { SandboxPool, type RunRequest } from "../../src/rewards/code/sandbox.js";
import { rlSection, trainSection } from "../../src/rl/config.js";
import { adamConfig, fullPolicy } from "../../src/rl/policy.js";
import { train, type TrainerOptions } from "../../src/rl/trainer.js";
import { LocalRolloutEngine } from "../../src/rollout/local.js";
import { codeTask } from "../../src/tasks/code.js";
import { codeioTask } from "../../src/tasks/codeio.js";
import type { Problem, Scored, Task } from "../../src/tasks/types.js";
import { defineConfig } from "../../src/util/config.js";
import { openTestGroup, type TestGroup } from "../rewards/code/harness.js";

const FIXTURE = path.join(import.meta.dirname, "../../fixtures/code/train-small.jsonl");

// ---- a character tokenizer: pad, bos, eos, then "\n" and printable ASCII
const BOS = 1;
const EOS = 2;
const CHARS = "\n" + Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");
const encodeChars = (t: string): number[] => Array.from(t, (ch) => 3 + Math.max(0, CHARS.indexOf(ch)));
const tokenizer = {
  encode: (t: string) => [BOS, ...encodeChars(t)],
  decode: (ids: ArrayLike<number>) => Array.from(ids).filter((i) => i > EOS).map((i) => CHARS[i - 3]).join(""),
  stopTokenIds: [EOS],
};

const cfg: ModelConfig = {
  architecture: "LlamaForCausalLM", vocabSize: 3 + CHARS.length, hiddenSize: 32, intermediateSize: 64, numLayers: 2,
  numHeads: 2, numKvHeads: 2, headDim: 16, ropeTheta: 10000, ropeScaling: null, rmsNormEps: 1e-5, tieWordEmbeddings: true,
  qkvBias: false, oBias: false, mlpBias: false, qkNorm: false, maxPositionEmbeddings: 2048, initializerRange: 0.3,
};
const spec = defineConfig({ rl: rlSection, train: trainSection });
const G = 4;
const P = 3;
const STEPS = 2;

let group: TestGroup;
let pool: SandboxPool;
let runs = 0;
const roots: string[] = [];
beforeAll(() => {
  group = openTestGroup("code-train");
  pool = new SandboxPool(group.options, 2);
  // Count the programs run through this pool (the one the tasks were given).
  const run = pool.run.bind(pool);
  pool.run = (req: RunRequest) => {
    runs++;
    return run(req);
  };
});
afterAll(() => {
  group.close();
  for (const d of roots) fs.rmSync(d, { recursive: true, force: true });
});

/** The trainer's options for `task` with `engine` (default: the tiny model sampling). */
function setup(task: Task<unknown>, engine?: TrainerOptions["engine"], argv: string[] = []): TrainerOptions {
  const c = spec.fromArgv(["--group-size", String(G), "--prompts-per-step", String(P), "--max-new-tokens", "16", "--lr", "0.01", "--seed", "3", "--kl-coef", "0", "--steps", String(STEPS), ...argv], () => "").config;
  const model = new Model(cfg);
  initParams(model.params, cfg, 11);
  const policy = fullPolicy(model, adamConfig(c.train), { reference: false });
  return { rl: c.rl, train: c.train, task, template: "r1-zero", tokenizer, engine: engine ?? new LocalRolloutEngine(model, { slots: 12, maxLen: 1400 }), policy, run: null };
}

interface Call {
  problem: Problem<unknown>;
  response: string;
  scored: Scored;
}

/** The task with its score recorded (and how many scores are in flight at once). */
function recorded<R>(t: Task<R>): { task: Task<unknown>; calls: Call[]; maxInFlight: () => number; problems: Map<string, Problem<R>> } {
  const calls: Call[] = [];
  const problems = new Map<string, Problem<R>>();
  let inFlight = 0;
  let max = 0;
  const task: Task<R> = {
    ...t,
    train: { size: t.train.size, get: (i) => { const p = t.train.get(i); problems.set(p.question, p); return p; } },
    score: async (response, problem, ctx) => {
      inFlight++;
      max = Math.max(max, inFlight);
      try {
        const scored = await t.score(response, problem, ctx);
        calls.push({ problem, response, scored });
        return scored;
      } finally {
        inFlight--;
      }
    },
  };
  return { task: task as Task<unknown>, calls, maxInFlight: () => max, problems };
}

/** A rollout engine answering prompt p's j-th sample with respond(p, j). */
function scripted<R>(problems: Map<string, Problem<R>>, respond: (p: Problem<R>, j: number) => string): TrainerOptions["engine"] {
  return {
    logprobKind: "none",
    generate: (reqs) => Promise.resolve(reqs.map((r) => {
      const prompt = tokenizer.decode(r.promptIds);
      const p = [...problems.values()].find((x) => prompt.includes(`User: ${x.question}\nAssistant: <think>`));
      if (!p) throw new Error(`no problem for prompt ${prompt.slice(0, 80)}`);
      return Array.from({ length: r.n ?? 1 }, (_, j) => ({ requestIndex: 0, sampleIndex: j, tokenIds: Int32Array.from([...encodeChars(respond(p, j)), EOS]), logprobs: null, finishReason: "stop" as const }));
    })),
  };
}

const fenced = (lang: string, code: string): string => ` Let me write it.</think> <answer>\n\`\`\`${lang}\n${code}\n\`\`\`\n</answer>`;

describe("training on the code tasks (a tiny random model)", () => {
  it("task code: two steps with the model sampling; every sample is scored, reward/mean is finite", async () => {
    const r = recorded(await codeTask({ file: FIXTURE, heldOutPermille: 1, pool }));
    const res = await train(setup(r.task));
    expect(res.steps).toBe(STEPS);
    expect(r.calls.length).toBe(STEPS * P * G);
    for (const m of res.metrics) {
      expect(Number.isFinite(m["reward/mean"])).toBe(true);
      expect(m["reward/unscorable_frac"]).toBe(0);
      expect(m["skipped"]).toBe(0);
    }
    // A random model writes no fenced program: every reward is 0, for that reason.
    expect(r.calls.every((c) => c.scored.reward === 0 && /^no_code/.test(c.scored.reason))).toBe(true);
  });

  it("task codeio: two steps with the model sampling; every sample is scored", async () => {
    const r = recorded(await codeioTask({ seed: 3, heldOutPermille: 50, mode: "both", sandbox: { pool } }));
    const res = await train(setup(r.task));
    expect(res.steps).toBe(STEPS);
    expect(r.calls.length).toBe(STEPS * P * G);
    for (const m of res.metrics) expect(Number.isFinite(m["reward/mean"])).toBe(true);
  });

  it("task code: chosen responses get exactly the expected rewards (fractions of tests passed) and accuracy", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aha-code-train-"));
    roots.push(dir);
    const file = path.join(dir, "three.jsonl");
    const rows = [
      { prompt: "Read two integers and print their sum.", tests: [{ input: "1 2\n", output: "3\n" }, { input: "-5 7\n", output: "2\n" }, { input: "4 4\n", output: "8\n" }] },
      { prompt: "Write sq(x) returning x squared.", test_code: "assert sq(3) == 9\nassert sq(-2) == 4" },
      { prompt: "Read a word and print its length.", language: "javascript", tests: [{ input: "abc\n", output: "3\n" }, { input: "hello\n", output: "5\n" }] },
    ];
    fs.writeFileSync(file, rows.map((x) => JSON.stringify(x)).join("\n") + "\n");
    const answers: Record<string, [string, number, boolean][]> = {
      // [response, expected reward, correct] for samples j = 0..3
      sum: [
        [fenced("python", "a, b = map(int, input().split())\nprint(a + b)"), 1, true],
        [fenced("python", "print(3)"), 1 / 3, false],
        [fenced("python", "print(0)"), 0, false],
        [" I do not know.</think> <answer>3</answer>", 0, false],
      ],
      sq: [
        [fenced("python", "def sq(x):\n    return x * x"), 1, true],
        [fenced("python", "def sq(x):\n    return 2 * x"), 0, false],
        [fenced("python", "def sq(x):\n    raise SystemExit(0)\nimport sys\nsys.exit(0)"), 0, false], // exits before the tests
        [fenced("py", "sq = lambda x: x ** 2"), 1, true],
      ],
      len: [
        [fenced("javascript", "console.log(require('fs').readFileSync(0, 'utf8').trim().length)"), 1, true],
        [fenced("js", "const s = require('fs').readFileSync(0, 'utf8').trim();\nconsole.log(s.length)"), 1, true],
        [fenced("javascript", "console.log(3)"), 1 / 2, false],
        [fenced("javascript", "while (true) {}"), 0, false], // time limit
      ],
    };
    const key = (p: Problem<unknown>): string => (p.question.startsWith("Read two") ? "sum" : p.question.startsWith("Write sq") ? "sq" : "len");
    const r = recorded(await codeTask({ file, heldOutPermille: 1, pool }));
    expect(r.task.train.size).toBe(3);
    runs = 0;
    const res = await train(setup(r.task, scripted(r.problems, (p, j) => answers[key(p)]![j]![0]), ["--max-new-tokens", "200"]));
    expect(r.calls.length).toBe(STEPS * P * G);
    for (const c of r.calls) {
      const k = key(c.problem);
      const [, reward, correct] = answers[k]!.find(([resp]) => resp === c.response)!;
      expect([k, c.scored.reward, c.scored.correct]).toEqual([k, reward, correct]);
    }
    // Every step trains on all three problems: the same mean reward and accuracy.
    const flat = Object.values(answers).flat();
    const mean = flat.reduce((a, [, x]) => a + x, 0) / flat.length;
    const acc = flat.filter(([, , ok]) => ok).length / flat.length;
    for (const m of res.metrics) {
      expect(m["reward/mean"]).toBeCloseTo(mean, 12);
      expect(m["accuracy"]).toBeCloseTo(acc, 12);
      expect(m["reward/accuracy"]).toBeCloseTo(mean, 12);
      expect(m["skipped"]).toBe(0);
      expect(Number.isFinite(m["loss/policy"])).toBe(true);
    }
    // Every program ran through the task's pool (per step: sum 3 + 3 + 3 + 0 (no code), sq 4 × 1, len 4 × 2),
    // and the groups were scored concurrently (more scores in flight at once than one group has).
    expect(runs).toBe(STEPS * (9 + 4 + 8));
    expect(r.maxInFlight()).toBeGreaterThan(G);
  });

  it("task codeio: right answers score 1 (input problems by running the program), wrong ones 0", async () => {
    const r = recorded(await codeioTask({ seed: 5, heldOutPermille: 50, mode: "both", sandbox: { pool } }));
    const respond = (p: Problem<unknown>, j: number): string => ` thinking</think> <answer>${j % 2 === 0 ? p.answer : "nope"}</answer>`;
    const res = await train(setup(r.task, scripted(r.problems, respond), ["--max-new-tokens", "200"]));
    expect(r.calls.length).toBe(STEPS * P * G);
    const modes = new Set<string>();
    for (const c of r.calls) {
      const right = !c.response.includes("<answer>nope</answer>");
      modes.add((c.problem.reference as { mode: string }).mode);
      expect([c.problem.id, c.scored.reward, c.scored.correct]).toEqual([c.problem.id, right ? 1 : 0, right]);
    }
    expect(modes).toEqual(new Set(["output", "input"]));
    for (const m of res.metrics) {
      expect(m["reward/mean"]).toBe(0.5);
      expect(m["accuracy"]).toBe(0.5);
    }
  });
});
