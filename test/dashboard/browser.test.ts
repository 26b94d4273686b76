/// <reference lib="dom" />
/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core, against a copy of
 * fixtures/runs. Screenshots go to test-artifacts/dashboard/ (look at them).
 */
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDashboard, type Dashboard } from "../../src/dashboard/server.js";
import { EVAL, FINISHED, RUNNING, copyFixture } from "./helpers.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ARTIFACTS = join(REPO, "test-artifacts", "dashboard");
const CHROMIUM = "/usr/bin/chromium";

let base: string;
let runs: string;
let dash: Dashboard;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  ({ base, runs } = copyFixture());
  const assets = join(base, "public");
  execFileSync(process.execPath, [join(REPO, "scripts", "build-dashboard.mjs"), assets]);
  dash = await startDashboard({ runsDir: runs, assetsDir: assets, port: 0, pollMs: 200 });
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  // Nothing outside the dashboard may be fetched (no CDN, no network).
  await page.route("**/*", (route) => (route.request().url().startsWith(dash.url) ? route.continue() : route.abort()));
});

afterAll(async () => {
  await browser?.close();
  await dash?.close();
  if (base) rmSync(base, { recursive: true, force: true });
});

/** Pixels of a chart's canvas that belong to a drawn curve (saturated colour, not the grey grid). */
async function curvePixels(chartId: string): Promise<number> {
  return page.$eval(`[data-chart="${chartId}"] canvas`, (c) => {
    const canvas = c as HTMLCanvasElement;
    const ctx = canvas.getContext("2d");
    if (!ctx) return -1;
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      const r = d[i] ?? 0;
      const g = d[i + 1] ?? 0;
      const b = d[i + 2] ?? 0;
      const a = d[i + 3] ?? 0;
      if (a > 100 && Math.max(r, g, b) - Math.min(r, g, b) > 80) n++;
    }
    return n;
  });
}

describe("dashboard in chromium", () => {
  it("lists the runs with their status and the evaluations", async () => {
    await page.goto(dash.url);
    await page.waitForSelector('[data-testid="runs-table"] tbody tr');
    const rows = await page.$$eval('[data-testid="runs-table"] tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).innerText));
    expect(rows).toHaveLength(3);
    const text = rows.join("\n");
    expect(text).toContain(FINISHED);
    expect(text).toContain(RUNNING);
    expect(text).toMatch(/finished/);
    expect(text).toMatch(/running/);
    expect(text).toMatch(/crashed/);
    const evals = await page.$$eval('[data-testid="evals-table"] tbody tr', (trs) => trs.length);
    expect(evals).toBe(3);
    await page.screenshot({ path: join(ARTIFACTS, "runs.png"), fullPage: true });
  });

  it("draws the curves of a run (the canvas has the curve's pixels)", async () => {
    await page.goto(`${dash.url}#/run?p=${FINISHED}`);
    await page.waitForSelector('[data-chart="accuracy"] canvas');
    await page.waitForFunction(() => document.querySelectorAll(".chart canvas").length >= 10);
    expect(await curvePixels("accuracy")).toBeGreaterThan(300);
    expect(await curvePixels("length/mean")).toBeGreaterThan(300);
    const titles = await page.$$eval(".chart-title", (els) => els.map((e) => (e as HTMLElement).innerText));
    for (const t of ["Accuracy", "Re-check share", "KL to reference", "Gradient norm", "Seconds per phase", "Tokens per second", "Clipped tokens"]) {
      expect(titles.join("\n")).toContain(t);
    }
    expect(await page.textContent('[data-testid="summary"]')).toContain("pass@1");
    await page.screenshot({ path: join(ARTIFACTS, "run.png"), fullPage: true });
  });

  it("opens the samples of the step clicked on a curve, and highlights a search", async () => {
    const over = await page.$('[data-chart="accuracy"] .u-over');
    const box = await over?.boundingBox();
    if (!box) throw new Error("no plot area");
    await page.mouse.click(box.x + box.width * 0.6, box.y + box.height * 0.5);
    await page.waitForSelector('[data-pane="samples"]:not([hidden]) .sample');
    const step = Number(await page.$eval('[data-testid="step-select"]', (s) => (s as HTMLSelectElement).value));
    expect(step).toBeGreaterThan(50);
    expect(step).toBeLessThan(70);
    const cardSteps = await page.$$eval(".sample", (els) => els.map((e) => Number((e as HTMLElement).dataset.step)));
    expect(cardSteps.length).toBeGreaterThan(0);
    expect(new Set(cardSteps)).toEqual(new Set([step]));
    expect(await page.$$eval(".sample .seg-think", (e) => e.length)).toBeGreaterThan(0);
    await page.keyboard.press("ArrowRight");
    await page.waitForFunction((s) => (document.querySelector('[data-testid="step-select"]') as HTMLSelectElement | null)?.value === String(s), step + 1);
    expect(await page.$$eval(".sample", (els) => els.map((e) => Number((e as HTMLElement).dataset.step)))).toContain(step + 1);
    await page.fill('[data-testid="search"]', "wait");
    await page.check(".sample-controls .check input");
    await page.waitForSelector(".sample mark.hit");
    const marks = await page.$$eval(".sample mark.hit", (els) => els.map((e) => (e as HTMLElement).innerText.toLowerCase()));
    expect(marks.every((m) => m === "wait")).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, "samples.png") });
  });

  it("updates a running run's page live when a metrics line is appended", async () => {
    await page.goto(`${dash.url}#/run?p=${RUNNING}&smooth=0`);
    await page.waitForSelector('[data-chart="accuracy"] canvas');
    const lastStep = JSON.parse(readFileSync(join(runs, RUNNING, "metrics.jsonl"), "utf8").trim().split("\n").pop() ?? "{}") as Record<string, number>;
    expect(await page.innerText('[data-testid="run-step"]')).toBe(`${lastStep.step} / 200`);
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    appendFileSync(join(runs, RUNNING, "metrics.jsonl"), JSON.stringify({ ...lastStep, step: (lastStep.step ?? 0) + 1, time: (lastStep.time ?? 0) + 30, accuracy: 0.987 }) + "\n");
    await page.waitForFunction((s) => document.querySelector('[data-testid="run-step"]')?.textContent === s, `${(lastStep.step ?? 0) + 1} / 200`, { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelector('[data-chart="accuracy"] .readout')?.textContent?.includes("98.7%"), null, { timeout: 10_000 });
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42); // no reload
    await page.screenshot({ path: join(ARTIFACTS, "live.png") });
  });

  it("overlays several runs", async () => {
    await page.goto(`${dash.url}#/run?p=${FINISHED}&with=${RUNNING}`);
    await page.waitForSelector('[data-chart="accuracy"] canvas');
    expect(await page.innerText(".run-legend")).toContain(RUNNING);
    expect(await curvePixels("accuracy")).toBeGreaterThan(300);
    await page.screenshot({ path: join(ARTIFACTS, "compare.png") });
  });

  it("shows an evaluation: summary, categories, per-question samples", async () => {
    await page.goto(`${dash.url}#/eval?p=${EVAL}`);
    await page.waitForSelector('[data-testid="questions"] .question');
    expect(await page.textContent('[data-testid="eval-summary"]')).toContain("pass@1");
    expect(await page.$$eval('[data-testid="categories"] tbody tr', (r) => r.length)).toBe(3);
    await page.click('[data-testid="verdict"] button[data-value="incorrect"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="questions"] .sample.is-ok').length === 0 && document.querySelectorAll('[data-testid="questions"] .sample.is-bad').length > 0);
    await page.screenshot({ path: join(ARTIFACTS, "eval.png") });
  });
});
