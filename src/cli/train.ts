/**
 * `aha train`: argv → a run config (src/runner/config.ts: defaults < preset < a resumed run's
 * config.json < the demo's settings, only without --model < --config file < flags) → prepareTrainRun →
 * run, printing as it goes. With no --model it runs the built-in demo. Everything else — task, model,
 * policy, engine, run directory, resume, evaluations — is the runner's (src/runner/train.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../errors.js";
import { DEMO, DEMO_MODEL, resolveTrainSettings, TOOLS_DEMO, trainSpec, type TrainRunConfig } from "../runner/config.js";
import { terminalReporter } from "../runner/reporter.js";
import { prepareTrainRun } from "../runner/train.js";
import { installInterrupt } from "../runs/interrupt.js";

export { DEMO, DEMO_MODEL, trainSpec };
export type TrainCliConfig = TrainRunConfig;

export const summary = "reinforcement learning (GRPO, DAPO, …) on a model folder; no arguments: the built-in demo";

const USAGE = [
  "Usage: aha train [--config FILE.yaml] [--model DIR] [--task NAME] [--algorithm PRESET] [options]",
  "       aha train                      the built-in demo (about a minute on 2 cores)",
  "       aha train --demo tools         the tools demo: a tiny model learns to call a calculator",
  "       aha train --resume RUN_DIR     continue a run from its latest checkpoint",
  "",
  "Without --model, the demo's settings apply under --config and flags:",
  "  " + Object.entries(DEMO).map(([k, v]) => `${k}=${String(v)}`).join(" "),
  "  and the model is models/demo-adder (shipped; made by scripts/make_demo_model.py).",
  "With --demo tools, the tools demo's settings instead:",
  "  " + Object.entries(TOOLS_DEMO).filter(([k, v]) => DEMO[k] !== v).map(([k, v]) => `${k}=${String(v)}`).join(" ") + " (the rest as above)",
  "  and the model is models/demo-calculator (shipped; made by scripts/make_tools_demo_model.py).",
  "At the end the base and the trained model are evaluated on held-out problems with the same code;",
  "results go to the run directory (summary.json, metrics.jsonl, samples.jsonl, checkpoints/). Watch a",
  "run with `aha dashboard`. Ctrl-C saves a checkpoint and stops; --resume continues exactly.",
  "The same run from TypeScript: prepareTrainRun(settings) (docs/library.md).",
].join("\n");

function readConfig(file: string, readFile: (p: string) => string): { text: string; name: string } {
  try {
    return { text: readFile(file), name: file };
  } catch (e) {
    throw new UserError(`--config ${file}: cannot read the file (${(e as Error).message})`);
  }
}

/** argv → the resolved config (the demo's settings under the file and flags when there is no model). */
export function resolveTrainConfig(argv: readonly string[], readFile: (p: string) => string = (p) => fs.readFileSync(p, "utf8")): { config: TrainCliConfig; demo: boolean; help: boolean } {
  const args = trainSpec.parseArgs(argv);
  if (args.help) return { config: undefined as unknown as TrainCliConfig, demo: false, help: true };
  if (args.positionals.length > 0) throw new UserError(`unexpected argument '${args.positionals[0]}' (options are --key value; aha train --help lists them)`);
  const { config, demo } = resolveTrainSettings({ flags: args.flags, ...(args.configFile !== null ? { file: readConfig(args.configFile, readFile) } : {}) });
  return { config, demo, help: false };
}

export async function run(argv: string[]): Promise<number> {
  const args = trainSpec.parseArgs(argv);
  if (args.help) {
    process.stdout.write(trainSpec.help(USAGE));
    return 0;
  }
  if (args.positionals.length > 0) throw new UserError(`unexpected argument '${args.positionals[0]}' (options are --key value; aha train --help lists them)`);
  const ctl = new AbortController();
  const sources = { flags: args.flags, ...(args.configFile !== null ? { file: readConfig(args.configFile, (p) => fs.readFileSync(p, "utf8")) } : {}) };
  const run = await prepareTrainRun(sources, { reporter: terminalReporter("train"), signal: ctl.signal });
  const uninstall = installInterrupt(ctl);
  try {
    const res = await run.run();
    if (res.stopped) return 130;
    if (run.dir) {
      const parent = path.dirname(path.resolve(run.dir));
      const dash = parent === path.resolve("runs") ? "aha dashboard" : `aha dashboard ${parent}`;
      process.stdout.write(`look at it: ${dash}   (curves, samples, base vs final; responses also in ${path.join(run.dir, "samples.jsonl")})\n`);
    }
    return 0;
  } finally {
    uninstall();
    await run.close();
  }
}
