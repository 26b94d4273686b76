/// <reference lib="dom" />
/**
 * The /play page in a real browser (Debian's chromium driven by playwright-core, as the dashboard's
 * browser tests): the page served by the dashboard trains the demo in a Web Worker for a few steps and
 * held-out pass@1 rises. Screenshots go to test-artifacts/play/.
 *
 * Both paths run: WASM (10 steps of the demo's size: held-out pass@1 must rise) and WebGPU on
 * Chromium's SwiftShader adapter (--enable-unsafe-webgpu --enable-unsafe-swiftshader: Vulkan on the
 * CPU, so one tiny step — 2 prompts × 4 samples, 1 held-out problem × 1 sample per evaluation — which
 * must run on the GPU path, give a finite loss and finish without an error; well under 2 minutes).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDashboard, type Dashboard } from "../../src/dashboard/server.js";
import { resolveTrainSettings } from "../../src/runner/config.js";
// @ts-expect-error -- a plain .mjs build script without types
import { buildPlay } from "../../scripts/build-play.mjs";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ARTIFACTS = join(REPO, "test-artifacts", "play");
const CHROMIUM = "/usr/bin/chromium";

interface AhaPlay { backend: string | null; detail: string | null; step: number; steps: number | null; accuracy: number | null; loss: number | null; base: number | null; final: number | null; done: boolean; error: string | null }

let dir: string;
let dash: Dashboard;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  dir = mkdtempSync(join(tmpdir(), "aha-play-"));
  mkdirSync(join(dir, "runs"));
  const { wasm } = await buildPlay(join(dir, "play"), { minify: false, resolveTrainSettings });
  if (!wasm) throw new Error("the WASM kernels did not build: apt-get install clang lld (.ci/run installs them)");
  dash = await startDashboard({ runsDir: join(dir, "runs"), assetsDir: join(dir, "none"), playDir: join(dir, "play"), port: 0 });
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await dash?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function openPage(query: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, deviceScaleFactor: 1 });
  // nothing outside the dashboard may be fetched (no CDN, no network)
  await page.route("**/*", (route) => (route.request().url().startsWith(dash.url) ? route.continue() : route.abort()));
  await page.goto(`${dash.url}play/?${query}`);
  return page;
}

async function waitDone(page: Page, timeoutMs: number): Promise<AhaPlay> {
  await page.waitForFunction(() => window.ahaPlay?.done === true, null, { timeout: timeoutMs, polling: 500 });
  return page.evaluate(() => window.ahaPlay as AhaPlay);
}

describe("/play in chromium", () => {
  it("WASM: 10 GRPO steps in the tab raise held-out pass@1; curves, samples and both evaluations are shown", async () => {
    const page = await openPage("steps=10&heldout=40&samples=4&autostart=1&backend=wasm");
    const s = await waitDone(page, 1_200_000);
    await page.screenshot({ path: join(ARTIFACTS, "play-wasm.png"), fullPage: true });
    expect(s.error).toBeNull();
    expect(s.backend).toBe("wasm");
    expect(await page.textContent('[data-testid="backend"]')).toMatch(/kernels: wasm/);
    expect(s.step).toBe(10);
    expect(s.steps).toBe(10);
    expect(s.base).not.toBeNull();
    expect(s.final).not.toBeNull();
    // 40 problems × 4 samples: base ≈ 0.3; ten steps lift it well past noise (≈ ±0.04)
    expect(s.final!).toBeGreaterThan(s.base! + 0.08);
    expect(await page.textContent('[data-testid="summary"]')).toMatch(/pass@1.*%.*→.*%/s);
    expect(await page.$$eval('[data-testid="samples"] article', (a) => a.length)).toBeGreaterThan(0);
    expect(await page.$('[data-testid="eval-base"]')).not.toBeNull();
    expect(await page.$('[data-testid="eval-final"]')).not.toBeNull();
    // the accuracy chart has a drawn curve
    const curve = await page.$eval('[data-chart] canvas', (c) => {
      const canvas = c as HTMLCanvasElement;
      const d = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if ((d[i + 3] ?? 0) > 100 && Math.max(d[i]!, d[i + 1]!, d[i + 2]!) - Math.min(d[i]!, d[i + 1]!, d[i + 2]!) > 80) n++;
      return n;
    });
    expect(curve).toBeGreaterThan(50);
    await page.close();
  }, 1_500_000);

  it("WebGPU (SwiftShader): `auto` picks WebGPU on the cross-origin isolated page and trains on it", async () => {
    const page = await openPage("steps=1&prompts=2&group=4&heldout=1&samples=1&autostart=1");
    const s = await waitDone(page, 240_000);
    await page.screenshot({ path: join(ARTIFACTS, "play-webgpu.png"), fullPage: true });
    expect(s.error).toBeNull();
    expect(s.backend).toBe("webgpu");
    expect(s.detail).toMatch(/swiftshader/i);
    expect(s.step).toBe(1);
    expect(s.steps).toBe(1);
    for (const v of [s.base, s.final, s.accuracy]) {
      expect(v).not.toBeNull();
      expect(v!).toBeGreaterThanOrEqual(0);
      expect(v!).toBeLessThanOrEqual(1);
    }
    // an update with a finite loss from the GPU's forward and backward passes
    expect(s.loss).not.toBeNull();
    expect(Number.isFinite(s.loss)).toBe(true);
    expect(await page.textContent('[data-testid="phase"]')).toMatch(/Done after 1 steps/);
    await page.close();
  }, 300_000);
});
