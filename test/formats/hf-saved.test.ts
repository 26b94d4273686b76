/**
 * "Plain PyTorch reading our safetensors gives the same logits": fixtures/hf/saved/<name>/ are folders that
 * OUR saver wrote (regenerate with AHA_WRITE_HF_SAVED=1, then `/usr/bin/python3 scripts/make_hf_fixtures.py
 * saved`); the Python script read them with its own safetensors parser and scored them with its torch
 * forward (score_expected.json). Here: (1) the saver, run now, still writes exactly those bytes, and (2) our
 * engine loading them matches torch's log-probs — so torch reads what we write, as we do.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { scoreItems } from "../../src/cli/score.js";
import { loadHfModel, saveHfModel, type SaveOptions } from "../../src/formats/hf.js";

const LOGPROB_ATOL = 2e-3; // issue 3's acceptance bound
const SAVED = "fixtures/hf/saved";
const SOURCE = "fixtures/hf/models/qwen2-bf16-sharded";
const VARIANTS: Record<string, SaveOptions> = {
  "f32-sharded": { dtype: "F32", maxShardBytes: 40_000 },
  "bf16-single": { dtype: "BF16" },
};
const write = process.env.AHA_WRITE_HF_SAVED === "1";
const tmpRoot = mkdtempSync(join(tmpdir(), "aha-saved-"));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

describe("folders written by saveHfModel, read by PyTorch", () => {
  for (const [name, opts] of Object.entries(VARIANTS)) {
    it(`${name}: same bytes as the fixture, and torch's log-probs`, () => {
      const src = loadHfModel(SOURCE, { tokenizer: "skip" });
      const out = write ? join(SAVED, name) : join(tmpRoot, name);
      mkdirSync(out, { recursive: true });
      saveHfModel(out, src.config, src.model.params, { ...opts, rawConfig: src.rawConfig });
      const fixture = join(SAVED, name);
      const ours = readdirSync(out).sort();
      expect(ours).toEqual(readdirSync(fixture).filter((f) => f !== "score_expected.json").sort());
      for (const f of ours) expect(readFileSync(join(out, f)).equals(readFileSync(join(fixture, f))), f).toBe(true);

      const exp = JSON.parse(readFileSync(join(fixture, "score_expected.json"), "utf8")) as {
        rows: { prompt_ids: number[]; response_ids: number[]; token_logprobs: number[] }[];
      };
      const m = loadHfModel(fixture, { tokenizer: "skip" });
      const got = scoreItems(m.model, exp.rows.map((r, i) => ({ line: i + 1, input: {}, promptIds: r.prompt_ids, responseIds: r.response_ids })));
      let md = 0;
      got.forEach((g, i) => g.tokenLogprobs.forEach((x, j) => (md = Math.max(md, Math.abs(x - exp.rows[i]!.token_logprobs[j]!)))));
      expect(md).toBeLessThanOrEqual(LOGPROB_ATOL);
    });
  }
});
