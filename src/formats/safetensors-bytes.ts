/**
 * safetensors without files: the dtypes, bf16/f16 ↔ fp32 conversion, the header's parser and checks,
 * and `SafetensorsBytes`, a TensorSource over a whole file already in memory (fetched bytes in a
 * browser: src/play/). No Node APIs; ./safetensors.ts (files, sharded checkpoints, writing) builds on
 * this and re-exports it. The format is described there.
 */
import { UserError } from "../errors.js";

// ***** dtypes *****

/** Every dtype the safetensors format defines (those we cannot convert are still recognised). */
export const DTYPE_SIZE = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const satisfies Record<string, number>;
export type SafeDType = keyof typeof DTYPE_SIZE;
/** The dtypes `readInto`/`readFloat32` convert to fp32. */
export const FLOAT_DTYPES: readonly SafeDType[] = ["F32", "BF16", "F16"];
/** The dtypes the writer produces (from fp32 data). */
export type WriteDType = "F32" | "BF16";

/** Reference implementation's limit on the header size (100 MB): a larger value means a corrupt file. */
export const MAX_HEADER_BYTES = 100_000_000;

function isDType(s: string): s is SafeDType {
  return Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

// ***** bf16 / f16 conversion *****

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/**
 * fp32 → bf16 bits with round-to-nearest-even; NaN → 0x7FC0 (PyTorch's c10::BFloat16 does exactly this).
 */
export function f32ToBf16Bits(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bf16 bits → fp32 value (exact: the bits are the upper half of an fp32). */
export function bf16BitsToF32(h: number): number {
  u32buf[0] = (h & 0xffff) << 16;
  return f32buf[0]!;
}

/** IEEE half bits → fp32 value (exact; subnormals, ±inf and NaN included). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0) return sign * man * 2 ** -24;
  if (exp === 31) return man === 0 ? sign * Infinity : NaN;
  return sign * (1 + man / 1024) * 2 ** (exp - 15);
}

let f16Table: Float32Array | null = null;
/** All 65,536 half values as fp32 (256 KiB, built on first use). */
function f16ToF32Table(): Float32Array {
  if (f16Table === null) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  }
  return f16Table;
}

/** out (n) = bf16 bits of src (n), round-to-nearest-even. */
export function f32ToBf16(out: Uint16Array, src: Float32Array): void {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const x = u[i]!;
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
}

/** out (n) = fp32 values of bf16 bits src (n). */
export function bf16ToF32(out: Float32Array, src: Uint16Array): void {
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i]! << 16;
}

/** out (n) = fp32 values of IEEE half bits src (n). */
export function f16ToF32(out: Float32Array, src: Uint16Array): void {
  const t = f16ToF32Table();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
}

// ***** header *****

export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafeDType;
  readonly shape: readonly number[];
  /** Number of elements (product of the shape; 1 for a scalar). */
  readonly numel: number;
  /** Byte range inside the data area, [begin, end). */
  readonly dataOffsets: readonly [number, number];
  /** Absolute byte offset of the tensor in the file. */
  readonly fileOffset: number;
  readonly byteLength: number;
}

/** A UserError naming the file (code AHA_BAD_SAFETENSORS). */
export function bad(file: string, what: string, hint?: string): UserError {
  return new UserError(`${file}: ${what}`, hint, "AHA_BAD_SAFETENSORS");
}

