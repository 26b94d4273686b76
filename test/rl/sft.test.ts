import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defineConfig } from "../../src/util/config.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { trainSection } from "../../src/rl/config.js";
import { adamConfig, fullPolicy } from "../../src/rl/policy.js";
import { readSftRows, sft, sftSection, type SftExample } from "../../src/rl/sft.js";
import { RunDir } from "../../src/runs/run-dir.js";
import { ARITH_SPECIAL, arithCorpusExample, arithEncode } from "../../src/tasks/arithmetic.js";
import { Rng } from "../../src/util/rng.js";
import { cfg } from "./tiny.js";

const roots: string[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "aha-sft-"));
  roots.push(d);
  return d;
};
afterAll(() => {
  for (const d of roots) fs.rmSync(d, { recursive: true, force: true });
});

const spec = defineConfig({ sft: sftSection, train: trainSection });
const rng = new Rng(1, "sft-test");
const examples: SftExample[] = Array.from({ length: 24 }, () => {
  const ex = arithCorpusExample(rng);
  return { prompt: [ARITH_SPECIAL.bos, ...arithEncode(ex.question)], response: [...arithEncode(ex.response), ARITH_SPECIAL.eos] };
});

function setup(argv: string[]) {
  const c = spec.fromArgv(["--data", "x.jsonl", "--batch-size", "8", "--lr", "0.01", ...argv], () => "").config;
  const model = new Model(cfg);
  initParams(model.params, cfg, 2);
  return { c, model, policy: fullPolicy(model, adamConfig(c.train), { reference: false }) };
}

describe("sft", () => {
  it("the response loss falls", async () => {
    const { c, policy } = setup(["--steps", "12"]);
    const res = await sft({ sft: c.sft, train: c.train, examples, policy, run: null });
    const loss = res.metrics.map((m) => m["loss"]!);
    expect(loss[0]).toBeGreaterThan(2.5); // ~ln 21 for a random model
    expect(loss[loss.length - 1]).toBeLessThan(loss[0]! * 0.7);
  });
  it("4 steps = 2 steps, stopped, then resumed for 2 (exactly)", async () => {
    const argv = ["--steps", "4", "--save-every", "0", "--micro-batch-tokens", "60"];
    const a = setup(argv);
    const ra = RunDir.create(path.join(tmp(), "a"), spec.toFlat(a.c), { total_steps: 4, kind: "sft", task: "sft", model: "tiny" });
    await sft({ sft: a.c.sft, train: a.c.train, examples, policy: a.policy, run: ra });
    const b = setup(argv);
    const dirB = path.join(tmp(), "b");
    const rb = RunDir.create(dirB, spec.toFlat(b.c), { total_steps: 4, kind: "sft", task: "sft", model: "tiny" });
    const ctl = new AbortController();
    await sft({ sft: b.c.sft, train: b.c.train, examples, policy: b.policy, run: rb, signal: ctl.signal, onStep: (m) => m.step === 2 && ctl.abort() });
    const r = RunDir.resume(dirB);
    const c2 = setup(argv);
    await sft({ sft: c2.c.sft, train: c2.c.train, examples, policy: c2.policy, run: r.run, resume: r.checkpoint });
    const strip = (rows: Record<string, number>[]) => rows.map(({ loss, grad_norm, step }) => ({ loss, grad_norm, step }));
    expect(strip(r.run.readMetrics())).toEqual(strip(ra.readMetrics()));
    expect(c2.model.params.data).toEqual(a.model.params.data);
  });
  it("reads JSONL rows and names a bad line", () => {
    const f = path.join(tmp(), "d.jsonl");
    fs.writeFileSync(f, '{"prompt":"1+1=","response":"2"}\n{"prompt":"x"}\n');
    expect(() => readSftRows(f)).toThrow(/d\.jsonl:2: fields 'prompt' and 'response' must be text/);
    fs.writeFileSync(f, '{"q":"1+1=","a":"2"}\n');
    expect(readSftRows(f, "q", "a")).toEqual([{ prompt: "1+1=", response: "2" }]);
    expect(() => spec.resolve({})).toThrow(/sft needs --data FILE/);
  });
});
