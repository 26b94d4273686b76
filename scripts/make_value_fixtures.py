#!/usr/bin/python3
"""Golden fixtures for src/model/value.ts: value models (PPO critics) built on the tiny fixture models.

Run with Debian's torch, after make_fixtures.py:   /usr/bin/python3 scripts/make_value_fixtures.py
For each base in BASES, reads fixtures/model/<base>/ (config.json, model.safetensors) and writes
fixtures/model/<base>-value/, a Hugging Face value-model folder as transformers writes
<Family>ForTokenClassification with num_labels 1:
  config.json         the base's config with architectures <Family>ForTokenClassification, num_labels 1,
                      id2label / label2id of one label, token_classification_bias (false: no score.bias)
  model.safetensors   the base's body tensors (no lm_head) + score.weight (1, hidden) [+ score.bias (1)]
  reference.bin       (the format of make_fixtures.py) what the TypeScript value model must reproduce:
    input_ids (T) I32, cu_seqlens (S+1) I32
    values (T)                      value_t = score . final_norm(x)_t (+ bias), float64 math
    dvalues (T)                     the upstream gradient: L = sum(dvalues * values)
    grad.<param>                    dL/d param for every tensor of model.safetensors, score.* included

The math is make_fixtures.py's plain-torch body (`hidden`), evaluated in float64 from the float32
weights, independent of the TypeScript code.
"""
import json
import os
import struct

import torch

import make_fixtures as mf

BASES = {
    # tied embeddings, q/k/v bias, GQA; a value head without bias (ORZ's / OpenRLHF's)
    "qwen2-tiny": {"bias": False, "seed": 4321},
    # untied lm_head (absent from the value folder), llama3 rope scaling; a head with bias (transformers' default)
    "llama-tiny": {"bias": True, "seed": 4322},
}

SEQ_LENS = [5, 8, 7]


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        a, b = t["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(t["shape"]).clone()
    return out


def value_config(base_cfg, bias):
    cfg = dict(base_cfg)
    cfg["architectures"] = [base_cfg["architectures"][0].replace("ForCausalLM", "ForTokenClassification")]
    cfg["num_labels"] = 1
    cfg["id2label"] = {"0": "LABEL_0"}
    cfg["label2id"] = {"LABEL_0": 0}
    cfg["token_classification_bias"] = bias
    return cfg


def make(base, bias, seed):
    src = os.path.join(mf.OUT, base)
    with open(os.path.join(src, "config.json")) as f:
        base_cfg = json.load(f)
    weights = read_safetensors(os.path.join(src, "model.safetensors"))
    weights.pop("lm_head.weight", None)  # a value model has no vocabulary head
    gen = torch.Generator().manual_seed(seed)
    C = base_cfg["hidden_size"]
    weights["score.weight"] = (0.3 * torch.randn((1, C), generator=gen)).to(torch.float32)
    if bias:
        weights["score.bias"] = (0.5 * torch.randn((1,), generator=gen)).to(torch.float32)

    cu = [0]
    for n in SEQ_LENS:
        cu.append(cu[-1] + n)
    T = cu[-1]
    ids = torch.randint(0, base_cfg["vocab_size"], (T,), generator=gen)

    P = {k: v.to(torch.float64).requires_grad_(True) for k, v in weights.items()}
    h = mf.hidden(base_cfg, P, ids, cu)  # (T, C)
    values = h @ P["score.weight"][0]
    if bias:
        values = values + P["score.bias"][0]
    dvalues = torch.randn(T, generator=gen, dtype=torch.float64)
    (dvalues * values).sum().backward()

    tensors = {"input_ids": ids.to(torch.int32), "cu_seqlens": torch.tensor(cu, dtype=torch.int32),
               "values": values.detach(), "dvalues": dvalues}
    for k, p in P.items():
        tensors["grad." + k] = p.grad
    d = os.path.join(mf.OUT, base + "-value")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(value_config(base_cfg, bias), f, indent=2)
        f.write("\n")
    mf.write_safetensors(os.path.join(d, "model.safetensors"), weights)
    mf.write_reference(os.path.join(d, "reference.bin"), tensors, {})
    print(f"{base}-value: {sum(v.numel() for v in weights.values())} params, "
          f"values [{float(values.min()):.4f}, {float(values.max()):.4f}]")


if __name__ == "__main__":
    torch.set_num_threads(1)
    for name, o in BASES.items():
        make(name, o["bias"], o["seed"])
