/// <reference lib="webworker" />
/// <reference types="@webgpu/types" />
/**
 * The GPU side of the webgpu backend in a browser (what src/kernels/webgpu-worker.ts is in Node): a
 * worker started by the training worker (./worker.ts, through ./webgpu.ts). Its first message carries
 * the shared control buffers; it opens a device on navigator.gpu with the adapter's largest buffer
 * limits, reports the adapter (or the error), then executes the host's operations in order
 * (src/kernels/webgpu/executor.ts).
 */
import { deviceDescriptor, serveGpu } from "../kernels/webgpu/executor.js";
import { ERROR_BYTES, type GpuOp, signal, type SyncShared } from "../kernels/webgpu/protocol.js";

declare const self: DedicatedWorkerGlobalScope;

self.onmessage = (first: MessageEvent<{ shared: SyncShared }>) => {
  const { shared } = first.data;
  void (async () => {
    try {
      if (!navigator.gpu) throw new Error("no navigator.gpu in this worker");
      const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
      if (!adapter) throw new Error("navigator.gpu gave no adapter");
      const device = await adapter.requestDevice(deviceDescriptor(adapter));
      const info = {
        maxHeapBytes: Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize),
        adapter: `${adapter.info.architecture || adapter.info.vendor || "gpu"}${adapter.info.description ? ` (${adapter.info.description})` : ""}`,
      };
      new Uint8Array(shared.error).set(new TextEncoder().encode(JSON.stringify(info)).subarray(0, ERROR_BYTES - 1));
      serveGpu(device, { onMessage: (cb) => (self.onmessage = (e: MessageEvent<GpuOp>) => cb(e.data)) }, shared);
      signal(shared, null);
    } catch (e) {
      signal(shared, (e as Error).message);
    }
  })();
};
