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

/** The newest complete checkpoint (the one `latest` names), or null. */
export function latestCheckpoint(runDir: string): { dir: string; name: string; state: CheckpointState } | null {
  const root = checkpointsDir(runDir);
  let name: string;
  try {
    name = fs.readFileSync(path.join(root, "latest"), "utf8").trim();
  } catch {
    return null;
  }
  if (!/^step-\d+$/.test(name)) return null;
  const dir = path.join(root, name);
  const state = readJson<CheckpointState>(path.join(dir, "state.json"));
  if (state === null || typeof state.step !== "number") return null;
  return { dir, name, state };
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
