/**
 * Kernel choices by measurement (src/kernels/choice.ts, src/kernels/bf16-gemm.ts): the cache is written,
 * reused, survives a corrupt file, is per machine, and the environment override wins. Measurements are
 * faked (a function returning seconds), so nothing here is timed.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BF16_CLASSES, resolveBf16Gemm } from "../../src/kernels/bf16-gemm.js";
import { cacheFileFromEnv, choose, machineBusy, machineKey, overrideFromEnv, thisCpu, type Choice, type MachineId } from "../../src/kernels/choice.js";
import { loadNativeBackend } from "../../src/kernels/native.js";

type P = "fast" | "slow";
const PATHS = ["fast", "slow"] as const;
const MACHINE: MachineId = { cpu: "Test CPU", flagsHash: "0123456789abcdef", libs: { onednn: "2.6.3" }, threads: 2 };

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "aha-choice-"));
  file = path.join(dir, "sub", "kernels.json");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A choice whose fake measurement says `winner` is twice as fast (steady unless told), and counts its calls. */
function fake(name: string, winner: P, steady = true): Choice<P> & { calls: number } {
  const c = {
    name, paths: PATHS, calls: 0,
    measure: () => {
      c.calls++;
      return { seconds: winner === "fast" ? { fast: 1e-3, slow: 2e-3 } : { fast: 2e-3, slow: 1e-3 }, steady };
    },
  };
  return c;
}
const NOW = (): Date => new Date("2026-12-05T10:00:00Z");

