#!/usr/bin/env python3
"""Builds the tools demo's base model shipped in models/demo-calculator/ (run with Debian's /usr/bin/python3, PyTorch).

The task is 4-digit × 3-digit multiplication (src/tasks/multiply.ts) with a calculator tool in plain
tags: the model writes `<calculator>4821*367</calculator>`, the environment appends
`<result>1769307</result>`, the model answers `<answer>1769307</answer>`. The corpus comes from the
task's own generator with the calculator tool's own observations (`node scripts/make-tools-demo-corpus.mjs
N SEED SCALE`, after `npm run build`): answers in the head (which a model this small gets wrong),
episodes that call the calculator and copy its result, calls with a mistyped operand and broken calls
that get an error back (src/tasks/multiply.ts, MULTIPLY_MIX). The environment's observations are in
the context but masked from the loss, as RL masks them.

Two phases, so that a short pretraining both teaches the mechanics and leaves the habit of rarely
using them: first (steps − habit-steps) steps on a tool-heavy mix (the shares of calls × 3: 54 % of
episodes call the calculator), then `--habit-steps` on the base mix (18 % call it: 12 % good calls,
3 % mistyped, 3 % broken; 82 % in the head). So the base model can use the tool but rarely does, and
scores low; RL has to discover that calling it pays.

The model is the first demo's (scripts/make_demo_model.py: Llama-shaped, RMSNorm, RoPE, SwiGLU, tied
embeddings; its forward pass and writers are imported from there) with this task's vocabulary: the
tags as single tokens (`<calculator>`, `</calculator>`, `<result>`, `</result>` special), newline and
printable ASCII one character each, `<unk>` for anything else.

Reproducible: fixed seeds, a fixed step count, one thread.
Usage: /usr/bin/python3 scripts/make_tools_demo_model.py [--steps 450] [--habit-steps 150] [--hidden 96] [--layers 3] [--out models/demo-calculator]
"""
import argparse
import json
import os
import subprocess
import sys

os.environ.setdefault("OPENBLAS_CORETYPE", "SKYLAKEX")  # see make_demo_model.py
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

import make_demo_model as base  # noqa: E402  (the model's math and the file writers)

PAD, BOS, EOS, UNK = 0, 1, 2, 3
VOCAB, SPECIAL, TOK = [], [], {}
TAGS = []  # multi-character tokens, longest first


def tokenize(text: str) -> list:
    """Tags are single tokens wherever they appear (as the tokenizer's added tokens), every other character one token."""
    out, i = [], 0
    while i < len(text):
        tag = next((t for t in TAGS if text.startswith(t, i)), None)
        if tag is not None:
            out.append(TOK[tag])
            i += len(tag)
        else:
            out.append(TOK.get(text[i], UNK))
            i += 1
    return out


def load_corpus(n, seed, scale):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    res = subprocess.run(["node", os.path.join(root, "scripts", "make-tools-demo-corpus.mjs"), str(n), str(seed), str(scale)],
                         check=True, capture_output=True, text=True)
    lines = res.stdout.splitlines()
    head = json.loads(lines[0])
    if not VOCAB:
        VOCAB.extend(head["vocab"])
        SPECIAL.extend(head["special"])
        TOK.update({t: i for i, t in enumerate(VOCAB)})
        TAGS.extend(sorted((t for t in VOCAB if len(t) > 1), key=len, reverse=True))
    assert VOCAB == head["vocab"] and [VOCAB[PAD], VOCAB[BOS], VOCAB[EOS], VOCAB[UNK]] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    exs, kinds = [], {}
    for line in lines[1:]:
        r = json.loads(line)
        # (ids, trained): trained[t] = the token at t is the model's (loss on it), not the prompt's or the environment's
        ids = [BOS] + tokenize(r["prompt"])
        trained = [False] * len(ids)
        for s in r["segments"]:
            t = tokenize(s["text"])
            ids += t
            trained += [not s["env"]] * len(t)
        ids.append(EOS)
        trained.append(True)
        exs.append((ids, trained))
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print(f"corpus (call shares × {scale}):", {k: round(v / len(exs), 3) for k, v in sorted(kinds.items())}, flush=True)
    return exs


def batch(corpus, start, n):
    exs = corpus[start : start + n]
    T = max(len(ids) for ids, _ in exs)
    ids = torch.full((n, T), PAD, dtype=torch.long)
    tgt = torch.full((n, T), -100, dtype=torch.long)
    for i, (seq, trained) in enumerate(exs):
        ids[i, : len(seq)] = torch.tensor(seq)
        # position t predicts token t+1, trained only on the model's own tokens (observations masked)
        for t in range(len(seq) - 1):
            if trained[t + 1]:
                tgt[i, t] = seq[t + 1]
    return ids, tgt


def write_tokenizer(out):
    """Character-level, <unk> for the rest; the tags are added tokens, the calculator's special (one id
    each, kept in decoded text unless special tokens are skipped)."""
    added = [(t, t not in ("<answer>", "</answer>")) for t in ["<pad>", "<bos>", "<eos>", "<unk>", "<answer>", "</answer>", *SPECIAL]]
    base.write_json(os.path.join(out, "tokenizer.json"), base.tokenizer_json(VOCAB, added, unk="<unk>"))


