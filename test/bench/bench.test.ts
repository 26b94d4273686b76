/** `aha bench`: the CLI parses its flags, runs a suite and writes the documented JSON shape. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bestSeconds } from "../../src/bench/gemm.js";
import { benchDtypes } from "../../src/bench/model.js";
import type { BenchContext } from "../../src/bench/types.js";
import { tsBackend } from "../../src/kernels/ts.js";
import { clock, run } from "../../src/cli/bench.js";
import { UserError } from "../../src/errors.js";

describe("aha bench", () => {
  const dirs: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("writes {machine, rows} for one GEMM case (no peer)", async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((s) => { out.push(String(s)); return true; });
    const err: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((s) => { err.push(String(s)); return true; });
    const dir = mkdtempSync(path.join(tmpdir(), "aha-bench-"));
    dirs.push(dir);
    const file = path.join(dir, "b.json");
    expect(await run(["gemm", "--quick", "--no-peer", "--only", "64x512x512", "--json", file])).toBe(0);
    const j = JSON.parse(readFileSync(file, "utf8")) as { machine: Record<string, unknown>; rows: Array<Record<string, unknown>> };
    expect(j.machine["threads"]).toBe(2);
    expect(j.rows.map((r) => [r["what"], r["case"], r["dtype"], r["unit"], r["peer"]])).toEqual([
      ["gemm", "64x512x512", "fp32", "GFLOP/s", null],
      ["gemm", "64x512x512", "bf16", "GFLOP/s", null],
    ]);
    for (const r of j.rows) expect(r["aha"]).toBeGreaterThan(0);
    expect(out.join("")).toMatch(/64x512x512/);
    // progress lines carry the time since the start, and the JSON each suite's wall time
    expect(err.join("")).toMatch(/^bench 0:\d\d: gemm 64x512x512 fp32: aha /m);
    expect(err.join("")).toMatch(/^bench \d+:\d\d: gemm: done in \d+:\d\d/m);
    const suiteSeconds = j.machine["suiteSeconds"] as Record<string, number>;
    expect(Object.keys(suiteSeconds)).toEqual(["gemm"]);
    expect(suiteSeconds["gemm"]).toBeGreaterThan(0);
    expect(j.machine["wallSeconds"]).toBeGreaterThanOrEqual(suiteSeconds["gemm"]!);
  });

  it("clock: minutes and zero-padded seconds since a start", () => {
    const now = performance.now();
    expect(clock(now)).toBe("0:00");
    expect(clock(now - 61_500)).toBe("1:01");
    expect(clock(now - 600_000)).toBe("10:00");
  });

  it("rejects unknown suites and bad --threads", async () => {
    await expect(run(["nope"])).rejects.toThrow(UserError);
    await expect(run(["gemm", "--threads", "0"])).rejects.toThrow(/--threads/);
  });
});

describe("bestSeconds", () => {
  const sleep = (ms: number): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };

  it("times a call that outlasts the budget once after the warm-up (a slow device must not run 5+ calls)", () => {
    let calls = 0;
    const t = bestSeconds(() => { calls++; sleep(30); }, 0.02);
    expect(calls).toBe(2);
    expect(t.iters).toBe(1);
    expect(t.perCall).toBeGreaterThanOrEqual(0.029);
  });

  it("repeats a fast call in 3 rounds within the budget and keeps the best round", () => {
    let calls = 0;
    const t = bestSeconds(() => { calls++; sleep(2); }, 0.06);
    expect(t.iters).toBeGreaterThanOrEqual(1);
    expect(calls).toBe(2 + 3 * t.iters);
    expect(t.perCall).toBeGreaterThanOrEqual(0.0019);
    expect(t.perCall).toBeLessThan(0.02);
  });
});

describe("the overview's cases", () => {
  it("runs the 0.5B shape in bf16 only when no suite is named, both precisions otherwise and for model S", () => {
    const ctx = (overview: boolean): BenchContext => ({ backend: tsBackend, webgpu: null, peer: false, quick: false, only: null,
      threads: 1, overview, log: () => {}, note: () => {} });
    expect(benchDtypes(ctx(true), "qwen2.5-0.5b")).toEqual(["bf16"]);
    expect(benchDtypes(ctx(true), "S")).toEqual(["fp32", "bf16"]);
    expect(benchDtypes(ctx(false), "qwen2.5-0.5b")).toEqual(["fp32", "bf16"]);
  });
});
