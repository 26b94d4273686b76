/**
 * `aha serve`: an OpenAI-compatible HTTP server (node:http) over a rollout engine — a layer above
 * src/rollout (DESIGN.md has no serve/ layer; it sits between rollout/eval and cli).
 *
 * Routes: GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions (docs/serve.md),
 * and the weight updates of vLLM (POST /v1/load_lora_adapter, /v1/unload_lora_adapter) and SGLang
 * (POST /update_weights_from_disk): ./weights.ts holds the served weights and the gate that pauses
 * new requests while an update waits for the batch to drain. Every completion records `weight_version`.
 * Every request calls `engine.generate`; the local engine decodes all concurrent calls in one continuous
 * batch. A client that goes away (mid-stream or not) aborts its generation: its KV-cache slots are freed
 * at once (`/health` shows `engine_in_flight`, the engine's pending prompts, for leak checks).
 *
 * Text: each choice's tokens go through a streaming decoder (special tokens skipped, the stop token
 * not shown) and a stop-string filter; streaming and non-streaming give the same text. `token_ids`
 * (with return_token_ids, as vLLM) and `logprobs` always cover every generated token, the stop token
 * included, so a trainer can use them as they are. Log-probs are the engine's (the local engine: the
 * model's own at temperature 1, before top-p; docs/serve.md).
 */
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { AhaError, UserError } from "../errors.js";
import type { ChatTemplate } from "../formats/chat-template.js";
import type { HfTokenizer, StreamDecoder } from "../formats/tokenizer.js";
import type { Completion, RolloutEngine, RolloutEvent, RolloutRequest } from "../rollout/engine.js";
import { encodePrompt } from "../rollout/folder.js";
import { ApiError, parseMessages, parsePrompts, parseSampling, type SamplingParams } from "./params.js";
import { UnknownModelError, WeightGate, type ServedModel } from "./weights.js";

export interface ServeOptions {
  /** The engine; `inFlight` (LocalRolloutEngine) is reported by /health. */
  engine: RolloutEngine & { readonly inFlight?: number };
  tokenizer: HfTokenizer;
  /** Name in /v1/models and the `model` field requests must match. */
  modelName: string;
  /** Context length: prompt + max_tokens must fit. */
  maxLen: number;
  vocabSize: number;
  /** Tokens that end a completion (EOS / end of turn). */
  stopTokenIds: readonly number[];
  /** The model's chat template; null → /v1/chat/completions answers 400. */
  chat: ChatTemplate | null;
  /** Largest request body (bytes). Default 16 MiB. */
  maxBodyBytes?: number;
  /** The engine's model and its folder: enables the weight-update routes (without it they answer 400). */
  weights?: ServedModel;
}

export interface ServeStats {
  /** HTTP requests currently generating. */
  activeRequests: number;
  /** Most prompts the engine held at once (> 1: requests were decoded together). */
  peakInFlight: number;
  requests: number;
  errors: number;
  /** Generations stopped because their client went away. */
  aborted: number;
  completionTokens: number;
}

class StopFilter {
  private pending = "";
  private readonly maxLen: number;
  stopped = false;
  constructor(private readonly stops: readonly string[], private readonly keepStop: boolean) {
    this.maxLen = Math.max(0, ...stops.map((s) => s.length));
  }

  /** Text safe to emit; once a stop string appears, the text up to it (plus it, with keepStop) and nothing after. */
  push(delta: string): string {
    if (this.stopped) return "";
    if (this.stops.length === 0) return delta;
    this.pending += delta;
    let cut = -1;
    let len = 0;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) {
        cut = i;
        len = s.length;
      }
    }
    if (cut >= 0) {
      this.stopped = true;
      const out = this.pending.slice(0, this.keepStop ? cut + len : cut);
      this.pending = "";
      return out;
    }
    let keep = 0;
    for (let k = Math.min(this.maxLen - 1, this.pending.length); k > 0; k--) {
      const tail = this.pending.slice(this.pending.length - k);
      if (this.stops.some((s) => s.startsWith(tail))) {
        keep = k;
        break;
      }
    }
    const out = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return out;
  }

  flush(): string {
    const t = this.stopped ? "" : this.pending;
    this.pending = "";
    return t;
  }
}

