/**
 * `aha score --model DIR [--adapter DIR] --input FILE.jsonl [--output FILE]`: log-likelihoods of given
 * responses. Each input line is a JSON object with either `prompt`/`response` (text) or
 * `prompt_ids`/`response_ids` (token ids); every other field is echoed. Each output line is the input
 * object plus `logprob` (sum over the response tokens) and `token_logprobs` (log p(response token j |
 * prompt, response tokens < j), one per response token).
 *
 * Text is tokenized as training tokenizes a plain prompt and its response: prompt_ids =
 * encodePrompt(prompt) (the tokenizer's special tokens, e.g. Llama 3's BOS, and a BOS when
 * tokenizer_config.json has add_bos_token: true but the post-processor adds none; Qwen adds none) and
 * response_ids = encode(response) without special tokens, separately, so the boundary never merges
 * across prompt and response (lm-evaluation-harness does the same).
 *
 * A bad line is reported on stderr with its line number and left out; the others are still scored; the
 * exit code is 1 when any line was bad.
 */
import { createReadStream } from "node:fs";
import { z } from "zod";
import { UserError } from "../errors.js";
import { loadHfModel } from "../formats/hf.js";
import type { HfTokenizer } from "../formats/tokenizer.js";
import type { Model } from "../model/model.js";
import { loadPeftAdapter } from "../formats/peft.js";
import { encodePrompt } from "../rollout/folder.js";
import { AtomicFile } from "../util/atomic.js";
import { defineConfig, setting } from "../util/config.js";
import { streamJsonlLines, type JsonlLine, type JsonlRow } from "../util/jsonl.js";
import { modelFolderSection, resolveCommand } from "./flags.js";

export const summary = "log-probs of given responses (JSONL in, JSONL out) under a model folder";

const ioSchema = z.strictObject({
  input: setting(z.string().min(1).nullable(), null, 'JSONL input ("-" for stdin); required.'),
  output: setting(z.string().min(1).nullable(), null, "Write here instead of stdout (to a temp file, renamed at the end); none = stdout."),
  batchTokens: setting(z.int().min(1), 4096, "Tokens per forward pass (lines are packed up to this many)."),
});

export const scoreSpec = defineConfig({
  model: modelFolderSection,
  io: { title: "Input and output", prefix: "", schema: ioSchema, check: (c: z.output<typeof ioSchema>) => (c.input === null ? ["--input FILE.jsonl is required"] : []) },
});

const USAGE = `Usage: aha score --model DIR [--adapter DIR] --input FILE.jsonl [--output FILE] [--config FILE.yaml] [options]

Each input line: {"prompt": "...", "response": "..."} or {"prompt_ids": [..], "response_ids": [..]},
plus any other fields (echoed). Each output line adds "logprob" (sum) and "token_logprobs" (per token).
A prompt is encoded as aha train encodes one (special tokens; a BOS when the tokenizer asks for it).`;

export interface ScoreItem {
  /** 1-based line number in the input. */
  line: number;
  input: Record<string, unknown>;
  promptIds: number[];
  responseIds: number[];
}

export interface ScoreResult {
  logprob: number;
  tokenLogprobs: number[];
}

function idArray(v: unknown, field: string, vocabSize: number): number[] {
  if (!Array.isArray(v)) throw new Error(`'${field}' must be an array of token ids`);
  for (const [i, x] of v.entries()) {
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x >= vocabSize) {
      throw new Error(`'${field}'[${i}] = ${JSON.stringify(x)} is not a token id in [0, ${vocabSize})`);
    }
  }
  return v as number[];
}

/** Reads one input row; throws Error (message without the line number) when it is bad. */
export function parseScoreRow(o: JsonlRow, line: number, tokenizer: HfTokenizer | null, vocabSize: number): ScoreItem {
  let promptIds: number[], responseIds: number[];
  if ("prompt_ids" in o || "response_ids" in o) {
    if ("prompt" in o || "response" in o) throw new Error("give either prompt/response or prompt_ids/response_ids, not both");
    promptIds = idArray(o.prompt_ids, "prompt_ids", vocabSize);
    responseIds = idArray(o.response_ids, "response_ids", vocabSize);
  } else if ("prompt" in o || "response" in o) {
    if (typeof o.prompt !== "string" || typeof o.response !== "string") throw new Error("'prompt' and 'response' must both be strings");
    if (tokenizer === null) throw new Error("text input needs a tokenizer, and the model folder has no tokenizer.json (use prompt_ids/response_ids)");
    promptIds = encodePrompt(tokenizer, o.prompt, true); // as training encodes a plain prompt
    responseIds = tokenizer.encode(o.response, { addSpecialTokens: false });
    for (const id of [...promptIds, ...responseIds]) {
      if (id >= vocabSize) throw new Error(`the tokenizer produced id ${id}, outside the model's vocabulary (${vocabSize})`);
    }
  } else {
    throw new Error("needs 'prompt' and 'response' (text) or 'prompt_ids' and 'response_ids'");
  }
  if (promptIds.length === 0) throw new Error("the prompt has no tokens: the first response token would have no context");
  if (responseIds.length === 0) throw new Error("the response has no tokens");
  return { line, input: o, promptIds, responseIds };
}

