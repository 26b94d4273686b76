/**
 * The value model (src/model/value.ts) against PyTorch, and its Hugging Face folders.
 *
 * EXPECTED VALUES: fixtures/model/<base>-value/ from `scripts/make_value_fixtures.py`: value-model folders
 * (…ForTokenClassification, num_labels 1) built on the tiny fixture models, with the values at every
 * position and the gradients of L = Σ dvalues·values w.r.t. every tensor (score.* included), from a plain
 * torch float64 forward (make_fixtures.py's body) written independently of the TypeScript code.
 * qwen2-tiny-value: tied base, q/k/v bias, head without bias; llama-tiny-value: untied base (no lm_head in
 * the folder), llama3 rope scaling, head with bias.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadHfModel, loadHfValueModel, saveHfModel } from "../../src/formats/hf.js";
import { readSafetensors, writeSafetensors } from "../../src/formats/safetensors.js";
import { LoraSet } from "../../src/model/lora.js";
import { Model } from "../../src/model/model.js";
import { AdamW, clipGradNorm } from "../../src/model/optim.js";
import { ValueModel } from "../../src/model/value.js";
import { FIXTURE_DIR, expectClose, fixtureModel, loadFixture } from "./helpers.js";

/** As test/model/torch.test.ts: fp32 forward, fp32 gradients (relative to the gradient's own scale), bf16. */
const FWD = { atol: 2e-5, rtol: 1e-4 };
const GRAD = { atol: 1e-4, rtol: 1e-3 };
const BF16_FWD = { atol: 0.08, rtol: 0.03 };

const VALUE_FIXTURES = [["qwen2-tiny-value", "qwen2-tiny"], ["llama-tiny-value", "llama-tiny"]] as const;

const tmpRoot = mkdtempSync(join(tmpdir(), "aha-value-"));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));
let tmpN = 0;
const tmp = (): string => join(tmpRoot, String(tmpN++));

function copyFolder(name: string): string {
  const d = tmp();
  cpSync(join(FIXTURE_DIR, name), d, { recursive: true });
  return d;
}

/** Every gradient of the value model against the reference's grad.<name>, scaled as the torch tests do. */
function expectGrads(what: string, vm: ValueModel, ref: { f(n: string): Float32Array }): void {
  for (const s of vm.table.specs) {
    const g = ref.f(`grad.${s.name}`);
    let scale = 0;
    for (const x of g) scale = Math.max(scale, Math.abs(x));
    expectClose(`${what} grad ${s.name}`, vm.grads.view(s.name), g, { atol: GRAD.atol * Math.max(1, scale), rtol: GRAD.rtol });
  }
}

