/**
 * What the dashboard knows about a runs directory (docs/run-directory.md): which folders are training
 * runs and which are `aha eval` outputs, a run's effective status, its samples and an eval's results,
 * normalized into plain shapes the web app can trust (types checked here, once).
 *
 * Every path handed in is relative to the runs directory and goes through resolveInside() first.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { JsonlCache, readJsonlFrom, type JsonlChunk, type Row } from "./jsonl.js";
import { resolveInside } from "./safe-path.js";

/**
 * A "running" run whose status.json and metrics.jsonl have not changed for this long reads as crashed:
 * the trainer rewrites status.json every step, and even a slow CPU step of a 7B model with long
 * responses stays well under 30 minutes.
 */
export const STALE_AFTER_MS = 30 * 60 * 1000;
/** Points in the runs list's accuracy sparkline. */
export const SPARK_POINTS = 48;

/** Averages `xs` into at most `n` equal buckets, in order. */
export function downsample(xs: number[], n: number): number[] {
  if (xs.length <= n) return xs.map((x) => Math.round(x * 1e4) / 1e4);
  const out: number[] = [];
  for (let b = 0; b < n; b++) {
    const lo = Math.floor((b * xs.length) / n);
    const hi = Math.floor(((b + 1) * xs.length) / n);
    let s = 0;
    for (let i = lo; i < hi; i++) s += xs[i] ?? 0;
    out.push(Math.round((s / Math.max(1, hi - lo)) * 1e4) / 1e4);
  }
  return out;
}

/** Largest JSON file (config.json, summary.json, status.json) read whole. */
const MAX_JSON_BYTES = 8 * 1024 * 1024;

export type RunState = "running" | "finished" | "crashed" | "stopped" | "unknown";

export interface RunInfo {
  /** Path relative to the runs directory ("" when the runs directory is itself one run). */
  path: string;
  name: string;
  kind: string;
  status: RunState;
  /** Why a "running" status.json reads as crashed. */
  status_note: string | null;
  task: string | null;
  model: string | null;
  algorithm: string | null;
  step: number | null;
  total_steps: number | null;
  best_accuracy: number | null;
  last_accuracy: number | null;
  started: string | null;
  updated: string | null;
  error: string | null;
  has_summary: boolean;
  metrics_rows: number;
  /** accuracy over the run, averaged into at most SPARK_POINTS buckets (the runs list's sparkline). */
  spark: number[];
  evals: string[];
}

export interface EvalInfo {
  path: string;
  name: string;
  /** The training run it belongs to (runs/<run>/eval/<name>), or null for a standalone output. */
  parent: string | null;
  model: string | null;
  task: string | null;
  questions: number | null;
  samples: number | null;
  pass1: number | null;
}

/** A multi-turn episode as the dashboard shows it (samples.jsonl's `episode`, read defensively). */
export interface EpisodeView {
  /** The response in order: the model's text and the environment's (a call's result). */
  spans: { kind: "model" | "env"; text: string }[];
  calls: { name: string; input: string; output: string; error: string | null }[];
  finish: string;
  detail: string | null;
  turns: number | null;
}

export interface Sample {
  episode: EpisodeView | null;
  step: number;
  prompt: string;
  response: string;
  reward: number | null;
  parts: Record<string, number>;
  correct: boolean | null;
  extracted: string | null;
  length: number | null;
  truncated: boolean;
}

export interface EvalSample {
  episode: EpisodeView | null;
  response: string;
  extracted: string | null;
  correct: boolean | null;
  length: number | null;
  truncated: boolean;
}

export interface EvalResult {
  index: number;
  id: string;
  question: string;
  answer: string;
  category: string | null;
  pass1: number | null;
  /** Before filtering: how many samples the question has, and how many are correct. */
  n_samples: number;
  n_correct: number;
  samples: EvalSample[];
}

export type Verdict = "all" | "correct" | "incorrect";

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const text = (v: unknown): string => (typeof v === "string" ? v : v === undefined || v === null ? "" : JSON.stringify(v));
const bool = (v: unknown): boolean | null => (typeof v === "boolean" ? v : null);

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Reads a JSON object file; null when missing or not a JSON object (a file mid-rename is retried by the caller's next poll). */
export async function readJsonObject(file: string): Promise<Row | null> {
  try {
    const st = await stat(file);
    if (!st.isFile() || st.size > MAX_JSON_BYTES) return null;
    const v: unknown = JSON.parse(await readFile(file, "utf8"));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Row) : null;
  } catch {
    return null;
  }
}

