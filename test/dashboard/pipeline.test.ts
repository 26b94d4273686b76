/// <reference lib="dom" />
/**
 * The dashboard shows the stages of an `aha pipeline` run (pipeline.json): the API's view of a pipeline
 * whose process died inside its RL stage, and the runs page in Debian's chromium (playwright-core),
 * with a stage linked to its run page. Screenshot: test-artifacts/dashboard/pipeline.png.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunsDir } from "../../src/dashboard/runs.js";
import { startDashboard, type Dashboard } from "../../src/dashboard/server.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const base = mkdtempSync(join(tmpdir(), "aha-dash-pipe-"));
const runs = join(base, "runs");
const DEAD_PID = 2 ** 22 + 12345; // above pid_max's default: no such process

/** A pipeline killed in its third stage: sample and sft done, rl "running" (its process gone), eval pending. */
function writePipeline(): void {
  const p = join(runs, "r1-demo");
  const now = new Date().toISOString();
  mkdirSync(join(p, "01-data"), { recursive: true });
  writeFileSync(join(p, "01-data", "samples.jsonl"), '{"prompt":"1+2=","response":"<answer>3</answer>"}\n');
  for (const [dir, step, total, state] of [["02-cold", 20, 20, "finished"], ["03-rl", 7, 40, "running"]] as const) {
    mkdirSync(join(p, dir), { recursive: true });
    writeFileSync(join(p, dir, "config.json"), "{}");
    writeFileSync(join(p, dir, "status.json"), JSON.stringify({ state, pid: DEAD_PID, started: now, updated: now, step, total_steps: total, kind: dir === "02-cold" ? "sft" : "train", task: "arithmetic", model: "model" }));
    writeFileSync(join(p, dir, "metrics.jsonl"), Array.from({ length: step }, (_, i) => JSON.stringify({ step: i + 1, time: i, accuracy: 0.5 + i / 100, loss: 1 })).join("\n") + "\n");
  }
  const stage = (name: string, kind: string, dir: string, state: string, output?: Record<string, unknown>): Record<string, unknown> => ({ name, kind, dir, state, ...(output ? { output } : {}) });
  writeFileSync(join(p, "pipeline.json"), JSON.stringify({
    kind: "pipeline", state: "running", pid: DEAD_PID, started: now, updated: now, model: "models/demo-adder",
    stages: [stage("data", "sample", "01-data", "done", { data: "x", kept: 187 }), stage("cold", "sft", "02-cold", "done", { model: "m" }), stage("rl", "rl", "03-rl", "running"), stage("eval", "eval", "04-eval", "pending"), stage("evil", "eval", "../../etc", "pending")],
  }));
}

let dash: Dashboard;
let browser: Browser;
beforeAll(async () => {
  writePipeline();
  const assets = join(base, "public");
  execFileSync(process.execPath, [join(REPO, "scripts", "build-dashboard.mjs"), assets]);
  dash = await startDashboard({ runsDir: runs, assetsDir: assets, port: 0, pollMs: 200 });
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
});
afterAll(async () => {
  await browser?.close();
  await dash?.close();
  rmSync(base, { recursive: true, force: true });
});

describe("a pipeline run in the dashboard", () => {
  it("the API lists its stages in order, a dead process's stage as crashed, and its stage runs", async () => {
    const list = await new RunsDir(runs).list();
    expect(list.pipelines).toHaveLength(1);
    const p = list.pipelines[0]!;
    expect(p.status).toBe("crashed");
    // the stage whose folder would leave the pipeline's folder is not listed
    expect(p.stages.map((s) => [s.name, s.state, s.opens, s.step, s.total_steps, s.kept])).toEqual([
      ["data", "done", null, null, null, 187],
      ["cold", "done", "run", 20, 20, null],
      ["rl", "crashed", "run", 7, 40, null],
      ["eval", "pending", null, null, null, null],
    ]);
    expect(list.runs.map((r) => r.path)).toEqual(["r1-demo/02-cold", "r1-demo/03-rl"]);
  });

  it("the runs page shows the stages, each run stage linked to its page", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.route("**/*", (route) => (route.request().url().startsWith(dash.url) ? route.continue() : route.abort()));
    await page.goto(dash.url);
    await page.waitForSelector('[data-testid="pipeline-stages"] tbody tr');
    const rows = await page.$$eval('[data-testid="pipeline-stages"] tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).innerText.replace(/\s+/g, " ").trim()));
    expect(rows).toHaveLength(4);
    expect(rows[0]).toMatch(/^1 data sample done .*187 rows kept$/);
    expect(rows[1]).toMatch(/^2 cold sft done 20 \/ 20/);
    expect(rows[2]).toMatch(/^3 rl rl crashed 7 \/ 40/);
    expect(rows[3]).toMatch(/^4 eval eval pending/);
    expect(await page.innerText('[data-pipeline="r1-demo"] .pipeline-head')).toMatch(/r1-demo\s+crashed/);
    mkdirSync(join(REPO, "test-artifacts", "dashboard"), { recursive: true });
    await page.screenshot({ path: join(REPO, "test-artifacts", "dashboard", "pipeline.png"), fullPage: true });
    await page.click('[data-stage="rl"] a');
    await page.waitForFunction(() => location.hash.startsWith("#/run"));
    expect(decodeURIComponent(await page.evaluate(() => location.hash))).toBe("#/run?p=r1-demo/03-rl");
    await page.close();
  });
});
