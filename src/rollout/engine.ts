/**
 * The rollout engine interface: what the RL trainer, `aha eval`, `aha generate` and `aha serve` call to
 * get completions, whatever produces them — the in-process model (./local.ts) or an OpenAI-compatible
 * HTTP server (vLLM, llama.cpp, Ollama, `aha serve`; a remote engine implements the same interface).
 *
 * Token ids in, token ids out: the caller tokenizes and templates. `promptText` is optional, for remote
 * engines that only take text; `text` in a completion is filled when the engine has a decoder.
 */
import type { EpisodeRecord } from "../env/types.js";
import type { EndpointState } from "./endpoints.js";
import type { EpisodeSpec } from "./episode.js";

export interface RolloutRequest {
  /** Prompt token ids (templated already). */
  promptIds: ArrayLike<number>;
  /** The same prompt as text, for engines that cannot take ids. */
  promptText?: string;
  /** Completions for this prompt (a GRPO group); engines share the prompt's prefill between them. Default 1. */
  n?: number;
  maxNewTokens: number;
  /** 0 = greedy. Default 1. */
  temperature?: number;
  /** Default 1 (off). */
  topP?: number;
  /** Default 0 (off). */
  topK?: number;
  /** Token ids that end a completion; the stop token is part of the completion's tokenIds. */
  stopTokenIds?: readonly number[];
  /**
   * Strings that end a completion once its decoded text contains one (finish reason "stop"). The
   * tokens up to and including the one that completed the string are kept, and the text is not trimmed.
   */
  stopStrings?: readonly string[];
  /** Seed of this request's samples; default derived from the call's seed and the request's position. */
  seed?: number;
  /**
   * Multi-turn: each sample of the request is an episode with this environment (./episode.ts). The
   * completion's tokenIds are then the model's tokens and the appended observation tokens, in order;
   * `maxNewTokens` bounds them together (`max_tokens`), and `lossMask`/`episode` describe them.
   */
  episode?: EpisodeSpec;
}

export type FinishReason = "stop" | "length";

export interface Completion {
  /** Position of the request in the `generate` call, and of the sample within the request. */
  requestIndex: number;
  sampleIndex: number;
  tokenIds: Int32Array;
  /**
   * Per-token log-probs, of the kind named by the engine's `logprobKind`; null when the engine cannot
   * give them (then the trainer recomputes them with its own forward).
   */
  logprobs: Float32Array | null;
  finishReason: FinishReason;
  /** Decoded completion, when the engine has a decoder. */
  text?: string;
  /** Length in tokens when `tokenIds` is unknown (an endpoint that returns text only); else tokenIds.length. */
  numTokens?: number;
  /** Episodes: per token, 1 = the model's own, 0 = appended by the environment (log-probs there are 0). */
  lossMask?: Uint8Array;
  /** Episodes: the turns, calls, results and the finish reason. */
  episode?: EpisodeRecord;
}

export type RolloutEvent =
  | { type: "token"; requestIndex: number; sampleIndex: number; token: number; logprob: number | null }
  | { type: "finish"; completion: Completion };

export interface GenerateOptions {
  /** Called for every token and every finished completion, as they happen (streaming). */
  onEvent?: (e: RolloutEvent) => void;
  /** Aborting rejects the call with an AhaError of code AHA_ABORTED and stops its sequences. */
  signal?: AbortSignal;
  /**
   * Seed for requests without their own: request i gets a seed derived from (seed, i), so equal calls
   * with equal seeds give equal completions. Default: a per-engine counter (every call differs).
   */
  seed?: number;
}

/**
 * - "model":   log p(token) under the policy's own distribution at temperature 1, no top-k/top-p: the
 *              "old policy" log-prob an RL objective wants.
 * - "sampler": log q(token) under the distribution actually sampled from (after temperature/top-p).
 * - "none":    no log-probs.
 */
export type LogprobKind = "model" | "sampler" | "none";

export interface RolloutEngine {
  readonly name: string;
  readonly logprobKind: LogprobKind;
  /** Completions grouped by request, then by sample index. Concurrent calls are allowed. */
  generate(requests: readonly RolloutRequest[], opts?: GenerateOptions): Promise<Completion[][]>;
  /** Releases resources; pending calls are rejected. */
  close(): Promise<void>;
  /** Remote engines: the state of each endpoint (up or down, tries, failures), for logs and metrics. */
  endpoints?(): EndpointState[];
  /** Remote engines: hold an endpoint out of rotation (a reason), or let it back (null). */
  holdEndpoint?(url: string, reason: string | null): void;
}
