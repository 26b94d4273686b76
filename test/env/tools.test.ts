// The tools and their formats: the calculator (exact, never eval), the plain-tag and chat-template
// call parsers (malformed and unknown calls → an error observation), the chat format's tool message
// rendered by the real Qwen3 template, BM25 against hand-worked scores, the tool environment, loading
// tools and environments from modules.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { calculate, calculator, toLatex } from "../../src/env/calculator.js";
import { environmentFromConfig, loadEnvModule, loadToolModule, toolsSchema, toolsFromConfig } from "../../src/env/config.js";
import { callFormat, chatToolMessage, MAX_CALL_CHARS, parseToolCallJson, tagFormat } from "../../src/env/formats.js";
import { Bm25Index, readCorpus, searchTool, terms } from "../../src/env/search.js";
import { toolEnvironment } from "../../src/env/tools.js";
import type { ModelTurn, Tool, TurnContext } from "../../src/env/types.js";
import { UserError } from "../../src/errors.js";
import { ChatTemplate } from "../../src/formats/chat-template.js";
import { loadQwen3 } from "../formats/helpers.js";

const problem = { id: "p", question: "", answer: "", reference: null };
const ctx: TurnContext = { signal: new AbortController().signal, timeoutMs: 5000, maxOutputBytes: 10_000 };
const turn = (text: string, ended: ModelTurn["ended"] = "call"): ModelTurn => ({ text, tokenIds: [], ended, index: 0 });

describe("calculator", () => {
  it.each([
    ["1234*567", "699678"], // the demo's kind of problem
    ["1234 * 567", "699678"],
    ["1234×567", "699678"],
    ["(2+3)/4", "5/4"], // exact rationals, reduced
    ["6/4", "3/2"],
    ["7-10", "-3"],
    ["2^100", "1267650600228229401496703205376"], // not LaTeX's 2^1·00
    ["2**10", "1024"],
    ["2^(3+1)", "16"],
    ["2^3^2", "512"], // right-associative, as in Python: 2^(3^2)
    ["2^(2^3)", "256"],
    ["12345678901234567890*98765432109876543210", "1219326311370217952237463801111263526900"], // big integers exact
    ["sqrt(2)", "1.4142135623731"], // irrational: a decimal
  ])("%s = %s", (expr, want) => {
    const r = calculate(expr);
    expect(r.error).toBeUndefined();
    expect(r.text).toBe(want);
  });

  it.each([
    ["", "parse error"],
    ["1/0", "math error"],
    ["x+1", "math error"], // names are not evaluated (no eval, no variables)
    ["process.exit(1)", "parse error"],
    ["2^(2^(2^(2^10)))", "too large"], // the rationals' bit cap
    ["9^9^9", "too large"],
    ["1+".repeat(5000) + "1", "too long"],
  ])("%# → an error (%s), not a throw", (expr, why) => {
    const r = calculate(expr);
    expect(r.error).toBe(why);
    expect(r.text).toMatch(/^error: /);
  });

  it("toLatex braces exponents and maps **", () => {
    expect(toLatex("2^100+3**2^(1+1)")).toBe("2^{100}+3^{2^{(1+1)}}");
    expect(toLatex("(2^10)^2")).toBe("(2^{10})^{2}");
  });
});

describe("the plain-tag format", () => {
  const tools = new Map<string, Tool>([["calculator", calculator]]);
  it("reads the call the turn ends with and renders the result in its tag", () => {
    expect(tagFormat.parse("so <calculator>12*3</calculator>", tools)).toEqual({ name: "calculator", input: { expression: "12*3" } });
    // the last opening tag before the first closing one
    expect(tagFormat.parse("<calculator>x <calculator>1+1</calculator>", tools)).toEqual({ name: "calculator", input: { expression: "1+1" } });
    expect(tagFormat.render(calculator, { text: "36" })).toBe("<result>36</result>");
    expect(tagFormat.turnEnd([calculator])).toEqual(["</calculator>"]);
  });
  it("malformed calls give errors", () => {
    expect(tagFormat.parse("1+1</calculator>", tools).error).toBe("</calculator> without <calculator>");
    expect(tagFormat.parse(`<calculator>${"1".repeat(MAX_CALL_CHARS + 1)}</calculator>`, tools).error).toMatch(/longer than/);
    expect(tagFormat.parse("no call", tools).error).toBe("no tool call in the turn");
  });
});

