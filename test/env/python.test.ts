// The python tool in the code sandbox: output and a last expression's value, one state per episode by
// replay, and hostile code — a busy loop, an output flood, reading the host's files, the network —
// held by the sandbox's limits and answered with an error observation (the run goes on).
import { describe, expect, it } from "vitest";
import { pythonTool } from "../../src/env/python.js";
import type { ToolCallRecord, ToolContext } from "../../src/env/types.js";

const problem = { id: "p", question: "", answer: "", reference: null };
const ctx = (o: Partial<ToolContext> = {}): ToolContext => ({ signal: new AbortController().signal, timeoutMs: 5000, maxOutputBytes: 10_000, history: [], problem, ...o });
const rec = (code: string): ToolCallRecord => ({ name: "python", input: { code }, output: "", seconds: 0 });

describe("the python tool", () => {
  it("prints, shows a last expression's value, reports errors by their traceback's end", async () => {
    const py = pythonTool();
    expect((await py.run({ code: "print(6*7)" }, ctx())).text).toBe("42\n");
    expect((await py.run({ code: "x = 2**100\nx" }, ctx())).text).toBe("1267650600228229401496703205376\n");
    const err = await py.run({ code: "1/0" }, ctx());
    expect(err.error).toBe("runtime_error");
    expect(err.text).toMatch(/ZeroDivisionError: division by zero$/);
    expect((await py.run({ code: 3 }, ctx())).error).toBe("bad arguments");
  }, 60_000);

  it("python-state replay: earlier cells of the episode run first (silently); none: a fresh interpreter", async () => {
    const history = [rec("a = 20\nprint('not shown')"), rec("1/0"), rec("b = a + 1")];
    expect((await pythonTool({ state: "replay" }).run({ code: "print(a + b)" }, ctx({ history }))).text).toBe("41\n");
    expect((await pythonTool({ state: "none" }).run({ code: "print(a)" }, ctx({ history }))).text).toMatch(/NameError/);
  }, 60_000);

  it("hostile code: limits hold and the answer says why", async () => {
    const py = pythonTool({ limits: { wallMs: 1500, maxOutputBytes: 5000 } });
    const t0 = performance.now();
    const loop = await py.run({ code: "while True: pass" }, ctx());
    expect(loop.error).toBe("time_limit");
    expect(performance.now() - t0).toBeLessThan(8000);
    const flood = await py.run({ code: "while True: print('x' * 1000)" }, ctx());
    expect(flood.error).toBe("output_limit");
    expect(flood.text.length).toBeLessThan(20_000);
    const files = await py.run({ code: "print(open('/etc/passwd').read())" }, ctx());
    // the host's files are not there (or not readable): an error, never their content
    expect(["runtime_error", "sandbox_violation"]).toContain(files.error);
    expect(files.text).toMatch(/FileNotFoundError|PermissionError/);
    expect(files.text).not.toMatch(/root:/);
    const net = await py.run({ code: "import socket\ns = socket.create_connection(('1.1.1.1', 80), timeout=2)" }, ctx());
    // no network in the sandbox: the connect fails (or the sandbox stops the program)
    expect(["runtime_error", "sandbox_violation"]).toContain(net.error);
    expect(net.text).not.toBe("");
  }, 90_000);
});
