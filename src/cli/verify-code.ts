/**
 * The `code` and `codeio` kinds of `aha verify`: one JSONL line in, the fields to add out.
 *
 *   code:   {response, language: "python"|"javascript" (default python), tests: [{input, output}…] | test_code}
 *           → {score, passed, total, reason, verdicts}   (a --task code data row plus "response": ./reference.ts)
 *   codeio: {code, input, output, mode: "output"|"input", response[, language]}
 *           → {score, reason, answer}
 * Both take an optional "prefix" (the template's prefilled "<think>"): the program / answer is looked
 * for after the thinking only (src/rewards/extract.ts's answerRegion).
 *
 * Options (flags of `aha verify code|codeio`): --unsafe-no-sandbox, --all-or-nothing,
 * --timeout-ms N, --memory-mb N, --concurrency N. Bad lines throw UserError naming file:line.
 */
import { UserError } from "../errors.js";
import { codeioReward } from "../rewards/code/codeio.js";
import { parseCodeReference, parseLanguage } from "../rewards/code/reference.js";
import { codeReward } from "../rewards/code/reward.js";
import { checkSandbox, SandboxPool, type SandboxOptions } from "../rewards/code/sandbox.js";
import { obj, str } from "./verify-lines.js";

export interface CodeVerifyOptions {
  unsafeNoSandbox?: boolean;
  allOrNothing?: boolean;
  timeoutMs?: number;
  memoryMb?: number;
  concurrency?: number;
}

/** node:util parseArgs option specs for these flags (the verify command merges them in). */
export const CODE_VERIFY_FLAGS = {
  "unsafe-no-sandbox": { type: "boolean", description: "run programs WITHOUT bubblewrap (trusted code only)" },
  "all-or-nothing": { type: "boolean", description: "score 1 only if every test passes (default: fraction passed)" },
  "timeout-ms": { type: "string", description: "wall-time limit per program run (default 5000)" },
  "memory-mb": { type: "string", description: "memory limit per program run (default 512)" },
  concurrency: { type: "string", description: "programs run at once (default: cores − 1)" },
} as const;

/** Turns parsed flag values into options (validating numbers). */
export function codeVerifyOptions(flags: Record<string, string | boolean | undefined>): CodeVerifyOptions {
  const num = (name: string): number | undefined => {
    const v = flags[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new UserError(`--${name} must be a positive integer, got '${String(v)}'`);
    return n;
  };
  const o: CodeVerifyOptions = {};
  if (flags["unsafe-no-sandbox"] === true) o.unsafeNoSandbox = true;
  if (flags["all-or-nothing"] === true) o.allOrNothing = true;
  const t = num("timeout-ms");
  if (t !== undefined) o.timeoutMs = t;
  const m = num("memory-mb");
  if (m !== undefined) o.memoryMb = m;
  const c = num("concurrency");
  if (c !== undefined) o.concurrency = c;
  return o;
}

const pools = new WeakMap<CodeVerifyOptions, SandboxPool>();

/** One pool per options object, so the lines of a file share it (and its concurrency limit). */
function poolFor(o: CodeVerifyOptions): SandboxPool {
  let p = pools.get(o);
  if (!p) {
    const s: SandboxOptions = { limits: {} };
    if (o.unsafeNoSandbox) s.unsafeNoSandbox = true;
    if (o.timeoutMs !== undefined) {
      s.limits!.wallMs = o.timeoutMs;
      s.limits!.cpuSeconds = Math.max(1, Math.ceil(o.timeoutMs / 1000));
    }
    if (o.memoryMb !== undefined) s.limits!.memoryBytes = o.memoryMb * 1024 * 1024;
    // Tests nest the per-run cgroups in a capped group of their own (see test/rewards/code/harness.ts).
    const parent = process.env.AHA_CODE_CGROUP_PARENT;
    if (parent) s.cgroupParent = parent;
    checkSandbox(s); // fail once, with the install hint, before any line is read
    p = new SandboxPool(s, o.concurrency);
    pools.set(o, p);
  }
  return p;
}

function prefixOf(o: Record<string, unknown>, where: string): string {
  return o.prefix === undefined ? "" : str(o, "prefix", where);
}

export async function verifyCodeLine(line: unknown, where: string, opts: CodeVerifyOptions = {}): Promise<Record<string, unknown>> {
  const o = obj(line, where);
  const response = str(o, "response", where);
  const reference = parseCodeReference(o, where); // the same shape as a --task code data row
  const r = await codeReward(response, reference, { pool: poolFor(opts), mode: opts.allOrNothing ? "all_or_nothing" : "fraction", prefix: prefixOf(o, where) });
  return { score: r.score, passed: r.parts.passed, total: r.parts.total, reason: r.reason, verdicts: r.tests.map((t) => t.verdict) };
}

export async function verifyCodeioLine(line: unknown, where: string, opts: CodeVerifyOptions = {}): Promise<Record<string, unknown>> {
  const o = obj(line, where);
  const code = str(o, "code", where);
  const response = str(o, "response", where);
  if (!("input" in o) || !("output" in o)) throw new UserError(`${where}: fields "input" and "output" are required`);
  const mode = o.mode ?? "output";
  if (mode !== "output" && mode !== "input") throw new UserError(`${where}: field "mode" must be "output" or "input"`);
  const lang = parseLanguage(o, where);
  const r = await codeioReward(
    response,
    { code, input: o.input, output: o.output, language: lang, mode },
    mode === "input" ? { pool: poolFor(opts), prefix: prefixOf(o, where) } : { prefix: prefixOf(o, where) },
  );
  return { score: r.score, reason: r.reason, answer: r.answer };
}
