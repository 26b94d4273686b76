/**
 * `aha sft --model DIR --data FILE.jsonl [--config FILE.yaml] [flags]`: argv → an sft config
 * (src/runner/config.ts) → prepareSftRun → run (src/runner/sft.ts: tokenizing, policy, run directory,
 * resume), printing as it goes. Ctrl-C finishes the step, saves a checkpoint and marks the run stopped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../errors.js";
import { resolveSftSettings, sftModelSection, sftSpec, type SftRunConfig } from "../runner/config.js";
import { terminalReporter } from "../runner/reporter.js";
import { prepareSftRun, tokenizeRows } from "../runner/sft.js";
import { installInterrupt } from "../runs/interrupt.js";

export { sftModelSection, tokenizeRows };

export const summary = "supervised fine-tuning on JSONL prompt/response pairs (loss on the response), full or LoRA";

const USAGE = `Usage: aha sft --model DIR --data FILE.jsonl [--config FILE.yaml] [--run-dir DIR] [options]
       aha sft --resume RUN_DIR [options that override the run's config, e.g. --steps]

Supervised fine-tuning: cross-entropy on the response tokens of {prompt, response} JSONL rows.
Writes a run directory (default runs/<date>-sft-<model>): config.json, status.json, metrics.jsonl
(loss, grad_norm, lr, tokens_per_s/train, seconds/step) and checkpoints/step-N/ (model/ as a Hugging
Face folder, or a PEFT adapter folder with --lora-rank; optimizer.safetensors; state.json).
Ctrl-C saves a checkpoint and stops; --resume RUN_DIR continues exactly.
The same run from TypeScript: prepareSftRun(settings) (docs/library.md).`;

function readConfig(file: string, readFile: (p: string) => string): { text: string; name: string } {
  try {
    return { text: readFile(file), name: file };
  } catch (e) {
    throw new UserError(`--config ${file}: cannot read the file (${(e as Error).message})`);
  }
}

/** argv → the resolved config: defaults < a resumed run's config.json < --config file < flags. */
export function resolveSftConfig(argv: readonly string[], readFile: (p: string) => string = (p) => fs.readFileSync(p, "utf8")): SftRunConfig | null {
  const args = sftSpec.parseArgs(argv);
  if (args.help) return null;
  if (args.positionals.length > 0) throw new UserError(`unexpected argument '${args.positionals[0]}'`, "aha sft --help lists the options");
  return resolveSftSettings({ flags: args.flags, ...(args.configFile !== null ? { file: readConfig(args.configFile, readFile) } : {}) });
}

export async function run(argv: string[]): Promise<number> {
  const args = sftSpec.parseArgs(argv);
  if (args.help) {
    process.stdout.write(sftSpec.help(USAGE));
    return 0;
  }
  if (args.positionals.length > 0) throw new UserError(`unexpected argument '${args.positionals[0]}'`, "aha sft --help lists the options");
  const ctl = new AbortController();
  const sources = { flags: args.flags, ...(args.configFile !== null ? { file: readConfig(args.configFile, (p) => fs.readFileSync(p, "utf8")) } : {}) };
  const run = await prepareSftRun(sources, { reporter: terminalReporter("sft"), signal: ctl.signal });
  const uninstall = installInterrupt(ctl);
  try {
    const res = await run.run();
    const last = res.metrics.at(-1);
    process.stdout.write(`${res.stopped ? "stopped" : "finished"} at step ${res.steps}${last ? `, loss ${last["loss"]!.toFixed(4)}` : ""}; checkpoints in ${path.join(run.dir, "checkpoints")}\n`);
    if (res.stopped) {
      process.stdout.write(`continue with: aha sft --resume ${run.dir}\n`);
      return 130;
    }
    return 0;
  } finally {
    uninstall();
  }
}
