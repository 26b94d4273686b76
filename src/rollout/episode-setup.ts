/**
 * A run's episode setup from its config's tools section (Node: tool and env modules are loaded from
 * files, the python tool runs in the code sandbox). Kept apart from ./episode.ts, which the browser
 * bundle (src/play/) reaches through the trainer.
 */
import { episodeLimits, environmentFromConfig, type ToolsConfig } from "../env/config.js";
import type { ChatTemplate } from "../formats/chat-template.js";
import { turnEndIds, type EpisodeSetup } from "./episode.js";

/**
 * A run's episode setup from the tools section of its config (tools or an env module), or null for
 * single-turn responses. `encode`: text inside a sequence → ids (no BOS); `chatTemplate`: the model's,
 * for tool-format chat (it renders the results).
 */
export async function episodeSetup(c: ToolsConfig, o: { maxNewTokens: number; encode: (text: string) => number[]; chatTemplate?: ChatTemplate | null; unsafeNoSandbox?: boolean }): Promise<EpisodeSetup | null> {
  const env = await environmentFromConfig(c, { chatTemplate: o.chatTemplate ?? null, unsafeNoSandbox: o.unsafeNoSandbox ?? false });
  if (!env) return null;
  return { env, limits: episodeLimits(c, o.maxNewTokens), encode: o.encode, turnEndIds: turnEndIds(env.turnEnd, o.encode) };
}
