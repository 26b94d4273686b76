/**
 * The CodeI/O task: show a program and an input, ask for its output ("output" mode); or show a program
 * and an output, ask for an input that produces it ("input" mode). Scored by codeioReward
 * (src/rewards/code/codeio.ts; "input" mode runs the program in the sandbox).
 *
 * Records come from a JSONL file (`{code, input, output[, language][, mode]}` per line: input and
 * output are the stdin / stdout text, or JSON values; a record without `mode` is asked in the task's
 * mode, "both" making two problems of it) or from the built-in set below: 14 small Python programs that read one JSON value from stdin and print a Python value,
 * each with a seeded input generator and a TypeScript twin (`solve`) giving the exact printed output,
 * so prompts need no sandbox. test/rewards/code/codeio.test.ts runs each program in the sandbox and
 * checks the twin against it.
 */
import { statSync } from "node:fs";
import { basename } from "node:path";
import { UserError } from "../errors.js";
import type { CodeioMode, CodeioOptions, CodeioRecord, CodeioReference } from "../rewards/code/codeio.js";
import { asText, codeioReward } from "../rewards/code/codeio.js";
import { sharedPool, type Language, type Tools } from "../rewards/code/sandbox.js";
import { parseJsonlLine, readJsonlRows, type JsonlRow } from "../util/jsonl.js";
import { fnv1a32, Rng } from "../util/rng.js";
import { requireSandbox } from "./code.js";
import { isHeldOut } from "./split.js";
import type { Problem, ProblemSource, Scored, Task } from "./types.js";

type Py = number | boolean | string | Py[] | { tuple: Py[] } | { dict: [Py, Py][] };

/** Python's repr for the simple values the built-in programs print (ints, bools, plain strings). */
export function pyRepr(v: Py): string {
  if (typeof v === "number") return String(v);
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "string") return v.includes("'") && !v.includes('"') ? `"${v}"` : `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(", ")}]`;
  if ("tuple" in v) return v.tuple.length === 1 ? `(${pyRepr(v.tuple[0]!)},)` : `(${v.tuple.map(pyRepr).join(", ")})`;
  return `{${v.dict.map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(", ")}}`;
}

export interface BuiltinProgram {
  name: string;
  /** Python source; reads `json.loads(input())`, prints one value. */
  code: string;
  /** A random input as the JSON text given on stdin. */
  gen(rng: Rng): unknown;
  /** The exact line the program prints for `input`. */
  solve(input: unknown): string;
}

