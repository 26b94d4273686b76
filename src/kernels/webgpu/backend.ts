/**
 * The host side of the webgpu backend: a synchronous Backend (../backend.ts) whose kernels run as WGSL
 * compute shaders (./shaders.ts) on a GPU side (./executor.ts) reached through a GpuLink. No Node API.
 *
 * Where tensors live (docs/webgpu.md):
 * - Arrays whose ArrayBuffer was handed to `keepOnDevice` (the model's parameter, gradient and optimizer
 *   arenas, its activation workspaces, KV caches) are RESIDENT: the ArrayBuffer is mirrored at one place
 *   of the device heap, a view maps to (heap offset + byteOffset), kernels read and write the device
 *   copy and queue without waiting. The host copy is stale until `download(view)`; host writes reach
 *   the device with `upload(view)`. Nothing else moves.
 * - Every other array is TRANSIENT: copied into a temporary heap block for the call (the span of the
 *   call's views of that ArrayBuffer), and copied back after the call when a kernel wrote it (a sync
 *   point). Correct for any caller; slow only where a hot path forgot to make its arrays resident.
 */
import type { Backend, BF16, F32, MatmulOptions } from "../backend.js";
import { checkCopyRows, tsBackend } from "../ts.js";
import { CTRL_SEQ, CTRL_STATUS, type GpuOp, readError, type SyncShared } from "./protocol.js";
import { MAX_HEAD_DIM } from "./shaders.js";

/** How the host reaches the GPU side (./node.ts: a worker thread; a browser: a Worker). */
export interface GpuLink {
  /** Queue an operation; returns at once. `transfer` lists ArrayBuffers the message may take over. */
  post(m: GpuOp, transfer?: ArrayBuffer[]): void;
  /** A sync operation: post it and block until the GPU side has answered; throws its error, if any. */
  call(m: GpuOp): void;
  /** Largest heap the device can bind (maxStorageBufferBindingSize, maxBufferSize). */
  readonly maxHeapBytes: number;
  /** What runs the shaders, e.g. "swiftshader (SwiftShader driver 5.0.0)". */
  readonly adapter: string;
}

type View = F32 | BF16;

/**
 * A GpuLink over postMessage + a SharedArrayBuffer: sync calls block in Atomics.wait (allowed on Node's
 * main thread and in any browser Worker, not on a browser's main thread).
 */
export class SyncLink implements GpuLink {
  private readonly ctrl: Int32Array;
  constructor(private readonly send: (m: GpuOp, transfer?: ArrayBuffer[]) => void, private readonly shared: SyncShared,
    readonly maxHeapBytes: number, readonly adapter: string, private readonly timeoutMs = 600_000) {
    this.ctrl = new Int32Array(shared.ctrl);
  }

  post(m: GpuOp, transfer?: ArrayBuffer[]): void {
    this.send(m, transfer);
  }

  call(m: GpuOp): void {
    const seq = Atomics.load(this.ctrl, CTRL_SEQ);
    this.send(m);
    waitSignal(this.ctrl, seq, this.timeoutMs, m.op);
    const err = readError(this.shared);
    if (err !== null) {
      Atomics.store(this.ctrl, CTRL_STATUS, 0);
      throw new Error(`webgpu: ${err}`);
    }
  }
}

/** Blocks until the GPU side bumps the sequence word past `seq` (throws after timeoutMs). */
export function waitSignal(ctrl: Int32Array, seq: number, timeoutMs: number, what: string): void {
  const t0 = Date.now();
  while (Atomics.load(ctrl, CTRL_SEQ) === seq) {
    Atomics.wait(ctrl, CTRL_SEQ, seq, 1000);
    if (Date.now() - t0 > timeoutMs) throw new Error(`webgpu: no answer to '${what}' from the GPU side in ${timeoutMs / 1000} s`);
  }
}
const ALIGN = 256;

/** First-fit allocator over the heap's bytes (256-byte aligned blocks). */
class HeapAlloc {
  top = 0;
  private free: { at: number; bytes: number }[] = [];

  alloc(bytes: number): number {
    const need = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (b.bytes >= need) {
        const at = b.at;
        if (b.bytes === need) this.free.splice(i, 1);
        else { b.at += need; b.bytes -= need; }
        return at;
      }
    }
    const at = this.top;
    this.top += need;
    return at;
  }

  release(at: number, bytes: number): void {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    this.free.push({ at, bytes: size });
    this.free.sort((a, b) => a.at - b.at);
    const merged: { at: number; bytes: number }[] = [];
    for (const b of this.free) {
      const last = merged[merged.length - 1];
      if (last && last.at + last.bytes === b.at) last.bytes += b.bytes;
      else merged.push({ ...b });
    }
    const last = merged[merged.length - 1];
    if (last && last.at + last.bytes === this.top) {
      this.top = last.at;
      merged.pop();
    }
    this.free = merged;
  }
}

