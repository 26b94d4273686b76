// codeReward end to end in the sandbox: correct, wrong, and failing programs; both score modes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkSandbox, findTools, runProgram, SandboxUnavailable } from "../../../src/rewards/code/sandbox.js";
import { codeReward } from "../../../src/rewards/code/reward.js";
import { openTestGroup, TEST_LIMITS, type TestGroup } from "./harness.js";

let group: TestGroup;
beforeAll(() => {
  group = openTestGroup("reward");
});
afterAll(() => group.close());

const fence = (lang: string, code: string): string => `Let me think.\n\n\`\`\`${lang}\n${code}\n\`\`\`\n`;
const SUM_TESTS = [
  { stdin: "1 2\n", stdout: "3\n" },
  { stdin: "10 -4\n", stdout: "6" },
  { stdin: "0 0\n", stdout: "0\n" },
];

describe("codeReward", () => {
  it("a correct Python program passes every stdin/stdout case", async () => {
    const r = await codeReward(fence("python", "a, b = map(int, input().split())\nprint(a + b)"), { language: "python", tests: SUM_TESTS }, group.options);
    expect(r).toMatchObject({ score: 1, parts: { passed: 3, total: 3 }, reason: "passed" });
  });

  it("a correct JavaScript program passes too", async () => {
    const js = "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b);";
    const r = await codeReward(fence("javascript", js), { language: "javascript", tests: SUM_TESTS }, group.options);
    expect(r.score).toBe(1);
  });

  it("a partly wrong program scores the fraction passed, or 0 when all-or-nothing", async () => {
    const wrong = fence("python", "a, b = map(int, input().split())\nprint(abs(a + b))"); // wrong only when a + b < 0
    const tests = [...SUM_TESTS, { stdin: "-5 1\n", stdout: "-4\n" }];
    const frac = await codeReward(wrong, { language: "python", tests }, group.options);
    expect(frac.score).toBe(3 / 4);
    expect(frac.tests.map((t) => t.verdict)).toEqual(["passed", "passed", "passed", "wrong_answer"]);
    expect(frac.reason).toMatch(/^3\/4 passed; test 4: wrong_answer/);
    const all = await codeReward(wrong, { language: "python", tests }, { ...group.options, mode: "all_or_nothing" });
    expect(all.score).toBe(0);
  });

  it("all-or-nothing stops at the first failure", async () => {
    const r = await codeReward(fence("python", "print(1/0)"), { language: "python", tests: SUM_TESTS }, { ...group.options, mode: "all_or_nothing" });
    expect(r.tests.length).toBe(1);
    expect(r.tests[0]!.verdict).toBe("runtime_error");
    expect(r.parts.total).toBe(3);
  });

  it("assertion-style test code is appended to the program", async () => {
    const prog = fence("python", "def sq(x):\n    return x * x");
    expect((await codeReward(prog, { language: "python", testCode: "assert sq(3) == 9\nassert sq(-2) == 4" }, group.options)).score).toBe(1);
    const bad = await codeReward(prog, { language: "python", testCode: "assert sq(3) == 10" }, group.options);
    expect(bad.score).toBe(0);
    expect(bad.tests[0]!.verdict).toBe("runtime_error");
    const js = fence("js", "function sq(x) { return x * x }");
    expect((await codeReward(js, { language: "javascript", testCode: "const assert = require('assert');\nassert.strictEqual(sq(4), 16);" }, group.options)).score).toBe(1);
  });

  it("no code block scores 0 with the reason", async () => {
    const r = await codeReward("The answer is print(3).", { language: "python", tests: SUM_TESTS }, group.options);
    expect(r.score).toBe(0);
    expect(r.reason).toMatch(/^no_code/);
    const wrongLang = await codeReward(fence("javascript", "console.log(3)"), { language: "python", tests: SUM_TESTS }, group.options);
    expect(wrongLang.reason).toMatch(/^no_code/);
  });

  it("a syntax error is a runtime error; stdin is fed to the program", async () => {
    const r = await codeReward(fence("python", "print(("), { language: "python", tests: SUM_TESTS.slice(0, 1) }, group.options);
    expect(r.tests[0]!.verdict).toBe("runtime_error");
    const echo = await codeReward(fence("python", "import sys\nsys.stdout.write(sys.stdin.read())"), { language: "python", tests: [{ stdin: "x\n".repeat(100_000), stdout: "x\n".repeat(100_000) }] }, { ...group.options, limits: { ...TEST_LIMITS, maxOutputBytes: 1 << 20 } });
    expect(echo.score).toBe(1);
  });

  it("ordinary programs that use processes and threads still work inside the limits", async () => {
    const mp = fence("python", "from multiprocessing import Pool\nwith Pool(3) as p:\n    print(sum(p.map(abs, [-1, -2, -3])))");
    expect((await codeReward(mp, { language: "python", tests: [{ stdin: "", stdout: "6" }] }, group.options)).reason).toBe("passed");
    const js = fence("js", "const { execFileSync } = require('child_process');\nconsole.log(execFileSync('/bin/echo', ['hi']).toString().trim());");
    expect((await codeReward(js, { language: "javascript", tests: [{ stdin: "", stdout: "hi" }] }, group.options)).reason).toBe("passed");
  });
});

describe("sandbox availability", () => {
  it("refuses to run without bubblewrap, naming the package, unless unsafeNoSandbox is given", () => {
    const noBwrap = { ...findTools(), bwrap: null };
    expect(() => checkSandbox({}, noBwrap)).toThrow(SandboxUnavailable);
    expect(() => checkSandbox({}, noBwrap)).toThrow(/apt-get install bubblewrap/); // in the message itself (aha verify prints only that)
    try {
      checkSandbox({}, noBwrap);
    } catch (e) {
      expect((e as SandboxUnavailable).hint).toMatch(/apt-get install bubblewrap/);
      expect((e as SandboxUnavailable).hint).toMatch(/--unsafe-no-sandbox/);
    }
    expect(() => checkSandbox({ unsafeNoSandbox: true }, noBwrap)).not.toThrow();
  });

  it("refuses to run when bubblewrap cannot set up the sandbox (self-test), instead of scoring everything 0", async () => {
    // An environment variable name bwrap rejects makes its setup fail, as a restricted container would.
    const broken = { ...group.options, env: { "BAD=NAME": "x" } };
    await expect(runProgram({ language: "python", source: "print(1)" }, broken)).rejects.toThrow(/sandbox does not work here.*bwrap/);
    expect((await runProgram({ language: "python", source: "print(1)" }, group.options)).stdout).toBe("1\n");
  });

  it("the unsafe path (trusted code only) still scrubs the environment and removes its directory", async () => {
    process.env.SECRET_TOKEN = "s3cret";
    try {
      const r = await codeReward(fence("python", "import os\nprint(os.environ.get('SECRET_TOKEN', 'none'), os.getcwd().startswith('/tmp/aha-code-'), os.getuid() != 0)"), { language: "python", tests: [{ stdin: "", stdout: "none True True" }] }, { ...group.options, unsafeNoSandbox: true });
      expect(r.score).toBe(1);
    } finally {
      delete process.env.SECRET_TOKEN;
    }
  });
});
