#!/usr/bin/python3
"""Writes the safetensors test fixtures in fixtures/safetensors/ (run: /usr/bin/python3 scripts/make_safetensors_fixtures.py).

The independent reference for test/formats/safetensors*.test.ts. The `safetensors` Python package is not
installable here (no Debian package, no network), so the files are laid out with struct + json straight
from the format specification (https://github.com/huggingface/safetensors#format) the way the reference
Rust writer does it: u64 little-endian header length; compact JSON header with "__metadata__" first and
the tensors ordered by dtype (larger alignment first) then by name; header padded with spaces to a
multiple of 8 bytes; packed data. Values and dtype conversions come from PyTorch (Debian python3-torch),
so the expected fp32 values (as bit patterns, NaN included) are torch's, not ours.

Outputs (small, committed):
  basic.safetensors          F32 tensors incl. a scalar and an empty tensor, __metadata__ {"format": "pt"}
  mixed.safetensors          F32, BF16, F16, I32, I64, U8 tensors with special values
  mixed.expected.json        per tensor: dtype, shape, and the expected values
                               (float dtypes: fp32 bit patterns of torch's .float(); ints: the integers)
  bf16_round.json            fp32 bit patterns and torch's bf16 bits for them (ties, subnormals, inf, nan)
  bf16_written.safetensors   a BF16 file written from fp32 tensors via torch's .to(torch.bfloat16),
                             tensors given in reference order, so our writer must reproduce it byte for byte
  bf16_written.input.json    the fp32 bit patterns it was written from
  sharded/                   model-0000{1,2}-of-00002.safetensors + model.safetensors.index.json
"""
import json
import os
import struct

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "safetensors")

DTYPES = {  # name -> (torch dtype, size, rank in the reference writer's dtype enum order)
    "U8": (torch.uint8, 1, 4),
    "I32": (torch.int32, 4, 13),
    "I64": (torch.int64, 8, 17),
    "F16": (torch.float16, 2, 11),
    "BF16": (torch.bfloat16, 2, 12),
    "F32": (torch.float32, 4, 15),
}
TORCH_TO_NAME = {v[0]: k for k, v in DTYPES.items()}


