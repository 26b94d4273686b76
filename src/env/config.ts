/**
 * The tools section of the config (keys: tools, env, tool-format, max-turns, …; src/util/config.ts),
 * shared by `aha train` and `aha eval`, and the Environment it describes (`environmentFromConfig`).
 */
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { UserError } from "../errors.js";
import type { ChatTemplate } from "../formats/chat-template.js";
import { DEFAULT_LIMITS } from "../rewards/code/sandbox.js";
import { setting as f } from "../util/config.js";
import { calculator } from "./calculator.js";
import { callFormat, TOOL_FORMATS } from "./formats.js";
import { PYTHON_STATES, pythonTool } from "./python.js";
import { Bm25Index, readCorpus, searchTool } from "./search.js";
import { toolEnvironment } from "./tools.js";
import type { Environment, EpisodeLimits, Tool } from "./types.js";

export const BUILTIN_TOOLS = ["calculator", "python", "search"] as const;

export const toolsSchema = z.strictObject({
  tools: f(z.array(z.string().min(1)), [], "Tools the model may call mid-response (multi-turn episodes): calculator, python, search, or a module path (./my-tool.js) exporting a Tool (default export, `tool` or `tools`). Empty = single-turn responses.", "Search-R1; ToRL; ReTool"),
  env: f(z.string().min(1).nullable(), null, "A module path (./my-env.js) exporting an Environment (default export or `environment`; or a function returning one): episodes talk to it instead of tools. See docs/tools.md."),
  toolFormat: f(z.enum(TOOL_FORMATS as ["tags", "chat"]), "tags", "How calls are written: tags (<calculator>1+2</calculator> → <result>3</result>; <search>…</search> → <information>…</information>; <python>…</python> → <output>…</output>) or chat (the chat template's <tool_call>{\"name\", \"arguments\"}</tool_call>, results in the tool role; needs template chat).", "Search-R1 (tags); Qwen/Hermes function calling (chat)"),
  maxTurns: f(z.int().min(1), 4, "Model turns per episode at most; a call in the last one ends the episode (finish reason max_turns)."),
  maxEpisodeTokens: f(z.int().min(1).nullable(), null, "Tokens per episode after the prompt, the model's and the tools' together (max_tokens); none = max-new-tokens."),
  toolTimeout: f(z.number().gt(0), 10, "Seconds of tool time per episode; a call past it ends the episode (tool_timeout)."),
  maxObservationBytes: f(z.int().min(1), 16384, "Bytes of tool results per episode; a result past it ends the episode (max_observation_bytes)."),
  searchCorpus: f(z.string().min(1).nullable(), null, "The search tool's documents: JSONL of {id?, title?, text} (BM25). fixtures/env/corpus.jsonl is a small one."),
  searchTopK: f(z.int().min(1), 3, "Documents per search result."),
  pythonState: f(z.enum(PYTHON_STATES as ["none", "replay"]), "none", "The python tool's state: none (a fresh interpreter per call) or replay (one state per episode: the episode's earlier cells run again, silently, before the new one)."),
});

export type ToolsConfig = z.output<typeof toolsSchema>;

export function checkTools(c: ToolsConfig): string[] {
  const out: string[] = [];
  if (c.tools.includes("search") && c.searchCorpus === null) out.push("tools: search needs search-corpus FILE.jsonl (documents {id?, title?, text})");
  if (c.env !== null && c.tools.length > 0) out.push(`env = ${c.env} replaces the tools; give either env or tools (${c.tools.join(", ")}), not both`);
  return out;
}

export const toolsSection = { title: "Tools and environments (multi-turn episodes)", prefix: "", schema: toolsSchema, check: checkTools };

/** Whether the config asks for episodes. */
export const episodic = (c: ToolsConfig): boolean => c.tools.length > 0 || c.env !== null;

export function episodeLimits(c: ToolsConfig, maxNewTokens: number): EpisodeLimits {
  return { maxTurns: c.maxTurns, maxTokens: c.maxEpisodeTokens ?? maxNewTokens, toolSeconds: c.toolTimeout, observationBytes: c.maxObservationBytes };
}

