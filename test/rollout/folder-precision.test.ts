// --sample-precision and --kv-cache reach the model a folder engine samples with (serve and eval load
// through engineFromFolder / loadFolder), and sampling runs on packed bf16 weights and a bf16 cache.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveSpec } from "../../src/cli/serve.js";
import { engineFromFolder } from "../../src/rollout/folder.js";
import { makeModelFolder } from "../serve/helpers.js";

let folder: ReturnType<typeof makeModelFolder>;
beforeAll(() => {
  folder = makeModelFolder(7);
});
afterAll(() => folder?.cleanup());

describe("sampling precision of a folder engine", () => {
  it("the serve schema takes --sample-precision and --kv-cache (defaults: precision, fp32)", () => {
    const c = serveSpec.fromArgv(["--model", "m", "--sample-precision", "bf16", "--kv-cache", "bf16"], () => "").config;
    expect([c.model.samplePrecision, c.model.kvCache]).toEqual(["bf16", "bf16"]);
    const d = serveSpec.fromArgv(["--model", "m"], () => "").config;
    expect([d.model.samplePrecision, d.model.kvCache]).toEqual([null, "fp32"]);
    expect(() => serveSpec.fromArgv(["--model", "m", "--kv-cache", "fp16"], () => "")).toThrow(/kv-cache/);
  });

  it("bf16 sampling: training precision stays fp32, the cache is bf16, greedy output matches fp32's", async () => {
    const fp = engineFromFolder(folder.dir, { slots: 2 });
    const bf = engineFromFolder(folder.dir, { slots: 2, samplePrecision: "bf16", kvCache: "bf16" });
    const m = bf.loaded.model;
    expect([m.precision, m.inferencePrecision, m.kvCache]).toEqual(["fp32", "bf16", "bf16"]);
    expect([fp.loaded.model.inferencePrecision, fp.loaded.model.kvCache]).toEqual(["fp32", "fp32"]);
    const req = [{ promptIds: [5, 17, 42, 99], maxNewTokens: 6, temperature: 0 }];
    const [a] = await fp.engine.generate(req);
    const [b] = await bf.engine.generate(req);
    expect(b![0]!.tokenIds.length).toBe(6);
    expect([...b![0]!.tokenIds]).toEqual([...a![0]!.tokenIds]);
  });
});
