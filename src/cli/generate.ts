/**
 * `aha generate --model DIR [--adapter DIR] (--prompt TEXT | --chat TEXT)`: streams a completion to the
 * terminal with the KV-cache sampler (src/model/sample.ts).
 *
 * --prompt TEXT is completed as it is, encoded as training encodes a plain prompt (encodePrompt: the
 * tokenizer's special tokens, and a BOS when tokenizer_config.json has add_bos_token: true but the
 * post-processor adds none); --chat TEXT is one user message rendered with the folder's chat template
 * (add_generation_prompt), encoded without special tokens (the template wrote them), as training does.
 * Flags, --config FILE.yaml and --help come from one schema (generateSpec; src/util/config.ts).
 *
 * Sampling defaults follow transformers' reading of generation_config.json: do_sample true → sample with
 * its temperature (default 1), top_p (default 1) and top_k (default 50); do_sample absent or false →
 * greedy. Flags override; --temperature 0 is greedy. max_new_tokens defaults to the file's value or 256.
 * Generation stops at any eos id (generation_config.json / config.json / the tokenizer's eos_token), at a
 * --stop string (the stop string itself is not printed), or at --max-new-tokens.
 *
 * The stream never prints half a UTF-8 character (StreamDecoder) nor the start of a possible stop string
 * that might still complete (held back until it cannot).
 */
import { z } from "zod";
import { UserError } from "../errors.js";
import { ChatTemplate, type ChatMessage } from "../formats/chat-template.js";
import { loadHfModel, type GenerationDefaults, type LoadedHfModel } from "../formats/hf.js";
import { loadPeftAdapter } from "../formats/peft.js";
import { generateStream, type SampleOutput } from "../model/sample.js";
import { encodePrompt } from "../rollout/folder.js";
import { defineConfig, field, setting } from "../util/config.js";
import { modelFolderSection, resolveCommand } from "./flags.js";

export const summary = "stream a completion from a model folder (optionally with a LoRA adapter)";

const promptSchema = z.strictObject({
  prompt: setting(z.string().nullable(), null, "Raw text to continue, encoded as aha train encodes a plain prompt (the tokenizer's special tokens, plus a BOS when tokenizer_config.json has add_bos_token: true)."),
  chat: setting(z.string().nullable(), null, "A user message, rendered with the model's chat template (with the generation prompt)."),
  system: setting(z.string().nullable(), null, "A system message before --chat."),
  thinking: setting(z.boolean(), true, "Leave the chat template's thinking as it is; --no-thinking passes enable_thinking=false (Qwen3)."),
  stop: field(z.array(z.string().min(1)), [], { description: "Stop when this text appears; it is not printed.", repeatable: true }),
});

const samplingSchema = z.strictObject({
  temperature: setting(z.number().min(0).nullable(), null, "0 = greedy; none = generation_config.json's temperature if it samples (do_sample), else greedy."),
  topP: setting(z.number().gt(0).max(1).nullable(), null, "Nucleus sampling; none = generation_config.json's top_p if it samples, else 1."),
  topK: setting(z.int().min(0).nullable(), null, "Keep the K most likely tokens, 0 = off; none = generation_config.json's top_k if it samples, else 50 (0 when greedy)."),
  maxNewTokens: setting(z.int().min(1).nullable(), null, "Most tokens to generate; none = generation_config.json's max_new_tokens, else 256."),
  seed: setting(z.int().min(0), 0, "Sampling seed."),
});

type PromptConfig = z.output<typeof promptSchema>;

function checkPrompt(c: PromptConfig): string[] {
  const out: string[] = [];
  if ((c.prompt === null) === (c.chat === null)) out.push("give exactly one of --prompt TEXT or --chat TEXT");
  if (c.system !== null && c.chat === null) out.push("--system goes with --chat, not --prompt");
  return out;
}

export const generateSpec = defineConfig({
  model: modelFolderSection,
  prompt: { title: "Prompt", prefix: "", schema: promptSchema, check: checkPrompt },
  sampling: { title: "Sampling (transformers' reading of generation_config.json where none)", prefix: "", schema: samplingSchema },
});