const isTool = (x: unknown): x is Tool =>
  typeof x === "object" && x !== null && typeof (x as Tool).name === "string" && typeof (x as Tool).run === "function" && typeof (x as Tool).inputKey === "string" && typeof (x as Tool).resultTag === "string";

const isEnv = (x: unknown): x is Environment => typeof x === "object" && x !== null && typeof (x as Environment).start === "function" && Array.isArray((x as Environment).turnEnd);

async function importModule(spec: string, baseDir: string, what: string): Promise<Record<string, unknown>> {
  const file = path.resolve(baseDir, spec);
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${what} ${spec}: cannot load ${file} (${(e as Error).message})`, "give the path of an ES module (.js/.mjs) relative to the working directory");
  }
}

/** A module's tools: its default export, `tool` or `tools` (a Tool, a list of them, or a function returning either). */
export async function loadToolModule(spec: string, baseDir = process.cwd()): Promise<Tool[]> {
  const m = await importModule(spec, baseDir, "tool");
  let v: unknown = m["default"] ?? m["tools"] ?? m["tool"];
  if (typeof v === "function") v = await (v as () => unknown)();
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0 || !list.every(isTool)) {
    throw new UserError(`tool ${spec}: the module exports no Tool`, "export default { name, description, parameters, inputKey, resultTag, run(input, ctx) } (docs/tools.md)");
  }
  return list;
}

/** A module's Environment: its default export or `environment` (or a function returning one). */
export async function loadEnvModule(spec: string, baseDir = process.cwd()): Promise<Environment> {
  const m = await importModule(spec, baseDir, "env");
  let v: unknown = m["default"] ?? m["environment"];
  if (typeof v === "function") v = await (v as () => unknown)();
  if (!isEnv(v)) throw new UserError(`env ${spec}: the module exports no Environment`, "export default { name, turnEnd: [...], start(problem) { return { step(turn, ctx) {...} } } } (docs/tools.md)");
  return v;
}

export interface EnvParts {
  /** The model's chat template (tool-format chat renders results with it). */
  chatTemplate?: ChatTemplate | null;
  /** Run code without the sandbox (the task's unsafe-no-sandbox). */
  unsafeNoSandbox?: boolean;
  baseDir?: string;
}

/** The tools of the config, built-ins by name, others from their modules. */
export async function toolsFromConfig(c: ToolsConfig, parts: EnvParts = {}): Promise<Tool[]> {
  const out: Tool[] = [];
  for (const name of c.tools) {
    if (name === "calculator") out.push(calculator);
    else if (name === "python") {
      const limits = { wallMs: Math.min(DEFAULT_LIMITS.wallMs, Math.ceil(c.toolTimeout * 1000)), maxOutputBytes: Math.min(DEFAULT_LIMITS.maxOutputBytes, c.maxObservationBytes + 1) };
      out.push(pythonTool({ state: c.pythonState, limits, ...(parts.unsafeNoSandbox ? { unsafeNoSandbox: true } : {}) }));
    }
    else if (name === "search") out.push(searchTool(new Bm25Index(readCorpus(c.searchCorpus!)), { topK: c.searchTopK }));
    else if (/[/\\.]/.test(name)) out.push(...(await loadToolModule(name, parts.baseDir)));
    else throw new UserError(`tools: unknown tool "${name}"`, `built-in tools: ${BUILTIN_TOOLS.join(", ")}; or a module path such as ./my-tool.js`);
  }
  const seen = new Set<string>();
  for (const t of out) {
    if (seen.has(t.name)) throw new UserError(`tools: two tools are named "${t.name}"`);
    seen.add(t.name);
  }
  return out;
}

/** The config's environment (an env module, or the tools in their format), or null for single-turn runs. */
export async function environmentFromConfig(c: ToolsConfig, parts: EnvParts = {}): Promise<Environment | null> {
  if (c.env !== null) return loadEnvModule(c.env, parts.baseDir);
  if (c.tools.length === 0) return null;
  const tools = await toolsFromConfig(c, parts);
  if (c.toolFormat === "chat" && !parts.chatTemplate) throw new UserError("tool-format chat renders tool results with the model's chat template: set template chat (and use a model folder with a chat template)");
  return toolEnvironment(tools, callFormat(c.toolFormat, parts.chatTemplate ?? null));
}
