/**
 * The JSON shape of a programming problem's tests, shared by `--task code` data files
 * (src/tasks/code.ts) and `aha verify code` lines (./verify.ts):
 *
 *   {"language": "python" | "javascript" (default python),
 *    "tests": [{"input": "...", "output": "..."}, …]      stdin → expected stdout ("stdin"/"stdout" also read)
 *    | "test_code": "assert f(2) == 4\n…"}                  assertions run after the program
 *
 * Exactly one of `tests` / `test_code`. Bounded: at most MAX_TESTS cases, each text at most
 * MAX_TEST_CHARS. Errors are UserErrors naming `where` (file:line) and the field.
 */
import { UserError } from "../../errors.js";
import type { CodeReference, StdioCase } from "./reward.js";
import type { Language } from "./sandbox.js";

/** Most stdin/stdout cases per problem (each is one sandboxed run per response). */
export const MAX_TESTS = 256;
/** Longest stdin, expected stdout or test code (characters); the sandbox caps stdout at 1 MiB anyway. */
export const MAX_TEST_CHARS = 1 << 20;

export const LANGUAGES: readonly Language[] = ["python", "javascript"];

function text(v: unknown, field: string, where: string): string {
  if (typeof v !== "string") throw new UserError(`${where}: field "${field}" must be a string, got ${v === undefined ? "nothing" : JSON.stringify(v).slice(0, 40)}`);
  if (v.length > MAX_TEST_CHARS) throw new UserError(`${where}: field "${field}" is longer than ${MAX_TEST_CHARS} characters`);
  return v;
}

/** The language field (default python). */
export function parseLanguage(o: Record<string, unknown>, where: string): Language {
  const l = o.language ?? "python";
  if (!(LANGUAGES as readonly unknown[]).includes(l))
    throw new UserError(`${where}: field "language" must be "python" or "javascript", got ${JSON.stringify(l)}`);
  return l as Language;
}

/** One row's language and tests (the other fields of the row are the caller's). */
export function parseCodeReference(o: Record<string, unknown>, where: string): CodeReference {
  const language = parseLanguage(o, where);
  const hasTests = o.tests !== undefined && o.tests !== null;
  const hasCode = o.test_code !== undefined && o.test_code !== null;
  if (hasTests && hasCode) throw new UserError(`${where}: give either "tests" or "test_code", not both`);
  if (!hasTests && !hasCode) throw new UserError(`${where}: give "tests" (a list of {"input", "output"}) or "test_code" (assertions)`);
  if (hasCode) {
    const testCode = text(o.test_code, "test_code", where);
    if (testCode.trim() === "") throw new UserError(`${where}: field "test_code" is empty`);
    return { language, testCode };
  }
  if (!Array.isArray(o.tests)) throw new UserError(`${where}: field "tests" must be a list of {"input", "output"}`);
  if (o.tests.length === 0) throw new UserError(`${where}: field "tests" is an empty list`);
  if (o.tests.length > MAX_TESTS) throw new UserError(`${where}: field "tests" has ${o.tests.length} cases; at most ${MAX_TESTS}`);
  const tests: StdioCase[] = o.tests.map((t: unknown, i) => {
    const at = `tests[${i}]`;
    if (typeof t !== "object" || t === null || Array.isArray(t)) throw new UserError(`${where}: field "${at}" must be an object {"input", "output"}`);
    const c = t as Record<string, unknown>;
    const inKey = "input" in c ? "input" : "stdin" in c ? "stdin" : "input";
    const outKey = "output" in c ? "output" : "stdout" in c ? "stdout" : "output";
    return { stdin: text(c[inKey], `${at}.${inKey}`, where), stdout: text(c[outKey], `${at}.${outKey}`, where) };
  });
  return { language, tests };
}
