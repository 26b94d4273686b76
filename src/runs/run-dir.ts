/**
 * A run directory (docs/run-directory.md): config.json, status.json, metrics.jsonl, samples.jsonl,
 * summary.json, checkpoints/. All writes are atomic (temp + rename) or whole-line appends.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { readJson, writeJsonAtomic } from "../util/atomic.js";
import { appendJsonl, readJsonl, truncateJsonlAfterStep } from "../util/jsonl.js";
import { latestCheckpoint, pruneCheckpoints, saveCheckpoint, type CheckpointState } from "./checkpoint.js";
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
   * Reopens a run to resume it from its latest complete checkpoint: metrics/samples after that step are
   * dropped (they will be redone), the status becomes running with this pid. Returns the checkpoint too.
   */
  static resume(dir: string): { run: RunDir; config: Record<string, unknown>; checkpoint: ReturnType<typeof latestCheckpoint> } {
    const status = readStatus(dir);
    const config = readJson<Record<string, unknown>>(path.join(dir, "config.json"));
    if (status === null || config === null) throw new Error(`${dir} is not a run directory (no status.json/config.json)`);
    if (status.state === "running" && status.pid !== process.pid) throw new Error(`${dir} is still running (pid ${status.pid})`);
    const checkpoint = latestCheckpoint(dir);
    const step = checkpoint?.state.step ?? 0;
    const run = new RunDir(dir, { ...status, state: "running", pid: process.pid, updated: new Date().toISOString(), step });
    truncateJsonlAfterStep(run.metricsPath, step);
    truncateJsonlAfterStep(run.samplesPath, step);
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