interface Transient { at: number; lo: number; hi: number; written: boolean }

/**
 * The two variants of the kernels that have both (matmul, rmsnormForward, rmsnormBackwardX,
 * logprobsForward, sumSquares): "serial" is barrier-free (a register block or a whole row per
 * invocation; the shader under the family's name), "tiled" uses workgroup shared memory and barriers
 * (the shader named family + "Tiled"). Which is faster depends on the adapter — SwiftShader runs a
 * barrier as a coroutine switch, a GPU wants many invocations per row — so it is measured, not guessed.
 */
export type KernelVariant = "serial" | "tiled";
export const KERNEL_VARIANTS: readonly KernelVariant[] = ["serial", "tiled"];

/** A measured choice: milliseconds of one call of each variant on a shape class (cropped; see `pick`). */
export interface VariantChoice { key: string; variant: KernelVariant; ms: Record<KernelVariant, number> }

/** Shape classes: sizes rounded up to a power of two. */
const cls = (x: number): number => (x <= 1 ? 1 : 2 ** Math.ceil(Math.log2(x)));
/** Rows (of a product, a row kernel) a choice is timed on: enough to fill the device, bounded in time. */
const TRIAL_ROWS = 64;

/** A float parameter word (the others are u32). */
class Fl {
  constructor(readonly v: number) {}
}
const f = (v: number): Fl => new Fl(v);

function pack(vals: Array<number | Fl>): ArrayBuffer {
  const buf = new ArrayBuffer(128);
  const u = new Uint32Array(buf), fl = new Float32Array(buf);
  vals.forEach((v, i) => {
    if (v instanceof Fl) fl[i] = v.v;
    else u[i] = v;
  });
  return buf;
}

function checkLen(name: string, arr: { length: number }, need: number): void {
  if (arr.length < need) throw new RangeError(`${name}: length ${arr.length} < required ${need}`);
}

/** Sequence start and end (exclusive) of every packed token. */
function seqBounds(cu: Int32Array, T: number): Int32Array {
  const out = new Int32Array(2 * T);
  for (let s = 0; s + 1 < cu.length; s++) {
    for (let t = cu[s]!; t < cu[s + 1]!; t++) {
      out[t] = cu[s]!;
      out[T + t] = cu[s + 1]!;
    }
  }
  return out;
}

export class WebGpuBackend implements Backend {
  readonly name = "webgpu" as const;
  private readonly link: GpuLink;
  private readonly heap = new HeapAlloc();
  private heapBytes = 0;
  private readonly resident = new WeakMap<ArrayBufferLike, { at: number; bytes: number }>();
  private readonly finalizer = new FinalizationRegistry<{ at: number; bytes: number }>((r) => this.heap.release(r.at, r.bytes));
  private staging = new SharedArrayBuffer(1 << 16);
  /** Dispatches queued since construction (for `aha bench` and tests). */
  dispatches = 0;
  /**
   * "measure" (the default): each kernel family with two variants is timed on the adapter once per shape
   * class, and the faster one runs from then on; "serial"/"tiled" force one (tests, AHA_WEBGPU_KERNELS).
   */
  variantMode: KernelVariant | "measure" = "measure";
  /** The choices measured so far, by shape class. */
  readonly choices = new Map<string, VariantChoice>();
  /**
   * Per-kernel timing (AHA_WEBGPU_PROFILE=1 in Node): when set, every dispatch is waited for on its own
   * (a finish before and after it) and its wall time added here — slow, for finding where time goes.
   */
  profile: Map<string, { calls: number; ms: number }> | null = null;

  constructor(link: GpuLink) {
    this.link = link;
  }

  get adapter(): string {
    return this.link.adapter;
  }

  /** Posts an operation (queued copies go first). */
  private send(m: GpuOp, transfer?: ArrayBuffer[]): void {
    this.flushCopies();
    this.link.post(m, transfer);
  }

  /** A sync operation (queued copies go first). */
  private sync(m: GpuOp): void {
    this.flushCopies();
    this.link.call(m);
  }

  /**
   * Copies between resident arrays wait here and go as ONE dispatch (`copyBatch`) when anything else is
   * posted: a decode step writes each sequence's keys and values into its cache slot, 2·B copies per
   * layer, and on SwiftShader each dispatch has a fixed cost. Word offsets [dst, src, n] per copy; a copy
   * whose span overlaps a queued one's destination (or whose destination overlaps a queued source) sends
   * the queue first, so the batch means what the copies in order mean.
   */
  private copies: number[] = [];

