/**
 * "An answer inside the thinking is not the answer", the same for every verifier that extracts one
 * (src/rewards/extract.ts's answerRegion): the answer is looked for after the last </think>, not inside a
 * <think> that never closes; the template's prefilled "<think>" (ctx.responsePrefix / `prefix`) counts.
 * Per verifier: a draft inside the thinking followed by more thinking and no answer → not correct; an
 * unclosed <think> (with the prefix) holding an answer → not correct; the normal shapes still correct;
 * responses with no think tags read as before.
 */
import { describe, expect, it } from "vitest";
import { extractAnswer as codeioAnswer } from "../../src/rewards/code/codeio.js";
import { extractCode } from "../../src/rewards/code/extract.js";
import { scoreCountdown } from "../../src/rewards/countdown.js";
import { answerBounds, answerRegion, extractAnswer, lastTagSpan } from "../../src/rewards/extract.js";
import { composeRewards, judgedAnswer, mathReward, verifyMath } from "../../src/rewards/index.js";
import { scoreKK } from "../../src/rewards/kk.js";
import { verifyCountdownLine, verifyKKLine, verifyMathLine } from "../../src/cli/verify-lines.js";
import { arithCorpusExample, arithmeticTask, arithResponse, arithTrace, scoreArithmetic } from "../../src/tasks/arithmetic.js";
import { codeioTask } from "../../src/tasks/codeio.js";
import { Rng } from "../../src/util/rng.js";

const THINK = "<think>";

describe("answerRegion", () => {
  it.each([
    ["<think>a</think><answer>5</answer>", "", "<answer>5</answer>", "after the last </think>"],
    ["<think>a <answer>5</answer> b</think>", "", "", "an answer inside a closed think block"],
    ["<think>a</think> x <think>b <answer>5</answer>", "", " x ", "up to a <think> that never closes"],
    ["<think>a</think><answer>5</answer><think>more", "", "<answer>5</answer>", "an answer before a reopened think still stands"],
    ["a <answer>5</answer> b", THINK, "", "the prefix opens a think block that never closes"],
    ["a </think><answer>5</answer>", THINK, "<answer>5</answer>", "the prefix's think block closes"],
    ["no tags <answer>5</answer> \\boxed{5}", "", "no tags <answer>5</answer> \\boxed{5}", "no think tags: the whole response"],
    ["", "", "", "empty"],
  ])("%j (prefix %j) → %j: %s", (response, prefix, want) => {
    expect(answerRegion(response, prefix)).toBe(want);
    const text = prefix + response;
    const { start, end } = answerBounds(text);
    expect(text.slice(start, end)).toBe(want);
  });

  it("a response with no think tags is itself (extraction unchanged)", () => {
    const rng = new Rng(7, "region");
    const pieces = ["<answer>", "</answer>", "\\boxed{", "}", "5", " ", "x", "Answer: 3", "\n", "<ans", "think"];
    for (let i = 0; i < 500; i++) {
      const s = Array.from({ length: rng.int(12) }, () => rng.pick(pieces)).join("");
      expect(answerRegion(s)).toBe(s);
    }
  });
});

describe("math (verifyMath, \\boxed and <answer>)", () => {
  it.each([
    // a draft inside the thinking, more thinking, no answer after it
    ["<think>maybe <answer>5</answer>\nmore\n</think>", "", false, "the brief's example: <answer> inside closed thinking"],
    ["<think>so \\boxed{5}? wait\nlet me check</think>", "", false, "\\boxed inside closed thinking"],
    ["<think>so \\boxed{5}</think> I am not sure.", "", false, "a box in the thinking, no answer after it"],
    ["<think>a</think> hmm <think>maybe \\boxed{5}", "", false, "a box in a think block that never closes"],
    // the prefilled "<think>" never closed
    ["maybe <answer>5</answer> still thinking", THINK, false, "unclosed prefilled think, <answer>"],
    ["so \\boxed{5}", THINK, false, "unclosed prefilled think, \\boxed"],
    ["so the answer is 5", THINK, false, "unclosed prefilled think, lenient text"],
    // the normal shapes
    ["reasoning </think> <answer>5</answer>", THINK, true, "r1-zero shape with the prefix"],
    ["<think>reasoning</think><answer>5</answer>", "", true, "R1 shape"],
    ["reasoning \\boxed{4} </think> so \\boxed{5}", THINK, true, "a box after </think> (the draft one is ignored)"],
    ["<think>maybe \\boxed{4}</think><answer>\\boxed{5}</answer>", "", true, "box in the answer span"],
    ["<think>x</think><answer>5</answer><think>", "", true, "answer before a reopened think"],
    // no think tags: as before
    ["The answer is \\boxed{5}.", "", true, "plain box"],
    ["<answer>5</answer>", "", true, "plain span"],
    ["\\boxed{4} then \\boxed{5}", "", true, "last box"],
  ])("%j (prefix %j) → %s: %s", (response, prefix, want) => {
    expect(verifyMath(response, "5", { prefix }).correct).toBe(want);
  });

  it("lenient extraction also reads only the answer region", () => {
    expect(extractAnswer("<think>the answer is 5\nmore</think>", { lenient: true }).ok).toBe(false);
    expect(extractAnswer("the answer is 5", { lenient: true, prefix: THINK }).ok).toBe(false);
    expect(extractAnswer("hm </think> the answer is 5", { lenient: true, prefix: THINK })).toMatchObject({ ok: true, text: "5" });
    expect(extractAnswer("Answer: 5", { lenient: true })).toMatchObject({ ok: true, text: "5" });
  });

  it("mathReward takes the prefix from ctx; `aha verify math` from the line's prefix field", async () => {
    const p = { id: "q", question: "?", answer: "5", reference: "5" };
    const reward = mathReward();
    expect((await reward("so \\boxed{5}", p, { responsePrefix: THINK })).correct).toBe(false);
    expect((await reward("so </think> \\boxed{5}", p, { responsePrefix: THINK })).correct).toBe(true);
    expect((await reward("so \\boxed{5}", p, { responsePrefix: "" })).correct).toBe(true);
    const score = composeRewards({ weights: { accuracy: 1 }, accuracy: reward });
    const [a, b] = await score([{ text: "\\boxed{5}", tokens: 3 }, { text: "x</think>\\boxed{5}", tokens: 3 }], p, { responsePrefix: THINK });
    expect([a!.reward, b!.reward]).toEqual([0, 1]);
    expect(verifyMathLine({ gold: "5", response: "so \\boxed{5}", prefix: THINK }, "l:1")).toMatchObject({ correct: false, reason: "no answer" });
    expect(verifyMathLine({ gold: "5", response: "so \\boxed{5}" }, "l:1")).toMatchObject({ correct: true });
    expect(() => verifyMathLine({ gold: "5", response: "x", prefix: 1 }, "l:1")).toThrow(/field "prefix" must be a string/);
  });
});

