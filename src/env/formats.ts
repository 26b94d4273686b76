/**
 * Tool-call formats: how a call is written in a model turn and how its result comes back.
 *
 * - `tags` (Search-R1, ToRL): `<calculator>1234*567</calculator>` → `<result>699678</result>`,
 *   `<search>query</search>` → `<information>…</information>`, `<python>code</python>` →
 *   `<output>…</output>`. The turn ends at the tool's closing tag (one token, when the tokenizer has
 *   it as a special token). The text between the tags is the tool's `inputKey` argument.
 * - `chat` (Qwen/Hermes): `<tool_call>{"name": "calculator", "arguments": {"expression": "…"}}</tool_call>`;
 *   the result is rendered by the model's chat template as a message in the `tool` role (what follows
 *   the assistant's text in the template's rendering: Qwen's `<|im_end|>\n<|im_start|>user\n
 *   <tool_response>\n…\n</tool_response><|im_end|>\n<|im_start|>assistant\n`). The prompt lists the
 *   tools through the template's `tools` variable.
 *
 * Parsing is bounded (`MAX_CALL_CHARS`; JSON.parse of at most that much) and never throws: a malformed
 * call or an unknown tool gives an error that goes back to the model as the observation.
 */
import type { ChatTemplate } from "../formats/chat-template.js";
import type { Tool, ToolResult } from "./types.js";

export type ToolFormatName = "tags" | "chat";
export const TOOL_FORMATS: readonly ToolFormatName[] = ["tags", "chat"];

/** Longest call (the text a parser looks at) in characters. */
export const MAX_CALL_CHARS = 64 * 1024;

/** A call read from a turn: the tool and its arguments, or why it could not be read. */
export type ParsedCall = { name: string; input: Record<string, unknown>; error?: undefined } | { name: string; input: Record<string, unknown>; error: string };

export interface CallFormat {
  readonly name: ToolFormatName;
  /** Strings that end a turn with a call. */
  turnEnd(tools: readonly Tool[]): string[];
  /** The call a turn ends with (the turn's text up to and including its end marker). */
  parse(text: string, tools: ReadonlyMap<string, Tool>): ParsedCall;
  /** The observation text of one result (`tool` null: an unknown tool). */
  render(tool: Tool | null, result: ToolResult): string;
  /** Chat-template variables for the prompt (the `tools` list), or {}. */
  templateVars(tools: readonly Tool[]): Record<string, unknown>;
  /** A line for the prompt saying how to call the tools. */
  instructions(tools: readonly Tool[]): string;
}

// ***** plain tags *****

export const tagFormat: CallFormat = {
  name: "tags",
  turnEnd: (tools) => tools.map((t) => `</${t.name}>`),
  parse(text, tools) {
    // The turn ends at the first closing tag of a tool; the call opens at the last opening tag before it.
    let best: { tool: Tool; at: number } | null = null;
    for (const tool of tools.values()) {
      const at = text.indexOf(`</${tool.name}>`);
      if (at >= 0 && (best === null || at < best.at)) best = { tool, at };
    }
    if (!best) return { name: "", input: {}, error: "no tool call in the turn" };
    const { tool, at } = best;
    const open = `<${tool.name}>`;
    const start = text.lastIndexOf(open, at);
    if (start < 0) return { name: tool.name, input: {}, error: `</${tool.name}> without <${tool.name}>` };
    const body = text.slice(start + open.length, at);
    if (body.length > MAX_CALL_CHARS) return { name: tool.name, input: {}, error: `the call is longer than ${MAX_CALL_CHARS} characters` };
    return { name: tool.name, input: { [tool.inputKey]: body } };
  },
  render: (tool, r) => {
    const tag = tool?.resultTag ?? "result";
    return `<${tag}>${r.text}</${tag}>`;
  },
  templateVars: () => ({}),
  instructions: (tools) =>
    `You can use tools: ${tools.map((t) => `<${t.name}>${t.inputKey}</${t.name}> (${t.description}) answers <${t.resultTag}>…</${t.resultTag}>`).join("; ")}.`,
};

