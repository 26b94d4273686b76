import { describe, expect, it } from "vitest";
import * as aha from "../src/index.js";

// The public entry re-exports one thing from each layer; a broken or missing re-export fails here.
describe("public entry", () => {
  it("exports the main pieces of every layer", () => {
    for (const name of ["getBackend", "Model", "ValueModel", "loadHfModel", "loadHfValueModel", "HfTokenizer", "verifyMath", "codeReward", "makeTask", "policyObjective", "train", "sft", "LocalRolloutEngine", "passAtK", "evaluate", "RunDir", "startServer", "UserError"] as const) {
      expect(typeof (aha as Record<string, unknown>)[name], name).toBe("function");
    }
  });
  it("passAtK through the entry computes the unbiased estimator (n=4, c=1, k=2 → 1/2)", () => {
    expect(aha.passAtK(4, 1, 2)).toBeCloseTo(0.5, 12);
  });
});