const WORDS = ["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "owl", "pig", "rat", "yak"];
const LETTERS = "abcdefghijklmnopqrstuvwxyz";

function randWord(rng: Rng, min: number, max: number, alphabet = LETTERS): string {
  let s = "";
  const n = rng.intBetween(min, max);
  for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}

function randList(rng: Rng, n0: number, n1: number, lo: number, hi: number): number[] {
  return Array.from({ length: rng.intBetween(n0, n1) }, () => rng.intBetween(lo, hi));
}

/** Python's floor division / modulo on ints. */
const pyMod = (a: number, m: number): number => ((a % m) + m) % m;

export const BUILTIN_PROGRAMS: readonly BuiltinProgram[] = [
  {
    name: "digit_root_chain",
    code: `import json
n = json.loads(input())
chain = [n]
while n >= 10:
    n = sum(int(d) for d in str(n))
    chain.append(n)
print(chain)
`,
    gen: (rng) => rng.intBetween(10, 10 ** 9),
    solve: (x) => {
      let n = x as number;
      const chain = [n];
      while (n >= 10) {
        n = String(n).split("").reduce((a, d) => a + Number(d), 0);
        chain.push(n);
      }
      return pyRepr(chain);
    },
  },
  {
    name: "collatz",
    code: `import json
n = json.loads(input())
steps, peak = 0, n
while n != 1:
    n = n // 2 if n % 2 == 0 else 3 * n + 1
    peak = max(peak, n)
    steps += 1
print((steps, peak))
`,
    gen: (rng) => rng.intBetween(2, 5000),
    solve: (x) => {
      let n = x as number;
      let steps = 0;
      let peak = n;
      while (n !== 1) {
        n = n % 2 === 0 ? n / 2 : 3 * n + 1;
        peak = Math.max(peak, n);
        steps++;
      }
      return pyRepr({ tuple: [steps, peak] });
    },
  },
  {
    name: "run_length",
    code: `import json
s = json.loads(input())
out = []
for ch in s:
    if out and out[-1][0] == ch:
        out[-1][1] += 1
    else:
        out.append([ch, 1])
print(out)
`,
    gen: (rng) => randWord(rng, 3, 14, "aabbc"),
    solve: (x) => {
      const out: [string, number][] = [];
      for (const ch of x as string) {
        const last = out[out.length - 1];
        if (last && last[0] === ch) last[1]++;
        else out.push([ch, 1]);
      }
      return pyRepr(out);
    },
  },
  {
    name: "word_counts",
    code: `import json
words = json.loads(input()).split()
counts = {}
for w in words:
    counts[w] = counts.get(w, 0) + 1
print(dict(sorted(counts.items())))
`,
    gen: (rng) => Array.from({ length: rng.intBetween(3, 10) }, () => rng.pick(WORDS.slice(0, 5))).join(" "),
    solve: (x) => {
      const counts = new Map<string, number>();
      for (const w of (x as string).split(" ")) counts.set(w, (counts.get(w) ?? 0) + 1);
      return pyRepr({ dict: [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)) });
    },
  },
  {
    name: "prime_factors",
    code: `import json
n = json.loads(input())
fs, d = [], 2
while d * d <= n:
    while n % d == 0:
        fs.append(d)
        n //= d
    d += 1
if n > 1:
    fs.append(n)
print(fs)
`,
    gen: (rng) => rng.intBetween(2, 100000),
    solve: (x) => {
      let n = x as number;
      const fs: number[] = [];
      for (let d = 2; d * d <= n; d++)
        while (n % d === 0) {
          fs.push(d);
          n /= d;
        }
      if (n > 1) fs.push(n);
      return pyRepr(fs);
    },
  },
  {
    name: "column_sums",
    code: `import json
m = json.loads(input())
print([sum(col) for col in zip(*m)])
`,
    gen: (rng) => {
      const cols = rng.intBetween(1, 4);
      return Array.from({ length: rng.intBetween(1, 4) }, () => randList(rng, cols, cols, -9, 9));
    },
    solve: (x) => {
      const m = x as number[][];
      return pyRepr(m[0]!.map((_, j) => m.reduce((a, row) => a + row[j]!, 0)));
    },
  },
  {
    name: "caesar",
    code: `import json
shift, text = json.loads(input())
print(''.join(chr((ord(c) - 97 + shift) % 26 + 97) if c.isalpha() else c for c in text))
`,
    gen: (rng) => [rng.intBetween(-30, 30), `${randWord(rng, 2, 6)} ${randWord(rng, 2, 6)}`],
    solve: (x) => {
      const [shift, text] = x as [number, string];
      return [...text].map((c) => (c === " " ? c : String.fromCharCode(pyMod(c.charCodeAt(0) - 97 + shift, 26) + 97))).join("");
    },
  },
  {
    name: "bracket_depth",
    code: `import json
s = json.loads(input())
depth = best = 0
ok = True
for c in s:
    depth += 1 if c == '(' else -1
    if depth < 0:
        ok = False
        break
    best = max(best, depth)
print((ok and depth == 0, best))
`,
    gen: (rng) => randWord(rng, 2, 12, "()"),
    solve: (x) => {
      let depth = 0;
      let best = 0;
      let ok = true;
      for (const c of x as string) {
        depth += c === "(" ? 1 : -1;
        if (depth < 0) {
          ok = false;
          break;
        }
        best = Math.max(best, depth);
      }
      return pyRepr({ tuple: [ok && depth === 0, best] });
    },
  },
  {
    name: "running_max",
    code: `import json
xs = json.loads(input())
out, m = [], None
for x in xs:
    m = x if m is None else max(m, x)
    out.append(m)
print(out)
`,
    gen: (rng) => randList(rng, 1, 10, -50, 50),
    solve: (x) => {
      let m = -Infinity;
      return pyRepr((x as number[]).map((v) => (m = Math.max(m, v))));
    },
  },
  {
    name: "binary_gap",
    code: `import json
n = json.loads(input())
bits = bin(n)[2:].strip('0')
print(max((len(g) for g in bits.split('1')), default=0))
`,
    gen: (rng) => rng.intBetween(1, 2 ** 20),
    solve: (x) => {
      const bits = (x as number).toString(2).replace(/^0+|0+$/g, "");
      return String(Math.max(0, ...bits.split("1").map((g) => g.length)));
    },
  },
  {
    name: "rank_scores",
    code: `import json
rows = json.loads(input())
print([name for name, score in sorted(rows, key=lambda r: (-r[1], r[0]))])
`,
    gen: (rng) => rng.shuffle([...WORDS]).slice(0, rng.intBetween(2, 6)).map((w) => [w, rng.intBetween(0, 5)]),
    solve: (x) => {
      const rows = [...(x as [string, number][])].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      return pyRepr(rows.map((r) => r[0]));
    },
  },
  {
    name: "fib_mod",
    code: `import json
n, m = json.loads(input())
a, b = 0, 1
for _ in range(n):
    a, b = b, (a + b) % m
print(a)
`,
    gen: (rng) => [rng.intBetween(0, 300), rng.intBetween(2, 1000)],
    solve: (x) => {
      const [n, m] = x as [number, number];
      let a = 0;
      let b = 1;
      for (let i = 0; i < n; i++) [a, b] = [b, (a + b) % m];
      return String(a);
    },
  },
  {
    name: "anagram_groups",
    code: `import json
words = json.loads(input())
groups = {}
for w in words:
    groups.setdefault(''.join(sorted(w)), []).append(w)
big = max(groups.values(), key=len)
print((len(groups), sorted(big)))
`,
    gen: (rng) => Array.from({ length: rng.intBetween(2, 8) }, () => rng.shuffle([..."tea"].concat(rng.int(2) ? ["s"] : [])).join("")).concat(rng.pick(WORDS)),
    solve: (x) => {
      const groups = new Map<string, string[]>();
      for (const w of x as string[]) {
        const k = [...w].sort().join("");
        if (!groups.has(k)) groups.set(k, []);
        groups.get(k)!.push(w);
      }
      let big: string[] = [];
      for (const g of groups.values()) if (g.length > big.length) big = g; // first max, like Python's max
      return pyRepr({ tuple: [groups.size, [...big].sort()] });
    },
  },
  {
    name: "stack_machine",
    code: `import json
prog = json.loads(input())
st = []
for op in prog:
    if isinstance(op, int):
        st.append(op)
    elif op == 'add':
        st.append(st.pop() + st.pop())
    elif op == 'mul':
        st.append(st.pop() * st.pop())
    elif op == 'dup':
        st.append(st[-1])
    elif op == 'swap':
        st[-1], st[-2] = st[-2], st[-1]
print(st)
`,
    gen: (rng) => {
      const prog: (number | string)[] = [];
      let depth = 0;
      for (let i = rng.intBetween(3, 9); i > 0; i--) {
        const ops = depth >= 2 ? ["add", "mul", "dup", "swap"] : depth === 1 ? ["dup"] : [];
        if (ops.length > 0 && rng.int(2)) {
          const op = rng.pick(ops);
          prog.push(op);
          depth += op === "add" || op === "mul" ? -1 : op === "dup" ? 1 : 0;
        } else {
          prog.push(rng.intBetween(0, 9));
          depth++;
        }
      }
      return prog;
    },
    solve: (x) => {
      const st: number[] = [];
      for (const op of x as (number | string)[]) {
        if (typeof op === "number") st.push(op);
        else if (op === "add") st.push(st.pop()! + st.pop()!);
        else if (op === "mul") st.push(st.pop()! * st.pop()!);
        else if (op === "dup") st.push(st[st.length - 1]!);
        else if (op === "swap") [st[st.length - 1], st[st.length - 2]] = [st[st.length - 2]!, st[st.length - 1]!];
      }
      return pyRepr(st);
    },
  },
];

