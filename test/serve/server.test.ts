/**
 * `aha serve` checked from outside with plain HTTP (fetch) on 127.0.0.1, against a small random model
 * folder made here. Oracles: greedy continuations and their log-probs from a full recompute of the
 * model (Model.lastLogits + a log-softmax written here), the chat prompt from the ChatML text encoded
 * by the tokenizer, and OpenAI's documented response / error shapes.
 */
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFromArgs } from "../../src/cli/serve.js";
import { HfTokenizer } from "../../src/formats/tokenizer.js";
import type { RunningServer } from "../../src/serve/server.js";
import { EOS_ID, makeModelFolder } from "./helpers.js";

let folder: ReturnType<typeof makeModelFolder>;
let srv: RunningServer;
let tok: HfTokenizer;
const MAX_LEN = 128;

beforeAll(async () => {
  folder = makeModelFolder(99);
  tok = HfTokenizer.fromFolder(folder.dir);
  srv = (await startFromArgs(["--model", folder.dir, "--port", "0", "--slots", "16", "--max-len", String(MAX_LEN), "--served-model-name", "tiny"]))!;
});
afterAll(async () => {
  await srv?.close();
  folder?.cleanup();
});

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const res = await fetch(srv.url + path, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // SSE bodies are not JSON
  }
  return { status: res.status, json, text };
}

const health = async (): Promise<Record<string, number | string>> => (await (await fetch(srv.url + "/health")).json()) as Record<string, number | string>;

/** Greedy continuation and its log-probs by full recompute (no KV cache, no server). */
function greedyOracle(prompt: number[], n: number): { ids: number[]; logprobs: number[] } {
  const seq = [...prompt];
  const ids: number[] = [];
  const logprobs: number[] = [];
  for (let i = 0; i < n; i++) {
    const logits = folder.model.lastLogits(Int32Array.from(seq), Int32Array.from([0, seq.length]));
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
    let max = -Infinity;
    for (const x of logits) max = Math.max(max, x);
    let sum = 0;
    for (const x of logits) sum += Math.exp(x - max);
    ids.push(best);
    logprobs.push(logits[best]! - max - Math.log(sum));
    seq.push(best);
    if (best === EOS_ID) break;
  }
  return { ids, logprobs };
}

/** Parses an SSE body into its JSON events; checks the [DONE] terminator. */
function sseEvents(text: string): Record<string, unknown>[] {
  const blocks = text.split("\n\n").filter((b) => b.trim() !== "");
  expect(blocks.at(-1)).toBe("data: [DONE]");
  return blocks.slice(0, -1).map((b) => {
    expect(b.startsWith("data: ")).toBe(true);
    return JSON.parse(b.slice(6)) as Record<string, unknown>;
  });
}

type Choice = { index: number; text: string; finish_reason: string; token_ids?: number[]; logprobs: { token_logprobs: number[]; tokens: string[] } | null };

