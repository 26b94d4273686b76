/** status.json: the state of a run, readable by the dashboard while the run goes on. */
import * as path from "node:path";
import { readJson, writeJsonAtomic } from "../util/atomic.js";

export type RunState = "running" | "finished" | "crashed" | "stopped";

export interface RunStatus {
  state: RunState;
  pid: number;
  started: string; // ISO time
  updated: string; // ISO time
  step: number;
  total_steps: number;
  kind: "train" | "sft";
  task: string;
  model: string;
  algorithm?: string;
  error?: string;
}

export const statusPath = (runDir: string): string => path.join(runDir, "status.json");

export function writeStatus(runDir: string, status: RunStatus): void {
  writeJsonAtomic(statusPath(runDir), status);
}

/** Whether a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Reads status.json; a "running" state whose pid is gone reads as "crashed". null when absent/unreadable. */
export function readStatus(runDir: string, isAlive: (pid: number) => boolean = pidAlive): RunStatus | null {
  const s = readJson<RunStatus>(statusPath(runDir));
  if (s === null) return null;
  if (s.state === "running" && !isAlive(s.pid)) return { ...s, state: "crashed" };
  return s;
}