describe("countdown", () => {
  const ref = { numbers: [1, 2, 3], target: 6 };
  it.each([
    ["<think>try <answer>1+2+3</answer>\nmore</think>", "", 0],
    ["try <answer>1+2+3</answer> more", THINK, 0],
    ["try </think> <answer>1+2+3</answer>", THINK, 1],
    ["<think>try</think><answer>1+2+3</answer>", "", 1],
    ["<answer>1+2+3</answer>", "", 1],
  ])("%j (prefix %j) → %s", (response, prefix, want) => {
    expect(scoreCountdown(response, ref, { prefix }).score).toBe(want);
  });
  it("`aha verify countdown` reads the prefix field", () => {
    expect(verifyCountdownLine({ ...ref, response: "<answer>1+2+3</answer>", prefix: THINK }, "l:1")).toMatchObject({ score: 0 });
    expect(verifyCountdownLine({ ...ref, response: "<answer>1+2+3</answer>" }, "l:1")).toMatchObject({ score: 1 });
  });
});

describe("knights & knaves (Logic-RL's format already rejects an answer in the thinking)", () => {
  const ref = { names: ["Zoey", "Oliver"], solution: [true, false] };
  const right = "Zoey is a knight, and Oliver is a knave.";
  it.each([
    [`<think>maybe <answer>${right}</answer> more</think>`, "", -3],
    [`maybe <answer>${right}</answer> more`, THINK, -3],
    [`r </think> <answer>${right}</answer>`, THINK, 3],
    [`<think>r</think> <answer>${right}</answer>`, "", 3],
    [`<answer>${right}</answer>`, "", -3],
  ])("%j (prefix %j) → %s", (response, prefix, want) => {
    expect(scoreKK(response, ref, { prefix }).score).toBe(want);
  });
  it("`aha verify kk` reads the prefix field", () => {
    expect(verifyKKLine({ ...ref, response: `r </think> <answer>${right}</answer>`, prefix: THINK }, "l:1")).toMatchObject({ score: 3 });
    expect(verifyKKLine({ ...ref, response: `r </think> <answer>${right}</answer>` }, "l:1")).toMatchObject({ score: -3 });
  });
});

