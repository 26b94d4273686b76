/// <reference lib="webworker" />
/**
 * The /play page's training worker: fetches the demo (model files and `aha train`'s resolved demo
 * config, from the page's folder), picks the kernels (./backends.ts), runs ./session.ts and posts every
 * event to the page. The page stays responsive: all compute happens here. A "stop" message ends the run
 * after the current step.
 */
import { setBackend } from "../kernels/browser.js";
import type { TrainRunConfig } from "../runner/config.js";
import { pickBackend } from "./backends.js";
import type { FromWorker, ToWorker } from "./protocol.js";
import { applyOverrides, runPlay, type ModelFiles } from "./session.js";
import { webGpuFactory } from "./webgpu.js";

declare const self: DedicatedWorkerGlobalScope;

const MODEL_DIR = "demo-adder/";

function post(m: FromWorker): void {
  self.postMessage(m);
}

async function fetchJson(url: URL): Promise<Record<string, unknown>> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

async function fetchModel(base: URL): Promise<ModelFiles> {
  const dir = new URL(MODEL_DIR, base);
  const weights = await fetch(new URL("model.safetensors", dir));
  if (!weights.ok) throw new Error(`${dir.pathname}model.safetensors: HTTP ${weights.status}`);
  const gen = await fetch(new URL("generation_config.json", dir));
  return {
    config: await fetchJson(new URL("config.json", dir)),
    generationConfig: gen.ok ? ((await gen.json()) as Record<string, unknown>) : null,
    tokenizerJson: await fetchJson(new URL("tokenizer.json", dir)),
    tokenizerConfig: await fetchJson(new URL("tokenizer_config.json", dir)),
    weights: new Uint8Array(await weights.arrayBuffer()),
  };
}

let stop: AbortController | null = null;

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === "stop") {
    stop?.abort();
    return;
  }
  if (stop) return; // one run per worker
  stop = new AbortController();
  const signal = stop.signal;
  const base = new URL(".", self.location.href);
  void (async () => {
    try {
      const picked = await pickBackend(m.backend, new URL("aha_kernels.wasm", base), webGpuFactory(new URL("play-gpu-worker.js", base)));
      setBackend(picked.backend);
      post({ type: "backend", name: picked.name, detail: picked.detail });
      const [files, config] = await Promise.all([fetchModel(base), fetchJson(new URL("demo-config.json", base))]);
      await runPlay({
        files, config: applyOverrides(config as unknown as TrainRunConfig, m.overrides), backend: picked.backend, signal,
        emit: (event) => post({ type: "event", event }),
      });
    } catch (err) {
      post({ type: "error", message: (err as Error).message });
    }
  })();
};