export interface CodeioItem {
  prompt: string;
  reference: CodeioReference;
}

/** The R1-style question for one record (the chat template and reasoning format are added elsewhere). */
export function codeioPrompt(r: CodeioRecord, mode: CodeioMode): string {
  const lang = r.language ?? "python";
  const head = `Here is a ${lang === "python" ? "Python" : "JavaScript"} program. It reads its input from stdin and prints its output.\n\n\`\`\`${lang}\n${r.code.trimEnd()}\n\`\`\`\n\n`;
  if (mode === "output")
    return `${head}Input (stdin):\n\`\`\`\n${asText(r.input)}\n\`\`\`\n\nWhat exactly does the program print? Give the printed output inside <answer> </answer>.`;
  return `${head}Output (stdout):\n\`\`\`\n${asText(r.output)}\n\`\`\`\n\nGive an input (the exact stdin text) for which the program prints this output, inside <answer> </answer>.`;
}

/** Record `i` of the built-in set for `seed`: program i mod N, input from a per-(seed, i) stream. */
export function builtinRecord(seed: number, i: number): CodeioRecord {
  const p = BUILTIN_PROGRAMS[i % BUILTIN_PROGRAMS.length]!;
  const rng = new Rng(seed, `codeio/${i}`);
  const input = p.gen(rng);
  return { code: p.code, input: JSON.stringify(input), output: p.solve(input), language: "python" };
}

