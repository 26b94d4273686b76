/**
 * The `aha` command: dispatches to one file per command (src/cli/<name>.ts), loaded lazily so that
 * `aha verify` does not pay for loading the engine.
 *
 * Each command module exports `run(argv: string[]): Promise<number>` (the exit code) and `summary`.
 * Errors meant for the user are thrown as `AhaError` (src/errors.ts): printed without a stack.
 */
import { AhaError } from "../errors.js";

interface CommandModule {
  summary: string;
  run(argv: string[]): Promise<number>;
}

/** name → loader. Add a command by adding one line here and one file next to this one. */
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  bench: () => import("./bench.js"),
  dashboard: () => import("./dashboard.js"),
  eval: () => import("./eval.js"),
  generate: () => import("./generate.js"),
  pipeline: () => import("./pipeline.js"),
  sample: () => import("./sample.js"),
  score: () => import("./score.js"),
  serve: () => import("./serve.js"),
  train: () => import("./train.js"),
  sft: () => import("./sft.js"),
  verify: () => import("./verify.js"),
};

function usage(): string {
  const names = Object.keys(COMMANDS).sort();
  return [
    "aha — R1-Zero-style reinforcement learning with verifiable rewards, on Node.js",
    "",
    "Usage: aha <command> [options]       (aha <command> --help for a command's options)",
    "",
    "Commands:",
    ...names.map((n) => `  ${n.padEnd(10)}`),
    "",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const lines = usage().split("\n");
    // Fill in summaries (loads each module; only done for --help).
    for (const n of Object.keys(COMMANDS)) {
      const loader = COMMANDS[n];
      if (!loader) continue;
      const mod = await loader();
      const i = lines.findIndex((l) => l.trimEnd() === `  ${n}`);
      if (i >= 0) lines[i] = `  ${n.padEnd(10)}  ${mod.summary}`;
    }
    process.stdout.write(lines.join("\n"));
    return name === undefined ? 1 : 0;
  }
  if (name === "--version") {
    process.stdout.write("aha 0.1.0\n");
    return 0;
  }
  const loader = COMMANDS[name];
  if (!loader) {
    process.stderr.write(`aha: unknown command '${name}'. Commands: ${Object.keys(COMMANDS).sort().join(", ")}\n`);
    return 2;
  }
  try {
    const mod = await loader();
    return await mod.run(rest);
  } catch (e) {
    if (e instanceof AhaError) {
      process.stderr.write(`aha ${name}: ${e.message}\n`);
      if (e.hint) process.stderr.write(`  hint: ${e.hint}\n`);
      return 2;
    }
    throw e;
  }
}
