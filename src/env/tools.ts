/**
 * A list of tools and a call format as an Environment: each model turn that ends with a call gets the
 * tool's result (or an error) as its observation; a turn that ends the response ends the episode
 * (the task's verifier scores it). A tool that throws gives an error observation; one that hangs is
 * cut by the episode's tool seconds (src/rollout/episode.ts: `tool_timeout`).
 */
import type { CallFormat } from "./formats.js";
import type { Environment, Episode, Tool, ToolCallRecord, ToolContext, ToolResult } from "./types.js";

/**
 * A tool with one string argument (what the plain-tag text fills): the built-ins are made this way.
 * A missing or non-string argument is an error observation.
 */
export function textTool(o: { name: string; description: string; arg: string; argDescription: string; resultTag: string; run(text: string, ctx: ToolContext): ToolResult | Promise<ToolResult> }): Tool {
  return {
    name: o.name,
    description: o.description,
    parameters: { type: "object", properties: { [o.arg]: { type: "string", description: o.argDescription } }, required: [o.arg] },
    inputKey: o.arg,
    resultTag: o.resultTag,
    run(input, ctx) {
      const v = input[o.arg];
      return typeof v === "string" ? o.run(v, ctx) : { text: `error: give the ${o.arg} as a string`, error: "bad arguments" };
    },
  };
}

const NAME = /^[a-z][a-z0-9_]*$/;

export function toolEnvironment(tools: readonly Tool[], format: CallFormat): Environment {
  const byName = new Map<string, Tool>();
  for (const t of tools) {
    if (!NAME.test(t.name)) throw new Error(`tool name "${t.name}" must match ${NAME.source}`);
    if (byName.has(t.name)) throw new Error(`two tools are named "${t.name}"`);
    byName.set(t.name, t);
  }
  return {
    name: `tools:${tools.map((t) => t.name).join(",")}`,
    turnEnd: format.turnEnd(tools),
    templateVars: () => format.templateVars(tools),
    instructions: () => format.instructions(tools),
    start(problem): Episode {
      const history: ToolCallRecord[] = [];
      return {
        async step(turn, ctx) {
          if (turn.ended !== "call") return { type: "end" };
          const call = format.parse(turn.text, byName);
          const tool = byName.get(call.name) ?? null;
          const t0 = performance.now();
          let result: ToolResult;
          if (call.error !== undefined || !tool) {
            result = { text: `error: ${call.error ?? "no such tool"}`, error: call.error ?? "unknown tool" };
          } else {
            try {
              result = await tool.run(call.input, {
                signal: ctx.signal, timeoutMs: ctx.timeoutMs, maxOutputBytes: ctx.maxOutputBytes,
                history: history.filter((h) => h.name === tool.name), problem,
              });
              if (typeof result?.text !== "string") result = { text: "error: the tool returned no text", error: "tool error" };
            } catch (e) {
              result = { text: `error: ${e instanceof Error ? e.message : String(e)}`, error: "tool error" };
            }
          }
          const rec: ToolCallRecord = { name: call.name, input: call.input, output: result.text, seconds: (performance.now() - t0) / 1000, ...(result.error !== undefined ? { error: result.error } : {}) };
          history.push(rec);
          return { type: "observation", text: format.render(tool, result), calls: [rec] };
        },
      };
    },
  };
}
