#!/usr/bin/env python3
"""The peer for `aha bench`: the same work in PyTorch (Debian python3-torch, CPU), timed the same way.

Usage: /usr/bin/python3 scripts/peer_bench.py <suite>   with a JSON spec on stdin, JSON result on stdout.
Threads: OMP_NUM_THREADS (the bench passes its own thread count). If torch is missing, prints
{"error": "..."} and exits 0, so the bench can report peer: null with a note.

Suites (add one function per suite and one line in SUITES):
  train: spec {"model": hfconfig, "batch": B, "seq": T, "dtypes": [...], "steps": n, "budget_s": s}
        → {"rows": [{"dtype": ..., "tokens_per_s": best, "median_tokens_per_s": ..., "peak_rss_mb": ...,
                     "steps_timed": k}]}
        one step = forward + cross-entropy + backward + clip_grad_norm_ + AdamW, on B random sequences of
        T tokens; bf16 = torch.autocast("cpu", torch.bfloat16) (PyTorch's mixed precision on CPU).
  sample: spec {"model": hfconfig, "prompts": P, "prompt_len": L, "new_tokens": N, "dtypes": [...],
        "repeats": r, "budget_s": s}
        → {"rows": [{"dtype": ..., "tokens_per_s": ..., "new_tokens_timed": n}]}: a KV-cache decoding
        loop, batch P, temperature 1 (bf16 = autocast, as in training).
  budget_s (optional, per dtype): the time the timed part may take. Training stops starting new steps
        once it is spent (at least one is timed); sampling warms up on 4 new tokens instead of N, stops
        repeating once it is spent, and a single run that outlasts it stops decoding there: tokens/s is
        then over the new_tokens_timed tokens decoded (Qwen2.5-0.5B-sized decoding is weight-bound, so
        the rate over fewer tokens differs little). Without it, every step / repeat runs in full.
  gemm: spec {"cases": [[M, K, N], ...], "dtypes": ["fp32", "bf16"], "seconds": s}
        → {"rows": [{"case": "MxKxN", "dtype": ..., "gflops": ...}], "torch": version, "threads": n}
        a (M, K) times b stored (N, K) used transposed (the nn.Linear layout), fp32 or bf16 tensors.
"""
import json
import math
import os
import sys
import time

# Debian's torch does its fp32 matrix products through the system BLAS (libblas.so.3). The reference
# BLAS (Debian's default) is ~50x slower than OpenBLAS: install libopenblas0-pthread for a fair peer.
# Debian's OpenBLAS misdetects this machine's CPU ("Prescott") and runs ~10x slow; SkylakeX kernels
# are right for it (AVX-512). Both found on the development machine, 2026-11-24.
os.environ.setdefault("OPENBLAS_CORETYPE", "SKYLAKEX")


def best_time(fn, seconds):
    fn()  # warm-up
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    iters = max(1, int(seconds / 3 / one))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        best = min(best, (time.perf_counter() - t0) / iters)
    return best


def budget_s(spec):
    """the spec's time budget in seconds; inf when absent or null"""
    b = spec.get("budget_s")
    return float("inf") if b is None else float(b)


def gemm(torch, spec):
    rows = []
    secs = float(spec.get("seconds", 1.0))
    for (m, k, n) in spec["cases"]:
        for dt in spec["dtypes"]:
            dtype = torch.float32 if dt == "fp32" else torch.bfloat16
            a = torch.rand(m, k).to(dtype)
            b = torch.rand(n, k).to(dtype)
            out = torch.empty(m, n, dtype=dtype)
            bt = b.t()
            t = best_time(lambda: torch.matmul(a, bt, out=out), secs)
            rows.append({"case": f"{m}x{k}x{n}", "dtype": dt, "gflops": 2.0 * m * n * k / t / 1e9})
    return {"rows": rows}