describe("the chat-template format (<tool_call> JSON)", () => {
  const tools = new Map<string, Tool>([["calculator", calculator]]);
  it.each([
    ['{"name": "calculator", "arguments": {"expression": "1+2"}}', { name: "calculator", input: { expression: "1+2" } }],
    ['{"name": "calculator", "arguments": "{\\"expression\\": \\"1+2\\"}"}', { name: "calculator", input: { expression: "1+2" } }], // arguments as a JSON string
  ])("%s", (body, want) => expect(parseToolCallJson(body, tools)).toEqual(want));

  it.each([
    ['{"name": "calculator", "arguments": {', /not valid JSON/],
    ["[1, 2]", /must be a JSON object/],
    ['{"arguments": {}}', /no "name"/],
    ['{"name": "rm", "arguments": {}}', /unknown tool "rm" \(tools: calculator\)/],
    ['{"name": "calculator", "arguments": [1]}', /"arguments" must be a JSON object/],
  ])("%s → an error", (body, re) => expect(parseToolCallJson(body, tools).error).toMatch(re));

  it("the Qwen3 template renders the result in the tool role and lists the tools in the prompt", () => {
    const tpl = ChatTemplate.fromTokenizer(loadQwen3());
    // Qwen3's template: the assistant turn closes, the tool message goes in a user turn, the next assistant turn opens
    expect(chatToolMessage(tpl)("699678")).toBe("<|im_end|>\n<|im_start|>user\n<tool_response>\n699678\n</tool_response><|im_end|>\n<|im_start|>assistant\n");
    const fmt = callFormat("chat", tpl);
    const prompt = tpl.render([{ role: "user", content: "hi" }], { extra: fmt.templateVars([calculator]) });
    expect(prompt).toContain('"name": "calculator"');
    expect(fmt.parse('<tool_call>\n{"name": "calculator", "arguments": {"expression": "2*3"}}\n</tool_call>', tools)).toEqual({ name: "calculator", input: { expression: "2*3" } });
    // "</tool_call>" is one special token of Qwen3's tokenizer: the engine matches its id
    expect(loadQwen3().encode("</tool_call>", { addSpecialTokens: false })).toHaveLength(1);
  });
});

describe("search (BM25)", () => {
  const idx = new Bm25Index([
    { id: "1", title: "", text: "a b" },
    { id: "2", title: "", text: "a c c" },
    { id: "3", title: "", text: "d" },
  ]);
  it("scores match the hand-worked BM25 values (k1 1.2, b 0.75, Lucene idf)", () => {
    // N = 3, avgdl = (2 + 3 + 1) / 3 = 2
    // "c": df 1, idf = ln(1 + 2.5/1.5) = 0.980829; doc 2: tf 2, |d| 3: 2·2.2 / (2 + 1.2·(0.25 + 0.75·1.5)) = 4.4/3.65
    const c = idx.scores("c");
    expect(c[1]).toBeCloseTo(Math.log(1 + 2.5 / 1.5) * (4.4 / 3.65), 12);
    expect(c[0]).toBe(0);
    // "a": df 2, idf = ln(1.6); doc 1: 2.2 / (1 + 1.2·1) = 1; doc 2: 2.2 / (1 + 1.2·1.375) = 2.2/2.65
    const a = idx.scores("A a"); // the query term twice counts twice; case folded
    expect(a[0]).toBeCloseTo(2 * Math.log(1.6) * 1, 12);
    expect(a[1]).toBeCloseTo(2 * Math.log(1.6) * (2.2 / 2.65), 12);
    expect(idx.search("a c", 3).map((h) => h.doc.id)).toEqual(["2", "1"]);
    expect(terms("Ünïcode, 42-x")).toEqual(["ünïcode", "42", "x"]);
  });

  it("the shipped corpus answers, and bad corpora are named by file:line", async () => {
    const tool = searchTool(new Bm25Index(readCorpus("fixtures/env/corpus.jsonl")), { topK: 2 });
    const r = await tool.run({ query: "capital of France" }, { ...ctx, history: [], problem });
    expect(r.text.split("\n")[0]).toMatch(/^Doc 1 \(Paris\): Paris is the capital/);
    expect((await tool.run({ query: "!!!" }, { ...ctx, history: [], problem })).error).toBe("empty query");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aha-corpus-"));
    const bad = path.join(dir, "c.jsonl");
    fs.writeFileSync(bad, '{"text": "ok"}\n{"title": "no text"}\n');
    expect(() => readCorpus(bad)).toThrow(/c\.jsonl:2: a search document needs a string "text"/);
    fs.rmSync(dir, { recursive: true });
  });
});

