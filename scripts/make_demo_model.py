#!/usr/bin/env python3
"""Builds the demo base model shipped in models/demo-adder/ (run with Debian's /usr/bin/python3, PyTorch).

The demo task is 3-digit addition (src/tasks/arithmetic.ts). The base model is pretrained on a
synthetic corpus that mixes guessing and reasoning, so that RL has something to choose between
(shared/MEASUREMENTS.md, "A trial of the built-in demo's idea"): 50% direct answers (right 20% of the
time, else the carry-less sum), 10% correct column-by-column traces, 15% traces that re-check
themselves after a first pass (`<wait>`), 25% traces with one wrong step and no check.

The corpus comes from the task's own generator, so there is one definition of it:
`node scripts/make-demo-corpus.mjs N SEED` (after `npm run build`) writes it, held-out questions left
out. This script runs that, pretrains a Llama-shaped model (RMSNorm, RoPE, SwiGLU, tied embeddings;
d=128, 4 layers, 4 heads, ~0.8M parameters) with the loss on the responses, and writes a Hugging Face
folder (config.json, model.safetensors, tokenizer.json, tokenizer_config.json, generation_config.json)
that aha loads like any other model.

Reproducible: fixed seeds, a fixed step count, one thread.
Usage: /usr/bin/python3 scripts/make_demo_model.py [--steps 800] [--out models/demo-adder]
       [--hidden 128 --layers 4 --heads 4 --intermediate 344]   (a smaller student: e.g. --hidden 96
       --layers 3 --heads 3 --intermediate 256 --out models/demo-adder-d96, 0.33M parameters, pretrained
       the same way: scripts/distill-experiment.sh)
"""
import argparse
import json
import math
import os
import struct
import subprocess
import time

# Debian's OpenBLAS misdetects this machine's CPU (reports "Prescott") and runs ~10x slower; SkylakeX kernels are right here.
os.environ.setdefault("OPENBLAS_CORETYPE", "SKYLAKEX")
import torch  # noqa: E402
import torch.nn.functional as F

VOCAB = []  # set from the corpus file's first line (the task's ARITH_VOCAB)
SPECIALS = ["<pad>", "<bos>", "<eos>", "<think>", "</think>", "<answer>", "</answer>", "<wait>"]
TOK = {}
PAD, BOS, EOS = 0, 1, 2


def tokenize(text: str) -> list:
    out, i = [], 0
    while i < len(text):
        if text[i] == "<":
            j = text.index(">", i)
            out.append(TOK[text[i : j + 1]])
            i = j + 1
        else:
            out.append(TOK[text[i]])
            i += 1
    return out


def load_corpus(n, seed):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    res = subprocess.run(["node", os.path.join(root, "scripts", "make-demo-corpus.mjs"), str(n), str(seed)],
                         check=True, capture_output=True, text=True)
    lines = res.stdout.splitlines()
    head = json.loads(lines[0])
    VOCAB.extend(head["vocab"])
    TOK.update({t: i for i, t in enumerate(VOCAB)})
    assert VOCAB[PAD] == "<pad>" and VOCAB[BOS] == "<bos>" and VOCAB[EOS] == "<eos>"
    exs = []
    for line in lines[1:]:
        r = json.loads(line)
        exs.append(([BOS] + tokenize(r["prompt"]), tokenize(r["response"]) + [EOS]))
    return exs


# ***** the model (Llama math, written out) *****
CFG = dict(hidden_size=128, intermediate_size=344, num_hidden_layers=4, num_attention_heads=4,
           num_key_value_heads=4, vocab_size=21, rope_theta=10000.0, rms_norm_eps=1e-5,
           max_position_embeddings=256, tie_word_embeddings=True)


