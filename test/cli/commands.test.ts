/**
 * `aha eval`, `generate`, `score`, `serve` and `verify` take their flags from the config schema
 * (src/util/config.ts), like `aha train`: --help lists every key with its default; a misspelt flag is
 * exit code 2 naming it and the nearest key; a bad value names the key; a --config FILE.yaml is
 * honoured (end to end, on a tiny byte-level model folder) and the flags override it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { evalSpec } from "../../src/cli/eval.js";
import { generateSpec } from "../../src/cli/generate.js";
import { main } from "../../src/cli/main.js";
import { scoreSpec } from "../../src/cli/score.js";
import { serveSpec, startFromArgs } from "../../src/cli/serve.js";
import { resolveVerifyArgs, verifySpec } from "../../src/cli/verify.js";
import { makeModelFolder } from "../serve/helpers.js";

let folder: ReturnType<typeof makeModelFolder>;
let root: string;
beforeAll(() => {
  folder = makeModelFolder(3);
  root = mkdtempSync(join(tmpdir(), "aha-cli-commands-"));
});
afterAll(() => {
  folder.cleanup();
  rmSync(root, { recursive: true, force: true });
});

async function aha(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  const e = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  try {
    const code = await main(argv);
    return { code, out: o.mock.calls.map((c) => String(c[0])).join(""), err: e.mock.calls.map((c) => String(c[0])).join("") };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

function file(name: string, text: string): string {
  const p = join(root, name);
  writeFileSync(p, text);
  return p;
}

const SPECS = { eval: evalSpec, generate: generateSpec, score: scoreSpec, serve: serveSpec, verify: verifySpec };

/** Per command: a key as --help prints it; a misspelt flag and its suggestion; a bad value and its message. */
const CASES: Record<keyof typeof SPECS, { help: string; typo: [string[], string]; bad: [string[], RegExp] }> = {
  eval: {
    help: "--max-tokens <integer>   (default: 1024)",
    typo: [["--sample", "3"], "samples"],
    bad: [["--top-p", "2"], /--top-p: top-p = 2 is not allowed.*allowed: number > 0, ≤ 1/],
  },
  generate: {
    help: "--seed <integer>   (default: 0)",
    typo: [["--max-new-token", "3"], "max-new-tokens"],
    bad: [["--model", "m", "--prompt", "x", "--temperature", "-1"], /--temperature: temperature = -1 is not allowed.*allowed: number ≥ 0/],
  },
  score: {
    help: "--batch-tokens <integer>   (default: 4096)",
    typo: [["--batch_tokens", "8"], "batch-tokens"],
    bad: [["--model", "m", "--input", "x", "--batch-tokens", "0"], /--batch-tokens: batch-tokens = 0 is not allowed.*integer ≥ 1/],
  },
  serve: {
    help: "--slots <integer>   (default: 32)",
    typo: [["--prot", "0"], "port"],
    bad: [["--model", "m", "--port", "70000"], /--port: port = 70000 is not allowed.*integer ≥ 0, ≤ 65535/],
  },
  verify: {
    help: "--summary   (default: false)",
    typo: [["math", "--lenent"], "lenient"],
    bad: [["code", "--input", "x", "--timeout-ms", "soon"], /--timeout-ms: timeout-ms = soon is not allowed/],
  },
};

