/**
 * `aha verify <kind> --input FILE.jsonl [--summary]`: scores a JSONL file of responses and prints each
 * input line with the result fields added. A malformed line is reported on stderr with its line
 * number, the rest are still scored, and the exit code is 1 at the end.
 *
 * Kinds are a table: each names the config section of its own options, turns them into the scorer's
 * options, and scores one line. The code kinds (src/cli/verify-code.ts) are registered the same
 * way. Flags, --config FILE.yaml and --help come from one schema (verifySpec; src/util/config.ts); the
 * kind stays the positional argument.
 */
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { UserError } from "../errors.js";
import { CODE_VERIFY_FLAGS } from "./verify-code.js";
import { defineConfig, setting, type Resolved } from "../util/config.js";
import { streamJsonlLines, type JsonlLine } from "../util/jsonl.js";

export const summary = "score a JSONL file of responses (math, countdown, kk, code, codeio)";

const ioSchema = z.strictObject({
  input: setting(z.string().min(1).nullable(), null, "The JSONL file to score (- for stdin); required."),
  summary: setting(z.boolean(), false, "Print counts (lines, errors, correct / mean score) to stderr at the end."),
});

const mathSchema = z.strictObject({
  lenient: setting(z.boolean(), false, 'Also accept "Answer: 7" and the last number.'),
  budgetMs: setting(z.int().min(1).nullable(), null, "Time budget per verification in ms; none = the verifier's (1000)."),
});

/** The code kinds' options: the flags that src/cli/verify-code.ts reads (CODE_VERIFY_FLAGS; checked below). */
const codeSchema = z.strictObject({
  unsafeNoSandbox: setting(z.boolean(), false, "Run programs WITHOUT bubblewrap (trusted code only)."),
  allOrNothing: setting(z.boolean(), false, "Score 1 only if every test passes (otherwise: the fraction passed)."),
  timeoutMs: setting(z.int().min(1).nullable(), null, "Wall-time limit per program run in ms (the CPU limit becomes its whole seconds); none = the sandbox's 5000 ms wall, 4 s CPU."),
  memoryMb: setting(z.int().min(1).nullable(), null, "Memory limit per program run in MB; none = the sandbox's 512."),
  concurrency: setting(z.int().min(1).nullable(), null, "Programs run at once; none = cores − 1."),
});

export const verifySpec = defineConfig({
  io: { title: "Input and output", prefix: "", schema: ioSchema, check: (c: z.output<typeof ioSchema>) => (c.input === null ? ["--input FILE.jsonl is required"] : []) },
  math: { title: "Kind math", prefix: "", schema: mathSchema },
  code: { title: "Kinds code and codeio (programs run in the sandbox)", prefix: "", schema: codeSchema },
});
type VerifyConfig = Resolved<typeof verifySpec.sections>;

// The code section holds exactly the flags the adapter reads (otherwise a programming error).
const codeKeys = [...verifySpec.fields.values()].filter((f) => f.section === "code").map((f) => f.key).sort().join(" ");
if (codeKeys !== Object.keys(CODE_VERIFY_FLAGS).sort().join(" ")) throw new Error(`aha verify: the code section (${codeKeys}) differs from CODE_VERIFY_FLAGS`);

interface Kind {
  /** what each input line holds → what is added */
  fields: string;
  /** The config section of the kind's own options (null: none); the other kinds' options are rejected. */
  options: "math" | "code" | null;
  /** Loads the scorer (lazily: `aha verify math` does not load the sandbox) with its options. */
  load(c: VerifyConfig): Promise<(line: unknown, where: string) => unknown>;
}

/** kind → how to score a line. Add a kind: one entry here. */
const KINDS: Record<string, Kind> = {
  math: {
    fields: "gold, response[, prefix] → correct, extracted, reason",
    options: "math",
    async load(c) {
      const { verifyMathLine } = await import("./verify-lines.js");
      const opts = { ...(c.math.lenient ? { lenient: true } : {}), ...(c.math.budgetMs !== null ? { budgetMs: c.math.budgetMs } : {}) };
      return (line, where) => verifyMathLine(line, where, opts);
    },
  },
  countdown: {
    fields: "numbers, target, response[, prefix] → score, reason",
    options: null,
    async load() {
      return (await import("./verify-lines.js")).verifyCountdownLine;
    },
  },
  kk: {
    fields: "names, solution (the generator's fields), response[, prefix] → score, format, answer, reason",
    options: null,
    async load() {
      return (await import("./verify-lines.js")).verifyKKLine;
    },
  },
  // The sandboxed kinds (owned by src/rewards/code/):
  code: codeKind("code", "response[, prefix], tests [{input, output}…] | test_code[, language] (a --task code row) → score, passed, total, reason, verdicts"),
  codeio: codeKind("codeio", "code, input, output, mode, response[, prefix][, language] (a --task codeio row) → score, reason, answer"),
};

function codeKind(which: "code" | "codeio", fields: string): Kind {
  return {
    fields,
    options: "code",
    async load(c) {
      const m = await import("./verify-code.js");
      // the adapter reads its flags by name: set booleans as true, numbers as text, unset left out
      const flags: Record<string, string | boolean> = {};
      for (const [key, v] of Object.entries(verifySpec.toFlat(c))) {
        if (verifySpec.fields.get(key)!.section !== "code" || v === null || v === false) continue;
        flags[key] = typeof v === "boolean" ? v : String(v);
      }
      const opts = m.codeVerifyOptions(flags);
      const f = which === "code" ? m.verifyCodeLine : m.verifyCodeioLine;
      return (line, where) => f(line, where, opts);
    },
  };
}


