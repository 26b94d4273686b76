/**
 * `aha verify <kind> --input FILE.jsonl [--summary]`: scores a JSONL file of responses and prints each
 * input line with the result fields added. A malformed line is reported on stderr with its line
 * number, the rest are still scored, and the exit code is 1 at the end.
 *
 * Kinds are a table: each names its flags, turns them into options, and scores one line. The code
 * kinds (src/rewards/code/verify.ts) are registered the same way.
 */
import { createReadStream, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { UserError } from "../errors.js";
import { CODE_VERIFY_FLAGS } from "./verify-code.js";

export const summary = "score a JSONL file of responses (math, countdown, kk, code, codeio)";

type Flags = Record<string, string | boolean | undefined>;
type FlagSpec = Record<string, { type: "string" | "boolean"; description: string }>;

interface Kind {
  /** what each input line holds → what is added */
  fields: string;
  flags: FlagSpec;
  /** Loads the scorer (lazily: `aha verify math` does not load the sandbox) with options from the flags. */
  load(flags: Flags): Promise<(line: unknown, where: string) => unknown>;
}

function positiveInt(flags: Flags, name: string): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`--${name} must be a positive integer, got '${String(v)}'`);
  return n;
}

const MATH_FLAGS: FlagSpec = {
  lenient: { type: "boolean", description: 'math: also accept "Answer: 7" and the last number (off by default)' },
  "budget-ms": { type: "string", description: "math: time budget per verification in ms (default 1000)" },
};

/** kind → how to score a line. Add a kind: one entry here. */
const KINDS: Record<string, Kind> = {
  math: {
    fields: "gold, response → correct, extracted, reason",
    flags: MATH_FLAGS,
    async load(flags) {
      const { verifyMathLine } = await import("./verify-lines.js");
      const budgetMs = positiveInt(flags, "budget-ms");
      const opts = { ...(flags.lenient === true ? { lenient: true } : {}), ...(budgetMs !== undefined ? { budgetMs } : {}) };
      return (line, where) => verifyMathLine(line, where, opts);
    },
  },
  countdown: {
    fields: "numbers, target, response → score, reason",
    flags: {},
    async load() {
      return (await import("./verify-lines.js")).verifyCountdownLine;
    },
  },
  kk: {
    fields: "names, solution (the generator's fields), response → score, format, answer, reason",
    flags: {},
    async load() {
      return (await import("./verify-lines.js")).verifyKKLine;
    },
  },
  // The sandboxed kinds (owned by src/rewards/code/):
  code: codeKind("code", "language, response, tests | test_code → score, passed, total, reason, verdicts"),
  codeio: codeKind("codeio", "code, input, output, mode, response → score, reason, answer"),
};

function codeKind(which: "code" | "codeio", fields: string): Kind {
  return {
    fields,
    flags: CODE_VERIFY_FLAGS, // declared by src/rewards/code/verify.ts

    async load(flags) {
      const m = await import("./verify-code.js");
      const opts = m.codeVerifyOptions(flags);
      const f = which === "code" ? m.verifyCodeLine : m.verifyCodeioLine;
      return (line, where) => f(line, where, opts);
    },
  };
}


export const VERIFY_KINDS = KINDS;

function help(): string {
  const kinds = Object.entries(KINDS).map(([k, v]) => `  ${k.padEnd(10)} ${v.fields}`);
  const flags = new Map<string, string>();
  for (const k of Object.values(KINDS)) for (const [n, s] of Object.entries(k.flags)) flags.set(n, s.description);
  return [
    "Usage: aha verify <kind> --input FILE.jsonl [--summary] [options]",
    "",
    "Prints each input line (JSON) with the result fields added. Kinds:",
    ...kinds,
    "",
    "Options:",
    ...[
      ["input FILE", "the JSONL file to score (- for stdin)"],
      ["summary", "print counts (lines, errors, correct / mean score) to stderr at the end"],
      ...flags,
    ].map(([n, d]) => `  --${n.padEnd(18)} ${d}`),
    "  -h, --help           this text",
    "",
    "A malformed line is reported on stderr with its line number; the others are still scored; the exit code is then 1.",
    "",
  ].join("\n");
}

/** Lines scored at once (the code kinds run programs concurrently; output keeps the input order). */
const WINDOW = 32;

export async function run(argv: string[]): Promise<number> {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    input: { type: "string" },
    summary: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  };
  for (const k of Object.values(KINDS)) for (const [n, s] of Object.entries(k.flags)) options[n] = { type: s.type };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options });
  } catch (e) {
    throw new UserError((e as Error).message, "see `aha verify --help`");
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(help());
    return 0;
  }
  const kindName = positionals[0];
  if (kindName === undefined) throw new UserError("name a kind: " + Object.keys(KINDS).join(", "), "see `aha verify --help`");
  const kind = KINDS[kindName];
  if (!kind) throw new UserError(`unknown kind '${kindName}'`, `kinds: ${Object.keys(KINDS).join(", ")}`);
  if (positionals.length > 1) throw new UserError(`unexpected argument '${positionals[1]}'`);
  const input = values.input;
  if (typeof input !== "string") throw new UserError("--input FILE.jsonl is required", "see `aha verify --help`");
  if (input !== "-" && !existsSync(input)) throw new UserError(`${input}: no such file`);
  const known = new Set(["input", "summary", "help", ...Object.keys(kind.flags)]);
  for (const k of Object.keys(values)) if (!known.has(k)) throw new UserError(`--${k} does not apply to '${kindName}'`);
  const scoreLine = await kind.load(values as Flags);

  const stream = input === "-" ? process.stdin : createReadStream(input, { encoding: "utf8" });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  const name = input === "-" ? "stdin" : input;
  let lineNo = 0;
  let errors = 0;
  let scored = 0;
  let correct = 0;
  let scoreSum = 0;
  const hist = new Map<string, number>();
  let batch: { no: number; text: string }[] = [];

  const flush = async (): Promise<void> => {
    const results = await Promise.all(
      batch.map(async ({ no, text }) => {
        const where = `${name}:${no}`;
        try {
          let obj: unknown;
          try {
            obj = JSON.parse(text);
          } catch (e) {
            throw new UserError(`${where}: not valid JSON (${(e as Error).message})`);
          }
          const added = (await scoreLine(obj, where)) as Record<string, unknown>;
          return { ok: true as const, out: { ...(obj as Record<string, unknown>), ...added } };
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

  for await (const text of rl) {
    lineNo++;
    if (text.trim() === "") continue;
    batch.push({ no: lineNo, text });
    if (batch.length >= WINDOW) await flush();
  }
  await flush();

  if (values.summary) {
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
