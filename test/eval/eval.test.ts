/**
 * `aha eval` and `evaluate`: summary.json must equal a recomputation from results.jsonl written here
 * independently (exact binomials with BigInt, plain counting); interrupted evaluations resume without
 * redoing questions; endpoint retries and a clear error when unreachable; the trainer's in-memory
 * `evaluate` on the arithmetic task, pinned to a greedy full-recompute oracle.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { parquetWriteBuffer } from "hyparquet-writer";
import { run as runEvalCli } from "../../src/cli/eval.js";
import { readDataset } from "../../src/eval/dataset.js";
import { main } from "../../src/cli/main.js";
import { evaluate } from "../../src/eval/evaluate.js";
import { parseHfConfig } from "../../src/model/config.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { ARITH_SPECIAL, arithDecode, arithEncode, arithmeticTask } from "../../src/tasks/arithmetic.js";
import { makeModelFolder } from "../serve/helpers.js";

const root = mkdtempSync(join(tmpdir(), "aha-eval-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// ---- a dataset and a fake OpenAI-compatible endpoint whose answers depend only on (prompt, seed)
const N_Q = 14;
const dataset = join(root, "data.jsonl");
writeFileSync(dataset, Array.from({ length: N_Q }, (_, i) => JSON.stringify({
  question: `What is ${i} + ${i + 1}?`, answer: String(2 * i + 1), ...(i % 3 === 2 ? {} : { category: i % 3 === 0 ? "even" : "odd" }),
})).join("\n") + "\n");

function h32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

interface Fake { url: string; requests: () => number; close: () => Promise<void> }
/** Answers /v1/completions; `failAfter`: requests after that many get HTTP 400; `flaky`: every 7th first try gets 503. */
async function fakeEndpoint(o: { failAfter?: number; flaky?: boolean } = {}): Promise<Fake> {
  let count = 0;
  const seen = new Set<string>();
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const b = JSON.parse(body) as { prompt: string; seed: number; n: number; max_tokens: number };
      count++;
      const key = `${b.prompt}/${b.seed}`;
      if (o.flaky && count % 7 === 0 && !seen.has(key)) {
        seen.add(key);
        res.writeHead(503, { "content-type": "application/json", "retry-after": "0" });
        res.end(JSON.stringify({ error: { message: "overloaded" } }));
        return;
      }
      if (o.failAfter !== undefined && count > o.failAfter) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "quota exceeded", type: "invalid_request_error", code: null } }));
        return;
      }
      const m = /What is (\d+) \+ (\d+)\?/.exec(b.prompt)!;
      const gold = Number(m[1]) + Number(m[2]);
      const h = h32(key);
      const kind = h % 5; // 0,1: right; 2: off by one; 3: off by two; 4: no answer (cut off)
      const text = kind === 4 ? "Let me think about this for a long" : `So the answer is \\boxed{${kind <= 1 ? gold : gold + kind - 1}}.`;
      const tokens = 5 + (h >>> 8) % 20;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ choices: [{ index: 0, text, finish_reason: kind === 4 ? "length" : "stop" }], usage: { prompt_tokens: 10, completion_tokens: tokens, total_tokens: 10 + tokens } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, requests: () => count, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: unknown }> {
  const o = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const e = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  let code = -1;
  let err: unknown = null;
  try {
    code = await runEvalCli(argv);
  } catch (x) {
    err = x;
  }
  const out = o.mock.calls.map((c) => String(c[0])).join("");
  o.mockRestore();
  e.mockRestore();
  return { code, out, err };
}

// ---- the independent recomputation
interface Row { id: string; category?: string; samples: { extracted: string | null; correct: boolean; length: number; truncated: boolean }[]; "pass@1": number }

function binom(n: number, k: number): bigint {
  if (k < 0 || k > n) return 0n;
  let r = 1n;
  for (let i = 0; i < k; i++) r = (r * BigInt(n - i)) / BigInt(i + 1);
  return r;
}

