#!/usr/bin/python3
"""Golden fixtures for src/model: small random Llama / Qwen2 / Qwen3 models, computed by PyTorch.

Run with Debian's torch:   /usr/bin/python3 scripts/make_fixtures.py
Writes, for each model in MODELS, a folder fixtures/model/<name>/ holding
  config.json         Hugging Face config fields (what src/model/config.ts parses)
  model.safetensors   the random weights, F32, Hugging Face tensor names (written by hand below:
                      8-byte little-endian header length, JSON header, raw data)
  reference.bin       what the TypeScript model must reproduce (format below)

The transformer math is written here in plain torch (no transformers library), independently of the
TypeScript code, and evaluated in float64 from the float32 weights, so the references are the exact
values up to float64 rounding.

reference.bin layout (little-endian):
  u32 magic = 0x41484146 ("FAHA" in file order), u32 version = 1, u64 n,
  n bytes of JSON header: {"tensors": {name: {"dtype": "F32"|"I32", "shape": [...], "offsets": [a, b]}},
                           "scalars": {name: number}},
  then the data; offsets are relative to the end of the header (as in safetensors).
Tensors:
  input_ids (T) I32, cu_seqlens (S+1) I32, targets (T) I32 (next token inside each sequence, -1 = ignored)
  logp (T), entropy (T)                     per-token log-prob of the target (0 where ignored), entropy
  last_logits (S, V)                        logits of the last token of each sequence
  dlogp (T), dentropy (T)                   the upstream gradient: L = sum(dlogp*logp) + sum(dentropy*entropy)
  grad.<param> (shape of param)             dL/d param
  adamw2.<param>                            the parameter after two AdamW steps (torch.optim.AdamW, with
                                            clip_grad_norm_ before each): step 1 gradient = grad.<param>,
                                            step 2 gradient = grad.<param> * (0.5 - k/numel) (k = flat index)
Scalars: ce_loss (mean over targets >= 0 of -logp), grad_norm1, grad_norm2 (norms before clipping),
  lr1, lr2, beta1, beta2, eps, weight_decay (applied to tensors with >= 2 dims only), max_norm.
"""
import json
import math
import os
import struct

import torch

MAGIC = 0x41484146
VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "model")

MODELS = {
    # Qwen2-like: grouped-query attention (4 query heads, 2 kv heads), q/k/v bias, tied embeddings.
    "qwen2-tiny": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "vocab_size": 96, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True, "max_position_embeddings": 64, "torch_dtype": "float32",
    },
    # Llama-like: multi-head attention, no bias, untied head, Llama-3.2 "llama3" rope scaling.
    "llama-tiny": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": 80, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 4, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "max_position_embeddings": 64, "attention_bias": False,
        "mlp_bias": False, "torch_dtype": "float32",
        "rope_scaling": {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
    },
    # Qwen3-like: per-head q/k RMSNorm, head_dim 16 != hidden/heads = 8, GQA, no bias, tied.
    "qwen3-tiny": {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
        "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "max_position_embeddings": 64,
        "attention_bias": False, "torch_dtype": "float32",
    },
}

SEQ_LENS = [5, 8, 7]  # three packed sequences, T = 20
ADAM = {"lr1": 1e-2, "lr2": 5e-3, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1}


def dims(cfg):
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d = cfg.get("head_dim") or cfg["hidden_size"] // heads
    return heads, kv, d


def qkv_bias(cfg):
    return cfg["model_type"] == "qwen2" or cfg.get("attention_bias", False)


def o_bias(cfg):
    return cfg["model_type"] != "qwen2" and cfg.get("attention_bias", False)