  private queueCopy(dst: number, src: number, n: number): void {
    const q = this.copies;
    for (let i = 0; i < q.length; i += 3) {
      const d = q[i]!, s = q[i + 1]!, len = q[i + 2]!;
      const hits = (a: number, b: number): boolean => a < b + len && b < a + n;
      if (hits(dst, d) || hits(dst, s) || hits(src, d)) { this.flushCopies(); break; }
    }
    this.copies.push(dst, src, n);
    if (this.copies.length >= 3 * 4096) this.flushCopies();
  }

  private flushCopies(): void {
    const q = this.copies;
    if (q.length === 0) return;
    this.copies = [];
    if (q.length === 3) this.run("copy", [q[0]!, q[1]!, q[2]!], Math.ceil(q[2]! / 256));
    else this.run("copyBatch", [q.length / 3], q.length / 3, Int32Array.from(q));
  }

  // ***** heap and residency *****

  private alloc(bytes: number): number {
    const at = this.heap.alloc(bytes);
    if (this.heap.top > this.heapBytes) {
      if (this.heap.top > this.link.maxHeapBytes) {
        this.heap.release(at, bytes);
        throw new Error(`webgpu: the device heap would need ${this.heap.top} bytes, more than the adapter can bind ` +
          `(${this.link.maxHeapBytes}); use a smaller model or batch, or a CPU backend`);
      }
      this.heapBytes = Math.min(this.link.maxHeapBytes, Math.max(this.heap.top, Math.ceil(this.heapBytes * 1.5)));
      this.send({ op: "heap", bytes: this.heapBytes });
    }
    return at;
  }

  private write(at: number, src: ArrayBufferLike, lo: number, hi: number): void {
    if (hi <= lo) return;
    const data = (src as ArrayBuffer).slice(lo, hi);
    this.send({ op: "write", at, data }, [data]);
  }

  private read(at: number, bytes: number): Uint8Array {
    if (this.staging.byteLength < bytes) this.staging = new SharedArrayBuffer(Math.max(bytes, this.staging.byteLength * 2));
    this.sync({ op: "read", at, bytes, out: this.staging });
    return new Uint8Array(this.staging, 0, bytes);
  }

  isResident(x: View): boolean {
    return this.resident.has(x.buffer);
  }

  keepOnDevice(x: View): void {
    const buf = x.buffer;
    if (this.resident.has(buf)) return;
    const bytes = Math.ceil(buf.byteLength / 4) * 4;
    const at = this.alloc(bytes);
    const r = { at, bytes };
    this.resident.set(buf, r);
    this.finalizer.register(buf, r);
    this.write(at, buf, 0, buf.byteLength - (buf.byteLength % 4));
  }

  upload(x: View): void {
    const r = this.resident.get(x.buffer);
    if (!r || x.byteLength === 0) return;
    const lo = x.byteOffset & ~3, hi = Math.min(x.buffer.byteLength, Math.ceil((x.byteOffset + x.byteLength) / 4) * 4);
    this.write(r.at + lo, x.buffer, lo, hi);
  }

  download(x: View): void {
    const r = this.resident.get(x.buffer);
    if (!r || x.byteLength === 0) return;
    const got = this.read(r.at + x.byteOffset, x.byteLength);
    new Uint8Array(x.buffer, x.byteOffset, x.byteLength).set(got);
  }

  flush(): void {
    this.sync({ op: "finish" });
  }