/** Scores items in one packed forward pass. */
export function scoreItems(model: Model, items: readonly ScoreItem[]): ScoreResult[] {
  let T = 0;
  for (const it of items) T += it.promptIds.length + it.responseIds.length;
  const tokens = new Int32Array(T);
  const targets = new Int32Array(T).fill(-1);
  const cu = new Int32Array(items.length + 1);
  let t = 0;
  items.forEach((it, s) => {
    const seq = [...it.promptIds, ...it.responseIds];
    tokens.set(seq, t);
    // position p predicts token p + 1: response token j is predicted at position P - 1 + j
    for (let j = 0; j < it.responseIds.length; j++) targets[t + it.promptIds.length - 1 + j] = it.responseIds[j]!;
    t += seq.length;
    cu[s + 1] = t;
  });
  const { logp } = model.forward(tokens, cu, targets);
  return items.map((it, s) => {
    const base = cu[s]! + it.promptIds.length - 1;
    const tokenLogprobs = Array.from(logp.subarray(base, base + it.responseIds.length));
    return { logprob: tokenLogprobs.reduce((a, b) => a + b, 0), tokenLogprobs };
  });
}

export interface ScoreStreamOptions {
  model: Model;
  tokenizer: HfTokenizer | null;
  /** The input's lines (src/util/jsonl.ts streamJsonlLines). */
  lines: AsyncIterable<JsonlLine>;
  /** Called with each output line (JSON, no newline), in input order. */
  write: (line: string) => void;
  /** Called with each error message for a bad line. */
  error: (message: string) => void;
  /** Shown in error messages. */
  inputName: string;
  batchTokens?: number;
}

/** Scores a stream of JSONL lines. Returns how many were scored and how many were bad. */
export async function scoreLines(o: ScoreStreamOptions): Promise<{ scored: number; bad: number }> {
  const budget = o.batchTokens ?? 4096;
  const vocab = o.model.cfg.vocabSize;
  let batch: ScoreItem[] = [];
  let batchTokens = 0;
  let scored = 0, bad = 0;
  const flush = (): void => {
    if (batch.length === 0) return;
    const res = scoreItems(o.model, batch);
    batch.forEach((it, i) => {
      o.write(JSON.stringify({ ...it.input, logprob: res[i]!.logprob, token_logprobs: res[i]!.tokenLogprobs }));
    });
    scored += batch.length;
    batch = [];
    batchTokens = 0;
  };
  for await (const l of o.lines) {
    let item: ScoreItem;
    try {
      if (l.error !== undefined) throw new Error(l.error);
      item = parseScoreRow(l.row, l.line, o.tokenizer, vocab);
    } catch (e) {
      bad++;
      o.error(`${o.inputName}:${l.line}: ${(e as Error).message}`);
      continue;
    }
    const n = item.promptIds.length + item.responseIds.length;
    if (batchTokens + n > budget) flush();
    batch.push(item);
    batchTokens += n;
  }
  flush();
  return { scored, bad };
}

export async function run(argv: string[]): Promise<number> {
  const c = resolveCommand(scoreSpec, "score", argv);
  if (c === null) {
    process.stdout.write(scoreSpec.help(USAGE));
    return 0;
  }
  const loaded = loadHfModel(c.model.model!, { precision: c.model.precision });
  for (const w of loaded.warnings) process.stderr.write(`aha score: warning: ${w}\n`);
  if (c.model.adapter !== null) loadPeftAdapter(c.model.adapter, loaded.model);

  const inputName = c.io.input!;
  const stream = inputName === "-" ? process.stdin : createReadStream(inputName);
  const out = c.io.output === null ? null : new AtomicFile(c.io.output);
  let buffered: string[] = [];
  const write = (l: string): void => {
    if (out === null) process.stdout.write(l + "\n");
    else {
      buffered.push(l);
      if (buffered.length >= 256) {
        out.write(buffered.join("\n") + "\n");
        buffered = [];
      }
    }
  };
  let result: { scored: number; bad: number };
  try {
    result = await scoreLines({
      model: loaded.model, tokenizer: loaded.tokenizer, lines: streamJsonlLines(stream), write, inputName, batchTokens: c.io.batchTokens,
      error: (m) => process.stderr.write(`aha score: ${m}\n`),
    });
  } catch (e) {
    out?.abort();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EISDIR" || code === "EACCES") throw new UserError(`${inputName}: cannot read (${code})`);
    throw e;
  }
  if (out !== null) {
    if (buffered.length > 0) out.write(buffered.join("\n") + "\n");
    out.commit();
  }
  if (result.bad > 0) {
    process.stderr.write(`aha score: ${result.bad} bad line(s) skipped, ${result.scored} scored\n`);
    return 1;
  }
  return 0;
}
