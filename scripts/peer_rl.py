#!/usr/bin/env python3
"""The peer for `aha bench rl`: one GRPO step in PyTorch (Debian python3-torch, CPU), with the same shapes
and the same phases as src/bench/rl.ts times in aha's trainer.

Usage: /usr/bin/python3 scripts/peer_rl.py   with a JSON spec on stdin, JSON result on stdout:
  spec {"model": hfconfig, "prompts": P, "group": G, "prompt_len": Lp, "new_tokens": N, "dtypes": [...],
        "steps": n, "problems": [{"numbers": [...], "target": t}, ...P], "kl_coef": 0.04, "clip": 0.2}
  → {"rows": [{"dtype": ..., "generate": s, "reward": s, "reference": s, "train": s, "step": s}], "torch": ..., "threads": n}
  each figure the best of the steps after the first (a warm-up).

One step (GRPO as DeepSeekMath / TRL, and as aha's preset grpo):
  generate   P·G sequences: prefill the Lp prompt tokens, then N tokens by multinomial sampling at temperature 1
             with a KV cache (the decoding loop of scripts/peer_bench.py's sample suite);
  reward     ids → printable characters (chr(32 + id % 95), as the bench's tokenizer), TinyZero's Countdown
             score (scripts/make_countdown_fixture.py) + the share of '7's;
  reference  log-probs of the response tokens under the frozen reference copy (no grad);
  train      forward with grad, π_old = π_θ detached (one update per rollout), token ratios clipped at 1 ± ε,
             advantages (r − mean_group) / (std_group + 1e-4), k3 KL to the reference · β in the loss, per-response
             token mean then mean over responses; backward, clip_grad_norm_(1.0), AdamW.
bf16 = torch.autocast("cpu", torch.bfloat16), as peer_bench.py.
Threads: OMP_NUM_THREADS. Missing torch → {"error": ...} and exit 0 (the bench reports peer: null).
"""
import copy
import json
import os
import sys
import time

# Debian's OpenBLAS misdetects recent x86 CPUs (reports "Prescott": ~10x slower GEMMs); pin the core type.
os.environ.setdefault("OPENBLAS_CORETYPE", "SKYLAKEX")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_countdown_fixture import tinyzero  # noqa: E402 — the same TinyZero scoring the fixtures use
from peer_bench import llama  # noqa: E402 — the same model code as the train/sample peers


def decode(ids):
    return "".join(chr(32 + (int(t) % 95)) for t in ids)


def reward(text, problem):
    return tinyzero(text, problem["numbers"], problem["target"], "") + text.count("7") / max(len(text), 1)


def grpo_loss(torch, logp, ref_logp, r, P, G, eps, beta):
    """GRPO's loss on response log-probs (B, N): π_old = π_θ detached, clipped ratios, group-normalised
    advantages, k3 KL to the reference · β, per-response token mean then mean over responses."""
    rg = r.view(P, G)
    adv = ((rg - rg.mean(1, keepdim=True)) / (rg.std(1, keepdim=True) + 1e-4)).view(P * G, 1)
    ratio = torch.exp(logp - logp.detach())
    pg = -torch.min(ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv)
    x = ref_logp - logp
    kl = torch.exp(x) - x - 1
    return (pg + beta * kl).mean(1).mean()


def run(torch, spec):
    F = torch.nn.functional
    P, G, Lp, N = int(spec["prompts"]), int(spec["group"]), int(spec["prompt_len"]), int(spec["new_tokens"])
    B, beta, eps = P * G, float(spec.get("kl_coef", 0.04)), float(spec.get("clip", 0.2))
    problems = spec["problems"]
    rows = []
    for dt in spec["dtypes"]:
        torch.manual_seed(0)
        m, info = llama(torch, spec["model"])
        ref = copy.deepcopy(m)
        for p in ref.parameters():
            p.requires_grad_(False)
        opt = torch.optim.AdamW(m.parameters(), lr=1e-6, weight_decay=0.0)
        cdt = torch.bfloat16 if dt == "bf16" else torch.float32

        def amp():
            return torch.autocast("cpu", dtype=torch.bfloat16) if dt == "bf16" else torch.autocast("cpu", enabled=False)

        def response_logp(model, seqs):
            logits = model(seqs[:, :-1])[:, Lp - 1:].float()
            return torch.log_softmax(logits, -1).gather(-1, seqs[:, Lp:, None]).squeeze(-1)  # (B, N)

        def step():
            t = {}
            t0 = time.perf_counter()
            prompts = torch.randint(0, info["V"], (P, Lp)).repeat_interleave(G, 0)
            with torch.no_grad(), amp():
                caches = [(torch.zeros(B, info["Hkv"], Lp + N, info["D"], dtype=cdt),
                           torch.zeros(B, info["Hkv"], Lp + N, info["D"], dtype=cdt)) for _ in range(info["L"])]
                logits = m(prompts, caches, 0)[:, -1]
                out = []
                for i in range(N):
                    nxt = torch.multinomial(torch.softmax(logits.float(), -1), 1)
                    out.append(nxt)
                    if i + 1 < N:
                        logits = m(nxt, caches, Lp + i)[:, -1]
            seqs = torch.cat([prompts] + out, 1)
            t["generate"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            r = torch.tensor([reward(decode(seqs[b, Lp:].tolist()), problems[b // G]) for b in range(B)])
            t["reward"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            with torch.no_grad(), amp():
                ref_logp = response_logp(ref, seqs)
            t["reference"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            with amp():
                logp = response_logp(m, seqs)
            grpo_loss(torch, logp, ref_logp, r, P, G, eps, beta).backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            t["train"] = time.perf_counter() - t0
            t["step"] = sum(t.values())
            return t

        times = [step() for _ in range(int(spec.get("steps", 3)))][1:] or [step()]
        row = {"dtype": dt}
        for k in ["generate", "reward", "reference", "train", "step"]:
            row[k] = min(x[k] for x in times)
        rows.append(row)
        del m, ref, opt
    return {"rows": rows}


def main(run=run):
    """Reads the spec, runs `run(torch, spec)` (this file's step, or another peer's: peer_lora_step.py), prints JSON."""
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "no peer"
        print(json.dumps({"error": f"PyTorch not importable ({e}); install python3-torch"}))
        return
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    spec = json.loads(sys.stdin.read() or "{}")
    res = run(torch, spec)
    res["torch"] = torch.__version__
    res["threads"] = threads
    print(json.dumps(res))


if __name__ == "__main__":
    main()