describe.each(VALUE_FIXTURES)("%s vs PyTorch", (name) => {
  const fx = loadFixture(name);
  const ref = fx.ref;
  const tokens = ref.i("input_ids"), cu = ref.i("cu_seqlens");
  const dir = join(FIXTURE_DIR, name);

  it("loads as a ValueModel whose table is the folder's tensors exactly (score.*, no lm_head)", () => {
    const { model: vm, warnings, dtypes } = loadHfValueModel(dir);
    expect(warnings).toEqual([]);
    expect(dtypes).toEqual(["F32"]);
    expect(vm.table.specs.map((s) => s.name).sort()).toEqual([...fx.weights.keys()].sort());
    expect(vm.table.byName.has("lm_head.weight")).toBe(false);
    expect(vm.table.byName.get("score.weight")!.shape).toEqual([1, fx.cfg.hiddenSize]);
    expect(vm.head).toEqual({ kind: "value", bias: name.startsWith("llama") });
  });

  it("forward: the value at every position", () => {
    const { model: vm } = loadHfValueModel(dir);
    expectClose(`${name} values`, vm.forward(tokens, cu), ref.f("values"), FWD);
  });

  it("backward from dL/dvalues gives every parameter's gradient, score included", () => {
    const { model: vm } = loadHfValueModel(dir);
    vm.zeroGrad();
    vm.forward(tokens, cu);
    vm.backward(ref.f("dvalues"));
    expectGrads(name, vm, ref);
  });

  it("backward adds into the gradients (two passes = twice the gradient)", () => {
    const { model: vm } = loadHfValueModel(dir);
    vm.zeroGrad();
    for (let i = 0; i < 2; i++) {
      vm.forward(tokens, cu);
      vm.backward(ref.f("dvalues"));
    }
    const g = vm.grads.view("score.weight"), want = ref.f("grad.score.weight").map((x) => 2 * x);
    expectClose(`${name} 2x score grad`, g, want, { atol: 2e-4, rtol: 1e-3 });
  });

  it("bf16-matmul mode stays close to the fp32 reference", () => {
    const { model: vm } = loadHfValueModel(dir, { precision: "bf16" });
    expectClose(`${name} bf16 values`, vm.forward(tokens, cu), ref.f("values"), BF16_FWD);
    vm.zeroGrad();
    vm.backward(ref.f("dvalues"));
    let num = 0, den = 0;
    for (const s of vm.table.specs) {
      const g = ref.f(`grad.${s.name}`), got = vm.grads.view(s.name);
      for (let i = 0; i < g.length; i++) { num += (got[i]! - g[i]!) ** 2; den += g[i]! ** 2; }
    }
    expect(Math.sqrt(num / den)).toBeLessThan(0.03);
  });

  it("a saved value folder loads back bit-identical, as transformers' …ForTokenClassification", () => {
    const { model: vm, rawConfig } = loadHfValueModel(dir);
    const out = tmp();
    saveHfModel(out, vm.cfg, vm.params, { rawConfig });
    const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg["architectures"]).toEqual([fx.cfg.architecture.replace("ForCausalLM", "ForTokenClassification")]);
    expect(cfg["num_labels"]).toBe(1);
    expect(cfg["id2label"]).toEqual({ "0": "LABEL_0" });
    expect(cfg["label2id"]).toEqual({ LABEL_0: 0 });
    expect(cfg["token_classification_bias"]).toBe(vm.head.kind === "value" && vm.head.bias);
    expect(cfg["tie_word_embeddings"]).toBe(fx.cfg.tieWordEmbeddings);
    const st = readSafetensors(join(out, "model.safetensors")).tensors;
    expect([...st.keys()].sort()).toEqual([...fx.weights.keys()].sort());
    expect(st.get("score.weight")!.shape).toEqual([1, fx.cfg.hiddenSize]);
    const back = loadHfValueModel(out).model;
    expect(back.params.data).toEqual(vm.params.data);
    expect(back.forward(tokens, cu)).toEqual(vm.forward(tokens, cu));
  });

  it("AdamW over the one arena steps body and head; its state has torch-like names and round-trips", () => {
    const { model: vm } = loadHfValueModel(dir);
    const opt = new AdamW(vm.params, vm.grads, { weightDecay: 0.1 });
    vm.zeroGrad();
    vm.forward(tokens, cu);
    vm.backward(ref.f("dvalues"));
    clipGradNorm(vm.grads, 1.0);
    const before = vm.params.view("score.weight").slice(), embBefore = vm.params.view("model.embed_tokens.weight").slice();
    opt.update(1e-3);
    expect(vm.params.view("score.weight")).not.toEqual(before);
    expect(vm.params.view("model.embed_tokens.weight")).not.toEqual(embBefore);
    const st = opt.exportState();
    expect(st.tensors.has("exp_avg.score.weight")).toBe(true);
    expect(st.tensors.has("exp_avg_sq.score.weight")).toBe(true);
    expect(st.tensors.has("exp_avg.lm_head.weight")).toBe(false);
    const opt2 = new AdamW(vm.params, vm.grads, { weightDecay: 0.1 });
    opt2.importState(st);
    expect(opt2.step).toBe(1);
    expect(opt2.m.data).toEqual(opt.m.data);
  });
});

