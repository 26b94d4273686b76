/**
 * Chat templates, rendered by @huggingface/jinja (the Jinja implementation written for HF chat templates),
 * with the variables transformers' `apply_chat_template` provides: messages, add_generation_prompt, the
 * special tokens (bos_token, eos_token, ...), plus any extra keyword (e.g. Qwen3's enable_thinking).
 * `raise_exception` and `strftime_now` are built into the library. Tools are not passed (absent).
 *
 * Pinned against Python Jinja2 in test/formats/chat-template.test.ts.
 */
import { Template } from "@huggingface/jinja";
import { UserError } from "../errors.js";
import type { ChatTemplateSource, HfTokenizer } from "./tokenizer.js";

export interface ChatMessage {
  role: string;
  content: string;
}

export interface RenderOptions {
  /** Append the header that starts the assistant's turn. Default true (we render prompts to complete). */
  addGenerationPrompt?: boolean;
  /** Extra template variables, e.g. { enable_thinking: false }. */
  extra?: Record<string, unknown>;
}

/** Picks one template out of a folder's chat_template field (a list holds named ones; "default" is HF's default). */
export function selectTemplate(source: ChatTemplateSource, name?: string): string {
  if (typeof source === "string") {
    if (name !== undefined && name !== "default") {
      throw new UserError(`chat template "${name}" not found: this tokenizer has a single (default) template`);
    }
    return source;
  }
  const want = name ?? "default";
  const hit = source.find((t) => t.name === want);
  if (hit) return hit.template;
  if (name === undefined && source.length === 1 && source[0]) return source[0].template;
  throw new UserError(`chat template "${want}" not found; this tokenizer has: ${source.map((t) => t.name).join(", ")}`);
}

export class ChatTemplate {
  private readonly template: Template;
  constructor(
    readonly source: string,
    private readonly specialTokens: Record<string, string> = {},
  ) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new UserError(`chat template does not parse: ${(e as Error).message}`);
    }
  }

  /** The chat template of a tokenizer's folder; a clear error when it has none. */
  static fromTokenizer(tok: HfTokenizer, name?: string): ChatTemplate {
    if (tok.chatTemplate === null) {
      throw new UserError(
        "this tokenizer has no chat template (tokenizer_config.json has no chat_template and there is no chat_template.jinja)",
        "use a plain prompt (--prompt) instead of a chat, or add a chat template to the model folder",
        "AHA_NO_CHAT_TEMPLATE",
      );
    }
    return new ChatTemplate(selectTemplate(tok.chatTemplate, name), tok.specialTokenMap());
  }

  render(messages: readonly ChatMessage[], opts: RenderOptions = {}): string {
    const vars: Record<string, unknown> = {
      ...this.specialTokens,
      ...opts.extra,
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: opts.addGenerationPrompt ?? true,
    };
    // A special token the config does not set is left undefined (renders as ""), as in transformers.
    try {
      return this.template.render(vars);
    } catch (e) {
      throw new UserError(`chat template failed: ${(e as Error).message}`);
    }
  }
}