/** True when a process with this pid exists on this machine (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The status to show: a "running" state whose process is gone, or that stopped updating, is crashed. */
export function effectiveState(
  state: unknown,
  pid: unknown,
  lastWriteMs: number,
  nowMs: number,
  alive: (pid: number) => boolean = pidAlive,
): { status: RunState; note: string | null } {
  const s = state === "running" || state === "finished" || state === "crashed" || state === "stopped" ? state : "unknown";
  if (s !== "running") return { status: s, note: null };
  if (typeof pid === "number" && Number.isInteger(pid) && pid > 0 && !alive(pid)) {
    return { status: "crashed", note: `process ${pid} is gone` };
  }
  if (nowMs - lastWriteMs > STALE_AFTER_MS) {
    const min = Math.round((nowMs - lastWriteMs) / 60000);
    return { status: "crashed", note: `no update for ${min >= 120 ? `${Math.round(min / 60)} h` : `${min} min`}` };
  }
  return { status: "running", note: null };
}

export class RunsDir {
  private readonly cache = new JsonlCache();
  constructor(readonly rootReal: string, private readonly now: () => number = Date.now) {}

  resolve(rel: string): Promise<string> {
    return resolveInside(this.rootReal, rel);
  }

  /** A file inside a run folder, checked like any other path (a symlinked metrics.jsonl must stay inside). */
  private async fileIn(rel: string, name: string): Promise<string | null> {
    try {
      return await this.resolve(rel === "" ? name : `${rel}/${name}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
  }

  private async isRunDir(abs: string): Promise<boolean> {
    for (const f of ["status.json", "metrics.jsonl", "config.json"]) if (await exists(join(abs, f))) return true;
    return false;
  }

  private async isEvalDir(abs: string): Promise<boolean> {
    return (await exists(join(abs, "summary.json"))) && (await exists(join(abs, "results.jsonl")));
  }

  /** The runs and eval outputs one level down (and the root itself when it is a run). */
  async list(): Promise<{ runs: RunInfo[]; evals: EvalInfo[] }> {
    const runs: RunInfo[] = [];
    const evals: EvalInfo[] = [];
    const candidates: string[] = [];
    if (await this.isRunDir(this.rootReal)) candidates.push("");
    else {
      const entries = await readdir(this.rootReal, { withFileTypes: true });
      for (const e of entries) if (e.isDirectory() || e.isSymbolicLink()) candidates.push(e.name);
    }
    candidates.sort();
    for (const rel of candidates) {
      let abs: string;
      try {
        abs = await this.resolve(rel);
        if (!(await stat(abs)).isDirectory()) continue;
      } catch {
        continue; // a symlink out of the runs directory, or a dangling one: not listed
      }
      if (await this.isRunDir(abs)) {
        const info = await this.runInfo(rel);
        runs.push(info);
        for (const ev of info.evals) {
          const e = await this.evalInfo(ev).catch(() => null);
          if (e) evals.push(e);
        }
      } else if (await this.isEvalDir(abs)) {
        const e = await this.evalInfo(rel).catch(() => null);
        if (e) evals.push(e);
      }
    }
    return { runs, evals };
  }

  async runInfo(rel: string): Promise<RunInfo> {
    const abs = await this.resolve(rel);
    const statusFile = await this.fileIn(rel, "status.json");
    const metricsFile = await this.fileIn(rel, "metrics.jsonl");
    const st = statusFile ? await readJsonObject(statusFile) : null;
    const metrics = metricsFile ? await this.cache.rows(metricsFile) : [];
    let lastWrite = 0;
    for (const f of [statusFile, metricsFile]) if (f) lastWrite = Math.max(lastWrite, (await stat(f)).mtimeMs);
    const updated = str(st?.updated);
    if (updated && Number.isFinite(Date.parse(updated))) lastWrite = Math.max(lastWrite, Date.parse(updated));
    const { status, note } = st ? effectiveState(st.state, st.pid, lastWrite, this.now()) : { status: "unknown" as const, note: null };
    let best: number | null = null;
    let last: number | null = null;
    let lastStep: number | null = null;
    const accs: number[] = [];
    for (const m of metrics) {
      const a = num(m.accuracy);
      if (a !== null) {
        accs.push(a);
        best = best === null ? a : Math.max(best, a);
        last = a;
      }
      const s = num(m.step);
      if (s !== null) lastStep = lastStep === null ? s : Math.max(lastStep, s);
    }
    const evals: string[] = [];
    const evalRoot = await this.fileIn(rel, "eval");
    if (evalRoot && (await stat(evalRoot)).isDirectory()) {
      for (const e of (await readdir(evalRoot, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
        const evRel = rel === "" ? `eval/${e}` : `${rel}/eval/${e}`;
        try {
          if (await this.isEvalDir(await this.resolve(evRel))) evals.push(evRel);
        } catch {
          /* refused or vanished: not listed */
        }
      }
    }
    const stepFromStatus = num(st?.step);
    return {
      path: rel,
      name: rel === "" ? basename(abs) : rel,
      kind: str(st?.kind) ?? (metrics.some((m) => "loss" in m && !("reward/mean" in m)) ? "sft" : "train"),
      status,
      status_note: note,
      task: str(st?.task),
      model: str(st?.model),
      algorithm: str(st?.algorithm),
      step: lastStep !== null && stepFromStatus !== null ? Math.max(lastStep, stepFromStatus) : (lastStep ?? stepFromStatus),
      total_steps: num(st?.total_steps),
      best_accuracy: best,
      last_accuracy: last,
      started: str(st?.started),
      updated: updated ?? (lastWrite > 0 ? new Date(lastWrite).toISOString() : null),
      error: str(st?.error),
      has_summary: (await this.fileIn(rel, "summary.json")) !== null,
      metrics_rows: metrics.length,
      spark: downsample(accs, SPARK_POINTS),
      evals,
    };
  }

  async config(rel: string): Promise<Row | null> {
    const f = await this.fileIn(rel, "config.json");
    return f ? readJsonObject(f) : null;
  }

  async summary(rel: string): Promise<Row | null> {
    const f = await this.fileIn(rel, "summary.json");
    return f ? readJsonObject(f) : null;
  }

  /** metrics.jsonl from byte `since` on (the live view asks only for what was appended). */
  async metrics(rel: string, since: number): Promise<JsonlChunk> {
    await this.resolve(rel);
    const f = await this.fileIn(rel, "metrics.jsonl");
    return f ? readJsonlFrom(f, since) : { rows: [], offset: 0, skipped: 0 };
  }

  /** Identity of metrics.jsonl: a resumed run rewrites it (truncated to its checkpoint) under a new inode. */
  async metricsIdentity(rel: string): Promise<{ ino: number; size: number } | null> {
    const f = await this.fileIn(rel, "metrics.jsonl");
    if (!f) return null;
    const st = await stat(f);
    return { ino: st.ino, size: st.size };
  }

  async samples(rel: string): Promise<Sample[]> {
    await this.resolve(rel);
    const f = await this.fileIn(rel, "samples.jsonl");
    if (!f) return [];
    return (await this.cache.rows(f)).map(normalizeSample).filter((s): s is Sample => s !== null);
  }

  /**
   * Samples of one step (or of every step when `step` is null and a query is given), filtered by
   * verdict and by a case-insensitive text query; with the steps that have samples and, for a query,
   * how many samples match at each step.
   */
  async querySamples(
    rel: string,
    q: { step: number | null; verdict: Verdict; text: string; limit: number },
  ): Promise<{ steps: number[]; step: number | null; total: number; samples: Sample[]; matches: Record<string, number> }> {
    const all = await this.samples(rel);
    const steps = [...new Set(all.map((s) => s.step))].sort((a, b) => a - b);
    const needle = q.text.toLowerCase();
    const keep = (s: Sample): boolean =>
      (q.verdict === "all" || (q.verdict === "correct" ? s.correct === true : s.correct !== true)) &&
      (needle === "" || s.response.toLowerCase().includes(needle) || s.prompt.toLowerCase().includes(needle) || (s.extracted ?? "").toLowerCase().includes(needle));
    const matches: Record<string, number> = {};
    if (needle !== "" || q.verdict !== "all") for (const s of all) if (keep(s)) matches[String(s.step)] = (matches[String(s.step)] ?? 0) + 1;
    let step = q.step;
    if (step === null && needle === "") step = steps.length > 0 ? (steps[steps.length - 1] ?? null) : null;
    if (step !== null && !steps.includes(step)) {
      // The nearest step that has samples (a chart click lands on any step).
      let best: number | null = null;
      for (const s of steps) if (best === null || Math.abs(s - step) < Math.abs(best - step)) best = s;
      step = best;
    }
    const picked = all.filter((s) => (step === null || s.step === step) && keep(s));
    return { steps, step, total: picked.length, samples: picked.slice(0, q.limit), matches };
  }

  async evalInfo(rel: string): Promise<EvalInfo> {
    const abs = await this.resolve(rel);
    const s = (await readJsonObject(join(abs, "summary.json"))) ?? {};
    const m = /^(.*)\/eval\/[^/]+$/.exec(rel);
    return {
      path: rel,
      name: rel,
      parent: m ? (m[1] ?? null) : null,
      model: str(s.model),
      task: str(s.task),
      questions: num(s.questions),
      samples: num(s.samples),
      pass1: num(s["pass@1"]),
    };
  }

  async evalSummary(rel: string): Promise<Row | null> {
    const f = await this.fileIn(rel, "summary.json");
    return f ? readJsonObject(f) : null;
  }

  async evalResults(
    rel: string,
    q: { verdict: Verdict; text: string; category: string | null; offset: number; limit: number },
  ): Promise<{ total: number; categories: string[]; results: EvalResult[] }> {
    await this.resolve(rel);
    const f = await this.fileIn(rel, "results.jsonl");
    const rows = f ? await this.cache.rows(f) : [];
    const all = rows.map(normalizeEvalResult);
    const categories = [...new Set(all.map((r) => r.category).filter((c): c is string => c !== null))].sort();
    const needle = q.text.toLowerCase();
    const verdictOk = (s: EvalSample): boolean => q.verdict === "all" || (q.verdict === "correct" ? s.correct === true : s.correct !== true);
    const out: EvalResult[] = [];
    for (const r of all) {
      if (q.category !== null && r.category !== q.category) continue;
      let samples = r.samples.filter(verdictOk);
      if (needle !== "") {
        const questionHit = r.question.toLowerCase().includes(needle) || r.id.toLowerCase().includes(needle);
        if (!questionHit) samples = samples.filter((s) => s.response.toLowerCase().includes(needle));
        if (!questionHit && samples.length === 0) continue;
      }
      if (q.verdict !== "all" && samples.length === 0) continue;
      out.push({ ...r, samples });
    }
    return { total: out.length, categories, results: out.slice(q.offset, q.offset + q.limit) };
  }
}

/** samples.jsonl's `episode` → what the page shows (null when absent or not an object). */
export function normalizeEpisode(v: unknown): EpisodeView | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
  const e = v as Row;
  const rows = (x: unknown): Row[] => (Array.isArray(x) ? x.filter((y): y is Row => y !== null && typeof y === "object" && !Array.isArray(y)) : []);
  return {
    spans: rows(e.spans).map((s) => ({ kind: s.kind === "env" ? "env" : "model", text: text(s.text) })),
    calls: rows(e.calls).map((c) => ({ name: text(c.name), input: typeof c.input === "object" && c.input !== null ? JSON.stringify(c.input) : text(c.input), output: text(c.output), error: str(c.error) })),
    finish: text(e.finish),
    detail: str(e.detail),
    turns: num(e.turns),
  };
}

export function normalizeSample(r: Row): Sample | null {
  const step = num(r.step);
  if (step === null) return null;
  const parts: Record<string, number> = {};
  if (r.parts && typeof r.parts === "object" && !Array.isArray(r.parts)) {
    for (const [k, v] of Object.entries(r.parts as Row)) {
      const n = num(v);
      if (n !== null) parts[k] = n;
    }
  }
  return {
    step,
    prompt: text(r.prompt),
    response: text(r.response),
    reward: num(r.reward),
    parts,
    correct: bool(r.correct),
    extracted: r.extracted === null || r.extracted === undefined ? null : text(r.extracted),
    length: num(r.length),
    truncated: r.truncated === true,
    episode: normalizeEpisode(r.episode),
  };
}

function normalizeEvalResult(r: Row, index: number): EvalResult {
  const samples = Array.isArray(r.samples) ? r.samples : [];
  const correct = samples.filter((s) => s !== null && typeof s === "object" && (s as Row).correct === true).length;
  return {
    n_samples: samples.length,
    n_correct: correct,
    index,
    id: r.id === undefined ? String(index) : text(r.id),
    question: text(r.question),
    answer: text(r.answer),
    category: str(r.category),
    pass1: num(r["pass@1"]),
    samples: samples
      .filter((s): s is Row => s !== null && typeof s === "object" && !Array.isArray(s))
      .map((s) => ({
        response: text(s.response),
        extracted: s.extracted === null || s.extracted === undefined ? null : text(s.extracted),
        correct: bool(s.correct),
        length: num(s.length),
        truncated: s.truncated === true,
        episode: normalizeEpisode(s.episode),
      })),
  };
}