describe("ValueModel.fromBase", () => {
  for (const [valueName, baseName] of VALUE_FIXTURES) {
    it(`${baseName}: the body is the base's weights, the head a seeded N(0, (1/(C+1))²), no lm_head`, () => {
      const base = fixtureModel(loadFixture(baseName));
      const vm = ValueModel.fromBase(base, { seed: 7 });
      const C = base.cfg.hiddenSize;
      for (const s of vm.table.specs) if (!s.name.startsWith("score.")) expect(vm.params.view(s.name), s.name).toEqual(base.params.view(s.name));
      expect(vm.table.byName.has("lm_head.weight")).toBe(false);
      expect(vm.table.byName.has("score.bias")).toBe(false);
      const w = vm.params.view("score.weight");
      expect(w.length).toBe(C);
      let ss = 0;
      for (const x of w) ss += x * x;
      const std = Math.sqrt(ss / C);
      expect(std).toBeGreaterThan(0.3 / (C + 1));
      expect(std).toBeLessThan(3 / (C + 1));
      expect(ValueModel.fromBase(base, { seed: 7 }).params.view("score.weight")).toEqual(w); // deterministic
      expect(ValueModel.fromBase(base, { seed: 8 }).params.view("score.weight")).not.toEqual(w);
      expect(vm.precision).toBe(base.precision);
      // with the folder's head, the values are the folder's (the body copy is exact)
      const folder = loadHfValueModel(join(FIXTURE_DIR, valueName)).model;
      const withBias = ValueModel.fromBase(base, { bias: folder.table.byName.has("score.bias") });
      for (const s of withBias.table.specs) if (s.name.startsWith("score.")) withBias.params.view(s.name).set(folder.params.view(s.name));
      const ref = loadFixture(valueName).ref;
      expect(withBias.forward(ref.i("input_ids"), ref.i("cu_seqlens"))).toEqual(folder.forward(ref.i("input_ids"), ref.i("cu_seqlens")));
    });
  }

  it("zeros init: values 0; the body gets no gradient, the head does", () => {
    const fx = loadFixture("qwen2-tiny-value");
    const vm = ValueModel.fromBase(fixtureModel(loadFixture("qwen2-tiny")), { init: "zeros", bias: true });
    const v = vm.forward(fx.ref.i("input_ids"), fx.ref.i("cu_seqlens"));
    expect([...v].every((x) => x === 0)).toBe(true);
    vm.zeroGrad();
    vm.backward(fx.ref.f("dvalues"));
    expect(vm.grads.view("model.embed_tokens.weight").every((x) => x === 0)).toBe(true);
    expect(vm.grads.view("score.weight").some((x) => x !== 0)).toBe(true);
    let sum = 0;
    for (const x of fx.ref.f("dvalues")) sum += x;
    expect(vm.grads.view("score.bias")[0]).toBeCloseTo(sum, 5);
  });
});

