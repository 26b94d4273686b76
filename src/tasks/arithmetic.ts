/**
 * The built-in demo's task (MEASUREMENTS.md, "A trial of the built-in demo's idea"): 3-digit addition
 * written for a tiny model with a 21-token vocabulary.
 *
 *   question   347+485=
 *   trace      <think>7+5+0=12;4+8+1=13;3+4+1=08;</think><answer>832</answer>
 *              one column per step, right to left: digit + digit + carry = two-digit sum;
 *   check      a first pass, then <wait> ("wait, let me check:"), then a full redo;
 *   direct     <answer>832</answer>
 * Reward: 1 when the last <answer> after the thinking (src/rewards/extract.ts's answerRegion: not
 * inside a <think> that never closes) holds exactly the sum's digits, else 0 (the trial's 1/0). `format`
 * (a <think> section before the answer) is reported as a part but not added to the reward.
 *
 * The corpus generator here writes the base model's pretraining mix of the trial (50 % direct answers,
 * right 20 % of the time and otherwise the carry-less sum; 10 % correct traces; 15 % traces that check
 * themselves after a first pass that is wrong in one step half the time; 25 % traces with one wrong
 * step and no check), so the base model can reason but usually does not, and RL has something to find.
 */
import { answerRegion, lastTagSpan } from "../rewards/extract.js";
import { Rng } from "../util/rng.js";
import { isHeldOut } from "./split.js";
import type { Problem, ProblemSource, Scored, Task } from "./types.js";

/** The vocabulary: id = index. Multi-character tokens are matched greedily. */
export const ARITH_VOCAB = ["<pad>", "<bos>", "<eos>", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "=", ";", "<think>", "</think>", "<answer>", "</answer>", "<wait>"] as const;
export const ARITH_SPECIAL = { pad: 0, bos: 1, eos: 2 } as const;
/** What the <wait> token reads as (for people reading samples). */
export const WAIT_TEXT = "wait, let me check:";

const TOKEN_ID = new Map<string, number>(ARITH_VOCAB.map((t, i) => [t, i]));

/** Text → token ids; throws on characters outside the vocabulary. */
export function arithEncode(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; ) {
    if (text[i] === "<") {
      const end = text.indexOf(">", i);
      const id = end < 0 ? undefined : TOKEN_ID.get(text.slice(i, end + 1));
      if (id === undefined) throw new RangeError(`not an arithmetic token at ${i}: ${JSON.stringify(text.slice(i, i + 10))}`);
      out.push(id);
      i = end + 1;
    } else {
      const id = TOKEN_ID.get(text[i]!);
      if (id === undefined) throw new RangeError(`not an arithmetic token at ${i}: ${JSON.stringify(text[i])}`);
      out.push(id);
      i++;
    }
  }
  return out;
}

export function arithDecode(ids: readonly number[]): string {
  return ids.map((id) => ARITH_VOCAB[id] ?? "?").join("");
}

export interface ArithRef {
  a: number;
  b: number;
}

export const arithQuestion = (a: number, b: number): string => `${a}+${b}=`;

/** Column steps right to left; `wrongColumn` (optional) gets a wrong sum `wrongSum`, later carries follow it. */
export function arithTrace(a: number, b: number, wrong?: { column: number; sum: number }): { steps: string; answer: string } {
  const da = String(a).split("").reverse().map(Number);
  const db = String(b).split("").reverse().map(Number);
  const n = Math.max(da.length, db.length);
  let carry = 0;
  const digits: number[] = [];
  const steps: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = da[i] ?? 0;
    const y = db[i] ?? 0;
    const s = wrong && wrong.column === i ? wrong.sum : x + y + carry;
    steps.push(`${x}+${y}+${carry}=${String(s).padStart(2, "0")};`);
    digits.push(s % 10);
    carry = Math.floor(s / 10);
  }
  if (carry > 0) digits.push(carry);
  return { steps: steps.join(""), answer: String(Number(digits.reverse().join(""))) };
}

export const arithResponse = (think: string, answer: string): string => `<think>${think}</think><answer>${answer}</answer>`;

/** Sum digit by digit without carries (the base model's typical wrong direct answer). */
export function carryless(a: number, b: number): string {
  const da = String(a).split("").reverse().map(Number);
  const db = String(b).split("").reverse().map(Number);
  const out: number[] = [];
  for (let i = 0; i < Math.max(da.length, db.length); i++) out.push(((da[i] ?? 0) + (db[i] ?? 0)) % 10);
  return String(Number(out.reverse().join("")));
}

