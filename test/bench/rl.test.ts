/** `aha bench rl --quick --no-peer`: one GRPO step of the real trainer, one row per phase in the documented shape. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { run } from "../../src/cli/bench.js";

const dir = mkdtempSync(path.join(tmpdir(), "aha-bench-rl-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("aha bench rl", () => {
  it("times generate, reward, reference and train of a model-S GRPO step", async () => {
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const file = path.join(dir, "rl.json");
    try {
      expect(await run(["rl", "--quick", "--no-peer", "--json", file])).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
    const rows = (JSON.parse(readFileSync(file, "utf8")) as { rows: Array<Record<string, unknown>> }).rows;
    expect(rows.map((r) => [r["what"], r["case"], r["dtype"], r["phase"], r["unit"], r["peer"]])).toEqual(
      ["generate", "reward", "reference", "train", "step"].map((p) => ["rl", "model-S step", "fp32", p, "s", null]),
    );
    const t = Object.fromEntries(rows.map((r) => [r["phase"], r["aha"] as number]));
    for (const p of ["generate", "reference", "train"]) expect(t[p]).toBeGreaterThan(0);
    expect(t["generate"]! + t["reward"]! + t["reference"]! + t["train"]!).toBeLessThanOrEqual(t["step"]! * 1.001);
  });

  it("--only remote adds a step through two aha serve processes with weight sync, sync and async (staleness 0 and 1)", async () => {
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const file = path.join(dir, "rl-remote.json");
    try {
      expect(await run(["rl", "--quick", "--no-peer", "--only", "remote", "--json", file])).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
    const rows = (JSON.parse(readFileSync(file, "utf8")) as { rows: Array<Record<string, unknown>> }).rows.filter((r) => r["case"] === "model-S step, 2 aha serve");
    expect(rows.map((r) => [r["mode"], r["staleness"]])).toEqual([["sync", 0], ["async", 1]]);
    for (const r of rows) expect(r["aha"] as number).toBeGreaterThan(0);
    expect(rows[1]!["sync/async"]).toBeCloseTo((rows[0]!["aha"] as number) / (rows[1]!["aha"] as number), 9);
  }, 180_000);
});