/** One choice (prompt p, sample j) being decoded. */
class ChoiceState {
  readonly tokens: number[] = [];
  readonly logprobs: number[] = [];
  text = "";
  finish: "stop" | "length" | null = null;
  sentRole = false;
  private readonly decoder: StreamDecoder;
  private readonly filter: StopFilter;
  constructor(tok: HfTokenizer, stops: readonly string[], keepStop: boolean, skipSpecial: boolean, private readonly stopIds: ReadonlySet<number>) {
    this.decoder = tok.streamDecoder({ skipSpecialTokens: skipSpecial });
    this.filter = new StopFilter(stops, keepStop);
  }

  /** Adds a token; returns the new visible text. */
  token(id: number, logprob: number | null): string {
    this.tokens.push(id);
    this.logprobs.push(logprob ?? Number.NaN);
    if (this.stopIds.has(id)) return "";
    const t = this.filter.push(this.decoder.push(id));
    this.text += t;
    return t;
  }

  /** The end: remaining text. */
  end(c: Completion): string {
    this.finish = c.finishReason;
    const t = this.filter.push(this.decoder.flush()) + this.filter.flush();
    this.text += t;
    return t;
  }
}

const now = (): number => Math.floor(Date.now() / 1000);

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
  res.end(data);
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new ApiError(413, `request body larger than ${limit} bytes`, "invalid_request_error", "body_too_large"));
        return;
      }
      chunks.push(c);
    });
    let ended = false;
    req.on("end", () => {
      ended = true;
      if (!failed) resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("close", () => {
      if (!ended && !failed) reject(new ApiError(400, "the client closed the connection before sending the whole body", "invalid_request_error", "incomplete_body"));
    });
    req.on("error", (e) => {
      if (!failed) reject(e);
    });
  });
}

export class OpenAIServer {
  readonly stats: ServeStats = { activeRequests: 0, peakInFlight: 0, requests: 0, errors: 0, aborted: 0, completionTokens: 0 };
  /** The served weights (base + adapters), their version, and the pause around updates. */
  readonly gate: WeightGate;
  constructor(private readonly o: ServeOptions) {
    this.gate = new WeightGate(o.modelName, o.weights ?? null);
  }

