/**
 * LoRA adapters through the model's linear hook, in PEFT's folder format.
 *
 * EXPECTED VALUES: fixtures/hf/lora/<case>/expected.json from `scripts/make_hf_fixtures.py lora`: PEFT-format
 * adapter folders written by Python and, from a plain torch float64 forward with W x + scale·B A x on the
 * adapted linears, the response log-probs, the gradients dL/dA, dL/dB of L = Σ dlogp·logp (autograd), and a
 * merged weight W + scale·B A. Dropout is checked by finite differences (same mask replayed).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scoreItems } from "../../src/cli/score.js";
import { loadHfModel } from "../../src/formats/hf.js";
import { loadPeftAdapter, readPeftConfig, savePeftAdapter } from "../../src/formats/peft.js";
import { LoraSet } from "../../src/model/lora.js";
import { Model as ModelClass, type Model } from "../../src/model/model.js";
import { AdamW } from "../../src/model/optim.js";

/** fp32 engine vs float64 torch: log-probs (issue 3's bound) and gradients (atol + rtol·|ref|). */
const LOGPROB_ATOL = 2e-3;
const GRAD_ATOL = 1e-4;
const GRAD_RTOL = 1e-3;

interface Expected {
  scale: number;
  rows: { prompt_ids: number[]; response_ids: number[]; token_logprobs: number[]; base_token_logprobs: number[]; dlogp: number[] }[];
  grads: Record<string, number[]>;
  merged: { name: string; values: number[] };
}

const CASES = ["qwen2-all-modules", "qwen3-qv-rslora"];
const dirOf = (c: string): string => join("fixtures/hf/lora", c);
const expectedOf = (c: string): Expected => JSON.parse(readFileSync(join(dirOf(c), "expected.json"), "utf8")) as Expected;

const tmpRoot = mkdtempSync(join(tmpdir(), "aha-lora-"));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function items(e: Expected) {
  return e.rows.map((r, i) => ({ line: i + 1, input: {}, promptIds: r.prompt_ids, responseIds: r.response_ids }));
}

/** Packs the rows as score does and returns tokens, cu, targets, dlogp (T). */
function packed(e: Expected) {
  const T = e.rows.reduce((n, r) => n + r.prompt_ids.length + r.response_ids.length, 0);
  const tokens = new Int32Array(T), targets = new Int32Array(T).fill(-1), dlogp = new Float32Array(T);
  const cu = new Int32Array(e.rows.length + 1);
  let t = 0;
  e.rows.forEach((r, s) => {
    tokens.set([...r.prompt_ids, ...r.response_ids], t);
    r.response_ids.forEach((id, j) => {
      targets[t + r.prompt_ids.length - 1 + j] = id;
      dlogp[t + r.prompt_ids.length - 1 + j] = r.dlogp[j]!;
    });
    t += r.prompt_ids.length + r.response_ids.length;
    cu[s + 1] = t;
  });
  return { tokens, cu, targets, dlogp };
}

function load(c: string): { model: Model; set: LoraSet } {
  const { model } = loadHfModel(join(dirOf(c), "base"), { tokenizer: "skip" });
  const set = loadPeftAdapter(join(dirOf(c), "adapter"), model);
  return { model, set };
}