function recompute(rows: Row[], k: number): Record<string, unknown> {
  const q = rows.length;
  const ks: number[] = [];
  for (let x = 1; x < k; x *= 2) ks.push(x);
  ks.push(k);
  const passK: Record<string, number> = {};
  for (const kk of ks) {
    let s = 0;
    for (const r of rows) {
      const n = r.samples.length;
      const c = r.samples.filter((x) => x.correct).length;
      s += 1 - Number(binom(n - c, kk)) / Number(binom(n, kk));
    }
    passK[String(kk)] = s / q;
  }
  let maj = 0;
  for (const r of rows) {
    const votes: Record<string, number> = {};
    for (const s of r.samples) if (s.extracted !== null) votes[s.extracted] = (votes[s.extracted] ?? 0) + 1;
    let best: string | null = null;
    for (const s of r.samples) if (s.extracted !== null && (best === null || votes[s.extracted]! > votes[best]!)) best = s.extracted;
    if (best !== null && r.samples.find((s) => s.extracted === best)!.correct) maj++;
  }
  const all = rows.flatMap((r) => r.samples);
  return {
    questions: q,
    "pass@1": rows.reduce((a, r) => a + r.samples.filter((s) => s.correct).length / r.samples.length, 0) / q,
    "pass@k": passK,
    "maj@k": maj / q,
    "length/mean": all.reduce((a, s) => a + s.length, 0) / all.length,
    truncated_frac: all.filter((s) => s.truncated).length / all.length,
  };
}

