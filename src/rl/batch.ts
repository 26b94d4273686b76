/**
 * Packing responses into micro-batches for the trainer's forward/backward: each sequence is prompt +
 * response tokens; targets are the next token on response positions and −1 elsewhere (the model's
 * forward convention), so the log-prob at position t is that of token t+1.
 */

export interface Sequence {
  prompt: ArrayLike<number>;
  response: ArrayLike<number>;
}

export interface PackedBatch {
  tokens: Int32Array; // (T) prompt+response of each sequence, packed
  cuSeqlens: Int32Array; // (S+1)
  targets: Int32Array; // (T) next token on response positions, −1 elsewhere
  /** For each sequence of the batch, the index into the caller's list. */
  index: number[];
  /** Positions in `tokens` whose target is response token j of sequence s: respPos[s][j]. */
  respPos: Int32Array[];
}

export function packSequences(seqs: readonly Sequence[], index: readonly number[]): PackedBatch {
  let T = 0;
  for (const i of index) T += seqs[i]!.prompt.length + seqs[i]!.response.length;
  const tokens = new Int32Array(T);
  const targets = new Int32Array(T).fill(-1);
  const cuSeqlens = new Int32Array(index.length + 1);
  const respPos: Int32Array[] = [];
  let o = 0;
  index.forEach((i, s) => {
    const { prompt, response } = seqs[i]!;
    if (prompt.length < 1) throw new RangeError(`sequence ${i}: a prompt needs at least one token`);
    for (let t = 0; t < prompt.length; t++) tokens[o + t] = prompt[t]!;
    for (let t = 0; t < response.length; t++) tokens[o + prompt.length + t] = response[t]!;
    const pos = new Int32Array(response.length);
    for (let j = 0; j < response.length; j++) {
      const p = o + prompt.length - 1 + j; // predicts response token j
      targets[p] = response[j]!;
      pos[j] = p;
    }
    respPos.push(pos);
    o += prompt.length + response.length;
    cuSeqlens[s + 1] = o;
  });
  return { tokens, cuSeqlens, targets, index: [...index], respPos };
}

/**
 * Splits sequence indices into micro-batches of at most `tokenCap` tokens each (greedy, in order; a
 * sequence longer than the cap gets a micro-batch of its own).
 */
export function microBatches(seqs: readonly Sequence[], index: readonly number[], tokenCap: number): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  let tokens = 0;
  for (const i of index) {
    const n = seqs[i]!.prompt.length + seqs[i]!.response.length;
    if (cur.length > 0 && tokens + n > tokenCap) {
      out.push(cur);
      cur = [];
      tokens = 0;
    }
    cur.push(i);
    tokens += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