for (const c of CASES) {
  describe(`LoRA ${c} vs PyTorch`, () => {
    const e = expectedOf(c);

    it("reads PEFT's adapter_config.json", () => {
      const cfg = readPeftConfig(join(dirOf(c), "adapter"));
      const scale = cfg.useRslora ? cfg.alpha / Math.sqrt(cfg.rank) : cfg.alpha / cfg.rank;
      expect(scale).toBeCloseTo(e.scale, 12);
      expect(cfg.dropout).toBe(0.05);
    });

    it("log-probs with the adapter, and without it (disabled = the base model)", () => {
      const { model, set } = load(c);
      const withAd = scoreItems(model, items(e));
      expect(maxAbsDiff(withAd.flatMap((r) => r.tokenLogprobs), e.rows.flatMap((r) => r.token_logprobs))).toBeLessThanOrEqual(LOGPROB_ATOL);
      set.enabled = false;
      const base = scoreItems(model, items(e));
      expect(maxAbsDiff(base.flatMap((r) => r.tokenLogprobs), e.rows.flatMap((r) => r.base_token_logprobs))).toBeLessThanOrEqual(LOGPROB_ATOL);
      // the adapter really changes the numbers (so the comparison above can fail)
      expect(maxAbsDiff(e.rows.flatMap((r) => r.token_logprobs), e.rows.flatMap((r) => r.base_token_logprobs))).toBeGreaterThan(0.05);
    });

    it("gradients of the adapters with the base frozen", () => {
      const { model, set } = load(c);
      const { tokens, cu, targets, dlogp } = packed(e);
      set.zeroGrad();
      model.zeroGrad();
      model.forward(tokens, cu, targets);
      model.backward(dlogp, null);
      for (const s of set.table.specs) {
        const want = e.grads[s.name];
        expect(want, s.name).toBeDefined();
        const got = set.grads.view(s.name);
        for (let i = 0; i < got.length; i++) {
          const tol = GRAD_ATOL + GRAD_RTOL * Math.abs(want![i]!);
          if (Math.abs(got[i]! - want![i]!) > tol) throw new Error(`${s.name}[${i}]: got ${got[i]}, torch ${want![i]}`);
        }
      }
      expect(Object.keys(e.grads).length).toBe(set.table.specs.length);
      // frozen base: no gradient reached any base tensor
      expect(model.grads.data.every((x) => x === 0)).toBe(true);
    });

    it("merge folds scale·B·A into the base weight and gives the adapter's log-probs without it", () => {
      const { model, set } = load(c);
      set.merge();
      expect(model.allLinears().every((l) => l.adapter === null)).toBe(true);
      expect(maxAbsDiff(model.params.view(e.merged.name), e.merged.values)).toBeLessThan(1e-5);
      const merged = scoreItems(model, items(e));
      expect(maxAbsDiff(merged.flatMap((r) => r.tokenLogprobs), e.rows.flatMap((r) => r.token_logprobs))).toBeLessThanOrEqual(LOGPROB_ATOL);
    });

    it("save → load in PEFT format is bit-identical", () => {
      const { model, set } = load(c);
      const out = join(tmpRoot, `save-${c}`);
      savePeftAdapter(set, out, { baseModel: "some/base" });
      const cfg = JSON.parse(readFileSync(join(out, "adapter_config.json"), "utf8")) as Record<string, unknown>;
      expect(cfg).toMatchObject({ peft_type: "LORA", task_type: "CAUSAL_LM", base_model_name_or_path: "some/base", bias: "none" });
      set.detach();
      const back = loadPeftAdapter(out, model);
      expect(back.cfg).toEqual(set.cfg);
      expect(Buffer.from(back.params.data.buffer).equals(Buffer.from(set.params.data.buffer))).toBe(true);
    });
  });
}

