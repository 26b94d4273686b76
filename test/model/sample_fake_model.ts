// A fake model for sampler tests: logits are a hash of the whole token history, so a KV-cache or slot
// mistake (wrong slot copied, stale cache, wrong position) changes the logits and shows.
import type { InferenceModel } from "../../src/model/sample.js";

export interface FakeCache {
  hist: number[][];
  maxLen: number;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class FakeModel implements InferenceModel<FakeCache> {
  readonly cfg: { vocabSize: number };
  calls = { prefill: 0, prefillRows: 0, decode: 0, decodeRows: 0, copySlot: 0 };
  constructor(vocabSize: number, private readonly scale = 3) {
    this.cfg = { vocabSize };
  }
  private logitsOf(hist: ArrayLike<number>, out: Float32Array): void {
    let h = 0x12345;
    for (let i = 0; i < hist.length; i++) h = fmix(h ^ Math.imul(hist[i]! + 1, 0x9e3779b1));
    for (let v = 0; v < this.cfg.vocabSize; v++) out[v] = this.scale * ((fmix(h ^ Math.imul(v + 7, 0x27d4eb2f)) / 2 ** 32) * 2 - 1);
  }
  createKVCache(slots: number, maxLen: number): FakeCache {
    return { hist: Array.from({ length: slots }, () => []), maxLen };
  }
  prefill(c: FakeCache, slots: Int32Array, tokens: Int32Array, cu: Int32Array): Float32Array {
    this.calls.prefill++;
    this.calls.prefillRows += slots.length;
    const V = this.cfg.vocabSize;
    const out = new Float32Array(slots.length * V);
    slots.forEach((s, i) => {
      c.hist[s] = [...tokens.subarray(cu[i]!, cu[i + 1]!)];
      if (c.hist[s]!.length > c.maxLen) throw new Error("cache overflow");
      this.logitsOf(c.hist[s]!, out.subarray(i * V, (i + 1) * V));
    });
    return out;
  }
  decode(c: FakeCache, slots: Int32Array, tokens: Int32Array): Float32Array {
    this.calls.decode++;
    this.calls.decodeRows += slots.length;
    if (new Set(slots).size !== slots.length) throw new Error("slot used twice in one decode");
    const V = this.cfg.vocabSize;
    const out = new Float32Array(slots.length * V);
    slots.forEach((s, i) => {
      c.hist[s]!.push(tokens[i]!);
      if (c.hist[s]!.length > c.maxLen) throw new Error("cache overflow");
      this.logitsOf(c.hist[s]!, out.subarray(i * V, (i + 1) * V));
    });
    return out;
  }
  copySlot(c: FakeCache, from: number, to: number): void {
    this.calls.copySlot++;
    c.hist[to] = [...c.hist[from]!];
  }
  lastLogits(tokens: Int32Array, cu: Int32Array): Float32Array {
    const V = this.cfg.vocabSize;
    const S = cu.length - 1;
    const out = new Float32Array(S * V);
    for (let i = 0; i < S; i++) this.logitsOf(tokens.subarray(cu[i]!, cu[i + 1]!), out.subarray(i * V, (i + 1) * V));
    return out;
  }
}
