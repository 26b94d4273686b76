/**
 * Checkpoints: `checkpoints/step-<N>/` holds the model folder (HF or PEFT adapter), optimizer.safetensors
 * and state.json (step, RNG states, data cursor, anything else the trainer needs to resume exactly).
 *
 * Order of writes (so `kill -9` at any moment leaves a resumable run):
 *   1. everything goes into `checkpoints/step-<N>.tmp-<pid>/` (the caller's writer + state.json), fsynced;
 *   2. that folder is renamed to `step-<N>/` (replacing an older one of the same step);
 *   3. `checkpoints/latest` (a file holding the folder's name) is written atomically, last.
 * A checkpoint is complete only when `latest` names it; leftovers of interrupted writes are removed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { SafetensorsFile } from "../formats/safetensors.js";
import { fsyncDir, readJson, tmpName, writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";

export interface CheckpointState {
  step: number;
  [key: string]: unknown;
}

export const checkpointsDir = (runDir: string): string => path.join(runDir, "checkpoints");
export const checkpointName = (step: number): string => `step-${step}`;

function fsyncTree(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) fsyncTree(p);
    else if (e.isFile()) {
      const fd = fs.openSync(p, "r");
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
  }
  fsyncDir(dir);
}

/**
 * Saves a checkpoint. `write(dir)` writes the model and optimizer files into `dir` (a temp folder);
 * `state` becomes state.json. Returns the final folder. Keeps the newest `keep` checkpoints (0 = all).
 */
export async function saveCheckpoint(runDir: string, state: CheckpointState, write: (dir: string) => Promise<void> | void, keep = 0): Promise<string> {
  const root = checkpointsDir(runDir);
  fs.mkdirSync(root, { recursive: true });
  const name = checkpointName(state.step);
  const final = path.join(root, name);
  const tmp = tmpName(final);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  await write(tmp);
  writeJsonAtomic(path.join(tmp, "state.json"), state);
  fsyncTree(tmp);
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(tmp, final);
  fsyncDir(root);
  writeFileAtomic(path.join(root, "latest"), name + "\n");
  if (keep > 0) pruneCheckpoints(runDir, keep);
  return final;
}

/** The checkpoint `latest` names (null when there is none or it is unreadable; see usableCheckpoint). */
export function latestCheckpoint(runDir: string): { dir: string; name: string; state: CheckpointState } | null {
  const name = latestName(runDir);
  if (name === null) return null;
  const dir = path.join(checkpointsDir(runDir), name);
  const state = readJson<CheckpointState>(path.join(dir, "state.json"));
  if (state === null || typeof state.step !== "number") return null;
  return { dir, name, state };
}

function latestName(runDir: string): string | null {
  let name: string;
  try {
    name = fs.readFileSync(path.join(checkpointsDir(runDir), "latest"), "utf8").trim();
  } catch {
    return null;
  }
  return /^step-\d+$/.test(name) ? name : null;
}

/** Renamed (complete) checkpoint folders, newest first. */
export function listCheckpoints(runDir: string): { dir: string; name: string; step: number }[] {
  const root = checkpointsDir(runDir);
  if (!fs.existsSync(root)) return [];
  const out: { dir: string; name: string; step: number }[] = [];
  for (const e of fs.readdirSync(root, { withFileTypes: true })) {
    const m = e.isDirectory() ? /^step-(\d+)$/.exec(e.name) : null;
    if (m) out.push({ dir: path.join(root, e.name), name: e.name, step: Number(m[1]) });
  }
  return out.sort((a, b) => b.step - a.step);
}

/**
 * What is wrong with a checkpoint folder, or null: state.json must parse with a numeric step, and every
 * safetensors file in it (the model folder, optimizer.safetensors) must have a readable header whose
 * tensors fit the file (a truncated file is named here, before anything is loaded).
 */
export function checkpointProblem(dir: string, required: readonly string[] = []): string | null {
  const stateFile = path.join(dir, "state.json");
  let state: unknown;
  try {
    state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
  } catch (e) {
    return `${stateFile}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "missing" : `unreadable (${(e as Error).message})`}`;
  }
  if (typeof (state as { step?: unknown } | null)?.step !== "number") return `${stateFile}: no step number`;
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".safetensors")) files.push(p);
    }
  };
  walk(dir);
  for (const r of required) if (!fs.existsSync(path.join(dir, r))) return `${path.join(dir, r)}: missing`;
  for (const f of files) {
    try {
      SafetensorsFile.open(f).close();
    } catch (e) {
      return (e as Error).message.includes(f) ? (e as Error).message : `${f}: ${(e as Error).message}`;
    }
  }
  return null;
}

/**
 * The checkpoint to resume from: the one `latest` names, or when it is broken the newest older one that
 * passes `checkpointProblem`. Broken ones (newer than it) are returned too, so the caller can name them.
 */
export function usableCheckpoint(runDir: string, required: readonly string[] = []): { checkpoint: { dir: string; name: string; state: CheckpointState } | null; broken: { name: string; problem: string }[] } {
  const broken: { name: string; problem: string }[] = [];
  // `latest` is written last: a folder newer than the one it names was not committed (a kill between the
  // rename and `latest`); it is not used. Without a readable `latest`, every renamed folder is a candidate.
  const named = latestName(runDir);
  const upTo = named === null ? Infinity : Number(named.slice("step-".length));
  for (const c of listCheckpoints(runDir).filter((x) => x.step <= upTo)) {
    const problem = checkpointProblem(c.dir, required);
    if (problem === null) return { checkpoint: { dir: c.dir, name: c.name, state: readJson<CheckpointState>(path.join(c.dir, "state.json"))! }, broken };
    broken.push({ name: c.name, problem });
  }
  return { checkpoint: null, broken };
}

/** Removes temp folders of interrupted writes and checkpoints other than the newest `keep` (never `latest`'s). */
export function pruneCheckpoints(runDir: string, keep: number): void {
  const root = checkpointsDir(runDir);
  if (!fs.existsSync(root)) return;
  const latest = latestCheckpoint(runDir)?.name;
  const complete: { name: string; step: number }[] = [];
  for (const e of fs.readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory()) {
      if (/\.tmp-\d+$/.test(e.name)) fs.rmSync(path.join(root, e.name), { force: true });
      continue;
    }
    const m = /^step-(\d+)$/.exec(e.name);
    if (m) complete.push({ name: e.name, step: Number(m[1]) });
    else if (/\.tmp-\d+$/.test(e.name)) fs.rmSync(path.join(root, e.name), { recursive: true, force: true });
  }
  complete.sort((a, b) => b.step - a.step);
  const keepSet = new Set(complete.slice(0, Math.max(keep, 0) || complete.length).map((c) => c.name));
  if (latest) keepSet.add(latest);
  for (const c of complete) if (!keepSet.has(c.name)) fs.rmSync(path.join(root, c.name), { recursive: true, force: true });
}
