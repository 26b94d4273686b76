import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parquetWriteBuffer } from "hyparquet-writer";
import { afterAll, describe, expect, it } from "vitest";
import { defineConfig } from "../../src/util/config.js";
import { UserError } from "../../src/errors.js";
import {
  ARITH_VOCAB,
  arithCorpusExample,
  arithDecode,
  arithEncode,
  arithmeticTask,
  arithTrace,
  carryless,
  scoreArithmetic,
} from "../../src/tasks/arithmetic.js";
import { readProblemRows } from "../../src/tasks/file.js";
import { countdownQuestion, countdownTask, kkTask } from "../../src/tasks/generated.js";
import { makeTask, PromptStream, R1_ZERO_TEMPLATE, renderPrompt, resolveTemplate, taskSection } from "../../src/tasks/index.js";
import { isHeldOut } from "../../src/tasks/split.js";
import { Rng } from "../../src/util/rng.js";

const roots: string[] = [];
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "aha-tasks-"));
  roots.push(d);
  return d;
};
afterAll(() => {
  for (const d of roots) fs.rmSync(d, { recursive: true, force: true });
});
const ctx = { responsePrefix: "" };

describe("templates", () => {
  it("r1-zero is the R1-Zero text with the question and ends inside <think>", () => {
    const r = renderPrompt("r1-zero", "What is 2+2?");
    expect(r.prompt).toBe(
      "A conversation between User and Assistant. The User asks a question, and the Assistant solves it. The Assistant first thinks about the reasoning process in the mind and then provides the User with the answer. The reasoning process is enclosed within <think> </think> and answer is enclosed within <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>.\nUser: What is 2+2?\nAssistant: <think>",
    );
    expect(r.responsePrefix).toBe("<think>");
    // A question containing "$&" is inserted literally (no replacement patterns).
    expect(renderPrompt("r1-zero", "cost $& more").prompt).toContain("User: cost $& more\n");
    expect(R1_ZERO_TEMPLATE.endsWith("Assistant: <think>")).toBe(true);
  });
  it("chat uses the given renderer; none is the question as is", () => {
    const chat = renderPrompt("chat", "hi", { chat: (m) => m.map((x) => `<|${x.role}|>${x.content}`).join("") + "<|assistant|>", system: "S" });
    expect(chat).toEqual({ prompt: "<|system|>S<|user|>hi<|assistant|>", responsePrefix: "" });
    expect(() => renderPrompt("chat", "hi")).toThrow(/needs the model's chat template/);
    expect(renderPrompt("none", "347+485=").prompt).toBe("347+485=");
  });
});

describe("arithmetic (the demo task)", () => {
  it("a 21-token vocabulary; encode/decode round trip", () => {
    expect(ARITH_VOCAB.length).toBe(21);
    const text = "347+485=<think>7+5+0=12;4+8+1=13;3+4+1=08;<wait></think><answer>832</answer>";
    expect(arithDecode(arithEncode(text))).toBe(text);
    expect(() => arithEncode("3 + 4")).toThrow(/not an arithmetic token/);
  });
  it("traces: one column per step right to left, two-digit sums, the trial's example", () => {
    // MEASUREMENTS.md: 7+8+0=15;5+6+1=12;3+4+1=08; for 357+468 = 825
    expect(arithTrace(357, 468)).toEqual({ steps: "7+8+0=15;5+6+1=12;3+4+1=08;", answer: "825" });
    expect(arithTrace(999, 999)).toEqual({ steps: "9+9+0=18;9+9+1=19;9+9+1=19;", answer: "1998" });
    // A wrong middle step (12 → 11) carries on: 5, 1, 3+4+1=08 → 815
    expect(arithTrace(357, 468, { column: 1, sum: 11 })).toEqual({ steps: "7+8+0=15;5+6+1=11;3+4+1=08;", answer: "815" });
    expect(carryless(357, 468)).toBe("715");
  });
  it("reward: 1 only for the exact sum in the last <answer>", () => {
    const ref = { a: 357, b: 468 };
    expect(scoreArithmetic("<think>7+8+0=15;</think><answer>825</answer>", ref)).toMatchObject({ reward: 1, correct: true, parts: { accuracy: 1, format: 1 }, extracted: "825" });
    expect(scoreArithmetic("<answer>825</answer>", ref)).toMatchObject({ reward: 1, parts: { accuracy: 1, format: 0 } }); // direct answer: right, no think
    expect(scoreArithmetic("<answer>715</answer>", ref).reward).toBe(0); // carry-less
    expect(scoreArithmetic("<answer>825</answer><answer>826</answer>", ref).reward).toBe(0); // the last one counts
    expect(scoreArithmetic("<answer>+825</answer>", ref).reward).toBe(0); // digits only
    expect(scoreArithmetic("825", ref)).toMatchObject({ reward: 0, extracted: null, reason: "no answer" });
  });
  it("the corpus mix is close to the trial's 50/10/15/25 and every example encodes", () => {
    const rng = new Rng(5, "corpus");
    const counts: Record<string, number> = { direct: 0, trace: 0, check: 0, "wrong-trace": 0 };
    let directRight = 0;
    for (let i = 0; i < 4000; i++) {
      const ex = arithCorpusExample(rng);
      counts[ex.kind]!++;
      arithEncode(ex.question + ex.response);
      const [a, b] = ex.question.slice(0, -1).split("+").map(Number);
      const s = scoreArithmetic(ex.response, { a: a!, b: b! });
      if (ex.kind === "trace" || ex.kind === "check") expect(s.correct).toBe(true);
      if (ex.kind === "wrong-trace") expect(s.correct).toBe(false);
      if (ex.kind === "direct" && s.correct) directRight++;
    }
    expect(counts.direct! / 4000).toBeCloseTo(0.5, 1);
    expect(counts.trace! / 4000).toBeCloseTo(0.1, 1);
    expect(counts.check! / 4000).toBeCloseTo(0.15, 1);
    expect(counts["wrong-trace"]! / 4000).toBeCloseTo(0.25, 1);
    // Right 20% of the time, plus carry-less sums that are right (no carry: .55 · .55 · 36/81 = .1344):
    // .2 + .8 · .1344 = .3075
    expect(Math.abs(directRight / counts.direct! - 0.3075)).toBeLessThan(0.03);
  });
  it("train and held-out problems never overlap; held-out does not depend on the seed", () => {
    const t1 = arithmeticTask({ seed: 1, heldOutPermille: 50 });
    const t2 = arithmeticTask({ seed: 2, heldOutPermille: 50 });
    const test = t1.heldOut(200);
    expect(test.map((p) => p.question)).toEqual(t2.heldOut(200).map((p) => p.question));
    const testQ = new Set(test.map((p) => p.question));
    for (let i = 0; i < 3000; i++) expect(testQ.has(t1.train.get(i).question)).toBe(false);
    expect(test.every((p) => isHeldOut(p.question, 50))).toBe(true);
    expect(t1.train.get(0).question).not.toBe(t2.train.get(0).question);
    expect(test[0]!.answer).toBe(String(test[0]!.reference.a + test[0]!.reference.b));
  });
});

describe("countdown and knights & knaves", () => {
  it("countdown problems are scored by the verifier (1.0 correct, 0.1 wrong, 0 no answer)", () => {
    const task = countdownTask({ seed: 3, heldOutPermille: 100 });
    const p = task.train.get(0);
    expect(p.question).toBe(countdownQuestion(p.reference.numbers, p.reference.target));
    expect(task.score(`<answer>${p.answer}</answer>`, p, ctx)).toMatchObject({ reward: 1, correct: true, parts: { accuracy: 1 } });
    expect(task.score("<answer>1 + 1</answer>", p, ctx)).toMatchObject({ reward: 0.1, correct: false });
    expect(task.score("no idea", p, ctx)).toMatchObject({ reward: 0, correct: false, extracted: null });
    // with the r1-zero template the response starts inside <think>: an answer before </think> is a draft
    const think = { responsePrefix: "<think>" };
    expect(task.score(`try <answer>${p.answer}</answer> more thoughts`, p, think)).toMatchObject({ reward: 0, correct: false, extracted: null });
    expect(task.score(`try </think> <answer>${p.answer}</answer>`, p, think)).toMatchObject({ reward: 1, correct: true, extracted: p.answer });
    const testQ = new Set(task.heldOut(50).map((x) => x.question));
    for (let i = 0; i < 300; i++) expect(testQ.has(task.train.get(i).question)).toBe(false);
  });
  it("kk: Logic-RL scores with the template's <think> prefix", async () => {
    const task = kkTask({ seed: 4, heldOutPermille: 100, gen: { minPeople: 2, maxPeople: 3 } });
    const p = task.train.get(0);
    const good = ` reasoning </think> <answer>${p.answer}</answer>`;
    expect(task.score(good, p, { responsePrefix: "<think>" })).toMatchObject({ reward: 3, correct: true });
    expect((await task.score(good, p, ctx)).reward).toBe(-3); // without the prefix the format is wrong: −1, and the answer is not scored: −2
    const flipped = p.reference.names.map((n, i) => `${n} is a ${p.reference.solution[i] ? "knave" : "knight"}`).join(", ");
    expect(task.score(` r </think><answer>${flipped}</answer>`, p, { responsePrefix: "<think>" })).toMatchObject({ reward: -0.5, correct: false });
  });
});

describe("data files", () => {
  const rows = Array.from({ length: 60 }, (_, i) => ({ problem: `What is ${i} + ${i}?`, solution: String(2 * i) }));
  it("JSONL: fields by name, split by hash, math verifier", async () => {
    const d = tmp();
    const f = path.join(d, "p.jsonl");
    fs.writeFileSync(f, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const spec = defineConfig({ task: taskSection });
    const c = spec.resolve({ flags: new Map<string, string>([["task", "file"], ["data", f], ["question-field", "problem"], ["answer-field", "solution"], ["held-out-permille", "200"]]) }).task;
    const task = await makeTask(c, 0);
    const n = task.train.size!;
    const test = task.heldOut(1000);
    expect(n + test.length).toBe(60);
    expect(test.length).toBeGreaterThan(3);
    const trainQ = new Set(Array.from({ length: n }, (_, i) => task.train.get(i).question));
    for (const p of test) expect(trainQ.has(p.question)).toBe(false);
    expect(resolveTemplate(c, task)).toBe("r1-zero");
    const p = task.train.get(0);
    expect(task.score(`x </think> <answer>${p.answer}</answer>`, p, ctx)).toMatchObject({ reward: 1, correct: true });
    expect(task.score("<answer>-1</answer>", p, ctx)).toMatchObject({ reward: 0, correct: false });
    // the template's prefilled <think> reaches the math verifier: an answer inside the thinking is a draft
    const think = { responsePrefix: "<think>" };
    expect(task.score(`maybe <answer>${p.answer}</answer> or \\boxed{${p.answer}}, still thinking`, p, think)).toMatchObject({ reward: 0, correct: false, extracted: null });
    expect(task.score(`x </think> <answer>${p.answer}</answer>`, p, think)).toMatchObject({ reward: 1, correct: true });
    expect(task.score(`x </think> \\boxed{${p.answer}}`, p, think)).toMatchObject({ reward: 1, correct: true });
  });
  it("Parquet reads the same rows", async () => {
    const d = tmp();
    const f = path.join(d, "p.parquet");
    fs.writeFileSync(f, Buffer.from(parquetWriteBuffer({ columnData: [{ name: "question", data: rows.map((r) => r.problem) }, { name: "answer", data: rows.map((r) => r.solution) }, { name: "extra", data: rows.map(() => 1) }] })));
    const read = await readProblemRows({ file: f, questionField: "question", answerField: "answer" });
    expect(read.map((r) => [r.question, r.answer])).toEqual(rows.map((r) => [r.problem, r.solution]));
    expect(read[3]!.id).toBe("p.parquet row 3");
  });
  it("bad files name the line and the field", async () => {
    const d = tmp();
    const f = path.join(d, "bad.jsonl");
    fs.writeFileSync(f, '{"question":"a","answer":"1"}\n{"question": "b"}\n');
    await expect(readProblemRows({ file: f, questionField: "question", answerField: "answer" })).rejects.toThrow(/bad\.jsonl:2: field 'answer' is missing/);
    fs.writeFileSync(f, '{"question":"a","answer":"1"}\n{oops\n');
    await expect(readProblemRows({ file: f, questionField: "question", answerField: "answer" })).rejects.toThrow(/bad\.jsonl:2: not valid JSON/);
    await expect(readProblemRows({ file: path.join(d, "none.jsonl"), questionField: "q", answerField: "a" })).rejects.toBeInstanceOf(UserError);
  });
  it("config: task file needs --data", () => {
    const spec = defineConfig({ task: taskSection });
    expect(() => spec.resolve({ flags: new Map([["task", "file"]]) })).toThrow(/task = file needs --data FILE/);
  });
});

describe("prompt stream", () => {
  it("finite sources: every problem once per epoch, reshuffled per epoch; resumes from the cursor", () => {
    const src = { size: 5, get: (i: number) => ({ id: String(i), question: `q${i}`, answer: "", reference: i }) };
    const s = new PromptStream(src, 9);
    const e1 = s.next(5).map((p) => p.reference);
    const e2 = s.next(5).map((p) => p.reference);
    expect([...e1].sort()).toEqual([0, 1, 2, 3, 4]);
    expect([...e2].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(e1).not.toEqual(e2);
    const a = new PromptStream(src, 9);
    a.next(7);
    const rest = a.next(6).map((p) => p.reference);
    const b = new PromptStream(src, 9, JSON.parse(JSON.stringify(a.state())) as { cursor: number });
    const fresh = new PromptStream(src, 9);
    fresh.next(13);
    expect(b.next(4)).toEqual(fresh.next(4));
    expect(rest.length).toBe(6);
  });
  it("unbounded generators are read in order", async () => {
    const task = await makeTask(taskSection.schema.parse({}), 1);
    const s = new PromptStream(task.train, 1, { cursor: 10 });
    expect(s.next(2).map((p) => p.id)).toEqual(["arithmetic-train-10", "arithmetic-train-11"]);
  });
});
