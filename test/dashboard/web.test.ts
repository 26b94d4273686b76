// The web app's pure parts, in node: response segmentation, smoothing, y ranges, metric layout.
import { describe, expect, it } from "vitest";
import { sections, smooth, yRange } from "../../src/dashboard/web/layout.js";
import { segments } from "../../src/dashboard/web/samples.js";

describe("response segments", () => {
  it.each([
    // the R1 format
    ["<think>\nlet me see\n</think>\n<answer>42</answer>", [{ kind: "think", text: "let me see" }, { kind: "answer", text: "42" }]],
    // the template put <think> in the prompt: the response starts inside the think part
    ["so 6*7=42\n</think> <answer>42</answer>", [{ kind: "think", text: "so 6*7=42" }, { kind: "answer", text: "42" }]],
    // an unclosed think runs to the end (a truncated response)
    ["<think>wait, let me", [{ kind: "think", text: "wait, let me" }]],
    // text around the tags stays, tags are case-insensitive
    ["Sure. <THINK>hm</THINK> The answer is <answer>7</answer>.", [{ kind: "text", text: "Sure. " }, { kind: "think", text: "hm" }, { kind: "text", text: " The answer is " }, { kind: "answer", text: "7" }, { kind: "text", text: "." }]],
    // no tags at all
    ["just 42", [{ kind: "text", text: "just 42" }]],
  ])("%j", (response, expected) => {
    expect(segments(response)).toEqual(expected);
  });

  it("handles long runs of newlines and many tags quickly (untrusted output)", () => {
    const evil = "\n".repeat(200_000) + "x" + "</think>".repeat(5000) + "<think>".repeat(5000);
    const t0 = performance.now();
    segments(evil);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe("smoothing (TensorBoard's debiased EMA)", () => {
  it("matches hand-computed values", () => {
    // w=0.5: s1 = 0.5·1 / (1-0.5) = 1; s2 = (0.25 + 1.5) / (1-0.25) = 7/3
    const s = smooth([1, 3, null], 0.5);
    expect(s[0]).toBeCloseTo(1, 12);
    expect(s[1]).toBeCloseTo(7 / 3, 12);
    expect(s[2]).toBeNull();
  });
  it("is the identity at weight 0", () => {
    expect(smooth([1, 5, 2], 0)).toEqual([1, 5, 2]);
  });
});

describe("y ranges", () => {
  it("shows all-zero data near zero, not uPlot's [0, 100]", () => {
    expect(yRange(0, 0, false)).toEqual([0, 1]);
    expect(yRange(0, 0, true)).toEqual([0, 1]);
  });
  it("does not zoom into float noise around a constant", () => {
    const [lo, hi] = yRange(0.01 - 1e-12, 0.01 + 1e-12, false);
    expect(hi - lo).toBeGreaterThan(0.001);
  });
  it("starts fractions at 0 and stops near 1", () => {
    expect(yRange(0.2, 0.7, true)).toEqual([0, 0.77]);
    expect(yRange(0.5, 1, true)).toEqual([0, 1.02]);
  });
});

describe("metric layout", () => {
  const trainerKeys = ["step", "time", "reward/mean", "reward/std", "reward/unscorable_frac", "reward/accuracy", "reward/format", "accuracy", "format_rate", "length/mean", "length/min", "length/max", "length/truncated_frac", "recheck_share", "groups/zero_variance_frac", "groups/trained", "loss/policy", "loss/total", "loss/kl", "grad_norm", "entropy", "clip/low_frac", "clip/high_frac", "tokens_per_s/train", "kl", "skipped", "lr", "seconds/generate", "seconds/reward", "seconds/reference", "seconds/train", "seconds/step", "tokens_per_s/rollout", "my_new_metric"];
  const secs = sections(new Set(trainerKeys));
  const charted = secs.flatMap((s) => s.charts.flatMap((c) => c.keys));

  it("charts every metric (step and time are axes)", () => {
    for (const k of trainerKeys.filter((k) => k !== "step" && k !== "time")) expect(charted, k).toContain(k);
  });
  it("leads with the aha-moment curves and puts unknown metrics under Other", () => {
    expect(secs[0]?.charts.map((c) => c.id)).toEqual(["accuracy", "length/mean", "recheck_share", "reward/mean"]);
    expect(secs.at(-1)?.title).toBe("Other");
    expect(secs.at(-1)?.charts.flatMap((c) => c.keys)).toEqual(["my_new_metric", "skipped"]);
  });
  it("groups the parts of one quantity on one chart", () => {
    const byId = Object.fromEntries(secs.flatMap((s) => s.charts).map((c) => [c.id, c.keys]));
    expect(byId["reward-parts"]).toEqual(["reward/accuracy", "reward/format"]);
    expect(byId["phases"]).toEqual(["seconds/generate", "seconds/reference", "seconds/reward", "seconds/train"]);
    expect(byId["clip"]).toEqual(["clip/high_frac", "clip/low_frac"]);
  });
});

describe("metric layout with a critic (PPO)", () => {
  const keys = ["step", "time", "reward/mean", "accuracy", "critic/value_loss", "critic/explained_variance", "critic/value_mean", "critic/return_mean", "critic/clip_frac", "critic/grad_norm", "advantage/mean", "advantage/std", "advantage/min", "advantage/max", "grad_norm"];
  const secs = sections(new Set(keys));
  it("puts the critic's metrics in a Critic section, values with returns and the advantage statistics together", () => {
    const critic = secs.find((s) => s.title === "Critic");
    expect(critic?.charts.map((c) => c.id)).toEqual(["critic/value_loss", "critic/explained_variance", "critic-values", "advantage", "critic/clip_frac", "critic/grad_norm"]);
    expect(critic?.charts.find((c) => c.id === "critic-values")?.keys).toEqual(["critic/return_mean", "critic/value_mean"]);
    expect(critic?.charts.find((c) => c.id === "advantage")?.keys).toEqual(["advantage/max", "advantage/mean", "advantage/min", "advantage/std"]);
    expect(secs.find((s) => s.title === "Other")).toBeUndefined();
  });
});