describe("aha serve: routes and response shapes", () => {
  it("/v1/models and /health", async () => {
    const models = (await (await fetch(srv.url + "/v1/models")).json()) as { object: string; data: { id: string; object: string; max_model_len: number }[] };
    expect(models.object).toBe("list");
    expect(models.data).toEqual([expect.objectContaining({ id: "tiny", object: "model", max_model_len: MAX_LEN })]);
    const h = await health();
    expect(h.status).toBe("ok");
    expect(h.engine_in_flight).toBe(0);
    expect(srv.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("/v1/completions with token ids: greedy tokens and log-probs equal a full recompute; usage adds up", async () => {
    const prompt = tok.encode("The sum of 3 and 4 is");
    const r = await post("/v1/completions", { model: "tiny", prompt, max_tokens: 12, temperature: 0, logprobs: 0, return_token_ids: true, n: 2 });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ object: "text_completion", model: "tiny" });
    expect(String(r.json.id)).toMatch(/^cmpl-/);
    const choices = r.json.choices as Choice[];
    expect(choices.map((c) => c.index)).toEqual([0, 1]);
    const want = greedyOracle(prompt, 12);
    for (const c of choices) {
      expect(c.token_ids).toEqual(want.ids);
      c.logprobs!.token_logprobs.forEach((lp, i) => expect(lp).toBeCloseTo(want.logprobs[i]!, 4));
      expect(c.logprobs!.tokens).toHaveLength(want.ids.length);
      expect(c.finish_reason).toBe(want.ids.at(-1) === EOS_ID ? "stop" : "length");
      expect(c.text).toBe(tok.decode(want.ids.filter((t) => t !== EOS_ID), { skipSpecialTokens: true }));
    }
    expect(r.json.usage).toEqual({ prompt_tokens: prompt.length, completion_tokens: 2 * want.ids.length, total_tokens: prompt.length + 2 * want.ids.length });
  });

  it("a text prompt, a list of prompts, and seeds: the same seed gives the same sample", async () => {
    const body = { prompt: ["hello there", "abc"], max_tokens: 8, temperature: 1, seed: 5, return_token_ids: true };
    const a = await post("/v1/completions", body);
    const b = await post("/v1/completions", body);
    expect(a.status).toBe(200);
    const ca = a.json.choices as Choice[];
    expect(ca).toHaveLength(2);
    expect((b.json.choices as Choice[]).map((c) => c.token_ids)).toEqual(ca.map((c) => c.token_ids));
    expect(ca[0]!.token_ids).toHaveLength(8);
  });

  it("streaming gives the same text, token ids and finish reason as the whole answer", async () => {
    const body = { prompt: "stream me", max_tokens: 20, temperature: 0.9, seed: 3, n: 2, logprobs: 0, return_token_ids: true };
    const whole = (await post("/v1/completions", body)).json.choices as Choice[];
    const r = await post("/v1/completions", { ...body, stream: true, stream_options: { include_usage: true } });
    expect(r.status).toBe(200);
    const events = sseEvents(r.text);
    const text = ["", ""];
    const ids: number[][] = [[], []];
    const finish: (string | null)[] = [null, null];
    let usage: unknown = null;
    for (const e of events) {
      expect(e.object).toBe("text_completion");
      if (e.usage) usage = e.usage;
      for (const c of e.choices as Choice[]) {
        text[c.index] += c.text;
        ids[c.index]!.push(...(c.token_ids ?? []));
        if (c.finish_reason) finish[c.index] = c.finish_reason;
      }
    }
    expect(text).toEqual(whole.map((c) => c.text));
    expect(ids).toEqual(whole.map((c) => c.token_ids));
    expect(finish).toEqual(whole.map((c) => c.finish_reason));
    expect(usage).toMatchObject({ completion_tokens: ids[0]!.length + ids[1]!.length });
  });

  it("/v1/chat/completions renders the chat template; streaming chunks carry role then content deltas", async () => {
    const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi!" }];
    const r = await post("/v1/chat/completions", { model: "tiny", messages, max_tokens: 10, temperature: 0, logprobs: true, return_token_ids: true });
    expect(r.status).toBe(200);
    expect(r.json.object).toBe("chat.completion");
    const chatText = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n";
    const promptIds = tok.encode(chatText, { addSpecialTokens: false });
    expect(r.json.prompt_token_ids).toEqual(promptIds);
    const want = greedyOracle(promptIds, 10);
    const c = (r.json.choices as { message: { role: string; content: string }; token_ids: number[]; logprobs: { content: { token: string; logprob: number; bytes: number[] }[] }; finish_reason: string }[])[0]!;
    expect(c.message.role).toBe("assistant");
    expect(c.token_ids).toEqual(want.ids);
    expect(c.logprobs.content.map((x) => x.logprob)).toEqual(want.logprobs.map((x) => expect.closeTo(x, 4)));
    const s = await post("/v1/chat/completions", { messages, max_tokens: 10, temperature: 0, stream: true });
    const events = sseEvents(s.text);
    const deltas = events.map((e) => (e.choices as { delta: { role?: string; content?: string } }[])[0]!.delta);
    expect(deltas[0]!.role).toBe("assistant");
    expect(events.every((e) => e.object === "chat.completion.chunk")).toBe(true);
    expect(deltas.map((d) => d.content ?? "").join("")).toBe(c.message.content);
  });

  it("stop strings end the text before the stop string (finish 'stop'); include_stop_str_in_output keeps it", async () => {
    const base = { prompt: "abc", max_tokens: 30, temperature: 0 };
    const full = ((await post("/v1/completions", base)).json.choices as Choice[])[0]!.text;
    // a stop string from the middle of the greedy text
    const stop = [...full.slice(4)].find((ch) => /[a-z0-9]/i.test(ch)) ?? full.slice(4, 5);
    const at = full.indexOf(stop, 0);
    expect(at).toBeGreaterThanOrEqual(0);
    const cut = ((await post("/v1/completions", { ...base, stop })).json.choices as Choice[])[0]!;
    expect(cut.text).toBe(full.slice(0, at));
    expect(cut.finish_reason).toBe("stop");
    const kept = ((await post("/v1/completions", { ...base, stop: [stop], include_stop_str_in_output: true })).json.choices as Choice[])[0]!;
    expect(kept.text).toBe(full.slice(0, at + stop.length));
  });
});

describe("aha serve: errors are OpenAI-shaped 4xx and the server keeps serving", () => {
  const cases: [string, string, unknown, number, string][] = [
    ["malformed JSON", "/v1/completions", "{not json", 400, "invalid_json"],
    ["a JSON array body", "/v1/completions", "[1,2]", 400, "invalid_json"],
    ["unknown model", "/v1/completions", { model: "gpt-9", prompt: "x" }, 404, "model_not_found"],
    ["prompt longer than the context", "/v1/completions", { prompt: "x".repeat(MAX_LEN + 5), max_tokens: 1 }, 400, "context_length_exceeded"],
    ["prompt + max_tokens over the context", "/v1/completions", { prompt: "x", max_tokens: MAX_LEN }, 400, "context_length_exceeded"],
    ["negative temperature", "/v1/completions", { prompt: "x", temperature: -1 }, 400, "invalid_parameter"],
    ["top_p 0", "/v1/completions", { prompt: "x", top_p: 0 }, 400, "invalid_parameter"],
    ["n = 0", "/v1/completions", { prompt: "x", n: 0 }, 400, "invalid_parameter"],
    ["max_tokens as text", "/v1/completions", { prompt: "x", max_tokens: "5" }, 400, "invalid_parameter"],
    ["stop not a string", "/v1/completions", { prompt: "x", stop: 5 }, 400, "invalid_parameter"],
    ["prompt a number", "/v1/completions", { prompt: 12 }, 400, "invalid_parameter"],
    ["token id outside the vocabulary", "/v1/completions", { prompt: [1, 999999] }, 400, "invalid_parameter"],
    ["empty prompt", "/v1/completions", { prompt: "" }, 400, "invalid_parameter"],
    ["echo", "/v1/completions", { prompt: "x", echo: true }, 400, "invalid_parameter"],
    ["messages missing", "/v1/chat/completions", { model: "tiny" }, 400, "invalid_parameter"],
    ["bad role", "/v1/chat/completions", { messages: [{ role: "wizard", content: "x" }] }, 400, "invalid_parameter"],
    ["top_logprobs", "/v1/chat/completions", { messages: [{ role: "user", content: "x" }], top_logprobs: 3 }, 400, "invalid_parameter"],
    ["unknown route", "/v1/embeddings", { input: "x" }, 404, "not_found"],
  ];
  it.each(cases)("%s (%s) → %i", async (_name, path, body, status, code) => {
    const r = await post(path, body);
    expect(r.status).toBe(status);
    const err = r.json.error as Record<string, unknown>;
    expect(Object.keys(err).sort()).toEqual(["code", "message", "param", "type"]);
    expect(err).toMatchObject({ type: "invalid_request_error", code });
    expect((r.json.error as { message: string }).message.length).toBeGreaterThan(5);
  });

  it("wrong method → 405; after every bad request a good one still succeeds and nothing is left in flight", async () => {
    const g = await fetch(srv.url + "/v1/completions");
    expect(g.status).toBe(405);
    expect(((await g.json()) as { error: { code: string } }).error.code).toBe("method_not_allowed");
    const ok = await post("/v1/completions", { prompt: "still alive?", max_tokens: 4 });
    expect(ok.status).toBe(200);
    expect((ok.json.choices as Choice[])[0]!.text).toEqual(expect.any(String));
    const h = await health();
    expect([h.engine_in_flight, h.active_requests]).toEqual([0, 0]);
  });
});

describe("aha serve: load and faults", () => {
  it("64 concurrent requests all succeed with valid bodies, decoded together in one batch", async () => {
    const before = (await health()).completion_tokens as number;
    const rs = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        i % 2 === 0
          ? post("/v1/completions", { prompt: `request ${i}`, max_tokens: 6 + (i % 5), temperature: 1, seed: i, return_token_ids: true })
          : post("/v1/chat/completions", { messages: [{ role: "user", content: `question ${i}` }], max_tokens: 6, stream: i % 4 === 1, seed: i }),
      ),
    );
    let tokens = 0;
    rs.forEach((r, i) => {
      expect(r.status).toBe(200);
      if (i % 4 === 1) {
        const ev = sseEvents(r.text);
        expect(ev.at(-1)!.choices).toEqual([expect.objectContaining({ finish_reason: expect.stringMatching(/^(stop|length)$/) })]);
      } else {
        const c = (r.json.choices as Record<string, unknown>[])[0]!;
        expect(c.finish_reason).toMatch(/^(stop|length)$/);
        if (i % 2 === 0) {
          expect(c.text).toEqual(expect.any(String));
          expect((c.token_ids as number[]).length).toBeLessThanOrEqual(6 + (i % 5));
        } else expect((c.message as { content: string }).content).toEqual(expect.any(String));
        tokens += (r.json.usage as { completion_tokens: number }).completion_tokens;
      }
    });
    const h = await health();
    expect(h.peak_in_flight as number).toBeGreaterThan(1); // several requests were in the engine at once
    expect((h.completion_tokens as number) - before).toBeGreaterThanOrEqual(tokens);
    expect([h.engine_in_flight, h.active_requests]).toEqual([0, 0]);
  });

  it("clients that disconnect mid-stream (or before a whole answer) free their slots", async () => {
    const abortedBefore = (await health()).aborted as number;
    const ctrls: AbortController[] = [];
    const started: Promise<void>[] = [];
    for (let i = 0; i < 6; i++) {
      const ac = new AbortController();
      ctrls.push(ac);
      const stream = i % 2 === 0;
      started.push(
        fetch(srv.url + "/v1/completions", { method: "POST", body: JSON.stringify({ prompt: `long ${i}`, max_tokens: 100, stream, stop_token_ids: [], temperature: 1 }), signal: ac.signal })
          .then(async (res) => {
            if (stream) {
              const reader = res.body!.getReader();
              await reader.read(); // the first chunk arrived: generation is under way
            }
            ac.abort();
          })
          .catch(() => undefined),
      );
    }
    // non-streaming ones: abort once the server holds them
    const arrived = async (): Promise<number> => {
      const h = await health();
      return (h.active_requests as number) + (h.aborted as number) - abortedBefore;
    };
    for (let t = 0; t < 400 && (await arrived()) < 6; t++) await new Promise((r) => setTimeout(r, 5));
    ctrls.forEach((c) => c.abort());
    await Promise.all(started);
    let h = await health();
    for (let t = 0; t < 200 && (h.engine_in_flight !== 0 || h.active_requests !== 0); t++) {
      await new Promise((r) => setTimeout(r, 10));
      h = await health();
    }
    expect([h.engine_in_flight, h.active_requests]).toEqual([0, 0]);
    expect((h.aborted as number) - abortedBefore).toBe(6); // each generation was stopped, not run to its end
    const ok = await post("/v1/completions", { prompt: "after the disconnects", max_tokens: 3 });
    expect(ok.status).toBe(200);
  });
});

