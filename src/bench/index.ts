/**
 * The bench suites, one per `aha bench <name>` subcommand. Add a suite: one file exporting a
 * BenchSuite and one line here. `aha bench` with no name runs DEFAULT_SUITES (the engine set).
 */
import type { BenchSuite } from "./types.js";

export const SUITES: Record<string, () => Promise<BenchSuite>> = {
  gemm: async () => (await import("./gemm.js")).gemmSuite,
  train: async () => (await import("./model.js")).trainSuite,
  sample: async () => (await import("./sample.js")).sampleSuite,
  code: async () => (await import("./code.js")).codeSuite,
  verify: async () => (await import("./verify.js")).verifySuite,
  serve: async () => (await import("./serve.js")).serveSuite,
  rl: async () => (await import("./rl.js")).rlSuite,
  lora: async () => (await import("./lora.js")).loraSuite,
};

/** What `aha bench` runs with no suite named: the engine set. */
export const DEFAULT_SUITES = ["gemm", "train", "sample"].filter((s) => s in SUITES);

export type { BenchContext, BenchRow, BenchSuite } from "./types.js";
