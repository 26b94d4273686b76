#!/usr/bin/python3
"""Golden fixture for GAE and the clipped value loss (src/rl/gae.ts, src/rl/value-loss.ts), by PyTorch.

Run with Debian's torch:   /usr/bin/python3 scripts/make_gae_fixture.py
Writes fixtures/rl/gae.json.

Written from REFERENCE.md ("PPO with a critic") in float64, independently of the TypeScript code, and
in a different layout: responses padded to a (B, L) tensor with a response mask, GAE as verl's
backward loop over the padded time axis (`compute_gae_advantage_return`, with a per-row λ), the
token-level reward as verl's (score on the last token, −β·KL on every token), whitening as verl's
`masked_whiten` (sample variance, rsqrt(var + 1e-8); the mean here is exact, verl's divides by
count + 1e-8). The value loss ½·max((V − R)², (clamp(V, V_old − ε, V_old + ε) − R)²) with the four
aggregations, its gradient by autograd.

GAE cases: several (γ, λ), a per-length λ (VAPO: 1 − 1/(α·l) clamped to [0, 1]), KL in the reward,
unscorable responses (reward null: advantage 0, return = value, not valid), whitening on/off.
Value-loss cases: random V, V_old, R; ε_v chosen so the clip is active on some tokens (asserted) and
not on others; a random loss mask plus the unscorable responses' tokens masked.
"""
import json
import math
import os

import torch

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "rl", "gae.json")
AGGS = ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"]


def pad(flat, lengths):
    L = max(lengths) if lengths else 0
    out = torch.zeros(len(lengths), L)
    mask = torch.zeros(len(lengths), L)
    o = 0
    for i, n in enumerate(lengths):
        out[i, :n] = torch.tensor(flat[o:o + n])
        mask[i, :n] = 1
        o += n
    return out, mask


def unpad(x, lengths):
    return [float(x[i, t]) for i, n in enumerate(lengths) for t in range(n)]


def lam_of(spec, n):
    if isinstance(spec, dict):
        return min(1.0, max(0.0, 1.0 - 1.0 / (spec["vapoAlpha"] * n)))
    return spec


def gae_torch(values, rewards, lengths, kl, beta, gamma, lam_spec, whiten):
    V, mask = pad(values, lengths)
    K, _ = pad(kl, lengths) if kl is not None else (torch.zeros_like(V), None)
    B, L = V.shape
    scorable = torch.tensor([1.0 if r is not None else 0.0 for r in rewards])
    # Token-level rewards: −β·KL on every response token, the outcome on the last one.
    tlr = -beta * K * mask
    for i, (r, n) in enumerate(zip(rewards, lengths)):
        if r is not None and n > 0:
            tlr[i, n - 1] += r
    lam = torch.tensor([lam_of(lam_spec, n) if n > 0 else 0.0 for n in lengths])
    nextvalues = torch.zeros(B)
    lastgaelam = torch.zeros(B)
    adv = torch.zeros(B, L)
    for t in reversed(range(L)):
        delta = tlr[:, t] + gamma * nextvalues - V[:, t]
        cur = delta + gamma * lam * lastgaelam
        nextvalues = V[:, t] * mask[:, t] + (1 - mask[:, t]) * nextvalues
        lastgaelam = cur * mask[:, t] + (1 - mask[:, t]) * lastgaelam
        adv[:, t] = lastgaelam
    valid = mask * scorable[:, None]
    adv = adv * valid
    returns = adv + V
    if whiten:
        n = valid.sum()
        mean = (adv * valid).sum() / n
        var = (((adv - mean) ** 2) * valid).sum() / n * (n / (n - 1))
        adv = (adv - mean) * torch.rsqrt(var + 1e-8) * valid
    return unpad(adv, lengths), unpad(returns, lengths), [int(x) for x in unpad(valid, lengths)]


