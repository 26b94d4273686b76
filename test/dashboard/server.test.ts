import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readJsonlFrom } from "../../src/dashboard/jsonl.js";
import { parseJsonlBuffer } from "../../src/util/jsonl.js";
import { STALE_AFTER_MS, effectiveState } from "../../src/dashboard/runs.js";
import { checkRelative } from "../../src/dashboard/safe-path.js";
import { startDashboard, type Dashboard } from "../../src/dashboard/server.js";
import { CRASHED, EVAL, FINISHED, RUNNING, copyFixture, rawGet } from "./helpers.js";

let dash: Dashboard;
let base: string;
let runs: string;

/** The fixture file read independently of the server: the expected values below come from it. */
function fixtureRows(run: string, file: string): Record<string, unknown>[] {
  return readFileSync(join(runs, run, file), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function getJson(path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await rawGet(dash.url, path);
  return { status: r.status, json: JSON.parse(r.body) as Record<string, unknown> };
}

beforeAll(async () => {
  ({ base, runs } = copyFixture());
  const assets = join(base, "assets");
  mkdirSync(assets);
  writeFileSync(join(assets, "index.html"), "<!doctype html><title>aha</title>");
  writeFileSync(join(assets, "app.js"), "console.log(1)");
  // Things outside the runs directory that must stay unreadable.
  writeFileSync(join(base, "secret.txt"), "SECRET-OUTSIDE");
  mkdirSync(join(base, "outside-run"));
  writeFileSync(join(base, "outside-run", "status.json"), JSON.stringify({ state: "finished" }));
  writeFileSync(join(base, "outside-run", "metrics.jsonl"), '{"step":1,"accuracy":0.5}\n');
  symlinkSync(join(base, "outside-run"), join(runs, "evil-dir-link"));
  symlinkSync(join(base, "secret.txt"), join(runs, FINISHED, "secret-link.txt"));
  // A symlink that stays inside is fine.
  symlinkSync(join(runs, FINISHED, "config.json"), join(runs, FINISHED, "config-link.json"));
  dash = await startDashboard({ runsDir: runs, assetsDir: assets, port: 0, pollMs: 50 });
});

afterAll(async () => {
  await dash.close();
  rmSync(base, { recursive: true, force: true });
});

describe("tolerant JSONL reading", () => {
  it("ignores a half-written last line and resumes from the byte offset", async () => {
    const f = join(base, "m.jsonl");
    writeFileSync(f, '{"step":1}\n{"step":2}\n{"step":3,"acc');
    const a = await readJsonlFrom(f, 0);
    expect(a.rows).toEqual([{ step: 1 }, { step: 2 }]);
    expect(a.offset).toBe('{"step":1}\n{"step":2}\n'.length);
    appendFileSync(f, 'uracy":1}\n');
    const b = await readJsonlFrom(f, a.offset);
    expect(b.rows).toEqual([{ step: 3, accuracy: 1 }]);
  });

  it("skips complete lines that are not JSON objects", () => {
    const r = parseJsonlBuffer(Buffer.from('{"a":1}\nnot json\n[1,2]\n\n{"b":2}\n'));
    expect(r.rows).toEqual([{ a: 1 }, { b: 2 }]);
    expect(r.skipped).toBe(2);
  });

  it("skips a line longer than one read instead of stalling on it", async () => {
    const f = join(base, "long.jsonl");
    writeFileSync(f, `{"a":1}\n{"long":"${"x".repeat(100)}"}\n{"b":2}\n`);
    const rows: unknown[] = [];
    let offset = 0;
    for (let i = 0; i < 10; i++) {
      const c = await readJsonlFrom(f, offset, 32);
      rows.push(...c.rows);
      if (c.offset === offset) break;
      offset = c.offset;
    }
    expect(rows).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it("starts over when the file became shorter than the offset", async () => {
    const f = join(base, "short.jsonl");
    writeFileSync(f, '{"x":1}\n');
    expect((await readJsonlFrom(f, 10_000)).rows).toEqual([{ x: 1 }]);
  });
});

describe("effective status", () => {
  const now = 1_000_000_000_000;
  it("reads a running run whose process is gone as crashed", () => {
    expect(effectiveState("running", 4242, now, now, () => false)).toEqual({ status: "crashed", note: "process 4242 is gone" });
  });
  it("reads a running run that stopped updating as crashed", () => {
    expect(effectiveState("running", 4242, now - STALE_AFTER_MS - 1, now, () => true).status).toBe("crashed");
  });
  it("keeps a live, fresh run running and passes other states through", () => {
    expect(effectiveState("running", 4242, now - 1000, now, () => true)).toEqual({ status: "running", note: null });
    expect(effectiveState("finished", 4242, 0, now, () => false).status).toBe("finished");
    expect(effectiveState("bogus", 1, 0, now).status).toBe("unknown");
  });
});

describe("path checks (pure)", () => {
  it.each([["../x"], ["a/../../x"], ["/etc/passwd"], ["a//b"], ["./a"], ["a\\..\\b"], ["%2e%2e/x"], ["a\0b"]])("refuses %j", (p) => {
    expect(() => checkRelative(p)).toThrow(/refused/);
  });
  it("accepts plain relative paths", () => {
    expect(checkRelative("run-1/eval/final")).toEqual(["run-1", "eval", "final"]);
  });
});

describe("dashboard API", () => {
  it("lists the runs with status, task, model, algorithm, steps and best accuracy", async () => {
    const { status, json } = await getJson("/api/runs");
    expect(status).toBe(200);
    const list = json.runs as Record<string, unknown>[];
    expect(list.map((r) => r.name)).toEqual([RUNNING, CRASHED, FINISHED]); // sorted by name
    const byName = Object.fromEntries(list.map((r) => [r.name, r]));
    expect(byName[RUNNING]?.status).toBe("running");
    expect(byName[FINISHED]?.status).toBe("finished");
    expect(byName[CRASHED]?.status).toBe("crashed");
    const fin = byName[FINISHED] ?? {};
    expect(fin).toMatchObject({ task: "countdown", model: "Qwen/Qwen2.5-0.5B", algorithm: "grpo", step: 100, total_steps: 100, has_summary: true });
    const best = Math.max(...fixtureRows(FINISHED, "metrics.jsonl").map((m) => m.accuracy as number));
    expect(fin.best_accuracy).toBe(best);
    const evals = (json.evals as Record<string, unknown>[]).map((e) => e.path);
    expect(evals).toEqual([`${FINISHED}/eval/base`, `${FINISHED}/eval/final`, EVAL]);
  });

  it("reads a running status with a dead pid as crashed", async () => {
    const sp = join(runs, CRASHED, "status.json");
    const st = JSON.parse(readFileSync(sp, "utf8")) as Record<string, unknown>;
    writeFileSync(sp, JSON.stringify({ ...st, state: "running", pid: 2 ** 22 + 12345, updated: new Date().toISOString() }));
    const { json } = await getJson(`/api/run?run=${CRASHED}`);
    expect((json.info as Record<string, unknown>).status).toBe("crashed");
    expect((json.info as Record<string, unknown>).status_note).toMatch(/is gone/);
  });

  it("serves a run's resolved config and summary", async () => {
    const { status, json } = await getJson(`/api/run?run=${FINISHED}`);
    expect(status).toBe(200);
    expect(json.config).toEqual(JSON.parse(readFileSync(join(runs, FINISHED, "config.json"), "utf8")));
    expect((json.summary as Record<string, Record<string, number>>).final?.["pass@1"]).toBeGreaterThan(0.5);
  });

  it("serves metrics incrementally from a byte offset, ignoring a half-written line", async () => {
    const all = await getJson(`/api/metrics?run=${RUNNING}`);
    expect((all.json.rows as unknown[]).length).toBe(fixtureRows(RUNNING, "metrics.jsonl").length);
    const offset = all.json.offset as number;
    const f = join(runs, RUNNING, "metrics.jsonl");
    appendFileSync(f, '{"step":41,"time":1,"accuracy":0.5}\n{"step":42,"ti');
    const next = await getJson(`/api/metrics?run=${RUNNING}&since=${offset}`);
    expect(next.json.rows).toEqual([{ step: 41, time: 1, accuracy: 0.5 }]);
    appendFileSync(f, 'me":2,"accuracy":0.55}\n');
    const last = await getJson(`/api/metrics?run=${RUNNING}&since=${next.json.offset as number}`);
    expect(last.json.rows).toEqual([{ step: 42, time: 2, accuracy: 0.55 }]);
  });

  it("serves the samples of a step, filtered by verdict and by text", async () => {
    const rows = fixtureRows(FINISHED, "samples.jsonl");
    const s10 = await getJson(`/api/samples?run=${FINISHED}&step=10`);
    expect((s10.json.samples as unknown[]).length).toBe(rows.filter((r) => r.step === 10).length);
    expect(s10.json.steps).toHaveLength(100);
    const correct = await getJson(`/api/samples?run=${FINISHED}&step=90&verdict=correct`);
    const expectCorrect = rows.filter((r) => r.step === 90 && r.correct === true).length;
    expect((correct.json.samples as Record<string, unknown>[]).map((s) => s.correct)).toEqual(Array(expectCorrect).fill(true));
    const wait = await getJson(`/api/samples?run=${FINISHED}&q=WAIT`);
    const expectWait = rows.filter((r) => String(r.response).toLowerCase().includes("wait"));
    expect(wait.json.total).toBe(expectWait.length);
    expect(expectWait.length).toBeGreaterThan(10);
    const counts = wait.json.matches as Record<string, number>;
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(expectWait.length);
  });

  it("serves an eval output's summary and filters its per-question results", async () => {
    const s = await getJson(`/api/eval?path=${EVAL}`);
    expect((s.json.summary as Record<string, unknown>)["pass@1"]).toBe(JSON.parse(readFileSync(join(runs, EVAL, "summary.json"), "utf8"))["pass@1"]);
    const rows = fixtureRows(EVAL, "results.jsonl");
    const r = await getJson(`/api/eval/results?path=${EVAL}&category=add-mul&verdict=incorrect&limit=500`);
    const expected = rows.filter((q) => q.category === "add-mul" && (q.samples as { correct: boolean }[]).some((x) => !x.correct));
    expect(r.json.total).toBe(expected.length);
    for (const q of r.json.results as { samples: { correct: boolean }[] }[]) expect(q.samples.every((x) => !x.correct)).toBe(true);
  });

  it("pushes appended metrics lines and status over server-sent events", async () => {
    const first = await getJson(`/api/metrics?run=${RUNNING}`);
    const u = new URL(dash.url);
    const got = await new Promise<string>((resolve, reject) => {
      let buf = "";
      let appended = false;
      const req = request({ host: u.hostname, port: u.port, path: `/api/live?run=${RUNNING}&since=${first.json.offset as number}` }, (res) => {
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          buf += c;
          if (!appended && buf.includes("event: status")) {
            appended = true;
            appendFileSync(join(runs, RUNNING, "metrics.jsonl"), '{"step":77,"time":3,"accuracy":0.9}\n');
          }
          if (buf.includes("event: metrics")) {
            req.destroy();
            resolve(buf);
          }
        });
      });
      req.on("error", (e) => (buf.includes("event: metrics") ? undefined : reject(e)));
      req.end();
    });
    const data = /event: metrics\ndata: (.*)\n/.exec(got)?.[1] ?? "{}";
    expect((JSON.parse(data) as { rows: unknown[] }).rows).toEqual([{ step: 77, time: 3, accuracy: 0.9 }]);
  });

  it("sends a reset when metrics.jsonl is replaced (a resumed run truncates it)", async () => {
    const dir = join(runs, "resumed-run");
    mkdirSync(dir);
    writeFileSync(join(dir, "status.json"), JSON.stringify({ state: "running", pid: process.pid, updated: new Date().toISOString(), step: 3 }));
    writeFileSync(join(dir, "metrics.jsonl"), '{"step":1}\n{"step":2}\n{"step":3}\n');
    const first = await getJson("/api/metrics?run=resumed-run");
    const u = new URL(dash.url);
    const got = await new Promise<string>((resolve, reject) => {
      let buf = "";
      let replaced = false;
      const req = request({ host: u.hostname, port: u.port, path: `/api/live?run=resumed-run&since=${first.json.offset as number}` }, (res) => {
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          buf += c;
          if (!replaced && buf.includes("event: status")) {
            replaced = true;
            // Resume from the step-1 checkpoint: a new file renamed into place, then one more step.
            writeFileSync(join(dir, "metrics.jsonl.tmp"), '{"step":1}\n{"step":2,"resumed":1}\n');
            renameSync(join(dir, "metrics.jsonl.tmp"), join(dir, "metrics.jsonl"));
          }
          if (buf.includes("event: metrics")) {
            req.destroy();
            resolve(buf);
          }
        });
      });
      req.on("error", (e) => (buf.includes("event: metrics") ? undefined : reject(e)));
      req.end();
    });
    const data = JSON.parse(/event: metrics\ndata: (.*)\n/.exec(got)?.[1] ?? "{}") as { rows: unknown[]; reset: boolean };
    expect(data.reset).toBe(true);
    expect(data.rows).toEqual([{ step: 1 }, { step: 2, resumed: 1 }]);
  });

  it("serves the web app and files inside the runs directory", async () => {
    const index = await rawGet(dash.url, "/");
    expect(index.status).toBe(200);
    expect(index.body).toContain("<title>aha</title>");
    expect(index.headers["content-security-policy"]).toContain("default-src 'self'");
    const cfg = await rawGet(dash.url, `/files/${FINISHED}/config.json`);
    expect(cfg.status).toBe(200);
    expect(JSON.parse(cfg.body)).toHaveProperty("algorithm");
    const inside = await rawGet(dash.url, `/files/${FINISHED}/config-link.json`);
    expect(inside.status).toBe(200);
  });
});

