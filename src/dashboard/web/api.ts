/// <reference lib="dom" />
/** The dashboard server's JSON API (src/dashboard/server.ts), typed. */
import type { EvalInfo, EvalResult, RunInfo, Sample } from "../runs.js";

export type { EpisodeView, EvalInfo, EvalResult, EvalSample, RunInfo, Sample } from "../runs.js";
export type Row = Record<string, unknown>;
export type Verdict = "all" | "correct" | "incorrect";

async function get<T>(path: string, params: Record<string, string | number | null | undefined>): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  const res = await fetch(`${path}?${q.toString()}`, { cache: "no-store" });
  const body = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

export const api = {
  runs: () => get<{ root: string; runs: RunInfo[]; evals: EvalInfo[] }>("/api/runs", {}),
  run: (run: string) => get<{ info: RunInfo; config: Row | null; summary: Row | null }>("/api/run", { run }),
  metrics: (run: string, since = 0) => get<{ rows: Row[]; offset: number }>("/api/metrics", { run, since }),
  samples: (run: string, p: { step: number | null; verdict: Verdict; q: string }) =>
    get<{ steps: number[]; step: number | null; total: number; samples: Sample[]; matches: Record<string, number> }>("/api/samples", {
      run,
      step: p.step,
      verdict: p.verdict,
      q: p.q,
    }),
  evalSummary: (path: string) => get<{ info: EvalInfo; summary: Row | null }>("/api/eval", { path }),
  evalResults: (path: string, p: { verdict: Verdict; q: string; category: string; offset: number; limit: number }) =>
    get<{ total: number; categories: string[]; results: EvalResult[] }>("/api/eval/results", { path, ...p }),
  liveUrl: (run: string, since: number) => `/api/live?${new URLSearchParams({ run, since: String(since) }).toString()}`,
};
