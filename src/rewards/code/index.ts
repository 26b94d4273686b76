/**
 * Code rewards: programs from model responses run in a bubblewrap sandbox (sandbox.ts) against
 * stdin/stdout cases or test code (reward.ts), and CodeI/O output/input prediction (codeio.ts).
 * These rewards are async (they run processes): `(response, reference) → Promise<{score, parts, reason}>`.
 */
export { codeReward, makeCodeReward, withTestCode } from "./reward.js";
export type { CodeReference, CodeRewardOptions, CodeRewardResult, ScoreMode, StdioCase, TestOutcome, Verdict } from "./reward.js";
export { codeioReward, extractAnswer, makeCodeioReward, valuesMatch } from "./codeio.js";
export type { CodeioMode, CodeioOptions, CodeioRecord, CodeioReference, CodeioResult } from "./codeio.js";
export { checkSandbox, DEFAULT_LIMITS, ensureSandbox, defaultConcurrency, runProgram, SandboxPool, SandboxUnavailable } from "./sandbox.js";
export type { Language, RunResult, RunStatus, SandboxLimits, SandboxOptions } from "./sandbox.js";
export { extractCode, normalizeOutput, outputsMatch } from "./extract.js";
export { LANGUAGES, MAX_TEST_CHARS, MAX_TESTS, parseCodeReference, parseLanguage } from "./reference.js";
export { literalEqual, parseLiteral } from "./literal.js";
