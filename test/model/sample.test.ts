// The KV-cache sampler against its full-recompute oracle (on a fake model whose logits hash the whole
// history, so any cache/slot mistake shows), plus the token chooser against hand-computed distributions.
import { describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import { FakeModel } from "./sample_fake_model.js";
import { loadNativeBackend } from "../../src/kernels/native.js";
import { tsBackend } from "../../src/kernels/ts.js";
import {
  BatchSampler,
  SeqRng,
  TokenSampler,
  generate,
  generateFullRecompute,
  generateStream,
  type SampleEvent,
  type SampleOutput,
  type SampleRequest,
} from "../../src/model/sample.js";

const native = loadNativeBackend();

const simplify = (o: SampleOutput[][]): unknown =>
  o.map((r) => r.map((s) => ({ t: [...s.tokens], lp: [...s.logprobs], slp: [...s.samplerLogprobs], f: s.finishReason })));

/** A stand-in for stop strings: stop once the token sum is a multiple of 11. */
const sumStop = (t: readonly number[]): boolean => t.reduce((a, b) => a + b, 0) % 11 === 0;

function mixedRequests(V: number): SampleRequest[] {
  const prompt = (len: number, k: number): number[] => Array.from({ length: len }, (_, i) => (i * 7 + k * 13) % V);
  return [
    { promptIds: prompt(5, 1), n: 4, maxNewTokens: 12, temperature: 1, stopTokenIds: [3, 4] },
    { promptIds: prompt(1, 2), n: 1, maxNewTokens: 20, temperature: 0 },
    { promptIds: prompt(9, 3), n: 3, maxNewTokens: 7, temperature: 0.7, topK: 5, stopTokenIds: [0] },
    { promptIds: prompt(3, 4), n: 2, maxNewTokens: 0 },
    { promptIds: prompt(2, 5), n: 5, maxNewTokens: 15, temperature: 1.3, topP: 0.8, stopTokenIds: [1, 2, 5] },
    { promptIds: prompt(4, 6), n: 2, maxNewTokens: 1, temperature: 1 },
    { promptIds: prompt(6, 7), n: 1, maxNewTokens: 9, temperature: 0.5, topK: 3, topP: 0.9, seed: 99 },
    { promptIds: prompt(3, 8), n: 6, maxNewTokens: 14, temperature: 1, stopWhen: sumStop },
  ];
}

describe("KV-cache sampler vs full-recompute oracle (fake model)", () => {
  const V = 37;
  const reqs = mixedRequests(V);
  const oracle = simplify(generateFullRecompute(new FakeModel(V), reqs, { seed: 5 }));

  it.each([1, 2, 3, 5, 8, 64])("identical tokens, log-probs and finish reasons with %i slots", (slots) => {
    const m = new FakeModel(V);
    const got = generate(m, reqs, { slots, maxLen: 32, seed: 5 });
    expect(simplify(got)).toEqual(oracle);
    expect(got.map((r) => r.length)).toEqual(reqs.map((r) => r.n ?? 1));
  });

  it("the oracle itself: stop tokens end sequences (included), lengths respected, greedy = argmax", () => {
    const o = oracle as { t: number[]; lp: number[]; slp: number[]; f: string }[][];
    const stops = reqs.map((r) => new Set(r.stopTokenIds ?? []));
    let sawStop = 0;
    o.forEach((r, i) =>
      r.forEach((s, j) => {
        expect(s.t.length).toBeLessThanOrEqual(reqs[i]!.maxNewTokens);
        const stopped = (t: number[]): boolean => stops[i]!.has(t[t.length - 1]!) || reqs[i]!.stopWhen?.(t, j) === true;
        if (s.f === "stop") {
          sawStop++;
          expect(stopped(s.t)).toBe(true);
        } else expect(s.t.length).toBe(reqs[i]!.maxNewTokens);
        for (let k = 1; k < s.t.length; k++) expect(stopped(s.t.slice(0, k))).toBe(false);
      }),
    );
    expect(sawStop).toBeGreaterThan(0);
    expect(o[7]!.filter((s) => s.f === "stop").length).toBeGreaterThan(0); // stopWhen fired
    // Request 1 is greedy: each token is the argmax of the logits of the history so far.
    const m = new FakeModel(V);
    const hist = [...reqs[1]!.promptIds as number[]];
    for (const t of (o[1]![0]!).t) {
      const l = m.lastLogits(Int32Array.from(hist), Int32Array.of(0, hist.length));
      expect(t).toBe(l.indexOf(Math.max(...l)));
      hist.push(t);
    }
    expect(o[1]![0]!.slp.every((x) => x === 0)).toBe(true);
  });

  it("n samples share one prefill (copySlot for the others) when slots allow", () => {
    const m = new FakeModel(V);
    const rs: SampleRequest[] = [0, 1, 2].map((k) => ({ promptIds: [k, k + 1, k + 2], n: 4, maxNewTokens: 6, temperature: 1 }));
    generate(m, rs, { slots: 12, maxLen: 16 });
    expect(m.calls.prefill).toBe(1); // all three prompts in one prefill call
    expect(m.calls.prefillRows).toBe(3);
    expect(m.calls.copySlot).toBe(9);
    expect(m.calls.decodeRows).toBeLessThanOrEqual(12 * 5);
  });

  it("continuous batching: a finished sequence's slot is reused while others still decode", () => {
    const m = new FakeModel(V);
    const rs: SampleRequest[] = [
      { promptIds: [1, 2], maxNewTokens: 2, temperature: 0 },
      { promptIds: [3], maxNewTokens: 10, temperature: 0 },
      { promptIds: [4, 5, 6], maxNewTokens: 3, temperature: 0 },
    ];
    const s = new BatchSampler(m, { slots: 2, maxLen: 16 });
    for (const r of rs) s.add(r);
    const firstTokenStep: number[] = [];
    let step = 0;
    while (s.busy) {
      for (const e of s.step()) if (e.type === "token" && firstTokenStep[e.requestIndex] === undefined) firstTokenStep[e.requestIndex] = step;
      step++;
    }
    // Steps 0: prefill 0 and 1 (first tokens) + decode (second tokens): request 0 done. Step 1: request 2
    // is prefilled into the freed slot while request 1 decodes; request 1 ends at step 8.
    expect(firstTokenStep).toEqual([0, 0, 1]);
    expect(step).toBe(9);
    expect(simplify(rs.map((_, i) => s.outputs(i) as SampleOutput[]))).toEqual(simplify(generateFullRecompute(m, rs)));
  });

  it("results do not depend on the batch: a request with its own seed samples the same alone or with others", () => {
    const target: SampleRequest = { promptIds: [9, 8, 7], n: 3, maxNewTokens: 10, temperature: 1.1, topP: 0.95, seed: 1234 };
    const alone = generate(new FakeModel(V), [target], { slots: 1, maxLen: 16 });
    const crowd = generate(new FakeModel(V), [...mixedRequests(V), target, ...mixedRequests(V)], { slots: 4, maxLen: 32, seed: 77 });
    expect(simplify([crowd[8]!])).toEqual(simplify(alone));
    // Different seeds give different samples (the seed is used at all).
    const other = generate(new FakeModel(V), [{ ...target, seed: 1235 }], { slots: 1, maxLen: 16 });
    expect(simplify(other)).not.toEqual(simplify(alone));
  });

  it("streams token events in order, then one finish event per sample", async () => {
    const events: SampleEvent[] = [];
    for await (const e of generateStream(new FakeModel(V), reqs, { slots: 3, maxLen: 32, seed: 5 })) events.push(e);
    const rebuilt = reqs.map((r) => Array.from({ length: r.n ?? 1 }, () => [] as number[]));
    const finished = new Set<string>();
    for (const e of events) {
      if (e.type === "token") {
        expect(finished.has(`${e.requestIndex}/${e.sampleIndex}`)).toBe(false);
        rebuilt[e.requestIndex]![e.sampleIndex]!.push(e.token);
      } else if (e.type === "finish") finished.add(`${e.output.requestIndex}/${e.output.sampleIndex}`);
    }
    expect(finished.size).toBe(reqs.reduce((a, r) => a + (r.n ?? 1), 0));
    expect(rebuilt).toEqual((oracle as { t: number[] }[][]).map((r) => r.map((s) => s.t)));
  });

  it("rejects bad requests with a UserError naming the request and field", () => {
    const s = new BatchSampler(new FakeModel(V), { slots: 2, maxLen: 8 });
    const bad = (r: Partial<SampleRequest>, re: RegExp): void => {
      expect(() => s.add({ promptIds: [1], maxNewTokens: 2, ...r })).toThrow(UserError);
      expect(() => s.add({ promptIds: [1], maxNewTokens: 2, ...r })).toThrow(re);
    };
    bad({ promptIds: [] }, /request 0: promptIds is empty/);
    bad({ promptIds: [1, 37] }, /request 0: promptIds\[1\] = 37 is not a token id in \[0, 37\)/);
    bad({ maxNewTokens: 9 }, /prompt \(1 tokens\) \+ maxNewTokens \(9\) does not fit the cache length 8/);
    bad({ temperature: -1 }, /temperature must be ≥ 0/);
    bad({ topP: 0 }, /topP must be in \(0, 1\]/);
    bad({ topK: 1.5 }, /topK must be an integer/);
    bad({ n: 0 }, /n must be an integer ≥ 1/);
    expect(s.add({ promptIds: [1], maxNewTokens: 7 })).toBe(0); // exactly fits: the last token is never fed back
  });
});

// ***** the token chooser *****

const logSoftmax = (l: number[]): number[] => {
  const m = Math.max(...l);
  const z = Math.log(l.reduce((a, x) => a + Math.exp(x - m), 0)) + m;
  return l.map((x) => x - z);
};

/** Tokens sampled at u = (i + 0.5) / N for i < N: exact inverse-CDF frequencies. */
function gridCounts(ts: TokenSampler, logits: Float32Array, p: { temperature: number; topP: number; topK: number }, N: number): number[] {
  const counts = new Array<number>(ts.vocabSize).fill(0);
  for (let i = 0; i < N; i++) counts[ts.sample(logits, p, (i + 0.5) / N)]!++;
  return counts;
}

/** Exact grid counts, ±1 for where the grid meets a boundary. */
function expectCounts(got: number[], want: number[]): void {
  got.forEach((c, i) => expect(Math.abs(c - want[i]!), `token ${i}: ${c} vs ${want[i]}`).toBeLessThanOrEqual(1));
}

describe("TokenSampler", () => {
  const probs = [0.05, 0.5, 0.1, 0.2, 0.15]; // sorted: 1 (0.5), 3 (0.2), 4 (0.15), 2 (0.1), 0 (0.05)
  const logits = Float32Array.from(probs.map(Math.log));
  const ts = new TokenSampler(5);

  it("log-prob is the model's temperature-1 log-softmax whatever the sampling settings", () => {
    const l = [2.5, -1, 0.3, 7, 7.1, -20];
    const t6 = new TokenSampler(6);
    const ref = logSoftmax(l);
    for (const p of [{ temperature: 0, topP: 1, topK: 0 }, { temperature: 0.3, topP: 0.5, topK: 2 }, { temperature: 2, topP: 1, topK: 0 }]) {
      for (const u of [0, 0.3, 0.999]) {
        const tok = t6.sample(Float32Array.from(l), p, u);
        expect(t6.logprob).toBeCloseTo(ref[tok]!, 5);
      }
    }
  });

  it("greedy and top-k = 1 pick the argmax (first one on ties)", () => {
    expect(ts.sample(logits, { temperature: 0, topP: 1, topK: 0 }, 0.9)).toBe(1);
    expect(ts.sample(logits, { temperature: 1, topP: 1, topK: 1 }, 0.9)).toBe(1);
    expect(ts.samplerLogprob).toBe(0);
    expect(new TokenSampler(4).sample(Float32Array.of(0, 3, 3, 1), { temperature: 0, topP: 1, topK: 0 }, 0)).toBe(1);
  });

  it("temperature 1, no cuts: inverse-CDF frequencies equal the probabilities", () => {
    const c = gridCounts(ts, logits, { temperature: 1, topP: 1, topK: 0 }, 10000);
    probs.forEach((p, i) => expect(Math.abs(c[i]! - p * 10000)).toBeLessThanOrEqual(1));
  });

  it("top-p keeps the smallest set with mass ≥ p (hand-computed)", () => {
    // p = 0.6: {1, 3} (0.7); p = 0.71: {1, 3, 4} (0.85); p = 0.45: {1}; p = 0.9: {1, 3, 4, 2} (0.95).
    const kept = (topP: number): number[] => {
      const c = gridCounts(ts, logits, { temperature: 1, topP, topK: 0 }, 2000);
      return c.flatMap((n, i) => (n > 0 ? [i] : []));
    };
    expect(kept(0.6)).toEqual([1, 3]);
    expect(kept(0.71)).toEqual([1, 3, 4]);
    expect(kept(0.45)).toEqual([1]);
    expect(kept(0.4)).toEqual([1]);
    expect(kept(0.9)).toEqual([1, 2, 3, 4]);
    // Renormalised: q(3) = 0.2 / 0.7.
    const c = gridCounts(ts, logits, { temperature: 1, topP: 0.6, topK: 0 }, 7000);
    expect(Math.abs(c[3]! - 2000)).toBeLessThanOrEqual(1);
    ts.sample(logits, { temperature: 1, topP: 0.6, topK: 0 }, 0.99);
    expect(ts.samplerLogprob).toBeCloseTo(Math.log(0.2 / 0.7), 6);
  });

  it("top-k keeps the k most likely, all ties at the boundary kept", () => {
    const c = gridCounts(ts, logits, { temperature: 1, topP: 1, topK: 3 }, 8500);
    expectCounts(c, [0, 5000, 0, 2000, 1500]);
    const tied = new TokenSampler(5);
    const cc = gridCounts(tied, Float32Array.of(1, 2, 2, 2, 0), { temperature: 1, topP: 1, topK: 2 }, 300);
    expectCounts(cc, [0, 100, 100, 100, 0]);
    // top-k then top-p on what is left: top-3 mass 0.85, p = 0.8 → 0.68 needed → {1, 3}.
    const c2 = gridCounts(ts, logits, { temperature: 1, topP: 0.8, topK: 3 }, 7000);
    expectCounts(c2, [0, 5000, 0, 2000, 0]);
  });

  it("temperature scales log-probabilities: chi-square of 20,000 seeded draws at T = 0.5 and T = 2", () => {
    for (const T of [0.5, 2]) {
      const q = probs.map((p) => p ** (1 / T));
      const s = q.reduce((a, b) => a + b);
      const rng = new SeqRng(42, 0, T * 10);
      const N = 20000;
      const counts = new Array<number>(5).fill(0);
      for (let i = 0; i < N; i++) counts[ts.sample(logits, { temperature: T, topP: 1, topK: 0 }, rng.uniform())]!++;
      const chi2 = counts.reduce((a, c, i) => a + (c - (N * q[i]!) / s) ** 2 / ((N * q[i]!) / s), 0);
      expect(chi2).toBeLessThan(18.47); // χ²(4 dof) at p = 0.001
      ts.sample(logits, { temperature: T, topP: 1, topK: 0 }, 0);
      expect(ts.samplerLogprob).toBeCloseTo(Math.log(q[0]! / s), 5);
    }
  });

  it("151,936-token vocabulary: top-k / top-p sets equal a full sort's", () => {
    const V = 151936;
    const rng = new SeqRng(7, 1, 2);
    const l = new Float32Array(V);
    for (let i = 0; i < V; i++) {
      // heavy head + flat tail, with some exact ties
      const g = Math.sqrt(-2 * Math.log(1 - rng.uniform())) * Math.cos(2 * Math.PI * rng.uniform());
      l[i] = i % 997 === 0 ? 9 : g * 2;
    }
    const big = new TokenSampler(V);
    for (const [T, topK, topP] of [[1, 50, 1], [0.7, 0, 0.9], [1.3, 1000, 0.5], [1, 0, 0.999]] as const) {
      const e = Array.from(l, (x) => Math.exp((x - 9) / T));
      const order = [...e.keys()].sort((a, b) => e[b]! - e[a]!);
      let keep = topK > 0 ? order.filter((i) => e[i]! >= e[order[topK - 1]!]!) : order;
      if (topP < 1) {
        const tot = keep.reduce((a, i) => a + e[i]!, 0);
        let acc = 0;
        let cut = keep.length;
        for (let j = 0; j < keep.length; j++) {
          acc += e[keep[j]!]!;
          if (acc >= topP * tot) {
            cut = j + 1;
            break;
          }
        }
        const last = e[keep[cut - 1]!]!;
        keep = keep.filter((i) => e[i]! >= last);
      }
      const keptSet = new Set(keep);
      const keptMass = keep.reduce((a, i) => a + e[i]!, 0);
      for (const u of [0, 0.25, 0.5, 0.999999]) {
        const tok = big.sample(l, { temperature: T, topP, topK }, u);
        expect(keptSet.has(tok)).toBe(true);
        // samplerLogprob = log(e_tok / kept mass): the kept mass matches the sort's
        expect(Math.log(e[tok]!) - big.samplerLogprob).toBeCloseTo(Math.log(keptMass), 4);
      }
    }
  });
});

describe("TokenSampler over a step's rows (prepare + sampleRow)", () => {
  it("picks the same tokens and log-probs as one row at a time, on the ts and native backends", () => {
    const V = 3000, R = 6;
    const rng = new SeqRng(11, 2, 3);
    const l = Float32Array.from({ length: R * V }, () => 6 * rng.uniform() - 3);
    l[2 * V + 17] = 9; // row 2: a clear maximum
    const params = [
      { temperature: 1, topP: 1, topK: 0 },
      { temperature: 0, topP: 1, topK: 0 },
      { temperature: 0.7, topP: 0.9, topK: 0 },
      { temperature: 1.3, topP: 1, topK: 40 },
      { temperature: 1, topP: 1, topK: 1 },
      { temperature: 0.5, topP: 1, topK: 0 },
    ];
    const us = [0.1, 0, 0.5, 0.77, 0.3, 0.999];
    for (const be of [tsBackend, ...(native.ok ? [native.backend] : [])]) {
      const one = new TokenSampler(V, tsBackend), rows = new TokenSampler(V, be);
      rows.prepare(l, params);
      const got: number[][] = [], want: number[][] = [];
      for (let r = 0; r < R; r++) {
        const t = rows.sampleRow(r, params[r]!, us[r]!);
        got.push([t, rows.logprob, rows.samplerLogprob]);
        const w = one.sample(l.subarray(r * V, (r + 1) * V), params[r]!, us[r]!);
        want.push([w, one.logprob, one.samplerLogprob]);
      }
      got.forEach((g, r) => {
        expect(g[0], `${be.name} row ${r}`).toBe(want[r]![0]);
        expect(g[1]).toBeCloseTo(want[r]![1]!, 5);
        expect(g[2]).toBeCloseTo(want[r]![2]!, 5);
      });
      expect(got[2]![0]).toBe(17);
      expect(() => rows.sampleRow(R, params[0]!, 0)).toThrow(/not prepared/);
    }
  });
});

describe("TokenSampler without e (rows that cut nothing)", () => {
  it("the draw at the middle of each token's CDF interval picks that token, over chunks, on the ts and native backends", () => {
    const V = 151_936, R = 3;
    const rng = new SeqRng(5, 1, 1);
    const l = Float32Array.from({ length: R * V }, () => 8 * rng.uniform() - 4);
    for (let r = 0; r < R; r++) l.fill(-Infinity, (r + 1) * V - 7, (r + 1) * V); // each row ends in −∞
    const params = [
      { temperature: 1, topP: 1, topK: 0 },
      { temperature: 0.6, topP: 1, topK: V },
      { temperature: 1.7, topP: 1, topK: 0 },
    ];
    for (const be of [tsBackend, ...(native.ok ? [native.backend] : [])]) {
      const ts = new TokenSampler(V, be);
      for (let r = 0; r < R; r++) {
        const row = l.subarray(r * V, (r + 1) * V), T = params[r]!.temperature;
        let m = -Infinity;
        for (const x of row) m = Math.max(m, x);
        const w = Array.from(row, (x) => Math.exp((x - m) / T));
        const mass = w.reduce((a, b) => a + b, 0);
        const lse = m + Math.log(Array.from(row, (x) => Math.exp(x - m)).reduce((a, b) => a + b, 0));
        let before = 0;
        const targets = new Set([0, 1, 1023, 1024, 5000, 77_777, V - 8]);
        for (let i = 0; i < V; i++) {
          if (targets.has(i)) {
            ts.prepare(l, params);
            const tok = ts.sampleRow(r, params[r]!, (before + w[i]! / 2) / mass);
            expect(tok, `${be.name} row ${r} token ${i}`).toBe(i);
            expect(ts.samplerLogprob).toBeCloseTo(Math.log(w[i]! / mass), 5);
            expect(ts.logprob).toBeCloseTo(row[i]! - lse, 5);
          }
          before += w[i]!;
        }
        // a draw at the very end lands on the last token with a weight, never on a −∞ one
        ts.prepare(l, params);
        expect(ts.sampleRow(r, params[r]!, 1 - 1e-12)).toBe(V - 8);
      }
      // prepared without e, a row that cuts is refused rather than sampled wrongly
      ts.prepare(l, params);
      expect(() => ts.sampleRow(0, { temperature: 1, topP: 0.9, topK: 0 }, 0.5)).toThrow(/prepared without/);
    }
  });
});

describe("SeqRng", () => {
  it("xoshiro128** core matches the reference algorithm's first outputs for state (1, 2, 3, 4)", () => {
    const r = new SeqRng(0, 0, 0);
    Object.assign(r, { s0: 1, s1: 2, s2: 3, s3: 4 });
    expect([r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([11520, 0, 5927040, 70819200]);
  });
  it("streams differ by seed, request and sample; uniform() is in [0, 1) with mean ≈ 0.5", () => {
    const first = (s: number, a: number, b: number): number => new SeqRng(s, a, b).nextU32();
    const seen = new Set([first(0, 0, 0), first(1, 0, 0), first(0, 1, 0), first(0, 0, 1), first(2 ** 40, 0, 0)]);
    expect(seen.size).toBe(5);
    const r = new SeqRng(3, 4, 5);
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const u = r.uniform();
      expect(u >= 0 && u < 1).toBe(true);
      sum += u;
    }
    expect(Math.abs(sum / 10000 - 0.5)).toBeLessThan(0.01);
  });
});
