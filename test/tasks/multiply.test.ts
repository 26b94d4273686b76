import { describe, expect, it } from "vitest";
import { makeTask, taskSection } from "../../src/tasks/index.js";
import { countCalls, MULTIPLY_MIX, MULTIPLY_VOCAB, multiplyCorpusExample, multiplyTask, product, type MultiplyCorpusKind } from "../../src/tasks/multiply.js";
import { isHeldOut } from "../../src/tasks/split.js";
import { Rng } from "../../src/util/rng.js";

const ctx = { responsePrefix: "" };
/** A stand-in calculator: exact a*b for two integers, else an error (the corpus script passes the real one). */
const observe = (expr: string): string => {
  const m = /^(\d+)\*(\d+)$/.exec(expr);
  return m ? `<result>${BigInt(m[1]!) * BigInt(m[2]!)}</result>` : "<result>error</result>";
};

describe("multiply (the tools demo's task)", () => {
  it("4-digit × 3-digit problems with the exact product; registered as task multiply with template none", async () => {
    const task = await makeTask(taskSection.schema.parse({ task: "multiply" }), 7);
    expect(task.name).toBe("multiply");
    expect(task.defaultTemplate).toBe("none");
    for (let i = 0; i < 200; i++) {
      const p = task.train.get(i) as { question: string; answer: string; reference: { a: number; b: number } };
      const { a, b } = p.reference;
      expect(a >= 1000 && a <= 9999 && b >= 100 && b <= 999).toBe(true);
      expect(p.question).toBe(`${a}*${b}=`);
      expect(p.answer).toBe(String(a * b)); // below 2^53: Number's product is exact here
    }
    expect(product(9999, 999)).toBe("9989001"); // 9999·999 = 9999·1000 − 9999
    expect(product(1000, 100)).toBe("100000");
  });

  it("train and held-out problems never overlap; held-out does not depend on the seed", () => {
    const t1 = multiplyTask({ seed: 1, heldOutPermille: 50 });
    const t2 = multiplyTask({ seed: 2, heldOutPermille: 50 });
    const test = t1.heldOut(200);
    expect(test.map((p) => p.question)).toEqual(t2.heldOut(200).map((p) => p.question));
    expect(test.every((p) => isHeldOut(p.question, 50))).toBe(true);
    const testQ = new Set(test.map((p) => p.question));
    for (let i = 0; i < 3000; i++) expect(testQ.has(t1.train.get(i).question)).toBe(false);
    expect(t1.train.get(0).question).not.toBe(t2.train.get(0).question);
  });

  it("reward: 1 only for the exact product in the last <answer>, not for the calculator's result alone", () => {
    const task = multiplyTask({ seed: 0, heldOutPermille: 50 });
    const p = { id: "x", question: "4821*367=", answer: "1769307", reference: { a: 4821, b: 367 } };
    const cases: [string, number, string][] = [
      ["<answer>1769307</answer>", 1, "in the head, right"],
      ["<calculator>4821*367</calculator><result>1769307</result><answer>1769307</answer>", 1, "the tool's result copied"],
      ["<calculator>4821*367</calculator><result>1769307</result>", 0, "the result is not the answer"],
      ["<calculator>4821*376</calculator><result>1812696</result><answer>1812696</answer>", 0, "a mistyped operand: wrong"],
      ["<answer>1769307</answer><answer>1769308</answer>", 0, "the last answer counts"],
      ["<answer>1769307.0</answer>", 0, "digits only"],
      ["<answer>01769307</answer>", 1, "leading zeros: the same integer"],
    ];
    for (const [response, want, why] of cases) expect(task.score(response, p, ctx), why).toMatchObject({ reward: want, correct: want === 1 });
  });

  it("the corpus mix: shares near MULTIPLY_MIX; the environment's text is marked; good calls answer right, mistyped and broken ones mostly not", () => {
    const rng = new Rng(5, "corpus");
    const counts: Record<MultiplyCorpusKind, number> = { head: 0, tool: 0, typo: 0, broken: 0 };
    const n = 5000;
    const vocab = new Set(MULTIPLY_VOCAB);
    for (let i = 0; i < n; i++) {
      const ex = multiplyCorpusExample(rng, observe);
      counts[ex.kind]++;
      const [a, b] = ex.question.slice(0, -1).split("*").map(Number);
      const text = ex.segments.map((s) => s.text).join("");
      const right = multiplyTask({ seed: 0, heldOutPermille: 50 }).score(text, { id: "", question: ex.question, answer: "", reference: { a: a!, b: b! } }, ctx) as { correct: boolean };
      // the model's segments never hold a <result>; every environment segment is one
      for (const s of ex.segments) expect(s.text.startsWith("<result>"), JSON.stringify(s)).toBe(s.env);
      expect(countCalls(text)).toBe(ex.kind === "head" ? 0 : 1);
      if (ex.kind === "tool") expect(right.correct).toBe(true);
      if (ex.kind === "typo") expect(right.correct).toBe(false);
      if (ex.kind === "broken") expect(ex.segments[1]!.text).toBe("<result>error</result>");
      // every character is one token of the vocabulary (or a tag)
      for (const ch of text.replace(/<\/?(answer|calculator|result)>/g, "")) expect(vocab.has(ch)).toBe(true);
    }
    expect(Math.abs(counts.tool / n - MULTIPLY_MIX.tool)).toBeLessThan(0.015);
    expect(Math.abs(counts.typo / n - MULTIPLY_MIX.typo)).toBeLessThan(0.01);
    expect(Math.abs(counts.broken / n - MULTIPLY_MIX.broken)).toBeLessThan(0.01);
    expect(countCalls("<calculator>1*2</calculator><result>2</result><calculator>3</calculator>")).toBe(2);
  });
});
