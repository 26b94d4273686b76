import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { copyFileAtomic, writeFileAtomic } from "../../src/util/atomic.js";
import { readJsonl, readJsonlLines, readJsonlRows, scanJsonl, streamJsonlLines, type JsonlLine } from "../../src/util/jsonl.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "aha-jsonl-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const file = (text: string | Buffer): string => {
  const f = path.join(root, `f${n++}.jsonl`);
  fs.writeFileSync(f, text);
  return f;
};

async function collect(it: AsyncIterable<JsonlLine>): Promise<JsonlLine[]> {
  const out: JsonlLine[] = [];
  for await (const l of it) out.push(l);
  return out;
}

describe("the JSONL reader", () => {
  it("numbers lines as an editor does: blank lines count, CRLF and a missing last newline are fine", () => {
    const lines = [...readJsonlLines(file('{"a":1}\r\n\n  \n{"b":2}'))];
    expect(lines).toEqual([{ line: 1, row: { a: 1 } }, { line: 4, row: { b: 2 } }]);
  });

  it("strict: the first bad line is an error naming file:line (not JSON, not an object)", () => {
    const f = file('{"a":1}\n{oops\n');
    expect(() => readJsonlRows(f)).toThrow(new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2: not valid JSON`));
    expect(() => readJsonlRows(file('{"a":1}\n\n[1,2]\n'))).toThrow(/:3: expected a JSON object per line/);
    expect(() => readJsonlRows(path.join(root, "missing.jsonl"), "dataset")).toThrow(/^dataset .*missing\.jsonl not found$/);
  });

  it("tolerant: bad lines (a half-written last line) are skipped and counted; a missing file has no rows", () => {
    expect(readJsonl(file('{"step":1}\n"text"\n{"step":2}\n{"step":'))).toEqual({ rows: [{ step: 1 }, { step: 2 }], skipped: 2 });
    expect(readJsonl(path.join(root, "nope.jsonl"))).toEqual({ rows: [], skipped: 0 });
  });

  it("bounds: a too-long line is reported and skipped without stalling; a too-large file is refused", () => {
    const long = `{"x":"${"y".repeat(3 << 20)}"}`; // spans several 1 MiB blocks
    const lines = [...readJsonlLines(file(`{"a":1}\n${long}\n{"b":2}\n`), { maxLineBytes: 1 << 20 })];
    expect(lines).toEqual([{ line: 1, row: { a: 1 } }, { line: 2, error: `line longer than ${1 << 20} bytes` }, { line: 3, row: { b: 2 } }]);
    expect(() => [...readJsonlLines(file('{"a":1}\n'), { maxBytes: 4 })]).toThrow(/more than the 4 this reader accepts/);
  });

  it("a stream split anywhere (mid-line, mid-character) gives the same lines as the whole file", async () => {
    const text = Buffer.from('{"q":"héllo → wörld"}\n\n{"n":2}\nnot json\n{"last":true}');
    const whole = [...readJsonlLines(file(text))];
    for (const cut of [1, 3, 10, 12, 15, 24, 30]) {
      const got = await collect(streamJsonlLines([text.subarray(0, cut), text.subarray(cut)]));
      expect(got).toEqual(whole);
    }
    expect(whole.map((l) => l.line)).toEqual([1, 3, 4, 5]);
  });

  it("scanJsonl takes only ended lines unless told the buffer is final", () => {
    const buf = Buffer.from('{"a":1}\n{"b":');
    expect(scanJsonl(buf)).toEqual({ lines: [{ line: 1, row: { a: 1 } }], consumed: 8, nextLine: 2 });
    expect(scanJsonl(buf, { final: true }).lines[1]).toMatchObject({ line: 2, error: expect.stringMatching(/^not valid JSON/) });
  });
});

describe("the atomic writer", () => {
  it("a write that fails leaves the old file and no temp file", () => {
    const d = fs.mkdtempSync(path.join(root, "atomic-"));
    const f = path.join(d, "a.bin");
    writeFileAtomic(f, "old");
    expect(() =>
      writeFileAtomic(f, (w) => {
        w.write("partial");
        throw new Error("disk on fire");
      }),
    ).toThrow(/disk on fire/);
    expect(fs.readFileSync(f, "utf8")).toBe("old");
    expect(fs.readdirSync(d)).toEqual(["a.bin"]);
    copyFileAtomic(f, path.join(d, "b.bin"));
    expect(fs.readdirSync(d).sort()).toEqual(["a.bin", "b.bin"]);
    expect(fs.readFileSync(path.join(d, "b.bin"), "utf8")).toBe("old");
  });
});
