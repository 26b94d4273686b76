/**
 * The /play page's session (src/play/session.ts) in Node: it trains what `aha train` trains. With the
 * same backend, a short demo run through the page's path (model from bytes, no run directory, the eval
 * question by question) gives exactly the CLI's metrics and base/final pass@1; the model loaded from
 * bytes equals the one loaded from the folder; the page's overrides are checked.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadHfModel } from "../../src/formats/hf.js";
import { getBackend } from "../../src/kernels/index.js";
import { isTimingKey } from "../../src/rl/trainer.js";
import { DEMO_MODEL, resolveTrainSettings } from "../../src/runner/config.js";
import { prepareTrainRun } from "../../src/runner/train.js";
import { applyOverrides, loadModel, runPlay, type ModelFiles, type PlayEvent } from "../../src/play/session.js";

const dir = mkdtempSync(join(tmpdir(), "aha-play-session-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const json = (f: string): Record<string, unknown> => JSON.parse(readFileSync(join(DEMO_MODEL, f), "utf8")) as Record<string, unknown>;
const files: ModelFiles = {
  config: json("config.json"), generationConfig: json("generation_config.json"), tokenizerJson: json("tokenizer.json"),
  tokenizerConfig: json("tokenizer_config.json"), weights: new Uint8Array(readFileSync(join(DEMO_MODEL, "model.safetensors"))),
};

describe("the /play session", () => {
  it("the model from bytes equals the model from the folder, and tokenizes the same", () => {
    const folder = loadHfModel(DEMO_MODEL, { tokenizer: "required" });
    const mine = loadModel(files, getBackend(), "none");
    expect(Buffer.from(mine.model.params.data.buffer).equals(Buffer.from(folder.model.params.data.buffer))).toBe(true);
    expect(mine.tokenizer.encode("123+456=")).toEqual(folder.tokenizer!.encode("123+456="));
    expect(mine.tokenizer.stopTokenIds).toContain(folder.tokenizer!.eos!.id);
  });

  it("trains exactly what `aha train` trains: the same metrics every step, the same base and final pass@1", async () => {
    const settings = { steps: 2, "held-out": 6, "eval-samples": 2 };
    const run = await prepareTrainRun({ ...settings, "run-dir": join(dir, "cli") });
    const cli = await run.run();
    await run.close();

    const { config } = resolveTrainSettings({});
    const events: PlayEvent[] = [];
    await runPlay({ files, config: applyOverrides(config, { steps: 2, heldOut: 6, evalSamples: 2 }), backend: getBackend(), emit: (e) => events.push(e) });
    const kinds = events.map((e) => e.kind).filter((k) => k !== "eval-progress");
    expect(kinds).toEqual(["loaded", "eval", "step", "step", "eval", "done"]);
    const steps = events.filter((e): e is PlayEvent & { kind: "step" } => e.kind === "step");
    const strip = (r: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(r).filter(([k]) => !isTimingKey(k)));
    expect(steps.map((e) => strip(e.row))).toEqual(cli.metrics.map((m) => strip(m)));
    expect(steps.every((e) => e.samples.length > 0)).toBe(true);
    const done = events.at(-1) as PlayEvent & { kind: "done" };
    expect(done.base!["pass@1"]).toBe(cli.base!["pass@1"]);
    expect(done.final!["pass@1"]).toBe(cli.final!["pass@1"]);
    expect(done.final!["length/mean"]).toBeCloseTo(cli.final!["length/mean"]!, 10);
    expect(done.final!.recheck_share).toBeCloseTo(cli.final!["recheck_share"]!, 10);
  }, 600_000);

  it("stops after the current step when aborted, without the final evaluation", async () => {
    const { config } = resolveTrainSettings({});
    const stop = new AbortController();
    const events: PlayEvent[] = [];
    await runPlay({
      files, config: applyOverrides(config, { steps: 5, heldOut: 0 }), backend: getBackend(), signal: stop.signal,
      emit: (e) => {
        events.push(e);
        if (e.kind === "step") stop.abort();
      },
    });
    const done = events.at(-1) as PlayEvent & { kind: "done" };
    expect(done).toMatchObject({ kind: "done", steps: 1, stopped: true, final: null });
  }, 300_000);

  it("refuses bad overrides with a UserError naming the parameter", () => {
    const { config } = resolveTrainSettings({});
    expect(() => applyOverrides(config, { steps: 0 })).toThrow(/steps must be an integer ≥ 1, got 0/);
    expect(() => applyOverrides(config, { heldOut: 1.5 })).toThrow(/heldout must be an integer ≥ 0/);
    expect(() => applyOverrides(config, { groupSize: 1 })).toThrow(/group must be an integer ≥ 2, got 1/);
    expect(applyOverrides(config, { promptsPerStep: 4, groupSize: 4 }).rl).toMatchObject({ promptsPerStep: 4, groupSize: 4 });
    const c = applyOverrides(config, { steps: 3 });
    expect(c.train.steps).toBe(3);
    expect(config.train.steps).toBe(120); // the demo's config is not changed
  });
});
