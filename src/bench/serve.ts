/**
 * `aha bench serve`: requests/s and tokens/s of `aha serve` (HTTP on 127.0.0.1, the local engine's
 * continuous batch) at concurrency 1, 8 and 32, and the ratio to sequential decoding (the same requests
 * one after another straight through the engine, no HTTP). Model: a random model of bench model S's
 * shape (src/bench/model.ts) with a byte-level tokenizer written here; every request has a 16-token
 * prompt and asks for 64 new tokens at temperature 1 (a random model rarely says end-of-sequence; the
 * figures count the tokens actually generated). No peer: PyTorch has no server to compare with.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { saveHfModel } from "../formats/hf.js";
import { parseHfConfig } from "../model/config.js";
import { Model } from "../model/model.js";
import { initParams } from "../model/params.js";
import { engineFromFolder } from "../rollout/folder.js";
import { startServer } from "../serve/server.js";
import { BENCH_MODELS } from "./model.js";
import type { BenchContext, BenchRow, BenchSuite } from "./types.js";

/** GPT-2's byte → printable character table (the ByteLevel pre-tokenizer's alphabet). */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i]!)));
  return out;
}

export const BYTE_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;
/** <|im_end|>: the byte tokenizer's eos. */
export const BYTE_EOS_ID = 258;
export const BYTE_VOCAB = 259;
const CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/**
 * A byte-level BPE tokenizer without merges (256 byte tokens + <|endoftext|>, <|im_start|>, <|im_end|>)
 * and a ChatML chat template: tokenizer.json + tokenizer_config.json in `dir` (benches and tests).
 */
export function writeByteTokenizer(dir: string): void {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((c, b) => (vocab[c] = b));
  const bl = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tj = {
    version: "1.0", truncation: null, padding: null,
    added_tokens: BYTE_SPECIALS.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null, pre_tokenizer: bl, post_processor: bl, decoder: bl,
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tj));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|im_end|>", pad_token: "<|endoftext|>", chat_template: CHATML }));
}

const PROMPT_LEN = 16;
const NEW_TOKENS = 64;

interface Level {
  concurrency: number;
  requests: number;
}

async function runLevel(url: string, model: string, l: Level): Promise<{ seconds: number; tokens: number }> {
  let next = 0;
  let tokens = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < l.requests) {
      const i = next++;
      const prompt = Array.from({ length: PROMPT_LEN }, (_, j) => 32 + ((i * 31 + j * 7) % 90));
      const res = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, prompt, max_tokens: NEW_TOKENS, temperature: 1, seed: i }),
      });
      if (!res.ok) throw new Error(`bench serve: HTTP ${res.status}: ${await res.text()}`);
      const body = (await res.json()) as { usage: { completion_tokens: number } };
      tokens += body.usage.completion_tokens;
    }
  };
  await Promise.all(Array.from({ length: l.concurrency }, worker));
  return { seconds: (performance.now() - t0) / 1000, tokens };
}

export const serveSuite: BenchSuite = {
  summary: "aha serve: requests/s and tokens/s at concurrency 1, 8, 32 vs sequential decoding (model S shape, random weights)",
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const root = mkdtempSync(join(tmpdir(), "aha-bench-serve-"));
    try {
      const dir = join(root, "S");
      writeByteTokenizer(join(root, "tok"));
      const cfg = parseHfConfig({ ...BENCH_MODELS.S!.hf, vocab_size: 512, eos_token_id: BYTE_EOS_ID }, "bench S");
      const m = new Model(cfg);
      initParams(m.params, cfg, 7);
      saveHfModel(dir, cfg, m.params, { copyFrom: join(root, "tok") });
      const fe = engineFromFolder(dir, { slots: 32, maxLen: PROMPT_LEN + NEW_TOKENS + 8 });
      const levels: Level[] = ctx.quick
        ? [{ concurrency: 1, requests: 2 }, { concurrency: 8, requests: 8 }, { concurrency: 32, requests: 32 }]
        : [{ concurrency: 1, requests: 8 }, { concurrency: 8, requests: 32 }, { concurrency: 32, requests: 96 }];

      // sequential decoding: the same kind of requests, one at a time, straight through the engine
      const seqN = levels[0]!.requests;
      let seqTokens = 0;
      const ts = performance.now();
      for (let i = 0; i < seqN; i++) {
        const prompt = Array.from({ length: PROMPT_LEN }, (_, j) => 32 + ((i * 31 + j * 7) % 90));
        const [c] = await fe.engine.generate([{ promptIds: prompt, maxNewTokens: NEW_TOKENS, temperature: 1, stopTokenIds: fe.stopTokenIds, seed: i }]);
        seqTokens += c![0]!.tokenIds.length;
      }
      const seqTps = seqTokens / ((performance.now() - ts) / 1000);
      ctx.log(`serve: sequential (engine, no HTTP) ${seqTps.toFixed(0)} tokens/s`);

      const server = await startServer({
        engine: fe.engine, tokenizer: fe.tokenizer, modelName: "S", maxLen: PROMPT_LEN + NEW_TOKENS + 8, vocabSize: cfg.vocabSize,
        stopTokenIds: fe.stopTokenIds, chat: null, port: 0,
      });
      const rows: BenchRow[] = [];
      try {
        await runLevel(server.url, "S", { concurrency: 1, requests: 1 }); // warm-up
        for (const l of levels) {
          const r = await runLevel(server.url, "S", l);
          const tps = r.tokens / r.seconds;
          ctx.log(`serve: concurrency ${l.concurrency}: ${(l.requests / r.seconds).toFixed(2)} req/s, ${tps.toFixed(0)} tokens/s (${(tps / seqTps).toFixed(2)}× sequential)`);
          rows.push({
            what: "serve", case: `S c=${l.concurrency}`, dtype: "fp32", aha: tps, peer: null, unit: "tokens/s",
            requests_per_s: l.requests / r.seconds, requests: l.requests, vs_sequential: tps / seqTps, sequential_tokens_per_s: seqTps,
          });
        }
      } finally {
        await server.close();
        await fe.engine.close();
      }
      ctx.note("serve: peer is null (no PyTorch server to compare with); vs_sequential = served tokens/s ÷ one-request-at-a-time engine tokens/s");
      return rows;
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
};
