/**
 * safetensors: read (F32, BF16, F16 → fp32; I32/I64/U8/… raw) and write (F32, BF16), single files and
 * sharded checkpoints (`model.safetensors.index.json`).
 *
 * File layout (https://github.com/huggingface/safetensors, "Format"):
 *   8 bytes   N, unsigned little-endian u64: the header length
 *   N bytes   JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {str: str}}
 *             (the reference writer pads it with spaces to a multiple of 8 bytes)
 *   rest      the data area; data_offsets are relative to its start; tensors are row-major, little-endian,
 *             packed with no gaps and no overlaps, and together cover the whole data area.
 *
 * Memory: `SafetensorsFile.open` reads only the header. `readInto(name, dst)` reads one tensor's bytes at
 * its offset (F32 straight into `dst`'s memory; BF16/F16 through a small fixed-size chunk buffer) and
 * converts them into a caller-provided Float32Array, so a loader can fill the model's parameter arena
 * without ever holding a second copy of the checkpoint.
 *
 * Every problem with a file is a UserError naming the file, what is wrong and the tensor.
 * Writes go to a temporary file in the same folder, which is then renamed over the target.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UserError } from "../errors.js";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { bad, bf16ToF32, f16ToF32, f32ToBf16, FLOAT_DTYPES, isNonNegInt, MAX_HEADER_BYTES, parseHeader, TensorIndex, type SafeDType, type TensorInfo, type TensorSource, type WriteDType } from "./safetensors-bytes.js";
export { DTYPE_SIZE, FLOAT_DTYPES, MAX_HEADER_BYTES, f32ToBf16Bits, bf16BitsToF32, f16BitsToF32, f32ToBf16, bf16ToF32, f16ToF32, parseHeader, SafetensorsBytes } from "./safetensors-bytes.js";
export type { SafeDType, WriteDType, TensorInfo, TensorSource } from "./safetensors-bytes.js";

// ***** dtypes, conversions, the header: ./safetensors-bytes.ts (portable; re-exported here) *****

/** Chunk used to convert BF16/F16 data (bytes); keeps the extra memory of a read small and fixed. */
const CHUNK_BYTES = 1 << 22;

const LITTLE_ENDIAN = os.endianness() === "LE";

// ***** reading *****

export class SafetensorsFile extends TensorIndex implements TensorSource {
  readonly path: string;
  readonly headerLength: number;
  readonly fileSize: number;
  private fd: number | null;

  private constructor(p: string, fd: number, headerLength: number, fileSize: number, parsed: ReturnType<typeof parseHeader>) {
    super(p, parsed);
    this.path = p;
    this.fd = fd;
    this.headerLength = headerLength;
    this.fileSize = fileSize;
  }

