/** The task section of the config (keys: task, data, template, held-out, …); see src/util/config.ts. */
import { z } from "zod";
import { setting as f } from "../util/config.js";
import { LANGUAGES } from "../rewards/language.js";
import { TEMPLATE_NAMES } from "./templates.js";


export const TASK_NAMES = ["arithmetic", "countdown", "kk", "file", "code", "codeio", "multiply"] as const;
export type TaskName = (typeof TASK_NAMES)[number];
/** Tasks that read --data. */
const DATA_TASKS: readonly TaskName[] = ["file", "code", "codeio"];

export const taskSchema = z.strictObject({
  task: f(z.enum(TASK_NAMES), "arithmetic", "arithmetic (3-digit addition, the built-in demo), countdown (TinyZero), kk (Knights & Knaves, Logic-RL), file (--data FILE scored by the math verifier), code (--data FILE.jsonl of programming problems, run against their tests in the sandbox), codeio (CodeI/O: predict a program's output or input; built-in programs or --data FILE.jsonl), or multiply (4-digit × 3-digit products: the tools demo, with the calculator).", "TinyZero; Logic-RL; DeepSeek-R1 (code); CodeI/O (Li et al. 2025)"),
  data: f(z.string().min(1).nullable(), null, "Task file: JSONL or Parquet of {question, answer}. Task code: JSONL of {prompt, tests: [{input, output}…] | test_code, language?}. Task codeio: JSONL of {code, input, output, language?, mode?} (none: the built-in programs)."),
  questionField: f(z.string().min(1), "question", "Field of a data file row holding the question."),
  answerField: f(z.string().min(1), "answer", "Field of a data file row holding the gold answer."),
  template: f(z.enum(["auto", ...TEMPLATE_NAMES]), "auto", "Prompt template: r1-zero (the R1-Zero text), chat (the model's chat template), none (the question as is), auto (the task's own: none for arithmetic and multiply, r1-zero otherwise).", "DeepSeek-R1; Dr. GRPO code"),
  heldOut: f(z.int().min(0), 200, "Held-out problems evaluated before and after training.", "issue 5: 200 held-out problems"),
  heldOutPermille: f(z.int().min(1).max(999), 50, "Share of questions (per thousand, by hash of the question) reserved for the held-out side; they are never trained on."),
  language: f(z.enum(LANGUAGES as [string, ...string[]]), "en", "The task's language: the target of the language-consistency reward part (reward: language=…).", "DeepSeek-R1 §2.3.3"),
  codeScore: f(z.enum(["fraction", "all-or-nothing"]), "fraction", "Task code: reward = share of tests passed (fraction), or 1 only when every test passes (all-or-nothing, R1's rule; stops at the first failure). A response is correct when all pass either way.", "DeepSeek-R1 §2.2.2 (code run against test cases)"),
  codeioMode: f(z.enum(["output", "input", "both"]), "both", "Task codeio: ask for a program's output given its input (output), for an input giving its output (input: runs the program in the sandbox), or both.", "CodeI/O (Li et al. 2025)"),
  unsafeNoSandbox: f(z.boolean(), false, "Tasks code and codeio: run programs WITHOUT the bubblewrap sandbox (rlimits only) — trusted code only. Otherwise the sandbox is required: Debian's bubblewrap (apt-get install bubblewrap), run as root."),
  kkMinPeople: f(z.int().min(2).max(8), 2, "Knights & Knaves: fewest people per puzzle.", "Logic-RL: 2..8"),
  kkMaxPeople: f(z.int().min(2).max(8), 8, "Knights & Knaves: most people per puzzle.", "Logic-RL: 2..8"),
});

export type TaskConfig = z.output<typeof taskSchema>;

export function checkTask(c: TaskConfig): string[] {
  const out: string[] = [];
  if (c.task === "file" && c.data === null) out.push("task = file needs --data FILE (a .jsonl or .parquet file)");
  if (c.task === "code" && c.data === null) out.push("task = code needs --data FILE.jsonl (rows of {prompt, tests | test_code, language?})");
  if (!DATA_TASKS.includes(c.task) && c.data !== null) out.push(`data = ${c.data} is only read by tasks ${DATA_TASKS.join(", ")} (task is '${c.task}')`);
  if (c.kkMinPeople > c.kkMaxPeople) out.push(`kk-min-people (${c.kkMinPeople}) must be ≤ kk-max-people (${c.kkMaxPeople})`);
  return out;
}

export const taskSection = { title: "Task and data", prefix: "", schema: taskSchema, check: checkTask };
