/**
 * `aha serve --model DIR [--adapter DIR] [--host 127.0.0.1] [--port 8000]`: an OpenAI-compatible server
 * (src/serve/server.ts, docs/serve.md) over the local engine's continuous batch.
 */
import { basename, resolve } from "node:path";
import { parseArgs } from "node:util";
import { UserError } from "../errors.js";
import { ChatTemplate } from "../formats/chat-template.js";
import { engineFromFolder } from "../rollout/folder.js";
import { startServer, type RunningServer } from "../serve/server.js";
import { parsePrecision } from "./flags.js";

export const summary = "serve a model folder over an OpenAI-compatible HTTP API (completions, chat, streaming)";

const HELP = `Usage: aha serve --model DIR [--adapter DIR] [--host 127.0.0.1] [--port 8000] [options]

  --model DIR            Hugging Face model folder (config.json, safetensors, tokenizer.json)
  --adapter DIR          PEFT LoRA adapter folder
  --host HOST            address to bind (default 127.0.0.1: this machine only; 0.0.0.0 = every interface)
  --port N               port (default 8000; 0 = any free port)
  --served-model-name S  the model's name in the API (default: the folder's name)
  --slots N              sequences decoded together in one batch (default 32)
  --max-len N            context length, prompt + completion (default min(max_position_embeddings, 4096))
  --precision P          fp32 (default) or bf16 matrix products
  --seed N               base seed of requests that give none (default 0)
  -h, --help             this help

Routes: GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions (docs/serve.md).
`;

function int(v: string | undefined, flag: string, min: number, def: number): number {
  if (v === undefined) return def;
  const x = Number(v);
  if (v.trim() === "" || !Number.isSafeInteger(x) || x < min) throw new UserError(`--${flag} must be an integer ≥ ${min}, got "${v}"`);
  return x;
}

/** Parses the flags, loads the model and starts listening (tests call this and close the result). */
export async function startFromArgs(argv: string[]): Promise<RunningServer | null> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      adapter: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      "served-model-name": { type: "string" },
      slots: { type: "string" },
      "max-len": { type: "string" },
      precision: { type: "string", default: "fp32" },
      seed: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return null;
  }
  if (!values.model) throw new UserError("--model DIR is required", "aha serve --help");
  const precision = parsePrecision(values.precision);
  const port = int(values.port, "port", 0, 8000);
  if (port > 65535) throw new UserError(`--port must be ≤ 65535, got ${port}`);
  const maxLen = values["max-len"] !== undefined ? int(values["max-len"], "max-len", 2, 0) : undefined;
  const fe = engineFromFolder(values.model, {
    slots: int(values.slots, "slots", 1, 32), precision, seed: int(values.seed, "seed", 0, 0),
    ...(values.adapter ? { adapter: values.adapter } : {}),
    ...(maxLen !== undefined ? { maxLen } : {}),
  });
  for (const w of fe.loaded.warnings) process.stderr.write(`aha serve: warning: ${w}\n`);
  const chat = fe.tokenizer.chatTemplate !== null ? ChatTemplate.fromTokenizer(fe.tokenizer) : null;
  return startServer({
    engine: fe.engine, tokenizer: fe.tokenizer, modelName: values["served-model-name"] ?? basename(resolve(values.model)),
    maxLen: fe.maxLen, vocabSize: fe.loaded.config.vocabSize, stopTokenIds: fe.stopTokenIds, chat, host: values.host, port,
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
