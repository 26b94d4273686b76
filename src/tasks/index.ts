/** Tasks: build one from its config (`makeTask`), draw prompts (`PromptStream`), render them (templates). */
import { arithmeticTask } from "./arithmetic.js";
import type { TaskConfig, TaskName } from "./config.js";
import { fileTask } from "./file.js";
import { countdownTask, kkTask } from "./generated.js";
import type { TemplateName } from "./templates.js";
import type { Task } from "./types.js";

export type { Problem, ProblemSource, Scored, ScoreContext, Task } from "./types.js";
export { PromptStream, type StreamState } from "./stream.js";
export { renderPrompt, R1_ZERO_TEMPLATE, TEMPLATES, type ChatRenderer, type Rendered, type TemplateName } from "./templates.js";
export { taskSection, type TaskConfig } from "./config.js";
export { generateCountdown } from "./countdown-gen.js";
export { generateKK } from "./kk-gen.js";

const MAKERS: Record<TaskName, (c: TaskConfig, seed: number) => Task<never> | Promise<Task<never>>> = {
  arithmetic: (c, seed) => arithmeticTask({ seed, heldOutPermille: c.heldOutPermille }) as Task<never>,
  countdown: (c, seed) => countdownTask({ seed, heldOutPermille: c.heldOutPermille }) as Task<never>,
  kk: (c, seed) => kkTask({ seed, heldOutPermille: c.heldOutPermille, gen: { minPeople: c.kkMinPeople, maxPeople: c.kkMaxPeople } }) as Task<never>,
  file: (c) => fileTask({ file: c.data!, questionField: c.questionField, answerField: c.answerField, heldOutPermille: c.heldOutPermille }) as Promise<Task<never>>,
};

export async function makeTask(c: TaskConfig, seed: number): Promise<Task<unknown>> {
  return (await MAKERS[c.task](c, seed)) as Task<unknown>;
}

export function resolveTemplate(c: TaskConfig, task: Task<unknown>): TemplateName {
  return c.template === "auto" ? task.defaultTemplate : c.template;
}
