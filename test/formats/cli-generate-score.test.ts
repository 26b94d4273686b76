/**
 * `aha generate` and `aha score` on a small random model folder with the real Qwen3 tokenizer (made here:
 * Qwen2 shapes with Qwen's 151,936-token vocabulary, hidden size 16).
 *
 * Oracles: the chat prompt's ids come from fixtures/hf/tokenizer_qwen3.json (Python Jinja2 + reference
 * BPE); greedy generation is checked against a full-recompute argmax loop over Model.lastLogits (no KV
 * cache); score's text rows against scoring the tokenizer's ids directly (the numerics of scoring are pinned
 * to PyTorch in hf.test.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { StopStringFilter, generateText, promptIds, resolveSampling, run as runGenerate } from "../../src/cli/generate.js";
import { parseScoreRow, run as runScore, scoreItems } from "../../src/cli/score.js";
import { ChatTemplate } from "../../src/formats/chat-template.js";
import { loadHfModel, saveHfModel, type LoadedHfModel } from "../../src/formats/hf.js";
import { parseHfConfig } from "../../src/model/config.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { encodePrompt } from "../../src/rollout/folder.js";
import { makeModelFolder } from "../serve/helpers.js";
import { QWEN3_TOKENIZER_DIR } from "./helpers.js";

const root = mkdtempSync(join(tmpdir(), "aha-cli-"));
const modelDir = join(root, "model");
afterAll(() => rmSync(root, { recursive: true, force: true }));

let loaded: LoadedHfModel;
beforeAll(() => {
  const cfg = parseHfConfig({
    architectures: ["Qwen2ForCausalLM"], vocab_size: 151936, hidden_size: 16, intermediate_size: 32,
    num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, tie_word_embeddings: true,
    initializer_range: 0.5, // peaked logits, so greedy choices are not near-ties
  }, "config.json");
  const m = new Model(cfg);
  initParams(m.params, cfg, 1234);
  saveHfModel(modelDir, cfg, m.params, { copyFrom: QWEN3_TOKENIZER_DIR });
  loaded = loadHfModel(modelDir);
});

/** Greedy continuation by full recompute: the oracle for the KV-cache path. */
function greedyOracle(ids: number[], n: number, m: LoadedHfModel = loaded): number[] {
  const seq = [...ids];
  const V = m.config.vocabSize;
  for (let i = 0; i < n; i++) {
    const logits = m.model.lastLogits(Int32Array.from(seq), Int32Array.from([0, seq.length]));
    let best = 0;
    for (let v = 1; v < V; v++) if (logits[v]! > logits[best]!) best = v;
    seq.push(best);
  }
  return seq.slice(ids.length);
}

function capture(): { out: () => string; err: () => string; restore: () => void } {
  const o = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const e = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  let done: { out: string; err: string } | null = null;
  const now = () => done ?? { out: o.mock.calls.map((c) => String(c[0])).join(""), err: e.mock.calls.map((c) => String(c[0])).join("") };
  return {
    out: () => now().out,
    err: () => now().err,
    restore: () => {
      done = now(); // mockRestore clears the recorded calls
      o.mockRestore();
      e.mockRestore();
    },
  };
}

