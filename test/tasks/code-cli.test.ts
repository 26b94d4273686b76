// `aha train --task code|codeio` end to end: one step on a tiny random model folder with a byte-level
// tokenizer writes a run directory whose metrics show every sample scored (the config section, the
// task maker and the sandbox wired together); `aha eval --task codeio` on the same folder.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import { makeModelFolder } from "../serve/helpers.js";

const FIXTURE = path.join(import.meta.dirname, "../../fixtures/code/train-small.jsonl");
let folder: ReturnType<typeof makeModelFolder>;
beforeAll(() => {
  folder = makeModelFolder(9, 2048);
});
afterAll(() => folder?.cleanup());

async function aha(argv: string[], command = "train"): Promise<{ code: number; err: string }> {
  const o = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const e = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    const code = await main([command, ...argv]);
    return { code, err: e.mock.calls.map((c) => String(c[0])).join("") };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const STEP = ["--steps", "1", "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "4", "--held-out", "0", "--eval-samples", "0", "--kl-coef", "0"];

describe("aha train on the code tasks", () => {
  it.each([
    ["code", ["--data", FIXTURE, "--code-score", "all-or-nothing"]],
    ["codeio", ["--codeio-mode", "both"]],
  ])("--task %s trains a step", async (task, extra) => {
    const dir = path.join(folder.root, `run-${task}`);
    const r = await aha(["--model", folder.dir, "--task", task, ...extra, ...STEP, "--run-dir", dir]);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.code, r.err).toBe(0);
    const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    expect(config).toMatchObject({ task, "unsafe-no-sandbox": false });
    const m = JSON.parse(fs.readFileSync(path.join(dir, "metrics.jsonl"), "utf8").trim()) as Record<string, number>;
    expect(Number.isFinite(m["reward/mean"])).toBe(true);
    expect(m["reward/unscorable_frac"]).toBe(0);
    const samples = fs.readFileSync(path.join(dir, "samples.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { reward: number; prompt: string });
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) expect(s.reward).toBe(0); // a random model writes no program / answer
    expect(samples[0]!.prompt).toMatch(task === "code" ? /inside <answer> <\/answer>\.\nAssistant: <think>$/ : /Here is a Python program/);
  });

  it("--task code without --data is a usage error naming the key", async () => {
    const r = await aha(["--model", folder.dir, "--task", "code", ...STEP]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/task = code needs --data FILE\.jsonl/);
  });

  it("aha eval --task codeio scores the built-in held-out problems", async () => {
    const out = path.join(folder.root, "eval-codeio");
    const r = await aha(["--model", folder.dir, "--task", "codeio", "--questions", "4", "--samples", "2", "--max-tokens", "4", "--out", out], "eval");
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.code, r.err).toBe(0);
    const summary = JSON.parse(fs.readFileSync(path.join(out, "summary.json"), "utf8")) as Record<string, unknown>;
    expect(summary).toMatchObject({ task: "codeio", questions: 4, samples: 2, "pass@1": 0 });
  });
});