export const VERIFY_KINDS = KINDS;

const USAGE = [
  "Usage: aha verify <kind> --input FILE.jsonl [--summary] [--config FILE.yaml] [options]",
  "",
  "Prints each input line (JSON) with the result fields added. Kinds:",
  ...Object.entries(KINDS).map(([k, v]) => `  ${k.padEnd(10)} ${v.fields}`),
  "",
  "An answer is read after the thinking only: after the last </think>, not inside a <think> that never closes.",
  'prefix: what the prompt already wrote of the response (the r1-zero template\'s "<think>"; default "").',
  "",
  "A malformed line is reported on stderr with its line number; the others are still scored; the exit",
  "code is then 1. A kind's own options (below) are rejected by the other kinds.",
].join("\n");

/** argv → the kind and the resolved config; null for --help. */
export function resolveVerifyArgs(argv: readonly string[], readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): { kind: string; config: VerifyConfig } | null {
  const args = verifySpec.parseArgs(argv);
  if (args.help) return null;
  const kindName = args.positionals[0];
  if (kindName === undefined) throw new UserError("name a kind: " + Object.keys(KINDS).join(", "), "see `aha verify --help`");
  const kind = KINDS[kindName];
  if (!kind) throw new UserError(`unknown kind '${kindName}'`, `kinds: ${Object.keys(KINDS).join(", ")}`);
  if (args.positionals.length > 1) throw new UserError(`unexpected argument '${args.positionals[1]}'`);
  const yaml = args.configFile !== null ? verifySpec.readYaml(args.configFile, readFile) : undefined;
  const given: [key: string, where: string][] = [...(yaml ?? new Map())].map(([k, g]) => [k, `${g.origin}: ${k}`]);
  for (const k of args.flags.keys()) given.push([k, `--${k}`]);
  for (const [key, where] of given) {
    const section = verifySpec.fields.get(key)!.section;
    if (section !== "io" && section !== kind.options) throw new UserError(`${where} does not apply to '${kindName}'`);
  }
  return { kind: kindName, config: verifySpec.resolve({ ...(yaml ? { yaml } : {}), flags: args.flags }) };
}

/** Lines scored at once (the code kinds run programs concurrently; output keeps the input order). */
const WINDOW = 32;

export async function run(argv: string[]): Promise<number> {
  const resolved = resolveVerifyArgs(argv);
  if (resolved === null) {
    process.stdout.write(verifySpec.help(USAGE));
    return 0;
  }
  const { kind: kindName, config } = resolved;
  const input = config.io.input!;
  if (input !== "-" && !existsSync(input)) throw new UserError(`${input}: no such file`);
  const scoreLine = await KINDS[kindName]!.load(config);

  const stream = input === "-" ? process.stdin : createReadStream(input);
  const name = input === "-" ? "stdin" : input;
  let errors = 0;
  let scored = 0;
  let correct = 0;
  let scoreSum = 0;
  const hist = new Map<string, number>();
  let batch: JsonlLine[] = [];

  const flush = async (): Promise<void> => {
    const results = await Promise.all(
      batch.map(async (l) => {
        const where = `${name}:${l.line}`;
        try {
          if (l.error !== undefined) throw new UserError(`${where}: ${l.error}`);
          const added = (await scoreLine(l.row, where)) as Record<string, unknown>;
          return { ok: true as const, out: { ...l.row, ...added } };
        } catch (e) {
          const msg = e instanceof UserError ? e.message : `${where}: ${e instanceof Error ? e.message : String(e)}`;
          return { ok: false as const, msg };
        }
      }),
    );
    for (const r of results) {
      if (!r.ok) {
        errors++;
        process.stderr.write(`aha verify: ${r.msg}\n`);
        continue;
      }
      scored++;
      if (r.out.correct === true) correct++;
      if (typeof r.out.score === "number") {
        scoreSum += r.out.score;
        const key = String(r.out.score);
        hist.set(key, (hist.get(key) ?? 0) + 1);
      }
      process.stdout.write(JSON.stringify(r.out) + "\n");
    }
    batch = [];
  };

  for await (const l of streamJsonlLines(stream)) {
    batch.push(l);
    if (batch.length >= WINDOW) await flush();
  }
  await flush();

  if (config.io.summary) {
    const parts = [`lines scored: ${scored}`, `errors: ${errors}`];
    if (kindName === "math") parts.push(`correct: ${correct}/${scored} (${scored ? ((100 * correct) / scored).toFixed(1) : "0.0"}%)`);
    else {
      parts.push(`mean score: ${scored ? (scoreSum / scored).toFixed(4) : "-"}`);
      parts.push(`scores: ${[...hist].sort((a, b) => Number(a[0]) - Number(b[0])).map(([k, v]) => `${k}×${v}`).join(" ")}`);
    }
    process.stderr.write(parts.join("\n") + "\n");
  }
  return errors > 0 ? 1 : 0;
}
