/** Environments and tools for multi-turn episodes (docs/tools.md). */
export type * from "./types.js";
export { calculator, calculate } from "./calculator.js";
export { pythonTool, type PythonState, type PythonToolOptions } from "./python.js";
export { searchTool, Bm25Index, readCorpus, type SearchDoc, type SearchToolOptions } from "./search.js";
export { toolEnvironment } from "./tools.js";
export { callFormat, chatFormat, chatToolMessage, tagFormat, parseToolCallJson, TOOL_FORMATS, type CallFormat, type ToolFormatName, type ParsedCall } from "./formats.js";
export { toolsSection, toolsSchema, environmentFromConfig, toolsFromConfig, loadToolModule, loadEnvModule, episodeLimits, BUILTIN_TOOLS, type ToolsConfig } from "./config.js";
