/**
 * Telling inference servers to load new weights (the trainer's half of weight sync; `aha serve`
 * answers both routes too, docs/serve.md):
 *   vllm:   POST <base>/load_lora_adapter {"lora_name", "lora_path"}   (a PEFT adapter folder; the
 *           server needs --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True; requests then name
 *           the adapter as the model)
 *   sglang: POST <root>/update_weights_from_disk {"model_path"}        (a Hugging Face folder)
 * `<base>` is the endpoint as configured (…/v1); `<root>` is it without a trailing /v1. Each call has a
 * timeout and a few retries on network errors and 5xx; the answer body is read with a size cap.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { backoffMs } from "../util/http.js";

export type SyncProtocol = "vllm" | "sglang";

export interface PushOptions {
  protocol: SyncProtocol;
  /** Endpoint base URLs (…/v1). */
  endpoints: readonly string[];
  /** vLLM: the adapter's name (requests name it as the model). */
  loraName: string;
  apiKey?: string;
  timeoutMs?: number;
  retries?: number;
}

export interface PushResult {
  endpoint: string;
  ok: boolean;
  message: string;
}

const MAX_BODY = 64 * 1024;

/** The route and body of a weight update for one endpoint. */
export function updateRequest(protocol: SyncProtocol, endpoint: string, folder: string, loraName: string): { url: string; body: Record<string, unknown> } {
  const base = endpoint.replace(/\/+$/, "");
  if (protocol === "vllm") return { url: `${base}/load_lora_adapter`, body: { lora_name: loraName, lora_path: folder, load_inplace: true } };
  return { url: `${base.replace(/\/v1$/, "")}/update_weights_from_disk`, body: { model_path: folder } };
}

async function pushOne(o: PushOptions, endpoint: string, folder: string): Promise<PushResult> {
  const { url, body } = updateRequest(o.protocol, endpoint, folder, o.loraName);
  const retries = o.retries ?? 2;
  let last = "";
  for (let attempt = 0; attempt <= retries; attempt++) {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(o.timeoutMs ?? 300_000),
      });
      const text = (await res.text()).slice(0, MAX_BODY);
      let success = res.ok;
      let message = text.trim().slice(0, 300);
      if (o.protocol === "sglang") {
        try {
          const j = JSON.parse(text) as { success?: unknown; message?: unknown };
          if (j.success === false) success = false;
          if (typeof j.message === "string") message = j.message.slice(0, 300);
        } catch {
          // not JSON: the status decides
        }
      }
      if (success) return { endpoint, ok: true, message };
      last = res.ok ? message : `HTTP ${res.status}: ${message}`; // a 200 with success: false is the server's refusal
      if (res.ok) break;
      if (res.status < 500) break; // the request's fault: retrying will not help
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } };
      last = err.name === "TimeoutError" ? `no answer within ${o.timeoutMs ?? 300_000} ms` : `${err.cause?.code ?? err.name}: ${err.message}`;
    }
    if (attempt < retries) await sleep(backoffMs(200, attempt));
  }
  return { endpoint, ok: false, message: last };
}

/** Tells every endpoint to load the weights in `folder`; one result per endpoint (never throws). */
export async function pushWeights(o: PushOptions, folder: string): Promise<PushResult[]> {
  return Promise.all(o.endpoints.map((e) => pushOne(o, e, folder)));
}
