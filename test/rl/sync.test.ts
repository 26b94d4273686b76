/**
 * Weight sync as the afterUpdate stage (src/rl/sync.ts + src/rollout/sync.ts), against recording fake
 * servers on 127.0.0.1: the SGLang and vLLM request shapes, every N steps, the pushed folder is whole
 * (a Hugging Face folder the trainer's weights load from), one failing endpoint is a warning, all
 * failing stops the run, only the last two pushed folders are kept.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadHfWeights } from "../../src/formats/hf.js";
import { Arena } from "../../src/model/params.js";
import { weightSyncStage } from "../../src/rl/sync.js";
import type { StepContext } from "../../src/rl/stages.js";
import { updateRequest } from "../../src/rollout/sync.js";
import { setup } from "./tiny.js";

const roots: string[] = [];
afterAll(() => {
  for (const d of roots) fs.rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "aha-sync-"));
  roots.push(d);
  return d;
};

interface Seen { path: string; body: Record<string, unknown> }

async function fakeServer(answer: (s: Seen) => { status: number; body: string }): Promise<{ url: string; seen: Seen[]; close: () => void }> {
  const seen: Seen[] = [];
  const srv = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      const s = { path: req.url ?? "", body: JSON.parse(text || "{}") as Record<string, unknown> };
      seen.push(s);
      const a = answer(s);
      res.writeHead(a.status, { "content-type": "application/json" }).end(a.body);
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/v1`, seen, close: () => srv.close() };
}

function ctxOf(): StepContext {
  const { opts } = setup([]);
  return { rl: opts.rl, train: opts.train, task: opts.task, template: "none", tokenizer: opts.tokenizer, engine: opts.engine, policy: opts.policy, scorer: async () => [], settings: {} as StepContext["settings"] };
}

describe("weight sync", () => {
  it("request shapes: vLLM's load_lora_adapter under /v1, SGLang's update_weights_from_disk at the root", () => {
    expect(updateRequest("vllm", "http://h:8000/v1/", "/w/step-3", "pol")).toEqual({ url: "http://h:8000/v1/load_lora_adapter", body: { lora_name: "pol", lora_path: "/w/step-3", load_inplace: true } });
    expect(updateRequest("sglang", "http://h:30000/v1", "/w/step-3", "pol")).toEqual({ url: "http://h:30000/update_weights_from_disk", body: { model_path: "/w/step-3" } });
  });

  it("sglang: every 2 steps a whole Hugging Face folder of the policy's weights is pushed to every endpoint; two folders kept", async () => {
    const a = await fakeServer(() => ({ status: 200, body: JSON.stringify({ success: true, message: "ok" }) }));
    const b = await fakeServer(() => ({ status: 200, body: JSON.stringify({ success: true, message: "ok" }) }));
    try {
      const dir = path.join(tmp(), "weights");
      const ctx = ctxOf();
      const versions: number[] = [];
      const sync = weightSyncStage({ protocol: "sglang", endpoints: [a.url, b.url], loraName: "x", dir, every: 2, onPush: (v) => versions.push(v) });
      const stage = sync.stage;
      expect(sync.pushedStep()).toBe(0);
      for (let step = 1; step <= 6; step++) {
        ctx.policy.model.params.data[0] = step; // the weights of each step differ
        await stage(ctx, step);
      }
      expect(versions).toEqual([2, 4, 6]);
      expect(sync.pushedStep()).toBe(6);
      for (const srv of [a, b]) {
        expect(srv.seen.map((s) => s.path)).toEqual(["/update_weights_from_disk", "/update_weights_from_disk", "/update_weights_from_disk"]);
        expect(srv.seen.map((s) => s.body["model_path"])).toEqual([2, 4, 6].map((k) => path.resolve(dir, `step-${k}`)));
      }
      expect(fs.readdirSync(dir).sort()).toEqual(["step-4", "step-6"]);
      const back = new Arena(ctx.policy.model.params.table);
      loadHfWeights(path.join(dir, "step-6"), back);
      expect(back.data).toEqual(ctx.policy.model.params.data);
    } finally {
      a.close();
      b.close();
    }
  });

  it("one endpoint failing is a warning naming it; all failing stops the run (SGLang's success: false counts)", async () => {
    const good = await fakeServer(() => ({ status: 200, body: JSON.stringify({ success: true, message: "ok" }) }));
    const bad = await fakeServer(() => ({ status: 200, body: JSON.stringify({ success: false, message: "shape mismatch in layers.0" }) }));
    const down = await fakeServer(() => ({ status: 500, body: "boom" }));
    try {
      const warned: string[] = [];
      const ctx = ctxOf();
      const dir = path.join(tmp(), "w");
      await weightSyncStage({ protocol: "sglang", endpoints: [good.url, bad.url], loraName: "x", dir, every: 1, retries: 0, warn: (m) => warned.push(m) }).stage(ctx, 1);
      expect(warned.join("\n")).toMatch(/did not load the weights of step 1 \(shape mismatch in layers\.0\)/);
      const all = weightSyncStage({ protocol: "sglang", endpoints: [bad.url, down.url], loraName: "x", dir, every: 1, retries: 1 });
      await expect(all.stage(ctx, 2)).rejects.toMatchObject({ code: "AHA_SYNC_FAILED" });
      expect(down.seen).toHaveLength(2); // a 5xx is retried
      expect(bad.seen).toHaveLength(2); // once per push: success false is the server's answer, not retried
    } finally {
      good.close();
      bad.close();
      down.close();
    }
  });

  it("vllm: a LoRA policy pushes its PEFT adapter folder under the adapter's name", async () => {
    const srv = await fakeServer(() => ({ status: 200, body: "\"Success: LoRA adapter 'pol' added successfully.\"" }));
    try {
      const { opts } = setup([], { lora: true });
      const ctx: StepContext = { ...ctxOf(), policy: opts.policy };
      const dir = path.join(tmp(), "lw");
      await weightSyncStage({ protocol: "vllm", endpoints: [srv.url], loraName: "pol", dir, every: 1 }).stage(ctx, 1);
      expect(srv.seen).toEqual([{ path: "/v1/load_lora_adapter", body: { lora_name: "pol", lora_path: path.resolve(dir, "step-1"), load_inplace: true } }]);
      expect(fs.existsSync(path.join(dir, "step-1", "adapter_model.safetensors"))).toBe(true);
      expect(fs.existsSync(path.join(dir, "step-1", "adapter_config.json"))).toBe(true);
    } finally {
      srv.close();
    }
  });
});