describe("arithmetic (the demo task)", () => {
  const ref = { a: 357, b: 468 };
  it.each([
    ["<think>7+8+0=15;<answer>825</answer>", 0, "an answer inside a think block that never closes (stopped at </answer>)"],
    ["<think>7+8+0=15;<answer>825</answer>5+6+1=12;</think>", 0, "an answer inside the thinking, more thinking, no answer"],
    ["<think>7+8+0=15;5+6+1=12;3+4+1=08;</think><answer>825</answer>", 1, "the trace shape"],
    ["<think>7+8+0=15;5+6+1=11;3+4+1=08;<wait>7+8+0=15;5+6+1=12;3+4+1=08;</think><answer>825</answer>", 1, "the re-check shape"],
    ["<answer>825</answer>", 1, "the direct shape"],
    ["<think>7+8+0=15;</think><answer>715</answer>", 0, "wrong"],
  ])("%j → %s (%s)", (response, want) => {
    expect(scoreArithmetic(response, ref).reward).toBe(want);
    expect(arithmeticTask({ seed: 1, heldOutPermille: 100 }).score(response, { id: "x", question: "357+468=", answer: "825", reference: ref }, { responsePrefix: "" })).toMatchObject({ reward: want });
  });

  it("the demo's responses score exactly as before (the last <answer> of the whole response)", () => {
    const before = (response: string, r: { a: number; b: number }): number => {
      const span = lastTagSpan(response, "answer");
      const t = span === null ? "" : span.trim();
      return t.length <= 12 && /^\d+$/.test(t) && Number(t) === r.a + r.b ? 1 : 0;
    };
    const fixed = [
      { response: "<think>7+5+0=12;2+2+1=05;4+1+0=05;</think><answer>552</answer>", r: { a: 427, b: 125 }, want: 1 },
      { response: "<think>7+5+0=12;4+8+1=13;3+4+1=08;</think><answer>832</answer>", r: { a: 347, b: 485 }, want: 1 },
      { response: "<think>7+5+0=12;4+8+1=13;3+4+1=08;</think><answer>632</answer>", r: { a: 347, b: 485 }, want: 0 },
      { response: "<think>7+5+0=12;4+8+1=12;3+4+1=08;<wait>7+5+0=12;4+8+1=13;3+4+1=08;</think><answer>832</answer>", r: { a: 347, b: 485 }, want: 1 },
      { response: "<answer>722</answer>", r: { a: 347, b: 485 }, want: 0 },
    ];
    for (const f of fixed) {
      expect(scoreArithmetic(f.response, f.r).reward).toBe(f.want);
      expect(before(f.response, f.r)).toBe(f.want);
    }
    // every shape of the corpus (direct, trace, check with <wait>, wrong trace), and each with its answer swapped
    const rng = new Rng(11, "demo-shapes");
    const kinds = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const ex = arithCorpusExample(rng);
      kinds.add(ex.kind);
      const [a, b] = ex.question.slice(0, -1).split("+").map(Number) as [number, number];
      const r = { a, b };
      expect(scoreArithmetic(ex.response, r).reward).toBe(before(ex.response, r));
      const other = ex.response.replace(/<answer>\d+<\/answer>$/, `<answer>${a + b + 1}</answer>`);
      expect(scoreArithmetic(other, r).reward).toBe(0);
    }
    expect(kinds.size).toBe(4);
    expect(scoreArithmetic(arithResponse(arithTrace(999, 999).steps, "1998"), { a: 999, b: 999 }).reward).toBe(1);
  });
});

describe("CodeI/O", () => {
  it.each([
    ["<think>maybe <answer>(5, 9)</answer>\nmore</think>", "", null],
    ["<think>maybe\n```\n(5, 9)\n```\nhmm</think>", "", null],
    ["maybe <answer>(5, 9)</answer>", THINK, null],
    ["maybe </think> <answer>(5, 9)</answer>", THINK, "(5, 9)"],
    ["<think>draft <answer>1</answer></think>\n```\n(5, 9)\n```", "", "(5, 9)"],
    ["I think <answer>(5, 9)</answer>", "", "(5, 9)"],
    ["```\n(5, 9)\n```", "", "(5, 9)"],
  ])("%j (prefix %j) → %j", (response, prefix, want) => {
    expect(codeioAnswer(response, prefix)).toBe(want);
  });
  it("the task passes ctx.responsePrefix", async () => {
    const task = await codeioTask({ seed: 1, heldOutPermille: 200, mode: "output" });
    const p = task.train.get(0);
    expect(await task.score(`guess <answer>${p.answer}</answer>`, p, { responsePrefix: THINK })).toMatchObject({ reward: 0, extracted: null });
    expect(await task.score(`x </think> <answer>${p.answer}</answer>`, p, { responsePrefix: THINK })).toMatchObject({ reward: 1, correct: true });
    expect(await task.score(`<answer>${p.answer}</answer>`, p, { responsePrefix: "" })).toMatchObject({ reward: 1, correct: true });
  });
});

describe("code (the program block)", () => {
  const block = "```python\nprint(1)\n```";
  it.each([
    [`<think>draft:\n${block}\nhmm, more to check</think>`, "", null],
    [`draft:\n${block}\n`, THINK, null],
    [`ok </think>\n${block}\n`, THINK, "print(1)"],
    [`<think>\n\`\`\`python\nprint(0)\n\`\`\`\n</think>\n${block}\n`, "", "print(1)"],
    [`Let me think.\n\n${block}\n`, "", "print(1)"],
  ])("%j (prefix %j) → %j", (response, prefix, want) => {
    expect(extractCode(response, "python", prefix)).toBe(want);
  });
});

describe("judge (the answer part sent)", () => {
  it.each([
    ["<think>maybe <answer>Paris</answer> hmm</think>", "", ""],
    ["maybe <answer>Paris</answer>", THINK, ""],
    ["hmm </think> <answer>Paris</answer>", THINK, "Paris"],
    ["hmm </think> It is Paris. ", THINK, "It is Paris."],
    ["<think>a</think> <think>still thinking, Paris", "", ""],
    [" just Paris ", "", "just Paris"],
  ])("%j (prefix %j) → %j", (response, prefix, want) => {
    expect(judgedAnswer(response, prefix)).toBe(want);
  });
});