describe("the tool environment", () => {
  const boom: Tool = { ...calculator, name: "boom", run: () => { throw new Error("kaput"); } };
  const env = toolEnvironment([calculator, boom], tagFormat);
  it("answers calls, errors instead of crashes, ends on a response's end", async () => {
    const ep = await env.start(problem);
    const r = await ep.step(turn("<calculator>6*7</calculator>"), ctx);
    expect(r).toEqual({ type: "observation", text: "<result>42</result>", calls: [expect.objectContaining({ name: "calculator", input: { expression: "6*7" }, output: "42" })] });
    const e = await ep.step(turn("<boom>1</boom>"), ctx);
    expect(e.type === "observation" && e.text).toBe("<result>error: kaput</result>");
    expect(e.type === "observation" && e.calls![0]!.error).toBe("tool error");
    const m = await ep.step(turn("1+1</calculator>"), ctx);
    expect(m.type === "observation" && m.calls![0]!.error).toMatch(/without/);
    expect(await ep.step(turn("the answer is 42", "stop"), ctx)).toEqual({ type: "end" });
  });

  it("unknown tools in the chat format get an error observation", async () => {
    const chat = toolEnvironment([calculator], callFormat("chat", null));
    const ep = await chat.start(problem);
    const r = await ep.step(turn('<tool_call>{"name": "shell", "arguments": {"cmd": "ls"}}</tool_call>'), ctx);
    expect(r.type === "observation" && r.text).toContain('error: unknown tool "shell"');
    expect(r.type === "observation" && r.calls![0]!.error).toMatch(/unknown tool/);
  });
});

describe("tools and environments from the config", () => {
  it("the keys read from flags and YAML (train and eval)", async () => {
    const { trainSpec } = await import("../../src/runner/config.js");
    const { evalSpec } = await import("../../src/cli/eval.js");
    const y = trainSpec.parseYaml("tools: [calculator, ./my-tool.js]\nmax-turns: 2\ntool-format: chat\npython-state: replay\n", "t.yaml");
    expect(y.get("tools")?.value).toEqual(["calculator", "./my-tool.js"]);
    const c = trainSpec.fromArgv(["--tools", "calculator,search", "--search-corpus", "c.jsonl", "--tool-timeout", "2.5", "--max-observation-bytes", "100"], () => "").config;
    expect(c.tools).toMatchObject({ tools: ["calculator", "search"], searchCorpus: "c.jsonl", toolTimeout: 2.5, maxObservationBytes: 100, maxTurns: 4, toolFormat: "tags" });
    expect(() => trainSpec.fromArgv(["--tools", "search"], () => "")).toThrow(/search needs search-corpus/);
    expect(() => trainSpec.fromArgv(["--tool-format", "xml"], () => "")).toThrow(/tool-format/);
    expect(evalSpec.fromArgv(["--model", "m", "--task", "arithmetic", "--tools", "calculator", "--max-turns", "3"], () => "").config.tools.maxTurns).toBe(3);
  });

  it("built-ins by name, modules by path, clear errors otherwise", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "aha-tool-"));
    fs.writeFileSync(path.join(dir, "upper.mjs"), 'export default { name: "upper", description: "d", parameters: { type: "object", properties: {} }, inputKey: "text", resultTag: "out", run: (i) => ({ text: String(i.text).toUpperCase() }) };\n');
    fs.writeFileSync(path.join(dir, "env.mjs"), 'export const environment = { name: "mine", turnEnd: ["</go>"], start: () => ({ step: () => ({ type: "end", reward: 1 }) }) };\n');
    fs.writeFileSync(path.join(dir, "nothing.mjs"), "export const x = 1;\n");
    const c = toolsSchema.parse({ tools: ["calculator", path.join(dir, "upper.mjs")] });
    const tools = await toolsFromConfig(c);
    expect(tools.map((t) => t.name)).toEqual(["calculator", "upper"]);
    expect((await tools[1]!.run({ text: "abc" }, { ...ctx, history: [], problem })).text).toBe("ABC");
    const env = await environmentFromConfig(toolsSchema.parse({ tools: ["calculator"] }));
    expect(env!.turnEnd).toEqual(["</calculator>"]);
    expect((await loadEnvModule(path.join(dir, "env.mjs"))).name).toBe("mine");
    await expect(loadToolModule(path.join(dir, "nothing.mjs"))).rejects.toThrow(UserError);
    await expect(loadToolModule(path.join(dir, "missing.mjs"))).rejects.toThrow(/cannot load/);
    await expect(toolsFromConfig(toolsSchema.parse({ tools: ["shell"] }))).rejects.toThrow(/unknown tool "shell"/);
    await expect(environmentFromConfig(toolsSchema.parse({ tools: ["calculator"], toolFormat: "chat" }))).rejects.toThrow(/template chat/);
    expect(await environmentFromConfig(toolsSchema.parse({}))).toBeNull();
    fs.rmSync(dir, { recursive: true });
  });
});
