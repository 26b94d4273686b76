// The sampling bench's machine-limit bound, worked by hand on a tiny model, and the suite run on model S.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { decodeBound, gradeRuns } from "../../src/bench/sample.js";
import { run } from "../../src/cli/bench.js";
import { parseHfConfig } from "../../src/model/config.js";

// 1 layer, C = 2, one head of D = 2 (so KD = 2), I = 2, V = 4:
// weights W = 2·C·HD + 2·C·KD + 3·C·I + V·C = 8 + 8 + 12 + 8 = 36 (body 28), attention 4·Hq·D·layers = 8 flops per position
const cfg = parseHfConfig({ architectures: ["LlamaForCausalLM"], vocab_size: 4, hidden_size: 2, intermediate_size: 2,
  num_hidden_layers: 1, num_attention_heads: 1, num_key_value_heads: 1, tie_word_embeddings: false }, "tiny/config.json");

describe("decodeBound", () => {
  it("one prompt token, one decoding step, fp32, 1 GFLOP/s and 1 GB/s (hand-worked)", () => {
    // prefill: bytes 36·4 = 144 → 144 ns; flops 2·28 + 2·4·2 + 8·1 = 80 → 80 ns: 144 ns
    // step 1 (len 2): bytes 144 + 2 positions · (k + v) 2·2 values · 4 bytes = 176 → 176 ns; flops 2·36 + 2·8 = 88 → 88 ns
    const b = decodeBound(cfg, 1, 1, 2, 4, 1, 1);
    expect(b.seconds).toBeCloseTo(320e-9, 15);
    expect(b.bound).toBe("bandwidth");
  });
  it("many sequences make a step compute-bound", () => {
    // 100 sequences, bf16, step 1: bytes 72 + 100·2·4·2 = 1672 → 1672 ns at 1 GB/s; flops 100·(72 + 16) = 8800 → 8800 ns
    const b = decodeBound(cfg, 100, 1, 2, 2, 1, 1);
    expect(b.bound).toBe("compute");
    // prefill: bytes 72 → 72 ns; flops 100·(56 + 16 + 8) = 8000 → 8000 ns
    expect(b.seconds).toBeCloseTo((8000 + 8800) * 1e-9, 15);
  });
});

describe("gradeRuns", () => {
  it("each run against the limits measured around it (hand-worked)", () => {
    // one prompt token, one step, fp32: 144 ns + 176 ns at 1 GB/s (compute: 80 + 88 ns at 1 GFLOP/s)
    const slowHost = { fp32Gflops: 1, bf16Gflops: 1, readGBs: 1 };
    // at 2 GB/s the bytes take 72 + 88 ns; compute still 80 + 88 ns: the prefill becomes compute-bound (80)
    const fastHost = { fp32Gflops: 1, bf16Gflops: 1, readGBs: 2 };
    const g = gradeRuns(cfg, 1, 1, 2, false, [{ secs: 640e-9, limits: slowHost }, { secs: 336e-9, limits: fastHost }]);
    expect(g.map((x) => x.share)).toEqual([expect.closeTo(0.5, 12), expect.closeTo(0.5, 12)]); // 320/640, (80 + 88)/336
    expect(g[0]!.limit).toBeCloseTo(2 / 320e-9, 0); // 2 tokens in the least time
    expect(g[1]!.limit).toBeCloseTo(2 / 168e-9, 0);
    expect(g.map((x) => x.readGBs)).toEqual([1, 2]);
    // the same time on the faster host is a smaller share
    expect(gradeRuns(cfg, 1, 1, 2, false, [{ secs: 640e-9, limits: fastHost }])[0]!.share).toBeCloseTo(168 / 640, 12);
    // bf16: 2 bytes a value, the bf16 peak
    const bf = gradeRuns(cfg, 1, 1, 2, true, [{ secs: 1e-6, limits: { fp32Gflops: 1, bf16Gflops: 4, readGBs: 1 } }])[0]!;
    expect(bf.share).toBeCloseTo((72 + 88) * 1e-9 / 1e-6, 12); // prefill 72 ns of bytes, step 72 + 16 bytes
    expect(bf.bound).toBe("bandwidth");
  });
});

describe("aha bench sample (model S, quick)", () => {
  afterEach(() => vi.restoreAllMocks());
  it("runs warm-up, timed and profiled generations on one kept sampler and grades the timed run", async () => {
    const log: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((x) => { log.push(String(x)); return true; });
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const dir = mkdtempSync(path.join(tmpdir(), "aha-bench-sample-"));
    try {
      const file = path.join(dir, "s.json");
      // --profile: a third generation (16 new tokens) on the case's sampler after the timed one
      expect(await run(["sample", "--quick", "--no-peer", "--no-webgpu", "--profile", "--only", "S", "--json", file])).toBe(0);
      const rows = (JSON.parse(readFileSync(file, "utf8")) as { rows: Array<Record<string, unknown>> }).rows;
      const cases = rows.filter((r) => r["case"] === "S 16x16");
      expect(cases.map((r) => r["dtype"])).toEqual(["fp32", "bf16"]);
      for (const r of cases) {
        expect(r["aha"]).toBeGreaterThan(0);
        expect(r["share"]).toBeGreaterThan(0); // the native addon's limits (CI builds it)
        expect(String(r["runShares"]).split(" ")).toHaveLength(1);
      }
      expect(log.join("")).toMatch(/profile sample S 16x16 bf16/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
