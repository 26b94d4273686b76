/**
 * Problems from a data file: JSONL (one object per line) or Parquet (read with hyparquet), with a
 * question field and an answer field (names configurable), scored by the math verifier (1 / 0) on
 * the answer after the thinking (the template's prefilled "<think>" counts).
 * Rows are split train / held-out by hashing the question (src/tasks/split.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parquetReadObjects } from "hyparquet";
import { UserError } from "../errors.js";
import { verifyMath } from "../rewards/math/index.js";
import { MAX_FILE_BYTES, readJsonlRows, type JsonlRow } from "../util/jsonl.js";
import { isHeldOut } from "./split.js";
import type { Problem, Task } from "./types.js";

export interface FileTaskOptions {
  file: string;
  questionField: string;
  answerField: string;
  heldOutPermille: number;
  /** A row without the answer field is kept with reference null (answer "") instead of being an error: for sampling prompts that nobody can verify. */
  optionalAnswer?: boolean;
}

/** A string, or a number written as text; anything else is null. */
export const asText = (v: unknown): string | null => (typeof v === "string" ? v : typeof v === "number" || typeof v === "bigint" ? String(v) : null);

/**
 * The rows of a JSONL (one object per line; .json and .ndjson too) or Parquet file, each with where it
 * came from (`name:line` or `name row i`) for error messages. `what` names the file in errors ("data
 * file", "dataset"); `columns` limits what Parquet decodes. Bad lines are errors naming file:line.
 */
export async function readRowFile(file: string, what: string, columns?: string[]): Promise<{ where: string; row: JsonlRow }[]> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new UserError(`${what} ${file} not found`);
  }
  if (stat.size > MAX_FILE_BYTES) throw new UserError(`${what} ${file} is larger than 2 GiB`);
  const ext = path.extname(file).toLowerCase();
  const base = path.basename(file);
  if (ext === ".parquet") {
    const buf = fs.readFileSync(file);
    let objs: JsonlRow[];
    try {
      objs = (await parquetReadObjects({
        file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
        ...(columns ? { columns } : {}),
      })) as JsonlRow[];
    } catch (e) {
      const cols = columns ? ` with columns ${columns.map((c) => `'${c}'`).join(", ")}` : "";
      throw new UserError(`${file}: cannot read as Parquet${cols} (${(e as Error).message})`);
    }
    return objs.map((row, i) => ({ where: `${base} row ${i}`, row }));
  }
  if (ext === ".jsonl" || ext === ".json" || ext === ".ndjson") {
    return readJsonlRows(file, what).map(({ line, row }) => ({ where: `${base}:${line}`, row }));
  }
  throw new UserError(`${what} ${file}: expected .jsonl or .parquet`);
}

/** Reads rows of {question, answer} from JSONL or Parquet; every bad row is an error naming its line/row. */
export async function readProblemRows(o: Omit<FileTaskOptions, "heldOutPermille">): Promise<Problem<string>[]> {
  const rows = await readRowFile(o.file, "data file", [o.questionField, o.answerField]);
  return rows.map(({ where, row }) => {
    const question = asText(row[o.questionField]);
    const answer = asText(row[o.answerField]);
    if (question !== null && answer === null && o.optionalAnswer && row[o.answerField] == null) return { id: where, question, answer: "", reference: null as unknown as string };
    if (question === null || answer === null) {
      const missing = question === null ? o.questionField : o.answerField;
      throw new UserError(`${where}: field '${missing}' is missing or not text (fields: ${Object.keys(row).join(", ")})`, "set --question-field / --answer-field");
    }
    return { id: where, question, answer, reference: answer };
  });
}

export async function fileTask(o: FileTaskOptions): Promise<Task<string>> {
  const all = await readProblemRows(o);
  const train = all.filter((p) => !isHeldOut(p.question, o.heldOutPermille));
  const test = all.filter((p) => isHeldOut(p.question, o.heldOutPermille));
  if (train.length === 0) throw new UserError(`${o.file}: no training rows left after holding out ${o.heldOutPermille}‰`);
  return {
    name: `file:${path.basename(o.file)}`,
    train: { size: train.length, get: (i) => train[i]! },
    heldOut: (count) => test.slice(0, count),
    score: (response, problem, ctx) => {
      const r = verifyMath(response, problem.reference, { prefix: ctx.responsePrefix });
      return { reward: r.correct ? 1 : 0, parts: { accuracy: r.correct ? 1 : 0 }, correct: r.correct, extracted: r.extracted, reason: r.reason };
    },
    defaultTemplate: "r1-zero",
  };
}