describe("aha generate", () => {
  it("renders --chat with the chat template exactly as Python Jinja2 + the reference BPE", () => {
    const fx = JSON.parse(readFileSync("fixtures/hf/tokenizer_qwen3.json", "utf8")) as { chats: { name: string; ids: number[] }[] };
    const want = fx.chats.find((c) => c.name === "no_thinking")!.ids;
    expect(promptIds(loaded, { chat: "Count to three.", templateVars: { enable_thinking: false }, sampling: {} })).toEqual(want);
    expect(() => promptIds(loaded, { chat: "x", prompt: "y", sampling: {} })).toThrow(/exactly one of --prompt/);
  });

  it("greedy output equals the full-recompute oracle; the printed text is the decoded tokens", async () => {
    const ids = promptIds(loaded, { prompt: "The answer is", sampling: {} });
    const want = greedyOracle(ids, 8);
    const pieces: string[] = [];
    const res = await generateText(loaded, { prompt: "The answer is", sampling: { temperature: 0, maxNewTokens: 8 } }, (s) => pieces.push(s));
    expect(res.tokens).toEqual(want);
    expect(res.finishReason).toBe("length");
    expect(pieces.join("")).toBe(res.text);
    expect(res.text).toBe(loaded.tokenizer!.decode(want, { skipSpecialTokens: true }));
  });

  it("stops at an eos id from generation_config.json and does not print it", async () => {
    const ids = promptIds(loaded, { prompt: "Hello", sampling: {} });
    const want = greedyOracle(ids, 8);
    const k = want.findIndex((t, i) => i >= 2 && !want.slice(0, i).includes(t));
    expect(k).toBeGreaterThanOrEqual(2);
    const withEos: LoadedHfModel = { ...loaded, generation: { ...loaded.generation, eosTokenIds: [want[k]!] } };
    const res = await generateText(withEos, { prompt: "Hello", sampling: { temperature: 0, maxNewTokens: 8 } }, () => {});
    expect(res.tokens).toEqual(want.slice(0, k + 1));
    expect(res.finishReason).toBe("stop");
    expect(res.text).toBe(loaded.tokenizer!.decode(want.slice(0, k), { skipSpecialTokens: true }));
  });

  it("stops at a --stop string, printing only the text before it", async () => {
    const ids = promptIds(loaded, { prompt: "Once upon a time", sampling: {} });
    const full = loaded.tokenizer!.decode(greedyOracle(ids, 10), { skipSpecialTokens: true });
    expect(full.length).toBeGreaterThan(8);
    const stop = full.slice(4, 7);
    const res = await generateText(loaded, { prompt: "Once upon a time", stop: [stop], sampling: { temperature: 0, maxNewTokens: 10 } }, () => {});
    expect(res.finishReason).toBe("stop_string");
    expect(res.text).toBe(full.slice(0, full.indexOf(stop)));
  });

  it("sampling is seeded: same seed same tokens", async () => {
    const go = (seed: number) => generateText(loaded, { prompt: "x", seed, sampling: { temperature: 1, topK: 50, maxNewTokens: 6 } }, () => {});
    const a = await go(3), b = await go(3);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens.length).toBe(6);
  });

  it("run(): streams to stdout, stats to stderr; --help; flag errors", async () => {
    const cap = capture();
    try {
      expect(await runGenerate(["--model", modelDir, "--prompt", "Hi", "--max-new-tokens", "3", "--temperature", "0"])).toBe(0);
      expect(cap.err()).toMatch(/\[3 tokens, [\d.]+ tok\/s, finish: length\]/);
      const want = loaded.tokenizer!.decode(greedyOracle(promptIds(loaded, { prompt: "Hi", sampling: {} }), 3), { skipSpecialTokens: true });
      expect(cap.out()).toBe(want + "\n");
      expect(await runGenerate(["--help"])).toBe(0);
    } finally {
      cap.restore();
    }
    await expect(runGenerate(["--model", modelDir])).rejects.toThrow(/exactly one of --prompt TEXT or --chat TEXT/);
    await expect(runGenerate(["--model", modelDir, "--prompt", "x", "--top-p", "0"])).rejects.toThrow(/--top-p: top-p = 0 is not allowed.*number > 0, ≤ 1/);
  });
});