  /** Opens a file and reads and validates its header (no tensor data is read). */
  static open(file: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(file, "r");
    } catch (e) {
      throw bad(file, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < 8) throw bad(file, `file is ${size} bytes, too short to hold the 8-byte header length`);
      const lenBuf = Buffer.alloc(8);
      readFully(fd, lenBuf, 0, file);
      const n64 = lenBuf.readBigUInt64LE(0);
      if (n64 > BigInt(size - 8)) {
        throw bad(file, `header length ${n64} is larger than the rest of the file (${size - 8} bytes)`, "the file is truncated or not a safetensors file");
      }
      const n = Number(n64);
      if (n > MAX_HEADER_BYTES) throw bad(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
      const header = Buffer.alloc(n);
      readFully(fd, header, 8, file);
      const parsed = parseHeader(file, header, 8 + n, size - 8 - n);
      return new SafetensorsFile(file, fd, n, size, parsed);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** The raw bytes of a tensor (a copy, little-endian as in the file). */
  readRaw(name: string): Uint8Array {
    const t = this.info(name);
    const out = new Uint8Array(t.byteLength);
    readFully(this.openFd(), out, t.fileOffset, this.path);
    return out;
  }

  /** The raw bits of a BF16 tensor (no conversion). */
  readBf16(name: string): Uint16Array {
    const t = this.expectDtype(name, ["BF16"]);
    const out = new Uint16Array(t.numel);
    this.readBytesInto(t, new Uint8Array(out.buffer), 2);
    return out;
  }

  /** An I32 tensor. */
  readInt32(name: string): Int32Array {
    const t = this.expectDtype(name, ["I32"]);
    const out = new Int32Array(t.numel);
    this.readBytesInto(t, new Uint8Array(out.buffer), 4);
    return out;
  }

  /** An I64 tensor. */
  readInt64(name: string): BigInt64Array {
    const t = this.expectDtype(name, ["I64"]);
    const out = new BigInt64Array(t.numel);
    this.readBytesInto(t, new Uint8Array(out.buffer), 8);
    return out;
  }

  readInto(name: string, dst: Float32Array): void {
    const t = this.expectDtype(name, FLOAT_DTYPES);
    if (dst.length !== t.numel) {
      throw bad(this.path, `tensor "${name}" has ${t.numel} elements (shape [${t.shape.join(", ")}]) but the destination holds ${dst.length}`);
    }
    const fd = this.openFd();
    if (t.dtype === "F32") {
      this.readBytesInto(t, new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength), 4);
      return;
    }
    // BF16 / F16: convert chunk by chunk through a fixed-size buffer.
    const chunkElems = CHUNK_BYTES / 2;
    const chunk = new Uint16Array(Math.min(chunkElems, t.numel));
    const chunkBytes = new Uint8Array(chunk.buffer);
    for (let i0 = 0; i0 < t.numel; i0 += chunkElems) {
      const n = Math.min(chunkElems, t.numel - i0);
      readFully(fd, chunkBytes.subarray(0, 2 * n), t.fileOffset + 2 * i0, this.path);
      if (!LITTLE_ENDIAN) swapBytes(chunkBytes.subarray(0, 2 * n), 2);
      const src = chunk.subarray(0, n);
      const out = dst.subarray(i0, i0 + n);
      if (t.dtype === "BF16") bf16ToF32(out, src);
      else f16ToF32(out, src);
    }
  }

  readFloat32(name: string): Float32Array {
    const out = new Float32Array(this.info(name).numel);
    this.readInto(name, out);
    return out;
  }

  close(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }

  private openFd(): number {
    if (this.fd === null) throw new Error(`${this.path}: read after close()`);
    return this.fd;
  }

  private expectDtype(name: string, allowed: readonly SafeDType[]): TensorInfo {
    const t = this.info(name);
    if (!allowed.includes(t.dtype)) {
      throw bad(this.path, `tensor "${name}" has dtype ${t.dtype}; expected ${allowed.join(" or ")}`);
    }
    return t;
  }

  private readBytesInto(t: TensorInfo, dst: Uint8Array, elemSize: number): void {
    readFully(this.openFd(), dst, t.fileOffset, this.path);
    if (!LITTLE_ENDIAN) swapBytes(dst, elemSize);
  }
}

function readFully(fd: number, dst: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < dst.length) {
    // readSync takes at most 2 GiB per call.
    const want = Math.min(dst.length - done, 1 << 30);
    const got = fs.readSync(fd, dst, done, want, position + done);
    if (got === 0) throw bad(file, `unexpected end of file at byte ${position + done}`, "the file was truncated or changed while reading");
    done += got;
  }
}

function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
}

/** Convenience: reads every tensor of a small file into memory as fp32 (F32/BF16/F16 only). */
export function readSafetensors(file: string): {
  tensors: Map<string, { shape: number[]; dtype: SafeDType; data: Float32Array }>;
  metadata: Record<string, string> | undefined;
} {
  const f = SafetensorsFile.open(file);
  try {
    const tensors = new Map<string, { shape: number[]; dtype: SafeDType; data: Float32Array }>();
    for (const name of f.names()) {
      const t = f.info(name);
      tensors.set(name, { shape: [...t.shape], dtype: t.dtype, data: f.readFloat32(name) });
    }
    return { tensors, metadata: f.metadata };
  } finally {
    f.close();
  }
}

// ***** writing *****

export interface TensorToWrite {
  name: string;
  shape: readonly number[];
  /** fp32 values (converted to `dtype`), or raw bf16 bits written as they are (dtype must be BF16). */
  data: Float32Array | Uint16Array;
  /** Default F32. */
  dtype?: WriteDType;
}

function writeBytes(t: TensorToWrite): number {
  let numel = 1;
  for (const d of t.shape) numel *= d;
  return numel * (t.dtype === "BF16" ? 2 : 4);
}

