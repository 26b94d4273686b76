/**
 * Test helpers for the model: loading the PyTorch fixtures written by scripts/make_fixtures.py, and one
 * comparison (atol + rtol·|ref|) that reports the max difference and the first failing index.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { readSafetensors } from "../../src/formats/safetensors.js";
import { parseHfConfig, type ModelConfig } from "../../src/model/config.js";
import { Model, type ModelOptions } from "../../src/model/model.js";

export const FIXTURE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "fixtures", "model");
export const FIXTURE_MODELS = ["qwen2-tiny", "llama-tiny", "qwen3-tiny"] as const;

const MAGIC = 0x41484146;
const VERSION = 1;

export interface Reference {
  f32: Map<string, { shape: number[]; data: Float32Array }>;
  i32: Map<string, Int32Array>;
  scalars: Record<string, number>;
  f(name: string): Float32Array;
  i(name: string): Int32Array;
}

/** Reads reference.bin: u32 magic, u32 version, u64 header length, JSON header, data. */
export function readReference(file: string): Reference {
  const buf = fs.readFileSync(file);
  if (buf.length < 16 || buf.readUInt32LE(0) !== MAGIC) throw new Error(`${file}: not a model reference file (bad magic)`);
  if (buf.readUInt32LE(4) !== VERSION) throw new Error(`${file}: version ${buf.readUInt32LE(4)}, expected ${VERSION}`);
  const n = Number(buf.readBigUInt64LE(8));
  const header = JSON.parse(buf.subarray(16, 16 + n).toString("utf8")) as {
    tensors: Record<string, { dtype: "F32" | "I32"; shape: number[]; offsets: [number, number] }>;
    scalars: Record<string, number>;
  };
  const base = 16 + n;
  const f32 = new Map<string, { shape: number[]; data: Float32Array }>();
  const i32 = new Map<string, Int32Array>();
  for (const [name, t] of Object.entries(header.tensors)) {
    const bytes = buf.subarray(base + t.offsets[0], base + t.offsets[1]);
    const copy = new Uint8Array(bytes); // aligned copy
    if (t.dtype === "F32") f32.set(name, { shape: t.shape, data: new Float32Array(copy.buffer, 0, copy.length / 4) });
    else i32.set(name, new Int32Array(copy.buffer, 0, copy.length / 4));
  }
  return {
    f32, i32, scalars: header.scalars,
    f(name) {
      const t = f32.get(name);
      if (!t) throw new Error(`reference has no F32 tensor '${name}'`);
      return t.data;
    },
    i(name) {
      const t = i32.get(name);
      if (!t) throw new Error(`reference has no I32 tensor '${name}'`);
      return t;
    },
  };
}

export interface Fixture {
  name: string;
  cfg: ModelConfig;
  weights: Map<string, { shape: number[]; data: Float32Array }>;
  ref: Reference;
}

const cache = new Map<string, Fixture>();

export function loadFixture(name: string): Fixture {
  const hit = cache.get(name);
  if (hit) return hit;
  const dir = path.join(FIXTURE_DIR, name);
  const cfgFile = path.join(dir, "config.json");
  const cfg = parseHfConfig(JSON.parse(fs.readFileSync(cfgFile, "utf8")), cfgFile);
  const weights = readSafetensors(path.join(dir, "model.safetensors")).tensors;
  const fx = { name, cfg, weights, ref: readReference(path.join(dir, "reference.bin")) };
  cache.set(name, fx);
  return fx;
}

/** A model with the fixture's weights, filled by HF name through the parameter table. */
export function fixtureModel(fx: Fixture, opts: ModelOptions = {}): Model {
  const m = new Model(fx.cfg, opts);
  for (const spec of m.table.specs) {
    const t = fx.weights.get(spec.name);
    if (!t) throw new Error(`${fx.name}: weights lack '${spec.name}'`);
    if (t.shape.join("x") !== spec.shape.join("x")) throw new Error(`${fx.name}: '${spec.name}' shape ${t.shape} != ${spec.shape}`);
    m.params.view(spec.name).set(t.data);
  }
  m.params.markChanged();
  return m;
}

export interface Tol {
  atol: number;
  rtol: number;
}

export interface CloseReport {
  ok: boolean;
  maxDiff: number;
  maxAt: number;
  firstBad: number;
  message: string;
}

/** |got − ref| ≤ atol + rtol·|ref| elementwise. Reports the max difference, where, and the first failure. */
export function compare(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tol): CloseReport {
  if (got.length !== ref.length) {
    return { ok: false, maxDiff: Infinity, maxAt: -1, firstBad: -1, message: `${what}: length ${got.length} != ${ref.length}` };
  }
  let maxDiff = 0, maxAt = -1, firstBad = -1;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i]! - ref[i]!);
    if (!(d <= maxDiff) || maxAt < 0) { maxDiff = d; maxAt = i; }
    if (!(d <= tol.atol + tol.rtol * Math.abs(ref[i]!)) && firstBad < 0) firstBad = i;
  }
  const where = (i: number) => (i < 0 ? "-" : `[${i}] got ${got[i]} ref ${ref[i]}`);
  const ok = firstBad < 0;
  return {
    ok, maxDiff, maxAt, firstBad,
    message: `${what}: max |diff| ${maxDiff.toExponential(3)} at ${where(maxAt)}` +
      (ok ? "" : `; first outside atol ${tol.atol} + rtol ${tol.rtol}·|ref| at ${where(firstBad)}`),
  };
}

/**
 * Throws (with the report) unless close; returns the max difference. With AHA_TEST_REPORT=<file> set,
 * every comparison's report line is appended to that file (tests never print to the console).
 */
export function expectClose(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tol): number {
  const r = compare(what, got, ref, tol);
  const report = process.env["AHA_TEST_REPORT"];
  if (report) fs.appendFileSync(report, r.message + "\n");
  if (!r.ok) throw new Error(r.message);
  return r.maxDiff;
}

/** Deterministic tiny-model token batches for self-consistency tests. */
export function lcgInts(n: number, mod: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % mod;
  }
  return out;
}
