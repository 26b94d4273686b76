/**
 * Per-run cgroups (cgroup v1 `pids` + `memory`, and `cpu` where mounted), the sandbox's defence in
 * depth: a hard cap on the number of processes and on the memory of everything a program starts,
 * counted together, a CPU quota (so a program's threads cannot starve the trainer), and a way to find
 * and kill every process of a run. Used when both controllers are mounted at /sys/fs/cgroup/<c>
 * and writable (we run as root); otherwise the sandbox relies on rlimits + a per-run uid alone.
 *
 * Each run gets `<our own cgroup>/<parent?>/aha-<pid>-<seq>` in both hierarchies, removed afterwards.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = "/sys/fs/cgroup";
const CONTROLLERS = ["pids", "memory"] as const;
type Controller = (typeof CONTROLLERS)[number] | "cpu";

/** Our own cgroup path in a v1 hierarchy, from /proc/self/cgroup ("4:memory:/a/b" → "/a/b"). */
function ownPath(controller: Controller): string | null {
  let text: string;
  try {
    text = readFileSync("/proc/self/cgroup", "utf8");
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const [, names, path] = line.split(":");
    if (names !== undefined && path !== undefined && names.split(",").includes(controller)) return path;
  }
  return null;
}

interface Bases {
  pids: string;
  memory: string;
  cpu: string | null; // optional: the CPU quota is skipped without it
}

let probed: Bases | null | undefined;

/**
 * The directories under which per-run cgroups are made (our own cgroup in each hierarchy), or null
 * when v1 pids+memory cgroups are not usable here (not mounted, or not writable: not root).
 */
export function cgroupBases(): Bases | null {
  if (probed !== undefined) return probed;
  probed = null;
  const bases: Partial<Record<Controller, string>> = {};
  for (const c of CONTROLLERS) {
    const own = ownPath(c);
    if (own === null) return probed;
    const dir = join(ROOT, c, own);
    if (!existsSync(join(dir, "cgroup.procs"))) return probed;
    bases[c] = dir;
  }
  // Writable? Try to make (and remove) a probe group.
  const probe = `aha-probe-${process.pid}`;
  try {
    for (const c of CONTROLLERS) mkdirSync(join(bases[c]!, probe));
    for (const c of CONTROLLERS) rmdirSync(join(bases[c]!, probe));
  } catch {
    for (const c of CONTROLLERS) {
      try {
        rmdirSync(join(bases[c]!, probe));
      } catch {
        /* not made */
      }
    }
    return probed;
  }
  let cpu: string | null = null;
  const ownCpu = ownPath("cpu");
  if (ownCpu !== null) {
    const dir = join(ROOT, "cpu", ownCpu);
    try {
      mkdirSync(join(dir, probe));
      rmdirSync(join(dir, probe));
      if (existsSync(join(dir, "cpu.cfs_quota_us"))) cpu = dir;
    } catch {
      /* no cpu controller for us */
    }
  }
  probed = { pids: bases.pids!, memory: bases.memory!, cpu };
  sweepStale(probed);
  return probed;
}

/** Removes the (empty) groups left by aha processes that died mid-run: `aha-<pid>-<n>`, `aha-test-<name>-<pid>`. */
function sweepStale(b: Bases): void {
  const dead = (pid: string): boolean => {
    try {
      process.kill(Number(pid), 0);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "ESRCH";
    }
  };
  const rm = (dir: string): void => {
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rm(join(dir, e.name));
      rmdirSync(dir);
    } catch {
      /* busy or gone: leave it */
    }
  };
  for (const base of [b.pids, b.memory, b.cpu]) {
    if (!base) continue;
    let names: string[];
    try {
      names = readdirSync(base);
    } catch {
      continue;
    }
    for (const n of names) {
      const m = /^aha-(\d+)-\d+$/.exec(n) ?? /^aha-test-[\w-]+-(\d+)$/.exec(n);
      if (m && dead(m[1]!)) rm(join(base, n));
    }
  }
}

/** TCP buffer memory a run may hold (in-flight loopback data): a test program needs far less than this. */
export const TCP_BUFFER_BYTES = 16 * 1024 * 1024;

let seq = 0;

/** One run's cgroup pair. `procsFiles` are what a wrapper writes its pid into before exec. */
export class RunCgroup {
  readonly pidsDir: string;
  readonly memoryDir: string;
  readonly cpuDir: string | null;

  private constructor(pidsDir: string, memoryDir: string, cpuDir: string | null) {
    this.pidsDir = pidsDir;
    this.memoryDir = memoryDir;
    this.cpuDir = cpuDir;
  }

  private get dirs(): string[] {
    return this.cpuDir ? [this.pidsDir, this.memoryDir, this.cpuDir] : [this.pidsDir, this.memoryDir];
  }