const USAGE = `Usage: aha generate --model DIR [--adapter DIR] (--prompt TEXT | --chat TEXT) [--config FILE.yaml] [options]

Streams the completion to stdout and a line of statistics to stderr. Generation stops at an eos id
(generation_config.json, config.json, the tokenizer's eos_token), at a --stop string, or at
--max-new-tokens.`;

export interface SamplingFlags {
  temperature?: number;
  topP?: number;
  topK?: number;
  maxNewTokens?: number;
}

export interface ResolvedSampling {
  temperature: number;
  topP: number;
  topK: number;
  maxNewTokens: number;
}

/** Flags over generation_config.json over transformers' defaults (see the file comment). */
export function resolveSampling(gen: GenerationDefaults, flags: SamplingFlags): ResolvedSampling {
  const sampling = gen.doSample === true;
  return {
    temperature: flags.temperature ?? (sampling ? gen.temperature ?? 1 : 0),
    topP: flags.topP ?? (sampling ? gen.topP ?? 1 : 1),
    topK: flags.topK ?? (sampling ? gen.topK ?? 50 : 0),
    maxNewTokens: flags.maxNewTokens ?? gen.maxNewTokens ?? 256,
  };
}

/**
 * Holds back text that could be the start of a stop string. `push` returns what is safe to print and
 * whether a stop string was hit (then the text before it is returned and the rest is dropped).
 */
export class StopStringFilter {
  private pending = "";
  private readonly maxLen: number;
  constructor(private readonly stops: readonly string[]) {
    this.maxLen = Math.max(0, ...stops.map((s) => s.length));
  }

  push(delta: string): { text: string; stopped: boolean } {
    if (this.stops.length === 0) return { text: delta, stopped: false };
    this.pending += delta;
    let cut = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      const text = this.pending.slice(0, cut);
      this.pending = "";
      return { text, stopped: true };
    }
    // keep the longest suffix that is a prefix of some stop string
    let keep = 0;
    for (let k = Math.min(this.maxLen - 1, this.pending.length); k > 0; k--) {
      const tail = this.pending.slice(this.pending.length - k);
      if (this.stops.some((s) => s.startsWith(tail))) {
        keep = k;
        break;
      }
    }
    const text = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return { text, stopped: false };
  }

  flush(): string {
    const t = this.pending;
    this.pending = "";
    return t;
  }
}

export interface GenerateInput {
  prompt?: string;
  chat?: string;
  system?: string;
  /** Extra chat-template variables (e.g. enable_thinking: false). */
  templateVars?: Record<string, unknown>;
  sampling: SamplingFlags;
  seed?: number;
  stop?: string[];
}

export interface GenerateResult {
  promptIds: number[];
  /** Generated ids (an eos id that ended generation included, as the sampler reports them). */
  tokens: number[];
  /** What was printed. */
  text: string;
  finishReason: "stop" | "length" | "stop_string";
}

/** Builds the prompt ids for --prompt or --chat. */
export function promptIds(loaded: LoadedHfModel, input: GenerateInput): number[] {
  const tok = loaded.tokenizer;
  if (tok === null) throw new UserError(`${loaded.dir}: aha generate needs tokenizer.json in the model folder`);
  if ((input.prompt === undefined) === (input.chat === undefined)) throw new UserError("give exactly one of --prompt TEXT or --chat TEXT");
  if (input.prompt !== undefined) {
    if (input.system !== undefined) throw new UserError("--system goes with --chat, not --prompt");
    const ids = encodePrompt(tok, input.prompt, true); // as training encodes a plain prompt (BOS as the tokenizer asks)
    if (ids.length === 0) throw new UserError("the prompt is empty: there is nothing to continue");
    return ids;
  }
  const messages: ChatMessage[] = [];
  if (input.system !== undefined) messages.push({ role: "system", content: input.system });
  messages.push({ role: "user", content: input.chat! });
  const text = ChatTemplate.fromTokenizer(tok).render(messages, { addGenerationPrompt: true, extra: input.templateVars ?? {} });
  return encodePrompt(tok, text, false); // the template wrote its special tokens itself
}

