/**
 * A task: where problems come from (a seeded generator or a data file), which part is held out,
 * how a problem becomes a prompt (src/tasks/templates.ts) and how a response is scored.
 */
import type { ScoreContext, Scored } from "../rewards/types.js";

export type { ScoreContext, Scored } from "../rewards/types.js";

export interface Problem<R = unknown> {
  /** Stable id (generator: "<task>-<index>", file: "<file>:<row>"). */
  id: string;
  /** The question text that goes into the template. */
  question: string;
  /** The gold answer as text (for samples.jsonl and eval reports). */
  answer: string;
  /** What the verifier takes (gold string, { numbers, target }, a K&K puzzle, …). */
  reference: R;
  category?: string;
}

/** Problems by index: generators are unbounded (size null), files are finite. */
export interface ProblemSource<R = unknown> {
  size: number | null;
  get(i: number): Problem<R>;
}

export interface Task<R = unknown> {
  name: string;
  /** Training problems (never any of the held-out ones). */
  train: ProblemSource<R>;
  /** The first `count` held-out problems (the same for every run with the same task settings). */
  heldOut(count: number): Problem<R>[];
  /** The task's verifier (the `accuracy` part of the reward); may be async (the code sandbox). */
  score(response: string, problem: Problem<R>, ctx: ScoreContext): Scored | Promise<Scored>;
  /** Template used when the config says "auto". */
  defaultTemplate: "r1-zero" | "chat" | "none";
  /** Extra markers of a response re-checking itself (added to the configured recheck words). */
  recheckMarkers?: readonly string[];
  /** Stop strings for sampling (besides end-of-sequence). */
  stop?: readonly string[];
}
