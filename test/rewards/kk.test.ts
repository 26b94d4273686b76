/** Knights & Knaves: generator (seeded, unique solutions, 2–8 people) and Logic-RL's scoring. */
import { describe, expect, it } from "vitest";
import { parseKKAnswer, scoreKK, solveKK, truth } from "../../src/rewards/kk.js";
import { generateKK } from "../../src/tasks/kk-gen.js";
import type { Stmt } from "../../src/rewards/kk.js";

const REF = { names: ["Zoey", "Oliver", "Emma"], solution: [true, false, true] };
const wrap = (answer: string): string => `<think>Suppose Zoey lies…</think> <answer>${answer}</answer>`;

type Case = [response: string, expected: number, why: string];
// Expected values from Logic-RL's released verl/utils/reward_score/kk.py (compute_score), read by hand.
const CASES: Case[] = [
  [wrap("Zoey is a knight, Oliver is a knave, and Emma is a knight."), 3, "format +1, all correct +2"],
  [wrap("(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Emma is a knight"), 3, "a numbered list"],
  [wrap("Oliver is a knave, Emma is a knight, Zoey is a knight"), 3, "another order"],
  [wrap("ZOEY IS A KNIGHT, OLIVER IS A KNAVE, EMMA IS A KNIGHT"), 3, "case-insensitive"],
  [wrap("Zoey is a knave, Oliver is a knave, and Emma is a knight."), -0.5, "format +1, one wrong −1.5"],
  [wrap("Zoey is a knave, Oliver is a knight, and Emma is a knave."), -0.5, "format +1, all wrong −1.5"],
  [wrap("Zoey is a knight and Oliver is a knave."), -1, "format +1, Emma missing −2"],
  [wrap("Everyone is a knight."), -1, "no per-person roles: unparseable"],
  [wrap(""), -1, "an empty answer: format +1, answer −2"],
  [wrap("Zoey is a knight or a knave, Oliver is a knave, and Emma is a knight."), -1, "a hedge: four roles named for three people (Logic-RL counts knight/knave words)"],
  [wrap("Zoey is a knight, Oliver is a knave, and Emma is a knight. Zoey is not a knave."), -1, "more role words than people: unparseable"],
  [wrap("Zoey is knight, Oliver is a knave, and Emma is a knight."), -1, "'X is a knight' is the form Logic-RL parses: 'is knight' is not"],
  ["Zoey is a knight, Oliver is a knave, and Emma is a knight.", -3, "no tags: format −1, answer −2 (not scored)"],
  ["<answer>Zoey is a knight, Oliver is a knave, and Emma is a knight.</answer>", -3, "no think block"],
  ["<think>a</think><think>b</think><answer>Zoey is a knight, Oliver is a knave, Emma is a knight</answer>", -3, "two think blocks"],
  ["<answer>x</answer><think>a</think>", -3, "answer before think"],
  [wrap("Zoey is a knight, Oliver is a knave, Emma is a knight") + "<answer>again</answer>", -3, "two answer blocks"],
];

describe("scoreKK (Logic-RL's scoring)", () => {
  it.each(CASES)("%s → %d (%s)", (response, expected) => {
    expect(scoreKK(response, REF).score).toBeCloseTo(expected, 12);
  });
  it("a format failure scores below every well-formed answer, and reports its parts", () => {
    const bad = scoreKK("Zoey is a knight, Oliver is a knave, and Emma is a knight.", REF);
    expect(bad).toMatchObject({ score: -3, parts: { format: -1, answer: -2 }, reason: "bad format" });
    expect(bad.score).toBeLessThan(scoreKK(wrap("nothing useful"), REF).score);
  });
  it("the prompt's prefilled <think> counts with the prefix option", () => {
    const resp = "Suppose…</think> <answer>Zoey is a knight, Oliver is a knave, and Emma is a knight.</answer>";
    expect(scoreKK(resp, REF).score).toBe(-3);
    expect(scoreKK(resp, REF, { prefix: "<think>" }).score).toBe(3);
  });
  it("scores are configurable", () => {
    const o = { formatReward: 0.5, correctReward: 1, wrongReward: -1, unparsableReward: -3 };
    expect(scoreKK(wrap("Zoey is a knight, Oliver is a knave, Emma is a knight"), REF, o).score).toBe(1.5);
    expect(scoreKK(wrap("Zoey is a knave, Oliver is a knave, Emma is a knight"), REF, o).score).toBe(-0.5);
    expect(scoreKK(wrap("nothing"), REF, o).score).toBe(-2.5);
    expect(scoreKK("nothing", REF, o).score).toBe(-3.5); // a format failure's answer part is the unparsable one
  });
  it("a name inside another word is not a match", () => {
    expect(parseKKAnswer("Zoeyanne is a knight", ["Zoey"])).toBeNull();
  });
});

describe("solveKK and truth (hand-checked puzzles)", () => {
  it("A says 'B is a knave', B says 'A and B are both knights' → A knight, B knave", () => {
    const st: Stmt[] = [
      { k: "is", who: 1, knight: false },
      { k: "and", a: { k: "is", who: 0, knight: true }, b: { k: "is", who: 1, knight: true } },
    ];
    expect(solveKK(st, 2)).toEqual([[true, false]]);
  });
  it("A says 'I am a knave' has no consistent world", () => {
    expect(solveKK([{ k: "is", who: 0, knight: false }], 1)).toEqual([]);
  });
  it("A says 'I am a knight' has two (not unique)", () => {
    expect(solveKK([{ k: "is", who: 0, knight: true }], 1)).toHaveLength(2);
  });
  it("iff, or, implies, not", () => {
    const w = [true, false];
    expect(truth({ k: "iff", a: { k: "is", who: 0, knight: true }, b: { k: "is", who: 1, knight: false } }, w)).toBe(true);
    expect(truth({ k: "or", a: { k: "is", who: 0, knight: false }, b: { k: "is", who: 1, knight: true } }, w)).toBe(false);
    expect(truth({ k: "implies", a: { k: "is", who: 1, knight: true }, b: { k: "is", who: 0, knight: false } }, w)).toBe(true);
    expect(truth({ k: "not", a: { k: "is", who: 0, knight: true } }, w)).toBe(false);
  });
});

describe("generateKK", () => {
  it("is seeded", () => {
    expect(generateKK(5, 5)).toEqual(generateKK(5, 5));
    expect(generateKK(5, 5)).not.toEqual(generateKK(6, 5));
  });
  it("every puzzle (2–8 people) has exactly one solution, and its solution text scores full marks", () => {
    const ps = generateKK(11, 60, { minPeople: 2, maxPeople: 8 });
    const sizes = new Set(ps.map((p) => p.names.length));
    expect(Math.min(...sizes)).toBe(2);
    expect(Math.max(...sizes)).toBe(8);
    for (const p of ps) {
      expect(new Set(p.names).size).toBe(p.names.length);
      expect(solveKK(p.statements, p.names.length)).toEqual([p.solution]);
      for (const n of p.names) expect(p.quiz).toContain(n);
      expect(scoreKK(`<think>…</think><answer>${p.solution_text}</answer>`, p).score).toBe(3);
    }
  });
  it("statements use the kinds Logic-RL uses", () => {
    const kinds = new Set(generateKK(3, 80).flatMap((p) => p.statements.map((s) => s.k)));
    for (const k of ["is", "not", "and", "or", "iff", "implies"]) expect(kinds.has(k as Stmt["k"])).toBe(true);
  });
});
