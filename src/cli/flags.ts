/**
 * Config fields shared by the commands (src/util/config.ts): the model folder every inference command
 * loads, and the matmul precision (train and sft too); `resolveCommand`, argv → config for the
 * commands without positional arguments.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { kvCacheField, precisionField, samplePrecisionField } from "../runner/config.js";
import { UserError } from "../errors.js";
import { setting, type ConfigSpec, type Resolved, type Sections } from "../util/config.js";

/** `--precision fp32|bf16`. */
export { precisionField };

/** `--model DIR`, `--adapter DIR`, `--precision P`, `--sample-precision P`, `--kv-cache T`: what generate, score, serve and eval load. */
export const modelFolderFields = {
  model: setting(z.string().min(1).nullable(), null, "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)."),
  adapter: setting(z.string().min(1).nullable(), null, "PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) applied to --model."),
  precision: precisionField,
  samplePrecision: samplePrecisionField,
  kvCache: kvCacheField,
};

/** The section of a command that needs a model folder: --model is required. */
export const modelFolderSection = {
  title: "Model",
  prefix: "",
  schema: z.strictObject(modelFolderFields),
  check: (c: { model: string | null }): string[] => (c.model === null ? ["--model DIR is required (a Hugging Face model folder)"] : []),
};

/** argv → the resolved config of a command that takes no positional arguments; null for --help. */
export function resolveCommand<T extends Sections>(spec: ConfigSpec<T>, command: string, argv: readonly string[], readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): Resolved<T> | null {
  const r = spec.fromArgv(argv, readFile);
  if (r.help) return null;
  if (r.positionals.length > 0) throw new UserError(`unexpected argument '${r.positionals[0]}' (options are --key value)`, `aha ${command} --help lists them`);
  return r.config;
}
