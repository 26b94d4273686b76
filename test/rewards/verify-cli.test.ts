/** `aha verify`: JSONL in, each line echoed with the result added; bad lines named on stderr, exit 1 at the end. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.js";

async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    const code = await main(args);
    return { code, out: out.mock.calls.map((c) => String(c[0])).join(""), err: err.mock.calls.map((c) => String(c[0])).join("") };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function file(lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "aha-verify-"));
  dirs.push(dir);
  const p = join(dir, "in.jsonl");
  writeFileSync(p, lines.join("\n") + "\n");
  return p;
}

describe("aha verify", () => {
  it("math: adds correct, extracted, reason to each line, in order", async () => {
    const p = file([
      JSON.stringify({ id: 1, gold: "\\frac12", response: "so \\boxed{0.5}" }),
      JSON.stringify({ id: 2, gold: "20", response: "\\boxed{0.2}" }),
      JSON.stringify({ id: 3, gold: "7", response: "Answer: 7" }),
    ]);
    const r = await runCli(["verify", "math", "--input", p, "--summary"]);
    expect(r.code).toBe(0);
    const rows = r.out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toEqual([
      { id: 1, gold: "\\frac12", response: "so \\boxed{0.5}", correct: true, extracted: "0.5", reason: "correct" },
      { id: 2, gold: "20", response: "\\boxed{0.2}", correct: false, extracted: "0.2", reason: "wrong" },
      { id: 3, gold: "7", response: "Answer: 7", correct: false, extracted: null, reason: "no answer" },
    ]);
    expect(r.err).toContain("correct: 1/3");
  });

  it("a malformed line is named on stderr, the rest are scored, exit code 1", async () => {
    const p = file([
      JSON.stringify({ gold: "1", response: "\\boxed{1}" }),
      "{not json",
      JSON.stringify({ gold: 1, response: "\\boxed{1}" }),
      JSON.stringify({ response: "\\boxed{1}" }),
      JSON.stringify({ gold: "2", response: "\\boxed{2}" }),
    ]);
    const r = await runCli(["verify", "math", "--input", p]);
    expect(r.code).toBe(1);
    expect(r.out.trim().split("\n")).toHaveLength(3);
    expect(r.err).toMatch(/in\.jsonl:2: not valid JSON/);
    expect(r.err).toMatch(/in\.jsonl:4: field "gold" must be a string/);
  });

  it("countdown: adds score (TinyZero's 0 / 0.1 / 1)", async () => {
    const p = file([
      JSON.stringify({ numbers: [1, 2, 3], target: 6, response: "<answer>1+2+3</answer>" }),
      JSON.stringify({ numbers: [1, 2, 3], target: 6, response: "<answer>1+2*3</answer>" }),
      JSON.stringify({ numbers: [1, 2, 3], target: 6, response: "no tags" }),
    ]);
    const r = await runCli(["verify", "countdown", "--input", p, "--summary"]);
    expect(r.code).toBe(0);
    expect(r.out.trim().split("\n").map((l) => (JSON.parse(l) as { score: number }).score)).toEqual([1, 0.1, 0]);
    expect(r.err).toContain("0×1");
  });

  it("kk: adds score from the generator's fields", async () => {
    const p = file([JSON.stringify({ names: ["Zoey", "Oliver"], solution: [true, false], response: "<think>x</think><answer>Zoey is a knight, Oliver is a knave</answer>" })]);
    const r = await runCli(["verify", "kk", "--input", p]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out) as { score: number }).toMatchObject({ score: 3, format: 1, answer: 2 });
  });

  it("rejects an unknown kind, a missing --input and a flag of another kind", async () => {
    expect((await runCli(["verify", "chess", "--input", "x"])).err).toContain("unknown kind 'chess'");
    expect((await runCli(["verify", "math"])).err).toContain("--input FILE.jsonl is required");
    const p = file([]);
    expect((await runCli(["verify", "countdown", "--input", p, "--lenient"])).err).toContain("--lenient does not apply to 'countdown'");
  });

  it("--help lists the kinds", async () => {
    const r = await runCli(["verify", "--help"]);
    expect(r.code).toBe(0);
    for (const k of ["math", "countdown", "kk", "code", "codeio"]) expect(r.out).toContain(`  ${k}`);
  });
});
