// The local rollout engine: same completions as the sampler it wraps, concurrent calls sharing one
// continuous batch without changing each other's results, streaming, abort, seeds, errors.
import { describe, expect, it } from "vitest";
import { AhaError, UserError } from "../../src/errors.js";
import { generate } from "../../src/model/sample.js";
import type { Completion, RolloutEvent, RolloutRequest } from "../../src/rollout/engine.js";
import { LocalRolloutEngine } from "../../src/rollout/local.js";
import { FakeModel } from "../model/sample_fake_model.js";

const V = 41;
const reqs: RolloutRequest[] = [
  { promptIds: [1, 2, 3], n: 3, maxNewTokens: 12, temperature: 1, stopTokenIds: [5], seed: 10 },
  { promptIds: [7], maxNewTokens: 9, temperature: 0, seed: 11 },
  { promptIds: [4, 4, 4, 4, 4], n: 2, maxNewTokens: 15, temperature: 0.8, topP: 0.9, topK: 10, seed: 12 },
  { promptIds: [9, 8], n: 2, maxNewTokens: 0, seed: 13 },
];
const simple = (c: Completion[][]): unknown => c.map((r) => r.map((s) => ({ t: [...s.tokenIds], lp: [...s.logprobs!], f: s.finishReason })));
const decode = (ids: Int32Array): string => [...ids].map((t) => String.fromCharCode(97 + (t % 26))).join("");

