/**
 * Countdown (TinyZero) and Knights & Knaves (Logic-RL) from the seeded generators (countdown-gen.ts, kk-gen.ts),
 * scored by their verifiers. Problems come in chunks from the generator (chunk c uses a seed derived
 * from the run's seed, the side and c), filtered by the hash split.
 */
import { extractEquation, scoreCountdown, type CountdownRef } from "../rewards/countdown.js";
import { answerRegion, lastTagSpan } from "../rewards/extract.js";
import { scoreKK, type KKPuzzle } from "../rewards/kk.js";
import { fnv1a32 } from "../util/rng.js";
import { generateCountdown, type CountdownGenOptions } from "./countdown-gen.js";
import { generateKK, type KKGenOptions } from "./kk-gen.js";
import { isHeldOut } from "./split.js";
import type { Problem, ProblemSource, Task } from "./types.js";

const CHUNK = 64;

export interface GeneratedOptions {
  seed: number;
  heldOutPermille: number;
}

/** Problems from a seeded generator in chunks of CHUNK (chunk c: a seed from name, side, seed and c), filtered by the hash split. */
export function chunkedSource<R>(name: string, side: "train" | "test", seed: number, permille: number, gen: (chunkSeed: number) => Omit<Problem<R>, "id">[]): ProblemSource<R> {
  const cache: Problem<R>[] = [];
  let chunk = 0;
  return {
    size: null,
    get(i) {
      while (cache.length <= i) {
        for (const p of gen(fnv1a32(`${name}/${side}/${seed}/${chunk++}`))) {
          if (isHeldOut(p.question, permille) !== (side === "test")) continue;
          cache.push({ ...p, id: `${name}-${side}-${cache.length}` });
        }
      }
      return cache[i]!;
    },
  };
}

/** TinyZero's instruction (its base-model prompt), with the numbers and target filled in. */
export function countdownQuestion(numbers: readonly number[], target: number): string {
  return (
    `Using the numbers [${numbers.join(", ")}], create an equation that equals ${target}. ` +
    `You can use basic arithmetic operations (+, -, *, /) and each number can only be used once. ` +
    `Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.`
  );
}

export function countdownTask(o: GeneratedOptions & { gen?: CountdownGenOptions }): Task<CountdownRef> {
  const gen = (s: number): Omit<Problem<CountdownRef>, "id">[] =>
    generateCountdown(s, CHUNK, o.gen ?? {}).map((c) => ({ question: countdownQuestion(c.numbers, c.target), answer: c.solution, reference: { numbers: c.numbers, target: c.target }, category: `${c.numbers.length} numbers` }));
  const test = chunkedSource("countdown", "test", 0, o.heldOutPermille, gen);
  return {
    name: "countdown",
    train: chunkedSource("countdown", "train", o.seed, o.heldOutPermille, gen),
    heldOut: (count) => Array.from({ length: count }, (_, i) => test.get(i)),
    score: (response, problem, ctx) => {
      const r = scoreCountdown(response, problem.reference, { prefix: ctx.responsePrefix });
      const correct = r.reason === "correct";
      return { reward: r.score, parts: { ...r.parts, accuracy: correct ? 1 : 0 }, correct, extracted: extractEquation(response, ctx.responsePrefix), reason: r.reason };
    },
    defaultTemplate: "r1-zero",
  };
}

export type KKRef = Pick<KKPuzzle, "names" | "solution">;

export function kkTask(o: GeneratedOptions & { gen?: KKGenOptions }): Task<KKRef> {
  const gen = (s: number): Omit<Problem<KKRef>, "id">[] =>
    generateKK(s, CHUNK, o.gen ?? {}).map((p) => ({ question: p.quiz, answer: p.solution_text, reference: { names: p.names, solution: p.solution }, category: `${p.names.length} people` }));
  const test = chunkedSource("kk", "test", 0, o.heldOutPermille, gen);
  return {
    name: "kk",
    train: chunkedSource("kk", "train", o.seed, o.heldOutPermille, gen),
    heldOut: (count) => Array.from({ length: count }, (_, i) => test.get(i)),
    score: (response, problem, ctx) => {
      const r = scoreKK(response, problem.reference, { prefix: ctx.responsePrefix });
      const correct = r.reason === "correct";
      return { reward: r.score, parts: { ...r.parts, accuracy: correct ? 1 : 0 }, correct, extracted: lastTagSpan(answerRegion(response, ctx.responsePrefix), "answer")?.trim() ?? null, reason: r.reason };
    },
    defaultTemplate: "r1-zero",
  };
}
