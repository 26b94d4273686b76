/**
 * The code task (`--task code --data FILE.jsonl`): programming problems whose answer is a program,
 * run in the sandbox (src/rewards/code/) against the problem's tests.
 *
 * One JSON object per line:
 *   {"prompt": "Read two integers and print their sum.",
 *    "tests": [{"input": "1 2\n", "output": "3\n"}, …],    stdin → expected stdout, or
 *    "test_code": "assert add(1, 2) == 3\n…",              assertions run after the program (exactly one of the two)
 *    "language": "python" | "javascript"}                  default python
 * (the tests' shape is src/rewards/code/reference.ts's, the same as an `aha verify code` line). Other
 * fields are ignored. Rows are split train / held-out by hashing the prompt (src/tasks/split.ts).
 *
 * The question is the prompt plus one instruction saying how the program is run and where to put it;
 * the program is the response's last closed ```python / ```javascript block (src/rewards/code/extract.ts).
 * Reward (the `accuracy` part): the share of tests passed ("fraction") or 1 only when all pass
 * ("all_or_nothing", stopping at the first failure); `correct` = every test passed. Scoring is async:
 * each test is one sandboxed run, all of them through one pool (the process-wide one unless given),
 * which bounds how many programs run at once however many responses are scored concurrently.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { UserError } from "../errors.js";
import { extractCode } from "../rewards/code/extract.js";
import { parseCodeReference } from "../rewards/code/reference.js";
import { codeReward, type CodeReference, type ScoreMode } from "../rewards/code/reward.js";
import { ensureSandbox, type Language, SandboxPool, SandboxUnavailable, sharedPool, type SandboxOptions, type Tools } from "../rewards/code/sandbox.js";
import { isHeldOut } from "./split.js";
import type { Problem, Task } from "./types.js";

/** Largest data file read (bytes): read whole as one string, well under V8's string limit. */
export const MAX_CODE_FILE_BYTES = 256 * 1024 * 1024;
/** Longest prompt (characters). */
export const MAX_PROMPT_CHARS = 100_000;

export interface CodeTaskOptions {
  file: string;
  heldOutPermille: number;
  /** Default "fraction". */
  scoreMode?: ScoreMode;
  /** Sandbox options (unsafeNoSandbox, limits); used for the shared pool when `pool` is absent. */
  sandbox?: SandboxOptions;
  /** A pool of one's own (tests); default the process-wide pool for `sandbox`. */
  pool?: SandboxPool;
  /** The tools the availability check sees (tests: a machine without bubblewrap). */
  tools?: Tools;
}

const LANGUAGE_NAMES: Record<Language, string> = { python: "Python", javascript: "JavaScript" };

/** The question for a row: its prompt and how the answer is run. */
export function codeQuestion(prompt: string, ref: CodeReference): string {
  const lang = LANGUAGE_NAMES[ref.language];
  const how =
    ref.tests !== undefined
      ? `Write a complete ${lang} program that reads from standard input and writes to standard output; it is run on test inputs and its output is compared with the expected output.`
      : `Write the ${lang} code; tests (assertions) are run after it.`;
  return `${prompt.trimEnd()}\n\n${how} Give the code in a \`\`\`${ref.language} code block inside <answer> </answer>.`;
}

/** Reads the rows of a code data file; every bad row is a UserError naming file:line and the field. */
export function readCodeRows(file: string): Problem<CodeReference>[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new UserError(`data file ${file} not found`);
  }
  if (!stat.isFile()) throw new UserError(`data file ${file} is not a file`);
  if (stat.size > MAX_CODE_FILE_BYTES) throw new UserError(`data file ${file} is larger than ${MAX_CODE_FILE_BYTES / 2 ** 20} MiB`);
  const ext = path.extname(file).toLowerCase();
  if (ext !== ".jsonl" && ext !== ".ndjson" && ext !== ".json") throw new UserError(`data file ${file}: task code reads JSONL (.jsonl), one problem per line`);
  const base = path.basename(file);
  const out: Problem<CodeReference>[] = [];
  fs.readFileSync(file, "utf8").split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${file}:${i + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new UserError(`${where}: not valid JSON (${(e as Error).message})`);
    }
    if (row === null || typeof row !== "object" || Array.isArray(row)) throw new UserError(`${where}: expected a JSON object per line`);
    const o = row as Record<string, unknown>;
    if (typeof o.prompt !== "string" || o.prompt.trim() === "")
      throw new UserError(`${where}: field "prompt" is missing or not a non-empty string (fields: ${Object.keys(o).join(", ")})`);
    if (o.prompt.length > MAX_PROMPT_CHARS) throw new UserError(`${where}: field "prompt" is longer than ${MAX_PROMPT_CHARS} characters`);
    const reference = parseCodeReference(o, where);
    const answer = reference.tests ? `${reference.tests.length} stdin/stdout test${reference.tests.length === 1 ? "" : "s"}` : "test code";
    out.push({ id: `${base}:${i + 1}`, question: codeQuestion(o.prompt, reference), answer, reference });
  });
  if (out.length === 0) throw new UserError(`data file ${file} has no problems`);
  return out;
}

/**
 * Fails with a UserError (the install command) unless programs of these languages can run: bubblewrap
 * present (or the unsafe flag set) and, sandboxed, a trivial program running in it.
 */
export async function requireSandbox(task: string, languages: Iterable<Language>, opts: SandboxOptions, tools?: Tools): Promise<void> {
  try {
    for (const l of new Set(languages)) await ensureSandbox(l, opts, tools);
  } catch (e) {
    if (e instanceof SandboxUnavailable) throw new UserError(`task ${task}: ${e.message}`, e.hint, e.code);
    throw e;
  }
}

export async function codeTask(o: CodeTaskOptions): Promise<Task<CodeReference>> {
  const all = readCodeRows(o.file);
  const train = all.filter((p) => !isHeldOut(p.question, o.heldOutPermille));
  const test = all.filter((p) => isHeldOut(p.question, o.heldOutPermille));
  if (train.length === 0) throw new UserError(`${o.file}: no training rows left after holding out ${o.heldOutPermille}‰`);
  const sandbox = o.sandbox ?? {};
  await requireSandbox("code", all.map((p) => p.reference.language), o.pool?.options ?? sandbox, o.tools);
  const pool = o.pool ?? sharedPool(sandbox);
  const mode = o.scoreMode ?? "fraction";
  return {
    name: `code:${path.basename(o.file)}`,
    train: { size: train.length, get: (i) => train[i]! },
    heldOut: (count) => test.slice(0, count),
    score: async (response, problem) => {
      const r = await codeReward(response, problem.reference, { mode, pool });
      const correct = r.parts.total > 0 && r.parts.passed === r.parts.total;
      return { reward: r.score, parts: { accuracy: r.score }, correct, extracted: extractCode(response, problem.reference.language), reason: r.reason };
    },
    defaultTemplate: "r1-zero",
  };
}
