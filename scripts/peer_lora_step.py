#!/usr/bin/env python3
"""The peer for `aha bench lora`: one GRPO step of a real-size model with LoRA on a bf16 base, in PyTorch
(Debian python3-torch, CPU), with the same shapes and phases as src/bench/lora.ts times in aha's trainer.

Usage: /usr/bin/python3 scripts/peer_lora_step.py   with a JSON spec on stdin, JSON result on stdout:
  spec {"model": hfconfig, "prompts": P, "group": G, "prompt_len": Lp, "new_tokens": N, "rank": r, "alpha": a,
        "steps": n, "problems": [{"numbers": [...], "target": t}, ...P], "kl_coef": 0.04, "clip": 0.2, "lr": 1e-6}
  → {"generate": s, "reward": s, "reference": s, "train": s, "step": s, "peak_rss_mb": MB, "torch": ..., "threads": n}
  each phase the best of the steps after the first (a warm-up); peak_rss_mb is the process's peak.

The model is PEFT's usual setup: the base in bf16 (weights, norms and activations, as `torch_dtype=bfloat16`),
frozen; LoRA adapters A (r, in), B (out, r) in fp32 on every linear of every layer (q, k, v, o, gate, up,
down), scale alpha / r, A ~ U(-1/sqrt(in), 1/sqrt(in)), B = 0; AdamW over the adapters only. One step:
  generate   P·G sequences: prefill the Lp prompt tokens, then exactly N tokens by multinomial sampling at
             temperature 1 with a bf16 KV cache (scripts/peer_rl.py's loop);
  reward     ids → printable characters, TinyZero's Countdown score + the share of '7's (scripts/peer_rl.py);
  reference  log-probs of the response tokens with the adapters off (the base: PEFT's disable_adapter), no grad;
  train      forward with grad (π_old = π_θ detached: one update per rollout), clipped token ratios, advantages
             (r − mean_group) / (std_group + 1e-4), k3 KL · β, per-response token mean then mean; backward,
             clip_grad_norm_(1.0), AdamW.
The vocabulary head runs only on the response positions, in chunks of one sequence, recomputed in backward, with
an fp32 log-softmax; the layers are checkpointed in the update (aha's bench runs with grad-checkpointing too).
Threads: OMP_NUM_THREADS. Missing torch → {"error": ...} and exit 0 (the bench reports peer: null).
"""
import math
import os
import sys
import time

os.environ.setdefault("OPENBLAS_CORETYPE", "SKYLAKEX")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_bench import llama, peak_rss_mb  # noqa: E402 — the same model code as the other peers
from peer_rl import decode, grpo_loss, reward, main as peer_main  # noqa: E402 — the same tokenizer map, reward and JSON wrapper


def add_lora(torch, m, rank, alpha):
    """Wraps every linear of every layer: y = base(x) + scale · (x A^T) B^T, adapters fp32, base frozen bf16."""
    nn = torch.nn
    F = torch.nn.functional
    scale = alpha / rank
    state = {"on": True}

    class LoraLinear(nn.Module):
        def __init__(self, base):
            super().__init__()
            self.base = base
            bound = 1.0 / math.sqrt(base.in_features)
            self.A = nn.Parameter(torch.empty(rank, base.in_features).uniform_(-bound, bound))
            self.B = nn.Parameter(torch.zeros(base.out_features, rank))

        def forward(self, x):
            y = self.base(x)
            if not state["on"]:
                return y
            return y + (F.linear(F.linear(x.float(), self.A), self.B) * scale).to(y.dtype)

    for p in m.parameters():
        p.requires_grad_(False)
    inv = m.inv.clone()  # rotary frequencies stay fp32
    m.to(torch.bfloat16)
    m.inv = inv
    for layer in m.layers:
        for name in ["q", "k", "v", "o", "gate", "up", "down"]:
            setattr(layer, name, LoraLinear(getattr(layer, name)))
    return [p for n, p in m.named_parameters() if n.endswith(".A") or n.endswith(".B")], state


