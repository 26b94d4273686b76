/**
 * The messages between the host side of the webgpu backend (./backend.ts: the synchronous Backend the
 * model calls) and the GPU side (./executor.ts: owns the GPUDevice, runs in a worker). No Node API: the
 * transport is anything with postMessage (a Node worker_threads Worker, a browser Worker).
 *
 * Why a worker: the Backend interface is synchronous, WebGPU's read-back (mapAsync) is not. The host
 * posts operations without waiting (they queue on the GPU in order); only the few sync points (a read,
 * `finish`) block, with Atomics.wait on a SharedArrayBuffer, until the GPU side answers.
 */

/** Byte offsets are into the device heap (one storage buffer; docs/webgpu.md). */
export type GpuOp =
  /** Make the heap at least `bytes` long (a bigger buffer; the old contents are copied on the device). */
  | { op: "heap"; bytes: number }
  /** Host data → heap bytes [at, at + data.byteLength). */
  | { op: "write"; at: number; data: ArrayBuffer }
  /** Heap bytes [at, at + bytes) = 0. */
  | { op: "clear"; at: number; bytes: number }
  /**
   * One dispatch: 32 parameter words, optional integer inputs, workgroups (x·y with x ≤ 65535 unless 2-D
   * given), optional pipeline constants (WGSL `override`s: one pipeline per kernel and constants).
   */
  | { op: "run"; kernel: string; params: ArrayBuffer; ints: Int32Array | null; groups: number | [number, number]; consts?: Record<string, number> }
  /** SYNC: heap bytes [at, at + bytes) → the shared `out` buffer. */
  | { op: "read"; at: number; bytes: number; out: SharedArrayBuffer }
  /** SYNC: waits until the GPU has finished everything queued. */
  | { op: "finish" };

/** Control words of the shared `ctrl` Int32Array. */
export const CTRL_SEQ = 0; // bumped by the GPU side when a sync op (or startup) completes
export const CTRL_STATUS = 1; // 0 ok, 1 error (message in the shared error buffer)
export const CTRL_WORDS = 4;
/** Bytes of the shared buffer carrying an error message (UTF-8, NUL-padded). */
export const ERROR_BYTES = 4096;

/** The shared memory both sides hold: created by the host, handed to the GPU side at startup. */
export interface SyncShared {
  ctrl: SharedArrayBuffer; // CTRL_WORDS Int32
  error: SharedArrayBuffer; // ERROR_BYTES
}

export function newSyncShared(): SyncShared {
  return { ctrl: new SharedArrayBuffer(CTRL_WORDS * 4), error: new SharedArrayBuffer(ERROR_BYTES) };
}

/** GPU side: report a sync point (or an error) and wake the host. */
export function signal(sh: SyncShared, error: string | null): void {
  const ctrl = new Int32Array(sh.ctrl);
  if (error !== null) {
    const bytes = new TextEncoder().encode(error).subarray(0, ERROR_BYTES);
    const dst = new Uint8Array(sh.error);
    dst.fill(0);
    dst.set(bytes);
    Atomics.store(ctrl, CTRL_STATUS, 1);
  }
  Atomics.add(ctrl, CTRL_SEQ, 1);
  Atomics.notify(ctrl, CTRL_SEQ);
}

/** Host side: the error message the GPU side left, or null. */
export function readError(sh: SyncShared): string | null {
  const ctrl = new Int32Array(sh.ctrl);
  if (Atomics.load(ctrl, CTRL_STATUS) === 0) return null;
  const b = new Uint8Array(sh.error).slice();
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}
