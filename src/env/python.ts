/**
 * The `python` tool: runs the model's code in the code sandbox (src/rewards/code/sandbox.ts: bubblewrap,
 * seccomp, rlimits, no network; its CPU, memory, process and output limits), shows what it printed
 * (and the value of a last bare expression, as a notebook does), or the end of the traceback.
 *
 * State per episode (`python-state`): `none` runs every call in a fresh interpreter; `replay` gives the
 * episode one interpreter state by running the episode's earlier cells first (their output discarded,
 * their errors ignored) and then the new one — variables and functions carry over, at the cost of
 * re-running the earlier cells (within the same time limit).
 *
 * Limits: the sandbox's (`limits`; `aha train` caps the wall time at tool-timeout and the output at
 * max-observation-bytes); the episode's remaining tool seconds and observation bytes are enforced
 * around each call by the episode runner.
 */
import { sharedPool, type SandboxOptions } from "../rewards/code/sandbox.js";
import { textTool } from "./tools.js";
import type { Tool, ToolResult } from "./types.js";

export type PythonState = "none" | "replay";
export const PYTHON_STATES: readonly PythonState[] = ["none", "replay"];

/** The program the sandbox runs: the cells come as a JSON list on stdin. */
const DRIVER = `import sys, json, ast, io
cells = json.loads(sys.stdin.read())
g = {"__name__": "__main__"}
real = sys.stdout
for c in cells[:-1]:
    sys.stdout = io.StringIO()
    try:
        exec(compile(c, "<cell>", "exec"), g)
    except BaseException:
        pass
sys.stdout = real
tree = ast.parse(cells[-1], "<cell>", "exec")
last = None
if tree.body and isinstance(tree.body[-1], ast.Expr):
    last = ast.Expression(tree.body.pop().value)
exec(compile(tree, "<cell>", "exec"), g)
if last is not None:
    v = eval(compile(last, "<cell>", "eval"), g)
    if v is not None:
        print(repr(v))
`;

/** Lines of a traceback shown to the model. */
const TRACE_LINES = 4;

export interface PythonToolOptions extends SandboxOptions {
  state?: PythonState;
}

export function pythonTool(o: PythonToolOptions = {}): Tool {
  const { state = "none", ...sandbox } = o;
  const pool = sharedPool(sandbox);
  return textTool({
    name: "python",
    description: "Runs Python 3 code in a sandbox and returns what it prints (and the value of a last expression).",
    arg: "code",
    argDescription: "Python 3 code",
    resultTag: "output",
    async run(code, ctx): Promise<ToolResult> {
      if (ctx.signal.aborted) return { text: "error: no tool time left", error: "timeout" };
      const earlier = state === "replay" ? ctx.history.map((h) => h.input["code"]).filter((c): c is string => typeof c === "string") : [];
      // the process-wide pool of these limits (fixed per tool, so one pool bounds all its runs); the
      // episode's own time and byte limits are enforced around the call (src/rollout/episode.ts)
      const r = await pool.run({ language: "python", source: DRIVER, stdin: JSON.stringify([...earlier, code]) });
      if (r.status === "ok") return { text: r.stdout };
      const trace = r.stderr.trimEnd().split("\n").slice(-TRACE_LINES).join("\n");
      const why = r.status === "runtime_error" ? trace : `${r.status.replace("_", " ")}: ${r.detail}`;
      return { text: `${r.stdout}${r.stdout && !r.stdout.endsWith("\n") ? "\n" : ""}${why}`, error: r.status };
    },
  });
}
