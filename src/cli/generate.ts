/**
 * `aha generate --model DIR [--adapter DIR] (--prompt TEXT | --chat TEXT)`: streams a completion to the
 * terminal with the KV-cache sampler (src/model/sample.ts).
 *
 * --prompt TEXT is completed as it is (tokenized with the tokenizer's own special tokens, e.g. a BOS);
 * --chat TEXT is one user message rendered with the folder's chat template (add_generation_prompt).
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
import { parseArgs } from "node:util";
import { UserError } from "../errors.js";
import { ChatTemplate, type ChatMessage } from "../formats/chat-template.js";
import { loadHfModel, type GenerationDefaults, type LoadedHfModel } from "../formats/hf.js";
import { loadPeftAdapter } from "../formats/peft.js";
import { generateStream, type SampleOutput } from "../model/sample.js";
import { parsePrecision } from "./flags.js";

export const summary = "stream a completion from a model folder (optionally with a LoRA adapter)";

const HELP = `Usage: aha generate --model DIR [--adapter DIR] (--prompt TEXT | --chat TEXT) [options]

  --model DIR            Hugging Face model folder (config.json, safetensors, tokenizer files)
  --adapter DIR          PEFT LoRA adapter folder
  --prompt TEXT          raw text to continue
  --chat TEXT            a user message, rendered with the model's chat template
  --system TEXT          a system message before --chat
  --no-thinking          pass enable_thinking=false to the chat template (Qwen3)
  --temperature T        0 = greedy (default: from generation_config.json, greedy if it does not sample)
  --top-p P              nucleus sampling (default: generation_config.json, else 1)
  --top-k K              keep the K most likely tokens, 0 = off (default: generation_config.json, else 50)
  --max-new-tokens N     default: generation_config.json's max_new_tokens, else 256
  --seed N               sampling seed (default 0)
  --stop TEXT            stop when this text appears (repeatable); it is not printed
  --precision P          fp32 (default) or bf16 matrix products
  -h, --help             this help
`;

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
    const ids = tok.encode(input.prompt, { addSpecialTokens: true });
    if (ids.length === 0) throw new UserError("the prompt is empty: there is nothing to continue");
    return ids;
  }
  const messages: ChatMessage[] = [];
  if (input.system !== undefined) messages.push({ role: "system", content: input.system });
  messages.push({ role: "user", content: input.chat! });
  const text = ChatTemplate.fromTokenizer(tok).render(messages, { addGenerationPrompt: true, extra: input.templateVars ?? {} });
  return tok.encode(text, { addSpecialTokens: false }); // the template wrote its special tokens itself
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

function num(v: string | undefined, flag: string, check: (x: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || !check(x)) throw new UserError(`--${flag} must be ${what}, got "${v}"`);
  return x;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      adapter: { type: "string" },
      prompt: { type: "string" },
      chat: { type: "string" },
      system: { type: "string" },
      "no-thinking": { type: "boolean" },
      temperature: { type: "string" },
      "top-p": { type: "string" },
      "top-k": { type: "string" },
      "max-new-tokens": { type: "string" },
      seed: { type: "string" },
      stop: { type: "string", multiple: true },
      precision: { type: "string", default: "fp32" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!values.model) throw new UserError("--model DIR is required", "aha generate --help");
  const precision = parsePrecision(values.precision);
  const sampling: SamplingFlags = {};
  const t = num(values.temperature, "temperature", (x) => x >= 0, "a number >= 0");
  if (t !== undefined) sampling.temperature = t;
  const p = num(values["top-p"], "top-p", (x) => x > 0 && x <= 1, "in (0, 1]");
  if (p !== undefined) sampling.topP = p;
  const k = num(values["top-k"], "top-k", (x) => Number.isInteger(x) && x >= 0, "an integer >= 0");
  if (k !== undefined) sampling.topK = k;
  const m = num(values["max-new-tokens"], "max-new-tokens", (x) => Number.isInteger(x) && x > 0, "a positive integer");
  if (m !== undefined) sampling.maxNewTokens = m;
  const seed = num(values.seed, "seed", (x) => Number.isSafeInteger(x) && x >= 0, "a non-negative integer") ?? 0;
  const input: GenerateInput = { sampling, seed, stop: values.stop ?? [] };
  if (values.prompt !== undefined) input.prompt = values.prompt;
  if (values.chat !== undefined) input.chat = values.chat;
  if (values.system !== undefined) input.system = values.system;
  if (values["no-thinking"]) input.templateVars = { enable_thinking: false };
  if ((input.prompt === undefined) === (input.chat === undefined)) throw new UserError("give exactly one of --prompt TEXT or --chat TEXT", "aha generate --help");

  const loaded = loadHfModel(values.model, { precision, tokenizer: "required" });
  for (const w of loaded.warnings) process.stderr.write(`aha generate: warning: ${w}\n`);
  if (values.adapter) loadPeftAdapter(values.adapter, loaded.model);
  const t0 = performance.now();
  const res = await generateText(loaded, input, (s) => process.stdout.write(s));
  const secs = (performance.now() - t0) / 1000;
  process.stdout.write("\n");
  process.stderr.write(`[${res.tokens.length} tokens, ${(res.tokens.length / Math.max(secs, 1e-9)).toFixed(1)} tok/s, finish: ${res.finishReason}]\n`);
  return 0;
}
