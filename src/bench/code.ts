/**
 * `aha bench code`: programs per second through the sandbox, for a trivial program and for a typical
 * test-case run (a program sorting 2,000 numbers read from stdin, checked against its expected output),
 * at concurrency 1 and 2; the "peer" column is the same program as a bare child process (no bwrap,
 * setpriv, prlimit or cgroup), so aha/peer is the sandbox's cost and `overhead_ms` its per-run latency.
 */
import { spawn } from "node:child_process";
import type { BenchContext, BenchRow, BenchSuite } from "./types.js";
import { codeReward } from "../rewards/code/reward.js";
import { findTools, type Language, runProgram, SandboxPool } from "../rewards/code/sandbox.js";

const TRIVIAL: Record<Language, string> = { python: "print(1)\n", javascript: "console.log(1)\n" };

const SORT_PROGRAM = "import sys\nxs = sorted(map(int, sys.stdin.read().split()))\nprint(' '.join(map(str, xs)))\n";

/** Deterministic test cases for the typical run (an LCG; the content does not matter, the size does). */
function sortCases(n: number): { stdin: string; stdout: string }[] {
  let s = 12345;
  return Array.from({ length: n }, () => {
    const xs = Array.from({ length: 2000 }, () => (s = (s * 1103515245 + 12345) % 2 ** 31) % 100000);
    return { stdin: xs.join(" ") + "\n", stdout: [...xs].sort((a, b) => a - b).join(" ") + "\n" };
  });
}

/** Runs `job` `total` times with `concurrency` in flight; returns jobs per second. */
async function rate(total: number, concurrency: number, job: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) await job();
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

/** The same program as a bare child process: interpreter + stdin + stdout, nothing else. */
function bare(language: Language, source: string, stdin = ""): Promise<void> {
  const t = findTools();
  const argv = language === "python" ? [t.python!, "-I", "-B", "-c", source] : [t.node, "-e", source];
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "ignore"], env: { PATH: "/usr/bin:/bin" } });
    c.stdout!.resume();
    c.stdin!.on("error", () => {});
    c.stdin!.end(stdin);
    c.on("error", reject);
    c.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`bare ${language} exited ${code}`))));
  });
}

export const codeSuite: BenchSuite = {
  summary: "code sandbox: programs/s (trivial and test-case runs) at concurrency 1 and 2, vs a bare child process",
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    const n = ctx.quick ? 8 : 60;
    // Warm-up (page cache, cgroup probe).
    await runProgram({ language: "python", source: TRIVIAL.python });
    for (const language of ["python", "javascript"] as const) {
      for (const c of [1, 2]) {
        ctx.log(`code: trivial ${language}, concurrency ${c}`);
        const boxed = await rate(n, c, async () => {
          const r = await runProgram({ language, source: TRIVIAL[language] });
          if (r.status !== "ok") throw new Error(`sandboxed trivial ${language} failed: ${r.detail}`);
        });
        const plain = await rate(n, c, () => bare(language, TRIVIAL[language]));
        rows.push({
          what: "code",
          case: `trivial ${language} c=${c}`,
          dtype: "-",
          aha: boxed,
          peer: plain,
          unit: "programs/s",
          overhead_ms: (1000 / boxed - 1000 / plain) * c,
        });
      }
    }
    const cases = sortCases(10);
    const response = "```python\n" + SORT_PROGRAM + "```\n";
    for (const c of [1, 2]) {
      ctx.log(`code: typical test-case run (10 cases, sorting 2000 ints), concurrency ${c}`);
      const pool = new SandboxPool({}, c);
      const rounds = ctx.quick ? 1 : 4;
      const boxed = await rate(rounds, 1, async () => {
        const r = await codeReward(response, { language: "python", tests: cases }, { pool });
        if (r.score !== 1) throw new Error(`typical run failed: ${r.reason}`);
      });
      let i = 0;
      const plain = await rate(rounds * cases.length, c, () => bare("python", SORT_PROGRAM, cases[i++ % cases.length]!.stdin));
      rows.push({
        what: "code",
        case: `10 test cases python c=${c}`,
        dtype: "-",
        aha: boxed * cases.length,
        peer: plain,
        unit: "test runs/s",
        overhead_ms: (1000 / (boxed * cases.length) - 1000 / plain) * c,
      });
    }
    ctx.note("code: peer = the same program as a bare child process (no sandbox); overhead_ms = extra latency per program");
    return rows;
  },
};