function wrongStep(rng: Rng, a: number, b: number): { column: number; sum: number } {
  const column = rng.int(3);
  const right = arithTrace(a, b).steps.split(";")[column]!;
  const s = Number(right.slice(right.indexOf("=") + 1));
  let w = s;
  while (w === s) w = Math.max(0, Math.min(19, s + rng.pick([-2, -1, 1, 2, 10, -10])));
  return { column, sum: w };
}

export type CorpusKind = "direct" | "trace" | "check" | "wrong-trace";

/** One pretraining example of the trial's mix. */
export function arithCorpusExample(rng: Rng): { question: string; response: string; kind: CorpusKind } {
  const a = rng.intBetween(100, 999);
  const b = rng.intBetween(100, 999);
  const question = arithQuestion(a, b);
  const u = rng.float();
  const right = arithTrace(a, b);
  if (u < 0.5) {
    const answer = rng.float() < 0.2 ? right.answer : carryless(a, b);
    return { question, response: `<answer>${answer}</answer>`, kind: "direct" };
  }
  if (u < 0.6) return { question, response: arithResponse(right.steps, right.answer), kind: "trace" };
  if (u < 0.75) {
    const first = rng.float() < 0.5 ? arithTrace(a, b, wrongStep(rng, a, b)).steps : right.steps;
    return { question, response: arithResponse(`${first}<wait>${right.steps}`, right.answer), kind: "check" };
  }
  const wrong = arithTrace(a, b, wrongStep(rng, a, b));
  return { question, response: arithResponse(wrong.steps, wrong.answer), kind: "wrong-trace" };
}

const MAX_ANSWER = 12;

/**
 * 1 when the last <answer> after the thinking holds exactly the sum (digits only, no sign, ≤ 12
 * characters). `prefix`: what the template wrote of the response (ctx.responsePrefix; "" for "none").
 */
export function scoreArithmetic(response: string, ref: ArithRef, prefix = ""): Scored {
  const format = /^<think>[^]*<\/think><answer>[^]*<\/answer>$/.test(response.trim()) ? 1 : 0;
  const s = scoreExactInteger(response, String(ref.a + ref.b), prefix);
  return { ...s, parts: { ...s.parts, format } };
}

/**
 * 1 when the last <answer> after the thinking holds exactly `expected` (a non-negative integer's digits;
 * no sign, ≤ 12 characters), else 0. The arithmetic and multiplication demos' reward.
 */
export function scoreExactInteger(response: string, expected: string, prefix = ""): Scored {
  const span = lastTagSpan(answerRegion(response, prefix), "answer");
  if (span === null) return { reward: 0, parts: { accuracy: 0 }, correct: false, extracted: null, reason: "no answer" };
  const text = span.trim();
  const ok = text.length <= MAX_ANSWER && /^\d+$/.test(text) && BigInt(text) === BigInt(expected);
  return { reward: ok ? 1 : 0, parts: { accuracy: ok ? 1 : 0 }, correct: ok, extracted: text.slice(0, MAX_ANSWER), reason: ok ? "correct" : "wrong" };
}

export interface ArithmeticOptions {
  seed: number;
  heldOutPermille: number;
}

/** Problems a+b with a, b in 100..999 from a seeded stream, on one side of the hash split. */
function source(side: "train" | "test", o: ArithmeticOptions): ProblemSource<ArithRef> {
  const rng = new Rng(o.seed, `arithmetic/${side}`);
  const cache: Problem<ArithRef>[] = [];
  return {
    size: null,
    get(i) {
      while (cache.length <= i) {
        const a = rng.intBetween(100, 999);
        const b = rng.intBetween(100, 999);
        const question = arithQuestion(a, b);
        if (isHeldOut(question, o.heldOutPermille) !== (side === "test")) continue;
        cache.push({ id: `arithmetic-${side}-${cache.length}`, question, answer: String(a + b), reference: { a, b } });
      }
      return cache[i]!;
    },
  };
}

export function arithmeticTask(o: ArithmeticOptions): Task<ArithRef> {
  // The held-out set does not depend on the run's seed: every run evaluates on the same problems.
  const test = source("test", { ...o, seed: 0 });
  return {
    name: "arithmetic",
    train: source("train", o),
    heldOut: (count) => Array.from({ length: count }, (_, i) => test.get(i)),
    score: (response, problem, ctx) => scoreArithmetic(response, problem.reference, ctx.responsePrefix),
    defaultTemplate: "none",
    recheckMarkers: ["<wait>"],
    stop: ["</answer>"],
  };
}
