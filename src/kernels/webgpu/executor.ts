/// <reference types="@webgpu/types" />
/**
 * The GPU side of the webgpu backend: owns a GPUDevice (from the `webgpu` package's `create()` in Node,
 * from `navigator.gpu` in a browser: the caller passes it in) and executes the operations of
 * ./protocol.ts in order. No Node API.
 *
 * One heap buffer holds every tensor (see ./shaders.ts); each dispatch binds the heap, a window of the
 * integer-input buffer and a 128-byte slot of the uniform buffer (dynamic offsets). Dispatches are
 * batched into one compute pass and submitted together (up to BATCH, or when any other operation comes):
 * their parameters and integer inputs are staged on the host side and written by queue.writeBuffer just
 * before the submit, which the queue orders before the dispatches.
 */
import { type GpuOp, type SyncShared, signal } from "./protocol.js";
import { SHADERS } from "./shaders.js";

const MAX_GROUPS_X = 65535;
/** Dispatches per submit; uniform slots are 256 bytes (the usual minUniformBufferOffsetAlignment). */
const BATCH = 256;
const SLOT = 256;

/** Workgroup grid for `groups` workgroups: 1-D when it fits, else 2-D (the shaders linearize y·nx + x). */
export function grid(groups: number | [number, number]): [number, number] {
  if (Array.isArray(groups)) return groups;
  if (groups <= MAX_GROUPS_X) return [Math.max(1, groups), 1];
  return [MAX_GROUPS_X, Math.ceil(groups / MAX_GROUPS_X)];
}

export class GpuExecutor {
  private readonly dev: GPUDevice;
  private heap: GPUBuffer;
  private heapBytes: number;
  private ints: GPUBuffer;
  /** Bytes of integer inputs one dispatch may bind (the binding's size); the buffer holds INTS_STAGE + this. */
  private intsWindow: number;
  private intsStage = new Uint8Array(1 << 18);
  private intsUsed = 0;
  private readonly uniStage = new Uint8Array(BATCH * SLOT);
  private uniUsed = 0;
  private enc: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly uniform: GPUBuffer;
  private readonly layout: GPUBindGroupLayout;
  private readonly pipelineLayout: GPUPipelineLayout;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private bindGroup: GPUBindGroup | null = null;
  private readBuf: GPUBuffer | null = null;
  /** First uncaptured device error (validation, out of memory), reported at the next sync point. */
  deviceError: string | null = null;

