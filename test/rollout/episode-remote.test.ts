// Episodes on a remote engine (aha serve on 127.0.0.1, a small random model): each turn continues the
// episode by sending the prompt + every token so far as ids; the result must be the local engine's
// episode on the same weights, token for token (temperature 0), with the same mask and spans.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFromArgs } from "../../src/cli/serve.js";
import type { Environment, EpisodeLimits } from "../../src/env/types.js";
import type { Completion, RolloutRequest } from "../../src/rollout/engine.js";
import type { EpisodeSpec } from "../../src/rollout/episode.js";
import { createRolloutEngine } from "../../src/rollout/factory.js";
import type { RunningServer } from "../../src/serve/server.js";
import { EOS_ID, makeModelFolder } from "../serve/helpers.js";

let folder: ReturnType<typeof makeModelFolder>;
let srv: RunningServer;
beforeAll(async () => {
  folder = makeModelFolder(7);
  srv = (await startFromArgs(["--model", folder.dir, "--port", "0", "--slots", "4", "--max-len", "160"]))!;
});
afterAll(async () => {
  await srv?.close();
  folder?.cleanup();
});

const decode = (ids: ArrayLike<number>): string => Array.from(ids, (t) => String.fromCharCode(33 + (t % 90))).join("");
const encode = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));
const env: Environment = {
  name: "echo", turnEnd: [],
  start: () => ({
    step: (turn) => (turn.ended !== "call" ? { type: "end" } : { type: "observation", text: `ok${turn.index}`, calls: [{ name: "echo", input: {}, output: `ok${turn.index}`, seconds: 0 }] }),
  }),
};
const limits: EpisodeLimits = { maxTurns: 5, maxTokens: 60, toolSeconds: 10, observationBytes: 1000 };
// a fifth of the vocabulary ends a turn with a call: the random model calls often
const spec: EpisodeSpec = { env, problem: { id: "p", question: "", answer: "", reference: null }, limits, encode, decode, turnEndIds: Array.from({ length: 52 }, (_, i) => 40 + i * 4) };
const simple = (c: Completion): unknown => ({ t: [...c.tokenIds], m: [...c.lossMask!], f: c.episode!.finish, spans: c.episode!.spans.map((s) => [s.kind, s.start, s.end]) });

describe("episodes on a remote engine (aha serve)", () => {
  it("continue by token ids and give the local engine's episodes", async () => {
    const reqs: RolloutRequest[] = [[104, 105, 32], [65, 66], [50]].map((p) => ({ promptIds: p, n: 2, maxNewTokens: 60, temperature: 0, stopTokenIds: [EOS_ID], episode: spec }));
    const remote = createRolloutEngine({ kind: "remote", baseUrl: srv.url, model: "tiny-qwen", concurrency: 4 });
    const local = createRolloutEngine({ kind: "local", model: folder.model, slots: 4, maxLen: 160 });
    const got = await remote.generate(reqs);
    const want = await local.generate(reqs);
    expect(got.map((r) => r.map(simple))).toEqual(want.map((r) => r.map(simple)));
    const calls = got.flat().reduce((a, c) => a + c.episode!.calls.length, 0);
    expect(calls).toBeGreaterThan(0);
    for (const c of got.flat()) {
      expect(c.logprobs!.length).toBe(c.tokenIds.length);
      c.lossMask!.forEach((m, k) => (m === 0 ? expect(c.logprobs![k]).toBe(0) : undefined));
    }
    await remote.close();
    await local.close();
  });
});
