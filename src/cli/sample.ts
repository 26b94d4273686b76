/**
 * `aha sample`: rejection sampling and distillation data — K samples per prompt from a model folder or
 * an endpoint, scored with the task's rewards, filtered, written as SFT rows (src/runner/sample.ts).
 * Running the same command again resumes; Ctrl-C stops (finished prompts are on disk).
 */
import * as fs from "node:fs";
import { UserError } from "../errors.js";
import { terminalReporter } from "../runner/reporter.js";
import { sampleFromConfig, sampleSpec } from "../runner/sample.js";
import { installInterrupt } from "../runs/interrupt.js";

export const summary = "rejection sampling / distillation data: K samples per prompt, scored, filtered, written as SFT rows";

const USAGE = `Usage: aha sample (--model DIR | --endpoint URL --model-name NAME) --task NAME [--data FILE]
                  --samples K --out FILE.jsonl [--config FILE.yaml] [options]

Draws K samples for each training prompt of the task (never its held-out problems), scores them with the
reward (--reward, as in aha train), keeps those that pass the filters (by default: correct, finished,
not a repeat) and appends them to --out as {prompt, response, model, step, reward, parts, ...} rows that
aha sft --data FILE reads as they are. Running the same command again resumes (finished prompts are
skipped, no row is rewritten); <out>.meta.json holds the settings and, at the end, the filters' counts.`;

export async function run(argv: string[]): Promise<number> {
  const args = sampleSpec.parseArgs(argv);
  if (args.help) {
    process.stdout.write(sampleSpec.help(USAGE));
    return 0;
  }
  if (args.positionals.length > 0) throw new UserError(`unexpected argument '${args.positionals[0]}' (options are --key value)`, "aha sample --help lists them");
  let file: { text: string; name: string } | undefined;
  if (args.configFile !== null) {
    try {
      file = { text: fs.readFileSync(args.configFile, "utf8"), name: args.configFile };
    } catch (e) {
      throw new UserError(`--config ${args.configFile}: cannot read the file (${(e as Error).message})`);
    }
  }
  const ctl = new AbortController();
  const uninstall = installInterrupt(ctl);
  try {
    await sampleFromConfig({ flags: args.flags, ...(file ? { file } : {}) }, { reporter: terminalReporter("sample"), signal: ctl.signal });
    return 0;
  } finally {
    uninstall();
  }
}
