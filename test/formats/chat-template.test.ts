/**
 * Chat templates rendered by @huggingface/jinja through ChatTemplate.
 *
 * EXPECTED VALUES: fixtures/hf/tokenizer_qwen3.json, rendered by Python Jinja2 3.1 set up as transformers'
 * apply_chat_template sets it up (trim_blocks, lstrip_blocks, loopcontrols, tojson, raise_exception), and the
 * token ids of the rendered text from the Python reference BPE (scripts/make_hf_fixtures.py tokenizer).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ChatTemplate, selectTemplate, type ChatMessage } from "../../src/formats/chat-template.js";
import { HfTokenizer } from "../../src/formats/tokenizer.js";
import { loadQwen3 } from "./helpers.js";

interface Chat {
  name: string;
  messages: ChatMessage[];
  add_generation_prompt: boolean;
  enable_thinking?: boolean;
  rendered: string;
  ids?: number[];
}
interface Fixture {
  chats: Chat[];
  list_templates: { name: string; template: string }[];
  list_context: Record<string, string>;
  list_chats: Chat[];
}
const fx = JSON.parse(readFileSync("fixtures/hf/tokenizer_qwen3.json", "utf8")) as Fixture;

describe("Qwen3's chat template vs Python Jinja2", () => {
  const tok = loadQwen3();
  const tmpl = ChatTemplate.fromTokenizer(tok);
  for (const c of fx.chats) {
    it(`renders and encodes: ${c.name}`, () => {
      const extra = c.enable_thinking === undefined ? {} : { enable_thinking: c.enable_thinking };
      const text = tmpl.render(c.messages, { addGenerationPrompt: c.add_generation_prompt, extra });
      expect(text).toBe(c.rendered);
      expect(tok.encode(text, { addSpecialTokens: false })).toEqual(c.ids);
    });
  }
});

describe("a list of named templates (tokenizer_config.json's other form)", () => {
  const tmpl = new ChatTemplate(selectTemplate(fx.list_templates), fx.list_context);
  for (const c of fx.list_chats) {
    it(`renders: ${c.name}`, () => {
      expect(tmpl.render(c.messages, { addGenerationPrompt: c.add_generation_prompt })).toBe(c.rendered);
    });
  }

  it("selects by name and names the choices when the name is unknown", () => {
    expect(selectTemplate(fx.list_templates, "tool_use")).toBe("TOOLS{{ messages | length }}");
    expect(() => selectTemplate(fx.list_templates, "nope")).toThrow(/"nope" not found; this tokenizer has: default, tool_use/);
  });

  it("raise_exception in a template becomes a user error with the template's message", () => {
    expect(() => tmpl.render([{ role: "robot", content: "x" }])).toThrow(/chat template failed: .*bad role robot/);
  });

  it("a folder's chat_template list is read from tokenizer_config.json", () => {
    const base = loadQwen3().files;
    const tok = new HfTokenizer({ ...base, tokenizerConfig: { ...base.tokenizerConfig, chat_template: fx.list_templates } });
    expect(tok.chatTemplate).toEqual(fx.list_templates);
  });

  it("chat_template.jinja wins over tokenizer_config.json", () => {
    const base = loadQwen3().files;
    const tok = new HfTokenizer({ ...base, chatTemplateFile: "{{ messages[0].content }}!" });
    expect(ChatTemplate.fromTokenizer(tok).render([{ role: "user", content: "x" }])).toBe("x!");
  });

  it("a tokenizer without a chat template gives a clear error", () => {
    const base = loadQwen3().files;
    const cfg = { ...base.tokenizerConfig };
    delete cfg.chat_template;
    const tok = new HfTokenizer({ tokenizerJson: base.tokenizerJson, tokenizerConfig: cfg });
    expect(() => ChatTemplate.fromTokenizer(tok)).toThrow(/has no chat template/);
  });
});
