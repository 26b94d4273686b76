/**
 * A run directory (docs/run-directory.md): config.json, status.json, metrics.jsonl, samples.jsonl,
 * summary.json, checkpoints/. All writes are atomic (temp + rename) or whole-line appends.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { readJson, writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { appendJsonl, readJsonl, truncateJsonlAfterStep } from "../util/jsonl.js";
import type { EpisodeRecord } from "../env/types.js";
import { pruneCheckpoints, saveCheckpoint, usableCheckpoint, type CheckpointState } from "./checkpoint.js";
import { readStatus, writeStatus, type RunState, type RunStatus } from "./status.js";

export interface MetricsRow {
  step: number;
  time: number; // seconds since the run started
  [key: string]: number;
}

export interface SampleRow {
  step: number;
  prompt: string;
  response: string;
  reward: number | null;
  parts: Record<string, number>;
  correct: boolean;
  extracted: string | null;
  length: number;
  truncated: boolean;
  /** The step whose weights sampled the response (0 = the base model's). */
  weight_version?: number;
  /** Multi-turn episodes: the model's and the environment's spans, the calls, the finish reason. */
  episode?: EpisodeRecord;
}

export interface Summary {
  base?: Record<string, number>;
  final?: Record<string, number>;
  steps: number;
  wall_seconds: number;
  [key: string]: unknown;
}

/** "2026-11-24T02-40-00-demo": a default run name, sortable by time. */
export function defaultRunName(label: string, date = new Date()): string {
  return `${date.toISOString().slice(0, 19).replace(/:/g, "-")}-${label.replace(/[^A-Za-z0-9._-]+/g, "-")}`;
}

export class RunDir {
  private status: RunStatus;

  private constructor(readonly dir: string, status: RunStatus) {
    this.status = status;
  }

  get metricsPath(): string {
    return path.join(this.dir, "metrics.jsonl");
  }
  get samplesPath(): string {
    return path.join(this.dir, "samples.jsonl");
  }

  /** Starts a new run: creates the folder (must not hold a run already), writes config.json and a running status. */
  static create(dir: string, config: Record<string, unknown>, info: Omit<RunStatus, "state" | "pid" | "started" | "updated" | "step">): RunDir {
    if (fs.existsSync(path.join(dir, "status.json"))) throw new Error(`${dir} already holds a run (use --resume to continue it)`);
    fs.mkdirSync(dir, { recursive: true });
    writeJsonAtomic(path.join(dir, "config.json"), config);
    const now = new Date().toISOString();
    const run = new RunDir(dir, { ...info, state: "running", pid: process.pid, started: now, updated: now, step: 0 });
    writeStatus(dir, run.status);
    return run;
  }

  /**
   * Reopens a run to resume it from its newest usable checkpoint (complete, state.json readable, every
   * safetensors file whole, `required` files present). A broken newer checkpoint is skipped with a
   * warning naming its file; when checkpoints exist but none is usable the error names them (nothing is
   * changed). Metrics and samples recorded after the checkpoint's step are redone by the resumed run:
   * they are moved to superseded/ (never deleted). The status becomes running with this pid.
   */
  static resume(dir: string, o: { warn?: (message: string) => void; required?: readonly string[] } = {}): { run: RunDir; config: Record<string, unknown>; checkpoint: { dir: string; name: string; state: CheckpointState } | null } {
    const status = readStatus(dir);
    const config = readJson<Record<string, unknown>>(path.join(dir, "config.json"));
    if (status === null || config === null) throw new Error(`${dir} is not a run directory (no status.json/config.json)`);
    if (status.state === "running" && status.pid !== process.pid && pidAlive(status.pid)) throw new Error(`${dir} is still running (pid ${status.pid})`);
    const { checkpoint, broken } = usableCheckpoint(dir, o.required ?? []);
    if (checkpoint === null && broken.length > 0)
      throw new Error(`no usable checkpoint in ${path.join(dir, "checkpoints")}: ${broken.map((b) => b.problem).join("; ")} (recorded metrics are kept; remove the broken checkpoint folder to start over from step 0)`);
    for (const b of broken) o.warn?.(`checkpoint ${b.name} is not usable (${b.problem}); resuming from ${checkpoint!.name} instead`);
    const step = checkpoint?.state.step ?? 0;
    const run = new RunDir(dir, { ...status, state: "running", pid: process.pid, updated: new Date().toISOString(), step });
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    for (const file of [run.metricsPath, run.samplesPath]) {
      const dropped = truncateJsonlAfterStep(file, step);
      if (dropped.length === 0) continue;
      const aside = path.join(dir, "superseded", `${path.basename(file, ".jsonl")}-after-step-${step}-${stamp}.jsonl`);
      fs.mkdirSync(path.dirname(aside), { recursive: true });
      writeFileAtomic(aside, dropped.map((r) => JSON.stringify(r) + "\n").join(""));
      if (file === run.metricsPath && broken.length > 0) o.warn?.(`${dropped.length} metrics rows after step ${step} will be redone; the recorded ones are kept in ${aside}`);
    }
    pruneCheckpoints(dir, 0); // removes leftovers of interrupted checkpoint writes
    delete run.status.error;
    writeStatus(dir, run.status);
    return { run, config, checkpoint };
  }

  appendMetrics(row: MetricsRow): void {
    const clean: Record<string, number> = {};
    for (const [k, v] of Object.entries(row)) if (typeof v === "number" && Number.isFinite(v)) clean[k] = v; // missing values are omitted, not null
    appendJsonl(this.metricsPath, clean);
  }

  appendSamples(rows: readonly SampleRow[]): void {
    for (const r of rows) appendJsonl(this.samplesPath, r);
  }

  readMetrics(): MetricsRow[] {
    return readJsonl<MetricsRow>(this.metricsPath).rows;
  }

  setStep(step: number): void {
    this.status = { ...this.status, step, updated: new Date().toISOString() };
    writeStatus(this.dir, this.status);
  }

  setState(state: RunState, error?: string): void {
    this.status = { ...this.status, state, updated: new Date().toISOString() };
    if (error !== undefined) this.status.error = error;
    writeStatus(this.dir, this.status);
  }

  getStatus(): RunStatus {
    return { ...this.status };
  }

  writeSummary(summary: Summary): void {
    writeJsonAtomic(path.join(this.dir, "summary.json"), summary);
  }

  saveCheckpoint(state: CheckpointState, write: (dir: string) => Promise<void> | void, keep = 0): Promise<string> {
    return saveCheckpoint(this.dir, state, write, keep);
  }
}

/** Whether a process with this pid exists (a crashed run's status still says "running"). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
