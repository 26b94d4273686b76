/**
 * Prompt templates: r1-zero (REFERENCE.md, the Dr. GRPO code's text), chat (the model's own chat
 * template, given as a function by the caller: src/formats builds it from tokenizer_config.json),
 * none (the question as it is).
 */

export type TemplateName = "r1-zero" | "chat" | "none";
export const TEMPLATE_NAMES: readonly TemplateName[] = ["r1-zero", "chat", "none"];

export const R1_ZERO_TEMPLATE =
  "A conversation between User and Assistant. The User asks a question, and the Assistant solves it. " +
  "The Assistant first thinks about the reasoning process in the mind and then provides the User with the answer. " +
  "The reasoning process is enclosed within <think> </think> and answer is enclosed within <answer> </answer> tags, " +
  "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>.\nUser: {question}\nAssistant: <think>";

/** Renders the chat messages with the model's chat template, ending with the generation prompt. */
export type ChatRenderer = (messages: { role: "system" | "user" | "assistant"; content: string }[]) => string;

export interface Rendered {
  prompt: string;
  /** The tail of the prompt that is logically part of the response (for verifiers that check the format). */
  responsePrefix: string;
}

export interface TemplateOptions {
  chat?: ChatRenderer;
  /** System message for the chat template (optional). */
  system?: string;
}

export const TEMPLATES: Record<TemplateName, (question: string, o: TemplateOptions) => Rendered> = {
  "r1-zero": (question) => ({ prompt: R1_ZERO_TEMPLATE.replace("{question}", () => question), responsePrefix: "<think>" }),
  chat: (question, o) => {
    if (!o.chat) throw new Error("template 'chat' needs the model's chat template (a ChatRenderer)");
    const messages = [...(o.system ? [{ role: "system" as const, content: o.system }] : []), { role: "user" as const, content: question }];
    return { prompt: o.chat(messages), responsePrefix: "" };
  },
  none: (question) => ({ prompt: question, responsePrefix: "" }),
};

export function renderPrompt(template: TemplateName, question: string, o: TemplateOptions = {}): Rendered {
  return TEMPLATES[template](question, o);
}