  constructor(device: GPUDevice) {
    this.dev = device;
    this.heapBytes = 1 << 16;
    this.heap = this.newHeap(this.heapBytes);
    this.intsWindow = 1 << 14;
    this.ints = this.newInts();
    this.uniform = device.createBuffer({ size: BATCH * SLOT, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.layout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "storage" } },
        { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: "read-only-storage", hasDynamicOffset: true } },
        { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: "uniform", hasDynamicOffset: true } },
      ],
    });
    this.pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [this.layout] });
    device.addEventListener("uncapturederror", (e) => {
      this.deviceError ??= (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  private newInts(): GPUBuffer {
    return this.dev.createBuffer({ size: this.intsStage.length + this.intsWindow, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  }

  private newHeap(bytes: number): GPUBuffer {
    return this.dev.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }

  private pipeline(name: string, consts?: Record<string, number>): GPUComputePipeline {
    const key = consts ? `${name}:${JSON.stringify(consts)}` : name;
    let p = this.pipelines.get(key);
    if (!p) {
      let mod = this.modules.get(name);
      if (!mod) {
        const code = SHADERS[name];
        if (code === undefined) throw new Error(`webgpu: no kernel '${name}'`);
        mod = this.dev.createShaderModule({ code, label: name });
        this.modules.set(name, mod);
      }
      p = this.dev.createComputePipeline({
        layout: this.pipelineLayout,
        compute: { module: mod, entryPoint: "main", ...(consts ? { constants: consts } : {}) },
        label: key,
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  private group(): GPUBindGroup {
    this.bindGroup ??= this.dev.createBindGroup({
      layout: this.layout,
      entries: [
        { binding: 0, resource: { buffer: this.heap } },
        { binding: 1, resource: { buffer: this.ints, size: this.intsWindow } },
        { binding: 2, resource: { buffer: this.uniform, size: 128 } },
      ],
    });
    return this.bindGroup;
  }

  /** Submits the batched dispatches (their parameters and integer inputs first). */
  private submitBatch(): void {
    if (!this.enc || !this.pass) return;
    this.pass.end();
    const q = this.dev.queue;
    q.writeBuffer(this.uniform, 0, this.uniStage.buffer, 0, this.uniUsed);
    if (this.intsUsed > 0) q.writeBuffer(this.ints, 0, this.intsStage.buffer, 0, this.intsUsed);
    q.submit([this.enc.finish()]);
    this.enc = null;
    this.pass = null;
    this.uniUsed = 0;
    this.intsUsed = 0;
  }

  private dispatch(m: Extract<GpuOp, { op: "run" }>): void {
    const intBytes = m.ints ? Math.ceil(m.ints.byteLength / SLOT) * SLOT : 0;
    if (this.uniUsed + SLOT > this.uniStage.length || this.intsUsed + intBytes > this.intsStage.length) this.submitBatch();
    if (intBytes > this.intsWindow || intBytes > this.intsStage.length) {
      // the open batch's bind group holds the old buffer, and its staged ints live in the old stage:
      // submit it before either is replaced (else "used in submit while destroyed")
      this.submitBatch();
      this.ints.destroy();
      while (this.intsWindow < intBytes) this.intsWindow *= 2;
      if (this.intsStage.length < intBytes) this.intsStage = new Uint8Array(intBytes);
      this.ints = this.newInts();
      this.bindGroup = null;
    }
    const uniOff = this.uniUsed, intsOff = this.intsUsed;
    this.uniStage.set(new Uint8Array(m.params, 0, 128), uniOff);
    this.uniUsed += SLOT;
    if (m.ints && intBytes > 0) {
      this.intsStage.set(new Uint8Array(m.ints.buffer, m.ints.byteOffset, m.ints.byteLength), intsOff);
      this.intsUsed += intBytes;
    }
    if (!this.pass) {
      this.enc = this.dev.createCommandEncoder();
      this.pass = this.enc.beginComputePass();
    }
    const [x, y] = grid(m.groups);
    this.pass.setPipeline(this.pipeline(m.kernel, m.consts));
    this.pass.setBindGroup(0, this.group(), [intsOff, uniOff]);
    this.pass.dispatchWorkgroups(x, y);
  }

  /** Runs one operation; the returned promise settles when a sync op has its answer. */
  async handle(m: GpuOp): Promise<void> {
    if (m.op === "run") {
      this.dispatch(m);
      return;
    }
    this.submitBatch();
    const q = this.dev.queue;
    switch (m.op) {
      case "heap": {
        if (m.bytes <= this.heapBytes) return;
        const bytes = Math.max(m.bytes, Math.ceil(this.heapBytes * 1.5));
        const next = this.newHeap(bytes);
        const enc = this.dev.createCommandEncoder();
        enc.copyBufferToBuffer(this.heap, 0, next, 0, this.heapBytes);
        q.submit([enc.finish()]);
        this.heap.destroy();
        this.heap = next;
        this.heapBytes = bytes;
        this.bindGroup = null;
        return;
      }
      case "write":
        q.writeBuffer(this.heap, m.at, m.data);
        return;
      case "clear": {
        if (m.bytes === 0) return;
        const enc = this.dev.createCommandEncoder();
        enc.clearBuffer(this.heap, m.at, m.bytes);
        q.submit([enc.finish()]);
        return;
      }
      case "read": {
        const size = Math.ceil(m.bytes / 4) * 4;
        if (size === 0) return;
        if (!this.readBuf || this.readBuf.size < size) {
          this.readBuf?.destroy();
          this.readBuf = this.dev.createBuffer({ size: Math.max(size, 1 << 16), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        }
        const enc = this.dev.createCommandEncoder();
        enc.copyBufferToBuffer(this.heap, m.at, this.readBuf, 0, size);
        q.submit([enc.finish()]);
        const mapped = this.readBuf.mapAsync(GPUMapMode.READ, 0, size);
        // Dawn for Node settles a map only when it next processes events; waiting on the queue makes it do so
        // at once (without this, a read took ~100 ms in a worker thread)
        while (this.readBuf.mapState === "pending") await q.onSubmittedWorkDone();
        await mapped;
        new Uint8Array(m.out, 0, m.bytes).set(new Uint8Array(this.readBuf.getMappedRange(0, size), 0, m.bytes));
        this.readBuf.unmap();
        return;
      }
      case "finish":
        await q.onSubmittedWorkDone();
        return;
    }
  }
}

/** Something that delivers the host's messages (a worker's parentPort, a browser worker's `self`). */
export interface MessageSource {
  onMessage(cb: (m: GpuOp) => void): void;
}

/**
 * Serves the host: executes every message in arrival order; after each sync op (read, finish) wakes the
 * host through `shared` (reporting the first error since the previous sync point, if any).
 */
export function serveGpu(device: GPUDevice, source: MessageSource, shared: SyncShared): void {
  const ex = new GpuExecutor(device);
  let chain: Promise<void> = Promise.resolve();
  let pending: string | null = null;
  source.onMessage((m) => {
    chain = chain.then(async () => {
      try {
        await ex.handle(m);
      } catch (e) {
        pending ??= `${m.op}${m.op === "run" ? ` ${m.kernel}` : ""}: ${(e as Error).message}`;
      }
      if (m.op === "read" || m.op === "finish") {
        const err = pending ?? ex.deviceError;
        pending = null;
        ex.deviceError = null;
        signal(shared, err);
      }
    });
  });
}

/** The limits a device is requested with: the adapter's own maxima for buffer sizes (big heaps). */
export function deviceDescriptor(adapter: GPUAdapter): GPUDeviceDescriptor {
  return {
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  };
}
