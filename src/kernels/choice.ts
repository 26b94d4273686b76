/**
 * Kernels chosen by measurement, not by CPU flags.
 *
 * Where a kernel has more than one path (today: bf16 matrix products through oneDNN's bf16 matmul or as
 * bf16-rounded fp32, per shape class — see ./native.ts), the right one depends on the CPU: a rule like
 * "no AMX → emulate" was right on one Intel machine and wrong on an AMD one. So each choice is timed
 * once on the machine it runs on (a short, bounded measurement), the winner is cached per machine, and
 * an environment variable overrides it. A measurement too noisy to trust (its best rounds disagree: the
 * machine was busy) decides for this process only and is not cached.
 *
 *
 *   cache file   $AHA_KERNEL_CACHE, else $XDG_CACHE_HOME/aha/kernels.json, else ~/.cache/aha/kernels.json;
 *                AHA_KERNEL_CACHE=off measures in every process and writes nothing.
 *   machine key  CPU model + a hash of its feature flags + library versions (oneDNN's, its ISA) + the
 *                thread count: a different CPU, library or thread count is measured afresh.
 *   format       { "version": 1, "machines": { <key>: { "machine": {...}, "choices": { <name>:
 *                { "path", "seconds": { <path>: s }, "measuredAt" } } } } }, written atomically
 *                (util/atomic.ts). A file that is unreadable, not JSON or not this shape is ignored and
 *                replaced: the choice is measured again, never a crash. A cache that cannot be written
 *                (read-only home) only costs a measurement per process.
 *
 * The choice may change speed, never the meaning: the paths of one choice compute the same function
 * (for bf16 products: the same bf16-rounded operands, fp32 accumulation — results differ only by fp32
 * accumulation order).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UserError } from "../errors.js";
import { readJson, writeJsonAtomic } from "../util/atomic.js";

/** One choice between code paths. */
export interface Choice<P extends string> {
  /** stable name, the cache entry, e.g. "bf16-gemm:nt" */
  name: string;
  paths: readonly P[];
  /** seconds per call of each path on this machine (lower wins); bounded in time by the caller */
  measure(): Measured<P>;
}

/**
 * A measurement: seconds per call of each path, and whether it was steady enough to cache (e.g. its
 * best rounds agreed). An unsteady one — another process took the cores — decides for this process
 * only; the next one measures again.
 */
export interface Measured<P extends string> {
  seconds: Record<P, number>;
  steady: boolean;
}

export interface Chosen<P extends string> {
  path: P;
  /**
   * "override": the environment variable; "cache": the cache file; "measured": timed just now (and
   * cached); "unsteady": timed just now, too noisy to cache
   */
  source: "override" | "cache" | "measured" | "unsteady";
  /** the measurement behind the choice (absent for an override) */
  seconds?: Record<P, number>;
}

/** What identifies a machine for the cache. */
export interface MachineId {
  cpu: string;
  /** sha256 of the CPU feature flags, first 16 hex digits ("" where they cannot be read) */
  flagsHash: string;
  /** library versions that decide speed, e.g. { onednn: "2.6.3+…", isa: "…" } */
  libs: Record<string, string>;
  threads: number;
}

export interface ChooseOptions<P extends string> {
  /** the cache file; null = no cache (measure, write nothing) */
  cacheFile: string | null;
  machine: MachineId;
  /** a path forced by the environment (already validated), or undefined to measure / use the cache */
  override?: P | undefined;
  /** the clock for measuredAt (tests pin it) */
  now?: () => Date;
}

export const CACHE_VERSION = 1;

interface CacheEntry {
  path: string;
  seconds?: Record<string, number>;
  measuredAt?: string;
}
interface CacheFile {
  version: number;
  machines: Record<string, { machine: MachineId; choices: Record<string, CacheEntry> }>;
}

/** The machine key: a readable CPU name and a hash of everything else. */
export function machineKey(m: MachineId): string {
  const libs = Object.keys(m.libs).sort().map((k) => `${k}=${m.libs[k]}`).join(",");
  const h = createHash("sha256").update(`${m.cpu}|${m.flagsHash}|${libs}|${m.threads}`).digest("hex").slice(0, 16);
  return `${m.cpu} #${h}`;
}

/** This machine's CPU model and flags hash (Linux: /proc/cpuinfo; elsewhere the model from os.cpus()). */
export function thisCpu(cpuinfo = "/proc/cpuinfo"): { cpu: string; flagsHash: string } {
  let cpu = os.cpus()[0]?.model ?? "unknown";
  let flags = "";
  try {
    const text = fs.readFileSync(cpuinfo, "utf8");
    cpu = /^model name\s*:\s*(.*)$/m.exec(text)?.[1]?.trim() ?? cpu;
    flags = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(text)?.[1]?.trim().split(/\s+/).sort().join(" ") ?? "";
  } catch {
    // not Linux: the model name alone
  }
  return { cpu, flagsHash: flags === "" ? "" : createHash("sha256").update(flags).digest("hex").slice(0, 16) };
}

