#!/usr/bin/python3
"""Golden fixture for whole RL steps of the trainer (src/rl/trainer.ts), computed by PyTorch.

Run with Debian's torch:   /usr/bin/python3 scripts/make_grpo_step_fixture.py
Writes fixtures/rl/grpo-step/:
  config.json             a tiny Qwen2-shaped model (GQA, q/k/v bias, tied embeddings)
  model.safetensors       its random F32 weights (the starting point of every preset)
  scenario.json           the fixed prompts, responses and task rewards, and per preset: the settings,
                          the CLI flags that give them, the prompt order the task stream serves, and
                          the expected metrics of each step
  <preset>.safetensors    the expected weights after step 1 ("step1.<name>") and step 2 ("step2.<name>")

What is computed here, in float64 from the float32 starting weights, written from REFERENCE.md and
independently of the TypeScript code (the model's forward pass is scripts/make_fixtures.py's):
  rollout (fixed token ids per prompt, G per prompt; a response that ends without EOS is truncated)
  → rewards (task reward, + DAPO's overlong penalty when the preset uses it)
  → dynamic sampling (DAPO: groups whose rewards are all equal are dropped and more prompts drawn)
  → advantages per group (mean baseline; / (sample std + eps) unless Dr. GRPO)
  → π_old and π_ref log-probs (π_ref = the starting weights, when β > 0)
  → epochs × mini-batches: per-token log-probs, clipped surrogate min(r·Â, clip(r, 1−ε_low, 1+ε_high)·Â),
    k3 KL·β, aggregation (seq-mean-token-mean, seq-mean-token-sum-norm with L_max, token-mean),
    autograd gradients, clip_grad_norm_, torch.optim.AdamW (weight decay on ≥ 2-dim tensors only),
    learning rate from the schedule (linear warmup, then constant or cosine to 0 at the last step).
Two steps run on the same fixed samples, so step 2 has π_θ ≠ π_ref (KL > 0); mini-batches 2 or
epochs 2 make the later updates' ratios ≠ 1, and the learning rate is large enough that the clip is
active on some tokens (asserted below, as are the KL, the grad-norm clipping and the dropped group).
AdamW's ε is 1e-3, not torch's 1e-8: an early Adam step moves a weight by lr·g/(|g| + ε), whose
sensitivity to the gradient, lr·ε/(|g| + ε)², reaches lr/ε for a tiny g, so with ε = 1e-8 the fp32
rounding of a near-zero gradient element (~1e-9) could move that weight by ~1e-3·lr against this
float64 reference; with ε = 1e-3 the amplification is at most lr/ε = 30 and the comparison is well
conditioned (and the placement of ε relative to the bias corrections still matters).

The trainer's metrics are, per step: loss/policy, loss/kl, loss/total and grad_norm (means over the
step's optimizer updates; grad_norm before clipping), clip/low_frac and clip/high_frac (tokens with
Â < 0 and r < 1 − ε_low, Â > 0 and r > 1 + ε_high, over all tokens of all updates), entropy (mean over
the same tokens), kl (mean k3 of π_old against π_ref over the batch's tokens, before the step's
updates), reward/mean and reward/std (population, over every response generated in the step),
groups/trained, lr.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import forward, random_params, write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "rl", "grpo-step")

CFG = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
    "vocab_size": 32, "hidden_size": 16, "intermediate_size": 48, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True, "max_position_embeddings": 64, "torch_dtype": "float32",
}
EOS = 1  # the tokenizer's stop token; prompts and response bodies use ids 2..V-1
G = 4
MAX_NEW = 12  # L_max

# Per prompt: prompt length, then per response (length including EOS, truncated?, task reward).
# A truncated response has exactly MAX_NEW tokens and no EOS. Prompt 1's rewards are all equal (with no
# response inside DAPO's overlong buffer, so they stay equal after shaping): DAPO drops it.
PROMPTS = [
    (4, [(5, False, 1.0), (MAX_NEW, True, 0.0), (3, False, 0.0), (9, False, 1.0)]),
    (6, [(4, False, 1.0), (6, False, 1.0), (2, False, 1.0), (7, False, 1.0)]),
    (3, [(11, False, 0.5), (4, False, 0.0), (8, False, 1.0), (6, False, 0.0)]),
    (5, [(10, False, 0.0), (MAX_NEW, True, 1.0), (7, False, 0.0), (3, False, 0.25)]),
]

# Settings of each preset as REFERENCE.md defines them (not read from src/rl/presets.ts), plus the
# run settings of this fixture. `flags` are the CLI flags the TypeScript test passes: the preset by
# name and the run settings only, so the preset's own values are under test too.
PRESETS = {
    "grpo": {
        "preset": {"scale_std": True, "adv_eps": 1e-4, "clip_low": 0.2, "clip_high": 0.2, "beta": 0.04,
                   "agg": "seq-mean-token-mean", "overlong": False, "dynamic": False},
        "run": {"prompts_per_step": 4, "epochs": 1, "mini_batches": 2, "lr": 0.02, "schedule": "constant",
                "warmup": 2, "total_steps": 2, "grad_clip": 1.0, "weight_decay": 0.1,
                "beta1": 0.9, "beta2": 0.95, "adam_eps": 1e-3, "micro_batch_tokens": 8192},
        "stream": [0, 1, 2, 3, 0, 1, 2, 3],
    },
    "dr-grpo": {
        "preset": {"scale_std": False, "adv_eps": 1e-4, "clip_low": 0.2, "clip_high": 0.2, "beta": 0.0,
                   "agg": "seq-mean-token-sum-norm", "overlong": False, "dynamic": False},
        "run": {"prompts_per_step": 2, "epochs": 2, "mini_batches": 1, "lr": 0.02, "schedule": "cosine",
                "warmup": 1, "total_steps": 4, "grad_clip": None, "weight_decay": 0.0,
                "beta1": 0.9, "beta2": 0.999, "adam_eps": 1e-3, "micro_batch_tokens": 40},
        "stream": [0, 3, 0, 3],
    },
    "dapo": {
        "preset": {"scale_std": True, "adv_eps": 1e-4, "clip_low": 0.2, "clip_high": 0.28, "beta": 0.0,
                   "agg": "token-mean", "overlong": True, "overlong_buffer": 4, "overlong_factor": 1.0,
                   "dynamic": True, "dynamic_rounds": 2},
        "run": {"prompts_per_step": 2, "epochs": 1, "mini_batches": 2, "lr": 0.03, "schedule": "constant",
                "warmup": 0, "total_steps": 2, "grad_clip": 0.5, "weight_decay": 0.0,
                "beta1": 0.9, "beta2": 0.999, "adam_eps": 1e-3, "micro_batch_tokens": 8192},
        # step 1: prompts 0, 1 → 1 is dropped (all rewards equal) → one more: 3; step 2: 0, 3 again
        "stream": [0, 1, 3, 0, 3],
    },
}
STEPS = 2  # steps run (dr-grpo's schedule has 4 steps; the test stops it after 2)


def flags(name, run):
    f = ["--algorithm", name, "--group-size", str(G), "--max-new-tokens", str(MAX_NEW),
         "--prompts-per-step", str(run["prompts_per_step"]), "--epochs", str(run["epochs"]),
         "--mini-batches", str(run["mini_batches"]), "--micro-batch-tokens", str(run["micro_batch_tokens"]),
         "--lr", str(run["lr"]), "--lr-schedule", run["schedule"], "--warmup-steps", str(run["warmup"]),
         "--steps", str(run["total_steps"]),
         "--grad-clip", "none" if run["grad_clip"] is None else str(run["grad_clip"]),
         "--weight-decay", str(run["weight_decay"]), "--adam-beta1", str(run["beta1"]),
         "--adam-beta2", str(run["beta2"]), "--adam-eps", str(run["adam_eps"])]
    if name == "dapo":
        f += ["--overlong-buffer", "4"]
    return f


def lr_at(step, run):
    """Linear warmup lr·step/warmup over the first `warmup` steps, then constant, or cosine from lr to 0
    at total_steps."""
    lr, w, total = run["lr"], run["warmup"], run["total_steps"]
    if w > 0 and step <= w:
        return lr * step / w
    if run["schedule"] == "constant":
        return lr
    progress = min(1.0, max(0.0, (step - w) / max(1, total - w)))
    return lr * 0.5 * (1 + math.cos(math.pi * progress))


def overlong_penalty(n, pre):
    """DAPO: 0 up to L_max − L_cache, then ((L_max − L_cache) − n)/L_cache, −1 beyond L_max."""
    free = MAX_NEW - pre["overlong_buffer"]
    if n <= free:
        return 0.0
    if n <= MAX_NEW:
        return pre["overlong_factor"] * (free - n) / pre["overlong_buffer"]
    return -pre["overlong_factor"]


def logprobs(P, seqs):
    """Per-token log π(o_t | q, o_<t) and entropy at the response positions of each (prompt, response),
    in order, concatenated; one packed forward pass."""
    ids, cu = [], [0]
    for prompt, resp in seqs:
        ids += prompt + resp
        cu.append(len(ids))
    logits = forward(CFG, P, torch.tensor(ids), cu)
    lsm = torch.log_softmax(logits, -1)
    lp, ent = [], []
    for s, (prompt, resp) in enumerate(seqs):
        pos = torch.arange(len(resp)) + cu[s] + len(prompt) - 1  # position predicting response token j
        lp.append(lsm[pos, torch.tensor(resp)])
        ent.append(-(lsm[pos].exp() * lsm[pos]).sum(-1))
    return torch.cat(lp), torch.cat(ent)


def run_preset(name, spec, P32, prompt_ids, responses):
    pre, run, stream = spec["preset"], spec["run"], spec["stream"]
    Pn = run["prompts_per_step"]
    params = {k: torch.nn.Parameter(v.to(torch.float64).clone()) for k, v in P32.items()}
    ref = {k: v.to(torch.float64) for k, v in P32.items()}
    decay = [p for p in params.values() if p.dim() >= 2]
    no_decay = [p for p in params.values() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": run["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=run["lr"], betas=(run["beta1"], run["beta2"]), eps=run["adam_eps"])
    cursor = 0
    steps_out, weights_out = [], {}
    cover = {"clip_low": 0, "clip_high": 0, "unclipped_ratio_ne_1": 0, "grad_clipped": 0, "kl_pos": 0,
             "dropped": 0, "overlong": 0}
    for step in range(1, STEPS + 1):
        # ---- rollout, rewards, dynamic sampling
        kept, seen = [], []
        rnd = 0
        while len(kept) < Pn:
            draw = stream[cursor:cursor + Pn - len(kept)]
            cursor += len(draw)
            assert len(draw) == Pn - len(kept), "stream too short"
            for p in draw:
                grp = []
                for (n, trunc, r), resp in zip(PROMPTS[p][1], responses[p]):
                    pen = overlong_penalty(len(resp), pre) if pre["overlong"] else 0.0
                    if pen != 0:
                        cover["overlong"] += 1
                    grp.append({"prompt": p, "resp": resp, "reward": r + pen})
                seen += grp
                if pre["dynamic"] and len({g["reward"] for g in grp}) == 1:
                    cover["dropped"] += 1
                    continue
                kept.append(grp)
            if not pre["dynamic"] or rnd >= pre["dynamic_rounds"]:
                break
            rnd += 1
        groups = kept[:Pn]

        # ---- advantages, one per response
        for grp in groups:
            R = torch.tensor([g["reward"] for g in grp], dtype=torch.float64)
            A = R - R.mean()
            if pre["scale_std"]:
                A = A / (R.std(unbiased=True) + pre["adv_eps"])
            for g, a in zip(grp, A):
                g["adv"] = float(a)
        batch = [g for grp in groups for g in grp]
        seqs = [(prompt_ids[g["prompt"]], g["resp"]) for g in batch]

        # ---- π_old (the weights before this step's updates) and π_ref
        with torch.no_grad():
            lp_old_all, _ = logprobs(params, seqs)
            lp_ref_all = logprobs(ref, seqs)[0] if pre["beta"] != 0 else None
        off = [0]
        for g in batch:
            off.append(off[-1] + len(g["resp"]))

        lr = lr_at(step, run)
        per_mb = len(groups) // run["mini_batches"]
        acc = {"policy": 0.0, "kl": 0.0, "total": 0.0, "norm": 0.0, "updates": 0, "low": 0, "high": 0,
               "tokens": 0, "entropy": 0.0}
        for _epoch in range(run["epochs"]):
            for mb in range(run["mini_batches"]):
                members = list(range(mb * per_mb * G, (mb + 1) * per_mb * G))
                lp, ent = logprobs(params, [seqs[i] for i in members])
                old = torch.cat([lp_old_all[off[i]:off[i + 1]] for i in members])
                adv = torch.cat([torch.full((len(batch[i]["resp"]),), batch[i]["adv"], dtype=torch.float64)
                                 for i in members])
                lens = [len(batch[i]["resp"]) for i in members]
                T, S = sum(lens), len(members)
                ratio = torch.exp(lp - old)
                surr = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - pre["clip_low"], 1 + pre["clip_high"]) * adv)
                per_tok = -surr
                kl_term = torch.zeros_like(lp)
                if pre["beta"] != 0:
                    ref_lp = torch.cat([lp_ref_all[off[i]:off[i + 1]] for i in members])
                    x = ref_lp - lp
                    assert float(x.abs().max()) < 20, "the ±20 clamp would be active"
                    kl_term = pre["beta"] * (torch.exp(x) - x - 1)
                # aggregation weight per token
                if pre["agg"] == "token-mean":
                    w = torch.full((T,), 1.0 / T, dtype=torch.float64)
                elif pre["agg"] == "seq-mean-token-mean":
                    w = torch.cat([torch.full((n,), 1.0 / (S * n), dtype=torch.float64) for n in lens])
                elif pre["agg"] == "seq-mean-token-sum-norm":
                    w = torch.full((T,), 1.0 / (S * MAX_NEW), dtype=torch.float64)
                else:
                    raise ValueError(pre["agg"])
                policy_loss = (w * per_tok).sum()
                kl_loss = (w * kl_term).sum()
                loss = policy_loss + kl_loss
                opt.zero_grad(set_to_none=False)
                loss.backward()
                norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params.values()))
                if run["grad_clip"] is not None:
                    n2 = float(torch.nn.utils.clip_grad_norm_(list(params.values()), run["grad_clip"]))
                    assert abs(n2 - norm) < 1e-12 * max(1, norm)
                    if norm > run["grad_clip"]:
                        cover["grad_clipped"] += 1
                for grp_ in opt.param_groups:
                    grp_["lr"] = lr
                opt.step()
                r = ratio.detach()
                low = int(((adv < 0) & (r < 1 - pre["clip_low"])).sum())
                high = int(((adv > 0) & (r > 1 + pre["clip_high"])).sum())
                cover["clip_low"] += low
                cover["clip_high"] += high
                cover["unclipped_ratio_ne_1"] += int(((r - 1).abs() > 1e-3).sum()) - low - high
                if pre["beta"] != 0 and float(kl_term.abs().max()) > 0:
                    cover["kl_pos"] += 1
                acc["policy"] += float(policy_loss)
                acc["kl"] += float(kl_loss)
                acc["total"] += float(loss)
                acc["norm"] += norm
                acc["updates"] += 1
                acc["low"] += low
                acc["high"] += high
                acc["tokens"] += T
                acc["entropy"] += float(ent.detach().sum())
        rewards = torch.tensor([g["reward"] for g in seen], dtype=torch.float64)
        u = acc["updates"]
        m = {
            "step": step,
            "reward/mean": float(rewards.mean()),
            "reward/std": float(rewards.std(unbiased=False)),
            "groups/trained": len(groups),
            "lr": lr_at(step, run),
            "loss/policy": acc["policy"] / u,
            "loss/total": acc["total"] / u,
            "grad_norm": acc["norm"] / u,
            "entropy": acc["entropy"] / acc["tokens"],
            "clip/low_frac": acc["low"] / acc["tokens"],
            "clip/high_frac": acc["high"] / acc["tokens"],
        }
        if pre["beta"] != 0:
            m["loss/kl"] = acc["kl"] / u
            x = lp_ref_all - lp_old_all
            m["kl"] = float((torch.exp(x) - x - 1).mean())
        steps_out.append({"metrics": m, "prompts": [grp[0]["prompt"] for grp in groups],
                          "advantages": [g["adv"] for g in batch]})
        for k, p in params.items():
            weights_out[f"step{step}.{k}"] = p.detach().to(torch.float32)
        print(f"  {name} step {step}: " + ", ".join(f"{k} {v:.6g}" for k, v in m.items() if k != "step"))

    # the fixture must exercise what it claims to
    assert cover["clip_low"] + cover["clip_high"] > 0, f"{name}: no token was clipped; raise lr"
    assert cover["unclipped_ratio_ne_1"] > 0, f"{name}: no unclipped token with ratio ≠ 1"
    if run["grad_clip"] is not None:
        assert cover["grad_clipped"] > 0, f"{name}: grad-norm clipping never triggered"
    if pre["beta"] != 0:
        assert cover["kl_pos"] > 0 and steps_out[1]["metrics"]["kl"] > 0, f"{name}: KL is 0 everywhere"
    if pre["dynamic"]:
        assert cover["dropped"] > 0, f"{name}: no group was dropped by dynamic sampling"
    if pre["overlong"]:
        assert cover["overlong"] > 0, f"{name}: no response was inside the overlong buffer"
    print(f"  {name} coverage: {cover}")
    return steps_out, weights_out


def main():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(2025)
    P32 = random_params(CFG, gen)
    V = CFG["vocab_size"]
    prompt_ids, responses, texts = [], [], set()
    for plen, resps in PROMPTS:
        prompt_ids.append([int(x) for x in torch.randint(2, V, (plen,), generator=gen)])
        rs = []
        for n, trunc, _r in resps:
            assert (n == MAX_NEW) == trunc
            body = [int(x) for x in torch.randint(2, V, (n if trunc else n - 1,), generator=gen)]
            resp = body if trunc else body + [EOS]
            key = " ".join(map(str, body))
            assert key not in texts, "response bodies must differ (the test's task looks rewards up by text)"
            texts.add(key)
            rs.append(resp)
        responses.append(rs)

    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(CFG, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(OUT, "model.safetensors"), P32)

    scenario = {
        "eos": EOS, "group_size": G, "max_new_tokens": MAX_NEW,
        "prompts": [{"ids": prompt_ids[p], "responses": [
            {"ids": responses[p][j], "finish": "length" if trunc else "stop", "reward": r}
            for j, (_n, trunc, r) in enumerate(PROMPTS[p][1])]} for p in range(len(PROMPTS))],
        "presets": {},
    }
    for name, spec in PRESETS.items():
        steps_out, weights_out = run_preset(name, spec, P32, prompt_ids, responses)
        scenario["presets"][name] = {"flags": flags(name, spec["run"]), "stream": spec["stream"],
                                     "settings": {**spec["preset"], **spec["run"]}, "steps": steps_out}
        write_safetensors(os.path.join(OUT, f"{name}.safetensors"), weights_out)
    with open(os.path.join(OUT, "scenario.json"), "w") as f:
        json.dump(scenario, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {sum(v.numel() for v in P32.values())} params")


if __name__ == "__main__":
    main()
