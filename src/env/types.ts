/**
 * Environments and tools: what a multi-turn episode talks to.
 *
 *   problem ──start──▶ Episode
 *   model turn (text up to a tool call's end, or the end of the response) ──step──▶
 *       { observation: text }  → tokenized, appended to the sequence; the model continues
 *       { end, reward? }       → the episode is over (reward: the environment's own; absent = the
 *                                task's verifier scores the transcript, as for a single-turn response)
 *
 * A `Tool` is the simpler interface most users want: a name and `run(input) → text`. `toolEnvironment`
 * (./tools.ts) turns a list of tools and a call format (./formats.ts: plain tags or the chat template's
 * `<tool_call>`) into an Environment; the built-in tools (calculator, python, search) are Tools.
 *
 * The rollout layer (src/rollout/episode.ts) runs episodes: it decides when a model turn ends (the
 * environment's `turnEnd` strings / token ids), keeps the episode's token ids exactly as generated plus
 * the appended observation ids (never re-tokenizing the model's text), masks the observation tokens out
 * of the loss, and enforces the per-episode limits (`EpisodeLimits`) with a named finish reason.
 *
 * Everything a model wrote is untrusted: tools parse with size and time bounds and never eval.
 */
import type { Problem } from "../tasks/types.js";

// ***** tools *****

/** What a tool gets besides its input. */
export interface ToolContext {
  /** Aborted when the call's time is up (the episode's remaining tool seconds) or the run stops. */
  signal: AbortSignal;
  /** Milliseconds this call may take (the rollout layer also enforces it; honour it to stop early). */
  timeoutMs: number;
  /** Longest result in bytes the episode still accepts (a longer one ends it: `max_observation_bytes`). */
  maxOutputBytes: number;
  /** The episode's earlier calls of this tool, oldest first (e.g. the python tool replays them for state). */
  history: readonly ToolCallRecord[];
  /** The problem the episode is about. */
  problem: Problem<unknown>;
}

/** A tool's answer. `error` marks a failed call (the text still goes back to the model). */
export interface ToolResult {
  text: string;
  /** A short reason when the call failed ("parse error", "timeout", "unknown tool", …); counted in tools/errors. */
  error?: string;
}

/**
 * A tool. `run` takes the call's input: the text between the tags (plain tags) or the `arguments`
 * object (`<tool_call>` JSON). It must not throw on any input (a throw is caught and becomes an error
 * observation all the same).
 */
export interface Tool {
  /** The call's name: the tag (`<calculator>`) and the `name` of a `<tool_call>`. [a-z][a-z0-9_]*. */
  name: string;
  /** One line for the model (the chat template's tool list). */
  description: string;
  /** JSON Schema of the `arguments` object (chat-template format); the plain-tag input is `arguments[inputKey]`. */
  parameters: { type: "object"; properties: Record<string, { type: string; description?: string }>; required?: string[] };
  /** The argument the plain-tag text fills (e.g. "expression", "query", "code"). */
  inputKey: string;
  /** Tag of the observation in the plain-tag format (`result`, `information`, `output`). */
  resultTag: string;
  run(input: Record<string, unknown>, ctx: ToolContext): ToolResult | Promise<ToolResult>;
}

/** One tool call of an episode, as recorded in samples.jsonl. */
export interface ToolCallRecord {
  /** The tool's name (as the model wrote it; may be unknown). */
  name: string;
  /** The call's input (the tag's text, or the JSON arguments). */
  input: Record<string, unknown>;
  /** The result text (before the format wraps it). */
  output: string;
  /** Set when the call failed (malformed, unknown tool, tool error, timeout). */
  error?: string;
  seconds: number;
}

// ***** environments *****

/** One model turn as the environment sees it. */
export interface ModelTurn {
  /** The turn's text (decoded from the model's own tokens of this turn, special tokens kept). */
  text: string;
  /** The model's token ids of this turn. */
  tokenIds: readonly number[];
  /** Why the turn ended: "call" (a `turnEnd` marker), "stop" (end of sequence / stop string), "length". */
  ended: "call" | "stop" | "length";
  /** 0 for the first turn. */
  index: number;
}

export interface TurnContext {
  signal: AbortSignal;
  /** Milliseconds of tool time the episode has left. */
  timeoutMs: number;
  /** Bytes of observation the episode still accepts. */
  maxOutputBytes: number;
}

/** The environment's answer to a model turn. */
export type StepResult =
  | {
      type: "observation";
      /** Text to append (tokenized without special-token post-processing; special tokens in it are parsed). */
      text: string;
      /** The calls this turn made (for samples.jsonl and the tools/ metrics). */
      calls?: ToolCallRecord[];
    }
  | {
      type: "end";
      /** The environment's reward; absent = the task's verifier scores the transcript. */
      reward?: number;
      /** Why it ended, recorded per sample (default "stop"). */
      reason?: string;
    };

/** A running episode. */
export interface Episode {
  step(turn: ModelTurn, ctx: TurnContext): StepResult | Promise<StepResult>;
  /** Called once when the episode is over (finished, failed or cut by a limit). */
  close?(): void | Promise<void>;
}

/**
 * An environment. `turnEnd` are the strings that end a model turn (a call's closing tag: the engine
 * pauses the sequence there and calls `step`); when one is a single special token of the tokenizer,
 * the engine also matches its id.
 */
export interface Environment {
  readonly name: string;
  readonly turnEnd: readonly string[];
  start(problem: Problem<unknown>): Episode | Promise<Episode>;
  /** Extra chat-template variables for the prompt (the chat format's `tools` list). */
  templateVars?(): Record<string, unknown>;
  /** A line for the prompt telling the model how to call the tools (plain tags), or null. */
  instructions?(): string | null;
}

// ***** limits and finish reasons *****

export interface EpisodeLimits {
  /** Model turns at most (a call after the last one ends the episode: `max_turns`). */
  maxTurns: number;
  /** Tokens after the prompt at most, model and environment together (`max_tokens`). */
  maxTokens: number;
  /** Seconds of tool time per episode (a call past it: `tool_timeout`). */
  toolSeconds: number;
  /** Bytes of observation text per episode (an observation past it: `max_observation_bytes`). */
  observationBytes: number;
}

/**
 * Why an episode ended:
 * - stop:                  the model ended its response (end of sequence, a stop string) without a call
 * - env_end:               the environment ended it (its `reason` is recorded too)
 * - max_turns / max_tokens / tool_timeout / max_observation_bytes: a limit of `EpisodeLimits`
 * - env_error:             the environment threw (the message is recorded)
 */
export type EpisodeFinish = "stop" | "env_end" | "max_turns" | "max_tokens" | "tool_timeout" | "max_observation_bytes" | "env_error";

/** One span of an episode's tokens, in order: the model's own or the environment's. */
export interface EpisodeSpan {
  kind: "model" | "env";
  /** Token range [start, end) within the response (the tokens after the prompt). */
  start: number;
  end: number;
  text: string;
}

/** What an episode leaves in its completion (and samples.jsonl). */
export interface EpisodeRecord {
  spans: EpisodeSpan[];
  calls: ToolCallRecord[];
  turns: number;
  finish: EpisodeFinish;
  /** Detail of the finish (an env's reason, an error message), or absent. */
  detail?: string;
  /** The environment's reward, when it gave one. */
  reward?: number;
  toolSeconds: number;
}
