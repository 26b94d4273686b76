#!/usr/bin/env node
// Builds the /play page (src/play: the demo trained in a browser tab) into a static folder that
// `aha dashboard` serves at /play and that any static file server can serve as it is:
//   index.html, play.js (the page), play-worker.js (the training worker), play-gpu-worker.js (WebGPU's
//   device side), play.css,
//   aha_kernels.wasm (the WASM SIMD kernels, when clang and wasm-ld are installed: scripts/build-wasm.mjs),
//   demo-config.json (`aha train`'s resolved demo settings, from dist/runner/config.js: run after tsc),
//   demo-adder/ (the demo model's files).
// Run by `npm run build`.   node scripts/build-play.mjs [OUT_DIR]      (default dist/play/public)
//
// Browser bundles swap one module: src/kernels/index.ts (Node's backend chooser: AHA_BACKEND, the native
// addon) for src/kernels/browser.ts (same exports, no Node APIs). Any Node built-in that still reaches
// the bundle fails the build (test/play/bundle.test.ts checks the same).
import { build } from "esbuild";
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { buildWasm, WASM_OUT } from "./build-wasm.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const PLAY = join(ROOT, "src", "play");
export const MODEL_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"];

/** The one module a browser bundle replaces: the Node backend chooser → the browser one. */
export const BROWSER_MAP = { [join(ROOT, "src", "kernels", "index.ts")]: join(ROOT, "src", "kernels", "browser.ts") };

/** esbuild plugin: applies BROWSER_MAP, and refuses Node built-ins (naming the importer). */
export const browserPlugin = {
  name: "aha-browser",
  setup(b) {
    b.onResolve({ filter: /^(node:|fs$|path$|os$|module$|url$|child_process$|worker_threads$|crypto$|util$|timers)/ }, (a) => ({
      errors: [{ text: `${a.path} is a Node built-in: the browser bundle must not import it (imported by ${a.importer})` }],
    }));
    b.onResolve({ filter: /\/index\.js$/ }, (a) => {
      const target = resolve(a.resolveDir, a.path).replace(/\.js$/, ".ts");
      return BROWSER_MAP[target] ? { path: BROWSER_MAP[target] } : undefined;
    });
  },
};

/** The page's two entries bundled for the browser; returns esbuild's result (metafile: what went in; outputFiles when write is false). */
export async function bundlePlay(outdir, { minify = true, write = true } = {}) {
  const r = await build({
    entryPoints: { play: join(PLAY, "web", "main.ts"), "play-worker": join(PLAY, "worker.ts"), "play-gpu-worker": join(PLAY, "gpu-worker.ts"), "play-style": join(PLAY, "web", "style.css") },
    bundle: true,
    outdir,
    write,
    format: "iife",
    platform: "browser",
    target: ["chrome113", "firefox120", "safari17"],
    minify,
    sourcemap: false,
    legalComments: "linked",
    logLevel: "silent",
    metafile: true,
    plugins: [browserPlugin],
  });
  return r;
}

/**
 * The whole static folder. `resolveTrainSettings` (src/runner/config.ts) gives the demo's config;
 * default: the compiled one in dist/ (tests pass the source's).
 */
export async function buildPlay(outDir = join(ROOT, "dist", "play", "public"), { minify = true, resolveTrainSettings = null } = {}) {
  if (!resolveTrainSettings) {
    const configModule = join(ROOT, "dist", "runner", "config.js");
    if (!existsSync(configModule)) throw new Error(`${configModule} is missing: run tsc first (npm run build does)`);
    ({ resolveTrainSettings } = await import(pathToFileURL(configModule).href));
  }
  const tmp = `${outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, "demo-adder"), { recursive: true });
  await bundlePlay(tmp, { minify });
  renameSync(join(tmp, "play-style.css"), join(tmp, "play.css"));
  copyFileSync(join(PLAY, "web", "index.html"), join(tmp, "index.html"));
  const { config } = resolveTrainSettings({});
  config.model.model = "demo-adder"; // the page's own folder, not this machine's path
  writeFileSync(join(tmp, "demo-config.json"), JSON.stringify(config, null, 1) + "\n");
  for (const f of MODEL_FILES) copyFileSync(join(ROOT, "models", "demo-adder", f), join(tmp, "demo-adder", f));
  const wasm = buildWasm();
  if (wasm.out) copyFileSync(WASM_OUT, join(tmp, "aha_kernels.wasm"));
  else process.stderr.write(`aha: warning: WASM kernels not built (${wasm.why}); /play will run the TypeScript kernels ("js"). apt-get install clang lld, then npm run build.\n`);
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmp, outDir);
  return { outDir, wasm: wasm.out !== null };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { outDir, wasm } = await buildPlay(process.argv[2] ? resolve(process.argv[2]) : undefined);
  process.stdout.write(`play: built ${outDir}${wasm ? "" : " (without WASM kernels)"}\n`);
  if (!wasm && process.env.AHA_REQUIRE_NATIVE === "1") process.exit(1);
}
