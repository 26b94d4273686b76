/**
 * The remote rollout engine end to end against `aha serve` started here on 127.0.0.1 (a small random
 * model folder): the same completions, token ids and log-probs as the local engine on the same weights
 * and seeds; plus the HTTP client's retries, backoff and errors against scripted fake servers.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFromArgs } from "../../src/cli/serve.js";
import { AhaError } from "../../src/errors.js";
import type { Completion, RolloutEngine, RolloutEvent, RolloutRequest } from "../../src/rollout/engine.js";
import { defineConfig } from "../../src/util/config.js";
import { rolloutEngineFromConfig, rolloutSchema, rolloutSection } from "../../src/rollout/config.js";
import { createRolloutEngine } from "../../src/rollout/factory.js";
import { OpenAIClient, normaliseBaseUrl } from "../../src/rollout/openai-client.js";
import { RemoteRolloutEngine } from "../../src/rollout/remote.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { policyObjective, type ObjectiveSettings } from "../../src/rl/objective.js";
import { tinyConfig } from "../serve/helpers.js";
import type { RunningServer } from "../../src/serve/server.js";
import { EOS_ID, makeModelFolder } from "../serve/helpers.js";

let folder: ReturnType<typeof makeModelFolder>;
let srv: RunningServer;

beforeAll(async () => {
  folder = makeModelFolder(7);
  srv = (await startFromArgs(["--model", folder.dir, "--port", "0", "--slots", "8", "--max-len", "96"]))!;
});
afterAll(async () => {
  await srv?.close();
  folder?.cleanup();
});

const reqs: RolloutRequest[] = [
  { promptIds: [104, 105, 32, 116], n: 3, maxNewTokens: 10, temperature: 1, stopTokenIds: [EOS_ID], seed: 11 },
  { promptIds: [65, 66, 67], n: 1, maxNewTokens: 7, temperature: 0, stopTokenIds: [EOS_ID], seed: 12 },
  { promptIds: [33, 34], n: 2, maxNewTokens: 12, temperature: 0.7, topP: 0.9, topK: 20, stopTokenIds: [EOS_ID, 65], seed: 13 },
];
const simple = (c: Completion[][]): unknown => c.map((r) => r.map((s) => ({ t: [...s.tokenIds], lp: [...(s.logprobs ?? [])], f: s.finishReason })));

describe("RemoteRolloutEngine against aha serve", () => {
  it("gives the local engine's completions: token ids, model log-probs and finish reasons", async () => {
    const remote = createRolloutEngine({ kind: "remote", baseUrl: srv.url, model: "tiny-qwen", concurrency: 4 });
    expect(remote.logprobKind).toBe("model");
    const local = createRolloutEngine({ kind: "local", model: folder.model, slots: 4, maxLen: 96 });
    const events: RolloutEvent[] = [];
    const got = await remote.generate(reqs, { onEvent: (e) => events.push(e) });
    const want = await local.generate(reqs);
    expect(simple(got)).toEqual(simple(want)); // log-probs go through JSON as float32 values and come back exact
    got.forEach((r, i) => r.forEach((s, j) => expect([s.requestIndex, s.sampleIndex]).toEqual([i, j])));
    expect(events.filter((e) => e.type === "finish")).toHaveLength(6);
    expect(events.filter((e) => e.type === "token")).toHaveLength(got.flat().reduce((a, c) => a + c.tokenIds.length, 0));
    // the truncated-IS input: the engine's log-probs line up with the token ids, one per token
    for (const c of got.flat()) expect(c.logprobs!.length).toBe(c.tokenIds.length);
    await remote.close();
    await local.close();
  });

  it("text prompts, chat messages, split n and stop strings", async () => {
    const eng = new RemoteRolloutEngine({ baseUrl: srv.url.replace(/$/, "/v1/"), model: "tiny-qwen", promptFormat: "text", splitN: true });
    const [a] = await eng.generate([{ promptIds: [], promptText: "hello", n: 3, maxNewTokens: 5, temperature: 1, seed: 4 }]);
    expect(a!.map((c) => c.sampleIndex)).toEqual([0, 1, 2]);
    expect(a!.every((c) => c.tokenIds.length > 0 && c.tokenIds.length <= 5 && typeof c.text === "string")).toBe(true);
    const [b] = await eng.generate([{ promptIds: [], messages: [{ role: "user", content: "hi" }], maxNewTokens: 4, temperature: 0 } as RolloutRequest]);
    expect(b![0]!.tokenIds.length).toBeGreaterThan(0);
    const [full] = await eng.generate([{ promptIds: [], promptText: "xyz", maxNewTokens: 20, temperature: 0 }]);
    const text = full![0]!.text!;
    const stop = text.slice(3, 4);
    const [cut] = await eng.generate([{ promptIds: [], promptText: "xyz", maxNewTokens: 20, temperature: 0, stopStrings: [stop] }]);
    // the local engine's semantics: the text up to and including the stop string
    expect(cut![0]!.text).toBe(text.slice(0, text.indexOf(stop) + stop.length));
    expect(cut![0]!.finishReason).toBe("stop");
  });

  it("server errors reach the caller; aborting rejects with AHA_ABORTED and frees the server's slots", async () => {
    const eng: RolloutEngine = new RemoteRolloutEngine({ baseUrl: srv.url, model: "tiny-qwen", retries: 0 });
    await expect(eng.generate([{ promptIds: [1], maxNewTokens: 500 }])).rejects.toMatchObject({ code: "AHA_ENDPOINT_ERROR", message: expect.stringMatching(/maximum context length/) });
    const wrong = new RemoteRolloutEngine({ baseUrl: srv.url, model: "other", retries: 0 });
    await expect(wrong.generate([{ promptIds: [1], maxNewTokens: 2 }])).rejects.toThrow(/does not exist/);
    const ac = new AbortController();
    const p = eng.generate([{ promptIds: [1, 2], n: 2, maxNewTokens: 90, stopTokenIds: [] }], { signal: ac.signal });
    // Abort once the server has started decoding (not after a fixed delay: on a quiet machine the
    // whole generation can finish within one).
    const health = async () => ((await (await fetch(srv.url + "/health")).json()) as { engine_in_flight: number }).engine_in_flight;
    for (let t = 0; t < 2000 && (await health()) === 0; t++) await new Promise((r) => setTimeout(r, 1));
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: "AHA_ABORTED" });
    let inFlight = -1;
    for (let t = 0; t < 200 && inFlight !== 0; t++) {
      inFlight = ((await (await fetch(srv.url + "/health")).json()) as { engine_in_flight: number }).engine_in_flight;
      if (inFlight !== 0) await new Promise((r) => setTimeout(r, 10));
    }
    expect(inFlight).toBe(0);
  });
});

/** A fake server that answers from a script (status, body) per request, then 200s. */
async function scripted(script: { status: number; body: unknown; headers?: Record<string, string> }[]): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const s = script[hits++] ?? { status: 200, body: { choices: [{ index: 0, text: "ok", finish_reason: "stop", token_ids: [1, 2], logprobs: { token_logprobs: [-0.5, -0.25] } }] } };
      res.writeHead(s.status, { "content-type": "application/json", ...s.headers });
      res.end(JSON.stringify(s.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe("OpenAIClient: retries, backoff, errors", () => {
  it("normalises base URLs", () => {
    expect(normaliseBaseUrl("http://127.0.0.1:8000")).toBe("http://127.0.0.1:8000/v1");
    expect(normaliseBaseUrl("http://127.0.0.1:8000/v1/")).toBe("http://127.0.0.1:8000/v1");
    expect(() => normaliseBaseUrl("ftp://x")).toThrow(/http/);
    expect(() => normaliseBaseUrl("not a url")).toThrow(/not a URL/);
  });

  it("retries 429 and 5xx with backoff, then succeeds", async () => {
    const f = await scripted([
      { status: 429, body: { error: { message: "slow down" } }, headers: { "retry-after": "0" } },
      { status: 503, body: { error: { message: "busy" } } },
      { status: 500, body: "oops" },
    ]);
    const eng = new RemoteRolloutEngine({ baseUrl: f.url, model: "m", retries: 3, backoffMs: 1 });
    const [[c]] = (await eng.generate([{ promptIds: [5], maxNewTokens: 2 }])) as [[Completion]];
    expect([...c.tokenIds]).toEqual([1, 2]);
    expect([...c.logprobs!]).toEqual([-0.5, -0.25]);
    expect(eng.pool.retriesDone).toBe(3);
    expect(f.hits()).toBe(4);
    await f.close();
  });

  it("gives up with AHA_ENDPOINT_UNREACHABLE after the retries; 4xx fail at once with the server's message", async () => {
    const f = await scripted(Array.from({ length: 10 }, () => ({ status: 502, body: { error: { message: "bad gateway" } } })));
    const c = new OpenAIClient({ baseUrl: f.url, retries: 2, backoffMs: 1 });
    await expect(c.post("/completions", {})).rejects.toMatchObject({ code: "AHA_ENDPOINT_UNREACHABLE", message: expect.stringMatching(/after 3 tries: HTTP 502: bad gateway/) });
    expect(f.hits()).toBe(3);
    await f.close();
    const g = await scripted([{ status: 401, body: { error: { message: "invalid api key" } } }]);
    await expect(new OpenAIClient({ baseUrl: g.url, retries: 5, backoffMs: 1 }).post("/completions", {})).rejects.toMatchObject({ code: "AHA_ENDPOINT_ERROR", message: expect.stringMatching(/401: invalid api key/) });
    expect(g.hits()).toBe(1);
    await g.close();
    // nothing listens on this port any more: a network error, retried, then a clear message
    const dead = await scripted([]);
    await dead.close();
    const err = await new OpenAIClient({ baseUrl: dead.url, retries: 1, backoffMs: 1 }).post("/completions", {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AhaError);
    expect(err).toMatchObject({ code: "AHA_ENDPOINT_UNREACHABLE", message: expect.stringMatching(/ECONNREFUSED/), hint: expect.stringMatching(/server running/) });
  });

  it("sends the API key and keeps at most `concurrency` requests in flight", async () => {
    let active = 0;
    let peak = 0;
    let auth = "";
    const server = http.createServer((req, res) => {
      auth = req.headers.authorization ?? "";
      active++;
      peak = Math.max(peak, active);
      req.resume();
      setTimeout(() => {
        active--;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ choices: [{ index: 0, text: "x", finish_reason: "length" }], usage: { completion_tokens: 3 } }));
      }, 15);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const eng = new RemoteRolloutEngine({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, model: "m", apiKey: "sk-test", concurrency: 3, promptFormat: "text", logprobs: false });
    const out = await eng.generate(Array.from({ length: 10 }, () => ({ promptIds: [], promptText: "q", maxNewTokens: 3 })));
    expect(peak).toBe(3);
    expect(auth).toBe("Bearer sk-test");
    expect(out.flat().map((c) => [c.numTokens, c.finishReason, c.logprobs])).toEqual(Array.from({ length: 10 }, () => [3, "length", null]));
    await new Promise<void>((r) => server.close(() => r()));
  });
});

describe("rollout config section", () => {
  it("flat keys rollout-*; remote needs an endpoint and a model name; the engine it builds talks to aha serve", async () => {
    const spec = defineConfig({ rollout: rolloutSection });
    const read = (): string => "";
    expect(() => spec.fromArgv(["--rollout-engine", "remote"], read)).toThrow(/rollout-endpoint/);
    const cfg = spec.fromArgv(["--rollout-engine", "remote", "--rollout-endpoint", srv.url, "--rollout-model-name", "tiny-qwen"], read).config.rollout;
    const eng = rolloutEngineFromConfig(cfg, { model: folder.model, slots: 2, maxLen: 64 });
    expect(eng.name).toBe(`remote:${srv.url}/v1`);
    const [[c]] = (await eng.generate([{ promptIds: [70, 71], maxNewTokens: 3, temperature: 0 }])) as [[Completion]];
    expect(c.tokenIds.length).toBeGreaterThan(0);
    expect(c.logprobs!.length).toBe(c.tokenIds.length);
    const local = rolloutEngineFromConfig(rolloutSchema.parse({}), { model: folder.model, slots: 2, maxLen: 64 });
    expect(local.name).toBe("local");
    const [[d]] = (await local.generate([{ promptIds: [70, 71], maxNewTokens: 3, temperature: 0 }])) as [[Completion]];
    expect([...d.tokenIds]).toEqual([...c.tokenIds]);
  });
});

/** log p(token) of each completion token under `model`, by full recompute (the trainer's logp_old). */
function recomputeLogp(model: Model, prompt: readonly number[], tokens: Int32Array): number[] {
  const seq = [...prompt];
  const out: number[] = [];
  for (const t of tokens) {
    const logits = model.lastLogits(Int32Array.from(seq), Int32Array.from([0, seq.length]));
    let max = -Infinity;
    for (const x of logits) max = Math.max(max, x);
    let sum = 0;
    for (const x of logits) sum += Math.exp(x - max);
    out.push(logits[t]! - max - Math.log(sum));
    seq.push(t);
  }
  return out;
}

describe("truncated importance sampling with remote rollouts", () => {
  it("the server's log-probs are logp_engine: weight 1 when the trainer has the server's weights, min(exp(Δ), C) when not", async () => {
    const eng = createRolloutEngine({ kind: "remote", baseUrl: srv.url, model: "tiny-qwen" });
    const prompt = [72, 101, 108, 108, 111];
    const [group] = await eng.generate([{ promptIds: prompt, n: 4, maxNewTokens: 8, temperature: 1, seed: 21 }]);
    const settings: ObjectiveSettings = { ratioLevel: "token", clipLow: 0.2, clipHigh: 0.2, dualClip: null, aggregation: "token-mean", maxLength: 8, klEstimator: "k3", klCoef: 0, klPlacement: "loss", entropyCoef: 0, tisCap: 2 };
    const stale = new Model(tinyConfig());
    initParams(stale.params, tinyConfig(), 8); // the trainer's policy has moved on: other weights
    for (const [trainer, same] of [[folder.model, true], [stale, false]] as const) {
      const logpOld = group!.flatMap((c) => recomputeLogp(trainer, prompt, c.tokenIds));
      const logpEngine = group!.flatMap((c) => [...c.logprobs!]);
      const T = logpOld.length;
      const offsets = [0];
      for (const c of group!) offsets.push(offsets.at(-1)! + c.tokenIds.length);
      const out = policyObjective(settings, { logp: logpOld, logpOld, logpEngine, advantages: new Array(T).fill(1), mask: new Array(T).fill(1), offsets });
      const want = logpOld.reduce((a, lp, i) => a + Math.min(Math.exp(lp - logpEngine[i]!), 2), 0) / T;
      expect(out.stats.tisMean).toBeCloseTo(want, 6);
      if (same) expect(out.stats.tisMean).toBeCloseTo(1, 4);
      else expect(Math.abs(out.stats.tisMean - 1)).toBeGreaterThan(0.01);
    }
    await eng.close();
  });
});