export function isNonNegInt(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Parses and validates a header. `dataBytes` is the size of the data area (file size − 8 − N).
 * Exported for tests and for loaders that read headers from elsewhere.
 */
export function parseHeader(
  file: string,
  headerBytes: Uint8Array,
  dataStart: number,
  dataBytes: number,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> | undefined } {
  if (headerBytes.length === 0 || headerBytes[0] !== 0x7b /* { */) {
    throw bad(file, "not a safetensors file: the header does not start with '{'");
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    throw bad(file, "the header is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(file, `the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw bad(file, "the header is not a JSON object");
  }
  let metadata: Record<string, string> | undefined;
  const tensors = new Map<string, TensorInfo>();
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        throw bad(file, "__metadata__ must be an object of strings");
      }
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== "string") throw bad(file, `__metadata__.${k} must be a string, got ${JSON.stringify(s)}`);
      }
      metadata = { ...(v as Record<string, string>) };
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(file, `${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offs } = v as Record<string, unknown>;
    if (typeof dtype !== "string") throw bad(file, `${where}: missing "dtype"`);
    if (!isDType(dtype)) {
      throw bad(file, `${where}: unknown dtype "${dtype}"`, `known dtypes: ${Object.keys(DTYPE_SIZE).join(", ")}`);
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
      throw bad(file, `${where}: "shape" must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isNonNegInt)) {
      throw bad(file, `${where}: "data_offsets" must be [begin, end] non-negative integers, got ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin) throw bad(file, `${where}: data_offsets [${begin}, ${end}] end before begin`);
    let numel = 1;
    for (const d of shape as number[]) numel *= d;
    const want = numel * DTYPE_SIZE[dtype];
    if (!Number.isSafeInteger(want) || want !== end - begin) {
      throw bad(
        file,
        `${where}: shape [${(shape as number[]).join(", ")}] × ${dtype} (${DTYPE_SIZE[dtype]} bytes) = ${want} bytes, ` +
          `but data_offsets [${begin}, ${end}] span ${end - begin} bytes`,
      );
    }
    tensors.set(name, {
      name,
      dtype,
      shape: [...(shape as number[])],
      numel,
      dataOffsets: [begin, end],
      fileOffset: dataStart + begin,
      byteLength: end - begin,
    });
  }
  let last: TensorInfo | undefined;
  for (const t of tensors.values()) if (last === undefined || t.dataOffsets[1] > last.dataOffsets[1]) last = t;
  if (last !== undefined && last.dataOffsets[1] > dataBytes) {
    throw bad(
      file,
      `truncated or corrupt: the header needs ${last.dataOffsets[1]} data bytes but the file holds ${dataBytes} ` +
        `(tensor "${last.name}" data_offsets [${last.dataOffsets[0]}, ${last.dataOffsets[1]}] run past the end)`,
    );
  }
  // Packed: sorted by offset, each tensor starts where the previous one ended, the last ends at the end.
  const sorted = [...tensors.values()].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.byteLength - b.byteLength);
  let pos = 0;
  let prev: TensorInfo | undefined;
  for (const t of sorted) {
    const [b] = t.dataOffsets;
    if (b < pos) {
      throw bad(
        file,
        `tensor "${t.name}" [${b}, ${t.dataOffsets[1]}) overlaps tensor "${prev!.name}" [${prev!.dataOffsets[0]}, ${prev!.dataOffsets[1]})`,
      );
    }
    if (b > pos) {
      throw bad(file, `gap in the data area: bytes [${pos}, ${b}) before tensor "${t.name}" belong to no tensor`);
    }
    pos = t.dataOffsets[1];
    prev = t;
  }
  if (pos !== dataBytes) {
    throw bad(file, `the data area has ${dataBytes} bytes but the tensors cover only ${pos}: ${dataBytes - pos} trailing bytes`);
  }
  return { tensors, metadata };
}

/** Something tensors can be read from by name: one file, or a sharded checkpoint. */
export interface TensorSource {
  /** Tensor names in file order (by data offset; sharded: shard by shard). */
  names(): string[];
  has(name: string): boolean;
  /** Throws a UserError naming the file and tensor when absent. */
  info(name: string): TensorInfo;
  /** Reads an F32/BF16/F16 tensor converted to fp32 into dst (dst.length must equal numel). */
  readInto(name: string, dst: Float32Array): void;
  readFloat32(name: string): Float32Array;
  close(): void;
}


const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * What a parsed header gives both readers (in memory, SafetensorsBytes; on disk, SafetensorsFile): the
 * tensors' names in file order, whether one exists, and its entry. `where` names the file in errors.
 */
export abstract class TensorIndex {
  readonly metadata: Record<string, string> | undefined;
  protected readonly tensors: Map<string, TensorInfo>;

  protected constructor(private readonly where: string, parsed: { tensors: Map<string, TensorInfo>; metadata: Record<string, string> | undefined }) {
    this.tensors = parsed.tensors;
    this.metadata = parsed.metadata;
  }

  names(): string[] {
    return [...this.tensors.values()].sort((a, b) => a.fileOffset - b.fileOffset).map((t) => t.name);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (t === undefined) throw bad(this.where, `no tensor named "${name}"`);
    return t;
  }
}

/**
 * A whole safetensors file in memory (e.g. fetched). Checks as SafetensorsFile.open does (the length
 * field, the header limit, the header itself); tensors are read out of the bytes, converted to fp32.
 */
export class SafetensorsBytes extends TensorIndex implements TensorSource {
  /** `name` is used in error messages (a URL or a file name). */
  constructor(readonly name: string, private readonly bytes: Uint8Array) {
    super(name, SafetensorsBytes.header(name, bytes));
  }

  /** The length field, the header limit and the header itself, checked as SafetensorsFile.open does. */
  private static header(name: string, bytes: Uint8Array): ReturnType<typeof parseHeader> {
    if (bytes.length < 8) throw bad(name, `file is ${bytes.length} bytes, too short to hold the 8-byte header length`);
    const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n64 > BigInt(bytes.length - 8)) throw bad(name, `header length ${n64} is larger than the rest of the file (${bytes.length - 8} bytes)`, "the file is truncated or not a safetensors file");
    const n = Number(n64);
    if (n > MAX_HEADER_BYTES) throw bad(name, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
    return parseHeader(name, bytes.subarray(8, 8 + n), 8 + n, bytes.length - 8 - n);
  }

  readInto(name: string, dst: Float32Array): void {
    const t = this.info(name);
    if (!FLOAT_DTYPES.includes(t.dtype)) throw bad(this.name, `tensor "${name}" has dtype ${t.dtype}; expected ${FLOAT_DTYPES.join(" or ")}`);
    if (dst.length !== t.numel) throw bad(this.name, `tensor "${name}" has ${t.numel} elements (shape [${t.shape.join(", ")}]) but the destination holds ${dst.length}`);
    const raw = this.bytes.slice(t.fileOffset, t.fileOffset + t.byteLength); // a copy: aligned, and swappable
    const size = DTYPE_SIZE[t.dtype];
    if (!HOST_LE) for (let i = 0; i < raw.length; i += size) raw.subarray(i, i + size).reverse();
    if (t.dtype === "F32") dst.set(new Float32Array(raw.buffer));
    else if (t.dtype === "BF16") bf16ToF32(dst, new Uint16Array(raw.buffer));
    else f16ToF32(dst, new Uint16Array(raw.buffer));
  }

  readFloat32(name: string): Float32Array {
    const out = new Float32Array(this.info(name).numel);
    this.readInto(name, out);
    return out;
  }

  close(): void {}
}