describe("a runs directory that is itself one run", () => {
  it("lists that run at path '' and serves it", async () => {
    const one = await startDashboard({ runsDir: join(runs, FINISHED), assetsDir: join(base, "assets"), port: 0 });
    try {
      const list = JSON.parse((await rawGet(one.url, "/api/runs")).body) as { runs: { path: string; name: string }[]; evals: { path: string }[] };
      expect(list.runs).toHaveLength(1);
      expect(list.runs[0]).toMatchObject({ path: "", name: FINISHED });
      expect(list.evals.map((e) => e.path)).toEqual(["eval/base", "eval/final"]);
      const m = JSON.parse((await rawGet(one.url, "/api/metrics?run=")).body) as { rows: unknown[] };
      expect(m.rows).toHaveLength(100);
      expect((await rawGet(one.url, "/api/metrics?run=..")).status).toBe(403);
    } finally {
      await one.close();
    }
  });
});

describe("dashboard refuses everything outside the runs directory", () => {
  const refused = (r: { status: number; body: string }): void => {
    expect([400, 403, 404]).toContain(r.status);
    expect(r.body).not.toContain("SECRET-OUTSIDE");
    expect(r.body).not.toContain('"name"'); // no package.json or other JSON from outside
  };

  it.each([
    ["/files/../secret.txt"],
    ["/files/../../package.json"],
    ["/files/%2e%2e/secret.txt"],
    ["/files/%2E%2E/%2e%2e/package.json"],
    ["/files/..%2fsecret.txt"],
    ["/files/..%2f..%2fpackage.json"],
    ["/files/%252e%252e/secret.txt"],
    ["/files//etc/passwd"],
    ["/files/%2fetc%2fpasswd"],
    ["/files/..\\secret.txt"],
    ["/api/../files/../secret.txt"],
    ["/%2e%2e/package.json"],
    ["/../package.json"],
    ["/app.js/../../package.json"],
  ])("raw path %s", async (target) => {
    refused(await rawGet(dash.url, target));
  });

  it.each([
    ["run", ".."],
    ["run", "../outside-run"],
    ["run", `${FINISHED}/../../outside-run`],
    ["run", "/etc"],
    ["run", encodeURIComponent(join("/", "..", "outside-run"))],
    ["run", "%2e%2e"],
    ["run", "%252e%252e%252foutside-run"],
    ["run", "..%2foutside-run"],
  ])("query %s=%s on every endpoint", async (key, value) => {
    for (const ep of ["/api/run", "/api/metrics", "/api/samples", "/api/live"]) {
      const r = await rawGet(dash.url, `${ep}?${key}=${value}`);
      refused(r);
      expect(r.status).toBe(403);
    }
    for (const ep of ["/api/eval", "/api/eval/results"]) {
      const r = await rawGet(dash.url, `${ep}?path=${value}`);
      refused(r);
      expect(r.status).toBe(403);
    }
  });

  it("refuses symlinks that point outside (directory and file), and does not list them", async () => {
    refused(await rawGet(dash.url, "/files/evil-dir-link/status.json"));
    refused(await rawGet(dash.url, `/files/${FINISHED}/secret-link.txt`));
    expect((await rawGet(dash.url, "/api/run?run=evil-dir-link")).status).toBe(403);
    expect((await rawGet(dash.url, "/api/metrics?run=evil-dir-link")).status).toBe(403);
    const list = await getJson("/api/runs");
    expect((list.json.runs as { name: string }[]).map((r) => r.name)).not.toContain("evil-dir-link");
  });

  it("refuses a run whose metrics.jsonl is a symlink to a file outside", async () => {
    const f = join(runs, CRASHED, "metrics.jsonl");
    renameSync(f, `${f}.orig`);
    writeFileSync(join(base, "outside-metrics.jsonl"), '{"step":1,"accuracy":0.123456}\n');
    symlinkSync(join(base, "outside-metrics.jsonl"), f);
    try {
      const r = await rawGet(dash.url, `/api/metrics?run=${CRASHED}`);
      expect(r.status).toBe(403);
      expect(r.body).not.toContain("0.123456");
    } finally {
      rmSync(f);
      renameSync(`${f}.orig`, f);
    }
  });

  it("refuses other hosts (DNS rebinding) and non-GET methods", async () => {
    expect((await rawGet(dash.url, "/api/runs", { Host: "attacker.example:6006" })).status).toBe(403);
    const u = new URL(dash.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: u.hostname, port: u.port, path: "/api/runs", method: "POST" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(405);
  });
});
