import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeFileAtomic } from "../../src/util/atomic.js";
import { appendJsonl, readJsonl, truncateJsonlAfterStep } from "../../src/util/jsonl.js";
import { latestCheckpoint, pruneCheckpoints, saveCheckpoint } from "../../src/runs/checkpoint.js";
import { formatDuration, Progress } from "../../src/runs/progress.js";
import { defaultRunName, RunDir } from "../../src/runs/run-dir.js";
import { pidAlive, readStatus, writeStatus } from "../../src/runs/status.js";

const roots: string[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "aha-runs-"));
  roots.push(d);
  return d;
};
afterAll(() => {
  for (const d of roots) fs.rmSync(d, { recursive: true, force: true });
});

describe("atomic files and JSONL", () => {
  it("writeFileAtomic replaces the file and leaves no temp file", () => {
    const d = tmp();
    const f = path.join(d, "a.json");
    writeFileAtomic(f, "one");
    writeFileAtomic(f, "two");
    expect(fs.readFileSync(f, "utf8")).toBe("two");
    expect(fs.readdirSync(d)).toEqual(["a.json"]);
  });
  it("a half-written last line is ignored, never an error", () => {
    const d = tmp();
    const f = path.join(d, "m.jsonl");
    appendJsonl(f, { step: 1, x: 1 });
    appendJsonl(f, { step: 2, x: 2 });
    fs.appendFileSync(f, '{"step":3,"x":'); // crash mid-write
    const r = readJsonl<{ step: number }>(f);
    expect(r.rows.map((x) => x.step)).toEqual([1, 2]);
    expect(r.skipped).toBe(1);
    expect(readJsonl(path.join(d, "missing.jsonl")).rows).toEqual([]);
  });
  it("truncateJsonlAfterStep keeps steps ≤ N (and drops a torn line)", () => {
    const d = tmp();
    const f = path.join(d, "m.jsonl");
    for (const step of [1, 2, 3, 4]) appendJsonl(f, { step });
    fs.appendFileSync(f, '{"ste');
    truncateJsonlAfterStep(f, 2);
    expect(fs.readFileSync(f, "utf8")).toBe('{"step":1}\n{"step":2}\n');
  });
});

describe("status.json", () => {
  const base = { pid: process.pid, started: "x", updated: "x", step: 0, total_steps: 3, kind: "train" as const, task: "t", model: "m" };
  it("running with a live pid reads as running; with a dead pid as crashed", () => {
    const d = tmp();
    writeStatus(d, { ...base, state: "running" });
    expect(readStatus(d)!.state).toBe("running");
    expect(readStatus(d, () => false)!.state).toBe("crashed");
    writeStatus(d, { ...base, state: "finished" });
    expect(readStatus(d, () => false)!.state).toBe("finished");
  });
  it("pidAlive: this process yes, an exited child no", async () => {
    expect(pidAlive(process.pid)).toBe(true);
    const child = spawn(process.execPath, ["-e", "0"]);
    await new Promise((r) => child.on("exit", r));
    expect(pidAlive(child.pid!)).toBe(false);
  });
});

describe("checkpoints", () => {
  it("latest names the newest complete checkpoint; an interrupted write leaves the previous one", async () => {
    const d = tmp();
    await saveCheckpoint(d, { step: 1, cursor: 5 }, (dir) => fs.writeFileSync(path.join(dir, "model.bin"), "1"));
    expect(latestCheckpoint(d)!.state).toEqual({ step: 1, cursor: 5 });
    await expect(saveCheckpoint(d, { step: 2 }, () => {
      throw new Error("disk full");
    })).rejects.toThrow(/disk full/);
    expect(latestCheckpoint(d)!.name).toBe("step-1");
    expect(fs.readdirSync(path.join(d, "checkpoints")).some((n) => n.includes(".tmp-"))).toBe(true);
    pruneCheckpoints(d, 0);
    expect(fs.readdirSync(path.join(d, "checkpoints")).sort()).toEqual(["latest", "step-1"]);
  });
  it("keeps the newest N", async () => {
    const d = tmp();
    for (const step of [1, 2, 3, 4]) await saveCheckpoint(d, { step }, () => undefined, 2);
    expect(fs.readdirSync(path.join(d, "checkpoints")).sort()).toEqual(["latest", "step-3", "step-4"]);
    expect(fs.readFileSync(path.join(d, "checkpoints", "latest"), "utf8")).toBe("step-4\n");
  });
  it("no checkpoint → null", () => {
    expect(latestCheckpoint(tmp())).toBeNull();
  });
});

