// Episodes on the local engine: the token ids are the model's own plus the environment's, in order
// (checked against a teacher-forced full recompute, the oracle), the mask marks them, a slow
// environment does not hold up the other sequences, and every limit ends an episode with its name.
import { describe, expect, it } from "vitest";
import { tagFormat } from "../../src/env/formats.js";
import { toolEnvironment } from "../../src/env/tools.js";
import type { Environment, EpisodeLimits, StepResult, Tool } from "../../src/env/types.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import type { Completion, RolloutEvent, RolloutRequest } from "../../src/rollout/engine.js";
import type { EpisodeSpec } from "../../src/rollout/episode.js";
import { LocalRolloutEngine } from "../../src/rollout/local.js";
import type { InferenceModel } from "../../src/model/sample.js";
import { FakeModel } from "../model/sample_fake_model.js";
import { cfg as tinyCfg } from "../rl/tiny.js";

const V = 41;
// token t ↔ the letter (t % 26); observation text is lowercase letters → their index
const decode = (ids: ArrayLike<number>): string => Array.from(ids, (t) => String.fromCharCode(97 + (t % 26))).join("");
const encode = (text: string): number[] => [...text].map((c) => (c.charCodeAt(0) - 97 + 26 * 40) % 26);
const CALL_IDS = [16, 17, 18]; // "q", "r", "s" end a turn with a call
const limits: EpisodeLimits = { maxTurns: 10, maxTokens: 1000, toolSeconds: 10, observationBytes: 10_000 };
const problem = { id: "p", question: "", answer: "", reference: null };

/** An environment answering each call with a fixed observation made from the turn's index. */
function echoEnv(o: { delayMs?: (turn: number, text: string) => number; throwAt?: number; obs?: (turn: number) => string } = {}): Environment & { turns: string[] } {
  const turns: string[] = [];
  return {
    name: "echo", turnEnd: ["q", "r", "s"], turns,
    start: () => ({
      async step(turn): Promise<StepResult> {
        turns.push(turn.text);
        if (turn.ended !== "call") return { type: "end" };
        if (o.throwAt === turn.index) throw new Error("boom");
        const d = o.delayMs?.(turn.index, turn.text) ?? 0;
        if (d > 0) await new Promise((r) => setTimeout(r, d));
        const text = o.obs?.(turn.index) ?? "xy".repeat(turn.index + 1);
        return { type: "observation", text, calls: [{ name: "echo", input: { turn: turn.index }, output: text, seconds: d / 1000 }] };
      },
    }),
  };
}

const spec = (env: Environment, l: Partial<EpisodeLimits> = {}): EpisodeSpec => ({ env, problem, limits: { ...limits, ...l }, encode, decode, turnEndIds: CALL_IDS });

/** The oracle: every model token is the argmax of a full recompute over the prompt and all tokens before it. */
function checkGreedy(model: InferenceModel<unknown>, prompt: number[], c: Completion): void {
  const mask = c.lossMask!;
  const ids = [...c.tokenIds];
  for (let k = 0; k < ids.length; k++) {
    if (!mask[k]) continue;
    const seq = Int32Array.from([...prompt, ...ids.slice(0, k)]);
    const logits = model.lastLogits(seq, Int32Array.of(0, seq.length));
    let arg = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[arg]!) arg = v;
    expect(ids[k], `token ${k}`).toBe(arg);
  }
}

/** The spans say which tokens are whose: model spans end with a call id (except the last), env spans are the observation's ids. */
function checkSpans(c: Completion): void {
  const ep = c.episode!;
  const mask = c.lossMask!;
  expect(ep.spans.length).toBeGreaterThan(0);
  let pos = 0;
  for (const s of ep.spans) {
    expect(s.start).toBe(pos);
    for (let k = s.start; k < s.end; k++) expect(mask[k]).toBe(s.kind === "model" ? 1 : 0);
    if (s.kind === "env") {
      expect([...c.tokenIds.subarray(s.start, s.end)]).toEqual(encode(s.text));
      expect(c.logprobs![s.start]).toBe(0);
    } else {
      expect(decode(c.tokenIds.subarray(s.start, s.end))).toBe(s.text);
    }
    pos = s.end;
  }
  expect(pos).toBe(c.tokenIds.length);
}