describe("choose", () => {
  it("measures, picks the faster path and writes the cache (folder created)", () => {
    const a = fake("a", "slow"), b = fake("b", "fast");
    const got = choose([a, b], { cacheFile: file, machine: MACHINE, now: NOW });
    expect(got["a"]).toEqual({ path: "slow", source: "measured", seconds: { fast: 2e-3, slow: 1e-3 } });
    expect(got["b"]!.path).toBe("fast");
    expect([a.calls, b.calls]).toEqual([1, 1]);
    const disk = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(disk.version).toBe(1);
    expect(disk.machines[machineKey(MACHINE)].choices["a"]).toEqual({ path: "slow", seconds: { fast: 2e-3, slow: 1e-3 },
      measuredAt: "2026-12-05T10:00:00.000Z" });
    expect(disk.machines[machineKey(MACHINE)].machine).toEqual(MACHINE);
  });

  it("reuses the cache without measuring; measures only a choice the cache lacks", () => {
    choose([fake("a", "slow")], { cacheFile: file, machine: MACHINE });
    const a = fake("a", "fast"), b = fake("b", "fast"); // a's measurement would now say "fast": the cache wins
    const got = choose([a, b], { cacheFile: file, machine: MACHINE });
    expect(got["a"]!.path).toBe("slow");
    expect(got["a"]!.source).toBe("cache");
    expect(got["b"]!.source).toBe("measured");
    expect([a.calls, b.calls]).toEqual([0, 1]);
    const disk = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(Object.keys(disk.machines[machineKey(MACHINE)].choices).sort()).toEqual(["a", "b"]);
  });

  it("another machine (CPU, flags, library or thread count) measures afresh and keeps the first machine's entry", () => {
    choose([fake("a", "slow")], { cacheFile: file, machine: MACHINE });
    for (const other of [{ ...MACHINE, cpu: "Other CPU" }, { ...MACHINE, flagsHash: "ffff" },
      { ...MACHINE, libs: { onednn: "3.0.0" } }, { ...MACHINE, threads: 16 }]) {
      expect(machineKey(other)).not.toBe(machineKey(MACHINE));
      const a = fake("a", "fast");
      expect(choose([a], { cacheFile: file, machine: other })["a"]).toMatchObject({ path: "fast", source: "measured" });
      expect(a.calls).toBe(1);
    }
    const disk = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(Object.keys(disk.machines)).toHaveLength(5);
    expect(disk.machines[machineKey(MACHINE)].choices["a"].path).toBe("slow");
  });

  it.each([
    ["not JSON", "{ truncated"],
    ["an array", "[1, 2]"],
    ["another version", JSON.stringify({ version: 99, machines: {} })],
    ["machines not an object", JSON.stringify({ version: 1, machines: "x" })],
    ["an unknown path", JSON.stringify({ version: 1, machines: { [machineKey(MACHINE)]: { machine: MACHINE, choices: { a: { path: "amx" } } } } })],
    ["an entry of the wrong type", JSON.stringify({ version: 1, machines: { [machineKey(MACHINE)]: { machine: MACHINE, choices: { a: 7 } } } })],
    ["choices of the wrong type", JSON.stringify({ version: 1, machines: { [machineKey(MACHINE)]: { machine: MACHINE, choices: null } } })],
  ])("a corrupt cache (%s) is measured again and replaced, never a crash", (_why, text) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    const a = fake("a", "slow");
    expect(choose([a], { cacheFile: file, machine: MACHINE })["a"]).toMatchObject({ path: "slow", source: "measured" });
    expect(a.calls).toBe(1);
    const disk = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(disk.machines[machineKey(MACHINE)].choices["a"].path).toBe("slow");
  });

  it("an unsteady measurement decides for this process but is not cached; a steady one later is", () => {
    const a = fake("a", "slow", false);
    expect(choose([a], { cacheFile: file, machine: MACHINE })["a"]).toMatchObject({ path: "slow", source: "unsteady" });
    expect(fs.existsSync(file)).toBe(false);
    const b = fake("a", "fast", false);
    expect(choose([b], { cacheFile: file, machine: MACHINE })["a"]).toMatchObject({ path: "fast", source: "unsteady" });
    expect(b.calls).toBe(1);
    expect(choose([fake("a", "fast")], { cacheFile: file, machine: MACHINE })["a"]!.source).toBe("measured");
    expect(choose([fake("a", "slow")], { cacheFile: file, machine: MACHINE })["a"]).toMatchObject({ path: "fast", source: "cache" });
  });

  it("a cache path that cannot be written (a file where the folder should be) still gives the measured choice", () => {
    fs.writeFileSync(path.join(dir, "sub"), "a file, not a folder");
    const a = fake("a", "slow");
    expect(choose([a], { cacheFile: file, machine: MACHINE })["a"]).toMatchObject({ path: "slow", source: "measured" });
  });

  it("the override wins over cache and measurement, and leaves the cache alone", () => {
    choose([fake("a", "slow")], { cacheFile: file, machine: MACHINE });
    const before = fs.readFileSync(file, "utf8");
    const a = fake("a", "slow");
    expect(choose([a], { cacheFile: file, machine: MACHINE, override: "fast" })["a"]).toEqual({ path: "fast", source: "override" });
    expect(a.calls).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toBe(before);
  });

  it("no cache file (AHA_KERNEL_CACHE=off) measures every time and writes nothing", () => {
    const a = fake("a", "fast");
    choose([a], { cacheFile: null, machine: MACHINE });
    choose([a], { cacheFile: null, machine: MACHINE });
    expect(a.calls).toBe(2);
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe("environment", () => {
  it("the cache file: AHA_KERNEL_CACHE, off, XDG_CACHE_HOME, ~/.cache", () => {
    expect(cacheFileFromEnv({ AHA_KERNEL_CACHE: "/x/k.json" })).toBe("/x/k.json");
    expect(cacheFileFromEnv({ AHA_KERNEL_CACHE: "off" })).toBeNull();
    expect(cacheFileFromEnv({ XDG_CACHE_HOME: "/xdg" })).toBe("/xdg/aha/kernels.json");
    expect(cacheFileFromEnv({})).toBe(path.join(os.homedir(), ".cache", "aha", "kernels.json"));
  });

  it("AHA_BF16_GEMM: a path, auto/unset = measure, anything else a UserError naming the variable", () => {
    const paths = ["onednn", "emulate"] as const;
    expect(overrideFromEnv("AHA_BF16_GEMM", paths, { AHA_BF16_GEMM: "emulate" })).toBe("emulate");
    expect(overrideFromEnv("AHA_BF16_GEMM", paths, { AHA_BF16_GEMM: "auto" })).toBeUndefined();
    expect(overrideFromEnv("AHA_BF16_GEMM", paths, {})).toBeUndefined();
    expect(() => overrideFromEnv("AHA_BF16_GEMM", paths, { AHA_BF16_GEMM: "native" }))
      .toThrow("AHA_BF16_GEMM must be onednn, emulate or auto, got 'native'");
  });

  it("machineBusy: load above 1.5 × cores + 1", () => {
    expect(machineBusy(2.5, 2)).toBe(false);
    expect(machineBusy(4, 2)).toBe(false);
    expect(machineBusy(4.1, 2)).toBe(true);
    expect(machineBusy(25, 2)).toBe(true);
    expect(machineBusy(20, 16)).toBe(false);
  });

  it("thisCpu reads the model name and hashes the sorted flags", () => {
    const info = path.join(dir, "cpuinfo");
    fs.writeFileSync(info, "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: sse avx512_bf16 avx\n\nprocessor\t: 1\n");
    const a = thisCpu(info);
    fs.writeFileSync(info, "model name\t: AMD EPYC\nflags\t\t: avx avx512_bf16 sse\n");
    expect(a.cpu).toBe("AMD EPYC");
    expect(a.flagsHash).toMatch(/^[0-9a-f]{16}$/);
    expect(thisCpu(info).flagsHash).toBe(a.flagsHash);
    fs.writeFileSync(info, "model name\t: AMD EPYC\nflags\t\t: avx sse\n");
    expect(thisCpu(info).flagsHash).not.toBe(a.flagsHash);
  });
});

const load = loadNativeBackend();
describe.runIf(load.ok)("bf16 GEMM paths on the addon", () => {
  const addon = (): Extract<typeof load, { ok: true }>["addon"] => {
    if (!load.ok) throw new Error("the addon did not load");
    return load.addon;
  };

  it("every class gets its measured path, the cache serves the next process, the override wins", () => {
    const env = { AHA_KERNEL_CACHE: file };
    const calls: string[] = [];
    // the fake says emulate wins for tn only
    const measure = (cls: string): { seconds: { onednn: number; emulate: number }; steady: boolean } => {
      calls.push(cls);
      return { seconds: cls === "tn" ? { onednn: 2, emulate: 1 } : { onednn: 1, emulate: 2 }, steady: true };
    };
    try {
      const r = resolveBf16Gemm(addon(), env, measure);
      expect(calls.sort()).toEqual([...BF16_CLASSES].sort());
      expect(r.cacheFile).toBe(file);
      expect(addon().bf16Route(64, 64, 1)).toEqual({ class: "tn", path: "emulate" });
      expect(addon().bf16Route(64, 64, 2)).toEqual({ class: "nt", path: "onednn" });
      expect(addon().bf16Route(8, 64, 1)).toEqual({ class: "decode", path: "onednn" });

      calls.length = 0;
      const again = resolveBf16Gemm(addon(), env, measure);
      expect(calls).toEqual([]);
      expect(again.choices.tn).toMatchObject({ path: "emulate", source: "cache" });

      const forced = resolveBf16Gemm(addon(), { ...env, AHA_BF16_GEMM: "onednn" }, measure);
      expect(calls).toEqual([]);
      expect(forced.choices.tn).toEqual({ path: "onednn", source: "override" });
      expect(addon().bf16Route(64, 64, 1).path).toBe("onednn");
    } finally {
      for (const cls of BF16_CLASSES) addon().setBf16Path(cls, "onednn");
    }
  });
});
