/**
 * The /play page's bundles are browser code: esbuild (platform browser) bundles the page and its
 * training worker — the model, RL, tasks, rewards, rollout and formats layers — and the build refuses
 * any Node built-in. Here: the bundle builds, names no Node built-in among its inputs, replaces the Node
 * backend chooser by the browser one (same exports), and leaves no Node global (Buffer, process,
 * require) in the code; and the refusal itself works.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";
// @ts-expect-error -- a plain .mjs build script without types
import { browserPlugin, bundlePlay } from "../../scripts/build-play.mjs";

interface Bundle { metafile: { inputs: Record<string, unknown> }; outputFiles: { path: string; text: string }[] }

const dir = mkdtempSync(join(tmpdir(), "aha-play-bundle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the /play browser bundle", () => {
  it("builds for the browser with no Node built-in and no Node global", async () => {
    const r = (await bundlePlay(dir, { write: false })) as Bundle; // minified: no comments to scan
    const inputs = Object.keys(r.metafile.inputs);
    // the layers the page runs are in it
    for (const f of ["src/model/model.ts", "src/rl/trainer.ts", "src/rl/stages.ts", "src/rollout/local.ts", "src/tasks/arithmetic.ts", "src/formats/safetensors-bytes.ts", "src/formats/tokenizer-core.ts", "src/kernels/wasm.ts", "src/kernels/webgpu/backend.ts", "src/kernels/webgpu/executor.ts", "src/eval/question.ts"]) {
      expect(inputs, f).toContain(f);
    }
    expect(inputs.filter((i) => i.startsWith("node:") || /^(fs|path|os|module|url|child_process|worker_threads|crypto|util)$/.test(i))).toEqual([]);
    // the Node chooser (and the native addon's loader) replaced by the browser chooser
    expect(inputs).toContain("src/kernels/browser.ts");
    expect(inputs.filter((i) => i === "src/kernels/index.ts" || i === "src/kernels/native.ts" || i.startsWith("src/runs/") || i === "src/util/atomic.ts" || i === "src/util/jsonl.ts")).toEqual([]);
    const js = r.outputFiles.filter((f) => f.path.endsWith(".js"));
    expect(js.map((f) => f.path.split("/").pop()).sort()).toEqual(["play-gpu-worker.js", "play-worker.js", "play.js"]);
    for (const f of js) {
      const globals = [...f.text.matchAll(/(?<![.\w$])(Buffer\.(from|alloc|allocUnsafe|concat|isBuffer|byteLength)|process\.(env|stderr|stdout|pid|platform|versions|cwd|exit|on|hrtime|nextTick|memoryUsage)|require\(|__dirname|__filename)/g)].map((m) => m[0]);
      expect(globals, f.path).toEqual([]);
    }
  });

  it("the browser chooser has the Node chooser's exports", async () => {
    const node = await import("../../src/kernels/index.js");
    const browser = await import("../../src/kernels/browser.js");
    for (const [k, v] of Object.entries(node)) expect(typeof (browser as Record<string, unknown>)[k], k).toBe(typeof v);
    expect(browser.getBackend().name).toBe("ts");
  });

  it("refuses a Node built-in, naming the importer", async () => {
    const entry = join(dir, "bad.ts");
    writeFileSync(entry, 'import { readFileSync } from "node:fs";\nexport const x = readFileSync;\n');
    await expect(build({ entryPoints: [entry], bundle: true, write: false, platform: "browser", logLevel: "silent", plugins: [browserPlugin] }))
      .rejects.toThrow(/node:fs is a Node built-in.*bad\.ts/s);
  });
});
