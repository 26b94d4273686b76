/**
 * `aha serve`'s weight updates, from outside over HTTP on 127.0.0.1: SGLang's /update_weights_from_disk
 * and vLLM's /v1/load_lora_adapter + /v1/unload_lora_adapter. Oracles: greedy completions of a fresh
 * server started on the new weights (`--model B`, `--model A --adapter X`), SGLang's and vLLM's documented
 * shapes, and the gate's ordering observed in-process (srv.api.gate).
 */
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFromArgs } from "../../src/cli/serve.js";
import { saveHfModel } from "../../src/formats/hf.js";
import { savePeftAdapter } from "../../src/formats/peft.js";
import { writeSafetensors } from "../../src/formats/safetensors.js";
import { LoraSet } from "../../src/model/lora.js";
import { Model } from "../../src/model/model.js";
import { initParams } from "../../src/model/params.js";
import type { RunningServer } from "../../src/serve/server.js";
import { mulberry32 } from "../../src/util/rng.js";
import { makeModelFolder, tinyConfig } from "./helpers.js";

const MAX_LEN = 96;
const PROMPTS = [[72, 101, 108], [10, 20, 30, 40], [200, 3], [65, 66, 67, 68, 69]];
const TOKENS = 14;

let A: ReturnType<typeof makeModelFolder>;
let B: ReturnType<typeof makeModelFolder>;
let adapter1: string;
let adapter2: string;
let wrongShape: string;
let missingTensor: string;
let wrongAdapter: string;
let srv: RunningServer;
/** Greedy token ids per prompt: base A, folder B, A + adapter1, A + adapter2 — each from a fresh server. */
const oracle: Record<"A" | "B" | "A1" | "A2", number[][]> = { A: [], B: [], A1: [], A2: [] };

const args = (dir: string, extra: string[] = []): string[] => ["--model", dir, "--port", "0", "--slots", "8", "--max-len", String(MAX_LEN), "--served-model-name", "tiny", ...extra];

/** A random PEFT adapter on `model` (B non-zero, so it changes the greedy outputs). */
function writeAdapter(model: Model, dir: string, seed: number): void {
  const set = new LoraSet(model, { rank: 4, alpha: 8, dropout: 0, targets: ["q", "v", "o", "up", "down"] });
  const u = mulberry32(seed);
  for (let i = 0; i < set.params.data.length; i++) set.params.data[i] = (2 * u() - 1) * 0.6;
  savePeftAdapter(set, dir);
}

async function post(url: string, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown>; text: string; type: string }> {
  const res = await fetch(url + path, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // text/plain (vLLM's success messages) or SSE
  }
  return { status: res.status, json, text, type: res.headers.get("content-type") ?? "" };
}

const health = async (url = srv.url): Promise<Record<string, unknown>> => (await (await fetch(url + "/health")).json()) as Record<string, unknown>;

/** Greedy token ids per prompt, and the weight_version the response reports. */
async function greedy(url: string, model?: string, prompts = PROMPTS): Promise<{ ids: number[][]; version: number }> {
  const r = await post(url, "/v1/completions", { prompt: prompts, max_tokens: TOKENS, temperature: 0, return_token_ids: true, ...(model ? { model } : {}) });
  expect(r.status, r.text).toBe(200);
  const choices = r.json.choices as { index: number; token_ids: number[] }[];
  return { ids: choices.map((c) => c.token_ids), version: r.json.weight_version as number };
}

async function freshGreedy(extra: string[], dir = A.dir): Promise<number[][]> {
  const s = (await startFromArgs(args(dir, extra)))!;
  try {
    return (await greedy(s.url)).ids;
  } finally {
    await s.close();
  }
}