def run(torch, spec):
    P, G, Lp, N = int(spec["prompts"]), int(spec["group"]), int(spec["prompt_len"]), int(spec["new_tokens"])
    B, beta, eps = P * G, float(spec.get("kl_coef", 0.04)), float(spec.get("clip", 0.2))
    problems = spec["problems"]
    HEAD_CHUNK = 1  # sequences per head chunk: N·V fp32 logits (78 MB at N = 128, V = 151,936)
    from torch.utils.checkpoint import checkpoint
    torch.manual_seed(0)
    m, info = llama(torch, spec["model"])
    params, lora = add_lora(torch, m, int(spec["rank"]), float(spec["alpha"]))
    opt = torch.optim.AdamW(params, lr=float(spec.get("lr", 1e-6)), weight_decay=0.0)

    def hidden(ids, caches=None, pos=0, ckpt=False):  # the body and the final norm (the model's forward without the head)
        x = m.embed(ids)
        cos, sin = m.rot(pos, ids.shape[1])
        for i, layer in enumerate(m.layers):
            if ckpt:  # gradient checkpointing, as HF's gradient_checkpointing_enable() (non-reentrant: the base is frozen)
                x = checkpoint(layer, x, cos, sin, use_reentrant=False)
            else:
                x = layer(x, cos, sin, None if caches is None else caches[i], pos)
        return m.norm(x)

    def last_logits(ids, caches, pos):  # (B, V): the head on the last position only
        return m.head(hidden(ids, caches, pos)[:, -1])

    def head_logp(h, targets):  # (b, N, C), (b, N) → (b, N): the head and an fp32 log-softmax
        logits = m.head(h).float()  # (b, N, V)
        return logits.gather(-1, targets[..., None]).squeeze(-1) - logits.logsumexp(-1)

    def response_logp(seqs):
        grad = torch.is_grad_enabled()
        h = hidden(seqs[:, :-1], ckpt=grad)[:, Lp - 1:]  # (B, N, C): the positions that predict response tokens
        # the head in chunks of sequences, recomputed in backward (as aha's chunked head): the logits of all
        # B·N rows × V never live at once
        parts = []
        for b0 in range(0, B, HEAD_CHUNK):
            hb, tb = h[b0:b0 + HEAD_CHUNK], seqs[b0:b0 + HEAD_CHUNK, Lp:]
            parts.append(checkpoint(head_logp, hb, tb, use_reentrant=False) if grad else head_logp(hb, tb))
        return torch.cat(parts, 0)

    def step():
        t = {}
        t0 = time.perf_counter()
        prompts = torch.randint(0, info["V"], (P, Lp)).repeat_interleave(G, 0)
        with torch.no_grad():
            caches = [(torch.zeros(B, info["Hkv"], Lp + N, info["D"], dtype=torch.bfloat16),
                       torch.zeros(B, info["Hkv"], Lp + N, info["D"], dtype=torch.bfloat16)) for _ in range(info["L"])]
            logits = last_logits(prompts, caches, 0)
            out = []
            for i in range(N):
                nxt = torch.multinomial(torch.softmax(logits.float(), -1), 1)
                out.append(nxt)
                if i + 1 < N:
                    logits = last_logits(nxt, caches, Lp + i)
        seqs = torch.cat([prompts] + out, 1)
        del caches
        t["generate"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        r = torch.tensor([reward(decode(seqs[b, Lp:].tolist()), problems[b // G]) for b in range(B)])
        t["reward"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        with torch.no_grad():
            lora["on"] = False
            ref_logp = response_logp(seqs)
            lora["on"] = True
        t["reference"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        grpo_loss(torch, response_logp(seqs), ref_logp, r, P, G, eps, beta).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        t["train"] = time.perf_counter() - t0
        t["step"] = sum(t.values())
        return t

    steps = max(int(spec.get("steps", 2)), 1)
    times = [step() for _ in range(steps)]
    timed = times[1:] or times
    res = {k: min(x[k] for x in timed) for k in ["generate", "reward", "reference", "train", "step"]}
    res["peak_rss_mb"] = peak_rss_mb()
    return res


if __name__ == "__main__":
    peer_main(run)
