/**
 * `aha eval --dataset FILE`: every row of a JSONL or Parquet file with a question, a gold answer and an
 * optional category, scored by the math verifier (src/rewards/math). Unlike the training file task
 * (src/tasks/file.ts) nothing is held out: the whole file is the test set.
 */
import { UserError } from "../errors.js";
import { verifyMath } from "../rewards/math/index.js";
import { asText, readRowFile } from "../tasks/file.js";
import type { Problem, Scored } from "../tasks/types.js";

export interface DatasetFields {
  question: string;
  answer: string;
  category: string;
}

export async function readDataset(file: string, f: DatasetFields): Promise<Problem<string>[]> {
  const rows = await readRowFile(file, "dataset");
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