/** Which direction(s) a CodeI/O task asks: "both" alternates on the built-in set and asks both of each file record. */
export type CodeioTaskMode = CodeioMode | "both";

/** `count` items of the built-in set, alternating modes when `mode` is "both". */
export function generateCodeio(seed: number, count: number, mode: CodeioTaskMode = "both"): CodeioItem[] {
  return Array.from({ length: count }, (_, i) => {
    const r = builtinRecord(seed, i);
    const m: CodeioMode = mode === "both" ? (i % 2 === 0 ? "output" : "input") : mode;
    return { prompt: codeioPrompt(r, m), reference: { ...r, mode: m } };
  });
}

/** Longest program in a record (characters). */
export const MAX_CODEIO_CODE_CHARS = 100_000;
/** Longest input / output of a record as text (characters). */
export const MAX_CODEIO_VALUE_CHARS = 1 << 20;
/** Largest CodeI/O data file (bytes). */
export const MAX_CODEIO_FILE_BYTES = 256 * 1024 * 1024;

/** Parses one JSONL line of a CodeI/O record; `where` names the file and line for errors. */
export function parseCodeioRecord(line: string, where: string): CodeioRecord & { mode?: CodeioMode } {
  const p = parseJsonlLine(line);
  if (p.error !== undefined) throw new UserError(`${where}: ${p.error}`);
  return codeioRecordOf(p.row, where);
}

function codeioRecordOf(o: JsonlRow, where: string): CodeioRecord & { mode?: CodeioMode } {
  if (typeof o.code !== "string" || o.code.trim() === "") throw new UserError(`${where}: field "code" must be a non-empty string`);
  if (o.code.length > MAX_CODEIO_CODE_CHARS) throw new UserError(`${where}: field "code" is longer than ${MAX_CODEIO_CODE_CHARS} characters`);
  if (!("input" in o) || !("output" in o)) throw new UserError(`${where}: fields "input" and "output" are required`);
  for (const k of ["input", "output"] as const) {
    if (o[k] === null) throw new UserError(`${where}: field "${k}" is null`);
    if (asText(o[k]).length > MAX_CODEIO_VALUE_CHARS) throw new UserError(`${where}: field "${k}" is longer than ${MAX_CODEIO_VALUE_CHARS} characters`);
  }
  if (o.language !== undefined && o.language !== "python" && o.language !== "javascript")
    throw new UserError(`${where}: field "language" must be "python" or "javascript"`);
  if (o.mode !== undefined && o.mode !== "output" && o.mode !== "input") throw new UserError(`${where}: field "mode" must be "output" or "input"`);
  return o as unknown as CodeioRecord & { mode?: CodeioMode };
}

/** Reads a CodeI/O JSONL file (blank lines skipped); `line` is each record's 1-based line. */
export function loadCodeioJsonl(path: string): (CodeioRecord & { mode?: CodeioMode; line: number })[] {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new UserError(`data file ${path} not found`);
  }
  if (size > MAX_CODEIO_FILE_BYTES) throw new UserError(`data file ${path} is larger than ${MAX_CODEIO_FILE_BYTES / 2 ** 20} MiB`);
  const out = readJsonlRows(path, "data file").map(({ line, row }) => ({ ...codeioRecordOf(row, `${path}:${line}`), line }));
  if (out.length === 0) throw new UserError(`data file ${path} has no records`);
  return out;
}

export interface CodeioTaskOptions {
  seed: number;
  heldOutPermille: number;
  /** Which direction(s) to ask. Default "both" (CodeI/O trains both); "input" problems run in the sandbox. */
  mode?: CodeioTaskMode;
  /** A JSONL file of records ({code, input, output[, language][, mode]}); default the built-in programs. */
  file?: string | null;
  /** Options for the "input" problems' runs (unsafeNoSandbox, limits, a pool of one's own). */
  sandbox?: CodeioOptions;
  /** The tools the availability check sees (tests: a machine without bubblewrap). */
  tools?: Tools;
}

