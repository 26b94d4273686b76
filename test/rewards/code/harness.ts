/**
 * Test harness for the code sandbox: a cgroup of the test's own (pids + memory caps over everything
 * the tests start, when cgroup v1 is writable here) and checks that runs leave nothing behind.
 * AHA_TEST_CGROUPS=off makes the sandbox run without per-run cgroups (rlimits + per-run uid only), to
 * test that path; run it only inside an outer cgroup of your own.
 */
import { readdirSync, readFileSync } from "node:fs";
import { cgroupBases, createParentGroup } from "../../../src/rewards/code/cgroup.js";
import type { SandboxLimits, SandboxOptions } from "../../../src/rewards/code/sandbox.js";

const MiB = 1024 * 1024;

/** Small limits so the suite is fast and safe on a 2-core CI machine. */
export const TEST_LIMITS: Partial<SandboxLimits> = {
  wallMs: 2_000,
  cpuSeconds: 1,
  memoryBytes: 256 * MiB,
  maxProcesses: 16,
  maxOutputBytes: 64 * 1024,
  tmpfsBytes: 8 * MiB,
};

export interface TestGroup {
  options: SandboxOptions;
  close(): void;
}

/** Makes the test's own parent cgroup (200 processes, 1.5 GB over all its runs) if possible. */
export function openTestGroup(name: string): TestGroup {
  const groupName = `aha-test-${name}-${process.pid}`;
  const g = createParentGroup(groupName, 200, 1536 * MiB);
  const off = process.env.AHA_TEST_CGROUPS === "off";
  const options: SandboxOptions = { limits: TEST_LIMITS, ...(off ? { cgroups: "off" as const } : g ? { cgroupParent: groupName } : {}) };
  return {
    options,
    close: () => g?.remove(),
  };
}

/** Uids the sandbox hands out (see runUid in sandbox.ts). */
const SANDBOX_UID_MIN = 0x40000000;

/** Pids of live processes running as `uid` (any sandbox uid when omitted). */
export function sandboxProcesses(uid?: number | null): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${d}/status`, "utf8");
    } catch {
      continue;
    }
    // A zombie is dead: killed processes whose parents died with them are reparented to the host's
    // init, which may reap them a little later (this machine's init does so lazily).
    if (/^State:\s+Z/m.test(status)) continue;
    const u = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? "0");
    if (uid === undefined || uid === null ? u >= SANDBOX_UID_MIN : u === uid) out.push(Number(d));
  }
  return out;
}

/** Per-run cgroups of this process still present (should be none between runs). */
export function leftoverCgroups(): string[] {
  const b = cgroupBases();
  if (!b) return [];
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 2) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name.startsWith(`aha-${process.pid}-`)) out.push(`${dir}/${e.name}`);
      else if (e.name.startsWith("aha-test-")) walk(`${dir}/${e.name}`, depth + 1);
    }
  };
  walk(b.pids, 0);
  walk(b.memory, 0);
  if (b.cpu) walk(b.cpu, 0);
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
