// CodeI/O: the built-in programs' TypeScript twins are checked against the Python programs run in
// the sandbox (the independent reference); both prediction modes are scored end to end.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeioReward, extractAnswer, valuesMatch } from "../../../src/rewards/code/codeio.js";
import { SandboxPool } from "../../../src/rewards/code/sandbox.js";
import { verifyCodeioLine, verifyCodeLine } from "../../../src/cli/verify-code.js";
import { BUILTIN_PROGRAMS, builtinRecord, codeioTask, generateCodeio, parseCodeioRecord, pyRepr } from "../../../src/tasks/codeio.js";
import { openTestGroup, type TestGroup } from "./harness.js";

let group: TestGroup;
let pool: SandboxPool;
beforeAll(() => {
  group = openTestGroup("codeio");
  pool = new SandboxPool(group.options, 2);
});
afterAll(() => group.close());

describe("built-in CodeI/O programs", () => {
  it("has between 10 and 20 programs, all distinct", () => {
    expect(BUILTIN_PROGRAMS.length).toBeGreaterThanOrEqual(10);
    expect(BUILTIN_PROGRAMS.length).toBeLessThanOrEqual(20);
    expect(new Set(BUILTIN_PROGRAMS.map((p) => p.name)).size).toBe(BUILTIN_PROGRAMS.length);
  });

  it("each program, run by Python in the sandbox, prints exactly what its twin says (3 seeds each)", async () => {
    // One run per record: input i of seed s uses program i mod N.
    const n = BUILTIN_PROGRAMS.length;
    const records = [1, 2, 3].flatMap((seed) => Array.from({ length: n }, (_, i) => builtinRecord(seed, i)));
    const runs = await Promise.all(records.map((r) => pool.run({ language: "python", source: r.code, stdin: `${r.input as string}\n` })));
    records.forEach((r, i) => expect([BUILTIN_PROGRAMS[i % n]!.name, r.input, runs[i]!.stdout]).toEqual([BUILTIN_PROGRAMS[i % n]!.name, r.input, `${r.output as string}\n`]));
  });

  it("is deterministic per seed and varies across seeds", () => {
    expect(generateCodeio(7, 5)).toEqual(generateCodeio(7, 5));
    expect(generateCodeio(7, 5)).not.toEqual(generateCodeio(8, 5));
    const items = generateCodeio(7, 4);
    expect(items.map((x) => x.reference.mode)).toEqual(["output", "input", "output", "input"]);
    expect(items[0]!.prompt).toContain("<answer>");
  });

  it("pyRepr writes Python's spellings", () => {
    expect(pyRepr([{ tuple: [1] }, { tuple: [true, "a"] }, { dict: [["k", [-1]]] }, "it's"])).toBe(`[(1,), (True, 'a'), {'k': [-1]}, "it's"]`);
  });
});

describe("codeioReward", () => {
  const rec = { code: "import json\nxs = json.loads(input())\nprint(sorted(xs)[-2:])\n", input: "[5, 1, 9, 3]", output: "[5, 9]" };

  it("output mode compares as literals where possible", async () => {
    const ok = await codeioReward("I think <answer>(5, 9)</answer>", { ...rec, mode: "output" });
    expect(ok).toMatchObject({ score: 1, reason: "correct" });
    expect((await codeioReward("<answer>[9, 5]</answer>", { ...rec, mode: "output" })).score).toBe(0);
    expect((await codeioReward("no answer", { ...rec, mode: "output" })).reason).toMatch(/^no_answer/);
    expect(valuesMatch("hello  \n", "hello")).toBe(true); // text fallback
    expect(valuesMatch("[1, 2.0]", [1, 2])).toBe(true); // JSON-valued record output
  });

  it("input mode runs the reference program on the predicted input", async () => {
    const good = await codeioReward("<answer>\n```\n[9, 0, 5]\n```\n</answer>", { ...rec, mode: "input" }, { pool });
    expect(good).toMatchObject({ score: 1, reason: "correct", answer: "[9, 0, 5]" });
    const wrong = await codeioReward("<answer>[1, 2]</answer>", { ...rec, mode: "input" }, { pool });
    expect(wrong.score).toBe(0);
    expect(wrong.reason).toMatch(/^wrong_input/);
    const crash = await codeioReward("<answer>not json</answer>", { ...rec, mode: "input" }, { pool });
    expect(crash.reason).toMatch(/^runtime_error/);
  });

  it("extractAnswer takes the last closed answer, else the last fenced block", () => {
    expect(extractAnswer("<answer>1</answer> then <answer>2</answer>")).toBe("2");
    expect(extractAnswer("```\n42\n```")).toBe("42");
    expect(extractAnswer("<answer>unclosed")).toBeNull();
  });
});

describe("aha verify handlers", () => {
  it("code: adds score, passed, total, reason", async () => {
    const line = { language: "python", response: "```python\nprint(int(input()) * 2)\n```", tests: [{ stdin: "2", stdout: "4" }, { stdin: "5", stdout: "11" }] };
    const out = await verifyCodeLine(line, "f.jsonl:1", {});
    expect(out).toMatchObject({ score: 0.5, passed: 1, total: 2, verdicts: ["passed", "wrong_answer"] });
    await expect(verifyCodeLine({ language: "rust", response: "" }, "f.jsonl:2")).rejects.toThrow(/f.jsonl:2: field "language"/);
    await expect(verifyCodeLine({ language: "python", response: "" }, "f.jsonl:3")).rejects.toThrow(/"tests".*"test_code"/);
  });

  it("codeio: both modes", async () => {
    const r = builtinRecord(3, 0);
    expect(await verifyCodeioLine({ ...r, mode: "output", response: `<answer>${r.output as string}</answer>` }, "g:1")).toMatchObject({ score: 1 });
    expect(await verifyCodeioLine({ ...r, mode: "input", response: `<answer>${r.input as string}</answer>` }, "g:2")).toMatchObject({ score: 1 });
    expect(() => parseCodeioRecord('{"code": 1}', "g:3")).toThrow(/g:3: field "code"/);
  });
});

describe("codeioTask", () => {
  it("splits train from held-out; one async score: output problems compared, input problems run in the sandbox", async () => {
    const task = await codeioTask({ seed: 1, heldOutPermille: 200, mode: "both", sandbox: { pool } });
    const held = new Set(task.heldOut(20).map((p) => p.question));
    const train = Array.from({ length: 60 }, (_, i) => task.train.get(i));
    expect(train.some((p) => held.has(p.question))).toBe(false);
    const out = train.find((p) => p.reference.mode === "output")!;
    const inp = train.find((p) => p.reference.mode === "input")!;
    const ctx = { responsePrefix: "<think>" };
    expect(await task.score(`</think> <answer>${out.answer}</answer>`, out, ctx)).toMatchObject({ reward: 1, correct: true });
    expect(await task.score("</think> <answer>nope</answer>", out, ctx)).toMatchObject({ reward: 0, correct: false });
    expect(await task.score(`</think> <answer>${inp.answer}</answer>`, inp, ctx)).toMatchObject({ reward: 1, correct: true, parts: { accuracy: 1 } });
    const wrong = await task.score("</think> <answer>[1, 2, 3]</answer>", inp, ctx);
    expect(wrong).toMatchObject({ reward: 0, correct: false });
    expect(wrong.reason).toMatch(/^(wrong_input|runtime_error)/);
  });
});
