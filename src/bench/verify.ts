/**
 * `aha bench verify`: math verifications per second on one core over a mixed set (integers,
 * fractions, decimals, percentages, radicals, symbolic expressions, equations, intervals, tuples,
 * matrices, text, no-answer responses; right and wrong answers), next to a plain sympy grader run on
 * the same cases (scripts/peer_verify.py, Debian's python3-sympy) and Math-Verify's recorded figure.
 * Also Countdown and K&K scorings per second (no peer).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchContext, BenchRow, BenchSuite } from "./types.js";
import { scoreCountdown } from "../rewards/countdown.js";
import { scoreKK } from "../rewards/kk.js";
import { clearGoldCache, verifyMath } from "../rewards/math/index.js";
import { generateCountdown } from "../tasks/countdown-gen.js";
import { generateKK } from "../tasks/kk-gen.js";

/** Math-Verify on one core over 347 mixed cases (shared/MEASUREMENTS.md, "The peer verifier"). */
const MATH_VERIFY_RECORDED = "150-183/s (Math-Verify, 1 core, 347 mixed cases; MEASUREMENTS.md)";

/** [gold, final answer] pairs; the bench wraps each in a response with some reasoning text. */
const PAIRS: [string, string][] = [
  ["7", "7"], ["7", "8"], ["1000", "1,000"], ["\\frac{1}{2}", "0.5"], ["\\frac{1}{2}", "\\frac12"],
  ["\\frac{14}{3}", "4\\frac{2}{3}"], ["-5", "-5"], ["0.25", "\\frac{1}{4}"], ["20\\%", "0.2"], ["20", "0.2"],
  ["2\\sqrt{2}", "\\sqrt{8}"], ["3\\sqrt{13}", "\\sqrt{117}"], ["\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"],
  ["\\frac{\\pi}{2}", "\\frac{3\\pi}{6}"], ["\\pi", "3.14"], ["2x+2", "2(x+1)"], ["x^2-1", "(x-1)(x+1)"],
  ["\\tan^2(y)+1", "\\sec^2(y)"], ["y=2x+1", "2x-y+1=0"], ["x=3", "3"], ["x \\ge 5", "[5,\\infty)"],
  ["x \\ge 5", "x \\le 5"], ["[0,1)", "[0,1]"], ["(-\\infty,-3] \\cup [2,\\infty)", "[2,\\infty) \\cup (-\\infty,-3]"],
  ["(1,2,3)", "(3,2,1)"], ["\\{1,2,3\\}", "\\{3,2,1\\}"], ["1, 2", "2, 1"], ["1 \\pm \\sqrt{2}", "1+\\sqrt{2}, 1-\\sqrt{2}"],
  ["\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}"], ["\\text{(C)}", "C"],
  ["\\text{Evelyn}", "\\text{Evelyn}"], ["15", "15\\mbox{ cm}^2"], ["30^\\circ", "30"], ["1500", "1.5\\times 10^{3}"],
  ["\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}"], ["12000023", "12,\\!000,\\!023"], ["\\frac{3}{56}", "\\frac{6}{112}"],
  ["\\frac{1}{3}", "0.333"], ["5", "NONE"], ["\\sqrt{2}-1", "\\frac{1}{1+\\sqrt{2}}"],
];

const REASONING =
  "Let me think step by step. First we set up the equation and simplify both sides carefully, " +
  "checking each term. Then we substitute back to verify the result is consistent with the constraints. ";

/** The mixed set: each pair as a boxed answer inside an R1-style response; "NONE" = no answer at all. */
export function mathBenchCases(): { gold: string; response: string }[] {
  return PAIRS.map(([gold, ans]) => ({
    gold,
    response: `<think>${REASONING.repeat(3)}</think> <answer>${ans === "NONE" ? "I am not sure." : `The answer is $\\boxed{${ans}}$.`}</answer>`,
  }));
}

/** Calls `f` over `items` repeatedly for about `ms`; returns calls per second. */
function rate<T>(items: T[], ms: number, f: (x: T) => unknown): number {
  // warm-up (JIT tiers, gold cache): run for half the measuring time first
  const w0 = performance.now();
  while (performance.now() - w0 < ms / 2) for (const x of items) f(x);
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (const x of items) f(x);
    n += items.length;
    t = performance.now();
  }
  return n / ((t - t0) / 1000);
}

function runPeer(ctx: BenchContext, cases: { gold: string; response: string }[], seconds: number): { perS: number; agree: number } | null {
  const dir = mkdtempSync(join(tmpdir(), "aha-verify-bench-"));
  try {
    const file = join(dir, "cases.json");
    writeFileSync(file, JSON.stringify(cases));
    const out = join(dir, "out.json");
    const r = spawnSync("/usr/bin/python3", ["scripts/peer_verify.py", "--cases", file, "--seconds", String(seconds), "--out", out], {
      encoding: "utf8",
      timeout: 120_000,
    });
    if (r.status !== 0) {
      ctx.note(`peer_verify.py failed: ${(r.stderr || r.error?.message || "").slice(0, 200)}`);
      return null;
    }
    const res = JSON.parse(readFileSync(out, "utf8")) as { per_s: number; verdicts: boolean[] };
    const ours = cases.map((c) => verifyMath(c.response, c.gold).correct);
    const agree = ours.filter((v, i) => v === res.verdicts[i]).length / cases.length;
    return { perS: res.per_s, agree };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const verifySuite: BenchSuite = {
  summary: "verifiers: math verifications/s on one core (mixed set) vs a sympy grader; Countdown and K&K scorings/s",
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const ms = ctx.quick ? 300 : 3000;
    const cases = mathBenchCases();
    ctx.log(`verify: math, ${cases.length} mixed cases`);
    const ours = rate(cases, ms, (c) => verifyMath(c.response, c.gold));
    // cold: every gold parsed afresh (no cache hit), the worst case for a trainer
    const cold = rate(cases, ms, (c) => {
      clearGoldCache();
      return verifyMath(c.response, c.gold);
    });
    let peer: { perS: number; agree: number } | null = null;
    if (ctx.peer) {
      ctx.log("verify: peer (scripts/peer_verify.py, sympy)");
      peer = runPeer(ctx, cases, ctx.quick ? 1 : 5);
    }
    const rows: BenchRow[] = [
      {
        what: "verify",
        case: `math mixed (${cases.length})`,
        dtype: "-",
        aha: ours,
        peer: peer ? peer.perS : null,
        unit: "verifications/s/core",
        cold_gold: cold,
        recorded_peer: MATH_VERIFY_RECORDED,
        agreement_with_peer: peer ? peer.agree : null,
      },
    ];
    const cd = generateCountdown(1, 200).map((c) => ({ ...c, response: `<think>try</think><answer>${c.solution}</answer>` }));
    rows.push({ what: "verify", case: "countdown", dtype: "-", aha: rate(cd, ms, (c) => scoreCountdown(c.response, c)), peer: null, unit: "scorings/s/core" });
    const kk = generateKK(1, 50).map((p) => ({ ...p, response: `<think>…</think><answer>${p.solution_text}</answer>` }));
    rows.push({ what: "verify", case: "kk", dtype: "-", aha: rate(kk, ms, (p) => scoreKK(p.response, p)), peer: null, unit: "scorings/s/core" });
    return rows;
  },
};
