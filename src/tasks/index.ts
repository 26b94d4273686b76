/** Tasks: build one from its config (`makeTask`), draw prompts (`PromptStream`), render them (templates). */
import { arithmeticTask } from "./arithmetic.js";
import { codeTask } from "./code.js";
import { codeioTask } from "./codeio.js";
import type { TaskConfig, TaskName } from "./config.js";
import { fileTask } from "./file.js";
import { countdownTask, kkTask } from "./generated.js";
import { multiplyTask } from "./multiply.js";
import type { TemplateName } from "./templates.js";
import type { Task } from "./types.js";

export type { Problem, ProblemSource, Scored, ScoreContext, Task } from "./types.js";
export { PromptStream, type StreamState } from "./stream.js";
export { renderPrompt, R1_ZERO_TEMPLATE, TEMPLATES, type ChatRenderer, type Rendered, type TemplateName } from "./templates.js";
export { taskSection, type TaskConfig } from "./config.js";
export { generateCountdown } from "./countdown-gen.js";
export { generateKK } from "./kk-gen.js";

const MAKERS: Record<TaskName, (c: TaskConfig, seed: number, o: MakeTaskOptions) => Task<never> | Promise<Task<never>>> = {
  arithmetic: (c, seed) => arithmeticTask({ seed, heldOutPermille: c.heldOutPermille }) as Task<never>,
  countdown: (c, seed) => countdownTask({ seed, heldOutPermille: c.heldOutPermille }) as Task<never>,
  kk: (c, seed) => kkTask({ seed, heldOutPermille: c.heldOutPermille, gen: { minPeople: c.kkMinPeople, maxPeople: c.kkMaxPeople } }) as Task<never>,
  file: (c, _seed, o) => fileTask({ file: c.data!, questionField: c.questionField, answerField: c.answerField, heldOutPermille: c.heldOutPermille, ...(o.optionalAnswer ? { optionalAnswer: true } : {}) }) as Promise<Task<never>>,
  code: (c) => codeTask({ file: c.data!, heldOutPermille: c.heldOutPermille, scoreMode: c.codeScore === "all-or-nothing" ? "all_or_nothing" : "fraction", sandbox: sandboxOptions(c) }) as Promise<Task<never>>,
  multiply: (c, seed) => multiplyTask({ seed, heldOutPermille: c.heldOutPermille }) as Task<never>,
  codeio: (c, seed) => codeioTask({ seed, heldOutPermille: c.heldOutPermille, mode: c.codeioMode, file: c.data, sandbox: sandboxOptions(c) }) as Promise<Task<never>>,
};

/** The sandbox settings of the code tasks (the process-wide pool for them runs every program). */
function sandboxOptions(c: TaskConfig): { unsafeNoSandbox?: true } {
  return c.unsafeNoSandbox ? { unsafeNoSandbox: true } : {};
}

export interface MakeTaskOptions {
  /** Task file: rows without the answer field get reference null instead of an error (aha sample without filter-correct). */
  optionalAnswer?: boolean;
}

export async function makeTask(c: TaskConfig, seed: number, o: MakeTaskOptions = {}): Promise<Task<unknown>> {
  return (await MAKERS[c.task](c, seed, o)) as Task<unknown>;
}

export function resolveTemplate(c: TaskConfig, task: Task<unknown>): TemplateName {
  return c.template === "auto" ? task.defaultTemplate : c.template;
}
