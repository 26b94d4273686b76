/**
 * A small client for OpenAI-compatible HTTP APIs (vLLM, SGLang, llama.cpp's server, Ollama, hosted APIs,
 * `aha serve`): POST JSON with a bearer key, at most `concurrency` requests in flight, retries with
 * exponential backoff (and Retry-After) on 429, 5xx and network errors, a per-request timeout, and clear
 * errors: AHA_ENDPOINT_UNREACHABLE when the server cannot be reached after the retries,
 * AHA_ENDPOINT_ERROR for an answer it will not retry (4xx: the server's own message is shown).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { AhaError } from "../errors.js";
import { backoffMs, errorMessage, isRetryableStatus, retryAfterMs, Semaphore } from "../util/http.js";

export interface OpenAIClientOptions {
  /** Base URL, e.g. http://127.0.0.1:8000/v1 (a URL without /v1 gets it appended). */
  baseUrl: string;
  apiKey?: string;
  /** Requests in flight at once. Default 16. */
  concurrency?: number;
  /** Retries after the first try. Default 5. */
  retries?: number;
  /** First backoff (ms); doubles each retry, ±25 % jitter, capped at 30 s. Default 500. */
  backoffMs?: number;
  /** Per-request timeout (ms). Default 600 000. */
  timeoutMs?: number;
}

/** Normalises a base URL: no trailing slash, ends in /v1 unless it already names a version path. */
export function normaliseBaseUrl(u: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new AhaError("AHA_BAD_INPUT", `not a URL: ${u}`, "e.g. http://127.0.0.1:8000/v1");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new AhaError("AHA_BAD_INPUT", `endpoint ${u}: only http and https are supported`);
  let s = url.toString().replace(/\/+$/, "");
  if (!/\/v\d+[a-z]*$/.test(s)) s += "/v1";
  return s;
}

export class OpenAIClient {
  readonly baseUrl: string;
  private readonly o: Required<Omit<OpenAIClientOptions, "apiKey">> & { apiKey: string | undefined };
  private readonly slots: Semaphore;
  /** Retries done so far (tests and logs). */
  retriesDone = 0;

  constructor(o: OpenAIClientOptions) {
    this.baseUrl = normaliseBaseUrl(o.baseUrl);
    this.o = { concurrency: 16, retries: 5, backoffMs: 500, timeoutMs: 600_000, ...o, apiKey: o.apiKey };
    if (!Number.isInteger(this.o.concurrency) || this.o.concurrency < 1) throw new AhaError("AHA_BAD_INPUT", `concurrency must be a positive integer, got ${this.o.concurrency}`);
    this.slots = new Semaphore(this.o.concurrency);
  }

  /** GET path → parsed JSON (retried like post). */
  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>("GET", path, undefined, signal);
  }

  /** POST body to path (relative to the base URL) → parsed JSON. */
  post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.request<T>("POST", path, body, signal);
  }

  private async request<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    await this.slots.take();
    try {
      return await this.withRetries<T>(method, path, body, signal);
    } finally {
      this.slots.give();
    }
  }

  private async withRetries<T>(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const url = this.baseUrl + path;
    let lastProblem = "";
    for (let attempt = 0; attempt <= this.o.retries; attempt++) {
      const a = await attemptOnce(method, url, body, { apiKey: this.o.apiKey, timeoutMs: this.o.timeoutMs }, signal);
      if (a.ok) return a.json as T;
      if (a.kind === "garbage") throw new AhaError("AHA_ENDPOINT_ERROR", `${method} ${url}: ${a.problem}`);
      lastProblem = a.problem;
      if (attempt === this.o.retries) break;
      this.retriesDone++;
      await sleep(a.retryAfterMs ?? backoffMs(this.o.backoffMs, attempt), undefined, signal ? { signal } : {}).catch(() => undefined);
    }
    throw new AhaError(
      "AHA_ENDPOINT_UNREACHABLE",
      `${method} ${url} failed after ${this.o.retries + 1} tries: ${lastProblem}`,
      "is the server running, and is the URL right (e.g. http://127.0.0.1:8000/v1)?",
    );
  }
}


/**
 * One try of an HTTP request. What the endpoint got wrong comes back as a failure to retry (`kind`:
 * "status" for 429 / 408 / 5xx, "network" for a refused or broken connection, "timeout", "garbage" for a
 * 2xx body that is not JSON); what the request got wrong (any other 4xx) throws AHA_ENDPOINT_ERROR with
 * the server's message; an abort throws AHA_ABORTED.
 */
export type Attempt =
  | { ok: true; json: unknown }
  | { ok: false; kind: "status" | "network" | "timeout" | "garbage"; problem: string; retryAfterMs: number | null };

export async function attemptOnce(method: string, url: string, body: unknown, o: { apiKey?: string | undefined; timeoutMs: number }, signal?: AbortSignal): Promise<Attempt> {
  if (signal?.aborted) throw new AhaError("AHA_ABORTED", "generation was aborted");
  const timeout = AbortSignal.timeout(o.timeoutMs);
  try {
    const res = await fetch(url, {
      method,
      headers: { "content-type": "application/json", ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const text = await res.text();
    if (res.ok) {
      try {
        return { ok: true, json: JSON.parse(text) as unknown };
      } catch {
        return { ok: false, kind: "garbage", problem: `the answer is not JSON: ${text.slice(0, 200)}`, retryAfterMs: null };
      }
    }
    const message = errorMessage(text);
    if (!isRetryableStatus(res.status)) throw new AhaError("AHA_ENDPOINT_ERROR", `${method} ${url} → HTTP ${res.status}: ${message}`);
    return { ok: false, kind: "status", problem: `HTTP ${res.status}: ${message}`, retryAfterMs: retryAfterMs(res.headers, 60_000) };
  } catch (e) {
    if (e instanceof AhaError) throw e;
    if (signal?.aborted) throw new AhaError("AHA_ABORTED", "generation was aborted");
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (timeout.aborted) return { ok: false, kind: "timeout", problem: `no answer within ${o.timeoutMs} ms`, retryAfterMs: null };
    return { ok: false, kind: "network", problem: `${err.cause?.code ?? err.name}: ${err.cause?.message ?? err.message}`, retryAfterMs: null };
  }
}