describe.each(Object.keys(CASES) as (keyof typeof SPECS)[])("aha %s: flags from the schema", (command) => {
  const c = CASES[command];
  it("--help lists every key, with its default", async () => {
    const r = await aha([command, "--help"]);
    expect(r.code).toBe(0);
    for (const key of SPECS[command].fields.keys()) expect(r.out, key).toContain(`  --${key}`);
    expect(r.out).toContain(c.help);
  });

  it("a misspelt flag: exit code 2, the flag and the nearest key named", async () => {
    const [argv, near] = c.typo;
    const bad = argv.find((a) => a.startsWith("--"))!.slice(2);
    const r = await aha([command, ...argv]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`unknown key '${bad}'; did you mean '${near}'?`);
  });

  it("a bad value names the key and what is allowed", async () => {
    const [argv, msg] = c.bad;
    const r = await aha([command, ...argv]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe("--config FILE.yaml is honoured; flags override it", () => {
  it("generate: max-new-tokens and temperature from the file; --stop repeats, each value whole", async () => {
    const cfg = file("gen.yaml", `model: ${folder.dir}\nmax-new-tokens: 3\ntemperature: 0\nstop:\n  - "a,b"\n`);
    const r = await aha(["generate", "--config", cfg, "--prompt", "Hi"]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/\[3 tokens, .*finish: length\]/);
    const over = await aha(["generate", "--config", cfg, "--prompt", "Hi", "--max-new-tokens", "2"]);
    expect(over.err).toMatch(/\[2 tokens, /);
    const read = (): string => readFileSync(cfg, "utf8");
    expect(generateSpec.fromArgv(["--config", cfg, "--prompt", "x"], read).config.prompt.stop).toEqual(["a,b"]);
    expect(generateSpec.fromArgv(["--model", "m", "--prompt", "x", "--stop", "x,y", "--stop", ","], read).config.prompt.stop).toEqual(["x,y", ","]);
    expect(generateSpec.fromArgv(["--model", "m", "--chat", "x", "--no-thinking"], read).config.prompt.thinking).toBe(false);
  });

  it("score: input, output and batch-tokens from the file", async () => {
    const input = file("score-in.jsonl", JSON.stringify({ prompt: "ab", response: "cd" }) + "\n");
    const output = join(root, "score-out.jsonl");
    const cfg = file("score.yaml", `model: ${folder.dir}\ninput: ${input}\noutput: ${output}\nbatch-tokens: 64\n`);
    const r = await aha(["score", "--config", cfg]);
    expect(r.code).toBe(0);
    const row = JSON.parse(readFileSync(output, "utf8")) as { token_logprobs: number[] };
    expect(row.token_logprobs).toHaveLength(2);
  });

  it("serve: served-model-name and slots from the file, --served-model-name over it", async () => {
    const cfg = file("serve.yaml", `model: ${folder.dir}\nport: 0\nserved-model-name: from-yaml\nslots: 2\n`);
    for (const [extra, name] of [[[], "from-yaml"], [["--served-model-name", "from-flag"], "from-flag"]] as const) {
      const s = (await startFromArgs(["--config", cfg, ...extra]))!;
      try {
        expect(s.api.health().model).toBe(name);
        const res = await fetch(`${s.url}/v1/models`);
        expect(((await res.json()) as { data: { id: string }[] }).data[0]!.id).toBe(name);
      } finally {
        await s.close();
      }
    }
  });

  it("eval: a dataset run set up by the file (questions, samples, max-tokens, out)", async () => {
    const data = file("eval.jsonl", [1, 2, 3].map((i) => JSON.stringify({ question: `What is ${i} + 1?`, answer: String(i + 1) })).join("\n") + "\n");
    const out = join(root, "eval-out");
    const cfg = file("eval.yaml", `model: ${folder.dir}\ndataset: ${data}\nquestions: 2\nsamples: 3\nmax-tokens: 4\nslots: 4\nout: ${out}\n`);
    const r = await aha(["eval", "--config", cfg, "--temperature", "0.5"]);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(0);
    const settings = JSON.parse(readFileSync(join(out, "eval.json"), "utf8")) as Record<string, unknown>;
    expect(settings).toMatchObject({ samples: 3, max_tokens: 4, temperature: 0.5, template: "r1-zero" });
    expect((JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as { questions: number }).questions).toBe(2);
  });

  it("verify: lenient from the file; another kind's key in the file is rejected with file:line", async () => {
    const input = file("verify.jsonl", JSON.stringify({ gold: "7", response: "Answer: 7" }) + "\n");
    const strict = await aha(["verify", "math", "--input", input]);
    expect((JSON.parse(strict.out) as { correct: boolean }).correct).toBe(false);
    const cfg = file("verify.yaml", `input: ${input}\nlenient: true\n`);
    const r = await aha(["verify", "math", "--config", cfg]);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as { correct: boolean }).correct).toBe(true);
    const other = file("verify-code.yaml", `input: ${input}\ntimeout-ms: 100\n`);
    expect(() => resolveVerifyArgs(["math", "--config", other], (p) => readFileSync(p, "utf8"))).toThrow(/verify-code\.yaml:2: timeout-ms does not apply to 'math'/);
  });
});
