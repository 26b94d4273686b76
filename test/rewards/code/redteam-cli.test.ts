/* eslint-disable no-control-regex -- these tests look for control characters on purpose */
// End to end: `aha verify code --input fixtures/code/redteam.jsonl` (fixtures/code/make-redteam.mjs)
// scores correct programs 1 and hostile ones 0, writes valid JSONL, and leaves nothing behind. The
// per-run cgroups nest in the test's own capped group (AHA_CODE_CGROUP_PARENT).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../../src/cli/verify.js";
import { alive, leftoverCgroups, openTestGroup, sandboxProcesses, type TestGroup } from "./harness.js";

const FIXTURE = join(import.meta.dirname, "../../../fixtures/code/redteam.jsonl");
let group: TestGroup;
beforeAll(() => {
  group = openTestGroup("redteam-cli");
  if (group.options.cgroupParent) process.env.AHA_CODE_CGROUP_PARENT = group.options.cgroupParent;
});
afterAll(() => {
  delete process.env.AHA_CODE_CGROUP_PARENT;
  group.close();
});

/** Runs the command in this process, returning what it wrote to stdout. */
async function verify(argv: string[]): Promise<{ code: number; stdout: string }> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((c: string | Uint8Array) => {
    chunks.push(typeof c === "string" ? c : Buffer.from(c).toString("utf8"));
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await run(argv);
    return { code, stdout: chunks.join("") };
  } finally {
    process.stdout.write = write;
  }
}

describe("aha verify code on the red-team fixture", () => {
  it("scores hostile lines 0 and correct ones 1, with valid JSONL out and no trace left", async () => {
    const input = readFileSync(FIXTURE, "utf8").trim().split("\n");
    const { code, stdout } = await verify(["code", "--input", FIXTURE, "--timeout-ms", "2000", "--memory-mb", "256", "--concurrency", "2"]);
    expect(code).toBe(0);
    const out = stdout.trimEnd().split("\n");
    expect(out).toHaveLength(input.length);
    out.forEach((line, i) => {
      expect(line).not.toMatch(/[\u0000-\u001f]/); // one line each: control characters escaped
      const o = JSON.parse(line) as { id: string; expect: number; score: number; reason: string; total: number };
      const inp = JSON.parse(input[i]!) as { id: string };
      expect(o.id).toBe(inp.id);
      expect(o.score, `line ${i + 1} (${o.id}): ${o.reason}`).toBe(o.expect);
      expect(o.reason).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
      if (o.expect === 0) expect(o.reason).not.toBe("passed");
    });
    // No sandbox process left in our group (a process cannot leave its cgroup; other test files' runs
    // may be live in theirs at the same time).
    const ours = sandboxProcesses().filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cgroup`, "utf8").includes(group.options.cgroupParent ?? "aha-");
      } catch {
        return false;
      }
    });
    expect(ours).toEqual([]);
    expect(leftoverCgroups()).toEqual([]);
    expect(alive(process.pid)).toBe(true);
  });
});
