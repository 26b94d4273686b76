#!/usr/bin/env node
// Bundles the dashboard's web app (src/dashboard/web: TypeScript + uPlot + CSS) into static files
// that `aha dashboard` serves: index.html, app.js, app.css. Run by `npm run build`; no network at
// run time, no CDN.
//   node scripts/build-dashboard.mjs [OUT_DIR]      (default dist/dashboard/public)
import { build } from "esbuild";
import { copyFileSync, mkdirSync, renameSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WEB = join(ROOT, "src", "dashboard", "web");

export async function buildDashboard(outDir = join(ROOT, "dist", "dashboard", "public"), { minify = true } = {}) {
  // Build next to the target, then rename into place: a running server never sees half a bundle.
  const tmp = `${outDir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  await build({
    entryPoints: { app: join(WEB, "main.ts"), "app-style": join(WEB, "style.css") },
    bundle: true,
    outdir: tmp,
    format: "iife",
    target: ["chrome110", "firefox110", "safari16"],
    minify,
    sourcemap: false,
    legalComments: "linked",
    logLevel: "warning",
  });
  renameSync(join(tmp, "app-style.css"), join(tmp, "app.css"));
  copyFileSync(join(WEB, "index.html"), join(tmp, "index.html"));
  const { rmSync } = await import("node:fs");
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmp, outDir);
  return outDir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildDashboard(process.argv[2] ? resolve(process.argv[2]) : undefined);
  process.stdout.write(`dashboard: bundled into ${out}\n`);
}