  /**
   * Resolves the views of one call to heap offsets (fp32 views in 32-bit words, bf16 views in 16-bit
   * units), queues `body`, then copies written transient arrays back and frees their blocks.
   */
  private exec(views: Array<View | null>, written: boolean[], body: (o: number[]) => void): void {
    const temps = new Map<ArrayBufferLike, Transient>();
    views.forEach((v, i) => {
      if (!v || this.resident.has(v.buffer)) return;
      const t = temps.get(v.buffer);
      const lo = v.byteOffset & ~3, hi = Math.ceil((v.byteOffset + v.byteLength) / 4) * 4;
      if (t) { t.lo = Math.min(t.lo, lo); t.hi = Math.max(t.hi, hi); t.written ||= written[i] ?? false; }
      else temps.set(v.buffer, { at: 0, lo, hi, written: written[i] ?? false });
    });
    for (const [buf, t] of temps) {
      t.hi = Math.min(t.hi, Math.ceil(buf.byteLength / 4) * 4);
      t.at = this.alloc(Math.max(4, t.hi - t.lo));
      this.write(t.at, buf, t.lo, Math.min(t.hi, buf.byteLength - (buf.byteLength % 4)));
      if (buf.byteLength % 4 !== 0 && t.hi > buf.byteLength - (buf.byteLength % 4)) {
        // a BF16 array of odd length: the last half word goes up padded
        const pad = new Uint8Array(4);
        const tail = buf.byteLength - (buf.byteLength % 4);
        pad.set(new Uint8Array(buf, tail, buf.byteLength - tail));
        this.send({ op: "write", at: t.at + tail - t.lo, data: pad.buffer }, [pad.buffer]);
      }
    }
    const offs = views.map((v) => {
      if (!v) return 0;
      const r = this.resident.get(v.buffer);
      const byte = r ? r.at + v.byteOffset : temps.get(v.buffer)!.at - temps.get(v.buffer)!.lo + v.byteOffset;
      return v instanceof Uint16Array ? byte / 2 : byte / 4;
    });
    try {
      body(offs);
      for (const [buf, t] of temps) {
        if (!t.written) continue;
        const end = Math.min(t.hi, buf.byteLength);
        const got = this.read(t.at, end - t.lo);
        new Uint8Array(buf, t.lo, end - t.lo).set(got);
      }
    } finally {
      for (const t of temps.values()) this.heap.release(t.at, Math.max(4, t.hi - t.lo));
    }
  }

  private run(kernel: string, params: Array<number | Fl>, groups: number | [number, number], ints: Int32Array | null = null,
    consts?: Record<string, number>): void {
    this.dispatches++;
    const prof = this.profile;
    if (prof) this.flush();
    const t0 = prof ? performance.now() : 0;
    this.send({ op: "run", kernel, params: pack(params), ints, groups, ...(consts ? { consts } : {}) });
    if (prof) {
      this.flush();
      const e = prof.get(kernel) ?? { calls: 0, ms: 0 };
      e.calls++;
      e.ms += performance.now() - t0;
      prof.set(kernel, e);
    }
  }

  /** The per-kernel table of `profile`, slowest first. */
  profileReport(): string {
    const rows = [...(this.profile ?? new Map<string, { calls: number; ms: number }>())].sort((a, b) => b[1].ms - a[1].ms);
    const total = rows.reduce((s, [, e]) => s + e.ms, 0);
    return [`webgpu profile: ${rows.reduce((s, [, e]) => s + e.calls, 0)} dispatches, ${(total / 1000).toFixed(1)} s in kernels`,
      ...rows.map(([k, e]) => `  ${k.padEnd(24)} ${String(e.calls).padStart(8)} calls ${(e.ms / 1000).toFixed(2).padStart(9)} s ` +
        `${(100 * e.ms / total).toFixed(1).padStart(5)}% ${(e.ms / e.calls).toFixed(3).padStart(9)} ms/call`)].join("\n");
  }

  /**
   * The variant of a kernel family to run for shape class `key`: forced by `variantMode`, else measured
   * once here — `trial(variant, scratch)` queues the variant on the call's inputs with its outputs in
   * `scratchBytes` of scratch heap (word offset `scratch`), on a cropped shape so that a slow variant
   * costs little. Each is run once (pipeline compile) and then timed to a finish, best of up to two.
   */
  private pick(key: string, scratchBytes: number, trial: (v: KernelVariant, scratch: number) => void): KernelVariant {
    if (this.variantMode !== "measure") return this.variantMode;
    const known = this.choices.get(key);
    if (known) return known.variant;
    const at = this.alloc(scratchBytes);
    const ms: Record<KernelVariant, number> = { serial: Infinity, tiled: Infinity };
    try {
      this.flush();
      for (const v of KERNEL_VARIANTS) { trial(v, at / 4); this.flush(); }
      for (let rep = 0; rep < 2; rep++) {
        for (const v of KERNEL_VARIANTS) {
          const t0 = performance.now();
          trial(v, at / 4);
          this.flush();
          ms[v] = Math.min(ms[v], performance.now() - t0);
        }
        if (Math.max(ms.serial, ms.tiled) > 3 * Math.min(ms.serial, ms.tiled)) break; // clear already
      }
    } finally {
      this.heap.release(at, scratchBytes);
    }
    const variant: KernelVariant = ms.tiled < ms.serial ? "tiled" : "serial";
    this.choices.set(key, { key, variant, ms });
    return variant;
  }

