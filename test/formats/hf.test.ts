/**
 * Hugging Face model folders: loading (config, sharded / single safetensors, BF16 / F16 / F32, tied and
 * untied heads, explicit head_dim), scoring, saving, and the errors.
 *
 * EXPECTED VALUES: fixtures/hf/models/<name>/score_expected.json, from `scripts/make_hf_fixtures.py models`:
 * random HF folders written by Python (hand-written safetensors writer) and token log-probs from a plain
 * torch float64 forward pass written in that script (cross-checked there against scripts/make_fixtures.py's
 * separate torch forward). Acceptance: max |Δ log-prob| ≤ 2e-3 in fp32 mode (issue 3).
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadHfModel, readGenerationConfig, saveHfModel } from "../../src/formats/hf.js";
import { writeSafetensors } from "../../src/formats/safetensors.js";
import { scoreLines } from "../../src/cli/score.js";
import { streamJsonlLines } from "../../src/util/jsonl.js";

/** Issue 3's acceptance bound on token log-probs against the independent PyTorch forward. */
const LOGPROB_ATOL = 2e-3;

export const FIXTURE_MODELS = ["qwen2-bf16-sharded", "llama-f16-untied", "qwen3-headdim-untied", "qwen3-tied-bias-bf16"];
const FIX = "fixtures/hf/models";

interface ExpectedRow { id: string; logprob: number; token_logprobs: number[]; [k: string]: unknown }

const tmpRoot = mkdtempSync(join(tmpdir(), "aha-hf-"));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));
let tmpN = 0;
function tmp(): string {
  return join(tmpRoot, String(tmpN++));
}

/** Copies a fixture folder so that a test can break it. */
function copyFixture(name: string): string {
  const d = tmp();
  cpSync(join(FIX, name), d, { recursive: true });
  return d;
}

describe("scoring fixture folders against PyTorch", () => {
  for (const name of FIXTURE_MODELS) {
    it(`${name}: token log-probs within ${LOGPROB_ATOL}`, async () => {
      const loaded = loadHfModel(join(FIX, name), { tokenizer: "skip" });
      expect(loaded.warnings).toEqual([]);
      const out: string[] = [], errs: string[] = [];
      const res = await scoreLines({
        model: loaded.model, tokenizer: null, inputName: "in.jsonl", batchTokens: 16,
        lines: streamJsonlLines([readFileSync(join(FIX, name, "score_input.jsonl"))]),
        write: (l) => out.push(l), error: (e) => errs.push(e),
      });
      expect(errs).toEqual([]);
      const expected = (JSON.parse(readFileSync(join(FIX, name, "score_expected.json"), "utf8")) as { rows: ExpectedRow[] }).rows;
      expect(res).toEqual({ scored: expected.length, bad: 0 });
      let maxDiff = 0;
      out.forEach((l, i) => {
        const got = JSON.parse(l) as ExpectedRow;
        const want = expected[i]!;
        // every input field echoed, in order, then the two new ones
        const { logprob: _a, token_logprobs: _b, ...inputFields } = want;
        expect(Object.keys(got)).toEqual([...Object.keys(inputFields), "logprob", "token_logprobs"]);
        for (const [k, v] of Object.entries(inputFields)) expect(got[k], k).toEqual(v);
        expect(got.token_logprobs.length).toBe(want.token_logprobs.length);
        got.token_logprobs.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - want.token_logprobs[j]!))));
        maxDiff = Math.max(maxDiff, Math.abs(got.logprob - want.logprob) / want.token_logprobs.length);
      });
      expect(maxDiff).toBeLessThanOrEqual(LOGPROB_ATOL);
    });
  }

  it("reports the dtypes it read", () => {
    expect(loadHfModel(join(FIX, "qwen2-bf16-sharded"), { tokenizer: "skip" }).dtypes).toEqual(["BF16"]);
    expect(loadHfModel(join(FIX, "llama-f16-untied"), { tokenizer: "skip" }).dtypes).toEqual(["F16"]);
  });
});

