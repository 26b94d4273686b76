/**
 * codeReward: run the last fenced code block of a response against test cases in the sandbox.
 *
 * Shape (async, unlike the pure synchronous verifiers): `(response, reference) → Promise<{score, parts,
 * reason}>` via `makeCodeReward(options)`; `codeReward(response, reference, options)` is the same with
 * the options inline. The extra `tests` field lists one outcome per test case.
 */
import { randomBytes } from "node:crypto";
import type { RewardResult } from "../types.js";
import { extractCode, outputsMatch } from "./extract.js";
import { type Language, type RunResult, type RunStatus, SandboxPool, sharedPool, type SandboxOptions } from "./sandbox.js";

export interface StdioCase {
  stdin: string;
  stdout: string;
}

/** What a response is checked against: stdin/stdout cases, or test code appended to the program. */
export interface CodeReference {
  language: Language;
  tests?: readonly StdioCase[];
  /** Assertion-style tests (e.g. `assert f(2) == 4`), run after the program; passes iff exit code 0. */
  testCode?: string;
}

/** "fraction": passed/total (dense signal); "all_or_nothing": 1 only if every test passes (R1's rule). */
export type ScoreMode = "fraction" | "all_or_nothing";

export interface CodeRewardOptions extends SandboxOptions {
  mode?: ScoreMode;
  /** Shared pool (its own options win); one is made per call when absent. */
  pool?: SandboxPool;
  /** Text the prompt already wrote of the response (the r1-zero "<think>"): the program is looked for after the thinking. */
  prefix?: string;
}

/** Per-test verdicts: the run statuses plus the comparison's. */
export type Verdict = "passed" | "wrong_answer" | Exclude<RunStatus, "ok">;

export interface TestOutcome {
  verdict: Verdict;
  detail: string;
  wallMs: number;
  /** The run's sandbox uid (tests check nothing of it survives). */
  uid: number | null;
}

export interface CodeRewardResult extends RewardResult {
  score: number;
  parts: { passed: number; total: number };
  /** "no_code", "passed", or a summary: "2/5 passed; test 3: time_limit (…)". */
  reason: string;
  tests: TestOutcome[];
}

/** Control characters (but tab and newline) and lone surrogates out, for reasons that end up in logs and JSONL. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

/** The first `n` code points of `s` (never half a surrogate pair). */
export function head(s: string, n: number): string {
  return Array.from(s.slice(0, 2 * n)).slice(0, n).join("");
}

function judge(run: RunResult, expected: string | null, completion?: string): TestOutcome {
  const base = { wallMs: run.wallMs, uid: run.uid };
  if (run.status !== "ok") return { verdict: run.status, detail: printable(run.detail), ...base };
  if (completion !== undefined && !run.stdout.split("\n").includes(completion))
    return { verdict: "runtime_error", detail: "exited before the test code ran to its end", ...base };
  if (expected !== null && !outputsMatch(run.stdout, expected)) {
    const got = printable(head(run.stdout, 80).replace(/\n/g, "\\n"));
    return { verdict: "wrong_answer", detail: `got "${got}"`, ...base };
  }
  return { verdict: "passed", detail: "", ...base };
}

function summarize(tests: TestOutcome[], total: number, mode: ScoreMode): CodeRewardResult {
  const passed = tests.filter((t) => t.verdict === "passed").length;
  const score = total === 0 ? 0 : mode === "fraction" ? passed / total : passed === total ? 1 : 0;
  const firstBad = tests.findIndex((t) => t.verdict !== "passed");
  const reason =
    total === 0
      ? "no_tests"
      : firstBad < 0
        ? "passed"
        : `${passed}/${total} passed; test ${firstBad + 1}: ${tests[firstBad]!.verdict}${tests[firstBad]!.detail ? ` (${tests[firstBad]!.detail})` : ""}`;
  return { score, parts: { passed, total }, reason, tests };
}

/** Joins a program and assertion-style test code (a newline between, so a last line without one is fine). */
export function withTestCode(program: string, testCode: string): string {
  return `${program}\n\n${testCode}\n`;
}

/**
 * The line a test-code run prints after its last test, with a random nonce: the run passes only if it
 * exits 0 *and* printed this line. Exit code 0 alone is not proof — a program that calls
 * `sys.exit(0)` / `os._exit(0)` / `process.exit(0)` (or exits 0 from an atexit hook after an
 * assertion failed) never runs the tests. (A program that reads its own source can still learn the
 * nonce: test code in the same process is only as strong as the program lets it be — see the report
 * of test/rewards/code/redteam.test.ts; stdin/stdout cases have no such weakness.)
 */
export function completionLine(nonce: string): string {
  return `AHA-TESTS-COMPLETED-${nonce}`;
}

function withCompletion(source: string, language: Language, nonce: string): string {
  const line = completionLine(nonce);
  return language === "python"
    ? `${source}\nimport sys as _aha_sys\n_aha_sys.stdout.write("\\n${line}\\n")\n_aha_sys.stdout.flush()\n`
    : `${source}\n;process.stdout.write("\\n${line}\\n");\n`;
}

export async function codeReward(response: string, reference: CodeReference, options: CodeRewardOptions = {}): Promise<CodeRewardResult> {
  const mode = options.mode ?? "fraction";
  const program = extractCode(response, reference.language, options.prefix);
  const stdio = reference.tests ?? [];
  const total = stdio.length + (reference.testCode !== undefined ? 1 : 0);
  if (program === null) return { score: 0, parts: { passed: 0, total }, reason: `no_code: no closed \`\`\`${reference.language} block`, tests: [] };
  const pool = options.pool ?? sharedPool(options);
  const jobs: (() => Promise<TestOutcome>)[] = stdio.map(
    (c) => async () => judge(await pool.run({ language: reference.language, source: program, stdin: c.stdin }), c.stdout),
  );
  if (reference.testCode !== undefined) {
    const nonce = randomBytes(16).toString("hex");
    const source = withCompletion(withTestCode(program, reference.testCode), reference.language, nonce);
    jobs.push(async () => judge(await pool.run({ language: reference.language, source }), null, completionLine(nonce)));
  }
  let tests: TestOutcome[];
  if (mode === "all_or_nothing") {
    // In order, stopping at the first failure: the score is 0 whatever the rest do.
    tests = [];
    for (const job of jobs) {
      const t = await job();
      tests.push(t);
      if (t.verdict !== "passed") break;
    }
  } else {
    tests = await Promise.all(jobs.map((j) => j()));
  }
  return summarize(tests, total, mode);
}

/** The generic reward shape, with options bound. */
export function makeCodeReward(options: CodeRewardOptions = {}): (response: string, reference: CodeReference) => Promise<CodeRewardResult> {
  const pool = options.pool ?? sharedPool(options);
  return (response, reference) => codeReward(response, reference, { ...options, pool });
}