def llama(torch, cfg):
    """A plain Llama/Qwen2 decoder (the same architecture as src/model/), random init."""
    nn = torch.nn
    F = torch.nn.functional
    C, I, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    Hq = cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads", Hq)
    D = cfg.get("head_dim") or C // Hq
    V = cfg["vocab_size"]
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    bias = cfg.get("architectures", [""])[0] == "Qwen2ForCausalLM"

    class RMSNorm(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(n))

        def forward(self, x):
            xf = x.float()
            return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * self.weight

    def rope(x, cos, sin):  # x (B, H, T, D)
        x1, x2 = x[..., : D // 2], x[..., D // 2:]
        return x * cos.to(x.dtype) + torch.cat([-x2, x1], -1) * sin.to(x.dtype)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = RMSNorm(C), RMSNorm(C)
            self.q = nn.Linear(C, Hq * D, bias=bias)
            self.k = nn.Linear(C, Hkv * D, bias=bias)
            self.v = nn.Linear(C, Hkv * D, bias=bias)
            self.o = nn.Linear(Hq * D, C, bias=False)
            self.gate = nn.Linear(C, I, bias=False)
            self.up = nn.Linear(C, I, bias=False)
            self.down = nn.Linear(I, C, bias=False)

        def forward(self, x, cos, sin, cache=None, pos=0):
            B, T, _ = x.shape
            h = self.ln1(x)
            q = self.q(h).view(B, T, Hq, D).transpose(1, 2)
            k = self.k(h).view(B, T, Hkv, D).transpose(1, 2)
            v = self.v(h).view(B, T, Hkv, D).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            if cache is not None:
                cache[0][:, :, pos:pos + T] = k
                cache[1][:, :, pos:pos + T] = v
                k, v = cache[0][:, :, :pos + T], cache[1][:, :, :pos + T]
            k = k.repeat_interleave(Hq // Hkv, dim=1)
            v = v.repeat_interleave(Hq // Hkv, dim=1)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
            if T > 1:
                S = k.shape[2]
                mask = torch.ones(T, S, dtype=torch.bool).triu(S - T + 1)
                s = s.masked_fill(mask, float("-inf"))
            a = (torch.softmax(s.float(), -1).to(v.dtype) @ v).transpose(1, 2).reshape(B, T, Hq * D)
            x = x + self.o(a)
            h = self.ln2(x)
            return x + self.down(F.silu(self.gate(h)) * self.up(h))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, C)
            self.layers = nn.ModuleList([Layer() for _ in range(L)])
            self.norm = RMSNorm(C)
            self.head = nn.Linear(C, V, bias=False)
            if cfg.get("tie_word_embeddings", False):
                self.head.weight = self.embed.weight
            inv = 1.0 / theta ** (torch.arange(0, D, 2).float() / D)
            self.register_buffer("inv", inv, persistent=False)

        def rot(self, pos, T):
            ang = torch.arange(pos, pos + T).float()[:, None] * self.inv[None, :]
            cos, sin = ang.cos(), ang.sin()
            return torch.cat([cos, cos], -1), torch.cat([sin, sin], -1)

        def forward(self, ids, caches=None, pos=0):
            x = self.embed(ids)
            cos, sin = self.rot(pos, ids.shape[1])
            for i, layer in enumerate(self.layers):
                x = layer(x, cos, sin, None if caches is None else caches[i], pos)
            return self.head(self.norm(x))

    m = Model()
    for p in m.parameters():
        if p.dim() >= 2:
            torch.nn.init.normal_(p, std=0.02)
    return m, {"Hkv": Hkv, "D": D, "L": L, "V": V}


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def train(torch, spec):
    B, T, steps = int(spec["batch"]), int(spec["seq"]), int(spec.get("steps", 3))
    budget = budget_s(spec)
    rows = []
    for dt in spec["dtypes"]:
        torch.manual_seed(0)
        m, info = llama(torch, spec["model"])
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=0.0)
        ids = torch.randint(0, info["V"], (B, T + 1))
        x, y = ids[:, :-1], ids[:, 1:]

        def step():
            opt.zero_grad(set_to_none=True)
            if dt == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    logits = m(x)
            else:
                logits = m(x)
            loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, info["V"]), y.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()

        with torch.enable_grad():
            step()  # warm-up
            times = []
            for _ in range(steps):
                if times and sum(times) >= budget:
                    break
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
        times.sort()
        rows.append({"dtype": dt, "tokens_per_s": B * T / times[0], "median_tokens_per_s": B * T / times[len(times) // 2],
                     "peak_rss_mb": peak_rss_mb(), "steps_timed": len(times)})
        del m, opt
    return {"rows": rows}


def sample(torch, spec):
    P, Lp, N = int(spec["prompts"]), int(spec["prompt_len"]), int(spec["new_tokens"])
    budget = budget_s(spec)
    rows = []
    for dt in spec["dtypes"]:
        torch.manual_seed(0)
        m, info = llama(torch, spec["model"])
        m.eval()
        # bf16 = autocast (as in training): fp32 weights, bf16 matmuls; the cache holds what k/v come out as
        dtype = torch.bfloat16 if dt == "bf16" else torch.float32
        prompts = torch.randint(0, info["V"], (P, Lp))

        def run(n, deadline):
            """decodes up to n new tokens (stopping at the deadline); returns how many"""
            caches = [(torch.zeros(P, info["Hkv"], Lp + N, info["D"], dtype=dtype),
                       torch.zeros(P, info["Hkv"], Lp + N, info["D"], dtype=dtype)) for _ in range(info["L"])]
            logits = m(prompts, caches, 0)[:, -1]
            pos = Lp
            for i in range(n):
                if i > 0 and time.perf_counter() >= deadline:
                    return i
                probs = torch.softmax(logits.float(), -1)
                nxt = torch.multinomial(probs, 1)
                logits = m(nxt, caches, pos)[:, -1]
                pos += 1
            return n

        def timed(n, deadline):
            """(seconds, new tokens decoded)"""
            t0 = time.perf_counter()
            if dt == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    done = run(n, deadline)
            else:
                done = run(n, deadline)
            return time.perf_counter() - t0, done

        timed(N if budget == float("inf") else min(N, 4), float("inf"))  # warm-up
        start = time.perf_counter()
        deadline = start + budget
        best = None  # (tokens/s, new tokens)
        for r in range(int(spec.get("repeats", 2))):
            if r > 0 and time.perf_counter() >= deadline:
                break
            secs, done = timed(N, deadline)
            rate = P * done / secs if done > 0 else 0.0
            if best is None or rate > best[0]:
                best = (rate, done)
        rows.append({"dtype": dt, "tokens_per_s": best[0], "peak_rss_mb": peak_rss_mb(), "new_tokens_timed": best[1]})
    return {"rows": rows}


SUITES = {"gemm": gemm, "train": train, "sample": sample}


def main():
    suite = sys.argv[1] if len(sys.argv) > 1 else ""
    if suite not in SUITES:
        print(json.dumps({"error": f"unknown suite '{suite}' (have: {', '.join(SUITES)})"}))
        return
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "no peer"
        print(json.dumps({"error": f"PyTorch not importable ({e}); install python3-torch"}))
        return
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    spec = json.loads(sys.stdin.read() or "{}")
    if suite == "train":
        res = SUITES[suite](torch, spec)
    else:
        with torch.no_grad():
            res = SUITES[suite](torch, spec)
    res["torch"] = torch.__version__
    res["threads"] = threads
    print(json.dumps(res))


if __name__ == "__main__":
    main()
