/**
 * The trainer sampling from an OpenAI-compatible endpoint: `aha serve`'s server (started here on
 * 127.0.0.1 over a copy of the policy's starting weights) is the rollout engine of two GRPO steps with
 * truncated importance sampling on; the server's token ids and log-probs feed the update.
 */
import { describe, expect, it } from "vitest";
import { writeByteTokenizer } from "../../src/bench/serve.js";
import { HfTokenizer } from "../../src/formats/tokenizer.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { train } from "../../src/rl/trainer.js";
import { createRolloutEngine } from "../../src/rollout/factory.js";
import { LocalRolloutEngine } from "../../src/rollout/local.js";
import { startServer } from "../../src/serve/server.js";
import { ARITH_SPECIAL } from "../../src/tasks/arithmetic.js";
import { cfg, setup, tokenizer } from "../rl/tiny.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

describe("remote rollouts in the trainer", () => {
  it("two GRPO steps with rollouts from aha serve and tis-cap 2: the policy moves, the server did the sampling", async () => {
    const { opts, model } = setup(["--steps", "2", "--tis-cap", "2"]);
    // the server holds the starting weights (setup initialises with seed 11); it is never updated
    const served = new Model(cfg);
    initParams(served.params, cfg, 11);
    expect(served.params.data).toEqual(model.params.data);
    const dir = mkdtempSync(join(tmpdir(), "aha-remote-train-"));
    writeByteTokenizer(dir); // text is not used: prompts and completions travel as token ids
    const srv = await startServer({
      engine: new LocalRolloutEngine(served, { slots: 16, maxLen: 64, decode: tokenizer.decode }), /* decodes for the task's stop strings */ tokenizer: HfTokenizer.fromFolder(dir), modelName: "tiny",
      maxLen: 64, vocabSize: cfg.vocabSize, stopTokenIds: [ARITH_SPECIAL.eos], chat: null, port: 0,
    });
    try {
      const engine = createRolloutEngine({ kind: "remote", baseUrl: srv.url, model: "tiny", concurrency: 4 });
      const before = model.params.data.slice();
      const steps: Record<string, number>[] = [];
      const res = await train({ ...opts, engine, onStep: (m) => steps.push(m as Record<string, number>) });
      expect(res.steps).toBe(2);
      expect(steps.map((m) => Number.isFinite(m["loss/policy"]))).toEqual([true, true]);
      let changed = 0;
      for (let i = 0; i < before.length; i++) if (before[i] !== model.params.data[i]) changed++;
      expect(changed).toBeGreaterThan(before.length / 2);
      const h = srv.api.health();
      expect(h.requests).toBe(2 * 4); // prompts-per-step 4, one request per prompt (n = group size)
      expect(h.completion_tokens as number).toBeGreaterThan(0);
      expect(served.params.data).toEqual(before); // the server never saw the update: the trainer corrects with TIS
      await engine.close();
    } finally {
      await srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