describe("LocalRolloutEngine", () => {
  it("gives the sampler's completions (model log-probs, finish reasons) with decoded text", async () => {
    const eng = new LocalRolloutEngine(new FakeModel(V), { slots: 3, maxLen: 32, decode });
    expect(eng.logprobKind).toBe("model");
    const got = await eng.generate(reqs);
    const want = generate(new FakeModel(V), reqs.map((r) => ({ ...r })), { slots: 5, maxLen: 32 });
    expect(simple(got)).toEqual(want.map((r) => r.map((s) => ({ t: [...s.tokens], lp: [...s.logprobs], f: s.finishReason }))));
    expect(got[0]![1]!.text).toBe(decode(got[0]![1]!.tokenIds));
    expect(got[3]!.map((s) => s.tokenIds.length)).toEqual([0, 0]);
    got.forEach((r, i) => r.forEach((s, j) => expect([s.requestIndex, s.sampleIndex]).toEqual([i, j])));
    await eng.close();
  });

  it("concurrent calls share the batch and each gets what it would get alone", async () => {
    const alone = await new LocalRolloutEngine(new FakeModel(V), { slots: 2, maxLen: 32 }).generate(reqs.slice(0, 2));
    const alone2 = await new LocalRolloutEngine(new FakeModel(V), { slots: 2, maxLen: 32 }).generate(reqs.slice(2));
    const m = new FakeModel(V);
    const eng = new LocalRolloutEngine(m, { slots: 2, maxLen: 32 });
    const [a, b] = await Promise.all([eng.generate(reqs.slice(0, 2)), eng.generate(reqs.slice(2))]);
    expect(simple(a)).toEqual(simple(alone));
    expect(simple(b)).toEqual(simple(alone2));
    expect(m.calls.decodeRows / m.calls.decode).toBeGreaterThan(1.5); // sequences of both calls decoded together
  });

  it("streams token and finish events with the call's own indices", async () => {
    const eng = new LocalRolloutEngine(new FakeModel(V), { slots: 4, maxLen: 32 });
    const events: RolloutEvent[] = [];
    const out = await eng.generate(reqs.slice(1, 3), { onEvent: (e) => events.push(e) });
    const toks = out.map((r) => r.map(() => [] as number[]));
    for (const e of events) if (e.type === "token") toks[e.requestIndex]![e.sampleIndex]!.push(e.token);
    expect(toks).toEqual(out.map((r) => r.map((s) => [...s.tokenIds])));
    expect(events.filter((e) => e.type === "finish")).toHaveLength(3);
  });

  it("seeds: a call seed reproduces, no seed differs from call to call", async () => {
    const unseeded: RolloutRequest[] = [{ promptIds: [3, 1], n: 4, maxNewTokens: 10, temperature: 1 }];
    const eng = new LocalRolloutEngine(new FakeModel(V), { slots: 4, maxLen: 32 });
    const a = await eng.generate(unseeded, { seed: 5 });
    const b = await eng.generate(unseeded, { seed: 5 });
    const c = await eng.generate(unseeded);
    const d = await eng.generate(unseeded);
    expect(simple(a)).toEqual(simple(b));
    expect(simple(c)).not.toEqual(simple(d));
    // The samples of one request differ from each other.
    expect(new Set(a[0]!.map((s) => [...s.tokenIds].join())).size).toBeGreaterThan(1);
  });

  it("abort rejects with AHA_ABORTED, frees the slots, and the engine keeps working", async () => {
    const m = new FakeModel(V);
    const eng = new LocalRolloutEngine(m, { slots: 2, maxLen: 64 });
    const ac = new AbortController();
    let tokens = 0;
    const p = eng.generate([{ promptIds: [1], n: 2, maxNewTokens: 60, temperature: 1 }], {
      signal: ac.signal,
      onEvent: (e) => {
        if (e.type === "token" && ++tokens === 6) ac.abort();
      },
    });
    await expect(p).rejects.toMatchObject({ code: "AHA_ABORTED" });
    expect(tokens).toBeLessThan(10);
    const after = await eng.generate(reqs.slice(1, 2));
    expect(after[0]![0]!.tokenIds.length).toBeGreaterThan(0);
    await expect(eng.generate(reqs, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AhaError);
  });

  it("a bad request rejects the call (UserError) and leaves nothing behind", async () => {
    const eng = new LocalRolloutEngine(new FakeModel(V), { slots: 2, maxLen: 16 });
    await expect(eng.generate([reqs[1]!, { promptIds: [1], maxNewTokens: 40 }])).rejects.toBeInstanceOf(UserError);
    await expect(eng.generate([{ promptIds: [V], maxNewTokens: 2 }])).rejects.toThrow(/request \d+: promptIds\[0\] = 41 is not a token id/);
    const ok = await eng.generate(reqs.slice(1, 2));
    expect(ok[0]![0]!.tokenIds.length).toBe(9);
  });

  it("stop strings end a completion on the token that completes them (decoded text kept whole)", async () => {
    const eng = new LocalRolloutEngine(new FakeModel(V), { slots: 4, maxLen: 64, decode });
    const out = await eng.generate([{ promptIds: [2, 3], n: 8, maxNewTokens: 40, temperature: 1, stopStrings: ["c", "ab"], seed: 3 }]);
    const has = (t: string): boolean => t.includes("c") || t.includes("ab");
    let stopped = 0;
    for (const s of out[0]!) {
      expect(s.text).toBe(decode(s.tokenIds));
      expect(has(decode(s.tokenIds.subarray(0, -1)))).toBe(false);
      if (s.finishReason === "stop") {
        stopped++;
        expect(has(s.text!)).toBe(true);
      } else expect(s.tokenIds.length).toBe(40);
    }
    expect(stopped).toBeGreaterThan(0);
    await expect(new LocalRolloutEngine(new FakeModel(V), { slots: 1, maxLen: 8 }).generate([{ promptIds: [1], maxNewTokens: 2, stopStrings: ["x"] }])).rejects.toThrow(/stopStrings need the engine's decode function/);
  });

  it("close rejects pending calls and refuses new ones", async () => {
    const eng = new LocalRolloutEngine(new FakeModel(V), { slots: 1, maxLen: 64 });
    const p = eng.generate([{ promptIds: [1], maxNewTokens: 60 }]);
    await eng.close();
    await expect(p).rejects.toMatchObject({ code: "AHA_ENGINE_CLOSED" });
    await expect(eng.generate(reqs)).rejects.toMatchObject({ code: "AHA_ENGINE_CLOSED" });
  });
});