  private elem(kernel: string, n: number, views: Array<View | null>, written: boolean[],
    params: (o: number[]) => Array<number | Fl>, ints: Int32Array | null = null): void {
    if (n === 0) return;
    this.exec(views, written, (o) => this.run(kernel, params(o), Math.ceil(n / 256), ints));
  }

  // ***** coherence helpers beyond the kernels *****

  zero(x: F32): void {
    if (x.length === 0) return;
    const r = this.resident.get(x.buffer);
    if (!r) { x.fill(0); return; }
    this.send({ op: "clear", at: r.at + x.byteOffset, bytes: x.byteLength });
  }

  allocLarge(bytes: number): ArrayBuffer {
    return new ArrayBuffer(bytes); // the device copy is what kernels read (keepOnDevice)
  }

  copy<X extends F32 | BF16>(dst: X, src: X): void {
    if (dst.length !== src.length) throw new RangeError(`copy: lengths ${dst.length} and ${src.length} differ`);
    if (dst instanceof Float32Array && src instanceof Float32Array) {
      this.copyWords(dst, src);
      return;
    }
    // bf16 (bf16 KV caches): a word copy when both spans are whole 32-bit words, else through the host
    if (dst.byteOffset % 4 === 0 && src.byteOffset % 4 === 0 && dst.byteLength % 4 === 0) {
      const d = new Float32Array(dst.buffer, dst.byteOffset, dst.byteLength / 4);
      const s = new Float32Array(src.buffer, src.byteOffset, src.byteLength / 4);
      this.copyWords(d, s);
      return;
    }
    this.download(src);
    this.download(dst);
    (dst as BF16).set(src as BF16);
    this.upload(dst);
  }

  copyRows<X extends F32 | BF16>(dst: X, src: X, rowLen: number, at: Int32Array): void {
    checkCopyRows(dst, src, rowLen, at);
    for (let r = 0; r < at.length; r++) {
      const o = at[r]!;
      this.copy(dst.subarray(o, o + rowLen) as X, src.subarray(r * rowLen, (r + 1) * rowLen) as X); // on the device
    }
  }

  private copyWords(dst: F32, src: F32): void {
    const rd = this.resident.get(dst.buffer), rs = this.resident.get(src.buffer);
    if (rd && rs) {
      if (dst.length > 0) this.queueCopy((rd.at + dst.byteOffset) / 4, (rs.at + src.byteOffset) / 4, dst.length);
      return;
    }
    this.elem("copy", dst.length, [dst, src], [true, false], (o) => [o[0]!, o[1]!, dst.length]);
  }

  /**
   * Runs a kernel that has no WGSL shader on the host (tsBackend): the inputs come down (resident ones
   * only; others are current on the host), the outputs go back up. A sync point: correct, not fast.
   */
  private onHost(ins: View[], outs: View[], fn: () => void): void {
    for (const x of [...ins, ...outs]) this.download(x);
    fn();
    for (const x of outs) this.upload(x);
  }

  // packed bf16 decoding product and the sampler's pass: host fallbacks (docs/webgpu.md)

  packBf16(out: BF16, w: F32, n: number, k: number): void {
    this.onHost([w], [out], () => tsBackend.packBf16(out, w, n, k));
  }

  matmulPacked(c: F32, x: F32, wPacked: BF16, m: number, n: number, k: number): void {
    this.onHost([x, wPacked], [c], () => tsBackend.matmulPacked(c, x, wPacked, m, n, k));
  }

  matmulPackedMany(outs: F32[], x: F32, wPacked: BF16, m: number, ns: number[], k: number, biases?: (F32 | null)[]): void {
    const bs = (biases ?? []).filter((b): b is F32 => b !== null);
    this.onHost([x, wPacked, ...bs], outs, () => tsBackend.matmulPackedMany(outs, x, wPacked, m, ns, k, biases));
  }

  samplePrep(e: F32, stats: Float64Array, logits: F32, invT: number | F32): void {
    this.onHost([logits], [e], () => tsBackend.samplePrep(e, stats, logits, invT));
  }

  // ***** matrix products *****