beforeAll(async () => {
  A = makeModelFolder(11, MAX_LEN);
  B = makeModelFolder(22, MAX_LEN);
  adapter1 = join(A.root, "adapter1");
  adapter2 = join(A.root, "adapter2");
  writeAdapter(A.model, adapter1, 5);
  writeAdapter(A.model, adapter2, 6);
  // a model of another shape (hidden 48) and an adapter made for it
  const cfg = { ...tinyConfig(MAX_LEN), hiddenSize: 48, headDim: 24 };
  const m = new Model(cfg);
  initParams(m.params, cfg, 3);
  wrongShape = join(A.root, "wide");
  saveHfModel(wrongShape, cfg, m.params, { copyFrom: A.dir });
  wrongAdapter = join(A.root, "wide-adapter");
  writeAdapter(m, wrongAdapter, 7);
  // A's config.json with weights that lack every tensor but the embedding
  missingTensor = join(A.root, "partial");
  mkdirSync(missingTensor);
  copyFileSync(join(A.dir, "config.json"), join(missingTensor, "config.json"));
  const emb = A.model.params.table.specs.find((s) => s.name === "model.embed_tokens.weight")!;
  writeSafetensors(join(missingTensor, "model.safetensors"), [{ name: emb.name, shape: emb.shape, data: A.model.params.view(emb.name) }], { format: "pt" });

  oracle.A = await freshGreedy([]);
  oracle.B = await freshGreedy([], B.dir);
  oracle.A1 = await freshGreedy(["--adapter", adapter1]);
  oracle.A2 = await freshGreedy(["--adapter", adapter2]);
  srv = (await startFromArgs(args(A.dir)))!;
}, 60_000);

afterAll(async () => {
  await srv?.close();
  A?.cleanup();
  B?.cleanup();
});

describe("the oracles differ (so the comparisons below mean something)", () => {
  it("A, B, A+adapter1 and A+adapter2 give different greedy completions", () => {
    const keys = ["A", "B", "A1", "A2"] as const;
    for (let i = 0; i < keys.length; i++) for (let j = i + 1; j < keys.length; j++) expect(oracle[keys[i]!]).not.toEqual(oracle[keys[j]!]);
  });
});

describe("vLLM's /v1/load_lora_adapter and /v1/unload_lora_adapter", () => {
  it("bad bodies → OpenAI-shaped errors naming the problem; nothing changes", async () => {
    const cases: [unknown, number, RegExp, string | null][] = [
      [{ lora_path: adapter1 }, 400, /'lora_name' must be a non-empty string/, "lora_name"],
      [{ lora_name: "pol" }, 400, /'lora_path' must be a non-empty string/, "lora_path"],
      [{ lora_name: "pol", lora_path: join(A.root, "nowhere") }, 404, /cannot load LoRA adapter 'pol'.*nowhere: no such folder/, "lora_path"],
      [{ lora_name: "pol", lora_path: A.dir }, 404, /adapter_config\.json not found/, "lora_path"],
      [{ lora_name: "pol", lora_path: wrongAdapter }, 400, /has shape \[4, 48\] but the model and r=4 imply \[4, 32\]/, "lora_path"],
      [{ lora_name: "tiny", lora_path: adapter1 }, 400, /'tiny' is the base model's name/, "lora_name"],
      [{ lora_name: "pol", lora_path: adapter1, load_inplace: "yes" }, 400, /'load_inplace' must be true or false/, "load_inplace"],
      ["{not json", 400, /not valid JSON/, null],
    ];
    for (const [body, status, msg, param] of cases) {
      const r = await post(srv.url, "/v1/load_lora_adapter", body);
      expect([r.status, JSON.stringify(body)]).toEqual([status, JSON.stringify(body)]);
      const err = (r.json.error ?? {}) as { message: string; type: string; param: string | null };
      expect(err.message).toMatch(msg);
      expect(err.type).toBe("invalid_request_error");
      expect(err.param).toBe(param);
    }
    const h = await health();
    expect([h.weight_version, h.adapters]).toEqual([0, []]);
    expect(await greedy(srv.url)).toEqual({ ids: oracle.A, version: 0 });
    const un = await post(srv.url, "/v1/unload_lora_adapter", { lora_name: "pol" });
    expect(un.status).toBe(404);
    expect((un.json.error as { message: string }).message).toBe("The lora adapter 'pol' cannot be found.");
  });

  it("a loaded adapter is served under its name (greedy = a fresh server with --adapter), the base still under its own, interleaved", async () => {
    const r = await post(srv.url, "/v1/load_lora_adapter", { lora_name: "pol", lora_path: adapter1 });
    expect([r.status, r.text]).toEqual([200, "Success: LoRA adapter 'pol' added successfully."]);
    expect(r.type).toMatch(/^text\/plain/);
    const models = (await (await fetch(srv.url + "/v1/models")).json()) as { data: Record<string, unknown>[] };
    expect(models.data.map((m) => [m.id, m.parent, m.root])).toEqual([["tiny", null, A.dir], ["pol", "tiny", adapter1]]);
    expect((await (await fetch(srv.url + "/v1/models/pol")).json()) as Record<string, unknown>).toMatchObject({ id: "pol", parent: "tiny" });
    // base and adapter requests at once: the gate switches between them, each gets its own weights
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => greedy(srv.url, i % 2 === 0 ? "pol" : i % 4 === 1 ? "tiny" : undefined)));
    rs.forEach((x, i) => expect(x).toEqual({ ids: i % 2 === 0 ? oracle.A1 : oracle.A, version: 1 }));
    const chat = await post(srv.url, "/v1/chat/completions", { model: "pol", messages: [{ role: "user", content: "hi" }], max_tokens: 4 });
    expect([chat.status, chat.json.model, chat.json.weight_version]).toEqual([200, "pol", 1]);
    const h = await health();
    expect([h.weight_version, h.adapters, h.engine_in_flight, h.active_requests, h.waiting_requests]).toEqual([1, ["pol"], 0, 0, 0]);
  });

  it("loading the same name again replaces the adapter (version + 1); load_inplace: false refuses as vLLM", async () => {
    const no = await post(srv.url, "/v1/load_lora_adapter", { lora_name: "pol", lora_path: adapter2, load_inplace: false });
    expect(no.status).toBe(400);
    expect((no.json.error as { message: string }).message).toBe("The lora adapter 'pol' has already been loaded.");
    expect(await greedy(srv.url, "pol")).toEqual({ ids: oracle.A1, version: 1 });
    const r = await post(srv.url, "/v1/load_lora_adapter", { lora_name: "pol", lora_path: adapter2 });
    expect([r.status, r.text]).toEqual([200, "Success: LoRA adapter 'pol' added successfully."]);
    expect(await greedy(srv.url, "pol")).toEqual({ ids: oracle.A2, version: 2 });
    expect(await greedy(srv.url, "tiny")).toEqual({ ids: oracle.A, version: 2 });
    // a failed reload keeps the adapter as it was
    const bad = await post(srv.url, "/v1/load_lora_adapter", { lora_name: "pol", lora_path: wrongAdapter });
    expect(bad.status).toBe(400);
    expect(await greedy(srv.url, "pol")).toEqual({ ids: oracle.A2, version: 2 });
  });

  it("unload: the name answers 404 model_not_found afterwards; the base is unchanged", async () => {
    const r = await post(srv.url, "/v1/unload_lora_adapter", { lora_name: "pol" });
    expect([r.status, r.text]).toEqual([200, "Success: LoRA adapter 'pol' removed successfully."]);
    const gone = await post(srv.url, "/v1/completions", { model: "pol", prompt: "x", max_tokens: 2 });
    expect(gone.status).toBe(404);
    expect(gone.json.error).toMatchObject({ code: "model_not_found", param: "model" });
    expect(await greedy(srv.url)).toEqual({ ids: oracle.A, version: 2 });
    expect((await health()).adapters).toEqual([]);
    const missing = await post(srv.url, "/v1/unload_lora_adapter", {});
    expect([missing.status, (missing.json.error as { param: string }).param]).toEqual([400, "lora_name"]);
  });
});

