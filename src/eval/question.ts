/**
 * One question of an evaluation by the R1 protocol (./evaluate.ts runEval): k samples from any rollout
 * engine, each scored by the task's verifier, as a results.jsonl row. No files and no Node APIs (the
 * /play page evaluates with it in a browser: src/play/).
 */
import type { RolloutEngine, RolloutRequest } from "../rollout/engine.js";
import type { EpisodeSetup } from "../rollout/episode.js";
import type { RemoteRolloutRequest } from "../rollout/remote.js";
import type { Problem, Task } from "../tasks/types.js";
import { renderPrompt, type ChatRenderer, type TemplateName } from "../tasks/templates.js";
import { fnv1a32 } from "../util/rng.js";
import type { ResultRow, SampleRow } from "./summary.js";

export interface Sampling {
  samples: number;
  temperature: number;
  topP: number;
  topK?: number;
  maxTokens: number;
  seed: number;
}

/** R1 protocol defaults (REFERENCE.md, "Evaluation"). */
export const R1_SAMPLING: Omit<Sampling, "maxTokens"> = { samples: 4, temperature: 0.6, topP: 0.95, seed: 0 };

export interface Prepared {
  /** Fields of the rollout request (promptIds may be empty when the engine takes text). */
  request: Pick<RemoteRolloutRequest, "promptIds" | "promptText" | "messages">;
  /** What the template put at the start of the response (the r1-zero "<think>"), for the scorer. */
  responsePrefix: string;
}

const normaliseAnswer = (s: string | null): string | null => (s === null ? null : s.trim().replace(/\s+/g, " "));

/** What evalQuestion needs of runEval's options. */
export interface QuestionOptions {
  engine: RolloutEngine;
  prepare: (p: Problem<unknown>) => Prepared;
  score: Task<unknown>["score"];
  sampling: Sampling;
  stopTokenIds?: readonly number[];
  stopStrings?: readonly string[];
  /** Token ids → response text (the stop token already removed); default: the completion's `text`. */
  decode?: (ids: Int32Array) => string;
  signal?: AbortSignal;
  /** Multi-turn episodes with an environment (tools); needs `decode`. pass@k is then over episodes. */
  episodes?: EpisodeSetup | null;
}

/** k samples of one question (seeded by (seed, question id)), scored: its results.jsonl row. */
export async function evalQuestion(o: QuestionOptions, p: Problem<unknown>): Promise<ResultRow> {
  const k = o.sampling.samples;
  const stops = new Set(o.stopTokenIds ?? []);
  const ep = o.episodes ?? null;
  const decode = o.decode;
  if (ep && !decode) throw new Error("episodes with tools need the engine's token ids and a tokenizer to decode them");
  const prep = o.prepare(p);
  const req: RolloutRequest & Prepared["request"] = {
    ...prep.request,
    n: k,
    maxNewTokens: o.sampling.maxTokens,
    temperature: o.sampling.temperature,
    topP: o.sampling.topP,
    ...(o.sampling.topK ? { topK: o.sampling.topK } : {}),
    ...(o.stopTokenIds && o.stopTokenIds.length > 0 ? { stopTokenIds: o.stopTokenIds } : {}),
    ...(o.stopStrings && o.stopStrings.length > 0 ? { stopStrings: o.stopStrings } : {}),
    seed: fnv1a32(`aha-eval/${o.sampling.seed}/${p.id}`),
    ...(ep ? { maxNewTokens: ep.limits.maxTokens, episode: { ...ep, problem: p, decode: (ids: ArrayLike<number>) => decode!(Int32Array.from(ids)) } } : {}),
  };
  const [completions] = await o.engine.generate([req], o.signal ? { signal: o.signal } : {});
  const samples = await Promise.all(completions!.map(async (c): Promise<SampleRow> => {
    const idsOut = c.tokenIds;
    const body = c.finishReason === "stop" && idsOut.length > 0 && stops.has(idsOut[idsOut.length - 1]!) ? idsOut.subarray(0, idsOut.length - 1) : idsOut;
    const response = o.decode && idsOut.length > 0 ? o.decode(body) : c.text ?? "";
    const s = await o.score(response, p, { responsePrefix: prep.responsePrefix });
    const envReward = c.episode?.reward;
    const correct = envReward !== undefined ? envReward > 0 : s.correct;
    const length = c.lossMask ? c.lossMask.reduce((a, m) => a + m, 0) : c.numTokens ?? idsOut.length;
    return { response, extracted: normaliseAnswer(s.extracted), correct, length, truncated: c.finishReason === "length", ...(c.episode ? { episode: c.episode } : {}) };
  }));
  return {
    id: p.id, question: p.question, answer: p.answer, ...(p.category !== undefined ? { category: p.category } : {}),
    samples, "pass@1": samples.filter((s) => s.correct).length / k,
  };
}

/** Prompt builder for token-id engines: the task's template, then the tokenizer. */
export function idsPrompter(template: TemplateName, encode: (text: string) => number[], chat?: ChatRenderer): (p: Problem<unknown>) => Prepared {
  return (p) => {
    const r = renderPrompt(template, p.question, chat ? { chat } : {});
    return { request: { promptIds: encode(r.prompt), promptText: r.prompt }, responsePrefix: r.responsePrefix };
  };
}