/** The cache file from the environment: a path, or null for AHA_KERNEL_CACHE=off. */
export function cacheFileFromEnv(env: NodeJS.ProcessEnv = process.env): string | null {
  const v = env["AHA_KERNEL_CACHE"];
  if (v === "off") return null;
  if (v !== undefined && v !== "") return path.resolve(v);
  const base = env["XDG_CACHE_HOME"] || path.join(os.homedir(), ".cache");
  return path.join(base, "aha", "kernels.json");
}

/**
 * Reads an override like AHA_BF16_GEMM: one of `paths`, or "auto"/unset/"" for "measure". Anything
 * else is a UserError naming the variable and the values it takes.
 */
export function overrideFromEnv<P extends string>(variable: string, paths: readonly P[],
  env: NodeJS.ProcessEnv = process.env): P | undefined {
  const v = env[variable];
  if (v === undefined || v === "" || v === "auto") return undefined;
  if ((paths as readonly string[]).includes(v)) return v as P;
  throw new UserError(`${variable} must be ${paths.join(", ")} or auto, got '${v}'`,
    `unset it (or set auto) to let aha measure which path is faster on this machine`, "AHA_BAD_ENV");
}

function readCache(file: string): CacheFile {
  const empty: CacheFile = { version: CACHE_VERSION, machines: {} };
  let data: unknown;
  try {
    data = readJson<unknown>(file);
  } catch {
    return empty; // unreadable or not JSON: measure again and replace it
  }
  if (typeof data !== "object" || data === null) return empty;
  const d = data as Partial<CacheFile>;
  if (d.version !== CACHE_VERSION || typeof d.machines !== "object" || d.machines === null || Array.isArray(d.machines)) {
    return empty;
  }
  return d as CacheFile;
}

function cachedPath<P extends string>(entry: unknown, paths: readonly P[]): CacheEntry | null {
  if (typeof entry !== "object" || entry === null) return null;
  const e = entry as CacheEntry;
  return typeof e.path === "string" && (paths as readonly string[]).includes(e.path) ? e : null;
}

/**
 * Whether other work competes for the cores: the 1-minute load average above 1.5 × cores + 1 (the
 * measuring process itself may count for a few). Then a measurement is not cached, however steady it
 * looks: on 2 cores under load 25 a steady 10× wrong answer was seen. Always false where the OS has no
 * load average (Windows reports 0).
 */
export function machineBusy(load = os.loadavg()[0] ?? 0, cores = os.cpus().length): boolean {
  return load > 1.5 * cores + 1;
}

/** The fastest path of a measurement (ties: the first listed). */
export function fastest<P extends string>(paths: readonly P[], seconds: Record<P, number>): P {
  let best = paths[0]!;
  for (const p of paths) if (seconds[p] < seconds[best]) best = p;
  return best;
}

/**
 * Resolves each choice: the override if set, else the cached result for this machine, else a
 * measurement (then cached). The cache file is read once and written at most once.
 */
export function choose<P extends string>(choices: ReadonlyArray<Choice<P>>, opts: ChooseOptions<P>): Record<string, Chosen<P>> {
  const out: Record<string, Chosen<P>> = {};
  if (opts.override !== undefined) {
    for (const c of choices) out[c.name] = { path: opts.override, source: "override" };
    return out;
  }
  const key = machineKey(opts.machine);
  const cache = opts.cacheFile === null ? null : readCache(opts.cacheFile);
  const mine = cache?.machines[key];
  let changed = false;
  for (const c of choices) {
    const hit = cachedPath(mine?.choices?.[c.name], c.paths);
    if (hit) {
      out[c.name] = { path: hit.path as P, source: "cache", ...(hit.seconds ? { seconds: hit.seconds as Record<P, number> } : {}) };
      continue;
    }
    const { seconds, steady } = c.measure();
    out[c.name] = { path: fastest(c.paths, seconds), source: steady ? "measured" : "unsteady", seconds };
    changed ||= steady;
  }
  if (cache && opts.cacheFile !== null && changed) {
    const at = (opts.now ?? (() => new Date()))().toISOString();
    const entry = cache.machines[key] && typeof cache.machines[key].choices === "object" && cache.machines[key].choices !== null
      ? cache.machines[key] : { machine: opts.machine, choices: {} };
    for (const c of choices) {
      const r = out[c.name]!;
      if (r.source === "measured") entry.choices[c.name] = { path: r.path, seconds: r.seconds!, measuredAt: at };
    }
    cache.machines[key] = entry;
    try {
      fs.mkdirSync(path.dirname(opts.cacheFile), { recursive: true });
      writeJsonAtomic(opts.cacheFile, cache);
    } catch {
      // a read-only cache folder: the choice holds for this process, the next one measures again
    }
  }
  return out;
}
