/**
 * The webgpu backend in a browser: the training worker (./worker.ts) is the host side (the synchronous
 * Backend the model calls, src/kernels/webgpu/backend.ts), a second worker (./gpu-worker.ts) owns the
 * GPUDevice. Sync points block the training worker in Atomics.wait on a SharedArrayBuffer, which a
 * browser allows only in a worker of a cross-origin isolated page (the dashboard serves /play with
 * COOP/COEP headers; docs/play.md says what a static host must send).
 */
import { SyncLink, WebGpuBackend } from "../kernels/webgpu/backend.js";
import { CTRL_SEQ, newSyncShared, readError, type GpuOp } from "../kernels/webgpu/protocol.js";
import type { WebGpuFactory } from "./backends.js";

/** The part of the Worker API used here (this file also compiles without the DOM types). */
declare const Worker: new (url: URL) => { postMessage(m: unknown, transfer?: ArrayBuffer[]): void; terminate(): void };

/** Starts the GPU worker (script at `url`) and waits, without blocking, for its device. */
export function webGpuFactory(url: URL, startupMs = 60_000): WebGpuFactory {
  return async () => {
    if (!(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated) {
      return { error: "the page is not cross-origin isolated (COOP/COEP headers), so the worker cannot wait on the GPU (SharedArrayBuffer)" };
    }
    const shared = newSyncShared();
    const ctrl = new Int32Array(shared.ctrl);
    const seq = Atomics.load(ctrl, CTRL_SEQ);
    const worker = new Worker(url);
    worker.postMessage({ shared });
    // startup is awaited asynchronously: a nested worker may need this thread's event loop to start
    const t0 = Date.now();
    while (Atomics.load(ctrl, CTRL_SEQ) === seq) {
      if (Date.now() - t0 > startupMs) {
        worker.terminate();
        return { error: `the GPU worker did not answer in ${startupMs / 1000} s` };
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const err = readError(shared);
    if (err !== null) {
      worker.terminate();
      return { error: err };
    }
    const raw = new Uint8Array(shared.error).slice();
    const info = JSON.parse(new TextDecoder().decode(raw.subarray(0, raw.indexOf(0)))) as { maxHeapBytes: number; adapter: string };
    new Uint8Array(shared.error).fill(0);
    const link = new SyncLink((m: GpuOp, transfer?: ArrayBuffer[]) => worker.postMessage(m, transfer ?? []), shared, info.maxHeapBytes, info.adapter);
    return { backend: new WebGpuBackend(link), adapter: info.adapter };
  };
}