describe("generation_config.json", () => {
  it("reads eos ids (a list) and default sampling", () => {
    const g = readGenerationConfig(join(FIX, "llama-f16-untied"));
    expect(g).toEqual({ eosTokenIds: [2, 3], bosTokenId: 1, padTokenId: null, doSample: true, temperature: 0.7, topP: 0.8, topK: 20, maxNewTokens: 64 });
  });

  it("falls back to config.json's eos_token_id", () => {
    const d = join(FIX, "qwen2-bf16-sharded");
    const raw = JSON.parse(readFileSync(join(d, "config.json"), "utf8")) as Record<string, unknown>;
    expect(readGenerationConfig(d, raw)).toEqual({ eosTokenIds: [2], bosTokenId: 1, padTokenId: null });
  });

  it("names the file and field of a bad value", () => {
    const d = tmp();
    cpSync(join(FIX, "llama-f16-untied"), d, { recursive: true });
    writeFileSync(join(d, "generation_config.json"), JSON.stringify({ top_p: 2 }));
    expect(() => readGenerationConfig(d)).toThrow(/generation_config\.json: field 'top_p' has a bad value 2/);
  });
});

describe("save → load", () => {
  it("F32, sharded: loads back bit-identically, with an index and tokenizer-less folder", () => {
    const src = loadHfModel(join(FIX, "qwen2-bf16-sharded"), { tokenizer: "skip" });
    const out = tmp();
    const files = saveHfModel(out, src.config, src.model.params, { rawConfig: src.rawConfig, maxShardBytes: 20_000 });
    expect(files).toContain("model.safetensors.index.json");
    expect(files.filter((f) => /^model-\d+-of-\d+\.safetensors$/.test(f)).length).toBeGreaterThan(2);
    const back = loadHfModel(out, { tokenizer: "skip" });
    expect(back.config).toEqual(src.config);
    expect(back.dtypes).toEqual(["F32"]);
    expect(Buffer.from(back.model.params.data.buffer).equals(Buffer.from(src.model.params.data.buffer))).toBe(true);
    const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg.bos_token_id).toBe(1); // fields we do not model are kept
    expect(cfg.torch_dtype).toBe("float32");
    expect(existsSync(join(out, "lm_head.weight"))).toBe(false);
  });

  it("BF16 of bf16 weights is exact; a later single-file save removes the old shards", () => {
    const src = loadHfModel(join(FIX, "qwen3-tied-bias-bf16"), { tokenizer: "skip" });
    const out = tmp();
    saveHfModel(out, src.config, src.model.params, { maxShardBytes: 10_000, dtype: "BF16" });
    saveHfModel(out, src.config, src.model.params, { dtype: "BF16" });
    expect(readdirSync(out).filter((f) => f.endsWith(".safetensors") || f.endsWith(".index.json"))).toEqual(["model.safetensors"]);
    const back = loadHfModel(out, { tokenizer: "skip" });
    expect(back.dtypes).toEqual(["BF16"]);
    expect(Buffer.from(back.model.params.data.buffer).equals(Buffer.from(src.model.params.data.buffer))).toBe(true);
    saveHfModel(out, src.config, src.model.params, { maxShardBytes: 40_000 }); // and back to shards: no model.safetensors left
    expect(readdirSync(out).filter((f) => f.endsWith(".safetensors")).every((f) => f.startsWith("model-0000"))).toBe(true);
    expect(loadHfModel(out, { tokenizer: "skip" }).dtypes).toEqual(["F32"]);
  });

  it("copies tokenizer files and generation_config.json from the source folder", () => {
    const src = copyFixture("llama-f16-untied");
    writeFileSync(join(src, "tokenizer_config.json"), "{}");
    const m = loadHfModel(src, { tokenizer: "skip" });
    const out = tmp();
    const files = saveHfModel(out, m.config, m.model.params, { copyFrom: src });
    expect(files).toEqual(["model.safetensors", "config.json", "generation_config.json", "tokenizer_config.json"]);
    expect(readGenerationConfig(out).eosTokenIds).toEqual([2, 3]);
  });

  it("writes generation defaults when there is no source folder", () => {
    const m = loadHfModel(join(FIX, "qwen3-headdim-untied"), { tokenizer: "skip" });
    const out = tmp();
    saveHfModel(out, m.config, m.model.params, { generation: { eosTokenIds: [5, 6], bosTokenId: null, padTokenId: 0, temperature: 0.6 } });
    expect(readGenerationConfig(out)).toEqual({ eosTokenIds: [5, 6], bosTokenId: null, padTokenId: 0, temperature: 0.6 });
  });
});