describe("sampling defaults (transformers' reading of generation_config.json)", () => {
  const base = { eosTokenIds: [], bosTokenId: null, padTokenId: null };
  it("greedy unless do_sample", () => {
    expect(resolveSampling(base, {})).toEqual({ temperature: 0, topP: 1, topK: 0, maxNewTokens: 256 });
    expect(resolveSampling({ ...base, temperature: 0.7 }, {})).toEqual({ temperature: 0, topP: 1, topK: 0, maxNewTokens: 256 });
  });
  it("do_sample: the file's values, else temperature 1, top_p 1, top_k 50", () => {
    expect(resolveSampling({ ...base, doSample: true }, {})).toEqual({ temperature: 1, topP: 1, topK: 50, maxNewTokens: 256 });
    expect(resolveSampling({ ...base, doSample: true, temperature: 0.6, topP: 0.95, topK: 20, maxNewTokens: 99 }, {}))
      .toEqual({ temperature: 0.6, topP: 0.95, topK: 20, maxNewTokens: 99 });
  });
  it("flags win", () => {
    expect(resolveSampling({ ...base, doSample: true, temperature: 0.6 }, { temperature: 0, topK: 5, maxNewTokens: 7 }))
      .toEqual({ temperature: 0, topP: 1, topK: 5, maxNewTokens: 7 });
  });
});

describe("StopStringFilter", () => {
  it("holds back a possible start of a stop string and releases it when it cannot match", () => {
    const f = new StopStringFilter(["</answer>"]);
    expect(f.push("x = 4 </")).toEqual({ text: "x = 4 ", stopped: false });
    expect(f.push("b>")).toEqual({ text: "</b>", stopped: false });
    expect(f.push(" ok</ans")).toEqual({ text: " ok", stopped: false });
    expect(f.push("wer> tail")).toEqual({ text: "", stopped: true });
  });
  it("the earliest of several stop strings wins; no stops passes everything", () => {
    const f = new StopStringFilter(["STOP", "\n\n"]);
    expect(f.push("a\n\nb STOP")).toEqual({ text: "a", stopped: true });
    expect(new StopStringFilter([]).push("abc")).toEqual({ text: "abc", stopped: false });
    const g = new StopStringFilter(["zz"]);
    expect(g.push("az")).toEqual({ text: "a", stopped: false });
    expect(g.flush()).toBe("z");
  });
});

describe("aha score run()", () => {
  it("scores text and id rows, echoes fields, reports bad lines by number and exits 1", async () => {
    const input = join(root, "in.jsonl"), output = join(root, "out.jsonl");
    const tok = loaded.tokenizer!;
    writeFileSync(input, [
      JSON.stringify({ id: "a", prompt: "What is 2+2?", response: " 4, 你好 😀" }),
      "{not json",
      JSON.stringify({ id: "b", prompt_ids: [9707, 11], response_ids: [1879, 0] }),
      JSON.stringify({ id: "c", prompt_ids: [1], response_ids: [151936] }),
      "",
      JSON.stringify({ id: "d", prompt: "", response: "x" }),
      JSON.stringify({ id: "e", prompt: "p" }),
    ].join("\n") + "\n");
    const cap = capture();
    let code: number;
    try {
      code = await runScore(["--model", modelDir, "--input", input, "--output", output]);
    } finally {
      cap.restore();
    }
    expect(code).toBe(1);
    const err = cap.err();
    expect(err).toContain(`${input}:2: not valid JSON`);
    expect(err).toContain(`${input}:4: 'response_ids'[0] = 151936 is not a token id in [0, 151936)`);
    expect(err).toContain(`${input}:6: the prompt has no tokens`);
    expect(err).toContain(`${input}:7: 'prompt' and 'response' must both be strings`);
    expect(err).toContain("4 bad line(s) skipped, 2 scored");
    expect(cap.out()).toBe("");
    const rows = readFileSync(output, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => r.id)).toEqual(["a", "b"]);
    const pa = tok.encode("What is 2+2?"), ra = tok.encode(" 4, 你好 😀", { addSpecialTokens: false });
    const want = scoreItems(loaded.model, [
      { line: 1, input: {}, promptIds: pa, responseIds: ra },
      { line: 3, input: {}, promptIds: [9707, 11], responseIds: [1879, 0] },
    ]);
    expect(rows[0]!.token_logprobs).toEqual(want[0]!.tokenLogprobs);
    expect((rows[0]!.token_logprobs as number[]).length).toBe(ra.length);
    expect(rows[1]!.logprob).toBeCloseTo(want[1]!.logprob, 10);
    expect(rows[1]!.prompt_ids).toEqual([9707, 11]);
  });

  it("--help and missing flags", async () => {
    const cap = capture();
    try {
      expect(await runScore(["--help"])).toBe(0);
      expect(cap.out()).toContain("Usage: aha score");
    } finally {
      cap.restore();
    }
    await expect(runScore(["--input", "x.jsonl"])).rejects.toThrow(/--model DIR is required/);
  });
});

