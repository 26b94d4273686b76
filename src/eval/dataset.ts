/**
 * `aha eval --dataset FILE`: every row of a JSONL or Parquet file with a question, a gold answer and an
 * optional category, scored by the math verifier (src/rewards/math). Unlike the training file task
 * (src/tasks/file.ts) nothing is held out: the whole file is the test set.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parquetReadObjects } from "hyparquet";
import { UserError } from "../errors.js";
import { verifyMath } from "../rewards/math/index.js";
import type { Problem, Scored } from "../tasks/types.js";

export interface DatasetFields {
  question: string;
  answer: string;
  category: string;
}

const asText = (v: unknown): string | null => (typeof v === "string" ? v : typeof v === "number" || typeof v === "bigint" ? String(v) : null);

export async function readDataset(file: string, f: DatasetFields): Promise<Problem<string>[]> {
  if (!fs.existsSync(file)) throw new UserError(`dataset ${file} not found`);
  const ext = path.extname(file).toLowerCase();
  const base = path.basename(file);
  const rows: { where: string; row: Record<string, unknown> }[] = [];
  if (ext === ".parquet") {
    const buf = fs.readFileSync(file);
    let objs: Record<string, unknown>[];
    try {
      objs = (await parquetReadObjects({ file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) })) as Record<string, unknown>[];
    } catch (e) {
      throw new UserError(`${file}: cannot read as Parquet (${(e as Error).message})`);
    }
    objs.forEach((row, i) => rows.push({ where: `${base} row ${i}`, row }));
  } else if (ext === ".jsonl" || ext === ".ndjson" || ext === ".json") {
    fs.readFileSync(file, "utf8").split("\n").forEach((line, i) => {
      if (line.trim() === "") return;
      let row: unknown;
      try {
        row = JSON.parse(line);
      } catch (e) {
        throw new UserError(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      if (row === null || typeof row !== "object" || Array.isArray(row)) throw new UserError(`${file}:${i + 1}: expected a JSON object per line`);
      rows.push({ where: `${base}:${i + 1}`, row: row as Record<string, unknown> });
    });
  } else throw new UserError(`dataset ${file}: expected .jsonl or .parquet`);
  if (rows.length === 0) throw new UserError(`dataset ${file} has no rows`);
  return rows.map(({ where, row }) => {
    const question = asText(row[f.question]);
    const answer = asText(row[f.answer]);
    if (question === null || answer === null) {
      const missing = question === null ? f.question : f.answer;
      throw new UserError(`${where}: field '${missing}' is missing or not text (fields: ${Object.keys(row).join(", ")})`, "set --question-field / --answer-field");
    }
    const cat = row[f.category];
    const category = cat === undefined || cat === null ? undefined : asText(cat) ?? JSON.stringify(cat);
    return { id: where, question, answer, reference: answer, ...(category !== undefined ? { category } : {}) };
  });
}

/** The math verifier as a task's score; `prefix` is the template's ctx.responsePrefix (the r1-zero "<think>"). */
export function scoreMath(response: string, p: Problem<unknown>, prefix = ""): Scored {
  const r = verifyMath(response, p.reference as string, { prefix });
  return { reward: r.correct ? 1 : 0, parts: { accuracy: r.correct ? 1 : 0 }, correct: r.correct, extracted: r.extracted, reason: r.reason };
}
