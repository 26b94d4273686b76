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
import { isHeldOut } from "./split.js";
import type { Problem, Task } from "./types.js";

export interface FileTaskOptions {
  file: string;
  questionField: string;
  answerField: string;
  heldOutPermille: number;
}

/** Largest data file read (bytes). */
const MAX_FILE_BYTES = 2 ** 31 - 1;

const asText = (v: unknown): string | null => (typeof v === "string" ? v : typeof v === "number" || typeof v === "bigint" ? String(v) : null);

/** Reads rows of {question, answer} from JSONL or Parquet; every bad row is an error naming its line/row. */
export async function readProblemRows(o: Omit<FileTaskOptions, "heldOutPermille">): Promise<Problem<string>[]> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(o.file);
  } catch {
    throw new UserError(`data file ${o.file} not found`);
  }
  if (stat.size > MAX_FILE_BYTES) throw new UserError(`data file ${o.file} is larger than 2 GiB`);
  const ext = path.extname(o.file).toLowerCase();
  const base = path.basename(o.file);
  const rows: { where: string; row: Record<string, unknown> }[] = [];
  if (ext === ".parquet") {
    const buf = fs.readFileSync(o.file);
    const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    let objs: Record<string, unknown>[];
    try {
      objs = (await parquetReadObjects({ file, columns: [o.questionField, o.answerField] })) as Record<string, unknown>[];
    } catch (e) {
      throw new UserError(`${o.file}: cannot read as Parquet with columns '${o.questionField}', '${o.answerField}' (${(e as Error).message})`);
    }
    objs.forEach((row, i) => rows.push({ where: `${base} row ${i}`, row }));
  } else if (ext === ".jsonl" || ext === ".json" || ext === ".ndjson") {
    const lines = fs.readFileSync(o.file, "utf8").split("\n");
    lines.forEach((line, i) => {
      if (line.trim() === "") return;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (e) {
        throw new UserError(`${o.file}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      if (row === null || typeof row !== "object" || Array.isArray(row)) throw new UserError(`${o.file}:${i + 1}: expected a JSON object per line`);
      rows.push({ where: `${base}:${i + 1}`, row: row as Record<string, unknown> });
    });
  } else throw new UserError(`data file ${o.file}: expected .jsonl or .parquet`);
  return rows.map(({ where, row }) => {
    const question = asText(row[o.questionField]);
    const answer = asText(row[o.answerField]);
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