def param_shapes(cfg):
    """HF tensor name -> shape, in the order HF modules declare them."""
    C, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, KV, D = dims(cfg)
    shapes = {"model.embed_tokens.weight": (V, C)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes[p + "self_attn.q_proj.weight"] = (H * D, C)
        if qkv_bias(cfg): shapes[p + "self_attn.q_proj.bias"] = (H * D,)
        shapes[p + "self_attn.k_proj.weight"] = (KV * D, C)
        if qkv_bias(cfg): shapes[p + "self_attn.k_proj.bias"] = (KV * D,)
        shapes[p + "self_attn.v_proj.weight"] = (KV * D, C)
        if qkv_bias(cfg): shapes[p + "self_attn.v_proj.bias"] = (KV * D,)
        shapes[p + "self_attn.o_proj.weight"] = (C, H * D)
        if o_bias(cfg): shapes[p + "self_attn.o_proj.bias"] = (C,)
        if cfg["model_type"] == "qwen3":
            shapes[p + "self_attn.q_norm.weight"] = (D,)
            shapes[p + "self_attn.k_norm.weight"] = (D,)
        shapes[p + "mlp.gate_proj.weight"] = (I, C)
        shapes[p + "mlp.up_proj.weight"] = (I, C)
        shapes[p + "mlp.down_proj.weight"] = (C, I)
        shapes[p + "input_layernorm.weight"] = (C,)
        shapes[p + "post_attention_layernorm.weight"] = (C,)
    shapes["model.norm.weight"] = (C,)
    if not cfg["tie_word_embeddings"]:
        shapes["lm_head.weight"] = (V, C)
    return shapes


def random_params(cfg, gen):
    """float32 weights: matrices N(0, 0.15) (large enough that attention is not uniform), norms 1 + N(0, 0.1),
    biases N(0, 0.1)."""
    out = {}
    for name, shape in param_shapes(cfg).items():
        if name.endswith("norm.weight"):
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif name.endswith(".bias"):
            t = 0.1 * torch.randn(shape, generator=gen)
        else:
            t = 0.15 * torch.randn(shape, generator=gen)
        out[name] = t.to(torch.float32)
    return out


def inv_freq(cfg):
    _, _, D = dims(cfg)
    base = cfg["rope_theta"]
    f = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    rs = cfg.get("rope_scaling")
    if rs:
        assert rs.get("rope_type", rs.get("type")) == "llama3"
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        lo_wl, hi_wl = old / lo, old / hi
        wl = 2 * math.pi / f
        scaled = torch.where(wl > lo_wl, f / factor, f)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wl >= hi_wl) & (wl <= lo_wl)
        f = torch.where(medium, smoothed, scaled)
    return f


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def hidden(cfg, P, ids, cu):
    """Packed forward of the body in float64. Returns the final RMSNorm output (T, C)."""
    H, KV, D = dims(cfg)
    eps = cfg["rms_norm_eps"]
    T = ids.shape[0]
    pos = torch.cat([torch.arange(cu[s + 1] - cu[s]) for s in range(len(cu) - 1)]).to(torch.float64)
    ang = pos[:, None] * inv_freq(cfg)[None, :]  # (T, D/2)
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]  # (T, 1, D)
    x = P["model.embed_tokens.weight"][ids]  # (T, C)

    def lin(name, inp):
        y = inp @ P[name + ".weight"].T
        return y + P[name + ".bias"] if name + ".bias" in P else y

    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rmsnorm(x, P[p + "input_layernorm.weight"], eps)
        q = lin(p + "self_attn.q_proj", h).view(T, H, D)
        k = lin(p + "self_attn.k_proj", h).view(T, KV, D)
        v = lin(p + "self_attn.v_proj", h).view(T, KV, D)
        if cfg["model_type"] == "qwen3":
            q = rmsnorm(q, P[p + "self_attn.q_norm.weight"], eps)
            k = rmsnorm(k, P[p + "self_attn.k_norm.weight"], eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=1)  # query head h reads kv head h // (H/KV)
        v = v.repeat_interleave(H // KV, dim=1)
        outs = []
        for s in range(len(cu) - 1):
            a, b = cu[s], cu[s + 1]
            qs, ks, vs = q[a:b].transpose(0, 1), k[a:b].transpose(0, 1), v[a:b].transpose(0, 1)  # (H, S, D)
            sc = qs @ ks.transpose(1, 2) / math.sqrt(D)  # (H, S, S)
            mask = torch.triu(torch.ones(b - a, b - a, dtype=torch.bool), diagonal=1)
            sc = sc.masked_fill(mask, float("-inf"))
            outs.append((sc.softmax(-1) @ vs).transpose(0, 1).reshape(b - a, H * D))
        x = x + lin(p + "self_attn.o_proj", torch.cat(outs, 0))
        h = rmsnorm(x, P[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(lin(p + "mlp.gate_proj", h)) * lin(p + "mlp.up_proj", h)
        x = x + lin(p + "mlp.down_proj", g)
    return rmsnorm(x, P["model.norm.weight"], eps)


def forward(cfg, P, ids, cu):
    """Packed forward in float64. Returns logits (T, V)."""
    head = P["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else P["lm_head.weight"]
    return hidden(cfg, P, ids, cu) @ head.T


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        b = t.contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_reference(path, tensors, scalars):
    header, blobs, off = {"tensors": {}, "scalars": scalars}, [], 0
    for name, t in tensors.items():
        if t.dtype in (torch.int32, torch.int64):
            b, dt = t.to(torch.int32).numpy().astype("<i4").tobytes(), "I32"
        else:
            b, dt = t.to(torch.float32).contiguous().numpy().astype("<f4").tobytes(), "F32"
        header["tensors"][name] = {"dtype": dt, "shape": list(t.shape), "offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<IIQ", MAGIC, VERSION, len(h)) + h + b"".join(blobs))


def make(name, cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    P32 = random_params(cfg, gen)
    V = cfg["vocab_size"]
    cu = [0]
    for n in SEQ_LENS:
        cu.append(cu[-1] + n)
    T = cu[-1]
    ids = torch.randint(0, V, (T,), generator=gen)
    targets = torch.full((T,), -1, dtype=torch.int64)
    for s in range(len(SEQ_LENS)):
        targets[cu[s]:cu[s + 1] - 1] = ids[cu[s] + 1:cu[s + 1]]
    targets[cu[1] + 2] = -1  # one ignored target inside a sequence too

    P = {k: v.to(torch.float64).requires_grad_(True) for k, v in P32.items()}
    logits = forward(cfg, P, ids, cu)  # (T, V)
    lsm = torch.log_softmax(logits, -1)
    valid = targets >= 0
    logp = torch.where(valid, lsm.gather(1, targets.clamp(min=0)[:, None])[:, 0], torch.zeros((), dtype=torch.float64))
    entropy = -(lsm.exp() * lsm).sum(-1)
    ce_loss = -(logp[valid]).mean()
    dlogp = torch.where(valid, torch.randn(T, generator=gen, dtype=torch.float64), torch.zeros((), dtype=torch.float64))
    dentropy = 0.5 * torch.randn(T, generator=gen, dtype=torch.float64)
    loss = (dlogp * logp).sum() + (dentropy * entropy).sum()
    loss.backward()
    grads = {k: P[k].grad.to(torch.float32) for k in P}
    last = torch.tensor([cu[s + 1] - 1 for s in range(len(SEQ_LENS))])

    # two AdamW steps from the float32 weights with torch's own optimizer
    max_norm = 0.5 * float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads.values())))
    params = {k: torch.nn.Parameter(v.clone()) for k, v in P32.items()}
    decay = [p for k, p in params.items() if p.dim() >= 2]
    no_decay = [p for k, p in params.items() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": ADAM["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=ADAM["lr1"], betas=(ADAM["beta1"], ADAM["beta2"]), eps=ADAM["eps"])
    norms = []
    for step, lr in ((1, ADAM["lr1"]), (2, ADAM["lr2"])):
        for k, p in params.items():
            g = grads[k].clone()
            if step == 2:
                n = g.numel()
                g = (g.flatten() * (0.5 - torch.arange(n, dtype=torch.float32) / n)).view_as(g)
            p.grad = g
        for grp in opt.param_groups:
            grp["lr"] = lr
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)))
        opt.step()

    tensors = {"input_ids": ids.to(torch.int32), "cu_seqlens": torch.tensor(cu, dtype=torch.int32),
               "targets": targets.to(torch.int32), "logp": logp.detach(), "entropy": entropy.detach(),
               "last_logits": logits.detach()[last], "dlogp": dlogp, "dentropy": dentropy}
    for k, g in grads.items():
        tensors["grad." + k] = g
    for k, p in params.items():
        tensors["adamw2." + k] = p.detach()
    scalars = {"ce_loss": float(ce_loss), "grad_norm1": norms[0], "grad_norm2": norms[1], "max_norm": max_norm,
               **ADAM}
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(d, "model.safetensors"), P32)
    write_reference(os.path.join(d, "reference.bin"), tensors, scalars)
    print(f"{name}: {sum(v.numel() for v in P32.values())} params, ce_loss {float(ce_loss):.6f}, "
          f"grad_norm {norms[0]:.6f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    for i, (name, cfg) in enumerate(MODELS.items()):
        make(name, cfg, seed=1234 + i)
