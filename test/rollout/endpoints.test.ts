/**
 * The remote engine over several endpoints (src/rollout/endpoints.ts): balancing, failover when a server
 * dies, answers 500s or garbage, the clear error when none answers, a server that comes back, a 400 not
 * retried elsewhere — against small fake OpenAI-compatible servers on 127.0.0.1; then two real `aha serve`
 * servers, one closed between calls, and a training run that loses one between steps.
 */
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFromArgs } from "../../src/cli/serve.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import { train } from "../../src/rl/trainer.js";
import { rolloutEngineFromConfig, rolloutSection } from "../../src/rollout/config.js";
import { parseEndpointList } from "../../src/rollout/endpoints.js";
import type { Completion, RolloutRequest } from "../../src/rollout/engine.js";
import { createRolloutEngine } from "../../src/rollout/factory.js";
import { LocalRolloutEngine } from "../../src/rollout/local.js";
import { RemoteRolloutEngine } from "../../src/rollout/remote.js";
import { startServer, type RunningServer } from "../../src/serve/server.js";
import { writeByteTokenizer } from "../../src/bench/serve.js";
import { HfTokenizer } from "../../src/formats/tokenizer.js";
import { ARITH_SPECIAL } from "../../src/tasks/arithmetic.js";
import { defineConfig } from "../../src/util/config.js";
import { EOS_ID, makeModelFolder } from "../serve/helpers.js";
import { cfg, setup, tokenizer } from "../rl/tiny.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

type Mode = "ok" | "500" | "garbage" | "badshape" | "400" | "hang";

interface Fake {
  url: string;
  mode: Mode;
  hits: number;
  inFlight: number;
  peak: number;
  /** Closes the server and breaks its open connections (requests in flight fail). */
  kill: () => Promise<void>;
  /** Listens again on the same port. */
  revive: () => Promise<void>;
}

/**
 * A fake OpenAI-compatible server: /v1/completions answers `n` choices whose token ids come from the
 * request's seed (so a completion does not depend on which server gave it), with log-probs, after
 * `delayMs`; /v1/models answers 200.
 */
async function fake(mode: Mode = "ok", delayMs = 5): Promise<Fake> {
  const sockets = new Set<Socket>();
  let port = 0;
  const f: Fake = {
    url: "", mode, hits: 0, inFlight: 0, peak: 0,
    kill: () => new Promise<void>((r) => {
      server.close(() => r());
      for (const s of sockets) s.destroy();
    }),
    revive: () => new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r())),
  };
  const server = http.createServer((req, res) => {
    let data = "";
    req.on("data", (c: Buffer) => (data += c.toString()));
    req.on("end", () => {
      if (req.url === "/v1/models") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: [{ id: "m" }] }));
        return;
      }
      f.hits++;
      f.inFlight++;
      f.peak = Math.max(f.peak, f.inFlight);
      setTimeout(() => {
        f.inFlight--;
        if (res.destroyed || f.mode === "hang") return;
        const send = (status: number, body: string): void => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(body);
        };
        if (f.mode === "500") return send(500, JSON.stringify({ error: { message: "internal trouble" } }));
        if (f.mode === "garbage") return send(200, "<html>proxy error</html>");
        if (f.mode === "badshape") return send(200, JSON.stringify({ choices: [] }));
        if (f.mode === "400") return send(400, JSON.stringify({ error: { message: "prompt too long" } }));
        const b = JSON.parse(data) as { n: number; seed?: number };
        const seed = b.seed ?? 0;
        const choices = Array.from({ length: b.n }, (_, j) => ({
          index: j, text: "x", finish_reason: "stop", token_ids: [seed % 1000, j, 7], logprobs: { token_logprobs: [-0.5, -0.25, -(seed % 7) / 8] },
        }));
        send(200, JSON.stringify({ choices }));
      }, delayMs);
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  port = (server.address() as AddressInfo).port;
  f.url = `http://127.0.0.1:${port}`;
  return f;
}

