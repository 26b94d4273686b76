/**
 * The webgpu backend in Node: starts the GPU side (./webgpu-worker.ts) in a worker thread on Dawn (the
 * optional `webgpu` npm package) and returns the synchronous host side (./webgpu/backend.ts).
 *
 * Without a system Vulkan loader, Debian's chromium package supplies one with SwiftShader (a CPU Vulkan
 * driver): its libvulkan.so.1 is loaded into the process first and VK_ICD_FILENAMES points at its ICD,
 * so no LD_LIBRARY_PATH is needed. AHA_WEBGPU_SWIFTSHADER=1 forces SwiftShader even with a GPU driver.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { UserError } from "../errors.js";
import { SyncLink, WebGpuBackend, waitSignal } from "./webgpu/backend.js";
import { CTRL_SEQ, newSyncShared, readError, type GpuOp } from "./webgpu/protocol.js";

const CHROMIUM = "/usr/lib/chromium";
const SYSTEM_VULKAN = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu"]
  .map((d) => path.join(d, "libvulkan.so.1"));

export const WEBGPU_INSTALL_HINT = "the webgpu backend needs the optional `webgpu` package (Dawn for Node): run `npm install webgpu` " +
  "in the aha folder, and have a Vulkan driver (Debian: `apt-get install chromium` gives SwiftShader, a CPU one)";

/** Points the Vulkan loader at chromium's SwiftShader when there is no system loader (or when asked). */
function prepareVulkan(): string | null {
  const force = process.env["AHA_WEBGPU_SWIFTSHADER"] === "1";
  const hasSystem = SYSTEM_VULKAN.some((p) => existsSync(p));
  if (!force && (hasSystem || process.platform !== "linux")) return null;
  const lib = path.join(CHROMIUM, "libvulkan.so.1"), icd = path.join(CHROMIUM, "vk_swiftshader_icd.json");
  if (!existsSync(lib) || !existsSync(icd)) return null;
  process.env["VK_ICD_FILENAMES"] ??= icd;
  try {
    // not a Node addon: this throws "did not self-register", but with RTLD_NODELETE the library stays
    // loaded, and Dawn's later dlopen("libvulkan.so.1") finds it by its soname
    process.dlopen({ exports: {} }, lib, os.constants.dlopen.RTLD_NOW | os.constants.dlopen.RTLD_GLOBAL | 0x1000);
  } catch { /* expected */ }
  return "swiftshader";
}

/**
 * The worker's script: the built .js next to this file, or (running from src/ under vitest) an esbuild
 * bundle of the .ts in a temporary folder, which `done` removes once the worker has loaded it.
 */
export function workerScript(): { file: string; done: () => void } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".js")) return { file: path.join(path.dirname(here), "webgpu-worker.js"), done: () => {} };
  const esbuild = createRequire(import.meta.url)("esbuild") as typeof import("esbuild");
  const out = esbuild.buildSync({
    entryPoints: [path.join(path.dirname(here), "webgpu-worker.ts")], bundle: true, platform: "node", format: "esm",
    write: false, logLevel: "silent",
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), "aha-webgpu-"));
  const file = path.join(dir, "worker.mjs");
  writeFileSync(file, out.outputFiles[0]!.text);
  return { file, done: () => rmSync(dir, { recursive: true, force: true }) };
}

export type WebGpuLoad = { ok: true; backend: WebGpuBackend } | { ok: false; error: string };
let cached: WebGpuLoad | undefined;

/** Starts Dawn once per process; never throws (the reason is in `error`). */
export function loadWebGpuBackend(): WebGpuLoad {
  if (cached) return cached;
  let webgpuUrl: string;
  try {
    webgpuUrl = pathToFileURL(createRequire(import.meta.url).resolve("webgpu")).href;
  } catch {
    cached = { ok: false, error: WEBGPU_INSTALL_HINT };
    return cached;
  }
  try {
    prepareVulkan();
    const shared = newSyncShared();
    const ctrl = new Int32Array(shared.ctrl);
    const seq = Atomics.load(ctrl, CTRL_SEQ);
    const script = workerScript();
    const worker = new Worker(script.file, { workerData: { shared, webgpuUrl } });
    worker.unref();
    try {
      waitSignal(ctrl, seq, 120_000, "startup");
    } finally {
      script.done(); // the worker has read its script (or failed to start)
    }
    const err = readError(shared);
    if (err !== null) throw new Error(err);
    const raw = new Uint8Array(shared.error).slice();
    const info = JSON.parse(new TextDecoder().decode(raw.subarray(0, raw.indexOf(0)))) as { maxHeapBytes: number; adapter: string };
    new Uint8Array(shared.error).fill(0);
    const link = new SyncLink((m: GpuOp, transfer?: ArrayBuffer[]) => worker.postMessage(m, transfer ?? []), shared,
      info.maxHeapBytes, info.adapter);
    const backend = new WebGpuBackend(link);
    const kernels = process.env["AHA_WEBGPU_KERNELS"];
    if (kernels !== undefined && kernels !== "") {
      if (kernels !== "serial" && kernels !== "tiled" && kernels !== "measure") {
        throw new UserError(`AHA_WEBGPU_KERNELS=${kernels}: expected serial, tiled or measure`);
      }
      backend.variantMode = kernels;
    }
    if (process.env["AHA_WEBGPU_PROFILE"] === "1") {
      backend.profile = new Map();
      process.on("exit", () => {
        console.error(backend.profileReport());
        for (const c of backend.choices.values()) console.error(`  choice ${c.key}: ${c.variant} (serial ${c.ms.serial.toFixed(2)} ms, tiled ${c.ms.tiled.toFixed(2)} ms)`);
      });
    }
    cached = { ok: true, backend };
  } catch (e) {
    if (e instanceof UserError) throw e;
    cached = { ok: false, error: `starting WebGPU (Dawn) failed: ${(e as Error).message}` };
  }
  return cached;
}

/** The backend, or a UserError saying how to get it (AHA_BACKEND=webgpu). */
export function requireWebGpuBackend(): WebGpuBackend {
  const r = loadWebGpuBackend();
  if (!r.ok) throw new UserError(`AHA_BACKEND=webgpu: ${r.error}`);
  return r.backend;
}