def init_params(g: torch.Generator):
    C, Fh, L, V = CFG["hidden_size"], CFG["intermediate_size"], CFG["num_hidden_layers"], CFG["vocab_size"]
    p = {"model.embed_tokens.weight": torch.randn(V, C, generator=g) * 0.02}
    for l in range(L):
        pre = f"model.layers.{l}."
        p[pre + "input_layernorm.weight"] = torch.ones(C)
        for n in ["q_proj", "k_proj", "v_proj", "o_proj"]:
            p[pre + f"self_attn.{n}.weight"] = torch.randn(C, C, generator=g) * 0.02
        p[pre + "post_attention_layernorm.weight"] = torch.ones(C)
        p[pre + "mlp.gate_proj.weight"] = torch.randn(Fh, C, generator=g) * 0.02
        p[pre + "mlp.up_proj.weight"] = torch.randn(Fh, C, generator=g) * 0.02
        p[pre + "mlp.down_proj.weight"] = torch.randn(C, Fh, generator=g) * 0.02 / math.sqrt(2 * L)
    p["model.norm.weight"] = torch.ones(C)
    for t in p.values():
        t.requires_grad_(True)
    return p


def rmsnorm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + CFG["rms_norm_eps"]) * w


def rope(x, T):  # x (B, H, T, D), HF rotate_half layout
    D = x.shape[-1]
    inv = 1.0 / (CFG["rope_theta"] ** (torch.arange(0, D, 2).float() / D))
    ang = torch.arange(T).float()[:, None] * inv[None, :]
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)
    x1, x2 = x[..., : D // 2], x[..., D // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def forward(p, ids):  # ids (B, T) → logits (B, T, V)
    B, T = ids.shape
    C, H = CFG["hidden_size"], CFG["num_attention_heads"]
    D = C // H
    x = p["model.embed_tokens.weight"][ids]
    for l in range(CFG["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        h = rmsnorm(x, p[pre + "input_layernorm.weight"])
        q = (h @ p[pre + "self_attn.q_proj.weight"].T).view(B, T, H, D).transpose(1, 2)
        k = (h @ p[pre + "self_attn.k_proj.weight"].T).view(B, T, H, D).transpose(1, 2)
        v = (h @ p[pre + "self_attn.v_proj.weight"].T).view(B, T, H, D).transpose(1, 2)
        q, k = rope(q, T), rope(k, T)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        att = att.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf")).softmax(-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + o @ p[pre + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, p[pre + "post_attention_layernorm.weight"])
        m = F.silu(h @ p[pre + "mlp.gate_proj.weight"].T) * (h @ p[pre + "mlp.up_proj.weight"].T)
        x = x + m @ p[pre + "mlp.down_proj.weight"].T
    x = rmsnorm(x, p["model.norm.weight"])
    return x @ p["model.embed_tokens.weight"].T


def batch(corpus, start, n):
    exs = corpus[start : start + n]
    T = max(len(pr) + len(rs) for pr, rs in exs)
    ids = torch.full((n, T), PAD, dtype=torch.long)
    tgt = torch.full((n, T), -100, dtype=torch.long)
    for i, (pr, rs) in enumerate(exs):
        seq = pr + rs
        ids[i, : len(seq)] = torch.tensor(seq)
        # loss on the response only: position t predicts token t+1
        for t in range(len(pr) - 1, len(seq) - 1):
            tgt[i, t] = seq[t + 1]
    return ids, tgt


def write_safetensors(path, tensors):
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, t in tensors.items():
        b = t.detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(path + ".tmp", path)


def tokenizer_json(vocab, added, unk=None):
    """A character-level tokenizer: BPE with single-character tokens and no merges (`unk`: the token for
    characters outside the vocabulary, or none); `added` = [(tag, special)] are added tokens (special ones
    are skipped when decoding with skip_special_tokens). The post-processor puts <bos> first, as the
    model was trained."""
    tok = {t: i for i, t in enumerate(vocab)}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [dict(id=tok[s], content=s, single_word=False, lstrip=False, rstrip=False,
                              normalized=False, special=special) for s, special in added],
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<bos>": {"id": "<bos>", "ids": [tok["<bos>"]], "tokens": ["<bos>"]}},
        },
        "decoder": {"type": "Fuse"},
        "model": {"type": "BPE", "dropout": None, "unk_token": unk, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": tok, "merges": []},
    }


def write_tokenizer(out):
    """The tags are added tokens; only <pad>/<bos>/<eos> are special (skipped when decoding), the reasoning
    tags stay in the text."""
    write_json(os.path.join(out, "tokenizer.json"), tokenizer_json(VOCAB, [(s, s in ("<pad>", "<bos>", "<eos>")) for s in SPECIALS]))


def write_model_files(out, p, max_new_tokens, tokenizer_config=None):
    """model.safetensors, config.json (Llama, CFG), generation_config.json and tokenizer_config.json."""
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), {k: v for k, v in sorted(p.items())})
    cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu",
               attention_bias=False, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
               torch_dtype="float32", **CFG)
    write_json(os.path.join(out, "config.json"), cfg)
    write_json(os.path.join(out, "generation_config.json"),
               dict(bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, do_sample=True, temperature=1.0, max_new_tokens=max_new_tokens))
    write_json(os.path.join(out, "tokenizer_config.json"), dict(
        tokenizer_class="PreTrainedTokenizerFast", bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", **(tokenizer_config or {}),
        add_bos_token=True, model_max_length=CFG["max_position_embeddings"], clean_up_tokenization_spaces=False))


