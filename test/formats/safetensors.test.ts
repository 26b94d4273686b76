// safetensors reading/writing against files and conversions produced by PyTorch
// (scripts/make_safetensors_fixtures.py), hand-computed bit patterns, and malformed files.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import {
  SafetensorsCheckpoint,
  SafetensorsFile,
  bf16BitsToF32,
  f16BitsToF32,
  f32ToBf16,
  f32ToBf16Bits,
  readSafetensors,
  writeSafetensors,
  writeShardedSafetensors,
  type TensorToWrite,
} from "../../src/formats/safetensors.js";

const FIX = path.join(import.meta.dirname, "..", "..", "fixtures", "safetensors");
const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "aha-st-"));
afterAll(() => fs.rmSync(tmpDir, { recursive: true, force: true }));

const bitsOf = (a: Float32Array): number[] => [...new Uint32Array(a.buffer, a.byteOffset, a.length)];
const f32FromBits = (bits: number[]): Float32Array => new Float32Array(new Uint32Array(bits).buffer);
const isNanBf16 = (h: number): boolean => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;

interface Expected {
  dtype: string;
  shape: number[];
  f32_bits?: number[];
  raw_bits?: number[];
  values?: string[];
}

describe("bf16 / f16 conversion (hand-computed)", () => {
  it("bf16 bits → fp32", () => {
    expect(bf16BitsToF32(0x3f80)).toBe(1);
    expect(bf16BitsToF32(0xc000)).toBe(-2);
    expect(bf16BitsToF32(0x7f80)).toBe(Infinity);
    expect(bf16BitsToF32(0xff80)).toBe(-Infinity);
    expect(Number.isNaN(bf16BitsToF32(0x7fc0))).toBe(true);
    expect(bf16BitsToF32(0x0001)).toBe(2 ** -133); // smallest bf16 subnormal
    expect(Object.is(bf16BitsToF32(0x8000), -0)).toBe(true);
  });
  it("f16 bits → fp32", () => {
    expect(f16BitsToF32(0x3c00)).toBe(1);
    expect(f16BitsToF32(0xc000)).toBe(-2);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
    expect(f16BitsToF32(0x0400)).toBe(2 ** -14); // smallest normal
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(f16BitsToF32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16BitsToF32(0x7c00)).toBe(Infinity);
    expect(f16BitsToF32(0xfc00)).toBe(-Infinity);
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true);
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
    expect(f16BitsToF32(0x3555)).toBe(0.333251953125);
  });
  it("fp32 → bf16 rounds to nearest, ties to even", () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie, 0x3F80 even: down
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie, 0x3F81 odd: up
    expect(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -23)).toBe(0x3f81); // above the tie: up
    expect(f32ToBf16Bits(3.4028234663852886e38)).toBe(0x7f80); // fp32 max overflows to inf
    expect(f32ToBf16Bits(Infinity)).toBe(0x7f80);
    expect(f32ToBf16Bits(-0)).toBe(0x8000);
    expect(isNanBf16(f32ToBf16Bits(NaN))).toBe(true);
  });
  it("fp32 → bf16 matches torch .to(bfloat16) on specials and random magnitudes", () => {
    const d = JSON.parse(fs.readFileSync(path.join(FIX, "bf16_round.json"), "utf8")) as { f32_bits: number[]; bf16_bits: number[] };
    const src = f32FromBits(d.f32_bits);
    const out = new Uint16Array(src.length);
    f32ToBf16(out, src);
    for (let i = 0; i < src.length; i++) {
      // NaN payloads differ between torch's own code paths (0xFFFF vectorised, 0x7FC0 scalar); both are NaN.
      if (Number.isNaN(src[i]!)) expect(isNanBf16(out[i]!), `index ${i}`).toBe(true);
      else expect(out[i], `index ${i}: fp32 0x${d.f32_bits[i]!.toString(16)}`).toBe(d.bf16_bits[i]);
      expect(f32ToBf16Bits(src[i]!) === out[i]).toBe(true);
    }
  });
});