// ***** the chat template's tool calls (Qwen / Hermes) *****

const OPEN = "<tool_call>";
const CLOSE = "</tool_call>";

/** Reads `{"name": …, "arguments": {…}}` (arguments may also be a JSON string of an object, as some models write). */
export function parseToolCallJson(body: string, tools: ReadonlyMap<string, Tool>): ParsedCall {
  if (body.length > MAX_CALL_CHARS) return { name: "", input: {}, error: `the call is longer than ${MAX_CALL_CHARS} characters` };
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (e) {
    return { name: "", input: {}, error: `the tool call is not valid JSON (${(e as Error).message})` };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { name: "", input: {}, error: 'the tool call must be a JSON object {"name": …, "arguments": {…}}' };
  const o = v as Record<string, unknown>;
  if (typeof o["name"] !== "string") return { name: "", input: {}, error: 'the tool call has no "name" string' };
  const name = o["name"].slice(0, 100);
  let args: unknown = o["arguments"] ?? o["parameters"] ?? {};
  if (typeof args === "string") {
    try {
      args = JSON.parse(args);
    } catch {
      return { name, input: {}, error: '"arguments" is a string that is not a JSON object' };
    }
  }
  if (typeof args !== "object" || args === null || Array.isArray(args)) return { name, input: {}, error: '"arguments" must be a JSON object' };
  if (!tools.has(name)) return { name, input: args as Record<string, unknown>, error: `unknown tool "${name}" (tools: ${[...tools.keys()].join(", ")})` };
  return { name, input: args as Record<string, unknown> };
}

/**
 * The chat format. `toolMessage` renders one result as the text that follows the assistant's turn
 * (`chatToolMessage` makes it from the model's chat template).
 */
export function chatFormat(toolMessage: (content: string) => string): CallFormat {
  return {
    name: "chat",
    turnEnd: () => [CLOSE],
    parse(text, tools) {
      const end = text.indexOf(CLOSE);
      if (end < 0) return { name: "", input: {}, error: "no tool call in the turn" };
      const start = text.lastIndexOf(OPEN, end);
      if (start < 0) return { name: "", input: {}, error: `${CLOSE} without ${OPEN}` };
      return parseToolCallJson(text.slice(start + OPEN.length, end).trim(), tools);
    },
    render: (_tool, r) => toolMessage(r.text),
    templateVars: (tools) => ({
      tools: tools.map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: t.parameters } })),
    }),
    instructions: () => `Call a tool with ${OPEN}{"name": …, "arguments": {…}}${CLOSE}.`,
  };
}

/**
 * The text a chat template puts after an assistant turn for one tool message and the next assistant
 * header: render [user, assistant(MARK), tool(content)] with the generation prompt and take what follows
 * MARK. (Checked against the real Qwen3 template in test/env/formats.test.ts.)
 */
export function chatToolMessage(template: ChatTemplate, extra: Record<string, unknown> = {}): (content: string) => string {
  const mark = "\u0000AHA_ASSISTANT_TURN\u0000";
  const probe = template.render(
    [
      { role: "user", content: "?" },
      { role: "assistant", content: mark },
      { role: "tool", content: "\u0000AHA_TOOL\u0000" },
    ],
    { addGenerationPrompt: true, extra },
  );
  const at = probe.indexOf(mark);
  const slot = probe.indexOf("\u0000AHA_TOOL\u0000");
  if (at < 0 || slot < at) {
    return (content) => `\n<tool_response>\n${content}\n</tool_response>\n`;
  }
  const before = probe.slice(at + mark.length, slot);
  const after = probe.slice(slot + "\u0000AHA_TOOL\u0000".length);
  return (content) => before + content + after;
}

export function callFormat(name: ToolFormatName, template: ChatTemplate | null, extra: Record<string, unknown> = {}): CallFormat {
  if (name === "tags") return tagFormat;
  if (!template) return chatFormat((content) => `\n<tool_response>\n${content}\n</tool_response>\n`);
  return chatFormat(chatToolMessage(template, extra));
}
