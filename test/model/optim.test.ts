import { describe, expect, it } from "vitest";
import { tsBackend } from "../../src/kernels/index.js";
import { AdamW, clipGradNorm, lrAt, type LrSchedule } from "../../src/model/optim.js";
import { Arena, Params, paramTable } from "../../src/model/params.js";
import { parseHfConfig } from "../../src/model/config.js";

const cfg = parseHfConfig({ architectures: ["Qwen2ForCausalLM"], hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1,
  num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 10 }, "c");

describe("learning-rate schedule (hand values)", () => {
  const s: LrSchedule = { lr: 1, warmupSteps: 10, totalSteps: 110, decay: "cosine", minLrRatio: 0.1 };
  it.each([[1, 0.1], [5, 0.5], [10, 1], [60, 0.55], [110, 0.1], [500, 0.1]])("cosine: step %d → %f", (step, lr) => {
    expect(lrAt(step, s)).toBeCloseTo(lr, 12);
  });
  it("constant after warmup; no warmup starts at lr", () => {
    expect(lrAt(50, { ...s, decay: "constant" })).toBe(1);
    expect(lrAt(1, { ...s, warmupSteps: 0 })).toBeCloseTo(1 - 0.9 * (1 - Math.cos(Math.PI / 110)) / 2, 12);
  });
});

describe("clipGradNorm", () => {
  it("returns the norm and scales only above maxNorm (torch's max_norm / (norm + 1e-6))", () => {
    const g = new Arena(paramTable(cfg));
    g.view("model.norm.weight").set([3, 4]); // norm 5
    expect(clipGradNorm(g, 10, tsBackend)).toBeCloseTo(5, 6);
    expect(g.view("model.norm.weight")[1]).toBe(4);
    expect(clipGradNorm(g, 1, tsBackend)).toBeCloseTo(5, 6);
    expect(g.view("model.norm.weight")[1]).toBeCloseTo(4 / (5 + 1e-6), 6);
  });
});

describe("AdamW state", () => {
  it("export → import into a fresh optimizer continues exactly as the original", () => {
    const t = paramTable(cfg);
    const mk = () => {
      const p = new Params(t), g = new Arena(t);
      for (let i = 0; i < t.size; i++) { p.data[i] = Math.sin(i); g.data[i] = Math.cos(3 * i); }
      return { p, g, opt: new AdamW(p, g, { weightDecay: 0.1 }, tsBackend) };
    };
    const a = mk();
    a.opt.update(1e-2);
    a.opt.update(1e-2);
    const b = mk();
    b.p.data.set(a.p.data);
    b.opt.importState(a.opt.exportState());
    expect(b.opt.step).toBe(2);
    a.opt.update(5e-3);
    b.opt.update(5e-3);
    expect(b.p.data).toEqual(a.p.data);
    // norms and biases are not decayed: with zero gradient they do not move
    const c = mk();
    c.g.zero();
    const before = c.p.data.slice();
    c.opt.update(1);
    const bias = t.byName.get("model.layers.0.self_attn.q_proj.bias")!, w = t.byName.get("model.layers.0.self_attn.q_proj.weight")!;
    expect(c.p.data[bias.offset]).toBe(before[bias.offset]);
    expect(c.p.data[w.offset + 1]).toBeCloseTo(before[w.offset + 1]! * (1 - 0.1), 6);
  });

  it("importState names the missing tensor", () => {
    const t = paramTable(cfg);
    const opt = new AdamW(new Params(t), new Arena(t), {}, tsBackend);
    const st = opt.exportState();
    st.tensors.delete("exp_avg_sq.model.norm.weight");
    expect(() => opt.importState(st)).toThrow(/missing tensor 'exp_avg_sq.model.norm.weight'/);
  });
});
