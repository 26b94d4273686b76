/**
 * The bench suites, one per `aha bench <name>` subcommand. Add a suite: one file exporting a
 * BenchSuite and one line here. `aha bench` with no name runs DEFAULT_SUITES (the engine set).
 */
import type { BenchSuite } from "./types.js";

export const SUITES: Record<string, () => Promise<BenchSuite>> = {
  gemm: async () => (await import("./gemm.js")).gemmSuite,
  code: async () => (await import("../rewards/code/bench.js")).codeSuite,
};

/** What `aha bench` runs with no suite named. train and sample join once they are registered above. */
export const DEFAULT_SUITES = ["gemm", "train", "sample"].filter((s) => s in SUITES);

export type { BenchContext, BenchRow, BenchSuite } from "./types.js";
