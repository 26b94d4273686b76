/// <reference lib="dom" />
/**
 * Multi-turn episodes on the dashboard, in Debian's chromium (playwright-core): a run whose samples
 * are episodes shows the model's text, each tool call and each result in their own styles (and an
 * episode cut by a limit says so); its tools/ metrics get their own charts. The screenshot goes to
 * test-artifacts/dashboard/episodes.png.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDashboard, type Dashboard } from "../../src/dashboard/server.js";
import type { EpisodeRecord } from "../../src/env/types.js";
import { RunDir, type SampleRow } from "../../src/runs/run-dir.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ARTIFACTS = join(REPO, "test-artifacts", "dashboard");
const CHROMIUM = "/usr/bin/chromium";
const RUN = "tools-run";

let base: string;
let dash: Dashboard;
let browser: Browser;
let page: Page;

const episode = (calls: number, finish: EpisodeRecord["finish"]): EpisodeRecord => {
  const spans: EpisodeRecord["spans"] = [];
  const rec: EpisodeRecord["calls"] = [];
  let pos = 0;
  for (let i = 0; i < calls; i++) {
    spans.push({ kind: "model", start: pos, end: pos + 10, text: `<think>I need 1234*56${i}. <calculator>1234*56${i}</calculator>` });
    pos += 10;
    const out = String(1234 * (560 + i));
    spans.push({ kind: "env", start: pos, end: pos + 3, text: `<result>${out}</result>` });
    pos += 3;
    rec.push({ name: "calculator", input: { expression: `1234*56${i}` }, output: out, seconds: 0.001 });
  }
  if (finish === "stop") spans.push({ kind: "model", start: pos, end: pos + 5, text: "so the product is known.</think> <answer>691040</answer>" });
  rec.push(...(finish === "stop" ? [] : [{ name: "shell", input: { cmd: "ls" }, output: 'error: unknown tool "shell"', error: "unknown tool", seconds: 0 }]));
  return { spans, calls: rec, turns: calls + 1, finish, ...(finish === "stop" ? {} : { detail: "3 turns at most" }), toolSeconds: 0.002 };
};

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  base = mkdtempSync(join(tmpdir(), "aha-dash-tools-"));
  const runs = join(base, "runs");
  const run = RunDir.create(join(runs, RUN), { task: "multiply", tools: ["calculator"] }, { total_steps: 3, kind: "train", task: "multiply", model: "tiny", algorithm: "grpo" });
  for (let step = 1; step <= 3; step++) {
    run.appendMetrics({ step, time: step, accuracy: 0.2 * step, "length/mean": 30, "tools/calls_per_episode": 0.3 * step, "tools/turns_per_episode": 1 + 0.3 * step, "tools/errors": 0.1, "tools/seconds": 0.01, "tools/masked_share": 0.1 * step, "tools/finish/max_turns": 0.05 });
    const rows: SampleRow[] = [
      { step, prompt: "What is 1234 * 560?", response: "…", reward: 1, parts: { accuracy: 1 }, correct: true, extracted: "691040", length: 25, truncated: false, episode: episode(1, "stop") },
      { step, prompt: "What is 1234 * 561?", response: "…", reward: 0, parts: { accuracy: 0 }, correct: false, extracted: null, length: 20, truncated: false, episode: episode(1, "max_turns") },
    ];
    run.appendSamples(rows);
  }
  run.setStep(3);
  run.setState("finished");
  const assets = join(base, "public");
  execFileSync(process.execPath, [join(REPO, "scripts", "build-dashboard.mjs"), assets]);
  dash = await startDashboard({ runsDir: runs, assetsDir: assets, port: 0, pollMs: 200 });
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  await page.route("**/*", (route) => (route.request().url().startsWith(dash.url) ? route.continue() : route.abort()));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await dash?.close();
  if (base) rmSync(base, { recursive: true, force: true });
});

describe("episodes on the dashboard", () => {
  it("charts the tools/ metrics", async () => {
    await page.goto(`${dash.url}#/run?p=${RUN}`);
    await page.waitForSelector('[data-chart="tools/calls_per_episode"] canvas');
    const titles = (await page.$$eval(".chart-title", (els) => els.map((e) => (e as HTMLElement).innerText))).join("\n");
    for (const t of ["Tool calls per episode", "Model turns per episode", "Failed tool calls per episode", "Tool tokens (masked out of the loss)"]) expect(titles).toContain(t);
  });

  it("shows the model's text, each call and each result distinguishably", async () => {
    await page.goto(`${dash.url}#/run?p=${RUN}&tab=samples&step=3`);
    await page.waitForSelector('[data-testid="episode"]');
    const cards = await page.$$('[data-testid="episode"]');
    expect(cards.length).toBe(2);
    // the first episode: model turn, call, result, model turn (think + answer)
    const kinds = await cards[0]!.$$eval(":scope > .turn", (els) => els.map((e) => e.className));
    expect(kinds).toEqual(["turn turn-model", "turn turn-env", "turn turn-model"]);
    expect(await cards[0]!.$eval('[data-testid="tool-call"]', (e) => (e as HTMLElement).innerText)).toMatch(/calculator\s+\{"expression":"1234\*560"\}/);
    expect(await cards[0]!.$eval('[data-testid="tool-result"]', (e) => (e as HTMLElement).innerText)).toContain("<result>691040</result>");
    expect(await cards[0]!.$$eval(".seg-answer", (e) => e.length)).toBe(1);
    // the result's style differs from the model's text
    const bg = await cards[0]!.$eval(".seg-env", (e) => getComputedStyle(e).backgroundColor);
    const modelBg = await cards[0]!.$eval(".seg-think", (e) => getComputedStyle(e).backgroundColor);
    expect(bg).not.toBe(modelBg);
    // the second: a limit ended it, and its failed call is marked
    expect(await cards[1]!.$eval(".episode-end", (e) => (e as HTMLElement).innerText)).toMatch(/max turns/);
    const calls = await cards[1]!.$$eval('[data-testid="tool-call"]', (els) => els.map((e) => (e as HTMLElement).innerText));
    expect(calls).toHaveLength(2);
    expect(calls[1]).toMatch(/shell[\s\S]*unknown tool/);
    expect(await cards[1]!.$$eval('[data-testid="tool-call"].has-error', (e) => e.length)).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, "episodes.png"), fullPage: true });
  });
});