def value_loss_torch(values, values_old, returns, mask, lengths, clip, agg, max_len):
    Vp, M = pad(values, lengths)
    Vo, _ = pad(values_old, lengths)
    R, _ = pad(returns, lengths)
    Mk, _ = pad(mask, lengths)
    M = M * Mk
    Vp = Vp.clone().requires_grad_(True)
    l1 = (Vp - R) ** 2
    if clip is None:
        lmat = 0.5 * l1
        clipped = torch.zeros_like(l1)
    else:
        vc = torch.max(torch.min(Vp, Vo + clip), Vo - clip)
        l2 = (vc - R) ** 2
        lmat = 0.5 * torch.max(l1, l2)
        clipped = (l2 > l1).double()
    per_seq_n = M.sum(1)
    seqs = (per_seq_n > 0).double()
    S = seqs.sum()
    if agg == "token-mean":
        loss = (lmat * M).sum() / M.sum()
    elif agg == "seq-mean-token-mean":
        loss = (((lmat * M).sum(1) / per_seq_n.clamp(min=1)) * seqs).sum() / S
    elif agg == "seq-mean-token-sum":
        loss = (lmat * M).sum() / S
    else:
        loss = (lmat * M).sum() / (S * max_len)
    loss.backward()
    n = M.sum()
    v = Vp.detach()[M > 0]
    r = R[M > 0]
    ev = 1 - torch.var(r - v) / torch.var(r)
    return {
        "loss": float(loss),
        "dValues": unpad(Vp.grad, lengths),
        "clipFrac": float((clipped * M).sum() / n),
        "explainedVariance": float(ev),
        "valueMean": float(v.mean()),
        "returnMean": float(r.mean()),
        "clippedTokens": int((clipped * M).sum()),
    }


def main():
    g = torch.Generator().manual_seed(1234)

    def rand(n, scale=1.0, shift=0.0):
        return [float(x) * scale + shift for x in torch.rand(n, generator=g)]

    gae_cases = []
    settings = [
        (1.0, 1.0, 0.0, False), (1.0, 0.0, 0.0, False), (0.9, 0.8, 0.0, False), (0.99, 0.95, 0.05, True),
        (1.0, {"vapoAlpha": 0.05}, 0.0, True), (1.0, {"vapoAlpha": 0.3}, 0.02, False), (0.97, 0.5, 0.1, True),
    ]
    for k, (gamma, lam, beta, whiten) in enumerate(settings):
        nresp = 6 + k
        lengths = [int(x) for x in torch.randint(1, 40, (nresp,), generator=g)]
        if k == 4:
            lengths[0] = 3  # α·l < 1: λ clamps to 0
            lengths[1] = 200
        total = sum(lengths)
        rewards = [float(x) for x in (torch.rand(nresp, generator=g) * 2 - 1)]
        for i in range(nresp):
            if (i + k) % 5 == 2:
                rewards[i] = None
        values = rand(total, 2.0, -1.0)
        kl = rand(total, 0.3) if beta != 0 else None
        adv, ret, valid = gae_torch(values, rewards, lengths, kl, beta, gamma, lam, whiten)
        gae_cases.append({
            "gamma": gamma, "lambda": lam, "klCoef": beta, "whiten": whiten, "lengths": lengths,
            "rewards": rewards, "values": values, "kl": kl,
            "expected": {"advantages": adv, "returns": ret, "valid": valid},
        })

    vl_cases = []
    for k, (clip, agg) in enumerate([(0.2, a) for a in AGGS] + [(None, "token-mean"), (0.05, "seq-mean-token-mean")]):
        nresp = 7
        lengths = [int(x) for x in torch.randint(1, 20, (nresp,), generator=g)]
        lengths[3] = 0 if k % 2 == 0 else lengths[3]  # an empty response
        total = sum(lengths)
        values_old = rand(total, 2.0, -1.0)
        values = [v + d for v, d in zip(values_old, rand(total, 0.8, -0.4))]
        returns = rand(total, 2.0, -1.0)
        mask = [1 if x > 0.15 else 0 for x in rand(total)]
        # a whole response masked (unscorable)
        o = sum(lengths[:5])
        for t in range(o, o + lengths[5]):
            mask[t] = 0
        max_len = 24
        exp = value_loss_torch(values, values_old, returns, mask, lengths, clip, agg, max_len)
        if clip is not None:
            assert 0 < exp["clippedTokens"] < sum(mask), exp["clippedTokens"]
        offsets = [0]
        for n in lengths:
            offsets.append(offsets[-1] + n)
        vl_cases.append({
            "clip": clip, "aggregation": agg, "maxLength": max_len, "lengths": lengths, "offsets": offsets,
            "values": values, "valuesOld": values_old, "returns": returns, "mask": mask, "expected": exp,
        })

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__, "gae": gae_cases, "valueLoss": vl_cases}, f)
        f.write("\n")
    print(f"wrote {OUT}: {len(gae_cases)} GAE cases, {len(vl_cases)} value-loss cases")
    for c in vl_cases:
        print(c["aggregation"], c["clip"], "clipped", c["expected"]["clippedTokens"], "of", sum(c["mask"]))


if __name__ == "__main__":
    main()
