/**
 * `aha sample` (src/runner/sample.ts): each filter checked against hand-counted outcomes of a scripted
 * engine; resume after a teacher endpoint dies mid-run gives exactly the file of an uninterrupted run;
 * a filter that keeps nothing, repeated prompts and rows without a reference are clear errors or
 * handled; the demo model's rows are read by `aha sft` as they are.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { run as runSampleCli } from "../../src/cli/sample.js";
import { composeRewards } from "../../src/rewards/compose.js";
import type { Completion, RolloutEngine, RolloutRequest } from "../../src/rollout/engine.js";
import { DEMO_MODEL } from "../../src/runner/config.js";
import { runSample, sampleFromConfig, sampleSidecars, stepOfModelDir, type SampleOptions } from "../../src/runner/sample.js";
import { prepareSftRun } from "../../src/runner/sft.js";
import { readSftRows } from "../../src/rl/sft.js";
import type { Problem } from "../../src/tasks/types.js";

const root = mkdtempSync(join(tmpdir(), "aha-sample-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `out-${n++}.jsonl`);

// ---- a scripted engine: the responses to each prompt are listed by hand
type Scripted = { text: string; tokens?: number; finish?: "stop" | "length" };
function scriptedEngine(script: Record<string, Scripted[]>, o: { failAt?: string } = {}): RolloutEngine & { calls: string[] } {
  const calls: string[] = [];
  return {
    name: "scripted", logprobKind: "none", calls,
    async generate(reqs: readonly RolloutRequest[]): Promise<Completion[][]> {
      return reqs.map((r, ri) => {
        const q = r.promptText!;
        calls.push(q);
        if (q === o.failAt) throw new Error("connection refused (the teacher is gone)");
        return script[q]!.slice(0, r.n ?? 1).map((s, j) => ({ requestIndex: ri, sampleIndex: j, tokenIds: new Int32Array(0), logprobs: null, finishReason: s.finish ?? "stop", text: s.text, numTokens: s.tokens ?? 10 }));
      });
    },
    async close() {},
  };
}
const problem = (id: string, question: string, answer: string | null): Problem<unknown> => ({ id, question, answer: answer ?? "", reference: answer });
// accuracy: the text between <answer> tags equals the reference
const scorer = composeRewards<unknown>({
  weights: { accuracy: 1, format: 0.5 },
  accuracy: (text, p) => {
    const m = /<answer>(.*?)<\/answer>/.exec(text);
    const ok = m !== null && m[1] === p.reference;
    return { reward: ok ? 1 : 0, parts: { accuracy: ok ? 1 : 0 }, correct: ok, extracted: m?.[1] ?? null, reason: "" };
  },
});
const FILTER_OFF = { correct: false, format: false, language: null, truncated: false, maxTokens: null, dedup: false, perPrompt: null };
function opts(engine: RolloutEngine, problems: Problem<unknown>[], out: string, filter: Partial<SampleOptions["filter"]> = {}, samples = 4): SampleOptions {
  return {
    engine, problems, scorer, out, model: "teacher", step: 7, template: "r1-zero", settings: { samples },
    prepare: (p) => ({ request: { promptIds: [], promptText: p.question }, responsePrefix: "<think>" }),
    filter: { ...FILTER_OFF, ...filter }, sampling: { samples, temperature: 1, topP: 1, topK: 0, maxTokens: 64, seed: 0 }, language: "en",
  };
}
const rowsOf = (file: string): Record<string, unknown>[] => (existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").filter((l) => l).map((l) => JSON.parse(l) as Record<string, unknown>) : []);

const GOOD = "think.</think> <answer>5</answer>";
const script: Record<string, Scripted[]> = {
  q1: [{ text: GOOD }, { text: "x</think><answer>6</answer>" }, { text: `  ${GOOD.replace(" ", "  ")} ` }, { text: "y</think><answer>5</answer>", tokens: 40 }],
  q2: [{ text: "a</think><answer>5</answer>", finish: "length" }, { text: "b</think><answer>5</answer>" }, { text: "c</think><answer>5</answer> trailing" }, { text: "d</think><answer>5</answer>" }],
  q3: [{ text: "e</think><answer>9</answer>" }, { text: "f</think><answer>9</answer>" }, { text: "g</think><answer>9</answer>" }, { text: "h</think><answer>9</answer>" }],
};
const problems = [problem("p1", "q1", "5"), problem("p2", "q2", "5"), problem("p3", "q3", "5")];

describe("filters", () => {
  it("each filter drops what it should, counted against the first filter a sample fails", async () => {
    // by hand: correct drops q1#1 and all of q3 (5); format drops q2#2 (text after </answer>);
    // truncated drops q2#0; max-tokens 30 drops q1#3; dedup drops q1#2 (same as q1#0 after whitespace
    // normalisation); per-prompt 1 drops q2#3 (q2#1 kept first)
    const out = fresh();
    const s = await runSample(opts(scriptedEngine(script), problems, out, { correct: true, format: true, truncated: true, maxTokens: 30, dedup: true, perPrompt: 1 }));
    expect(s.dropped).toEqual({ correct: 5, format: 1, language: 0, truncated: 1, "max-tokens": 1, dedup: 1, "per-prompt": 1 });
    expect(s.reached.correct).toBe(12);
    expect(s.kept).toBe(2);
    const rows = rowsOf(out);
    expect(rows.map((r) => [r.prompt_id, r.sample])).toEqual([["p1", 0], ["p2", 1]]);
    expect(rows[0]).toEqual({
      prompt: "q1", response: GOOD, prompt_id: "p1", sample: 0, model: "teacher", step: 7, template: "r1-zero",
      reward: 1.5, parts: { accuracy: 1, format: 1 }, correct: true, length: 10, answer: "5",
    });
  });

  it("with every filter off, every sample is a row", async () => {
    const out = fresh();
    const s = await runSample(opts(scriptedEngine(script), problems, out));
    expect(s.kept).toBe(12);
    expect(rowsOf(out).map((r) => r.correct)).toEqual([true, false, true, true, true, true, true, true, false, false, false, false]);
  });

  it("the language filter keeps chains of thought in the task's language", async () => {
    const eng = scriptedEngine({ q: [{ text: "we add the digits</think><answer>5</answer>" }, { text: "我们把数字加起来</think><answer>5</answer>" }] });
    const out = fresh();
    const s = await runSample(opts(eng, [problem("p", "q", "5")], out, { language: 0.9 }, 2));
    expect(s.dropped.language).toBe(1);
    expect(rowsOf(out).map((r) => r.sample)).toEqual([0]);
  });

  it("a filter that keeps nothing is an error naming it", async () => {
    const out = fresh();
    const p = runSample(opts(scriptedEngine(script), [problems[2]!], out, { correct: true }));
    await expect(p).rejects.toThrow(/^filter-correct kept nothing: all 4 samples that reached it were dropped/);
    const out2 = fresh();
    await expect(runSample(opts(scriptedEngine(script), [problems[1]!], out2, { truncated: true, format: true, maxTokens: 5 }))).rejects.toThrow(/^filter-max-tokens kept nothing: all 2 samples/);
  });
});

describe("faults", () => {
  it("a teacher that dies mid-run: the finished prompts are on disk, and a resume writes exactly the uninterrupted file", async () => {
    const ps = Array.from({ length: 6 }, (_, i) => problem(`p${i}`, `q${i % 3 + 1}`, "5")).map((p, i) => ({ ...p, question: `${p.question}#${i}` }));
    const sc: Record<string, Scripted[]> = Object.fromEntries(ps.map((p) => [p.question, script[p.question.split("#")[0]!]!]));
    const ref = fresh();
    await runSample(opts(scriptedEngine(sc), ps, ref, { correct: true, dedup: true }));

    const out = fresh();
    const dying = scriptedEngine(sc, { failAt: ps[3]!.question });
    const err = await runSample(opts(dying, ps, out, { correct: true, dedup: true })).catch((e: Error & { hint?: string }) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/sampling stopped after 3 of 6 prompts .*connection refused/);
    expect((err as { hint?: string }).hint).toMatch(/run the same command again/);
    const before = readFileSync(out, "utf8");
    expect(rowsOf(out)).toEqual(rowsOf(ref).filter((r) => ["p0", "p1", "p2"].includes(r.prompt_id as string))); // prompts 0..2, in order

    const again = scriptedEngine(sc);
    const s = await runSample(opts(again, ps, out, { correct: true, dedup: true }));
    expect(s.resumed).toBe(3);
    expect(again.calls).toEqual(ps.slice(3).map((p) => p.question)); // finished prompts are not asked again
    expect(readFileSync(out, "utf8").startsWith(before)).toBe(true); // nothing rewritten
    expect(readFileSync(out, "utf8")).toBe(readFileSync(ref, "utf8"));
  });

  it("a row cut by a crash mid-write is moved aside; a prompt whose rows landed without its done line is not redone", async () => {
    const out = fresh();
    await runSample(opts(scriptedEngine(script), problems.slice(0, 1), out));
    const { done } = sampleSidecars(out);
    writeFileSync(done, ""); // the done line never landed
    appendFileSync(out, '{"prompt":"q2","resp'); // a cut line
    const eng = scriptedEngine(script);
    const s = await runSample(opts(eng, problems.slice(0, 2), out));
    expect(eng.calls).toEqual(["q2"]);
    expect(s.kept).toBe(8);
    expect(rowsOf(out).length).toBe(8);
  });

  it("repeated prompts are sampled once", async () => {
    const warn = vi.fn();
    const out = fresh();
    const eng = scriptedEngine(script);
    const s = await runSample({ ...opts(eng, [problems[0]!, { ...problems[0]!, id: "p1-again", question: " q1 " }, problems[1]!], out), warn });
    expect(eng.calls).toEqual(["q1", "q2"]);
    expect(s.prompts).toBe(2);
    expect(s.duplicatePrompts).toBe(1);
    expect(warn.mock.calls[0]![0]).toMatch(/1 repeated prompt sampled once \(e\.g\. p1-again repeats p1\)/);
  });

  it("prompts without a reference: an error naming them under filter-correct, unscored rows without it", async () => {
    const ps = [problems[0]!, problem("data.jsonl:2", "q2", null)];
    await expect(runSample(opts(scriptedEngine(script), ps, fresh(), { correct: true }))).rejects.toThrow(/filter-correct needs a reference answer, and 1 prompt has none \(data\.jsonl:2\)/);
    const out = fresh();
    const unscored = composeRewards<unknown>({ weights: { accuracy: 1 }, accuracy: (_t, p) => (p.reference === null ? { reward: null, parts: {}, correct: false, extracted: null, reason: "no reference" } : { reward: 1, parts: { accuracy: 1 }, correct: true, extracted: null, reason: "" }) });
    await runSample({ ...opts(scriptedEngine(script), ps, out), scorer: unscored });
    expect(rowsOf(out).filter((r) => r.prompt_id === "data.jsonl:2").map((r) => r.reward)).toEqual([null, null, null, null]);
  });

  it("never overwrites a file it did not write, and refuses to resume with other settings", async () => {
    const foreign = fresh();
    writeFileSync(foreign, '{"prompt":"mine","response":"mine"}\n');
    await expect(runSample(opts(scriptedEngine(script), problems, foreign))).rejects.toThrow(/exists and was not written by aha sample/);
    const out = fresh();
    await runSample(opts(scriptedEngine(script), problems.slice(0, 1), out));
    await expect(runSample(opts(scriptedEngine(script), problems.slice(0, 1), out, {}, 2))).rejects.toThrow(/was written with other settings \(samples: 4 there, 2 now\)/);
  });

  it("the step of a checkpoint folder is read from its name", () => {
    expect(stepOfModelDir("runs/x/checkpoints/step-40/model")).toBe(40);
    expect(stepOfModelDir("models/demo-adder")).toBe(null);
  });
});

// ---- through the command line, against a fake teacher endpoint (a file task, the math verifier)
async function teacher(o: { dieAfter?: number } = {}): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      count++;
      if (o.dieAfter !== undefined && count > o.dieAfter) {
        res.destroy(); // the teacher is gone: connections drop
        return;
      }
      const b = JSON.parse(body) as { prompt: string; seed: number };
      const m = /What is (\d+) \+ (\d+)\?/.exec(b.prompt)!;
      const sum = Number(m[1]) + Number(m[2]);
      const text = `I add ${m[1]} and ${m[2]}.</think> <answer>${b.seed % 3 === 0 ? sum + 1 : sum}</answer>`;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ choices: [{ index: 0, text, finish_reason: "stop" }], usage: { completion_tokens: 12 } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, requests: () => count, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

async function cli(argv: string[]): Promise<{ code: number; err: unknown }> {
  const o = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const e = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    return { code: await runSampleCli(argv), err: null };
  } catch (x) {
    return { code: -1, err: x };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe("aha sample against an endpoint", () => {
  const data = join(root, "teach.jsonl");
  // 40 rows, two of them repeats of earlier questions
  writeFileSync(data, Array.from({ length: 40 }, (_, i) => JSON.stringify({ question: `What is ${i % 38} + ${i % 38 + 1}?`, answer: String(2 * (i % 38) + 1) })).join("\n") + "\n");
  const args = (out: string, url: string): string[] => ["--endpoint", url, "--model-name", "teacher", "--task", "file", "--data", data, "--samples", "3", "--out", out, "--retries", "0", "--concurrency", "2"];

  it("the teacher dies mid-run; running the same command again against a live teacher completes the file", async () => {
    const live = await teacher();
    const ref = fresh();
    expect((await cli(args(ref, live.url))).code).toBe(0);
    const refRows = rowsOf(ref);
    expect(refRows.length).toBeGreaterThan(10);
    expect(refRows.every((r) => r.correct === true && r.model === "teacher" && r.template === "r1-zero")).toBe(true);
    expect(new Set(refRows.map((r) => r.prompt)).size).toBeLessThanOrEqual(38); // repeats sampled once

    const dying = await teacher({ dieAfter: 30 });
    const out = fresh();
    const r1 = await cli(args(out, dying.url));
    expect(r1.code).toBe(-1);
    expect(String((r1.err as Error).message)).toMatch(/sampling stopped after \d+ of \d+ prompts/);
    await dying.close();
    const partial = rowsOf(out).length;
    expect(partial).toBeLessThan(refRows.length);
    const r2 = await cli(args(out, live.url));
    expect(r2.err).toBe(null);
    expect(readFileSync(out, "utf8")).toBe(readFileSync(ref, "utf8"));
    await live.close();
    // aha sft reads the rows as they are
    expect(readSftRows(out).length).toBe(refRows.length);
  });

  it("rows without a reference: an error naming the row under filter-correct, kept unscored with --no-filter-correct", async () => {
    const live = await teacher();
    const noRef = join(root, "noref.jsonl");
    writeFileSync(noRef, `{"question":"What is 1 + 2?","answer":"3"}\n{"question":"What is 2 + 3?"}\n`);
    const a = (out: string): string[] => [...args(out, live.url).map((x) => (x === data ? noRef : x)), "--held-out-permille", "1"];
    const r = await cli(a(fresh()));
    expect(String((r.err as Error).message)).toMatch(/filter-correct needs a reference answer, and 1 prompt has none \(noref\.jsonl:2\)/);
    const out = fresh();
    expect((await cli([...a(out), "--no-filter-correct"])).code).toBe(0);
    const rows = rowsOf(out);
    expect(rows.filter((x) => x.prompt === "What is 2 + 3?").every((x) => x.reward === null && x.correct === false)).toBe(true);
    expect(rows.filter((x) => x.prompt === "What is 1 + 2?").some((x) => x.reward === 1)).toBe(true);
    await live.close();
  });

  it("--help lists every filter key", async () => {
    const o = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    await runSampleCli(["--help"]);
    const text = o.mock.calls.map((c) => String(c[0])).join("");
    o.mockRestore();
    for (const k of ["--filter-correct", "--filter-format", "--filter-language", "--filter-truncated", "--filter-max-tokens", "--filter-dedup", "--filter-per-prompt", "--samples", "--out", "--endpoint"]) expect(text).toContain(k);
  });
});

describe("the demo model", () => {
  it("samples verified rows that aha sft trains on as they are", async () => {
    const out = fresh();
    const s = await sampleFromConfig({ model: DEMO_MODEL, task: "arithmetic", prompts: 12, samples: 4, temperature: 1, "top-p": 1, "max-tokens": 120, out });
    const rows = rowsOf(out);
    expect(rows.length).toBe(s.kept);
    expect(s.kept).toBeGreaterThan(0);
    for (const r of rows) {
      const m = /^(\d+)\+(\d+)=$/.exec(r.prompt as string)!;
      expect(r.response).toMatch(new RegExp(`<answer>${Number(m[1]) + Number(m[2])}</answer>$`)); // correct, checked here independently
      expect(r.template).toBe("none");
    }
    const run = await prepareSftRun({ model: DEMO_MODEL, data: out, steps: 1, "batch-size": 4, "run-dir": join(root, "sft-run") });
    const res = await run.run();
    expect(res.steps).toBe(1);
    expect(run.examples.length).toBe(rows.length);
  }, 120_000);
});