const reqs = (k: number, seed0 = 100): RolloutRequest[] => Array.from({ length: k }, (_, i) => ({ promptIds: [1, 2, i], n: 2, maxNewTokens: 3, seed: seed0 + i }));
const ids = (out: Completion[][]): number[][][] => out.map((r) => r.map((c) => [...c.tokenIds]));
const want = (k: number, seed0 = 100): number[][][] => Array.from({ length: k }, (_, i) => [0, 1].map((j) => [(seed0 + i) % 1000, j, 7]));
const engineOver = (fs: Fake[], o: Partial<ConstructorParameters<typeof RemoteRolloutEngine>[0]> = {}): RemoteRolloutEngine =>
  new RemoteRolloutEngine({ baseUrl: fs.map((f) => f.url).join(","), model: "m", retries: 4, backoffMs: 1, probeMs: 60_000, requireTokenIds: true, ...o });
const waitFor = async (cond: () => boolean, ms = 3000): Promise<void> => {
  for (let t = 0; t < ms / 5 && !cond(); t++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

describe("several endpoints: balancing", () => {
  it("two healthy servers share the requests, each within its own cap; ties go round-robin; completions follow the seeds", async () => {
    const [a, b] = [await fake("ok", 40), await fake("ok", 40)] as [Fake, Fake];
    const eng = engineOver([a, b], { concurrency: 3 });
    expect(eng.name).toBe(`remote:${a.url}/v1,${b.url}/v1`);
    const out = await eng.generate(reqs(24));
    expect(ids(out)).toEqual(want(24));
    expect(a.hits + b.hits).toBe(24);
    expect(Math.abs(a.hits - b.hits)).toBeLessThanOrEqual(4);
    expect([a.peak, b.peak]).toEqual([3, 3]); // 3 per endpoint: 6 in flight in all
    const st = eng.endpoints();
    expect(st.map((e) => [e.up, e.requests, e.failures, e.inFlight])).toEqual([[true, a.hits, 0, 0], [true, b.hits, 0, 0]]);
    // one request at a time: both idle each time, so they alternate
    const [ha, hb] = [a.hits, b.hits];
    for (let i = 0; i < 6; i++) await eng.generate(reqs(1, i));
    expect([a.hits - ha, b.hits - hb]).toEqual([3, 3]);
    await eng.close();
    await a.kill();
    await b.kill();
  });
});

describe("several endpoints: failover", () => {
  it("a server killed mid-run: its requests go to the other, the call succeeds, it is marked down", async () => {
    const [a, b] = [await fake("ok", 60), await fake("ok", 60)] as [Fake, Fake];
    const eng = engineOver([a, b], { concurrency: 4 });
    const p = eng.generate(reqs(12));
    await waitFor(() => a.inFlight > 0);
    await a.kill();
    const out = await p;
    expect(ids(out)).toEqual(want(12)); // the same completions, whichever server gave them
    const [sa, sb] = eng.endpoints() as [ReturnType<RemoteRolloutEngine["endpoints"]>[0], ReturnType<RemoteRolloutEngine["endpoints"]>[0]];
    expect(sa.up).toBe(false);
    expect(sa.failures).toBeGreaterThan(0);
    expect(sa.lastError).toMatch(/ECONNRESET|ECONNREFUSED|socket|closed|terminated|fetch failed/i);
    expect(sb).toMatchObject({ up: true, failures: 0 });
    expect(eng.pool.retriesDone).toBeGreaterThan(0);
    // later calls go to the live one only
    const hb = b.hits;
    expect(ids(await eng.generate(reqs(5)))).toEqual(want(5));
    expect(b.hits - hb).toBe(5);
    await eng.close();
    await b.kill();
  });

  it("a server answering 500s, garbage (not JSON, no choices) or nothing in time is marked down and the other serves", async () => {
    for (const mode of ["500", "garbage", "badshape", "hang"] as const) {
      const [a, b] = [await fake(mode), await fake("ok")] as [Fake, Fake];
      const eng = engineOver([a, b], { concurrency: 2, timeoutMs: 300 });
      expect(ids(await eng.generate(reqs(10)))).toEqual(want(10));
      const [sa, sb] = eng.endpoints();
      expect(sa!.up).toBe(false);
      expect(sa!.failures).toBeGreaterThanOrEqual(mode === "500" ? 2 : 1); // 5xx: two in a row (downAfter 2); garbage: at once
      expect(sa!.lastError).toMatch({ "500": /HTTP 500: internal trouble/, garbage: /not JSON: <html>/, badshape: /asked for 2 choices, got 0/, hang: /no answer within 300 ms/ }[mode]);
      expect(sb!.up).toBe(true);
      expect(sb!.requests).toBe(10);
      await eng.close();
      await a.kill();
      await b.kill();
    }
  });

  it("all dead: AHA_NO_ENDPOINT names every endpoint and its last error", async () => {
    const [a, b, c] = [await fake(), await fake(), await fake("500")] as [Fake, Fake, Fake];
    await a.kill();
    await b.kill();
    const eng = engineOver([a, b, c], { retries: 5 });
    const err = await eng.generate(reqs(2)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "AHA_NO_ENDPOINT", hint: expect.stringMatching(/servers running/) });
    const msg = (err as Error).message;
    expect(msg).toContain(`${a.url}/v1 (`);
    expect(msg).toContain(`${b.url}/v1 (`);
    expect(msg).toMatch(/ECONNREFUSED/);
    expect(msg).toContain(`${c.url}/v1 (HTTP 500: internal trouble)`);
    expect(eng.endpoints().every((e) => !e.up)).toBe(true);
    await eng.close();
    await c.kill();
  });

  it("a down server that comes back is probed (GET /models) and used again", async () => {
    const [a, b] = [await fake(), await fake()] as [Fake, Fake];
    const eng = engineOver([a, b], { probeMs: 20 });
    await a.kill();
    expect(ids(await eng.generate(reqs(4)))).toEqual(want(4));
    expect(eng.endpoints()[0]!.up).toBe(false);
    await a.revive();
    await waitFor(() => eng.endpoints()[0]!.up);
    const ha = a.hits;
    expect(ids(await eng.generate(reqs(8)))).toEqual(want(8));
    expect(a.hits - ha).toBeGreaterThan(0);
    await eng.close();
    await a.kill();
    await b.kill();
  });

  it("a 400 is the request's fault: not retried elsewhere, the endpoint stays up", async () => {
    const [a, b] = [await fake("400"), await fake()] as [Fake, Fake];
    const eng = engineOver([a, b]);
    // both idle: the first request goes to the first endpoint
    await expect(eng.generate(reqs(1))).rejects.toMatchObject({ code: "AHA_ENDPOINT_ERROR", message: expect.stringMatching(/HTTP 400: prompt too long/) });
    expect([a.hits, b.hits]).toEqual([1, 0]);
    expect(eng.endpoints()[0]).toMatchObject({ up: true, failures: 0 });
    await eng.close();
    await a.kill();
    await b.kill();
  });
});

describe("the endpoint list in the config", () => {
  it("parses and checks each URL; errors name the bad one", () => {
    expect(parseEndpointList("http://127.0.0.1:8000, http://127.0.0.1:8001/v1/")).toEqual(["http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1"]);
    expect(() => parseEndpointList("http://127.0.0.1:8000,ftp://x")).toThrow(/ftp:\/\/x/);
    expect(() => parseEndpointList("http://127.0.0.1:8000,,http://127.0.0.1:8001")).toThrow(/entry 2 is empty/);
    expect(() => parseEndpointList("http://127.0.0.1:8000,http://127.0.0.1:8000/v1")).toThrow(/listed twice/);
    const spec = defineConfig({ rollout: rolloutSection });
    const argv = (ep: string): string[] => ["--rollout-engine", "remote", "--rollout-endpoint", ep, "--rollout-model-name", "m"];
    expect(() => spec.fromArgv(argv("http://127.0.0.1:8000,nonsense"), () => "")).toThrow(/rollout-endpoint: not a URL: nonsense/);
    const c = spec.fromArgv(argv("http://127.0.0.1:8000,http://127.0.0.1:8001"), () => "").config.rollout;
    const eng = rolloutEngineFromConfig(c, { model: null as never, slots: 1, maxLen: 8 }) as RemoteRolloutEngine;
    expect(eng.endpoints().map((e) => e.url)).toEqual(["http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1"]);
  });
});

describe("two aha serve servers", () => {
  let folder: ReturnType<typeof makeModelFolder>;
  let s1: RunningServer;
  let s2: RunningServer;
  beforeAll(async () => {
    folder = makeModelFolder(7);
    s1 = (await startFromArgs(["--model", folder.dir, "--port", "0", "--slots", "4", "--max-len", "64"]))!;
    s2 = (await startFromArgs(["--model", folder.dir, "--port", "0", "--slots", "4", "--max-len", "64"]))!;
  });
  afterAll(async () => {
    await s1?.close();
    await s2?.close();
    folder?.cleanup();
  });

  it("both serve; one closed between calls: the other serves, the completions stay the local engine's", async () => {
    const eng = createRolloutEngine({ kind: "remote", baseUrl: `${s1.url},${s2.url}`, model: "tiny-qwen", concurrency: 2, backoffMs: 1, probeMs: 60_000 });
    const local = createRolloutEngine({ kind: "local", model: folder.model, slots: 4, maxLen: 64 });
    const rs: RolloutRequest[] = Array.from({ length: 6 }, (_, i) => ({ promptIds: [70 + i, 71], n: 2, maxNewTokens: 6, temperature: 1, stopTokenIds: [EOS_ID], seed: 30 + i }));
    const simple = (c: Completion[][]): unknown => c.map((r) => r.map((s) => [[...s.tokenIds], [...s.logprobs!]]));
    const expected = simple(await local.generate(rs));
    expect(simple(await eng.generate(rs))).toEqual(expected);
    expect(s1.api.health().requests).toBeGreaterThan(0);
    expect(s2.api.health().requests).toBeGreaterThan(0);
    await s1.close();
    expect(simple(await eng.generate(rs))).toEqual(expected);
    expect(eng.endpoints!().map((e) => e.up)).toEqual([false, true]);
    expect(eng.endpoints!()[0]!.lastError).toMatch(/ECONNREFUSED|other side closed|ECONNRESET/);
    await eng.close();
    await local.close();
  });
});

describe("the trainer over two endpoints", () => {
  it("one server closed after the first step: the run goes on, rollout/endpoints_up goes 2 → 1", async () => {
    const { opts } = setup(["--steps", "2", "--tis-cap", "2"]);
    const served = new Model(cfg);
    initParams(served.params, cfg, 11);
    const dir = mkdtempSync(join(tmpdir(), "aha-endpoints-train-"));
    writeByteTokenizer(dir);
    const start = (): Promise<RunningServer> => startServer({
      engine: new LocalRolloutEngine(served, { slots: 8, maxLen: 64, decode: tokenizer.decode }), tokenizer: HfTokenizer.fromFolder(dir), modelName: "tiny",
      maxLen: 64, vocabSize: cfg.vocabSize, stopTokenIds: [ARITH_SPECIAL.eos], chat: null, port: 0,
    });
    const [a, b] = [await start(), await start()];
    try {
      const engine = createRolloutEngine({ kind: "remote", baseUrl: [a.url, b.url], model: "tiny", concurrency: 2, backoffMs: 1, probeMs: 60_000 });
      const steps: Record<string, number>[] = [];
      let closing: Promise<void> | null = null;
      const res = await train({ ...opts, engine, onStep: (m) => {
        steps.push(m as Record<string, number>);
        if (steps.length === 1) closing = a.close();
      } });
      await closing;
      expect(res.steps).toBe(2);
      expect(steps.map((m) => m["rollout/endpoints_up"])).toEqual([2, 1]);
      expect(steps.map((m) => Number.isFinite(m["loss/policy"]))).toEqual([true, true]);
      expect((a.api.health().requests as number) + (b.api.health().requests as number)).toBe(2 * 4);
      await engine.close();
    } finally {
      await a.close().catch(() => undefined);
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