describe("episodes on the local engine", () => {
  it("token ids = the model's greedy tokens + the environment's, with the mask (fake model)", async () => {
    const model = new FakeModel(V);
    const eng = new LocalRolloutEngine(model, { slots: 3, maxLen: 200, decode });
    const env = echoEnv();
    const prompts = [[1, 2], [3], [4, 5, 6], [7, 8], [9]];
    const reqs: RolloutRequest[] = prompts.map((p) => ({ promptIds: p, maxNewTokens: 60, temperature: 0, stopTokenIds: [5], episode: spec(env) }));
    const out = await eng.generate(reqs);
    let calls = 0;
    out.forEach((r, i) => {
      const c = r[0]!;
      checkGreedy(model, prompts[i]!, c);
      checkSpans(c);
      calls += c.episode!.calls.length;
      const modelSpans = c.episode!.spans.filter((s) => s.kind === "model");
      expect(c.episode!.turns).toBe(modelSpans.length);
      // every model turn but the last ends with a call token
      modelSpans.slice(0, -1).forEach((s) => expect(CALL_IDS).toContain(c.tokenIds[s.end - 1]));
    });
    expect(calls).toBeGreaterThanOrEqual(3); // the fixture does exercise calls
  });

  it("a tiny random transformer: the episode's tokens match the full-recompute oracle", async () => {
    const model = new Model({ ...tinyCfg, vocabSize: V, maxPositionEmbeddings: 256 });
    initParams(model.params, { ...tinyCfg, vocabSize: V }, 7);
    const eng = new LocalRolloutEngine(model, { slots: 2, maxLen: 128, decode });
    const prompts = [[1, 2, 3], [10, 11], [20]];
    const out = await eng.generate(prompts.map((p) => ({ promptIds: p, maxNewTokens: 40, temperature: 0, episode: spec(echoEnv(), { maxTurns: 4 }) })));
    let envTokens = 0;
    out.forEach((r, i) => {
      checkGreedy(model, prompts[i]!, r[0]!);
      checkSpans(r[0]!);
      envTokens += r[0]!.lossMask!.filter((m) => m === 0).length;
    });
    expect(envTokens).toBeGreaterThan(0);
  });

  it("a slow environment does not hold up the others: they finish while it waits", async () => {
    const eng = new LocalRolloutEngine(new FakeModel(V), { slots: 4, maxLen: 200, decode });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let waiting = false;
    const slow: Environment = {
      name: "slow", turnEnd: [],
      start: () => ({
        async step(turn) {
          if (turn.ended !== "call") return { type: "end" };
          waiting = true;
          await gate;
          return { type: "observation", text: "ok" };
        },
      }),
    };
    const events: RolloutEvent[] = [];
    const finishedWhileWaiting: number[] = [];
    // request 0 calls at once (its turn ends on any of 41 ids); the others never call
    const reqs: RolloutRequest[] = [
      { promptIds: [1], maxNewTokens: 20, temperature: 0, episode: { ...spec(slow), turnEndIds: Array.from({ length: V }, (_, i) => i) } },
      ...[2, 3, 4].map((p) => ({ promptIds: [p], maxNewTokens: 30, temperature: 0, episode: { ...spec(slow), turnEndIds: [] } })),
    ];
    const done = eng.generate(reqs, {
      onEvent: (e) => {
        events.push(e);
        if (e.type === "finish" && waiting) {
          finishedWhileWaiting.push(e.completion.requestIndex);
          if (finishedWhileWaiting.length === 3) release();
        }
      },
    });
    const out = await done;
    expect(finishedWhileWaiting.slice(0, 3).sort()).toEqual([1, 2, 3]);
    expect(out[1]![0]!.tokenIds.length).toBe(30);
    expect(out[0]![0]!.episode!.spans.map((s) => s.kind).slice(0, 3)).toEqual(["model", "env", "model"]);
  });

  it("a call made while every sequence waits for its environment still runs", async () => {
    const eng = new LocalRolloutEngine(new FakeModel(V), { slots: 4, maxLen: 200, decode });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const waiting = new Promise<void>((r) => (entered = r));
    const slow: Environment = {
      name: "slow", turnEnd: [],
      start: () => ({
        async step(turn) {
          if (turn.ended !== "call") return { type: "end" };
          entered();
          await gate;
          return { type: "observation", text: "ok" };
        },
      }),
    };
    const first = eng.generate([{ promptIds: [1], maxNewTokens: 20, temperature: 0, episode: { ...spec(slow), turnEndIds: Array.from({ length: V }, (_, i) => i) } }]);
    await waiting;
    await new Promise((r) => setTimeout(r, 20)); // the loop has gone to sleep
    const [second] = await eng.generate([{ promptIds: [2], maxNewTokens: 6, temperature: 0 }]);
    expect(second![0]!.tokenIds.length).toBe(6);
    release();
    expect((await first)[0]![0]!.episode!.spans.map((x) => x.kind)).toContain("env");
  });

  const one = async (env: Environment, l: Partial<EpisodeLimits>, maxNew = 80): Promise<Completion> => {
    const eng = new LocalRolloutEngine(new FakeModel(V), { slots: 2, maxLen: 300, decode });
    const [r] = await eng.generate([{ promptIds: [1, 2], maxNewTokens: maxNew, temperature: 0, episode: spec(env, l) }]);
    return r![0]!;
  };

  it("limits end the episode with their names; the run goes on", async () => {
    expect((await one(echoEnv(), { maxTurns: 1 })).episode!.finish).toBe("max_turns");
    const t = await one(echoEnv({ delayMs: () => 10_000 }), { toolSeconds: 0.05 });
    expect(t.episode!.finish).toBe("tool_timeout");
    expect(t.episode!.toolSeconds).toBeLessThan(2);
    const b = await one(echoEnv({ obs: () => "z".repeat(100) }), { observationBytes: 50 });
    expect(b.episode!.finish).toBe("max_observation_bytes");
    expect(b.episode!.detail).toContain("100 bytes");
    const m = await one(echoEnv({ obs: () => "z".repeat(30) }), {}, 40);
    expect(m.episode!.finish).toBe("max_tokens");
    expect(m.finishReason).toBe("length");
    expect(m.tokenIds.length).toBeLessThanOrEqual(40);
    const hangsAtStart: Environment = { name: "stuck", turnEnd: [], start: () => new Promise(() => undefined) };
    expect((await one(hangsAtStart, { toolSeconds: 0.05 })).episode!.finish).toBe("tool_timeout");
    const e = await one(echoEnv({ throwAt: 0 }), {});
    expect(e.episode!.finish).toBe("env_error");
    expect(e.episode!.detail).toBe("boom");
    // a limit's episode still has consistent spans and mask
    for (const c of [b, m, e]) checkSpans(c);
  });

  it("observation ids the model cannot take reject the call (no hang)", async () => {
    const eng = new LocalRolloutEngine(new FakeModel(V), { slots: 2, maxLen: 300, decode });
    const p = eng.generate([{ promptIds: [1, 2], maxNewTokens: 80, temperature: 0, episode: { ...spec(echoEnv()), encode: () => [V + 5] } }]);
    await expect(p).rejects.toThrow(/is not a token id/);
    expect(eng.inFlight).toBe(0);
  });

  it("aborting while an environment answers rejects the call and frees the engine", async () => {
    const eng = new LocalRolloutEngine(new FakeModel(V), { slots: 2, maxLen: 300, decode });
    const ac = new AbortController();
    const env = echoEnv({ delayMs: () => 200 });
    const p = eng.generate([{ promptIds: [1, 2], maxNewTokens: 80, temperature: 0, episode: spec(env) }], { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toThrow(/aborted/);
    expect(eng.inFlight).toBe(0);
    // the engine still works afterwards
    const [r] = await eng.generate([{ promptIds: [3], maxNewTokens: 5, temperature: 0 }]);
    expect(r![0]!.tokenIds.length).toBeGreaterThan(0);
  });
});

describe("bad input through the tool environment (local engine)", () => {
  // tokens: "q" (16) ends a turn; the model's turn text is then "…<tool>q" — make each tool's tag be the call
  const toolNamed = (name: string, run: Tool["run"]): Tool => ({ name, description: "", parameters: { type: "object", properties: {} }, inputKey: "x", resultTag: "r", run });
  // a format whose every call goes to one tool: the turn ends at "q"
  const oneTool = (tool: Tool): Environment => ({
    name: tool.name, turnEnd: ["q"],
    start: (p) => toolEnvironment([tool], { ...tagFormat, parse: () => ({ name: tool.name, input: {} }), turnEnd: () => ["q"] }).start(p),
  });
  const one = async (env: Environment, l: Partial<EpisodeLimits>): Promise<Completion[]> => {
    const eng = new LocalRolloutEngine(new FakeModel(V), { slots: 3, maxLen: 300, decode });
    const out = await eng.generate([1, 2, 3].map((p) => ({ promptIds: [p, 9], maxNewTokens: 80, temperature: 0, episode: spec(env, l) })));
    return out.map((r) => r[0]!);
  };

  it("a tool that hangs: tool_timeout, the other episodes finish", async () => {
    const hang = toolNamed("hang", () => new Promise(() => undefined));
    const out = await one(oneTool(hang), { toolSeconds: 0.1 });
    const reasons = out.map((c) => c.episode!.finish);
    expect(reasons).toContain("tool_timeout");
    for (const c of out) checkSpans(c);
  });

  it("a tool that floods its output: max_observation_bytes; one that throws: an error observation", async () => {
    const flood = toolNamed("flood", () => ({ text: "z".repeat(1 << 20) }));
    const f = await one(oneTool(flood), { observationBytes: 4096 });
    expect(f.some((c) => c.episode!.finish === "max_observation_bytes")).toBe(true);
    // the recorded call's output is cut for samples.jsonl
    for (const c of f) for (const call of c.episode!.calls) expect(call.output.length).toBeLessThan(5000);
    const bad = toolNamed("bad", () => { throw new Error("nope"); });
    const b = await one(oneTool(bad), { maxTurns: 3 });
    const calls = b.flatMap((c) => c.episode!.calls);
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) expect(call).toMatchObject({ error: "tool error", output: "error: nope" });
  });
});