  /**
   * Makes the pair under `parent` (a relative name below our own cgroup, which must already exist in
   * both hierarchies; "" for directly below). Returns null when cgroups are not usable.
   */
  static create(parent: string, maxProcesses: number, memoryBytes: number, cpuCores: number): RunCgroup | null {
    const bases = cgroupBases();
    if (!bases) return null;
    const name = `aha-${process.pid}-${++seq}`;
    // The cpu group sits directly below ours (test parents are made for pids and memory only).
    const g = new RunCgroup(join(bases.pids, parent, name), join(bases.memory, parent, name), bases.cpu ? join(bases.cpu, name) : null);
    const made: string[] = [];
    try {
      for (const d of g.dirs) {
        mkdirSync(d);
        made.push(d);
      }
    } catch (e) {
      for (const d of made) rmdirSync(d);
      throw e;
    }
    try {
      if (g.cpuDir) {
        const period = Number(readOr(join(g.cpuDir, "cpu.cfs_period_us")).trim() || "100000");
        writeFileSync(join(g.cpuDir, "cpu.cfs_quota_us"), String(Math.max(1000, Math.round(period * cpuCores))));
      }
      writeFileSync(join(g.pidsDir, "pids.max"), String(maxProcesses));
      writeFileSync(join(g.memoryDir, "memory.limit_in_bytes"), String(memoryBytes));
      // cgroup v1 does not count TCP socket buffers in memory.usage, and accounts them at all only once
      // this limit is written: without it a program could pin loopback TCP data up to the kernel's
      // global tcp_mem (GBs) — memory outside our cap that also throttles the host's own TCP.
      const tcp = join(g.memoryDir, "memory.kmem.tcp.limit_in_bytes");
      if (existsSync(tcp)) writeFileSync(tcp, String(TCP_BUFFER_BYTES));
      // With swap accounting, also cap memory+swap so a program cannot escape into swap.
      const memsw = join(g.memoryDir, "memory.memsw.limit_in_bytes");
      if (existsSync(memsw)) writeFileSync(memsw, String(memoryBytes));
    } catch (e) {
      g.removeSync();
      throw e;
    }
    return g;
  }

  /** The files a wrapper writes its pid into (before exec) to join every group of the run. */
  get procsFiles(): string[] {
    return this.dirs.map((d) => join(d, "cgroup.procs"));
  }

  /** Did the pids controller refuse a fork (the process cap was hit)? */
  hitProcessLimit(): boolean {
    return /^max\s+[1-9]/m.test(readOr(join(this.pidsDir, "pids.events")));
  }

  /** Did the memory controller hit its limit (an OOM kill, or a failed charge)? */
  hitMemoryLimit(): boolean {
    const oom = readOr(join(this.memoryDir, "memory.oom_control"));
    if (/^oom_kill\s+[1-9]/m.test(oom)) return true;
    return Number(readOr(join(this.memoryDir, "memory.failcnt")).trim() || "0") > 0;
  }

  /** SIGKILL every process still in the group. */
  killAll(): number {
    let n = 0;
    for (const dir of this.dirs) {
      for (const s of readOr(join(dir, "cgroup.procs")).split("\n")) {
        const pid = Number(s);
        if (!Number.isInteger(pid) || pid <= 0) continue;
        try {
          process.kill(pid, "SIGKILL");
          n++;
        } catch {
          /* already gone */
        }
      }
    }
    return n;
  }

  private removeSync(): boolean {
    let ok = true;
    for (const dir of this.dirs) {
      try {
        rmdirSync(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") ok = false;
      }
    }
    return ok;
  }

  /** Kills what is left and removes both directories (retrying while the kernel reaps the dead). */
  async remove(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      this.killAll();
      if (this.removeSync()) return;
      await new Promise((r) => setTimeout(r, i < 20 ? 5 : 25));
    }
    throw new Error(`could not remove cgroup ${this.pidsDir} / ${this.memoryDir}`);
  }
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/**
 * A named parent group below our own cgroup in both hierarchies, with overall caps: every run made
 * with `parent: name` counts against them too. Tests use this so that even a broken sandbox cannot
 * take more than `maxProcesses` / `memoryBytes` of the machine. Returns null if cgroups are unusable.
 */
export function createParentGroup(name: string, maxProcesses: number, memoryBytes: number): { remove(): void } | null {
  const bases = cgroupBases();
  if (!bases) return null;
  const pidsDir = join(bases.pids, name);
  const memoryDir = join(bases.memory, name);
  mkdirSync(pidsDir);
  mkdirSync(memoryDir);
  writeFileSync(join(pidsDir, "pids.max"), String(maxProcesses));
  writeFileSync(join(memoryDir, "memory.limit_in_bytes"), String(memoryBytes));
  return {
    remove() {
      rmdirSync(pidsDir);
      rmdirSync(memoryDir);
    },
  };
}
