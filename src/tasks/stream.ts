/**
 * The order in which training problems are drawn, resumable from one number (the cursor). Finite
 * sources are shuffled per epoch with an RNG derived from (seed, epoch); unbounded generators are
 * read in order. `state()` goes into the checkpoint; `new PromptStream(source, seed, state)` resumes.
 */
import { Rng } from "../util/rng.js";
import type { Problem, ProblemSource } from "./types.js";

export interface StreamState {
  cursor: number;
}

export class PromptStream<R = unknown> {
  private cursor: number;
  private epoch = -1;
  private order: number[] = [];

  constructor(private readonly source: ProblemSource<R>, private readonly seed: number, state: StreamState = { cursor: 0 }) {
    if (source.size === 0) throw new RangeError("empty problem source");
    this.cursor = state.cursor;
  }

  state(): StreamState {
    return { cursor: this.cursor };
  }

  private at(k: number): Problem<R> {
    const n = this.source.size;
    if (n === null) return this.source.get(k);
    const epoch = Math.floor(k / n);
    if (epoch !== this.epoch) {
      this.order = new Rng(this.seed, `data/epoch-${epoch}`).shuffle(Array.from({ length: n }, (_, i) => i));
      this.epoch = epoch;
    }
    return this.source.get(this.order[k % n]!);
  }

  next(count: number): Problem<R>[] {
    const out: Problem<R>[] = [];
    for (let i = 0; i < count; i++) out.push(this.at(this.cursor++));
    return out;
  }
}