describe("aha serve: broken connections", () => {
  it("half a body then a hang-up, and garbage instead of HTTP: the server keeps serving", async () => {
    const port = Number(new URL(srv.url).port);
    const errorsBefore = (await health()).errors as number;
    const send = (data: string, end: boolean): Promise<string> =>
      new Promise((resolve) => {
        const sock = net.connect(port, "127.0.0.1", () => {
          sock.write(data);
          if (end) sock.end();
          else setTimeout(() => sock.destroy(), 50);
        });
        let got = "";
        sock.on("data", (d) => (got += d.toString()));
        sock.on("close", () => resolve(got));
        sock.on("error", () => resolve(got));
      });
    await send('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"prompt": "ab', false);
    expect(await send("NOT HTTP AT ALL\r\n\r\n", true)).toMatch(/^HTTP\/1\.1 400/);
    let h = await health();
    for (let t = 0; t < 100 && (h.errors as number) === errorsBefore; t++) {
      await new Promise((r) => setTimeout(r, 10));
      h = await health();
    }
    expect(h.errors as number).toBe(errorsBefore + 1); // the cut-off body was answered as an error, not left hanging
    const ok = await post("/v1/completions", { prompt: "fine", max_tokens: 2 });
    expect(ok.status).toBe(200);
  });
});

describe("prompt encoding", () => {
  it("prepends BOS when tokenizer_config says add_bos_token and the post-processor did not; never for chat text", async () => {
    const { readTokenizerFiles } = await import("../../src/formats/tokenizer.js");
    const { encodePrompt } = await import("../../src/rollout/folder.js");
    const files = readTokenizerFiles(folder.dir);
    const withBos = new HfTokenizer({ ...files, tokenizerConfig: { ...files.tokenizerConfig, bos_token: "<|endoftext|>", add_bos_token: true } });
    expect(encodePrompt(withBos, "ab", true)).toEqual([256, 97, 98]);
    expect(encodePrompt(withBos, "ab", false)).toEqual([97, 98]);
    expect(encodePrompt(tok, "ab", true)).toEqual([97, 98]); // no add_bos_token: as the tokenizer says
  });
});
