/**
 * `aha pipeline --config r1.yaml`: a recipe of stages (sft, rl, sample, eval) as one resumable run
 * (src/runner/pipeline.ts; docs/pipeline.md). The whole config is checked before anything runs.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { terminalReporter } from "../runner/reporter.js";
import { evalStageSpec, parsePipeline, runPipeline } from "../runner/pipeline.js";
import { installInterrupt } from "../runs/interrupt.js";
import { defineConfig, setting } from "../util/config.js";

export const summary = "a recipe of stages (sft, rl, sample, eval) as one resumable run, e.g. R1's pipeline (examples/r1.yaml)";

export const pipelineSpec = defineConfig({
  run: {
    title: "Pipeline run",
    prefix: "",
    schema: z.strictObject({
      runDir: setting(z.string().min(1).nullable(), null, "The pipeline's run directory (none = the config's run-dir, else runs/<date>-pipeline). Running again with the same one resumes it."),
      resume: setting(z.string().min(1).nullable(), null, "Continue the pipeline in this directory with the config it was started with (its pipeline.yaml)."),
      check: setting(z.boolean(), false, "Only check the config (every stage's keys) and exit."),
    }),
  },
});

const USAGE = `Usage: aha pipeline --config r1.yaml [--run-dir DIR] [--check]
       aha pipeline --resume RUN_DIR

Runs the stages of the config in order (kinds: sft, rl, sample, eval), each in its own folder of one run
directory, each stage's output feeding the next (a model folder, a sample file). The config is a YAML
mapping: model (the start model), run-dir (optional), common (keys for every stage that knows them) and
stages, a list of {name, kind, from?, …keys of aha sft / aha train / aha sample, or the eval stage's}.
Ctrl-C stops the stage in progress at a checkpoint; running the same command again (or --resume DIR)
skips finished stages and resumes the one in progress. Example: examples/r1.yaml (docs/pipeline.md).`;

export async function run(argv: string[]): Promise<number> {
  const args = pipelineSpec.parseArgs(argv);
  if (args.help) {
    process.stdout.write(pipelineSpec.help(USAGE).replace(/Every option is also a key[^\n]*\n[^\n]*\n/, "The YAML file of --config holds the stages (see above); these options are flags only.\n"));
    const evalKeys = [...evalStageSpec.fields.values()].filter((f) => f.section === "eval").map((f) => `  ${f.key} (default ${String(f.defaultValue)}): ${f.meta.description}`);
    process.stdout.write(["Keys of an eval stage (besides the task keys: task, data, template, held-out, …):", ...evalKeys, ""].join("\n"));
    return 0;
  }
  if (args.positionals.length > 0) throw new UserError(`unexpected argument '${args.positionals[0]}' (options are --key value)`, "aha pipeline --help");
  const c = pipelineSpec.resolve({ flags: args.flags }).run;
  let file = args.configFile;
  if (c.resume !== null) {
    const saved = path.join(c.resume, "pipeline.yaml");
    if (file === null) file = saved;
    if (!fs.existsSync(saved)) throw new UserError(`--resume ${c.resume}: no pipeline.yaml there (not a pipeline run directory)`);
  }
  if (file === null) throw new UserError("aha pipeline needs --config FILE.yaml (or --resume RUN_DIR)", "see examples/r1.yaml");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new UserError(`--config ${file}: cannot read the file (${(e as Error).message})`);
  }
  const plan = parsePipeline(text, file);
  if (c.check) {
    process.stdout.write(`${file}: ${plan.stages.length} stages, all keys valid: ${plan.stages.map((s) => `${s.name} (${s.kind})`).join(" → ")}\n`);
    return 0;
  }
  const ctl = new AbortController();
  const uninstall = installInterrupt(ctl);
  try {
    const runDir = c.resume ?? c.runDir;
    const res = await runPipeline(plan, { reporter: terminalReporter("pipeline"), signal: ctl.signal, ...(runDir !== null ? { runDir } : {}) });
    return res.stopped ? 130 : 0;
  } finally {
    uninstall();
  }
}