def tensor_bytes(t):
    """Little-endian bytes of a contiguous tensor (bf16/f16 via a 16-bit integer view)."""
    t = t.contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def save(path, tensors, metadata=None, keep_order=False):
    """tensors: dict name -> torch tensor. Lays the file out like the reference writer."""
    items = list(tensors.items())
    if not keep_order:
        # Reference writer: sort by dtype descending (enum order), then name ascending.
        items.sort(key=lambda kv: (-DTYPES[TORCH_TO_NAME[kv[1].dtype]][2], kv[0]))
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    off = 0
    blobs = []
    for name, t in items:
        b = tensor_bytes(t)
        header[name] = {"dtype": TORCH_TO_NAME[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def bits_f32(t):
    return [int(x) & 0xFFFFFFFF for x in t.float().contiguous().view(torch.int32).flatten().tolist()]


def from_bits_f32(bits):
    return torch.tensor([b - (1 << 32) if b >= (1 << 31) else b for b in bits], dtype=torch.int32).view(torch.float32)


SPECIAL_F32 = from_bits_f32([
    0x00000000, 0x80000000,  # +0, -0
    0x3F800000, 0xBF800000,  # 1, -1
    0x7F800000, 0xFF800000,  # +inf, -inf
    0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FBFFFFF,  # NaNs (quiet, negative, signalling)
    0x00000001, 0x007FFFFF, 0x00800000,  # smallest subnormal, largest subnormal, smallest normal
    0x3F808000,  # 1 + 2^-8: tie, lower neighbour even -> stays 0x3F80
    0x3F818000,  # tie, lower neighbour odd -> rounds up to 0x3F82
    0x3F808001, 0x3F807FFF,  # just above / below a tie
    0x7F7FFFFF,  # fp32 max: rounds to bf16 inf
    0x7F7F7FFF,  # just below the rounding boundary to inf
    0x0000FFFF, 0x00008000, 0x00018000,  # subnormal ties
    0x477FE000, 0x38800000, 0x33800000, 0x33000000, 0x387FC000,  # f16 edges: 65504, 2^-14, 2^-24, 2^-25 tie, subnormal
    0x40490FDB, 0xC2F6E979, 0x3DCCCCCD,  # pi, -123.456, 0.1
])


def main():
    os.makedirs(os.path.join(OUT, "sharded"), exist_ok=True)
    g = torch.Generator().manual_seed(1234)

    basic = {
        "model.embed_tokens.weight": torch.randn(7, 5, generator=g),
        "model.norm.weight": torch.randn(5, generator=g),
        "lm_head.weight": torch.randn(3, 5, generator=g),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
    }
    save(os.path.join(OUT, "basic.safetensors"), basic, metadata={"format": "pt"})

    mixed = {
        "f32": SPECIAL_F32.reshape(-1),
        "bf16": SPECIAL_F32.to(torch.bfloat16),
        "f16": SPECIAL_F32.to(torch.float16),
        "bf16_rand": torch.randn(3, 4, 5, generator=g).to(torch.bfloat16),
        "f16_rand": (torch.randn(2, 9, generator=g) * 100).to(torch.float16),
        "i32": torch.tensor([[0, -1, 2147483647], [-2147483648, 42, 7]], dtype=torch.int32),
        "i64": torch.tensor([0, -1, 9007199254740993, -9223372036854775808], dtype=torch.int64),
        "u8": torch.tensor([0, 1, 255, 128], dtype=torch.uint8),
    }
    save(os.path.join(OUT, "mixed.safetensors"), mixed)
    expected = {}
    for name, t in mixed.items():
        e = {"dtype": TORCH_TO_NAME[t.dtype], "shape": list(t.shape)}
        if t.dtype in (torch.float32, torch.bfloat16, torch.float16):
            e["f32_bits"] = bits_f32(t)
            if t.dtype != torch.float32:
                e["raw_bits"] = [int(x) & 0xFFFF for x in t.view(torch.int16).flatten().tolist()]
        else:
            e["values"] = [str(int(x)) for x in t.flatten().tolist()]  # strings: int64 does not fit a double
        expected[name] = e
    with open(os.path.join(OUT, "mixed.expected.json"), "w") as f:
        json.dump(expected, f, indent=1)

    rnd = torch.randn(64, generator=g) * torch.logspace(-30, 30, 64)
    src = torch.cat([SPECIAL_F32, rnd])
    with open(os.path.join(OUT, "bf16_round.json"), "w") as f:
        json.dump({
            "f32_bits": bits_f32(src),
            "bf16_bits": [int(x) & 0xFFFF for x in src.to(torch.bfloat16).view(torch.int16).tolist()],
            "f16_bits": [int(x) & 0xFFFF for x in src.to(torch.float16).view(torch.int16).tolist()],
        }, f, indent=1)

    w32 = {
        "a.weight": torch.randn(4, 6, generator=g),
        # NaN left out: torch's vectorised conversion writes NaN as 0xFFFF, c10's scalar one (and ours) as
        # 0x7FC0; both are NaN (bf16_round.json checks NaN-ness), but the file could not be byte-identical.
        "b.bias": SPECIAL_F32[~torch.isnan(SPECIAL_F32)].clone(),
        "c": torch.randn(3, generator=g) * 1e-39,
    }
    # Our writer's BF16 path converts fp32 itself; torch does the conversion here.
    save(os.path.join(OUT, "bf16_written.safetensors"), {k: v.to(torch.bfloat16) for k, v in w32.items()},
         metadata={"format": "pt"})
    with open(os.path.join(OUT, "bf16_written.input.json"), "w") as f:
        json.dump({k: {"shape": list(v.shape), "f32_bits": bits_f32(v)} for k, v in w32.items()}, f, indent=1)

    shard1 = {"model.embed_tokens.weight": basic["model.embed_tokens.weight"], "model.layers.0.w": torch.randn(5, 5, generator=g)}
    shard2 = {"model.norm.weight": basic["model.norm.weight"].to(torch.bfloat16), "lm_head.weight": basic["lm_head.weight"]}
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    save(os.path.join(OUT, "sharded", names[0]), shard1, metadata={"format": "pt"})
    save(os.path.join(OUT, "sharded", names[1]), shard2, metadata={"format": "pt"})
    total = sum(t.numel() * t.element_size() for s in (shard1, shard2) for t in s.values())
    index = {"metadata": {"total_size": total},
             "weight_map": {**{k: names[0] for k in shard1}, **{k: names[1] for k in shard2}}}
    with open(os.path.join(OUT, "sharded", "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
    with open(os.path.join(OUT, "sharded", "expected.json"), "w") as f:
        json.dump({k: {"shape": list(t.shape), "f32_bits": bits_f32(t)} for s in (shard1, shard2) for k, t in s.items()}, f, indent=1)


if __name__ == "__main__":
    main()