  matmul(c: F32, a: F32 | BF16, b: F32 | BF16, m: number, n: number, k: number, opts: MatmulOptions = {}): void {
    checkLen("matmul a", a, m * k);
    checkLen("matmul b", b, k * n);
    checkLen("matmul c", c, m * n);
    if (m === 0 || n === 0) return;
    const aBf = a instanceof Uint16Array, bBf = b instanceof Uint16Array;
    const fl = (opts.transA ? 1 : 0) | (opts.transB ? 2 : 0) | (opts.accumulate ? 4 : 0) |
      (opts.bf16 || aBf || bBf ? 8 : 0) | (aBf ? 16 : 0) | (bBf ? 32 : 0);
    const narrow = m <= 4;
    const mmGrid = (v: KernelVariant, rows: number, cols: number): [number, number] => v === "tiled"
      ? [Math.ceil(cols / 16), Math.ceil(rows / 16)]
      : narrow ? [Math.ceil(cols / 32), Math.ceil(rows / 32)] : [Math.ceil(cols / 64), Math.ceil(rows / 64)];
    const name = (v: KernelVariant): string => v === "tiled" ? "matmulTiled" : narrow ? "matmulNarrow" : "matmul";
    this.exec([c, a, b], [true, false, false], (o) => {
      // timed on a cropped product (at most 64 × 256 × 256: the operands' first elements, in bounds
      // whatever the transposes), so that the slower variant costs little
      const mt = Math.min(m, TRIAL_ROWS), nt = Math.min(n, 4 * TRIAL_ROWS), kt = Math.min(k, 4 * TRIAL_ROWS), trialFl = fl & ~4;
      const v = this.pick(`matmul:${trialFl}:${cls(mt)}x${cls(nt)}x${cls(kt)}`, mt * nt * 4, (tv, scratch) =>
        this.run(name(tv), [scratch, o[1]!, o[2]!, mt, nt, kt], mmGrid(tv, mt, nt), null, { FL: trialFl }));
      this.run(name(v), [o[0]!, o[1]!, o[2]!, m, n, k], mmGrid(v, m, n), null, { FL: fl });
    });
  }

  toBf16(out: BF16, src: F32): void {
    checkLen("toBf16 out", out, src.length);
    const n = src.length;
    if (n === 0) return;
    this.exec([out, src], [true, false], (o) => {
      const words = ((o[0]! + n - 1) >> 1) - (o[0]! >> 1) + 1;
      this.run("toBf16", [o[0]!, o[1]!, n], Math.ceil(words / 256));
    });
  }

  // ***** elementwise and small reductions *****

  add(out: F32, a: F32, b: F32): void {
    const n = out.length;
    this.elem("add", n, [out, a, b], [true, false, false], (o) => [o[0]!, o[1]!, o[2]!, n]);
  }

  addBias(x: F32, bias: F32, rows: number, n: number): void {
    this.elem("addBias", rows * n, [x, bias], [true, false], (o) => [o[0]!, o[1]!, rows * n, n]);
  }

  addBiasBackward(dbias: F32, dout: F32, rows: number, n: number): void {
    this.elem("addBiasBackward", n, [dbias, dout], [true, false], (o) => [o[0]!, o[1]!, rows, n]);
  }

  scale(x: F32, s: number): void {
    this.elem("scale", x.length, [x], [true], (o) => [o[0]!, x.length, f(s)]);
  }

  sumSquares(x: F32): number {
    const n = x.length;
    if (n === 0) return 0;
    // partial sums of chunks (4096 elements per workgroup tiled, 64 per invocation serial), added in fp64 here
    const chunk = (v: KernelVariant): number => v === "tiled" ? 4096 : 64;
    const run = (v: KernelVariant, xo: number, out: number, len: number): void => {
      const parts = Math.ceil(len / chunk(v));
      if (v === "tiled") this.run("sumSquaresTiled", [xo, len, out], parts);
      else this.run("sumSquares", [xo, len, out, parts], Math.ceil(parts / 64));
    };
    let s = 0;
    this.exec([x], [false], (o) => {
      const nt = Math.min(n, TRIAL_ROWS * 4096);
      const v = this.pick(`sumSquares:${cls(nt)}`, Math.ceil(nt / 64) * 4, (tv, scratch) => run(tv, o[0]!, scratch, nt));
      const parts = Math.ceil(n / chunk(v));
      const at = this.alloc(parts * 4);
      try {
        run(v, o[0]!, at / 4, n);
        const got = new Float32Array(this.read(at, parts * 4).slice().buffer);
        for (let i = 0; i < parts; i++) s += got[i]!;
      } finally {
        this.heap.release(at, parts * 4);
      }
    });
    return s;
  }

  // ***** embedding *****

  embeddingForward(out: F32, ids: Int32Array, wte: F32, T: number, C: number): void {
    const V = wte.length / C;
    for (let t = 0; t < T; t++) {
      const id = ids[t]!;
      if (!(id >= 0 && id < V)) throw new RangeError(`embeddingForward: token id ${id} at ${t} outside [0, ${V})`);
    }
    this.elem("embeddingForward", T * C, [out, wte], [true, false], (o) => [o[0]!, o[1]!, T * C, C], ids.slice(0, T));
  }