describe("run directory", () => {
  it("create, metrics (non-finite omitted), samples, status, resume drops steps after the checkpoint", async () => {
    const d = path.join(tmp(), "run");
    const run = RunDir.create(d, { lr: 1 }, { total_steps: 4, kind: "train", task: "arith", model: "demo", algorithm: "grpo" });
    expect(() => RunDir.create(d, {}, { total_steps: 4, kind: "train", task: "a", model: "m" })).toThrow(/already holds a run/);
    for (const step of [1, 2, 3]) {
      run.appendMetrics({ step, time: step, kl: step === 2 ? Number.NaN : 0.5 });
      run.appendSamples([{ step, prompt: "p", response: "r", reward: 1, parts: { accuracy: 1 }, correct: true, extracted: "5", length: 3, truncated: false }]);
      if (step === 2) await run.saveCheckpoint({ step }, () => undefined);
      run.setStep(step);
    }
    expect(run.readMetrics()[1]).toEqual({ step: 2, time: 2 });
    // Pretend the process died: status says running with a dead pid.
    writeStatus(d, { ...run.getStatus(), pid: 999_999_999 });
    expect(readStatus(d)!.state).toBe("crashed");
    const { run: again, config, checkpoint } = RunDir.resume(d);
    expect(config).toEqual({ lr: 1 });
    expect(checkpoint!.state.step).toBe(2);
    expect(again.readMetrics().map((m) => m.step)).toEqual([1, 2]);
    expect(readJsonl<{ step: number }>(again.samplesPath).rows.map((s) => s.step)).toEqual([1, 2]);
    expect(readStatus(d)).toMatchObject({ state: "running", pid: process.pid, step: 2 });
    again.setState("finished");
    again.writeSummary({ base: { "pass@1": 0.25 }, final: { "pass@1": 0.9 }, steps: 3, wall_seconds: 10 });
    expect(JSON.parse(fs.readFileSync(path.join(d, "summary.json"), "utf8")).final["pass@1"]).toBe(0.9);
  });
  it("defaultRunName is sortable and safe", () => {
    expect(defaultRunName("count down/x", new Date("2026-01-02T03:04:05Z"))).toBe("2026-01-02T03-04-05-count-down-x");
  });
  it("kill -9 at random points never leaves a run that cannot be resumed", async () => {
    const vn = path.resolve("node_modules/.bin/vite-node");
    for (let trial = 0; trial < 3; trial++) {
      const d = path.join(tmp(), "run");
      const child = spawn(vn, [path.resolve("test/runs/checkpoint-writer.ts"), d], { stdio: "ignore" });
      const t0 = Date.now();
      while (!fs.existsSync(path.join(d, "ready")) && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 10 + trial * 37));
      child.kill("SIGKILL");
      await new Promise((r) => child.on("exit", r));
      expect(readStatus(d)!.state).toBe("crashed");
      const ck = latestCheckpoint(d)!;
      const step = ck.state.step;
      expect(step).toBeGreaterThanOrEqual(3);
      // The checkpoint latest names is complete and consistent with its step.
      expect(fs.readFileSync(path.join(ck.dir, "model.bin"))).toEqual(Buffer.alloc(200_000, step % 251));
      expect(fs.readFileSync(path.join(ck.dir, "optimizer.bin"))).toEqual(Buffer.alloc(100_000, step % 251));
      const { checkpoint, run } = RunDir.resume(d);
      expect(checkpoint!.state.step).toBe(step);
      expect(run.readMetrics().map((m) => m.step)).toEqual(Array.from({ length: step }, (_, i) => i + 1));
      expect(fs.readdirSync(path.join(d, "checkpoints")).some((n) => n.includes(".tmp-"))).toBe(false);
    }
  });
});

describe("progress line", () => {
  const sink = (isTTY: boolean) => {
    const out: string[] = [];
    return { out, stream: { isTTY, columns: 200, write: (s: string) => out.push(s) } };
  };
  it("TTY: rewrites one line with rate and ETA", () => {
    let t = 0;
    const s = sink(true);
    const p = new Progress({ total: 10, stream: s.stream, now: () => t });
    t = 4;
    p.update(2, { reward: 0.5 });
    expect(s.out[0]).toBe("\rstep 2/10 · reward 0.500 · 2.0 s/step · elapsed 4s · ETA 16s");
    p.finish();
    expect(s.out[1]).toBe("\n");
  });
  it("not a TTY: plain lines at most every N seconds, and the last one", () => {
    let t = 0;
    const s = sink(false);
    const p = new Progress({ total: 100, stream: s.stream, now: () => t, plainEverySeconds: 10 });
    for (let i = 1; i <= 100; i++) {
      t = i;
      p.update(i);
    }
    expect(s.out.length).toBe(11); // t = 1, 11, 21, …, 91 and the final step
    expect(s.out.every((l) => l.endsWith("\n") && !l.includes("\r"))).toBe(true);
    expect(s.out[10]).toMatch(/^step 100\/100 .* ETA 0s\n$/);
  });
  it("formatDuration", () => {
    expect([formatDuration(5), formatDuration(65), formatDuration(3725), formatDuration(Number.NaN)]).toEqual(["5s", "1m05s", "1h02m", "?"]);
  });
});

describe("interrupt", () => {
  it("first SIGINT aborts, second exits with 130", async () => {
    const { installInterrupt } = await import("../../src/runs/interrupt.js");
    const ctl = new AbortController();
    const out: string[] = [];
    const exits: number[] = [];
    const remove = installInterrupt(ctl, { write: (s) => out.push(s), exit: (c) => exits.push(c) });
    process.emit("SIGINT");
    expect(ctl.signal.aborted).toBe(true);
    expect(exits).toEqual([]);
    process.emit("SIGINT");
    expect(exits).toEqual([130]);
    remove();
    expect(out[0]).toMatch(/stopping after this step/);
  });
});