describe("reading files written following the spec by the PyTorch script", () => {
  it("basic: F32, scalar, empty tensor, __metadata__, names in file order", () => {
    const f = SafetensorsFile.open(path.join(FIX, "basic.safetensors"));
    try {
      expect(f.metadata).toEqual({ format: "pt" });
      expect(f.names()).toEqual(["empty", "lm_head.weight", "model.embed_tokens.weight", "model.norm.weight", "scalar"]);
      expect(f.info("scalar").shape).toEqual([]);
      expect(f.readFloat32("scalar")).toEqual(new Float32Array([2.5]));
      expect(f.info("empty").numel).toBe(0);
      expect(f.readFloat32("empty").length).toBe(0);
      expect(f.info("model.embed_tokens.weight").shape).toEqual([7, 5]);
      // readInto writes straight into a view of a bigger arena and touches nothing else.
      const arena = new Float32Array(40).fill(7);
      f.readInto("model.embed_tokens.weight", arena.subarray(3, 38));
      expect(arena[2]).toBe(7);
      expect(arena[38]).toBe(7);
      expect(arena.subarray(3, 38)).toEqual(f.readFloat32("model.embed_tokens.weight"));
    } finally {
      f.close();
    }
  });

  it("mixed dtypes convert exactly as torch's .float() does (subnormals, inf, nan included)", () => {
    const exp = JSON.parse(fs.readFileSync(path.join(FIX, "mixed.expected.json"), "utf8")) as Record<string, Expected>;
    const f = SafetensorsFile.open(path.join(FIX, "mixed.safetensors"));
    try {
      for (const [name, e] of Object.entries(exp)) {
        const info = f.info(name);
        expect(info.dtype).toBe(e.dtype);
        expect(info.shape).toEqual(e.shape);
        if (e.f32_bits !== undefined) {
          const got = f.readFloat32(name);
          const want = f32FromBits(e.f32_bits);
          for (let i = 0; i < want.length; i++) {
            if (Number.isNaN(want[i]!)) expect(Number.isNaN(got[i]!), `${name}[${i}]`).toBe(true);
            else expect(bitsOf(got)[i], `${name}[${i}]`).toBe(e.f32_bits[i]);
          }
        }
        if (e.dtype === "BF16") expect([...f.readBf16(name)]).toEqual(e.raw_bits);
        if (e.dtype === "I32") expect([...f.readInt32(name)].map(String)).toEqual(e.values);
        if (e.dtype === "I64") expect([...f.readInt64(name)].map(String)).toEqual(e.values);
        if (e.dtype === "U8") expect([...f.readRaw(name)].map(String)).toEqual(e.values);
      }
      expect(() => f.readFloat32("i32")).toThrow(/mixed\.safetensors: tensor "i32" has dtype I32; expected F32 or BF16 or F16/);
      expect(() => f.readBf16("f32")).toThrow(/tensor "f32" has dtype F32; expected BF16/);
      expect(() => f.readInto("f32", new Float32Array(3))).toThrow(/tensor "f32" has \d+ elements .* destination holds 3/);
      expect(() => f.info("nope")).toThrow(/mixed\.safetensors: no tensor named "nope"/);
    } finally {
      f.close();
    }
  });

  it("BF16/F16 conversion works across chunk boundaries (4 Mi-byte chunks)", () => {
    const n = (1 << 21) + 3; // > one chunk of 2 Mi bf16 values
    const src = new Float32Array(n);
    for (let i = 0; i < n; i++) src[i] = bf16BitsToF32(i & 0x7f7f);
    const file = path.join(tmpDir, "big.safetensors");
    writeSafetensors(file, [{ name: "x", shape: [n], data: src, dtype: "BF16" }]);
    const got = SafetensorsFile.open(file);
    try {
      expect(bitsOf(got.readFloat32("x"))).toEqual(bitsOf(src));
    } finally {
      got.close();
    }
  });
});

