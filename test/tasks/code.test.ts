// The code and codeio training tasks: data files (format, errors naming file:line and field), the
// held-out split, async scoring in the sandbox, the score modes, and the sandbox requirement.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import type { CodeReference } from "../../src/rewards/code/reward.js";
import { findTools, SandboxPool } from "../../src/rewards/code/sandbox.js";
import { verifyCodeLine } from "../../src/cli/verify-code.js";
import { codeQuestion, codeTask, readCodeRows } from "../../src/tasks/code.js";
import { codeioTask } from "../../src/tasks/codeio.js";
import { makeTask, resolveTemplate, taskSection } from "../../src/tasks/index.js";
import type { Problem, Task } from "../../src/tasks/types.js";
import { defineConfig } from "../../src/util/config.js";
import { openTestGroup, type TestGroup } from "../rewards/code/harness.js";

const FIXTURE = path.join(import.meta.dirname, "../../fixtures/code/train-small.jsonl");
const CODEIO_FIXTURE = path.join(import.meta.dirname, "../../fixtures/code/codeio-small.jsonl");
const ctx = { responsePrefix: "<think>" };
const answer = (lang: string, code: string): string => ` I will write it. </think> <answer>\n\`\`\`${lang}\n${code}\n\`\`\`\n</answer>`;

let group: TestGroup;
let pool: SandboxPool;
const roots: string[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "aha-code-task-"));
  roots.push(d);
  return d;
};
beforeAll(() => {
  group = openTestGroup("code-task");
  pool = new SandboxPool(group.options, 2);
});
afterAll(() => {
  group.close();
  for (const d of roots) fs.rmSync(d, { recursive: true, force: true });
});

const writeRows = (rows: unknown[]): string => {
  const f = path.join(tmp(), "p.jsonl");
  fs.writeFileSync(f, rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join("\n") + "\n");
  return f;
};
const all = <R>(t: Task<R>): Problem<R>[] => [...Array.from({ length: t.train.size! }, (_, i) => t.train.get(i)), ...t.heldOut(1000)];