describe("LoRA on a value model", () => {
  it("adapters get gradients, the frozen body none, the head its full gradient; scoreArenas share memory", () => {
    const name = "qwen2-tiny-value";
    const fx = loadFixture(name), ref = fx.ref;
    const tokens = ref.i("input_ids"), cu = ref.i("cu_seqlens"), dv = ref.f("dvalues");
    const vm = loadHfValueModel(join(FIXTURE_DIR, name)).model;
    const lora = new LoraSet(vm.model, { rank: 4, alpha: 8, dropout: 0, targets: ["q", "v", "down"] });
    lora.init(3);
    lora.attach(); // freezes the body (trainBase = false)
    vm.zeroGrad();
    lora.zeroGrad();
    // B = 0: the adapters are a no-op, so values and the head's gradient are the full model's
    expectClose(`${name} lora values`, vm.forward(tokens, cu), ref.f("values"), FWD);
    vm.backward(dv);
    expectClose(`${name} lora score grad`, vm.grads.view("score.weight"), ref.f("grad.score.weight"), { atol: 1e-4, rtol: 1e-3 });
    for (const s of vm.table.specs) if (!s.name.startsWith("score.")) expect(vm.grads.view(s.name).every((x) => x === 0), s.name).toBe(true);
    expect(lora.grads.data.some((x) => x !== 0)).toBe(true);

    // one adapter gradient against a central finite difference of L = Σ dv·values
    const bName = lora.table.specs.find((s) => s.name.includes("layers.1.self_attn.v_proj.lora_B"))!.name;
    const b = lora.params.view(bName), gB = lora.grads.view(bName);
    let k = 0;
    for (let i = 0; i < gB.length; i++) if (Math.abs(gB[i]!) > Math.abs(gB[k]!)) k = i;
    const L = (): number => {
      const v = vm.forward(tokens, cu);
      let s = 0;
      for (let t = 0; t < v.length; t++) s += dv[t]! * v[t]!;
      return s;
    };
    const h = 1e-2, b0 = b[k]!;
    b[k] = b0 + h;
    const lp = L();
    b[k] = b0 - h;
    const lm = L();
    b[k] = b0;
    expect(Math.abs((lp - lm) / (2 * h) - gB[k]!)).toBeLessThan(2e-3 * Math.max(1, Math.abs(gB[k]!)));

    // the head alone, as an arena of its own (for an optimizer next to the adapters')
    const head = vm.scoreArenas();
    expect(head.params.table.specs.map((s) => s.name)).toEqual(["score.weight"]);
    expect(head.grads.view("score.weight")).toEqual(vm.grads.view("score.weight"));
    const opt = new AdamW(head.params, head.grads);
    opt.update(1e-2);
    expect(vm.params.view("score.weight")).toEqual(head.params.view("score.weight")); // same memory
    expect([...opt.exportState().tensors.keys()]).toEqual(["exp_avg.score.weight", "exp_avg_sq.score.weight"]);
  });

  it("trainHead = false leaves the head's gradient untouched", () => {
    const fx = loadFixture("llama-tiny-value");
    const vm = loadHfValueModel(join(FIXTURE_DIR, "llama-tiny-value")).model;
    vm.trainHead = false;
    vm.zeroGrad();
    vm.forward(fx.ref.i("input_ids"), fx.ref.i("cu_seqlens"));
    vm.backward(fx.ref.f("dvalues"));
    expect(vm.grads.view("score.weight").every((x) => x === 0)).toBe(true);
    expect(vm.grads.view("score.bias")[0]).toBe(0);
    expectClose("body grad with a frozen head", vm.grads.view("model.norm.weight"), fx.ref.f("grad.model.norm.weight"), { atol: 1e-4, rtol: 1e-3 });
  });
});