def pretrain(p, next_batch, total, peak_lr):
    """AdamW (betas 0.9/0.95, weight decay 0.01 on matrices), linear warmup over 50 steps then cosine to
    0.1 × peak, gradient clipping at 1; the loss on the targets next_batch(step) marks (-100 = none).
    Returns the last loss."""
    decay = [t for n, t in p.items() if t.dim() == 2]
    nodecay = [t for n, t in p.items() if t.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=peak_lr, betas=(0.9, 0.95))
    t0 = time.time()
    for step in range(total):
        lr = peak_lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total)))))
        for gr in opt.param_groups:
            gr["lr"] = lr
        ids, tgt = next_batch(step)
        logits = forward(p, ids)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.view(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), 1.0)
        opt.step()
        if step % 100 == 0:
            print(f"step {step}/{total} loss {loss.item():.4f} lr {lr:.2e} {time.time() - t0:.0f}s", flush=True)
    print(f"trained {total} steps in {time.time() - t0:.0f}s; final loss {loss.item():.4f}")
    return loss.item()


def save(out, p):
    write_model_files(out, p, 96)
    write_tokenizer(out)
    with open(os.path.join(out, "README.md"), "w") as f:
        n = sum(t.numel() for t in p.values())
        f.write(f"# {os.path.basename(os.path.normpath(out))}\n\nThe base model of `aha train`'s built-in demo: 3-digit addition, a 21-token\n"
                f"vocabulary, Llama-shaped, d={CFG['hidden_size']}, {CFG['num_hidden_layers']} layers, {n / 1e6:.2f}M parameters. Made by `scripts/make_demo_model.py` (PyTorch)\n"
                "from a synthetic corpus that mixes direct guesses with step-by-step traces, some of which\n"
                "re-check themselves (`<wait>`). See that script's docstring for the corpus.\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=800, help="optimizer steps (fixed: reproducible)")
    ap.add_argument("--out", default="models/demo-adder")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--hidden", type=int, default=CFG["hidden_size"], help="d_model (the distillation experiment's smaller student: 96)")
    ap.add_argument("--layers", type=int, default=CFG["num_hidden_layers"])
    ap.add_argument("--heads", type=int, default=CFG["num_attention_heads"], help="attention heads (= key/value heads)")
    ap.add_argument("--intermediate", type=int, default=CFG["intermediate_size"], help="SwiGLU width")
    ap.add_argument("--tokenizer-only", action="store_true", help="rewrite the tokenizer files of --out, nothing else")
    args = ap.parse_args()
    if args.tokenizer_only:
        load_corpus(1, args.seed)
        write_tokenizer(args.out)
        return
    if args.hidden % args.heads != 0:
        ap.error(f"--hidden ({args.hidden}) must be divisible by --heads ({args.heads})")
    CFG.update(hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=args.heads,
               num_key_value_heads=args.heads, intermediate_size=args.intermediate)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    corpus = load_corpus(args.steps * args.batch, args.seed)
    p = init_params(g)
    pretrain(p, lambda step: batch(corpus, step * args.batch, args.batch), args.steps, args.lr)
    save(args.out, p)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