function expectSummaryMatches(dir: string, k: number): Record<string, unknown> {
  const rows = readFileSync(join(dir, "results.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Row);
  const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as Record<string, unknown> & { categories: Record<string, unknown> };
  const close = (x: Record<string, unknown>): unknown => JSON.parse(JSON.stringify(x), (_k, v: unknown) => (typeof v === "number" ? expect.closeTo(v, 12) : v));
  expect(summary).toMatchObject(close(recompute(rows, k)) as Record<string, unknown>);
  const cats = [...new Set(rows.map((r) => r.category).filter((c): c is string => c !== undefined))].sort();
  expect(Object.keys(summary.categories)).toEqual(cats);
  for (const c of cats) expect(summary.categories[c]).toMatchObject(close(recompute(rows.filter((r) => r.category === c), k)) as Record<string, unknown>);
  for (const r of rows) expect(r["pass@1"]).toBeCloseTo(r.samples.filter((s) => s.correct).length / k, 12);
  return summary;
}

describe("aha eval --endpoint", () => {
  it("writes results.jsonl and a summary.json that an independent recomputation reproduces (with 503s retried)", async () => {
    const f = await fakeEndpoint({ flaky: true });
    const out = join(root, "full");
    const r = await cli(["--endpoint", f.url, "--model-name", "fake", "--dataset", dataset, "--samples", "8", "--concurrency", "4", "--out", out, "--template", "none"]);
    expect(r.err).toBeNull();
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/pass@1 \d\.\d{4}.*maj@8/);
    const s = expectSummaryMatches(out, 8);
    expect(s).toMatchObject({ model: "fake", task: "data.jsonl", samples: 8, questions: N_Q, temperature: 0.6, top_p: 0.95 });
    expect(Object.keys(s["pass@k"] as object)).toEqual(["1", "2", "4", "8"]);
    // the fake answers right 2/5 of the time, so pass@1 is neither 0 nor 1 and pass@k grows with k
    const pk = s["pass@k"] as Record<string, number>;
    expect(pk["1"]).toBeGreaterThan(0.1);
    expect(pk["8"]).toBeGreaterThan(pk["1"]!);
    expect(s.truncated_frac).toBeGreaterThan(0);
    expect(f.requests()).toBeGreaterThan(N_Q * 8); // some were retried
    await f.close();
  });

  it("an interrupted evaluation resumes: done questions are skipped and the result equals an uninterrupted run", async () => {
    const whole = join(root, "whole");
    const f = await fakeEndpoint();
    await cli(["--endpoint", f.url, "--model-name", "fake", "--dataset", dataset, "--samples", "4", "--out", whole, "--concurrency", "2"]);
    await f.close();
    const part = join(root, "part");
    const broken = await fakeEndpoint({ failAfter: 22 });
    const r1 = await cli(["--endpoint", broken.url, "--model-name", "fake", "--dataset", dataset, "--samples", "4", "--out", part, "--concurrency", "2", "--retries", "0"]);
    await broken.close();
    expect(r1.err).toMatchObject({ code: "AHA_ENDPOINT_ERROR", message: expect.stringMatching(/quota exceeded/) });
    const doneFirst = readFileSync(join(part, "results.jsonl"), "utf8").trim().split("\n").length;
    expect(doneFirst).toBeGreaterThan(0);
    expect(doneFirst).toBeLessThan(N_Q);
    const again = await fakeEndpoint();
    const r2 = await cli(["--endpoint", again.url, "--model-name", "fake", "--dataset", dataset, "--samples", "4", "--out", part, "--concurrency", "2"]);
    expect(r2.err).toBeNull();
    expect(r2.out).toContain(`(${doneFirst} resumed)`);
    expect(again.requests()).toBe((N_Q - doneFirst) * 4);
    await again.close();
    const rows = (d: string): unknown[] => readFileSync(join(d, "results.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id: string }).sort((a, b) => a.id.localeCompare(b.id));
    expect(rows(part)).toEqual(rows(whole));
    expect(readFileSync(join(part, "summary.json"), "utf8")).toBe(readFileSync(join(whole, "summary.json"), "utf8"));
    // other settings in the same folder are refused
    const r3 = await cli(["--endpoint", again.url, "--model-name", "fake", "--dataset", dataset, "--samples", "2", "--out", part]);
    expect(r3.err).toMatchObject({ code: "AHA_BAD_INPUT", message: expect.stringMatching(/other settings \(samples: 4 there, 2 now\)/) });
  });

  it("an unreachable endpoint is a clear error; bad flags are user errors", async () => {
    const f = await fakeEndpoint();
    await f.close();
    const r = await cli(["--endpoint", f.url, "--model-name", "x", "--dataset", dataset, "--retries", "0", "--out", join(root, "dead")]);
    expect(r.err).toMatchObject({ code: "AHA_ENDPOINT_UNREACHABLE", message: expect.stringMatching(/ECONNREFUSED/) });
    expect((await cli(["--endpoint", f.url, "--dataset", dataset])).err).toMatchObject({ message: expect.stringMatching(/--model-name/) });
    expect((await cli(["--endpoint", f.url, "--model-name", "x"])).err).toMatchObject({ message: expect.stringMatching(/--task NAME or --dataset FILE/) });
    expect((await cli(["--endpoint", f.url, "--model-name", "x", "--task", "chess"])).err).toMatchObject({ message: expect.stringMatching(/--task: task = chess is not allowed.*one of arithmetic \| countdown \| kk/) });
    expect((await cli(["--endpoint", f.url, "--model-name", "x", "--task", "kk", "--samples", "0"])).err).toMatchObject({ message: expect.stringMatching(/--samples: samples = 0 is not allowed.*integer ≥ 1/) });
    expect((await cli(["--help"])).out).toContain("--concurrency <integer>   (default: 16)");
  });
});

describe("aha eval --model and evaluate()", () => {
  it("a model folder on a dataset: files written, summary = recomputation, lengths within max tokens", async () => {
    const f = makeModelFolder(3);
    const out = join(root, "local");
    const r = await cli(["--model", f.dir, "--dataset", dataset, "--questions", "5", "--samples", "3", "--max-tokens", "6", "--out", out, "--slots", "16"]);
    expect(r.err).toBeNull();
    const s = expectSummaryMatches(out, 3);
    expect(s).toMatchObject({ model: "tiny-qwen", questions: 5 });
    const rows = readFileSync(join(out, "results.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Row);
    for (const row of rows) for (const x of row.samples) expect(x.length).toBeLessThanOrEqual(6);
    f.cleanup();
  });

  it("evaluate(): an in-memory model on held-out arithmetic; greedy samples equal a full-recompute oracle", async () => {
    const cfg = parseHfConfig({ architectures: ["LlamaForCausalLM"], vocab_size: 21, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2, tie_word_embeddings: false, initializer_range: 0.3 }, "cfg");
    const model = new Model(cfg);
    initParams(model.params, cfg, 5);
    const task = arithmeticTask({ seed: 0, heldOutPermille: 50 });
    const tokenizer = { encode: (t: string) => arithEncode(t), decode: (ids: ArrayLike<number>) => arithDecode(Array.from(ids)), stopTokenIds: [ARITH_SPECIAL.eos] };
    const res = await evaluate(model, { task, questions: 6, template: "none", tokenizer, sampling: { maxTokens: 10, samples: 3, temperature: 0 } });
    expect(res.rows).toHaveLength(6);
    expect(res.summary).toMatchObject({ task: "arithmetic", samples: 3, questions: 6, temperature: 0 });
    for (const [qi, row] of res.rows.entries()) {
      // greedy by full recompute, stopping at eos or at the task's stop string "</answer>"
      const seq = arithEncode(task.heldOut(6)[qi]!.question);
      const gen: number[] = [];
      for (let t = 0; t < 10; t++) {
        const logits = model.lastLogits(Int32Array.from(seq), Int32Array.from([0, seq.length]));
        let best = 0;
        for (let v = 1; v < 21; v++) if (logits[v]! > logits[best]!) best = v;
        seq.push(best);
        gen.push(best);
        if (best === ARITH_SPECIAL.eos || arithDecode(gen).includes("</answer>")) break;
      }
      const text = arithDecode(gen.at(-1) === ARITH_SPECIAL.eos ? gen.slice(0, -1) : gen);
      expect(row.samples.map((s) => s.response)).toEqual([text, text, text]);
      expect(row.samples.every((s) => s.length === gen.length)).toBe(true);
    }
    const sampled = await evaluate(model, { task, questions: 4, template: "none", tokenizer, sampling: { maxTokens: 8 } });
    expect(sampled.summary.samples).toBe(8); // the demo protocol's default: 8 samples at temperature 1
    expect(sampled.rows.every((r) => r.samples.length === 8)).toBe(true);
  });
});

describe("datasets and help", () => {
  it("reads Parquet and JSONL datasets with custom fields; a bad row names its line", async () => {
    const pq = join(root, "d.parquet");
    writeFileSync(pq, Buffer.from(parquetWriteBuffer({ columnData: [{ name: "problem", data: ["1+1?", "2+2?"] }, { name: "solution", data: ["2", "4"] }, { name: "level", data: ["easy", "hard"] }] })));
    const rows = await readDataset(pq, { question: "problem", answer: "solution", category: "level" });
    expect(rows.map((r) => [r.question, r.answer, r.category])).toEqual([["1+1?", "2", "easy"], ["2+2?", "4", "hard"]]);
    const bad = join(root, "bad.jsonl");
    writeFileSync(bad, '{"question":"a","answer":"1"}\n{"question":"b"}\n');
    await expect(readDataset(bad, { question: "question", answer: "answer", category: "category" })).rejects.toThrow(/bad\.jsonl:2: field 'answer' is missing/);
  });

  it("aha eval --help and aha serve --help print their options", async () => {
    const o = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const codes = [await main(["eval", "--help"]), await main(["serve", "--help"])];
    const out = o.mock.calls.map((c) => String(c[0])).join("");
    o.mockRestore();
    expect(codes).toEqual([0, 0]);
    expect(out).toContain("--samples <integer>   (default: 4)");
    expect(out).toContain("--host <string>   (default: 127.0.0.1)");
  });
});
