/** The task section of the config (keys: task, data, template, held-out, …); see src/util/config.ts. */
import { z } from "zod";
import { setting as f } from "../util/config.js";
import { LANGUAGES } from "../rewards/language.js";
import { TEMPLATE_NAMES } from "./templates.js";


export const TASK_NAMES = ["arithmetic", "countdown", "kk", "file"] as const;
export type TaskName = (typeof TASK_NAMES)[number];

export const taskSchema = z.strictObject({
  task: f(z.enum(TASK_NAMES), "arithmetic", "arithmetic (3-digit addition, the built-in demo), countdown (TinyZero), kk (Knights & Knaves, Logic-RL), or file (--data FILE scored by the math verifier).", "TinyZero; Logic-RL"),
  data: f(z.string().min(1).nullable(), null, "JSONL or Parquet file of problems for task 'file'."),
  questionField: f(z.string().min(1), "question", "Field of a data file row holding the question."),
  answerField: f(z.string().min(1), "answer", "Field of a data file row holding the gold answer."),
  template: f(z.enum(["auto", ...TEMPLATE_NAMES]), "auto", "Prompt template: r1-zero (the R1-Zero text), chat (the model's chat template), none (the question as is), auto (the task's own: none for arithmetic, r1-zero otherwise).", "DeepSeek-R1; Dr. GRPO code"),
  heldOut: f(z.int().min(0), 200, "Held-out problems evaluated before and after training.", "issue 5: 200 held-out problems"),
  heldOutPermille: f(z.int().min(1).max(999), 50, "Share of questions (per thousand, by hash of the question) reserved for the held-out side; they are never trained on."),
  language: f(z.enum(LANGUAGES as [string, ...string[]]), "en", "The task's language: the target of the language-consistency reward part (reward: language=…).", "DeepSeek-R1 §2.3.3"),
  kkMinPeople: f(z.int().min(2).max(8), 2, "Knights & Knaves: fewest people per puzzle.", "Logic-RL: 2..8"),
  kkMaxPeople: f(z.int().min(2).max(8), 8, "Knights & Knaves: most people per puzzle.", "Logic-RL: 2..8"),
});

export type TaskConfig = z.output<typeof taskSchema>;

export function checkTask(c: TaskConfig): string[] {
  const out: string[] = [];
  if (c.task === "file" && c.data === null) out.push("task = file needs --data FILE (a .jsonl or .parquet file)");
  if (c.task !== "file" && c.data !== null) out.push(`data = ${c.data} is only read by task 'file' (task is '${c.task}')`);
  if (c.kkMinPeople > c.kkMaxPeople) out.push(`kk-min-people (${c.kkMinPeople}) must be ≤ kk-max-people (${c.kkMaxPeople})`);
  return out;
}

export const taskSection = { title: "Task and data", prefix: "", schema: taskSchema, check: checkTask };