/** The header bytes exactly as the reference writer lays them out (compact JSON, space-padded to 8). */
export function buildHeader(tensors: readonly TensorToWrite[], metadata?: Record<string, string>): Buffer {
  const obj: Record<string, unknown> = {};
  if (metadata !== undefined) obj["__metadata__"] = metadata;
  let off = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === "__metadata__") throw new UserError(`a tensor cannot be named "__metadata__"`);
    if (seen.has(t.name)) throw new UserError(`tensor "${t.name}" is given twice`);
    seen.add(t.name);
    let numel = 1;
    for (const d of t.shape) {
      if (!isNonNegInt(d)) throw new UserError(`tensor "${t.name}": bad shape [${t.shape.join(", ")}]`);
      numel *= d;
    }
    if (numel !== t.data.length) {
      throw new UserError(`tensor "${t.name}": shape [${t.shape.join(", ")}] has ${numel} elements but the data has ${t.data.length}`);
    }
    const dtype = t.dtype ?? "F32";
    if (t.data instanceof Uint16Array && dtype !== "BF16") {
      throw new UserError(`tensor "${t.name}": Uint16Array data is raw bf16 bits; set dtype "BF16"`);
    }
    const n = writeBytes(t);
    obj[t.name] = { dtype, shape: [...t.shape], data_offsets: [off, off + n] };
    off += n;
  }
  const json = Buffer.from(JSON.stringify(obj), "utf8");
  const padded = Buffer.alloc(json.length + ((8 - (json.length % 8)) % 8), 0x20);
  json.copy(padded);
  return padded;
}

/**
 * Writes tensors (in the order given) to `file` atomically (src/util/atomic.ts). fp32 data is
 * converted chunk by chunk, so a write needs only a small fixed buffer beyond the caller's arrays.
 */
export function writeSafetensors(file: string, tensors: readonly TensorToWrite[], metadata?: Record<string, string>): void {
  const header = buildHeader(tensors, metadata);
  writeFileAtomic(file, (f) => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    f.write(len);
    f.write(header);
    const chunk = new Uint8Array(CHUNK_BYTES);
    for (const t of tensors) {
      const dtype = t.dtype ?? "F32";
      if (dtype === "F32" && LITTLE_ENDIAN) {
        f.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        continue;
      }
      if (t.data instanceof Uint16Array && LITTLE_ENDIAN) {
        f.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        continue;
      }
      const size = dtype === "BF16" ? 2 : 4;
      const per = CHUNK_BYTES / size;
      for (let i0 = 0; i0 < t.data.length; i0 += per) {
        const n = Math.min(per, t.data.length - i0);
        const bytes = chunk.subarray(0, n * size);
        const src = t.data.subarray(i0, i0 + n);
        if (size === 2) {
          const bits = new Uint16Array(chunk.buffer, 0, n);
          if (src instanceof Uint16Array) bits.set(src);
          else f32ToBf16(bits, src);
        } else {
          new Float32Array(chunk.buffer, 0, n).set(src);
        }
        if (!LITTLE_ENDIAN) swapBytes(bytes, size);
        f.write(bytes);
      }
    }
  });
}

// ***** sharded checkpoints *****

export const INDEX_FILE = "model.safetensors.index.json";
export const SINGLE_FILE = "model.safetensors";

/** Shard file name as transformers writes it: model-00001-of-00003.safetensors. */
export function shardName(i: number, n: number): string {
  return `model-${String(i + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`;
}

/**
 * Splits tensors (in order) into shards of at most `maxShardBytes` of tensor data each (a tensor larger
 * than the limit gets a shard of its own), like transformers' `save_pretrained(max_shard_size=…)`.
 * One shard → `model.safetensors` and no index. Several → `model-0000i-of-0000n.safetensors` plus
 * `model.safetensors.index.json` = {metadata: {total_size}, weight_map: {tensor: file}}.
 * Returns the file names written (index last).
 */
export function writeShardedSafetensors(
  dir: string,
  tensors: readonly TensorToWrite[],
  opts: { maxShardBytes: number; metadata?: Record<string, string> },
): string[] {
  if (!(opts.maxShardBytes > 0)) throw new UserError(`maxShardBytes must be positive, got ${opts.maxShardBytes}`);
  const shards: TensorToWrite[][] = [];
  let cur: TensorToWrite[] = [];
  let curBytes = 0;
  let total = 0;
  for (const t of tensors) {
    const n = writeBytes(t);
    if (cur.length > 0 && curBytes + n > opts.maxShardBytes) {
      shards.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(t);
    curBytes += n;
    total += n;
  }
  if (cur.length > 0 || shards.length === 0) shards.push(cur);
  fs.mkdirSync(dir, { recursive: true });
  if (shards.length === 1) {
    writeSafetensors(path.join(dir, SINGLE_FILE), shards[0]!, opts.metadata);
    return [SINGLE_FILE];
  }
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => {
    const name = shardName(i, shards.length);
    writeSafetensors(path.join(dir, name), s, opts.metadata);
    for (const t of s) weightMap[t.name] = name;
    files.push(name);
  });
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  const indexPath = path.join(dir, INDEX_FILE);
  writeJsonAtomic(indexPath, index);
  files.push(INDEX_FILE);
  return files;
}

