/**
 * docs/library.md's GRPO snippet runs as written against the public entry (src/index.ts), with fewer
 * steps and held-out problems and a temporary run directory: it must stay at most 20 lines, import only
 * from "aha", train, evaluate and write summary.json.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const doc = fs.readFileSync(path.join(root, "docs/library.md"), "utf8");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "aha-library-doc-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The ```ts block after the library-snippet marker. */
function snippet(): string {
  const at = doc.indexOf("<!-- library-snippet");
  expect(at, "docs/library.md has the library-snippet marker").toBeGreaterThan(0);
  const m = /```ts\n([\s\S]*?)```/.exec(doc.slice(at));
  expect(m, "a ```ts block follows the marker").not.toBeNull();
  return m![1]!;
}

describe("docs/library.md", () => {
  it("the GRPO snippet is at most 20 lines against the public entry", () => {
    const code = snippet();
    expect(code.trimEnd().split("\n").length).toBeLessThanOrEqual(20);
    const imports = [...code.matchAll(/from "([^"]+)"/g)].map((m) => m[1]);
    expect(imports).toEqual(["aha"]);
  });

  it("runs: a few GRPO steps on the demo model, evaluated before and after", async () => {
    let code = snippet();
    const set = (key: RegExp, value: string): void => {
      expect(code, `the snippet sets ${key}`).toMatch(key);
      code = code.replace(key, value);
    };
    set(/steps: \d+,/, "steps: 2,");
    set(/"held-out": \d+,/, `"held-out": 6,`);
    set(/"run-dir": "[^"]*",/, `"run-dir": ${JSON.stringify(path.join(tmp, "run"))},`);
    set(/\{ reporter: consoleReporter \}/, "{ reporter: { say: (l: string) => lines.push(l) } }");
    code = code.replace(/from "aha"/, `from ${JSON.stringify(pathToFileURL(path.join(root, "src/index.ts")).href)}`);
    code = `export const lines: string[] = [];\n${code}\nexport { result };\n`;
    const dir = path.join(root, "test-artifacts", "library-doc");
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `snippet-${process.pid}.ts`);
    fs.writeFileSync(file, code);
    try {
      const mod = (await import(pathToFileURL(file).href)) as { result: { steps: number; base: { "pass@1": number } | null; final: { "pass@1": number } | null; metrics: unknown[] }; lines: string[] };
      expect(mod.result.steps).toBe(2);
      expect(mod.result.metrics).toHaveLength(2);
      expect(mod.result.base?.["pass@1"]).toBeGreaterThanOrEqual(0);
      expect(mod.result.final?.["pass@1"]).toBeGreaterThanOrEqual(0);
      const summary = JSON.parse(fs.readFileSync(path.join(tmp, "run", "summary.json"), "utf8")) as { steps: number; base: object; final: object };
      expect(summary.steps).toBe(2);
      expect(mod.lines.some((l) => l.startsWith("final model: pass@1"))).toBe(true);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }, 120_000);
});