  embeddingBackward(dwte: F32, dout: F32, ids: Int32Array, T: number, C: number): void {
    const V = dwte.length / C;
    for (let t = 0; t < T; t++) {
      const id = ids[t]!;
      if (!(id >= 0 && id < V)) throw new RangeError(`embeddingBackward: token id ${id} at ${t} outside [0, ${V})`);
    }
    if (T === 0) return;
    this.elem("embeddingBackward", C, [dwte, dout], [true, false], (o) => [o[0]!, o[1]!, T, C], ids.slice(0, T));
  }

  // ***** RMSNorm *****

  rmsnormForward(out: F32, rstd: F32, inp: F32, w: F32, rows: number, C: number, eps: number): void {
    if (rows === 0) return;
    this.exec([out, rstd, inp, w], [true, true, false, false], (o) => {
      const run = (v: KernelVariant, dst: number, rs: number, r: number): void => v === "tiled"
        ? this.run("rmsnormForwardTiled", [dst, rs, o[2]!, o[3]!, r, C, f(eps)], r)
        : this.run("rmsnormForward", [dst, rs, o[2]!, o[3]!, r, C, f(eps)], Math.ceil(r / 64));
      const rt = Math.min(rows, TRIAL_ROWS);
      const v = this.pick(`rmsnormForward:${cls(rt)}x${cls(C)}`, rt * (C + 1) * 4, (tv, s) => run(tv, s, s + rt * C, rt));
      run(v, o[0]!, o[1]!, rows);
    });
  }

  rmsnormBackward(dinp: F32, dw: F32, dout: F32, inp: F32, w: F32, rstd: F32, rows: number, C: number): void {
    if (rows === 0) return;
    this.exec([dinp, dw, dout, inp, w, rstd], [true, true, false, false, false, false], (o) => {
      const run = (v: KernelVariant, dx: number, r: number): void => v === "tiled"
        ? this.run("rmsnormBackwardXTiled", [dx, o[2]!, o[3]!, o[4]!, o[5]!, r, C], r)
        : this.run("rmsnormBackwardX", [dx, o[2]!, o[3]!, o[4]!, o[5]!, r, C], Math.ceil(r / 64));
      const rt = Math.min(rows, TRIAL_ROWS);
      run(this.pick(`rmsnormBackwardX:${cls(rt)}x${cls(C)}`, rt * C * 4, (tv, s) => run(tv, s, rt)), o[0]!, rows);
      this.run("rmsnormBackwardW", [o[1]!, o[2]!, o[3]!, o[5]!, rows, C], Math.ceil(C / 256));
    });
  }

  // ***** rotary position embedding *****

  rope(x: F32, cos: F32, sin: F32, T: number, H: number, D: number, inverse: boolean): void {
    const n = T * H * (D / 2);
    this.elem("rope", n, [x, cos, sin], [true, false, false], (o) => [o[0]!, o[1]!, o[2]!, n, H, D, inverse ? 1 : 0]);
  }

  // ***** SwiGLU *****

  swigluForward(out: F32, gate: F32, up: F32): void {
    const n = out.length;
    this.elem("swigluForward", n, [out, gate, up], [true, false, false], (o) => [o[0]!, o[1]!, o[2]!, n]);
  }

  swigluBackward(dgate: F32, dup: F32, dout: F32, gate: F32, up: F32): void {
    const n = dout.length;
    this.elem("swigluBackward", n, [dgate, dup, dout, gate, up], [true, true, false, false, false],
      (o) => [o[0]!, o[1]!, o[2]!, o[3]!, o[4]!, n]);
  }

  // ***** attention *****

  private checkHeads(Hq: number, Hkv: number, D: number): void {
    if (D > MAX_HEAD_DIM) throw new RangeError(`webgpu attention: head dimension ${D} > ${MAX_HEAD_DIM}`);
    if (Hkv <= 0 || Hq % Hkv !== 0) throw new RangeError(`attention: Hq = ${Hq} is not a multiple of Hkv = ${Hkv}`);
  }

  attentionForward(out: F32, lse: F32, q: F32, k: F32, v: F32, cuSeqlens: Int32Array,
    T: number, Hq: number, Hkv: number, D: number, scale: number): void {
    this.checkHeads(Hq, Hkv, D);
    const b = seqBounds(cuSeqlens, T);
    this.elem("attentionForward", T * Hq, [out, lse, q, k, v], [true, true, false, false, false],
      (o) => [o[0]!, o[1]!, o[2]!, o[3]!, o[4]!, T, Hq, Hkv, D, f(scale)], b);
  }

