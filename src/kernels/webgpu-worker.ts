/**
 * The worker thread of the webgpu backend in Node (./webgpu-node.ts starts it): loads the `webgpu`
 * package (Dawn), opens a device with the adapter's largest buffer limits, writes what it found into
 * the shared buffer, then serves the host's operations (./webgpu/executor.ts).
 */
import { parentPort, workerData } from "node:worker_threads";
import { deviceDescriptor, serveGpu } from "./webgpu/executor.js";
import { ERROR_BYTES, type GpuOp, signal, type SyncShared } from "./webgpu/protocol.js";

interface Data { shared: SyncShared; webgpuUrl: string }

/** The Dawn instance must outlive the device: if it is garbage-collected, Dawn's event processing uses freed memory. */
let instance: GPU | null = null;

async function main(): Promise<void> {
  const { shared, webgpuUrl } = workerData as Data;
  try {
    const mod = (await import(webgpuUrl)) as { create(flags: string[]): GPU; globals: Record<string, unknown> };
    Object.assign(globalThis, mod.globals);
    instance = mod.create([]);
    const adapter = await instance.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) throw new Error("no WebGPU adapter (no Vulkan driver found: install one, or Debian's chromium for SwiftShader)");
    const device = await adapter.requestDevice(deviceDescriptor(adapter));
    const info = {
      maxHeapBytes: Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize),
      adapter: `${adapter.info.architecture || adapter.info.vendor || "gpu"} (${adapter.info.description || adapter.info.device || "?"})`,
    };
    new Uint8Array(shared.error).set(new TextEncoder().encode(JSON.stringify(info)).subarray(0, ERROR_BYTES - 1));
    serveGpu(device, { onMessage: (cb) => parentPort!.on("message", (m: GpuOp) => cb(m)) }, shared);
    signal(shared, null);
  } catch (e) {
    signal(shared, (e as Error).message);
  }
}

void main();
