/**
 * The tools demo's task (`aha train --demo tools`): 4-digit × 3-digit multiplication, which a tiny
 * model cannot do in its head but can with the calculator tool (plain tags, src/env/):
 *
 *   question   4821*367=
 *   head       <answer>1769307</answer>                                   (usually wrong)
 *   tool       <calculator>4821*367</calculator><result>1769307</result><answer>1769307</answer>
 *              the model writes up to </calculator>; the environment appends <result>…</result>
 *              (masked from the loss); the model copies the value into its answer.
 * Reward: 1 when the last <answer> holds exactly the product (scoreExactInteger, as the arithmetic
 * demo), else 0. Nothing in the reward mentions the tool: RL has to find that calling it pays.
 *
 * The corpus generator writes the base model's pretraining mix (scripts/make_tools_demo_model.py):
 * mostly answers in the head, a minority of episodes that call the calculator and copy its result,
 * some calls with a mistyped operand (a wrong result, copied faithfully) and some broken calls (an
 * error observation, then an answer in the head). So the base model can use the tool but rarely does.
 */
import { Rng } from "../util/rng.js";
import { scoreExactInteger } from "./arithmetic.js";
import { chunkedSource } from "./generated.js";
import type { Problem, Task } from "./types.js";

/** The calculator's plain tags (the tools machinery's calculator format). */
export const CALC_TAGS = { call: "<calculator>", callEnd: "</calculator>", result: "<result>", resultEnd: "</result>" } as const;

/**
 * The demo model's vocabulary (id = index): pad/bos/eos/unk, the answer and calculator tags (single
 * tokens), then newline and printable ASCII one character each — so any observation the environment
 * appends (an error message too) can be tokenized.
 */
export const MULTIPLY_VOCAB: readonly string[] = [
  "<pad>", "<bos>", "<eos>", "<unk>",
  "<answer>", "</answer>", CALC_TAGS.call, CALC_TAGS.callEnd, CALC_TAGS.result, CALC_TAGS.resultEnd,
  "\n", ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)),
];
/** Tokens the tokenizer marks special (besides pad/bos/eos/unk): the calculator's tags, one id each. */
export const MULTIPLY_SPECIAL_TAGS: readonly string[] = Object.values(CALC_TAGS);

export interface MultiplyRef {
  a: number;
  b: number;
}

export const multiplyQuestion = (a: number, b: number): string => `${a}*${b}=`;
/** The exact product as digits (BigInt: exact whatever the operands). */
export const product = (a: number, b: number): string => (BigInt(a) * BigInt(b)).toString();

/** A call of the calculator with `expr`. */
export const calculatorCall = (expr: string): string => `${CALC_TAGS.call}${expr}${CALC_TAGS.callEnd}`;

/** Kinds of pretraining episodes: in the head, a good call, a call with a mistyped operand, a broken call. */
export type MultiplyCorpusKind = "head" | "tool" | "typo" | "broken";

/** Shares of the kinds of calls in a pretraining mix (the rest is "head"). */
export interface MultiplyMix {
  tool: number;
  typo: number;
  broken: number;
}

/** The base model's habit: the mix of the last phase of pretraining (18 % of episodes call the calculator). */
export const MULTIPLY_MIX: MultiplyMix = { tool: 0.12, typo: 0.03, broken: 0.03 };

/** One segment of a corpus episode: the model's text (trained on) or the environment's (masked). */
export interface Segment {
  text: string;
  env: boolean;
}

/** `a` with one digit changed (never the leading digit to 0). */
function mistype(rng: Rng, a: number): number {
  const d = String(a).split("");
  const i = rng.int(d.length);
  const old = Number(d[i]);
  let v = old;
  while (v === old || (i === 0 && v === 0)) v = rng.int(10);
  d[i] = String(v);
  return Number(d.join(""));
}

/** A malformed expression (an operand left out, two operators, an unclosed parenthesis): the calculator answers with an error. */
function broken(rng: Rng, a: number, b: number): string {
  return rng.pick([`${a}*`, `*${b}`, `${a}*/${b}`, `${a}*${b}*`, `(${a}*${b}`]);
}

/**
 * One pretraining episode as segments. `observe(expr)` is the environment's observation for a call
 * with `expr` (the text it appends, e.g. "<result>1769307</result>"): the corpus script passes the
 * calculator tool itself, so the corpus holds exactly what the environment appends.
 */
export function multiplyCorpusExample(rng: Rng, observe: (expr: string) => string, mix: MultiplyMix = MULTIPLY_MIX): { question: string; segments: Segment[]; kind: MultiplyCorpusKind } {
  const a = rng.intBetween(1000, 9999);
  const b = rng.intBetween(100, 999);
  const question = multiplyQuestion(a, b);
  const u = rng.float();
  const answer = (x: string): Segment => ({ text: `<answer>${x}</answer>`, env: false });
  const call = (expr: string, value: (obs: string) => string): Segment[] => {
    const obs = observe(expr);
    return [{ text: calculatorCall(expr), env: false }, { text: obs, env: true }, answer(value(obs))];
  };
  const resultOf = (obs: string): string => {
    const open = obs.indexOf(CALC_TAGS.result);
    const close = obs.lastIndexOf(CALC_TAGS.resultEnd);
    return open >= 0 && close > open ? obs.slice(open + CALC_TAGS.result.length, close).trim() : "";
  };
  if (u < mix.tool) return { question, segments: call(`${a}*${b}`, resultOf), kind: "tool" };
  if (u < mix.tool + mix.typo) {
    const [x, y] = rng.float() < 0.5 ? [mistype(rng, a), b] : [a, mistype(rng, b)];
    return { question, segments: call(`${x}*${y}`, resultOf), kind: "typo" };
  }
  // a broken call gets an error back; the episode then answers in the head
  if (u < mix.tool + mix.typo + mix.broken) return { question, segments: call(broken(rng, a, b), () => product(a, b)), kind: "broken" };
  return { question, segments: [answer(product(a, b))], kind: "head" };
}

/** How many calculator calls a response makes (its opening tags). */
export function countCalls(response: string): number {
  let n = 0;
  for (let i = response.indexOf(CALC_TAGS.call); i >= 0; i = response.indexOf(CALC_TAGS.call, i + 1)) n++;
  return n;
}

export interface MultiplyOptions {
  seed: number;
  heldOutPermille: number;
}

const CHUNK = 64;

/** Problems a*b with a in 1000..9999 and b in 100..999, from chunks of a seeded generator, split by hash. */
function gen(chunkSeed: number): Omit<Problem<MultiplyRef>, "id">[] {
  const rng = new Rng(chunkSeed, "multiply");
  return Array.from({ length: CHUNK }, () => {
    const a = rng.intBetween(1000, 9999);
    const b = rng.intBetween(100, 999);
    return { question: multiplyQuestion(a, b), answer: product(a, b), reference: { a, b } };
  });
}

export function multiplyTask(o: MultiplyOptions): Task<MultiplyRef> {
  // The held-out set does not depend on the run's seed: every run evaluates on the same problems.
  const test = chunkedSource("multiply", "test", 0, o.heldOutPermille, gen);
  return {
    name: "multiply",
    train: chunkedSource("multiply", "train", o.seed, o.heldOutPermille, gen),
    heldOut: (count) => Array.from({ length: count }, (_, i) => test.get(i)),
    score: (response, problem, ctx) => scoreExactInteger(response, product(problem.reference.a, problem.reference.b), ctx.responsePrefix),
    defaultTemplate: "none",
    stop: ["</answer>"],
  };
}