  attentionBackward(dq: F32, dk: F32, dv: F32, dout: F32, out: F32, lse: F32, q: F32, k: F32, v: F32,
    cuSeqlens: Int32Array, T: number, Hq: number, Hkv: number, D: number, scale: number): void {
    this.checkHeads(Hq, Hkv, D);
    if (T === 0) return;
    const b = seqBounds(cuSeqlens, T);
    const at = this.alloc(T * Hq * 4);
    const delta = at / 4;
    try {
      this.exec([dq, dk, dv, dout, out, lse, q, k, v], [true, true, true, false, false, false, false, false, false], (o) => {
        this.run("attentionDelta", [delta, o[3]!, o[4]!, T, Hq, D], Math.ceil(T * Hq / 256));
        this.run("attentionBackwardQ", [o[0]!, o[3]!, o[5]!, delta, o[6]!, o[7]!, o[8]!, T, Hq, Hkv, D, f(scale)],
          Math.ceil(T * Hq / 256), b);
        this.run("attentionBackwardKV", [o[1]!, o[2]!, o[3]!, o[5]!, delta, o[6]!, o[7]!, o[8]!, T, Hq, Hkv, D, f(scale)],
          Math.ceil(T * Hkv / 256), b);
      });
    } finally {
      this.heap.release(at, T * Hq * 4);
    }
  }

  attentionDecode(out: F32, q: F32, kCache: F32 | BF16, vCache: F32 | BF16, slots: Int32Array, lens: Int32Array,
    B: number, maxLen: number, Hq: number, Hkv: number, D: number, scale: number): void {
    this.checkHeads(Hq, Hkv, D);
    if (kCache instanceof Uint16Array || vCache instanceof Uint16Array) {
      // a bf16 KV cache: no WGSL decode kernel for it; on the host (docs/webgpu.md)
      this.onHost([q, kCache, vCache], [out], () =>
        tsBackend.attentionDecode(out, q, kCache, vCache, slots, lens, B, maxLen, Hq, Hkv, D, scale));
      return;
    }
    const ints = new Int32Array(2 * B);
    for (let b = 0; b < B; b++) {
      const len = lens[b]!;
      if (len < 1 || len > maxLen) throw new RangeError(`attentionDecode: lens[${b}] = ${len} outside [1, ${maxLen}]`);
      ints[b] = slots[b]!;
      ints[B + b] = len;
    }
    this.elem("attentionDecode", B * Hq, [out, q, kCache, vCache], [true, false, false, false],
      (o) => [o[0]!, o[1]!, o[2]!, o[3]!, B, maxLen, Hq, Hkv, D, f(scale)], ints);
  }

  // ***** vocabulary head *****

  logprobsForward(logp: F32, entropy: F32, lse: F32, logits: F32, targets: Int32Array, T: number, V: number): void {
    if (T === 0) return;
    const tg = targets.slice(0, T);
    this.exec([logp, entropy, lse, logits], [true, true, true, false], (o) => {
      const run = (v: KernelVariant, lp: number, en: number, ls: number, rows: number): void => v === "tiled"
        ? this.run("logprobsForwardTiled", [lp, en, ls, o[3]!, rows, V], rows, tg)
        : this.run("logprobsForward", [lp, en, ls, o[3]!, rows, V], Math.ceil(rows / 64), tg);
      const rt = Math.min(T, TRIAL_ROWS);
      const v = this.pick(`logprobsForward:${cls(rt)}x${cls(V)}`, rt * 12, (tv, s) => run(tv, s, s + rt, s + 2 * rt, rt));
      run(v, o[0]!, o[1]!, o[2]!, T);
    });
  }

  logprobsBackward(dlogits: F32, logits: F32, lse: F32, entropy: F32, dlogp: F32 | null, dentropy: F32 | null,
    targets: Int32Array, T: number, V: number): void {
    const fl = (dlogp ? 1 : 0) | (dentropy ? 2 : 0);
    this.elem("logprobsBackward", T * V, [dlogits, logits, lse, entropy, dlogp, dentropy], [true, false, false, false, false, false],
      (o) => [o[0]!, o[1]!, o[2]!, o[3]!, o[4]!, o[5]!, T * V, V, fl], targets.slice(0, T));
  }

  // ***** optimizer *****

  adamw(p: F32, g: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, step: number): void {
    const n = p.length;
    const bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
    this.elem("adamw", n, [p, g, m, v], [true, false, true, true],
      (o) => [o[0]!, o[1]!, o[2]!, o[3]!, n, f(lr), f(beta1), f(beta2), f(eps), f(1 - lr * weightDecay), f(bc1), f(bc2)]);
  }
}