/**
 * A checkpoint in a model folder: `model.safetensors.index.json` + shards when the index exists,
 * otherwise `model.safetensors`. Shards are opened (headers only) up front so that a tensor missing
 * from its shard is reported before any weight is read.
 */
export class SafetensorsCheckpoint implements TensorSource {
  /** The index file, or the single file. */
  readonly path: string;
  private readonly files: SafetensorsFile[];
  private readonly where = new Map<string, SafetensorsFile>();

  private constructor(p: string, files: SafetensorsFile[]) {
    this.path = p;
    this.files = files;
  }

  /** `target` is a model folder, an index file, or a single .safetensors file. */
  static open(target: string): SafetensorsCheckpoint {
    let st: fs.Stats;
    try {
      st = fs.statSync(target);
    } catch {
      throw new UserError(`${target}: no such file or folder`, undefined, "AHA_BAD_SAFETENSORS");
    }
    if (st.isDirectory()) {
      const idx = path.join(target, INDEX_FILE);
      if (fs.existsSync(idx)) return SafetensorsCheckpoint.openIndex(idx);
      const single = path.join(target, SINGLE_FILE);
      if (fs.existsSync(single)) return SafetensorsCheckpoint.openSingle(single);
      throw new UserError(`${target}: no ${SINGLE_FILE} or ${INDEX_FILE} in this folder`, undefined, "AHA_BAD_SAFETENSORS");
    }
    if (target.endsWith(".json")) return SafetensorsCheckpoint.openIndex(target);
    return SafetensorsCheckpoint.openSingle(target);
  }

  private static openSingle(file: string): SafetensorsCheckpoint {
    const f = SafetensorsFile.open(file);
    const c = new SafetensorsCheckpoint(file, [f]);
    for (const n of f.names()) c.where.set(n, f);
    return c;
  }

  private static openIndex(indexPath: string): SafetensorsCheckpoint {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(indexPath, "utf8"));
    } catch (e) {
      throw bad(indexPath, `cannot read the index (${(e as Error).message})`);
    }
    const wm = (json as { weight_map?: unknown } | null)?.weight_map;
    if (typeof wm !== "object" || wm === null || Array.isArray(wm)) throw bad(indexPath, `missing "weight_map" object`);
    const dir = path.dirname(indexPath);
    const byFile = new Map<string, SafetensorsFile>();
    const opened: SafetensorsFile[] = [];
    const c = new SafetensorsCheckpoint(indexPath, opened);
    try {
      for (const [tensor, fileName] of Object.entries(wm)) {
        if (typeof fileName !== "string" || fileName === "" || fileName !== path.basename(fileName) || fileName === "..") {
          throw bad(indexPath, `weight_map["${tensor}"] must be a file name in the same folder, got ${JSON.stringify(fileName)}`);
        }
        let f = byFile.get(fileName);
        if (f === undefined) {
          if (!fs.existsSync(path.join(dir, fileName))) {
            throw bad(indexPath, `tensor "${tensor}" is mapped to ${fileName}, which does not exist`);
          }
          f = SafetensorsFile.open(path.join(dir, fileName));
          byFile.set(fileName, f);
          opened.push(f);
        }
        if (!f.has(tensor)) throw bad(indexPath, `tensor "${tensor}" is mapped to ${fileName}, which does not contain it`);
        c.where.set(tensor, f);
      }
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  /** Tensor metadata from the shards' headers (`__metadata__` of the first shard). */
  get metadata(): Record<string, string> | undefined {
    return this.files[0]?.metadata;
  }

  names(): string[] {
    const out: string[] = [];
    for (const f of this.files) for (const n of f.names()) if (this.where.get(n) === f) out.push(n);
    return out;
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  /** The file that holds a tensor. */
  file(name: string): SafetensorsFile {
    const f = this.where.get(name);
    if (f === undefined) throw bad(this.path, `no tensor named "${name}" in this checkpoint`);
    return f;
  }

  info(name: string): TensorInfo {
    return this.file(name).info(name);
  }

  readInto(name: string, dst: Float32Array): void {
    this.file(name).readInto(name, dst);
  }

  readFloat32(name: string): Float32Array {
    return this.file(name).readFloat32(name);
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}