describe("writing", () => {
  it("BF16 from fp32 reproduces the torch-converted reference file byte for byte", () => {
    const input = JSON.parse(fs.readFileSync(path.join(FIX, "bf16_written.input.json"), "utf8")) as Record<string, { shape: number[]; f32_bits: number[] }>;
    const tensors: TensorToWrite[] = Object.entries(input).map(([name, t]) => ({ name, shape: t.shape, data: f32FromBits(t.f32_bits), dtype: "BF16" }));
    const out = path.join(tmpDir, "bf16.safetensors");
    writeSafetensors(out, tensors, { format: "pt" });
    expect(fs.readFileSync(out).equals(fs.readFileSync(path.join(FIX, "bf16_written.safetensors")))).toBe(true);
  });

  it("F32 in reference order reproduces the reference file byte for byte (header padding included)", () => {
    const ref = readSafetensors(path.join(FIX, "basic.safetensors"));
    const order = ["empty", "lm_head.weight", "model.embed_tokens.weight", "model.norm.weight", "scalar"];
    const out = path.join(tmpDir, "basic.safetensors");
    writeSafetensors(out, order.map((name) => ({ name, shape: ref.tensors.get(name)!.shape, data: ref.tensors.get(name)!.data })), ref.metadata);
    expect(fs.readFileSync(out).equals(fs.readFileSync(path.join(FIX, "basic.safetensors")))).toBe(true);
  });

  it("round trip: F32 bit-identical (NaN payloads too), BF16 = round-to-nearest-even, raw bf16 passthrough, order kept", () => {
    const weird = f32FromBits([0x7fc00001, 0xffc00000, 0x00000001, 0x80000000, 0x7f800000, 0x3f808000]);
    const rnd = new Float32Array(1001).map((_, i) => Math.sin(i * 12.9898) * 43758.5453);
    const raw = new Uint16Array([0x3f80, 0xffff, 0x0001]);
    const file = path.join(tmpDir, "rt.safetensors");
    writeSafetensors(file, [
      { name: "z.weird", shape: [2, 3], data: weird },
      { name: "a.rnd", shape: [7, 11, 13], data: rnd },
      { name: "m.bf16", shape: [1001], data: rnd, dtype: "BF16" },
      { name: "raw", shape: [3], data: raw, dtype: "BF16" },
    ]);
    const f = SafetensorsFile.open(file);
    try {
      expect(f.names()).toEqual(["z.weird", "a.rnd", "m.bf16", "raw"]);
      expect(f.metadata).toBeUndefined();
      expect(f.headerLength % 8).toBe(0);
      expect(bitsOf(f.readFloat32("z.weird"))).toEqual(bitsOf(weird));
      expect(bitsOf(f.readFloat32("a.rnd"))).toEqual(bitsOf(rnd));
      const want = new Uint16Array(rnd.length);
      f32ToBf16(want, rnd);
      expect(f.readBf16("m.bf16")).toEqual(want);
      expect(f.readBf16("raw")).toEqual(raw);
    } finally {
      f.close();
    }
    expect(fs.readdirSync(tmpDir).filter((n) => n.includes(".tmp-"))).toEqual([]);
  });

  it("rejects bad input to the writer", () => {
    const file = path.join(tmpDir, "bad.safetensors");
    expect(() => writeSafetensors(file, [{ name: "a", shape: [2, 2], data: new Float32Array(3) }])).toThrow(/shape \[2, 2\] has 4 elements but the data has 3/);
    expect(() => writeSafetensors(file, [{ name: "a", shape: [1], data: new Float32Array(1) }, { name: "a", shape: [1], data: new Float32Array(1) }])).toThrow(/given twice/);
    expect(() => writeSafetensors(file, [{ name: "a", shape: [1], data: new Uint16Array(1) }])).toThrow(/raw bf16/);
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe("sharded checkpoints", () => {
  it("reads the reference sharded folder through its index", () => {
    const exp = JSON.parse(fs.readFileSync(path.join(FIX, "sharded", "expected.json"), "utf8")) as Record<string, { shape: number[]; f32_bits: number[] }>;
    const c = SafetensorsCheckpoint.open(path.join(FIX, "sharded"));
    try {
      expect(new Set(c.names())).toEqual(new Set(Object.keys(exp)));
      for (const [name, e] of Object.entries(exp)) {
        expect(c.info(name).shape).toEqual(e.shape);
        expect(bitsOf(c.readFloat32(name))).toEqual(e.f32_bits);
      }
      expect(c.info("model.norm.weight").dtype).toBe("BF16");
      expect(() => c.info("missing")).toThrow(/model\.safetensors\.index\.json: no tensor named "missing"/);
    } finally {
      c.close();
    }
  });

  it("writes shards under the byte limit with an index, and reads them back bit-identically", () => {
    const dir = path.join(tmpDir, "shards");
    const tensors: TensorToWrite[] = [0, 1, 2, 3, 4].map((i) => ({
      name: `t${i}`,
      shape: [10 * (i + 1)],
      data: new Float32Array(10 * (i + 1)).map((_, j) => i * 1000 + j + 0.5),
      ...(i === 2 ? { dtype: "BF16" as const } : {}),
    }));
    // sizes: 40, 80, 60 (bf16), 160, 200 bytes; limit 150 → [t0 t1] [t2] [t3] [t4]
    const files = writeShardedSafetensors(dir, tensors, { maxShardBytes: 150, metadata: { format: "pt" } });
    expect(files).toEqual([1, 2, 3, 4].map((i) => `model-0000${i}-of-00004.safetensors`).concat("model.safetensors.index.json"));
    const index = JSON.parse(fs.readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8")) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    expect(index.metadata.total_size).toBe(540);
    expect(index.weight_map).toEqual({
      t0: "model-00001-of-00004.safetensors",
      t1: "model-00001-of-00004.safetensors",
      t2: "model-00002-of-00004.safetensors",
      t3: "model-00003-of-00004.safetensors",
      t4: "model-00004-of-00004.safetensors",
    });
    const c = SafetensorsCheckpoint.open(dir);
    try {
      expect(c.names()).toEqual(["t0", "t1", "t2", "t3", "t4"]);
      for (const t of tensors) {
        if (t.dtype === "BF16") continue;
        expect(bitsOf(c.readFloat32(t.name))).toEqual(bitsOf(t.data as Float32Array));
      }
      expect(c.readFloat32("t2")).toEqual(t2bf16(tensors[2]!.data as Float32Array));
    } finally {
      c.close();
    }
    // One shard: a plain model.safetensors and no index.
    const one = path.join(tmpDir, "one");
    expect(writeShardedSafetensors(one, tensors, { maxShardBytes: 1e9 })).toEqual(["model.safetensors"]);
    const c1 = SafetensorsCheckpoint.open(one);
    expect(c1.names()).toEqual(["t0", "t1", "t2", "t3", "t4"]);
    c1.close();
  });

  it("index errors name the index file and the tensor", () => {
    const dir = path.join(tmpDir, "badindex");
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(FIX, "sharded", "model-00001-of-00002.safetensors"), path.join(dir, "model-00001-of-00002.safetensors"));
    const idx = path.join(dir, "model.safetensors.index.json");
    const put = (o: unknown): void => fs.writeFileSync(idx, typeof o === "string" ? o : JSON.stringify(o));
    put({ weight_map: { "model.embed_tokens.weight": "model-00001-of-00002.safetensors", "lm_head.weight": "model-00002-of-00002.safetensors" } });
    expect(() => SafetensorsCheckpoint.open(dir)).toThrow(/model\.safetensors\.index\.json: tensor "lm_head\.weight" is mapped to model-00002-of-00002\.safetensors, which does not exist/);
    put({ weight_map: { "lm_head.weight": "model-00001-of-00002.safetensors" } });
    expect(() => SafetensorsCheckpoint.open(dir)).toThrow(/index\.json: tensor "lm_head\.weight" is mapped to model-00001-of-00002\.safetensors, which does not contain it/);
    put({ weight_map: { x: "../evil.safetensors" } });
    expect(() => SafetensorsCheckpoint.open(dir)).toThrow(/weight_map\["x"\] must be a file name in the same folder/);
    put({ metadata: {} });
    expect(() => SafetensorsCheckpoint.open(dir)).toThrow(/index\.json: missing "weight_map" object/);
    put("{not json");
    expect(() => SafetensorsCheckpoint.open(dir)).toThrow(/index\.json: cannot read the index/);
    fs.rmSync(idx);
    expect(() => SafetensorsCheckpoint.open(dir)).toThrow(/no model\.safetensors or model\.safetensors\.index\.json in this folder/);
  });
});

function t2bf16(x: Float32Array): Float32Array {
  return x.map((v) => bf16BitsToF32(f32ToBf16Bits(v)));
}

describe("malformed files give a UserError naming the file and what is wrong", () => {
  const good = fs.readFileSync(path.join(FIX, "basic.safetensors"));
  const headerLen = Number(good.readBigUInt64LE(0));
  const header = JSON.parse(good.subarray(8, 8 + headerLen).toString("utf8")) as Record<string, Record<string, unknown>>;
  const data = good.subarray(8 + headerLen);

  /** A file with the given header object (or raw header text) and data bytes. */
  function make(name: string, hdr: unknown, body: Uint8Array = data, lenOverride?: bigint): string {
    const h = Buffer.from(typeof hdr === "string" ? hdr : JSON.stringify(hdr), "utf8");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(lenOverride ?? BigInt(h.length));
    const file = path.join(tmpDir, `${name}.safetensors`);
    fs.writeFileSync(file, Buffer.concat([len, h, body]));
    return file;
  }
  const withTensor = (name: string, patch: Record<string, unknown>): Record<string, unknown> => ({
    ...header,
    [name]: { ...header[name], ...patch },
  });
  function expectBad(file: string, re: RegExp): void {
    let err: unknown;
    try {
      SafetensorsFile.open(file).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe("AHA_BAD_SAFETENSORS");
    expect((err as Error).message.startsWith(file + ": ")).toBe(true);
    expect((err as Error).message).toMatch(re);
  }

  it("too short / bad header length / truncated", () => {
    const short = path.join(tmpDir, "short.safetensors");
    fs.writeFileSync(short, Buffer.from([1, 2, 3]));
    expectBad(short, /3 bytes, too short to hold the 8-byte header length/);
    expectBad(make("hugelen", header, data, 1n << 62n), /header length 4611686018427387904 is larger than the rest of the file/);
    const trunc = path.join(tmpDir, "trunc.safetensors");
    fs.writeFileSync(trunc, good.subarray(0, good.length - 10));
    expectBad(trunc, /truncated or corrupt: the header needs 224 data bytes but the file holds 214 \(tensor "scalar" data_offsets \[220, 224\] run past the end\)/);
    const truncHeader = path.join(tmpDir, "trunch.safetensors");
    fs.writeFileSync(truncHeader, good.subarray(0, 40));
    expectBad(truncHeader, /header length \d+ is larger than the rest of the file \(32 bytes\)/);
    expectBad(path.join(tmpDir, "does-not-exist.safetensors"), /cannot open \(ENOENT\)/);
  });

  it("not JSON / not an object / bad metadata", () => {
    expectBad(make("badjson", '{"a": {"dtype": "F32",'), /the header is not valid JSON/);
    expectBad(make("notbrace", '["a"]'), /header does not start with '\{'/);
    expectBad(make("badutf8", Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString("latin1")), /not valid (UTF-8|JSON)/);
    expectBad(make("meta", { ...header, __metadata__: { format: 3 } }), /__metadata__\.format must be a string/);
  });

  it("unknown dtype, bad shape or offsets, shape/size mismatch", () => {
    expectBad(make("dtype", withTensor("scalar", { dtype: "F33" })), /tensor "scalar": unknown dtype "F33"/);
    expectBad(make("nodtype", withTensor("scalar", { dtype: undefined })), /tensor "scalar": missing "dtype"/);
    expectBad(make("shape", withTensor("scalar", { shape: [-1] })), /tensor "scalar": "shape" must be an array of non-negative integers/);
    expectBad(make("offs", withTensor("scalar", { data_offsets: [1] })), /tensor "scalar": "data_offsets" must be \[begin, end\]/);
    expectBad(make("mismatch", withTensor("lm_head.weight", { shape: [3, 4] })), /tensor "lm_head\.weight": shape \[3, 4\] × F32 \(4 bytes\) = 48 bytes, but data_offsets \[0, 60\] span 60 bytes/);
    expectBad(make("dtypesize", withTensor("lm_head.weight", { dtype: "BF16" })), /tensor "lm_head\.weight": shape \[3, 5\] × BF16 \(2 bytes\) = 30 bytes/);
  });

  it("offsets out of range, overlapping, gaps, trailing bytes", () => {
    const scalarEnd = (header["scalar"]!["data_offsets"] as number[])[1]!;
    expectBad(make("oob", withTensor("scalar", { data_offsets: [scalarEnd, scalarEnd + 4] })), /needs 228 data bytes but the file holds 224 \(tensor "scalar" data_offsets \[224, 228\] run past the end\)/);
    expectBad(make("overlap", withTensor("scalar", { data_offsets: [0, 4] })), /tensor "(scalar|lm_head\.weight)" \[0, \d+\) overlaps tensor "(scalar|lm_head\.weight)"/);
    expectBad(make("trailing", header, Buffer.concat([data, Buffer.alloc(4)])), /trailing bytes/);
    // Move the last tensor 4 bytes on and add 4 bytes: a gap before it.
    expectBad(
      make("gap", withTensor("scalar", { data_offsets: [scalarEnd, scalarEnd + 4] }), Buffer.concat([data, Buffer.alloc(4)])),
      /gap in the data area: bytes \[\d+, \d+\) before tensor "scalar" belong to no tensor/,
    );
  });
});
