/**
 * A task: where problems come from (a seeded generator or a data file), which part is held out,
 * how a problem becomes a prompt (src/tasks/templates.ts) and how a response is scored.
 */

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

export interface Scored {
  /** The scalar reward; null = unscorable (left out of the group's baseline, advantage 0). */
  reward: number | null;
  parts: Record<string, number>;
  correct: boolean;
  extracted: string | null;
  reason: string;
}

/** Problems by index: generators are unbounded (size null), files are finite. */
export interface ProblemSource<R = unknown> {
  size: number | null;
  get(i: number): Problem<R>;
}

export interface ScoreContext {
  /** Text the prompt ends with that belongs to the response (the r1-zero template's "<think>"). */
  responsePrefix: string;
}

export interface Task<R = unknown> {
  name: string;
  /** Training problems (never any of the held-out ones). */
  train: ProblemSource<R>;
  /** The first `count` held-out problems (the same for every run with the same task settings). */
  heldOut(count: number): Problem<R>[];
  score(response: string, problem: Problem<R>, ctx: ScoreContext): Scored;
  /** Template used when the config says "auto". */
  defaultTemplate: "r1-zero" | "chat" | "none";
  /** Extra markers of a response re-checking itself (added to the configured recheck words). */
  recheckMarkers?: readonly string[];
  /** Stop strings for sampling (besides end-of-sequence). */
  stop?: readonly string[];
}