describe("model folder errors name the file and tensor", () => {
  it("unsupported architecture lists the supported ones", () => {
    const d = copyFixture("qwen3-headdim-untied");
    const cfg = JSON.parse(readFileSync(join(d, "config.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(d, "config.json"), JSON.stringify({ ...cfg, architectures: ["MistralForCausalLM"] }));
    expect(() => loadHfModel(d)).toThrow(/config\.json: unsupported architecture MistralForCausalLM; supported: Qwen2ForCausalLM, Qwen3ForCausalLM, LlamaForCausalLM/);
  });

  it("no config.json", () => {
    expect(() => loadHfModel(tmpRoot)).toThrow(/config\.json not found/);
  });

  it("a tensor missing from the index", () => {
    const d = copyFixture("qwen2-bf16-sharded");
    const idxPath = join(d, "model.safetensors.index.json");
    const idx = JSON.parse(readFileSync(idxPath, "utf8")) as { weight_map: Record<string, string> };
    delete idx.weight_map["model.layers.1.mlp.up_proj.weight"];
    writeFileSync(idxPath, JSON.stringify(idx));
    expect(() => loadHfModel(d)).toThrow(/model\.safetensors\.index\.json: tensor "model\.layers\.1\.mlp\.up_proj\.weight" \(shape \[96, 48\] from config\.json\) is missing/);
  });

  it("a shape that does not match config.json", () => {
    const d = copyFixture("qwen3-headdim-untied");
    const cfg = JSON.parse(readFileSync(join(d, "config.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(d, "config.json"), JSON.stringify({ ...cfg, intermediate_size: 64 }));
    expect(() => loadHfModel(d)).toThrow(/model\.safetensors: tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[80, 32\] but config\.json implies \[64, 32\]/);
  });

  it("an explicit head_dim that the weights do not have", () => {
    const d = copyFixture("qwen3-headdim-untied");
    const cfg = JSON.parse(readFileSync(join(d, "config.json"), "utf8")) as Record<string, unknown>;
    delete cfg.head_dim; // falls back to hidden / heads = 8, but the weights have 24
    writeFileSync(join(d, "config.json"), JSON.stringify(cfg));
    expect(() => loadHfModel(d)).toThrow(/q_proj\.weight" has shape \[96, 32\] but config\.json implies \[32, 32\]/);
  });

  /** A tiny single-tensor-per-name checkpoint with raw headers, for dtypes our writer does not produce. */
  function rawSafetensors(file: string, tensors: { name: string; dtype: string; shape: number[]; bytes: number }[]): void {
    const header: Record<string, unknown> = {};
    let off = 0;
    for (const t of tensors) {
      header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes] };
      off += t.bytes;
    }
    let h = JSON.stringify(header);
    while (h.length % 8) h += " ";
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    writeFileSync(file, Buffer.concat([len, Buffer.from(h), Buffer.alloc(off)]));
  }

  it("a dtype we cannot convert", () => {
    const d = copyFixture("qwen3-headdim-untied");
    const m = loadHfModel(d, { tokenizer: "skip" });
    const specs = m.model.params.table.specs;
    rawSafetensors(join(d, "model.safetensors"), specs.map((s, i) => ({
      name: s.name, shape: s.shape, dtype: i === 3 ? "I8" : "F32", bytes: s.size * (i === 3 ? 1 : 4),
    })));
    expect(() => loadHfModel(d)).toThrow(new RegExp(`model\\.safetensors: tensor "${specs[3]!.name.replaceAll(".", "\\.")}" has dtype I8; expected F32 or BF16 or F16`));
  });

  it("extra tensors are warnings; inv_freq buffers and a tied lm_head are ignored silently", () => {
    const d = copyFixture("qwen3-headdim-untied");
    const m = loadHfModel(d, { tokenizer: "skip" });
    const t = m.model.params.table.specs.map((s) => ({ name: s.name, shape: s.shape, data: m.model.params.view(s.name) }));
    t.push({ name: "model.layers.0.self_attn.rotary_emb.inv_freq", shape: [12], data: new Float32Array(12) });
    t.push({ name: "model.extra_thing.weight", shape: [2], data: new Float32Array(2) });
    writeSafetensors(join(d, "model.safetensors"), t);
    const back = loadHfModel(d, { tokenizer: "skip" });
    expect(back.warnings).toEqual([`${join(d, "model.safetensors")}: tensor "model.extra_thing.weight" is not used by the model`]);
    expect(Buffer.from(back.model.params.data.buffer).equals(Buffer.from(m.model.params.data.buffer))).toBe(true);
  });
});