/** Generates one completion and streams the printable text to `write`. */
export async function generateText(loaded: LoadedHfModel, input: GenerateInput, write: (s: string) => void): Promise<GenerateResult> {
  const ids = promptIds(loaded, input);
  const tok = loaded.tokenizer!;
  const s = resolveSampling(loaded.generation, input.sampling);
  const stopIds = new Set(loaded.generation.eosTokenIds);
  if (tok.eos) stopIds.add(tok.eos.id);
  const V = loaded.config.vocabSize;
  for (const id of ids) if (id >= V) throw new UserError(`the prompt has token id ${id}, outside the model's vocabulary (${V})`);
  const decoder = tok.streamDecoder({ skipSpecialTokens: true });
  const filter = new StopStringFilter(input.stop ?? []);
  const tokens: number[] = [];
  let text = "";
  const emit = (t: string): void => {
    if (t.length === 0) return;
    text += t;
    write(t);
  };
  let finish: GenerateResult["finishReason"] = "length";
  let out: SampleOutput | null = null;
  const stream = generateStream(loaded.model, [{
    promptIds: ids, maxNewTokens: s.maxNewTokens, temperature: s.temperature, topP: s.topP, topK: s.topK,
    stopTokenIds: [...stopIds], seed: input.seed ?? 0,
  }], { slots: 1, maxLen: ids.length + s.maxNewTokens });
  for await (const ev of stream) {
    if (ev.type === "finish") {
      out = ev.output;
      continue;
    }
    if (ev.type !== "token") continue; // no pauses: this request has no pauseWhen
    tokens.push(ev.token);
    if (stopIds.has(ev.token)) continue; // the eos token is not printed
    const r = filter.push(decoder.push(ev.token));
    emit(r.text);
    if (r.stopped) {
      finish = "stop_string";
      break;
    }
  }
  if (finish !== "stop_string") {
    const r = filter.push(decoder.flush());
    emit(r.text);
    if (r.stopped) finish = "stop_string";
    else {
      emit(filter.flush());
      finish = out?.finishReason ?? "length";
    }
  }
  return { promptIds: ids, tokens, text, finishReason: finish };
}

export async function run(argv: string[]): Promise<number> {
  const c = resolveCommand(generateSpec, "generate", argv);
  if (c === null) {
    process.stdout.write(generateSpec.help(USAGE));
    return 0;
  }
  const sampling: SamplingFlags = {};
  if (c.sampling.temperature !== null) sampling.temperature = c.sampling.temperature;
  if (c.sampling.topP !== null) sampling.topP = c.sampling.topP;
  if (c.sampling.topK !== null) sampling.topK = c.sampling.topK;
  if (c.sampling.maxNewTokens !== null) sampling.maxNewTokens = c.sampling.maxNewTokens;
  const input: GenerateInput = { sampling, seed: c.sampling.seed, stop: c.prompt.stop };
  if (c.prompt.prompt !== null) input.prompt = c.prompt.prompt;
  if (c.prompt.chat !== null) input.chat = c.prompt.chat;
  if (c.prompt.system !== null) input.system = c.prompt.system;
  if (!c.prompt.thinking) input.templateVars = { enable_thinking: false };

  const loaded = loadHfModel(c.model.model!, { precision: c.model.precision, tokenizer: "required" });
  for (const w of loaded.warnings) process.stderr.write(`aha generate: warning: ${w}\n`);
  if (c.model.adapter !== null) loadPeftAdapter(c.model.adapter, loaded.model);
  const t0 = performance.now();
  const res = await generateText(loaded, input, (s) => process.stdout.write(s));
  const secs = (performance.now() - t0) / 1000;
  process.stdout.write("\n");
  process.stderr.write(`[${res.tokens.length} tokens, ${(res.tokens.length / Math.max(secs, 1e-9)).toFixed(1)} tok/s, finish: ${res.finishReason}]\n`);
  return 0;
}