describe("task code: the example file", () => {
  it("every row's reference solution (its extra 'solution' field) scores 1 in the sandbox; train and held-out are disjoint", async () => {
    const task = await codeTask({ file: FIXTURE, heldOutPermille: 300, pool });
    const problems = all(task);
    const raw = fs.readFileSync(FIXTURE, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { prompt: string; solution: string; language?: string; tests?: unknown; test_code?: unknown });
    expect(problems.length).toBe(raw.length);
    expect(task.heldOut(1000).length).toBeGreaterThan(0); // 300‰ of 11 rows: some held out
    const trainQ = new Set(Array.from({ length: task.train.size! }, (_, i) => task.train.get(i).question));
    for (const p of task.heldOut(1000)) expect(trainQ.has(p.question)).toBe(false);
    // Both kinds of tests and both languages are in the example.
    expect(new Set(raw.map((r) => `${r.language ?? "python"}/${r.tests ? "tests" : "test_code"}`))).toEqual(new Set(["python/tests", "python/test_code", "javascript/tests", "javascript/test_code"]));
    const results = await Promise.all(
      problems.map(async (p) => {
        const row = raw.find((r) => p.question.startsWith(r.prompt))!;
        return [p.id, await task.score(answer(p.reference.language, row.solution), p, ctx)] as const;
      }),
    );
    for (const [id, r] of results) expect([id, r]).toMatchObject([id, { reward: 1, correct: true, parts: { accuracy: 1 }, reason: "passed" }]);
  });

  it("wrong, partly right and missing programs", async () => {
    const task = await codeTask({ file: FIXTURE, heldOutPermille: 1, pool });
    const sum = all(task).find((p) => p.question.startsWith("Read two integers"))!;
    expect(sum.reference.tests!.length).toBe(3);
    const part = await task.score(answer("python", "print(3)"), sum, ctx); // passes only "1 2"
    expect(part).toMatchObject({ reward: 1 / 3, correct: false, extracted: "print(3)" });
    expect(part.reason).toMatch(/^1\/3 passed; test 2: wrong_answer/);
    expect(await task.score("no code at all </think> <answer>3</answer>", sum, ctx)).toMatchObject({ reward: 0, correct: false, extracted: null });
    expect((await task.score(answer("javascript", "console.log(3)"), sum, ctx)).reason).toMatch(/^no_code/); // wrong language's fence
    const strict = await codeTask({ file: FIXTURE, heldOutPermille: 1, pool, scoreMode: "all_or_nothing" });
    expect(await strict.score(answer("python", "print(3)"), sum, ctx)).toMatchObject({ reward: 0, correct: false });
  });

  it("the question is the prompt plus how the program is run and where it goes", () => {
    const stdio: CodeReference = { language: "python", tests: [{ stdin: "", stdout: "" }] };
    expect(codeQuestion("Sum it.\n", stdio)).toBe(
      "Sum it.\n\nWrite a complete Python program that reads from standard input and writes to standard output; it is run on test inputs and its output is compared with the expected output. Give the code in a ```python code block inside <answer> </answer>.",
    );
    expect(codeQuestion("f.", { language: "javascript", testCode: "x" })).toMatch(/^f\.\n\nWrite the JavaScript code; tests \(assertions\) are run after it\. Give the code in a ```javascript code block/);
  });
});

describe("task code: data file errors name file:line and the field", () => {
  const good = { prompt: "p", tests: [{ input: "1\n", output: "1\n" }] };
  const cases: [string, unknown, RegExp][] = [
    ["both", { prompt: "p", tests: good.tests, test_code: "assert 1" }, /:2: give either "tests" or "test_code", not both/],
    ["neither", { prompt: "p" }, /:2: give "tests" \(a list of \{"input", "output"\}\) or "test_code"/],
    ["bad language", { ...good, language: "rust" }, /:2: field "language" must be "python" or "javascript", got "rust"/],
    ["tests not a list", { prompt: "p", tests: "1 2" }, /:2: field "tests" must be a list/],
    ["empty tests", { prompt: "p", tests: [] }, /:2: field "tests" is an empty list/],
    ["test without output", { prompt: "p", tests: [{ input: "1" }] }, /:2: field "tests\[0\]\.output" must be a string, got nothing/],
    ["numeric output", { prompt: "p", tests: [{ input: "1", output: 1 }] }, /:2: field "tests\[0\]\.output" must be a string, got 1/],
    ["too many tests", { prompt: "p", tests: Array.from({ length: 300 }, () => ({ input: "", output: "" })) }, /:2: field "tests" has 300 cases; at most 256/],
    ["huge test input", { prompt: "p", tests: [{ input: "x".repeat(2 ** 20 + 1), output: "" }] }, /:2: field "tests\[0\]\.input" is longer than/],
    ["empty test_code", { prompt: "p", test_code: "  " }, /:2: field "test_code" is empty/],
    ["no prompt", { question: "p", tests: good.tests }, /:2: field "prompt" is missing or not a non-empty string \(fields: question, tests\)/],
    ["huge prompt", { ...good, prompt: "x".repeat(100_001) }, /:2: field "prompt" is longer than 100000 characters/],
    ["not JSON", "{oops", /:2: not valid JSON/],
    ["not an object", "[1]", /:2: expected a JSON object per line/],
  ];
  it.each(cases)("%s", (_, row, re) => {
    const f = writeRows([good, row]);
    let err: unknown;
    try {
      readCodeRows(f);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(re);
    expect((err as Error).message.startsWith(f)).toBe(true);
  });

  it("stdin/stdout spellings of a test are read too; language defaults to python; other fields are ignored", () => {
    const rows = readCodeRows(writeRows([{ prompt: "p", tests: [{ stdin: "a", stdout: "b" }], source: "x" }]));
    expect(rows[0]!.reference).toEqual({ language: "python", tests: [{ stdin: "a", stdout: "b" }] });
    expect(rows[0]!.answer).toBe("1 stdin/stdout test");
    expect(rows[0]!.id).toBe("p.jsonl:1");
  });

  it("missing file, wrong extension, empty file", () => {
    expect(() => readCodeRows(path.join(tmp(), "none.jsonl"))).toThrow(/data file .*none\.jsonl not found/);
    const csv = path.join(tmp(), "p.csv");
    fs.writeFileSync(csv, "a,b\n");
    expect(() => readCodeRows(csv)).toThrow(/task code reads JSONL/);
    const empty = path.join(tmp(), "e.jsonl");
    fs.writeFileSync(empty, "\n\n");
    expect(() => readCodeRows(empty)).toThrow(/has no problems/);
  });

  it("aha verify code reads the same row shape (plus a response)", async () => {
    const line = { prompt: "double", tests: [{ input: "2\n", output: "4\n" }, { input: "5\n", output: "11\n" }], response: answer("python", "print(int(input()) * 2)") };
    expect(await verifyCodeLine(line, "v.jsonl:1")).toMatchObject({ score: 0.5, passed: 1, total: 2 });
    await expect(verifyCodeLine({ ...line, test_code: "assert True" }, "v.jsonl:2")).rejects.toThrow(/v\.jsonl:2: give either "tests" or "test_code", not both/);
  });
});

describe("the sandbox requirement", () => {
  const noBwrap = () => ({ ...findTools(), bwrap: null });
  it("task code without bubblewrap fails at making the task with the install command, unless unsafe-no-sandbox", async () => {
    const err = await codeTask({ file: FIXTURE, heldOutPermille: 50, tools: noBwrap() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toMatch(/^task code: the code reward needs bubblewrap/);
    expect((err as UserError).message).toMatch(/apt-get install bubblewrap/);
    expect((err as UserError).hint).toMatch(/--unsafe-no-sandbox/);
    const unsafe = await codeTask({ file: FIXTURE, heldOutPermille: 50, tools: noBwrap(), sandbox: { unsafeNoSandbox: true } });
    expect(unsafe.train.size).toBeGreaterThan(0);
  });

  it("task codeio needs it only when input problems are asked", async () => {
    await expect(codeioTask({ seed: 1, heldOutPermille: 50, mode: "both", tools: noBwrap() })).rejects.toThrow(/^task codeio: the code reward needs bubblewrap/);
    await expect(codeioTask({ seed: 1, heldOutPermille: 50, mode: "input", tools: noBwrap() })).rejects.toBeInstanceOf(UserError);
    const out = await codeioTask({ seed: 1, heldOutPermille: 50, mode: "output", tools: noBwrap() });
    expect(out.train.get(0).reference.mode).toBe("output");
  });
});

describe("config: tasks code and codeio", () => {
  const spec = defineConfig({ task: taskSection });
  const resolve = (flags: [string, string][]) => spec.resolve({ flags: new Map(flags) }).task;

  it("task code needs --data; its settings parse", () => {
    expect(() => resolve([["task", "code"]])).toThrow(/task = code needs --data FILE\.jsonl/);
    expect(() => resolve([["task", "countdown"], ["data", FIXTURE]])).toThrow(/only read by tasks file, code, codeio/);
    const c = resolve([["task", "code"], ["data", FIXTURE], ["code-score", "all-or-nothing"], ["unsafe-no-sandbox", "true"]]);
    expect(c).toMatchObject({ task: "code", codeScore: "all-or-nothing", unsafeNoSandbox: true, codeioMode: "both" });
    expect(resolve([])).toMatchObject({ unsafeNoSandbox: false, codeScore: "fraction" });
    expect(() => resolve([["task", "codeio"], ["codeio-mode", "sideways"]])).toThrow(/codeio-mode/);
  });

  it("makeTask builds both (r1-zero by default)", async () => {
    const c = resolve([["task", "code"], ["data", FIXTURE]]);
    const code = await makeTask(c, 0);
    expect(code.name).toBe("code:train-small.jsonl");
    expect(resolveTemplate(c, code)).toBe("r1-zero");
    expect(code.train.size! + code.heldOut(1000).length).toBe(11);
    const ci = resolve([["task", "codeio"]]);
    const codeio = await makeTask(ci, 3);
    expect(codeio.name).toBe("codeio");
    expect(resolveTemplate(ci, codeio)).toBe("r1-zero");
    expect(new Set(Array.from({ length: 6 }, (_, i) => (codeio.train.get(i).reference as { mode: string }).mode))).toEqual(new Set(["output", "input"]));
    const file = await makeTask(resolve([["task", "codeio"], ["data", CODEIO_FIXTURE], ["codeio-mode", "output"]]), 0);
    expect(file.name).toBe("codeio:codeio-small.jsonl");
  });
});

describe("task codeio: data files", () => {
  it("mode both asks both of a record (same side of the split); a record's own mode wins; scoring runs the program for input problems", async () => {
    const task = await codeioTask({ seed: 0, heldOutPermille: 1, file: CODEIO_FIXTURE, mode: "both", sandbox: { pool } });
    const ps = all(task);
    expect(ps.map((p) => `${p.id} ${p.reference.mode}`)).toEqual([
      "codeio-small.jsonl:1/output output", "codeio-small.jsonl:1/input input",
      "codeio-small.jsonl:2/output output", "codeio-small.jsonl:2/input input",
      "codeio-small.jsonl:3 output", "codeio-small.jsonl:4 input",
    ]);
    const js = ps[5]!;
    expect(js.reference.language).toBe("javascript");
    expect(await task.score("</think> <answer>7</answer>", js, ctx)).toMatchObject({ reward: 1, correct: true });
    expect(await task.score("</think> <answer>-7</answer>", js, ctx)).toMatchObject({ reward: 1 }); // any input printing 50
    expect(await task.score("</think> <answer>6</answer>", js, ctx)).toMatchObject({ reward: 0, correct: false });
    expect(await task.score("</think> <answer>[9, 5]</answer>", ps[0]!, ctx)).toMatchObject({ reward: 0 });
    expect(await task.score("</think> <answer>[5, 9]</answer>", ps[0]!, ctx)).toMatchObject({ reward: 1 });
    // Split by record: with half held out, the two problems of a record are always together.
    const half = await codeioTask({ seed: 0, heldOutPermille: 500, file: CODEIO_FIXTURE, mode: "both", sandbox: { pool } });
    const sideOf = new Map<string, string>();
    for (const p of half.heldOut(100)) sideOf.set(p.id.split("/")[0]!, "test");
    expect(sideOf.size).toBeGreaterThan(0);
    expect(half.train.size).toBeGreaterThan(0);
    for (let i = 0; i < half.train.size!; i++) expect(sideOf.get(half.train.get(i).id.split("/")[0]!)).toBeUndefined();
  });

  it("bad records name file:line and the field", async () => {
    const f = writeRows([{ code: "print(1)", input: "", output: "1" }, { code: "print(1)", input: "" }]);
    await expect(codeioTask({ seed: 0, heldOutPermille: 1, file: f, mode: "output" })).rejects.toThrow(/p\.jsonl:2: fields "input" and "output" are required/);
    const g = writeRows([{ code: "x".repeat(100_001), input: "", output: "" }]);
    await expect(codeioTask({ seed: 0, heldOutPermille: 1, file: g, mode: "output" })).rejects.toThrow(/p\.jsonl:1: field "code" is longer than 100000/);
    await expect(codeioTask({ seed: 0, heldOutPermille: 1, file: path.join(tmp(), "none.jsonl") })).rejects.toThrow(/not found/);
  });
});
