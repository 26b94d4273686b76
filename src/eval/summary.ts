/**
 * The evaluation report (docs/run-directory.md, "aha eval output"): per-question rows as written to
 * results.jsonl, and the summary computed from them — so the summary can always be recomputed from the
 * rows alone (test/eval checks it against an independent implementation).
 */
import type { EpisodeRecord } from "../env/types.js";
import { toolMetrics } from "../rollout/episode.js";
import { majorityCorrect, meanPassAt1, meanPassAtK, type Sample } from "./metrics.js";

export interface SampleRow {
  response: string;
  /** The extracted answer (whitespace-normalised); equal strings vote together in maj@k. */
  extracted: string | null;
  correct: boolean;
  /** Completion length in tokens. */
  length: number;
  /** Ended by the token limit. */
  truncated: boolean;
  /** Multi-turn episodes (tools): spans, calls, finish reason; `length` counts the model's tokens only. */
  episode?: EpisodeRecord;
}

export interface ResultRow {
  id: string;
  question: string;
  answer: string;
  category?: string;
  samples: SampleRow[];
  "pass@1": number;
}

export interface Metrics {
  questions: number;
  "pass@1": number;
  /** Unbiased pass@k' for k' = 1, 2, 4, … ≤ k and k itself. */
  "pass@k": Record<string, number>;
  "maj@k": number;
  "length/mean": number;
  truncated_frac: number;
}

export interface EvalSummary extends Metrics {
  model: string;
  task: string;
  samples: number;
  categories: Record<string, Metrics>;
  [extra: string]: unknown;
}

/** k' values reported: powers of two below k, and k. */
export function passKs(k: number): number[] {
  const out: number[] = [];
  for (let x = 1; x < k; x *= 2) out.push(x);
  out.push(k);
  return out;
}

/** Metrics over rows that all have k samples. */
export function metricsOf(rows: readonly ResultRow[], k: number): Metrics {
  const per: Sample[][] = rows.map((r) => r.samples.map((s) => ({ answerKey: s.extracted, correct: s.correct })));
  const all = rows.flatMap((r) => r.samples);
  const passK: Record<string, number> = {};
  for (const kk of passKs(k)) passK[String(kk)] = rows.length === 0 ? 0 : meanPassAtK(per, kk);
  return {
    questions: rows.length,
    "pass@1": meanPassAt1(per),
    "pass@k": passK,
    "maj@k": rows.length === 0 ? 0 : per.filter((s) => majorityCorrect(s)).length / rows.length,
    "length/mean": all.length === 0 ? 0 : all.reduce((a, s) => a + s.length, 0) / all.length,
    truncated_frac: all.length === 0 ? 0 : all.filter((s) => s.truncated).length / all.length,
  };
}

/** The summary: overall metrics plus one block per category (rows without one are left out of those). */
export function summarize(rows: readonly ResultRow[], o: { model: string; task: string; samples: number; extra?: Record<string, unknown> }): EvalSummary {
  const cats = new Map<string, ResultRow[]>();
  for (const r of rows) {
    if (r.category === undefined) continue;
    const list = cats.get(r.category) ?? [];
    list.push(r);
    cats.set(r.category, list);
  }
  const categories: Record<string, Metrics> = {};
  for (const name of [...cats.keys()].sort()) categories[name] = metricsOf(cats.get(name)!, o.samples);
  const tools = toolMetrics(rows.flatMap((r) => r.samples.flatMap((s) => (s.episode ? [s.episode] : []))));
  return { model: o.model, task: o.task, samples: o.samples, ...metricsOf(rows, o.samples), categories, ...tools, ...o.extra };
}