function builtinSource(side: "train" | "test", seed: number, permille: number, mode: CodeioTaskMode): ProblemSource<CodeioReference> {
  const cache: Problem<CodeioReference>[] = [];
  let i = 0;
  const s = fnv1a32(`codeio/${side}/${seed}`);
  return {
    size: null,
    get(k) {
      while (cache.length <= k) {
        const n = i++;
        const r = builtinRecord(s, n);
        const m: CodeioMode = mode === "both" ? (n % 2 === 0 ? "output" : "input") : mode;
        const question = codeioPrompt(r, m);
        if (isHeldOut(question, permille) !== (side === "test")) continue;
        cache.push({ id: `codeio-${side}-${cache.length}`, question, answer: asText(m === "output" ? r.output : r.input), reference: { ...r, mode: m }, category: BUILTIN_PROGRAMS[n % BUILTIN_PROGRAMS.length]!.name });
      }
      return cache[k]!;
    },
  };
}

/**
 * The problems of a data file: each record in its own `mode` if it names one, else in the task's
 * (both: an output and an input problem). Split by hashing the record (code and input), so the two
 * problems of one record land on the same side.
 */
function fileProblems(file: string, mode: CodeioTaskMode, permille: number): { train: Problem<CodeioReference>[]; test: Problem<CodeioReference>[] } {
  const base = basename(file);
  const train: Problem<CodeioReference>[] = [];
  const test: Problem<CodeioReference>[] = [];
  for (const rec of loadCodeioJsonl(file)) {
    const { mode: own, line } = rec;
    const r: CodeioRecord = { code: rec.code, input: rec.input, output: rec.output, ...(rec.language ? { language: rec.language } : {}) };
    const modes: CodeioMode[] = own ? [own] : mode === "both" ? ["output", "input"] : [mode];
    const side = isHeldOut(`codeio-record:${r.code}\n${asText(r.input)}`, permille) ? test : train;
    for (const m of modes)
      side.push({ id: modes.length > 1 ? `${base}:${line}/${m}` : `${base}:${line}`, question: codeioPrompt(r, m), answer: asText(m === "output" ? r.output : r.input), reference: { ...r, mode: m } });
  }
  if (train.length === 0) throw new UserError(`${file}: no training records left after holding out ${permille}‰`);
  return { train, test };
}

function scored(score: number, reason: string, extracted: string | null): Scored {
  return { reward: score, parts: { accuracy: score }, correct: score === 1, extracted, reason };
}

/**
 * The CodeI/O task over the built-in programs or a data file. Scoring is async: "output" problems
 * compare values (no program runs), "input" problems run the record's program in the sandbox (the
 * process-wide pool unless `sandbox.pool` is given). Making the task fails with the install command
 * when "input" problems are possible and the sandbox is not (unless sandbox.unsafeNoSandbox).
 */
export async function codeioTask(o: CodeioTaskOptions): Promise<Task<CodeioReference>> {
  const mode = o.mode ?? "both";
  let train: ProblemSource<CodeioReference>;
  let heldOut: (count: number) => Problem<CodeioReference>[];
  let inputLanguages: Language[];
  if (o.file) {
    const f = fileProblems(o.file, mode, o.heldOutPermille);
    train = { size: f.train.length, get: (i) => f.train[i]! };
    heldOut = (count) => f.test.slice(0, count);
    inputLanguages = [...f.train, ...f.test].filter((p) => p.reference.mode === "input").map((p) => p.reference.language ?? "python");
  } else {
    const test = builtinSource("test", 0, o.heldOutPermille, mode);
    train = builtinSource("train", o.seed, o.heldOutPermille, mode);
    heldOut = (count) => Array.from({ length: count }, (_, i) => test.get(i));
    inputLanguages = mode === "output" ? [] : ["python"];
  }
  const sandbox: CodeioOptions = o.sandbox ?? {};
  await requireSandbox("codeio", inputLanguages, sandbox.pool?.options ?? sandbox, o.tools);
  const options: CodeioOptions = { ...sandbox, pool: sandbox.pool ?? sharedPool(sandbox) };
  return {
    name: o.file ? `codeio:${basename(o.file)}` : "codeio",
    train,
    heldOut,
    score: async (response, problem, ctx) => {
      const r = await codeioReward(response, problem.reference, { ...options, prefix: ctx.responsePrefix });
      return scored(r.score, r.reason, r.answer);
    },
    defaultTemplate: "r1-zero",
  };
}
