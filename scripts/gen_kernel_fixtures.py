#!/usr/bin/env python3
"""Writes fixtures/kernels/kernels.json: small PyTorch (float64) reference values for the kernel tests.

Run with Debian's PyTorch:  /usr/bin/python3 scripts/gen_kernel_fixtures.py
Inputs are generated here (seeded) and stored in the fixture, so the tests do not need PyTorch.
"""
import json
import math
import os

import torch

MAGIC = "aha-kernel-fixtures"
VERSION = 1
torch.manual_seed(1234)
D64 = torch.float64


def r(*shape, scale=1.0):
    return ((torch.rand(*shape, dtype=D64) * 2 - 1) * scale)


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


out = {"magic": MAGIC, "version": VERSION}

# ---- attention: packed sequences, causal inside each, GQA (Hq=4, Hkv=2), D=8
lens = [3, 1, 5]
T, Hq, Hkv, D = sum(lens), 4, 2, 8
scale = 1 / math.sqrt(D)
q = r(T, Hq, D).requires_grad_()
k = r(T, Hkv, D).requires_grad_()
v = r(T, Hkv, D).requires_grad_()
dout = r(T, Hq, D)
outs, lses = [], []
start = 0
for L in lens:
    qs = q[start:start + L].transpose(0, 1)  # (Hq, L, D)
    ks = k[start:start + L].transpose(0, 1).repeat_interleave(Hq // Hkv, dim=0)
    vs = v[start:start + L].transpose(0, 1).repeat_interleave(Hq // Hkv, dim=0)
    s = qs @ ks.transpose(1, 2) * scale
    mask = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1)
    s = s.masked_fill(mask, float("-inf"))
    lses.append(torch.logsumexp(s, dim=-1))  # (Hq, L)
    outs.append((torch.softmax(s, dim=-1) @ vs).transpose(0, 1))  # (L, Hq, D)
    start += L
o = torch.cat(outs, 0)
lse = torch.cat(lses, 1)  # (Hq, T)
(o * dout).sum().backward()
out["attention"] = {
    "lens": lens, "T": T, "Hq": Hq, "Hkv": Hkv, "D": D, "scale": scale,
    "q": flat(q), "k": flat(k), "v": flat(v), "dout": flat(dout),
    "out": flat(o), "lse": flat(lse), "dq": flat(q.grad), "dk": flat(k.grad), "dv": flat(v.grad),
}

# ---- log-softmax / entropy over the vocabulary
T, V = 4, 11
logits = r(T, V, scale=3.0).requires_grad_()
targets = [3, 0, -1, 10]
dlogp = r(T)
dent = r(T)
logsm = torch.log_softmax(logits, dim=-1)
p = logsm.exp()
ent = -(p * logsm).sum(-1)
tg = torch.tensor([max(t, 0) for t in targets])
logp = logsm.gather(1, tg[:, None])[:, 0] * torch.tensor([1.0 if t >= 0 else 0.0 for t in targets], dtype=D64)
((logp * dlogp).sum() + (ent * dent).sum()).backward()
out["logprobs"] = {
    "T": T, "V": V, "logits": flat(logits), "targets": targets, "dlogp": flat(dlogp), "dentropy": flat(dent),
    "logp": flat(logp), "entropy": flat(ent), "lse": flat(torch.logsumexp(logits, -1)), "dlogits": flat(logits.grad),
}

# ---- RMSNorm (Llama: x * rsqrt(mean(x^2) + eps) * w)
rows, C, eps = 3, 10, 1e-5
x = r(rows, C).requires_grad_()
w = r(C).requires_grad_()
dy = r(rows, C)
y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w
(y * dy).sum().backward()
out["rmsnorm"] = {"rows": rows, "C": C, "eps": eps, "x": flat(x), "w": flat(w), "dout": flat(dy),
                  "out": flat(y), "dx": flat(x.grad), "dw": flat(w.grad)}

# ---- SwiGLU
n = 9
g = r(n, scale=4.0).requires_grad_()
u = r(n, scale=2.0).requires_grad_()
dy = r(n)
y = torch.nn.functional.silu(g) * u
(y * dy).sum().backward()
out["swiglu"] = {"gate": flat(g), "up": flat(u), "dout": flat(dy), "out": flat(y), "dgate": flat(g.grad), "dup": flat(u.grad)}

# ---- RoPE, HF rotate_half layout, positions 0..T-1, theta 10000
T, H, D, theta = 3, 2, 8, 10000.0
x = r(T, H, D)
inv = 1.0 / theta ** (torch.arange(0, D, 2, dtype=D64) / D)
ang = torch.arange(T, dtype=D64)[:, None] * inv[None, :]  # (T, D/2)
cos, sin = ang.cos(), ang.sin()
cos_full = torch.cat([cos, cos], -1)[:, None, :]
sin_full = torch.cat([sin, sin], -1)[:, None, :]


def rotate_half(t):
    return torch.cat([-t[..., D // 2:], t[..., :D // 2]], -1)


y = x * cos_full + rotate_half(x) * sin_full
out["rope"] = {"T": T, "H": H, "D": D, "x": flat(x), "cos": flat(cos), "sin": flat(sin), "out": flat(y)}

# ---- AdamW: three steps of torch.optim.AdamW
n = 7
p0 = r(n)
grads = [r(n) for _ in range(3)]
prm = torch.nn.Parameter(p0.clone())
lr, b1, b2, eps, wd = 1e-2, 0.9, 0.95, 1e-8, 0.1
opt = torch.optim.AdamW([prm], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
for gr in grads:
    prm.grad = gr.clone()
    opt.step()
st = opt.state[prm]
out["adamw"] = {"lr": lr, "beta1": b1, "beta2": b2, "eps": eps, "weightDecay": wd, "p0": flat(p0),
                "grads": [flat(gr) for gr in grads], "p": flat(prm), "m": flat(st["exp_avg"]), "v": flat(st["exp_avg_sq"])}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "kernels", "kernels.json")
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(out, f)
os.replace(tmp, path)
print("wrote", path)
