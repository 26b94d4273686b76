#!/usr/bin/env node
/**
 * Times the /play page in headless Chromium (docs/play.md, docs/webgpu.md "Figures"): serves the built
 * page (`npm run build` → dist/play/public) with the dashboard, opens /play/?autostart=1&<query> in
 * Debian's chromium (WebGPU over SwiftShader where the page picks it), and prints window.ahaPlay every
 * --every seconds as one JSON line (elapsed seconds, step, accuracy, base, final), then the page's
 * "Done after …" line. Stops after --minutes (the last line then says it was cut short).
 *
 *   node scripts/measure-play.mjs [--query "backend=webgpu"] [--minutes 60] [--every 10]
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startDashboard } from "../dist/dashboard/server.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const query = opt("query", "backend=webgpu");
const minutes = Number(opt("minutes", "60"));
const every = Number(opt("every", "10"));

const dir = mkdtempSync(join(tmpdir(), "aha-measure-play-"));
mkdirSync(join(dir, "runs"));
const dash = await startDashboard({ runsDir: join(dir, "runs"), assetsDir: join(dir, "none"), playDir: join(REPO, "dist", "play", "public"), port: 0 });
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  await page.route("**/*", (route) => (route.request().url().startsWith(dash.url) ? route.continue() : route.abort()));
  const t0 = Date.now();
  await page.goto(`${dash.url}play/?autostart=1&${query}`);
  let s = null;
  let lastStep = -1;
  while (Date.now() - t0 < minutes * 60_000) {
    await new Promise((r) => setTimeout(r, every * 1000));
    s = await page.evaluate(() => globalThis.ahaPlay ?? null);
    if (s && (s.step !== lastStep || s.done)) {
      lastStep = s.step;
      console.log(JSON.stringify({ elapsed_s: Math.round((Date.now() - t0) / 1000), backend: s.backend, detail: s.detail, step: s.step, steps: s.steps,
        accuracy: s.accuracy, base: s.base, final: s.final, done: s.done, error: s.error }));
    }
    if (s?.done) break;
  }
  const phase = await page.textContent('[data-testid="phase"]').catch(() => null);
  console.log(s?.done ? `done: ${phase}` : `cut short after ${minutes} min at step ${s?.step ?? "?"}: ${phase}`);
} finally {
  await browser.close();
  await dash.close();
}
