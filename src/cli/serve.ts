/**
 * `aha serve --model DIR [--adapter DIR] [--host 127.0.0.1] [--port 8000]`: an OpenAI-compatible server
 * (src/serve/server.ts, docs/serve.md) over the local engine's continuous batch. Flags, --config
 * FILE.yaml and --help come from one schema (serveSpec; src/util/config.ts).
 */
import { basename, resolve } from "node:path";
import { z } from "zod";
import { ChatTemplate } from "../formats/chat-template.js";
import { engineFromFolder } from "../rollout/folder.js";
import { startServer, type RunningServer } from "../serve/server.js";
import { defineConfig, setting } from "../util/config.js";
import { modelFolderSection, resolveCommand } from "./flags.js";

export const summary = "serve a model folder over an OpenAI-compatible HTTP API (completions, chat, streaming)";

const serverSchema = z.strictObject({
  host: setting(z.string().min(1), "127.0.0.1", "Address to bind: 127.0.0.1 = this machine only; 0.0.0.0 = every interface."),
  port: setting(z.int().min(0).max(65535), 8000, "Port; 0 = any free port."),
  servedModelName: setting(z.string().min(1).nullable(), null, "The model's name in the API; none = the model folder's name."),
  slots: setting(z.int().min(1), 32, "Sequences decoded together in one batch (KV-cache slots)."),
  maxLen: setting(z.int().min(2).nullable(), null, "Context length, prompt + completion; none = min(max_position_embeddings, 4096)."),
  seed: setting(z.int().min(0), 0, "Base seed of requests that give none."),
});

export const serveSpec = defineConfig({
  model: modelFolderSection,
  server: { title: "Server", prefix: "", schema: serverSchema },
});

const USAGE = `Usage: aha serve --model DIR [--adapter DIR] [--host 127.0.0.1] [--port 8000] [--config FILE.yaml] [options]

Routes: GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions; weight updates:
POST /v1/load_lora_adapter, /v1/unload_lora_adapter (vLLM's), /update_weights_from_disk (SGLang's) (docs/serve.md).`;

/** Parses the flags, loads the model and starts listening (tests call this and close the result). */
export async function startFromArgs(argv: string[]): Promise<RunningServer | null> {
  const c = resolveCommand(serveSpec, "serve", argv);
  if (c === null) {
    process.stdout.write(serveSpec.help(USAGE));
    return null;
  }
  const model = c.model.model!;
  const fe = engineFromFolder(model, {
    slots: c.server.slots, precision: c.model.precision, samplePrecision: c.model.samplePrecision, kvCache: c.model.kvCache, seed: c.server.seed,
    ...(c.model.adapter !== null ? { adapter: c.model.adapter } : {}),
    ...(c.server.maxLen !== null ? { maxLen: c.server.maxLen } : {}),
  });
  for (const w of fe.loaded.warnings) process.stderr.write(`aha serve: warning: ${w}\n`);
  const chat = fe.tokenizer.chatTemplate !== null ? ChatTemplate.fromTokenizer(fe.tokenizer) : null;
  return startServer({
    engine: fe.engine, tokenizer: fe.tokenizer, modelName: c.server.servedModelName ?? basename(resolve(model)),
    maxLen: fe.maxLen, vocabSize: fe.loaded.config.vocabSize, stopTokenIds: fe.stopTokenIds, chat, host: c.server.host, port: c.server.port,
    weights: { model: fe.loaded.model, path: resolve(model), startAdapter: fe.adapter },
  });
}

export async function run(argv: string[]): Promise<number> {
  const s = await startFromArgs(argv);
  if (!s) return 0;
  process.stderr.write(`aha serve: listening on ${s.url} (model '${s.api.health().model as string}'); Ctrl-C stops\n`);
  await new Promise<void>((resolveStop) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolveStop();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await s.close();
  return 0;
}