describe("LoRA training pieces", () => {
  const c = "qwen2-all-modules";
  const e = expectedOf(c);

  it("a new adapter starts as a no-op (B = 0) with A ~ U(±1/√in), seeded", () => {
    const { model } = loadHfModel(join(dirOf(c), "base"), { tokenizer: "skip" });
    const before = scoreItems(model, items(e));
    const set = new LoraSet(model, { rank: 3, alpha: 6, dropout: 0, targets: ["q", "down"] });
    set.init(42);
    set.attach();
    expect(set.modules()).toEqual(["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj", "model.layers.1.self_attn.q_proj", "model.layers.1.mlp.down_proj"]);
    expect(scoreItems(model, items(e))).toEqual(before);
    const a = set.params.view("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"); // (3, 48)
    expect(a.length).toBe(3 * 48);
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(48));
    expect(new Set(a).size).toBe(a.length);
    const again = new LoraSet(model, { rank: 3, alpha: 6, dropout: 0, targets: ["q", "down"] });
    again.init(42);
    expect(again.params.data).toEqual(set.params.data);
  });

  it("dropout: off outside training, seeded masks in training, backward matches finite differences", () => {
    const { model } = loadHfModel(join(dirOf(c), "base"), { tokenizer: "skip" });
    const set = new LoraSet(model, { rank: 4, alpha: 8, dropout: 0.3, targets: ["v", "up"] }, { seed: 7 });
    set.init(1);
    for (let i = 0; i < set.params.data.length; i++) if (set.params.data[i] === 0) set.params.data[i] = 0.05 * Math.sin(i); // non-zero B
    set.attach();
    const { tokens, cu, targets, dlogp } = packed(e);
    const loss = (): number => {
      const { logp } = model.forward(tokens, cu, targets);
      let L = 0;
      for (let t = 0; t < logp.length; t++) L += dlogp[t]! * logp[t]!;
      return L;
    };
    const plain = loss();
    set.training = true;
    const step = set.dropoutStep;
    const L1 = loss();
    const L2 = loss();
    expect(L1).not.toBeCloseTo(plain, 3); // dropout acts
    expect(L2).not.toBeCloseTo(L1, 3); // a fresh mask per forward
    set.dropoutStep = step;
    expect(loss()).toBe(L1); // replayable
    // analytic gradient under the mask of `step`
    set.dropoutStep = step;
    set.zeroGrad();
    loss();
    model.backward(dlogp, null);
    const checks: [string, number][] = [
      ["base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight", 5],
      ["base_model.model.model.layers.1.mlp.up_proj.lora_A.weight", 40],
      ["base_model.model.model.layers.1.mlp.up_proj.lora_B.weight", 17],
      ["base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight", 3],
    ];
    const h = 1e-2;
    for (const [name, i] of checks) {
      const w = set.params.view(name), g = set.grads.view(name)[i]!;
      const w0 = w[i]!;
      w[i] = w0 + h;
      set.dropoutStep = step;
      const Lp = loss();
      w[i] = w0 - h;
      set.dropoutStep = step;
      const Lm = loss();
      w[i] = w0;
      const fd = (Lp - Lm) / (2 * h);
      expect(Math.abs(fd - g), `${name}[${i}] fd ${fd} vs ${g}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
    }
    set.training = false;
    expect(loss()).toBe(plain);
  });
});

describe("LoRA training with AdamW", () => {
  it("a few steps lower the loss, the base weights stay bit-identical, and the saved adapter reloads to the same log-probs", () => {
    const c = "qwen3-qv-rslora";
    const e = expectedOf(c);
    const { model } = loadHfModel(join(dirOf(c), "base"), { tokenizer: "skip" });
    const base0 = model.params.data.slice();
    const set = new LoraSet(model, { rank: 4, alpha: 8, dropout: 0.1, targets: ["q", "k", "v", "o", "gate", "up", "down"] }, { seed: 3 });
    set.init(9);
    set.attach();
    set.training = true;
    const opt = new AdamW(set.params, set.grads, { weightDecay: 0 });
    const { tokens, cu, targets } = packed(e);
    const losses: number[] = [];
    for (let step = 0; step < 8; step++) {
      set.zeroGrad();
      losses.push(model.crossEntropyStep(tokens, cu, targets));
      opt.update(1e-2);
    }
    expect(losses[7]!).toBeLessThan(losses[0]! - 0.1);
    expect(Buffer.from(model.params.data.buffer).equals(Buffer.from(base0.buffer))).toBe(true);
    set.training = false;
    const trained = scoreItems(model, items(e));
    const out = join(tmpRoot, "trained");
    savePeftAdapter(set, out);
    const fresh = new ModelClass(model.cfg);
    fresh.params.data.set(model.params.data);
    fresh.params.markChanged();
    loadPeftAdapter(out, fresh);
    expect(scoreItems(fresh, items(e))).toEqual(trained);
  });
});

describe("PEFT folder errors", () => {
  const c = "qwen2-all-modules";

  function adapterCopy(edit: (cfg: Record<string, unknown>) => void): string {
    const d = join(tmpRoot, `bad-${Math.random().toString(36).slice(2)}`);
    cpSync(join(dirOf(c), "adapter"), d, { recursive: true });
    const p = join(d, "adapter_config.json");
    const cfg = JSON.parse(readFileSync(p, "utf8")) as Record<string, unknown>;
    edit(cfg);
    writeFileSync(p, JSON.stringify(cfg));
    return d;
  }

  it("a rank that does not match the tensors names the tensor and both shapes", () => {
    const { model } = loadHfModel(join(dirOf(c), "base"), { tokenizer: "skip" });
    const d = adapterCopy((cfg) => (cfg.r = 8));
    expect(() => loadPeftAdapter(d, model)).toThrow(/adapter_model\.safetensors: tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight" has shape \[4, 32\] but the model and r=8 imply \[8, 32\]/);
  });

  it("a target module the tensors do not have", () => {
    const { model } = loadHfModel(join(dirOf(c), "base"), { tokenizer: "skip" });
    const d = adapterCopy((cfg) => (cfg.target_modules = ["q_proj"]));
    expect(() => loadPeftAdapter(d, model)).toThrow(/tensor "base_model\.model\.model\.layers\.0\.self_attn\.k_proj\.lora_A\.weight" does not match any adapted module/);
  });

  it("features we do not implement are refused by name", () => {
    expect(() => readPeftConfig(adapterCopy((cfg) => (cfg.use_dora = true)))).toThrow(/field 'use_dora' = true is not supported/);
    expect(() => readPeftConfig(adapterCopy((cfg) => (cfg.target_modules = ["embed_tokens"])))).toThrow(/target module "embed_tokens" is not supported/);
    expect(() => readPeftConfig(adapterCopy((cfg) => (cfg.rank_pattern = { q_proj: 8 })))).toThrow(/field 'rank_pattern'/);
  });

  it("a folder without adapter_config.json", () => {
    expect(existsSync(join(tmpRoot, "adapter_config.json"))).toBe(false);
    expect(() => readPeftConfig(tmpRoot)).toThrow(/adapter_config\.json not found/);
  });
});
