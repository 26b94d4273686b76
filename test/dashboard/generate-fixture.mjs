#!/usr/bin/env node
// Writes fixtures/runs/: a small runs directory in the layout of docs/run-directory.md, for the
// dashboard's tests and for looking at the dashboard without training anything.
//   node test/dashboard/generate-fixture.mjs          (deterministic: a seeded generator, fixed dates)
//
// The curves are shaped like an R1-Zero run: accuracy rises along a sigmoid, response length grows,
// and the share of responses that re-check themselves ("wait, ...") jumps around step 45.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const OUT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "fixtures", "runs");

/** mulberry32: a tiny seeded generator, so the fixture is the same on every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const r4 = (x) => Math.round(x * 1e4) / 1e4;
const sigmoid = (x) => 1 / (1 + Math.exp(-x));
const jsonl = (rows) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
const put = (rel, text) => {
  const p = join(OUT, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
};

// ---- Countdown problems with a known solution ---------------------------------------------
function countdownProblem(rand) {
  const pick = () => 2 + Math.floor(rand() * 60);
  const [a, b, c, d] = [pick(), pick(), 2 + Math.floor(rand() * 8), pick()];
  const target = (a + b) * c - d;
  return { nums: [a, b, c, d], target, solution: `(${a} + ${b}) * ${c} - ${d}` };
}
const countdownPrompt = (p) =>
  `Using the numbers [${p.nums.join(", ")}], create an equation that equals ${p.target}. ` +
  "You can use basic arithmetic operations (+, -, *, /) and each number can only be used once. " +
  "Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags.";

function countdownResponse(p, rand, { correct, recheck, verbose }) {
  const [a, b, c, d] = p.nums;
  const lines = [];
  lines.push(`We need to reach ${p.target} with ${p.nums.join(", ")}.`);
  // Exploration grows with training (responses get longer).
  const tries = [
    `Let me try combining the larger numbers first: ${a} * ${b} = ${a * b}, which is far too big.`,
    `${a} - ${b} = ${a - b}. Then ${a - b} * ${c} = ${(a - b) * c}, and adding ${d} gives ${(a - b) * c + d}. Not it.`,
    a % c === 0
      ? `Maybe divide: ${a} / ${c} = ${a / c}. Then I still need ${p.target - a / c} from ${b} and ${d}.`
      : `Maybe divide: ${a} / ${c} = ${(a / c).toFixed(2)}. That is not a whole number, so this path looks unpromising.`,
    `${b} * ${c} = ${b * c}. ${b * c} + ${a} = ${b * c + a}, and ${b * c + a} - ${d} = ${b * c + a - d}. Close, but no.`,
    `${d} * ${c} = ${d * c}; ${d * c} + ${a} + ${b} = ${d * c + a + b}. That is off by ${Math.abs(d * c + a + b - p.target)}.`,
    `What about ${a} + ${b} = ${a + b}? Then ${a + b} * ${c} = ${(a + b) * c}, which is near ${p.target}.`,
  ];
  const start = Math.floor(rand() * tries.length);
  for (let i = 0; i < Math.min(verbose, tries.length); i++) lines.push(tries[(start + i) % tries.length]);
  let answer;
  if (correct) {
    if (recheck) {
      lines.push(`Try ${a} + ${b} + ${c} + ${d} = ${a + b + c + d}. That is not ${p.target}.`);
      lines.push(`Wait, let me re-check: (${a} + ${b}) * ${c} = ${(a + b) * c}, and ${(a + b) * c} - ${d} = ${p.target}. Yes, that works.`);
    } else {
      lines.push(`(${a} + ${b}) * ${c} - ${d} = ${p.target}.`);
    }
    answer = p.solution;
  } else {
    const wrong = a * c + b - d;
    lines.push(`${a} * ${c} + ${b} - ${d} = ${wrong}.`);
    if (recheck) lines.push(`Wait, ${wrong} is not ${p.target}... but I am running out of ideas, so I will go with it.`);
    answer = rand() < 0.15 ? null : `${a} * ${c} + ${b} - ${d}`;
  }
  const think = `<think>\n${lines.join("\n")}\n</think>`;
  const response = answer === null ? `${think}\nThe answer is ${a * c}.` : `${think}\n<answer>${answer}</answer>`;
  return { response, extracted: answer };
}

// ---- One training run ---------------------------------------------------------------------
function trainingRun({ name, seed, steps, totalSteps, state, task, model, algorithm, started, stepSeconds, error }) {
  const rand = rng(seed);
  const noise = (s) => (rand() - 0.5) * 2 * s;
  const metrics = [];
  const samples = [];
  let time = 0;
  for (let step = 1; step <= steps; step++) {
    const progress = step / 100;
    const acc = Math.min(0.98, Math.max(0, 0.08 + 0.62 * sigmoid((step - 45) / 9) + noise(0.06)));
    const recheck = Math.min(1, Math.max(0, 0.02 + 0.33 * sigmoid((step - 48) / 5) + noise(0.03)));
    const format = Math.min(1, 0.55 + 0.44 * sigmoid((step - 12) / 5) + noise(0.02));
    const lenMean = 170 + 330 * sigmoid((step - 50) / 14) + noise(18);
    const genS = 9 + lenMean / 40 + noise(0.8);
    const trainS = 6 + lenMean / 70 + noise(0.5);
    const refS = 1.8 + noise(0.2);
    const rewS = 0.05 + noise(0.01);
    const stepS = genS + trainS + refS + rewS;
    time += stepS * stepSeconds;
    const rewardAcc = acc;
    const rewardFormat = 0.1 * format;
    metrics.push({
      step,
      time: r4(time),
      "reward/mean": r4(rewardAcc + rewardFormat),
      "reward/std": r4(0.25 + 0.2 * Math.sin(Math.PI * Math.min(1, acc)) + noise(0.03)),
      "reward/accuracy": r4(rewardAcc),
      "reward/format": r4(rewardFormat),
      accuracy: r4(acc),
      format_rate: r4(format),
      "groups/zero_variance_frac": r4(Math.max(0, 0.7 - 0.9 * acc * (1 - acc) * 2 + noise(0.05))),
      "length/mean": r4(lenMean),
      "length/min": Math.round(lenMean * 0.35 + noise(10)),
      "length/max": Math.min(1024, Math.round(lenMean * 1.9 + noise(40))),
      "length/truncated_frac": r4(Math.max(0, (lenMean - 380) / 2000 + noise(0.01))),
      recheck_share: r4(recheck),
      entropy: r4(0.62 - 0.25 * progress + noise(0.03)),
      kl: r4(Math.max(0, 0.0005 + 0.004 * progress + noise(0.0006))),
      "clip/low_frac": r4(Math.max(0, 0.002 + noise(0.0015))),
      "clip/high_frac": r4(Math.max(0, 0.006 + 0.004 * progress + noise(0.002))),
      "loss/policy": r4(noise(0.02)),
      grad_norm: r4(0.35 + 0.2 * Math.exp(-step / 20) + Math.abs(noise(0.08))),
      lr: step < 10 ? r4(1e-6 * (step / 10) * 1e4) / 1e4 : 1e-6,
      "tokens_per_s/rollout": Math.round((8 * 4 * lenMean) / genS),
      "tokens_per_s/train": Math.round((8 * 4 * (lenMean + 90)) / trainS),
      "seconds/generate": r4(genS),
      "seconds/reward": r4(rewS),
      "seconds/reference": r4(refS),
      "seconds/train": r4(trainS),
      "seconds/step": r4(stepS),
    });
    // A few responses per step (the trainer logs the first prompt's group).
    const p = countdownProblem(rand);
    for (let i = 0; i < 4; i++) {
      const correct = rand() < acc;
      const doesRecheck = rand() < recheck * 1.6;
      const verbose = Math.min(6, Math.floor(progress * 5 + rand() * 2));
      const { response, extracted } = countdownResponse(p, rand, { correct, recheck: doesRecheck, verbose });
      const formatOk = extracted !== null;
      const length = Math.round(response.length / 3.2);
      samples.push({
        step,
        prompt: countdownPrompt(p),
        response,
        reward: r4((correct ? 1 : 0) + (formatOk ? 0.1 : 0)),
        parts: { accuracy: correct ? 1 : 0, format: formatOk ? 0.1 : 0 },
        correct,
        extracted,
        length,
        truncated: false,
      });
    }
  }
  const startedMs = Date.parse(started);
  const config = {
    run: { name, seed: 1234, output_dir: `runs/${name}` },
    model: { path: model, dtype: "bf16", lora: null },
    task: { name: task, split: "train", seed: 7 },
    algorithm: {
      preset: algorithm,
      group_size: 8,
      prompts_per_step: 4,
      clip_low: 0.2,
      clip_high: algorithm === "dapo" ? 0.28 : 0.2,
      kl_coef: algorithm === "grpo" ? 0.04 : 0,
      loss_aggregation: algorithm === "dr-grpo" ? "seq-mean-token-sum-norm" : "token-mean",
    },
    optimizer: { lr: 1e-6, weight_decay: 0.0, betas: [0.9, 0.99], grad_clip: 1.0, warmup_steps: 10 },
    sampling: { temperature: 1.0, top_p: 1.0, max_new_tokens: 1024 },
    rewards: [
      { name: "accuracy", weight: 1.0 },
      { name: "format", weight: 0.1 },
    ],
    steps: totalSteps,
    checkpoint_every: 25,
  };
  const status = {
    state,
    pid: 999999,
    started,
    updated: new Date(startedMs + time * 1000).toISOString(),
    step: steps,
    total_steps: totalSteps,
    kind: "train",
    task,
    model,
    algorithm,
    ...(error ? { error } : {}),
  };
  put(`${name}/config.json`, JSON.stringify(config, null, 2) + "\n");
  put(`${name}/status.json`, JSON.stringify(status, null, 2) + "\n");
  put(`${name}/metrics.jsonl`, jsonl(metrics));
  put(`${name}/samples.jsonl`, jsonl(samples));
  return { metrics, time };
}

// ---- An `aha eval` output -----------------------------------------------------------------
function evalOutput(rel, { seed, model, task, accuracy, questions, k }) {
  const rand = rng(seed);
  const categories = ["add-mul", "three-numbers", "four-numbers"];
  const results = [];
  for (let q = 0; q < questions; q++) {
    const p = countdownProblem(rand);
    const category = categories[q % categories.length];
    const difficulty = category === "add-mul" ? 0.25 : category === "three-numbers" ? 0 : -0.2;
    const s = [];
    for (let j = 0; j < k; j++) {
      const correct = rand() < Math.max(0, Math.min(1, accuracy + difficulty));
      const { response, extracted } = countdownResponse(p, rand, { correct, recheck: rand() < 0.3, verbose: 1 + Math.floor(rand() * 4) });
      s.push({ response, extracted, correct, length: Math.round(response.length / 3.6), truncated: false });
    }
    results.push({
      id: `countdown-${q}`,
      question: countdownPrompt(p),
      answer: String(p.target),
      category,
      samples: s,
      "pass@1": r4(s.filter((x) => x.correct).length / k),
    });
  }
  const stats = (rows) => {
    const n = rows.length;
    const pass1 = rows.reduce((a, r) => a + r["pass@1"], 0) / n;
    const anyOf = (m) => rows.filter((r) => r.samples.slice(0, m).some((x) => x.correct)).length / n;
    const maj = rows.filter((r) => r.samples.filter((x) => x.correct).length * 2 > r.samples.length).length / n;
    const all = rows.flatMap((r) => r.samples);
    return {
      "pass@1": r4(pass1),
      "pass@k": { 1: r4(anyOf(1)), 2: r4(anyOf(2)), 4: r4(anyOf(4)) },
      "maj@k": r4(maj),
      "length/mean": r4(all.reduce((a, x) => a + x.length, 0) / all.length),
      truncated_frac: 0,
    };
  };
  const summary = { model, task, samples: k, questions, ...stats(results), categories: {} };
  for (const c of categories) summary.categories[c] = { questions: results.filter((r) => r.category === c).length, ...stats(results.filter((r) => r.category === c)) };
  put(`${rel}/summary.json`, JSON.stringify(summary, null, 2) + "\n");
  put(`${rel}/results.jsonl`, jsonl(results));
  return summary;
}

rmSync(OUT, { recursive: true, force: true });

// 1. A finished run with its base-vs-final summary and an evaluation inside it.
const done = trainingRun({
  name: "countdown-grpo-qwen2.5-0.5b", seed: 1, steps: 100, totalSteps: 100, state: "finished",
  task: "countdown", model: "Qwen/Qwen2.5-0.5B", algorithm: "grpo", started: "2026-11-20T08:00:00.000Z", stepSeconds: 1,
});
const base = evalOutput("countdown-grpo-qwen2.5-0.5b/eval/base", { seed: 11, model: "Qwen/Qwen2.5-0.5B", task: "countdown", accuracy: 0.12, questions: 24, k: 4 });
const final = evalOutput("countdown-grpo-qwen2.5-0.5b/eval/final", { seed: 12, model: "runs/countdown-grpo-qwen2.5-0.5b/checkpoints/step-100", task: "countdown", accuracy: 0.61, questions: 24, k: 4 });
const pick = (s) => ({ "pass@1": s["pass@1"], "maj@k": s["maj@k"], "length/mean": s["length/mean"] });
put("countdown-grpo-qwen2.5-0.5b/summary.json", JSON.stringify({ base: pick(base), final: pick(final), steps: 100, wall_seconds: Math.round(done.time) }, null, 2) + "\n");

// 2. A run still going (the tests rewrite status.json with a live pid and a fresh time).
trainingRun({
  name: "countdown-dapo-qwen2.5-0.5b", seed: 2, steps: 40, totalSteps: 200, state: "running",
  task: "countdown", model: "Qwen/Qwen2.5-0.5B", algorithm: "dapo", started: "2026-11-21T09:30:00.000Z", stepSeconds: 1.1,
});

// 3. A run that died.
trainingRun({
  name: "countdown-drgrpo-smollm2", seed: 3, steps: 12, totalSteps: 100, state: "crashed",
  task: "countdown", model: "HuggingFaceTB/SmolLM2-135M", algorithm: "dr-grpo", started: "2026-11-19T14:00:00.000Z", stepSeconds: 0.5,
  error: "AHA_OOM: could not allocate 2.1 GiB for the activation arena",
});

// 4. A standalone `aha eval` output.
evalOutput("eval-countdown-qwen2.5-0.5b-base", { seed: 21, model: "Qwen/Qwen2.5-0.5B", task: "countdown", accuracy: 0.14, questions: 30, k: 4 });