describe("value folders: errors", () => {
  const expectUserError = (f: () => unknown, code: string, ...parts: string[]): void => {
    let err: unknown;
    try {
      f();
    } catch (e) {
      err = e;
    }
    expect(err, "expected an error").toBeInstanceOf(Error);
    const e = err as Error & { code?: string };
    expect(e.code).toBe(code);
    for (const p of parts) expect(e.message).toContain(p);
  };

  /** Rewrites a copy's model.safetensors through `edit` of its tensor list. */
  function withTensors(name: string, edit: (t: { name: string; shape: number[]; data: Float32Array }[]) => typeof t): string {
    const d = copyFolder(name);
    const file = join(d, "model.safetensors");
    const t = [...readSafetensors(file).tensors].map(([n, x]) => ({ name: n, shape: x.shape, data: x.data }));
    writeSafetensors(file, edit(t), { format: "pt" });
    return d;
  }

  it("a folder without score.weight: names the file and the tensor", () => {
    const d = withTensors("qwen2-tiny-value", (t) => t.filter((x) => x.name !== "score.weight"));
    expectUserError(() => loadHfValueModel(d), "AHA_MISSING_TENSOR", join(d, "model.safetensors"), `"score.weight"`, "[1, 32]");
  });

  it("a mis-shaped score.weight: names the file, the tensor and both shapes", () => {
    const d = withTensors("qwen2-tiny-value", (t) => t.map((x) => (x.name === "score.weight" ? { ...x, shape: [32] } : x)));
    expectUserError(() => loadHfValueModel(d), "AHA_SHAPE_MISMATCH", join(d, "model.safetensors"), `"score.weight"`, "[32]", "[1, 32]");
    const d2 = withTensors("qwen2-tiny-value", (t) => t.map((x) => (x.name === "score.weight" ? { ...x, shape: [2, 32], data: new Float32Array(64) } : x)));
    expectUserError(() => loadHfValueModel(d2), "AHA_SHAPE_MISMATCH", `"score.weight"`, "[2, 32]");
  });

  it("token_classification_bias true (transformers' default) needs score.bias", () => {
    const d = withTensors("llama-tiny-value", (t) => t.filter((x) => x.name !== "score.bias"));
    expectUserError(() => loadHfValueModel(d), "AHA_MISSING_TENSOR", `"score.bias"`);
    const cfgFile = join(d, "config.json");
    const cfg = JSON.parse(readFileSync(cfgFile, "utf8")) as Record<string, unknown>;
    delete cfg["token_classification_bias"];
    writeFileSync(cfgFile, JSON.stringify(cfg));
    expectUserError(() => loadHfValueModel(d), "AHA_MISSING_TENSOR", `"score.bias"`);
    cfg["token_classification_bias"] = false;
    writeFileSync(cfgFile, JSON.stringify(cfg));
    expect(loadHfValueModel(d).model.table.byName.has("score.bias")).toBe(false);
  });

  it("more than one label is refused", () => {
    const d = copyFolder("qwen2-tiny-value");
    const cfgFile = join(d, "config.json");
    const cfg = JSON.parse(readFileSync(cfgFile, "utf8")) as Record<string, unknown>;
    delete cfg["num_labels"];
    cfg["id2label"] = { "0": "A", "1": "B" };
    writeFileSync(cfgFile, JSON.stringify(cfg));
    expectUserError(() => loadHfValueModel(d), "AHA_BAD_INPUT", cfgFile, "2 labels");
  });

  it("a value folder is not a policy, and a policy folder is not a value model", () => {
    const v = join(FIXTURE_DIR, "qwen2-tiny-value"), p = join(FIXTURE_DIR, "qwen2-tiny");
    expectUserError(() => loadHfModel(v, { tokenizer: "skip" }), "AHA_VALUE_MODEL", join(v, "config.json"), "Qwen2ForTokenClassification");
    expectUserError(() => loadHfValueModel(p), "AHA_NOT_VALUE_MODEL", join(p, "config.json"), "Qwen2ForCausalLM");
  });

  it("a value-head Model runs no vocabulary head; backward needs a forward of the right length", () => {
    const fx = loadFixture("qwen2-tiny-value");
    const vm = loadHfValueModel(join(FIXTURE_DIR, "qwen2-tiny-value")).model;
    const tokens = fx.ref.i("input_ids"), cu = fx.ref.i("cu_seqlens");
    expect(() => vm.model.forward(tokens, cu, tokens)).toThrow(/value head/);
    expect(() => vm.model.lastLogits(tokens, cu)).toThrow(/value head/);
    expect(() => vm.backward(new Float32Array(tokens.length))).toThrow(/forward\(\) first/);
    vm.forward(tokens, cu);
    expect(() => vm.backward(new Float32Array(3))).toThrow(/entries/);
    // a plain model's backward() after forwardHidden() is refused too
    const m = new Model(fx.cfg);
    m.forwardHidden(tokens, cu);
    expect(() => m.backward(null, null)).toThrow(/backwardHidden/);
  });
});