README = """# demo-calculator

The base model of `aha train --demo tools`: 4-digit × 3-digit multiplication with a calculator tool
(`<calculator>4821*367</calculator>` → the environment appends `<result>1769307</result>` → the model
answers `<answer>1769307</answer>`). Llama-shaped ({layers} layers, d={hidden}), {params} parameters,
a {vocab}-token vocabulary (the tags as single tokens, printable ASCII one character each). Made by
`scripts/make_tools_demo_model.py` (PyTorch) from the task's own corpus
(`scripts/make-tools-demo-corpus.mjs`, src/tasks/multiply.ts, the calculator tool's own results):
first a tool-heavy phase that teaches the mechanics, then the base mix — 82 % answers in the head, 18 %
calculator episodes (a third of them with a mistyped operand or a broken call that gets an error
back). The calculator's results are in the context but masked from the loss. The base model calls
the calculator rarely; RL teaches it to.
"""


def save(out, p, args):
    base.write_model_files(out, p, 96, dict(unk_token="<unk>"))
    write_tokenizer(out)
    n = sum(t.numel() for t in p.values())
    with open(os.path.join(out, "README.md.tmp"), "w") as f:
        f.write(README.format(params=f"{n / 1e6:.2f}M", vocab=len(VOCAB), layers=base.CFG["num_hidden_layers"], hidden=base.CFG["hidden_size"]))
        f.write(f"\nBuilt with: `{' '.join(['/usr/bin/python3', 'scripts/make_tools_demo_model.py'] + sys.argv[1:])}` "
                f"({args.steps} steps of {args.batch} episodes, lr {args.lr}, seed {args.seed}).\n")
    os.replace(os.path.join(out, "README.md.tmp"), os.path.join(out, "README.md"))


@torch.no_grad()
def check(p, n, seed, max_new=40):
    """Samples n episodes at T = 1 on fresh problems, running the calculator (exact a*b, else an error)
    between turns: the share of episodes that call it and the share answered exactly. A quick look
    before the model goes to aha (aha's own evaluation is the measure)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(1000, 10000, (n,), generator=g).tolist()
    b = torch.randint(100, 1000, (n,), generator=g).tolist()
    seqs = [[BOS] + tokenize(f"{x}*{y}=") for x, y in zip(a, b)]
    starts = [len(s) for s in seqs]
    done = [False] * n
    for _ in range(max_new):
        live = [i for i in range(n) if not done[i]]
        if not live:
            break
        T = max(len(seqs[i]) for i in live)
        ids = torch.full((len(live), T), PAD, dtype=torch.long)
        for j, i in enumerate(live):
            ids[j, : len(seqs[i])] = torch.tensor(seqs[i])
        logits = base.forward(p, ids)
        for j, i in enumerate(live):
            tok = torch.multinomial(logits[j, len(seqs[i]) - 1].softmax(-1), 1, generator=g).item()
            seqs[i].append(tok)
            if tok in (EOS, TOK["</answer>"]):
                done[i] = True
            elif tok == TOK["</calculator>"]:
                text = "".join(VOCAB[t] for t in seqs[i][starts[i]:])
                expr = text[text.rfind("<calculator>") + len("<calculator>"): -len("</calculator>")]
                ok = expr.count("*") == 1 and all(x.isdigit() for x in expr.split("*"))
                obs = f"<result>{int(expr.split('*')[0]) * int(expr.split('*')[1])}</result>" if ok else "<result>error: cannot parse the expression</result>"
                seqs[i] += tokenize(obs)
    calls = right = 0
    for i in range(n):
        text = "".join(VOCAB[t] for t in seqs[i][starts[i]:])
        calls += "<calculator>" in text
        k = text.rfind("<answer>")
        right += k >= 0 and text[k + 8:].split("</answer>")[0] == str(a[i] * b[i])
    print(f"check: {n} episodes at T=1: calculator called in {calls / n:.3f}, exact answers {right / n:.3f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=450, help="optimizer steps (fixed: reproducible)")
    ap.add_argument("--habit-steps", type=int, default=150, help="the last steps, on the base mix (the rest: calls × --heavy)")
    ap.add_argument("--heavy", type=float, default=3.0, help="how many times more calls the first phase has")
    ap.add_argument("--out", default="models/demo-calculator")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--hidden", type=int, default=96)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--check", type=int, default=200, help="episodes sampled at the end to report the call rate and accuracy (0 = none)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    heavy = args.steps - args.habit_steps
    corpus = load_corpus(heavy * args.batch, args.seed, args.heavy) + load_corpus(args.habit_steps * args.batch, args.seed + 1, 1)
    base.CFG.update(hidden_size=args.hidden, intermediate_size=int(round(args.hidden * 8 / 3 / 8)) * 8, num_hidden_layers=args.layers,
                    num_attention_heads=4, num_key_value_heads=4, vocab_size=len(VOCAB), max_position_embeddings=128)
    p = base.init_params(g)
    base.pretrain(p, lambda step: batch(corpus, step * args.batch, args.batch), args.steps, args.lr)
    if args.check > 0:
        check(p, args.check, args.seed)
    save(args.out, p, args)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