describe("aha generate and aha score encode a prompt as training does (encodePrompt)", () => {
  // The byte-level tokenizer's post-processor adds no BOS; tokenizer_config.json asks for one
  // (add_bos_token: true, as Llama folders do). Training prepends it (src/rollout/folder.ts
  // encodePrompt); generate and score must feed the model the same ids.
  let f: ReturnType<typeof makeModelFolder>;
  let m: LoadedHfModel;
  const BOS = 256; // <|endoftext|>
  beforeAll(() => {
    f = makeModelFolder(7);
    const file = join(f.dir, "tokenizer_config.json");
    writeFileSync(file, JSON.stringify({ ...(JSON.parse(readFileSync(file, "utf8")) as object), bos_token: "<|endoftext|>", add_bos_token: true }));
    m = loadHfModel(f.dir);
  });
  afterAll(() => f.cleanup());

  it("generate: --prompt ids start with the BOS; --chat ids are the template's, without one", async () => {
    const tok = m.tokenizer!;
    expect(tok.bos?.id).toBe(BOS);
    expect(tok.encode("ab", { addSpecialTokens: true })).toEqual([97, 98]); // the post-processor adds none
    expect(promptIds(m, { prompt: "ab", sampling: {} })).toEqual([BOS, 97, 98]);
    expect(promptIds(m, { prompt: "ab", sampling: {} })).toEqual(encodePrompt(tok, "ab", true));
    const chat = ChatTemplate.fromTokenizer(tok).render([{ role: "user", content: "hi" }], { addGenerationPrompt: true });
    expect(promptIds(m, { chat: "hi", sampling: {} })).toEqual(encodePrompt(tok, chat, false));
    expect(promptIds(m, { chat: "hi", sampling: {} })[0]).not.toBe(BOS);
    // run(): the printed greedy text continues [BOS, a, b]
    const cap = capture();
    try {
      expect(await runGenerate(["--model", f.dir, "--prompt", "ab", "--max-new-tokens", "6", "--temperature", "0"])).toBe(0);
    } finally {
      cap.restore();
    }
    expect(cap.out()).toBe(tok.decode(greedyOracle([BOS, 97, 98], 6, m), { skipSpecialTokens: true }) + "\n");
  });

  it("score: a text row is scored on [BOS, prompt…] + response, the same as the ids row training would make", async () => {
    const tok = m.tokenizer!;
    expect(parseScoreRow({ prompt: "ab", response: "cd" }, 1, tok, m.config.vocabSize).promptIds).toEqual([BOS, 97, 98]);
    const input = join(f.root, "bos.jsonl"), output = join(f.root, "bos-out.jsonl");
    writeFileSync(input, [
      JSON.stringify({ id: "text", prompt: "ab", response: "cd" }),
      JSON.stringify({ id: "ids", prompt_ids: encodePrompt(tok, "ab", true), response_ids: [99, 100] }),
      JSON.stringify({ id: "no-bos", prompt_ids: [97, 98], response_ids: [99, 100] }),
    ].join("\n") + "\n");
    const cap = capture();
    try {
      expect(await runScore(["--model", f.dir, "--input", input, "--output", output])).toBe(0);
    } finally {
      cap.restore();
    }
    const rows = readFileSync(output, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id: string; token_logprobs: number[] });
    expect(rows[0]!.token_logprobs).toEqual(rows[1]!.token_logprobs);
    expect(rows[0]!.token_logprobs).not.toEqual(rows[2]!.token_logprobs); // the BOS changes the scores
  });
});