describe("SGLang's /update_weights_from_disk", () => {
  it("bad bodies and wrong folders → {success: false, message} 400 naming the problem; the old weights are still served", async () => {
    const before = (await health()).weight_version as number;
    const cases: [unknown, RegExp][] = [
      [{}, /'model_path' must be a non-empty string/],
      [{ model_path: 7 }, /'model_path' must be a non-empty string/],
      [{ model_path: join(A.root, "nowhere") }, /nowhere: no such folder/],
      [{ model_path: adapter1 }, /config\.json not found/],
      [{ model_path: wrongShape }, /describes another model than the one served: hiddenSize 48 \(served: 32\)/],
      [{ model_path: missingTensor }, /tensor "model\.layers\.0\.\S+" \(shape \[\d+(, \d+)*\] from config\.json\) is missing/],
      [{ model_path: B.dir, load_format: "pt" }, /load_format "pt" is not supported/],
      [{ model_path: B.dir, abort_all_requests: true }, /abort_all_requests is not supported/],
      ["[1, 2", /not valid JSON/],
    ];
    for (const [body, msg] of cases) {
      const r = await post(srv.url, "/update_weights_from_disk", body);
      expect([r.status, JSON.stringify(body)]).toEqual([400, JSON.stringify(body)]);
      expect(r.json).toEqual({ success: false, message: expect.stringMatching(msg), num_paused_requests: 0, weight_version: before });
    }
    expect(await greedy(srv.url)).toEqual({ ids: oracle.A, version: before });
  });

  it("an update waits for the requests in flight and holds back later ones (in-process view of the gate)", async () => {
    const v0 = srv.api.gate.version;
    const release = await srv.api.gate.acquire("tiny"); // a request in flight
    let updated = false;
    const upd = post(srv.url, "/update_weights_from_disk", { model_path: B.dir }).then((r) => {
      updated = true;
      return r;
    });
    for (let i = 0; i < 200 && !srv.api.gate.paused; i++) await new Promise((r) => setTimeout(r, 5));
    expect(srv.api.gate.paused).toBe(true);
    const later = greedy(srv.url); // arrives during the pause: must run on the new weights
    for (let i = 0; i < 200 && srv.api.gate.waiting < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect([srv.api.gate.waiting, updated, srv.api.gate.version]).toEqual([2, false, v0]);
    expect((await health()).paused).toBe(true);
    // a client that goes away while waiting: nothing is decoded for it when its turn comes
    const abortedBefore = (await health()).aborted as number;
    const ac = new AbortController();
    const gone = fetch(srv.url + "/v1/completions", { method: "POST", body: JSON.stringify({ prompt: "bye", max_tokens: 50 }), signal: ac.signal }).catch((e: unknown) => e);
    for (let i = 0; i < 200 && srv.api.gate.waiting < 3; i++) await new Promise((r) => setTimeout(r, 5));
    expect(srv.api.gate.waiting).toBe(3);
    ac.abort();
    await gone;
    await new Promise((r) => setTimeout(r, 20));
    release();
    const r = await upd;
    expect([r.status, r.json.success, r.json.num_paused_requests, r.json.weight_version]).toEqual([200, true, 2, v0 + 1]);
    expect(r.json.message).toMatch(/^Succeeded to update model weights/);
    expect(await later).toEqual({ ids: oracle.B, version: v0 + 1 });
    const hg = await health();
    expect([hg.aborted, hg.engine_in_flight, hg.active_requests, hg.waiting_requests, hg.paused]).toEqual([abortedBefore + 1, 0, 0, 0, false]);
    // back to A for the next test
    const back = await post(srv.url, "/update_weights_from_disk", { model_path: A.dir, load_format: "auto" });
    expect([back.status, back.json.success, back.json.weight_version]).toEqual([200, true, v0 + 2]);
    expect(await greedy(srv.url)).toEqual({ ids: oracle.A, version: v0 + 2 });
  });

  it("requests in flight during an update all complete; each response's tokens are those of the weight version it reports", async () => {
    const v0 = srv.api.gate.version;
    const one = (i: number): Promise<{ ids: number[][]; version: number }> =>
      i % 3 === 0
        ? (async () => {
          // streaming: token ids and the version come in the chunks
          const r = await post(srv.url, "/v1/completions", { prompt: PROMPTS, max_tokens: TOKENS, temperature: 0, return_token_ids: true, stream: true });
          expect(r.status).toBe(200);
          const blocks = r.text.split("\n\n").filter((b) => b.trim() !== "");
          expect(blocks.at(-1)).toBe("data: [DONE]");
          const ids: number[][] = PROMPTS.map(() => []);
          const versions = new Set<number>();
          for (const b of blocks.slice(0, -1)) {
            const ev = JSON.parse(b.slice(6)) as { weight_version: number; choices: { index: number; token_ids: number[] }[] };
            versions.add(ev.weight_version);
            for (const c of ev.choices) ids[c.index]!.push(...c.token_ids);
          }
          expect(versions.size).toBe(1);
          return { ids, version: [...versions][0]! };
        })()
        : greedy(srv.url);
    const first = Array.from({ length: 9 }, (_, i) => one(i));
    const upd = post(srv.url, "/update_weights_from_disk", { model_path: B.dir });
    const second = Array.from({ length: 6 }, (_, i) => one(i));
    const all = await Promise.all([...first, ...second]);
    const u = await upd;
    expect([u.status, u.json.success, u.json.weight_version]).toEqual([200, true, v0 + 1]);
    for (const r of all) {
      expect([v0, v0 + 1]).toContain(r.version);
      expect(r.ids).toEqual(r.version === v0 ? oracle.A : oracle.B);
    }
    expect(await greedy(srv.url)).toEqual({ ids: oracle.B, version: v0 + 1 });
    const h = await health();
    expect([h.weight_version, h.engine_in_flight, h.active_requests, h.waiting_requests, h.paused]).toEqual([v0 + 1, 0, 0, 0, false]);
  });
});
