/**
 * Hugging Face tokenizers from their parsed files (tokenizer.json + tokenizer_config.json + optional
 * chat_template.jinja), run by @huggingface/tokenizers. No Node APIs: a browser builds one from fetched
 * JSON (src/play/). ./tokenizer.ts reads the files of a model folder and is what the rest of aha uses
 * (`HfTokenizer`, this class plus `fromFolder`); its file comment says what we add on top of the library.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { UserError } from "../errors.js";

/** A special token named in tokenizer_config.json, resolved to its id. */
export interface SpecialToken {
  text: string;
  id: number;
}

/** A chat template as found in a model folder: one source, or several named ones ("default", "tool_use"). */
export type ChatTemplateSource = string | { name: string; template: string }[];

export interface TokenizerFiles {
  /** Parsed tokenizer.json. */
  tokenizerJson: Record<string, unknown>;
  /** Parsed tokenizer_config.json ({} when the folder has none). */
  tokenizerConfig: Record<string, unknown>;
  /** chat_template.jinja's text when the folder has one (it wins over tokenizer_config's chat_template). */
  chatTemplateFile?: string;
}

export interface EncodeOptions {
  /** Let the tokenizer's post-processor add its special tokens (e.g. Llama 3's BOS). Default true, as in HF. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (added tokens marked `special`). Default false, as in HF. */
  skipSpecialTokens?: boolean;
  /** Override tokenizer_config.json's clean_up_tokenization_spaces (" ." → "."). Default: the config's. */
  cleanUpTokenizationSpaces?: boolean;
}

/** tokenizer_config.json writes a special token as "text", {"content": "text", ...} or null. */
function specialText(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (typeof v === "object" && v !== null && typeof (v as { content?: unknown }).content === "string") {
    return (v as { content: string }).content;
  }
  return null;
}

export class HfTokenizerCore {
  readonly files: TokenizerFiles;
  private readonly tok: Tokenizer;
  /** Vocabulary size including added tokens (max id + 1). */
  readonly vocabSize: number;
  readonly bos: SpecialToken | null;
  readonly eos: SpecialToken | null;
  readonly pad: SpecialToken | null;
  readonly unk: SpecialToken | null;
  /** Ids of all added tokens marked special (what skipSpecialTokens drops). */
  readonly specialIds: ReadonlySet<number>;
  /** The chat template(s) of the folder, if any. */
  readonly chatTemplate: ChatTemplateSource | null;

  constructor(files: TokenizerFiles, where = "tokenizer.json") {
    this.files = files;
    try {
      this.tok = new Tokenizer(files.tokenizerJson, files.tokenizerConfig);
    } catch (e) {
      throw new UserError(`${where}: the tokenizer library cannot build this tokenizer: ${(e as Error).message}`);
    }
    const vocab = this.tok.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    const special = new Set<number>();
    for (const [id, t] of this.tok.get_added_tokens_decoder()) if (t.special) special.add(id);
    this.specialIds = special;
    const cfg = files.tokenizerConfig;
    this.bos = this.resolveSpecial(cfg.bos_token, "bos_token", where);
    this.eos = this.resolveSpecial(cfg.eos_token, "eos_token", where);
    this.pad = this.resolveSpecial(cfg.pad_token, "pad_token", where);
    this.unk = this.resolveSpecial(cfg.unk_token, "unk_token", where);
    this.chatTemplate = files.chatTemplateFile ?? parseChatTemplateField(cfg.chat_template, where);
  }

  private resolveSpecial(v: unknown, field: string, where: string): SpecialToken | null {
    const text = specialText(v);
    if (text === null) return null;
    const id = this.tok.token_to_id(text);
    if (id === undefined) {
      throw new UserError(`${where}: tokenizer_config.json's ${field} "${text}" is not in the vocabulary`);
    }
    return { text, id };
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    if (ids.length === 0) return ""; // the library rejects an empty list
    const o: { skip_special_tokens: boolean; clean_up_tokenization_spaces?: boolean } = { skip_special_tokens: opts.skipSpecialTokens ?? false };
    if (opts.cleanUpTokenizationSpaces !== undefined) o.clean_up_tokenization_spaces = opts.cleanUpTokenizationSpaces;
    return this.tok.decode(ids as number[], o);
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  /** The special tokens by their tokenizer_config.json names, as chat templates expect them. */
  specialTokenMap(): Record<string, string> {
    const m: Record<string, string> = {};
    const cfg = this.files.tokenizerConfig;
    for (const k of ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]) {
      const t = specialText(cfg[k]);
      if (t !== null) m[k] = t;
    }
    return m;
  }

  /**
   * A decoder for a stream of generated ids: `push(id)` returns the new complete text (maybe "").
   * Space clean-up is off (it rewrites text across token boundaries, so a window's text would stop being
   * a prefix of the next one), as in text-generation-inference's streaming.
   */
  streamDecoder(opts: DecodeOptions = {}): StreamDecoder {
    return new StreamDecoder((ids) => this.decode(ids, { cleanUpTokenizationSpaces: false, ...opts }));
  }
}

function parseChatTemplateField(v: unknown, where: string): ChatTemplateSource | null {
  if (v === undefined || v === null) return null;
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    const out: { name: string; template: string }[] = [];
    for (const [i, e] of v.entries()) {
      const o = e as { name?: unknown; template?: unknown };
      if (typeof o !== "object" || o === null || typeof o.name !== "string" || typeof o.template !== "string") {
        throw new UserError(`${where}: tokenizer_config.json chat_template[${i}] must be {"name": string, "template": string}`);
      }
      out.push({ name: o.name, template: o.template });
    }
    return out;
  }
  throw new UserError(`${where}: tokenizer_config.json chat_template must be a string or a list of named templates`);
}

/**
 * Incremental detokenization that is safe for multi-byte characters and for decoders that strip a leading
 * space (the text-generation-inference scheme): decode a small window of recent ids twice — without and
 * with the new ids — and emit the difference only once it does not end in U+FFFD (an incomplete UTF-8
 * sequence). `flush()` returns whatever is still held back at the end of the stream.
 */
export class StreamDecoder {
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;
  constructor(private readonly decodeFn: (ids: number[]) => string) {}

  push(id: number): string {
    this.ids.push(id);
    const prefix = this.decodeFn(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = this.decodeFn(this.ids.slice(this.prefixOffset));
    if (full.length > prefix.length && !full.endsWith("\uFFFD") && full.startsWith(prefix)) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return full.slice(prefix.length);
    }
    return "";
  }

  flush(): string {
    if (this.readOffset >= this.ids.length) return "";
    const prefix = this.decodeFn(this.ids.slice(this.prefixOffset, this.readOffset));
    const full = this.decodeFn(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.ids.length;
    return full.startsWith(prefix) ? full.slice(prefix.length) : full;
  }
}