  /** The node:http request listener. */
  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    this.stats.requests++;
    this.route(req, res).catch((e: unknown) => this.fail(res, e));
  };

  private fail(res: http.ServerResponse, e: unknown): void {
    this.stats.errors++;
    const err = e instanceof ApiError
      ? e
      : e instanceof UserError // a request the engine refused
        ? new ApiError(400, e.message, "invalid_request_error", "invalid_parameter")
        : new ApiError(500, e instanceof Error ? e.message : String(e), "server_error", e instanceof AhaError ? e.code : "internal_error");
    if (res.headersSent) {
      // mid-stream: an SSE error event, then the end (OpenAI clients surface `error` in a chunk)
      if (!res.writableEnded) res.end(`data: ${JSON.stringify(err.body())}\n\n`);
      return;
    }
    sendJson(res, err.status, err.body());
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const p = url.pathname.replace(/\/+$/, "") || "/";
    const routes: Record<string, { method: string; run: () => Promise<void> | void }> = {
      "/health": { method: "GET", run: () => sendJson(res, 200, this.health()) },
      "/v1/models": { method: "GET", run: () => sendJson(res, 200, { object: "list", data: this.modelNames().map((m) => this.modelCard(m)) }) },
      "/v1/completions": { method: "POST", run: () => this.generate(req, res, "completions") },
      "/v1/chat/completions": { method: "POST", run: () => this.generate(req, res, "chat") },
      "/v1/load_lora_adapter": { method: "POST", run: () => this.loadLora(req, res) },
      "/v1/unload_lora_adapter": { method: "POST", run: () => this.unloadLora(req, res) },
      "/update_weights_from_disk": { method: "POST", run: () => this.updateFromDisk(req, res) },
    };
    const card = p.startsWith("/v1/models/") ? decodeURIComponent(p.slice("/v1/models/".length)) : null;
    const r = routes[p] ?? (card !== null && this.gate.has(card) ? { method: "GET", run: () => sendJson(res, 200, this.modelCard(card)) } : undefined);
    if (!r) throw new ApiError(404, `no route ${req.method} ${p}`, "invalid_request_error", "not_found");
    if (req.method !== r.method) throw new ApiError(405, `${p} takes ${r.method}, not ${req.method}`, "invalid_request_error", "method_not_allowed");
    await r.run();
  }

  health(): Record<string, unknown> {
    return {
      status: "ok",
      model: this.o.modelName,
      weight_version: this.gate.version,
      adapters: [...this.gate.adapters.keys()],
      paused: this.gate.paused,
      waiting_requests: this.gate.waiting,
      active_requests: this.stats.activeRequests,
      engine_in_flight: this.o.engine.inFlight ?? null,
      peak_in_flight: this.stats.peakInFlight,
      requests: this.stats.requests,
      errors: this.stats.errors,
      aborted: this.stats.aborted,
      completion_tokens: this.stats.completionTokens,
    };
  }

  private modelNames(): string[] {
    return [this.o.modelName, ...this.gate.adapters.keys()];
  }

  /** vLLM's model card: an adapter has `root` = its folder and `parent` = the base model's name. */
  private modelCard(name: string): Record<string, unknown> {
    const a = this.gate.adapters.get(name);
    const base = this.o.modelName;
    return {
      id: name, object: "model", created: now(), owned_by: "aha", max_model_len: this.o.maxLen,
      root: a ? a.path : this.o.weights?.path ?? base, parent: a ? base : null, weight_version: a ? a.version : this.gate.version,
    };
  }

  private async parseBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    const text = await readBody(req, this.o.maxBodyBytes ?? 16 * 2 ** 20);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      throw new ApiError(400, `the body is not valid JSON: ${(e as Error).message}`, "invalid_request_error", "invalid_json");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ApiError(400, "the body must be a JSON object", "invalid_request_error", "invalid_json");
    return body as Record<string, unknown>;
  }

  private modelNotFound(name: string): ApiError {
    return new ApiError(404, `The model '${name}' does not exist (this server has ${this.modelNames().map((m) => `'${m}'`).join(", ")})`, "invalid_request_error", "model_not_found", "model");
  }

  /** The served name a request asks for: the base model when it names none. */
  private checkModel(b: Record<string, unknown>): string {
    if (b.model === undefined || b.model === null) return this.o.modelName;
    if (typeof b.model !== "string") throw new ApiError(400, "'model' must be a string", "invalid_request_error", "invalid_parameter", "model");
    if (!this.gate.has(b.model)) throw this.modelNotFound(b.model);
    return b.model;
  }

  /** Prompt ids of each prompt, checked against the vocabulary and the context. */
  private prompts(b: Record<string, unknown>, kind: "completions" | "chat"): number[][] {
    const tok = this.o.tokenizer;
    if (kind === "chat") {
      const messages = parseMessages(b);
      if (!this.o.chat) throw new ApiError(400, "this model has no chat template: use /v1/completions", "invalid_request_error", "no_chat_template");
      const kw = b.chat_template_kwargs;
      if (kw !== undefined && (typeof kw !== "object" || kw === null || Array.isArray(kw))) throw new ApiError(400, "'chat_template_kwargs' must be an object", "invalid_request_error", "invalid_parameter", "chat_template_kwargs");
      let text: string;
      try {
        text = this.o.chat.render(messages, { addGenerationPrompt: true, extra: (kw ?? {}) as Record<string, unknown> });
      } catch (e) {
        throw new ApiError(400, (e as Error).message, "invalid_request_error", "chat_template_error", "messages");
      }
      return [tok.encode(text, { addSpecialTokens: false })];
    }
    return parsePrompts(b).map((p, i) => {
      const ids = "ids" in p ? p.ids : encodePrompt(tok, p.text, true);
      if (ids.length === 0) throw new ApiError(400, `prompt ${i} is empty`, "invalid_request_error", "invalid_parameter", "prompt");
      for (const id of ids) if (id >= this.o.vocabSize) throw new ApiError(400, `prompt ${i} has token id ${id}, outside the vocabulary (${this.o.vocabSize})`, "invalid_request_error", "invalid_parameter", "prompt");
      return ids;
    });
  }

  private async generate(req: http.IncomingMessage, res: http.ServerResponse, kind: "completions" | "chat"): Promise<void> {
    const b = await this.parseBody(req);
    const model = this.checkModel(b);
    const sp = parseSampling(b, kind);
    const prompts = this.prompts(b, kind);
    for (const id of sp.stopTokenIds) if (id >= this.o.vocabSize) throw new ApiError(400, `stop_token_ids has ${id}, outside the vocabulary`, "invalid_request_error", "invalid_parameter", "stop_token_ids");
    const stopIds = [...new Set([...this.o.stopTokenIds, ...sp.stopTokenIds])];
    const stopSet = new Set(stopIds);
    const requests: RolloutRequest[] = prompts.map((ids, i) => {
      const room = this.o.maxLen - ids.length;
      if (room < 1 || (sp.maxTokens !== null && sp.maxTokens > room)) {
        throw new ApiError(400, `This model's maximum context length is ${this.o.maxLen} tokens. However, you requested ${ids.length + (sp.maxTokens ?? 1)} tokens (${ids.length} in the prompt${prompts.length > 1 ? ` ${i}` : ""}, ${sp.maxTokens ?? 1} for the completion). Please reduce the length of the prompt or max_tokens.`, "invalid_request_error", "context_length_exceeded", "prompt");
      }
      return {
        promptIds: ids, n: sp.n, maxNewTokens: sp.maxTokens ?? room, temperature: sp.temperature, topP: sp.topP, topK: sp.topK,
        stopTokenIds: stopIds,
        ...(sp.stop.length > 0 ? { stopStrings: sp.stop } : {}),
        ...(sp.seed !== undefined ? { seed: (sp.seed + i * 7919) >>> 0 } : {}),
      };
    });
    const ac = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) ac.abort(); // the client went away (even while waiting at the gate): free the slots
    });
    // Wait for our turn: behind a weight update, or for the batch to finish another model's requests.
    let release: () => void;
    try {
      release = await this.gate.acquire(model);
    } catch (e) {
      throw e instanceof UnknownModelError ? this.modelNotFound(e.model) : e;
    }
    try {
      if (ac.signal.aborted) this.stats.aborted++; // gone while waiting: nothing to decode
      else await this.decode(res, ac, kind, model, sp, prompts, requests, stopSet);
    } finally {
      release();
    }
  }

  private async decode(
    res: http.ServerResponse, ac: AbortController, kind: "completions" | "chat", model: string, sp: SamplingParams,
    prompts: number[][], requests: RolloutRequest[], stopSet: ReadonlySet<number>,
  ): Promise<void> {
    const weightVersion = this.gate.version; // no update runs while this request holds the gate
    const choices = prompts.map(() => Array.from({ length: sp.n }, () => new ChoiceState(this.o.tokenizer, sp.stop, sp.includeStopStr, sp.skipSpecial, stopSet)));
    const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID().replace(/-/g, "")}`;
    const created = now();
    const sse = (obj: unknown): void => {
      if (!res.writableEnded) res.write(`data: ${JSON.stringify(obj)}\n\n`);
    };
    const chunk = (ch: Record<string, unknown>[], usage?: unknown): Record<string, unknown> => ({
      id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created, model, choices: ch, ...(usage !== undefined ? { usage } : {}), weight_version: weightVersion,
    });
    const promptTokens = prompts.reduce((a, p) => a + p.length, 0);
    if (sp.stream) {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      res.flushHeaders();
    }
    const onEvent = (e: RolloutEvent): void => {
      if (!sp.stream) {
        if (e.type === "token") choices[e.requestIndex]![e.sampleIndex]!.token(e.token, e.logprob);
        else choices[e.completion.requestIndex]![e.completion.sampleIndex]!.end(e.completion);
        return;
      }
      const ri = e.type === "token" ? e.requestIndex : e.completion.requestIndex;
      const si = e.type === "token" ? e.sampleIndex : e.completion.sampleIndex;
      const c = choices[ri]![si]!;
      const index = ri * sp.n + si;
      if (e.type === "token") {
        const text = c.token(e.token, e.logprob);
        if (text === "" && !sp.logprobs && !sp.returnTokenIds && (kind !== "chat" || c.sentRole)) return;
        sse(chunk([this.streamChoice(kind, c, index, text, [e.token], [e.logprob ?? Number.NaN], null, sp)]));
      } else {
        const text = c.end(e.completion);
        sse(chunk([this.streamChoice(kind, c, index, text, [], [], c.finish, sp)]));
      }
    };
    this.stats.activeRequests++;
    let out: Completion[][];
    try {
      const pending = this.o.engine.generate(requests, { onEvent, signal: ac.signal });
      this.stats.peakInFlight = Math.max(this.stats.peakInFlight, this.o.engine.inFlight ?? 0);
      out = await pending;
    } catch (e) {
      if (e instanceof AhaError && e.code === "AHA_ABORTED") {
        this.stats.aborted++; // the client is gone; the engine has freed its slots
        return;
      }
      throw e;
    } finally {
      this.stats.activeRequests--;
    }
    const completionTokens = out.reduce((a, r) => a + r.reduce((x, c) => x + c.tokenIds.length, 0), 0);
    this.stats.completionTokens += completionTokens;
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    if (sp.stream) {
      if (sp.includeUsage) sse(chunk([], usage));
      if (!res.writableEnded) res.end("data: [DONE]\n\n");
      return;
    }
    const body = {
      id, object: kind === "chat" ? "chat.completion" : "text_completion", created, model,
      choices: choices.flatMap((row, ri) => row.map((c, si) => this.fullChoice(kind, c, ri * sp.n + si, sp, prompts[ri]!))),
      usage,
      ...(sp.returnTokenIds && kind === "chat" ? { prompt_token_ids: prompts[0] } : {}),
      weight_version: weightVersion,
    };
    sendJson(res, 200, body);
  }

  // ---- weight updates ----

  private stringField(b: Record<string, unknown>, k: string, route: string): string {
    const v = b[k];
    if (typeof v !== "string" || v === "") throw new ApiError(400, `${route}: '${k}' must be a non-empty string`, "invalid_request_error", "invalid_parameter", k);
    return v;
  }

  /** vLLM's POST /v1/load_lora_adapter {lora_name, lora_path[, load_inplace]} → 200 text/plain "Success: …". */
  private async loadLora(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const b = await this.parseBody(req);
    const name = this.stringField(b, "lora_name", "load_lora_adapter");
    const path = this.stringField(b, "lora_path", "load_lora_adapter");
    if (b.load_inplace !== undefined && b.load_inplace !== null && typeof b.load_inplace !== "boolean") throw new ApiError(400, "'load_inplace' must be true or false", "invalid_request_error", "invalid_parameter", "load_inplace");
    if (name === this.o.modelName) throw new ApiError(400, `'${name}' is the base model's name; give the adapter another lora_name`, "invalid_request_error", "invalid_parameter", "lora_name");
    await this.gate.exclusive(() => {
      if (b.load_inplace === false && this.gate.adapters.has(name)) {
        throw new ApiError(400, `The lora adapter '${name}' has already been loaded.`, "invalid_request_error", "adapter_exists", "lora_name");
      }
      try {
        this.gate.loadAdapter(name, path);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        const missing = e.code === "AHA_NO_ADAPTER";
        throw new ApiError(missing ? 404 : 400, `cannot load LoRA adapter '${name}' from ${path}: ${e.message}`, "invalid_request_error", missing ? "adapter_not_found" : "invalid_adapter", "lora_path");
      }
    });
    sendText(res, 200, `Success: LoRA adapter '${name}' added successfully.`);
  }

  /** vLLM's POST /v1/unload_lora_adapter {lora_name} → 200 text/plain "Success: …"; unknown name → 404. */
  private async unloadLora(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const b = await this.parseBody(req);
    const name = this.stringField(b, "lora_name", "unload_lora_adapter");
    const ok = await this.gate.exclusive(() => this.gate.unloadAdapter(name));
    if (!ok) throw new ApiError(404, `The lora adapter '${name}' cannot be found.`, "invalid_request_error", "adapter_not_found", "lora_name");
    sendText(res, 200, `Success: LoRA adapter '${name}' removed successfully.`);
  }

  /**
   * SGLang's POST /update_weights_from_disk {model_path, load_format?} → {"success", "message",
   * "num_paused_requests", "weight_version"}; a failure is 400 with success false (SGLang's shape) and
   * the old weights still served.
   */
  private async updateFromDisk(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const reply = (status: number, success: boolean, message: string, paused = 0): void =>
      sendJson(res, status, { success, message, num_paused_requests: paused, weight_version: this.gate.version });
    let b: Record<string, unknown>;
    try {
      b = await this.parseBody(req);
      const mp = b.model_path;
      if (typeof mp !== "string" || mp === "") throw new ApiError(400, "update_weights_from_disk: 'model_path' must be a non-empty string (a Hugging Face model folder)");
      const lf = b.load_format;
      if (lf !== undefined && lf !== null && lf !== "auto" && lf !== "safetensors") throw new ApiError(400, `update_weights_from_disk: load_format ${JSON.stringify(lf)} is not supported (auto or safetensors)`);
      if (b.abort_all_requests === true) throw new ApiError(400, "update_weights_from_disk: abort_all_requests is not supported: the update waits for the requests in flight to finish");
    } catch (e) {
      this.stats.errors++;
      reply(e instanceof ApiError ? e.status : 400, false, e instanceof Error ? e.message : String(e));
      return;
    }
    const dir = b.model_path as string;
    try {
      const { paused, warnings } = await this.gate.exclusive((queued) => ({ paused: queued, warnings: this.gate.loadBaseWeights(dir) }));
      const extra = warnings.length > 0 ? ` (${warnings.length} warning${warnings.length > 1 ? "s" : ""}: ${warnings.join("; ")})` : "";
      reply(200, true, `Succeeded to update model weights from ${dir}.${extra}`, paused);
    } catch (e) {
      this.stats.errors++;
      reply(400, false, `Failed to update weights from ${dir}: ${e instanceof Error ? e.message : String(e)}; the old weights (version ${this.gate.version}) are still served`);
    }
  }

  private tokenText(id: number): string {
    return this.o.tokenizer.decode([id]);
  }

  private logprobsObject(kind: "completions" | "chat", tokens: readonly number[], lps: readonly number[], offset0: number): unknown {
    const lp = (x: number): number | null => (Number.isFinite(x) ? x : null);
    if (kind === "chat") {
      return {
        content: tokens.map((t, i) => {
          const s = this.tokenText(t);
          return { token: s, logprob: lp(lps[i]!), bytes: [...Buffer.from(s, "utf8")], top_logprobs: [] };
        }),
      };
    }
    const texts = tokens.map((t) => this.tokenText(t));
    const offsets: number[] = [];
    let o = offset0;
    for (const s of texts) {
      offsets.push(o);
      o += s.length;
    }
    return { tokens: texts, token_logprobs: lps.map(lp), top_logprobs: null, text_offset: offsets };
  }

  private streamChoice(kind: "completions" | "chat", c: ChoiceState, index: number, text: string, tokens: number[], lps: number[], finish: string | null, sp: SamplingParams): Record<string, unknown> {
    const logprobs = sp.logprobs && tokens.length > 0 ? this.logprobsObject(kind, tokens, lps, c.text.length - text.length) : null;
    const ids = sp.returnTokenIds ? { token_ids: tokens } : {};
    if (kind === "chat") {
      const delta: Record<string, unknown> = {};
      if (!c.sentRole) {
        delta.role = "assistant";
        c.sentRole = true;
      }
      if (text !== "" || finish === null) delta.content = text;
      return { index, delta, logprobs, finish_reason: finish, ...ids };
    }
    return { index, text, logprobs, finish_reason: finish, ...ids };
  }

  private fullChoice(kind: "completions" | "chat", c: ChoiceState, index: number, sp: SamplingParams, promptIds: number[]): Record<string, unknown> {
    const logprobs = sp.logprobs ? this.logprobsObject(kind, c.tokens, c.logprobs, 0) : null;
    const ids = sp.returnTokenIds ? { token_ids: c.tokens, ...(kind === "completions" ? { prompt_token_ids: promptIds } : {}) } : {};
    if (kind === "chat") return { index, message: { role: "assistant", content: c.text }, logprobs, finish_reason: c.finish, ...ids };
    return { index, text: c.text, logprobs, finish_reason: c.finish, ...ids };
  }
}

export interface RunningServer {
  url: string;
  server: http.Server;
  api: OpenAIServer;
  close(): Promise<void>;
}

/** Starts the server on host:port (port 0 = any free port). */
export async function startServer(o: ServeOptions & { host?: string; port?: number }): Promise<RunningServer> {
  const api = new OpenAIServer(o);
  const server = http.createServer(api.handle);
  server.keepAliveTimeout = 30_000;
  const host = o.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(e.code === "EADDRINUSE" ? new AhaError("AHA_PORT_IN_USE", `port ${o.port} on ${host} is in use`, "pick another with --port") : e));
    server.listen(o.port ?? 8000, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}`,
    server,
    api,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
