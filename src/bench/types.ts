/**
 * `aha bench`: figures side by side with a peer (PyTorch on the same machine, scripts/peer_bench.py).
 * A suite is one subcommand (`aha bench gemm`, `aha bench train`, …) and returns rows; the JSON file
 * written by `--json` is { machine, rows }.
 */
import type { Backend } from "../kernels/backend.js";

export interface BenchRow {
  /** the suite: "gemm" | "train" | "sample" | … */
  what: string;
  /** the shape or model, e.g. "4096x256x768" (M×K×N) or "S" */
  case: string;
  dtype: string;
  aha: number;
  /** the peer's figure for the same work, null when the peer is unavailable */
  peer: number | null;
  unit: string;
  /** optional extra figures (e.g. raw oneDNN for gemm, peak memory for train) */
  [extra: string]: string | number | null;
}

export interface BenchContext {
  backend: Backend;
  /**
   * The webgpu backend, reported beside `backend` (extra `webgpu` figures in gemm and train) when the
   * optional `webgpu` package is installed and Dawn starts; null with --no-webgpu or without it.
   */
  webgpu: Backend | null;
  /** false with --no-peer: do not run PyTorch */
  peer: boolean;
  /**
   * `aha bench` with no suite named (the overview, ≤ 10 minutes on 2 cores): suites may trim their
   * slowest cases (the 0.5B shape runs bf16 only); a named suite runs in full
   */
  overview?: boolean;
  /** --quick: fewer repetitions and only the small cases (smoke tests; figures are noisier) */
  quick: boolean;
  /** --profile: the train and sample suites print where the time goes, per op (src/bench/profile.ts) */
  profile?: boolean;
  /** --only a,b: run only these cases (gemm shapes "MxKxN", model names "S", "qwen2.5-0.5b"); null = all */
  only: string[] | null;
  /** OpenMP threads for aha, and the peer's thread count */
  threads: number;
  /** progress lines for the human (stderr) */
  log(line: string): void;
  /** notes that end up in the JSON's machine.notes (e.g. "torch missing: peer is null") */
  note(line: string): void;
}

export interface BenchSuite {
  summary: string;
  run(ctx: BenchContext): Promise<BenchRow[]>;
}
