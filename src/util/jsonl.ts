/**
 * The one JSONL reader (and appender). A JSONL file here holds one JSON object per line, UTF-8, each
 * line ended by "\n" ("\r\n" works too: JSON ignores the "\r"); blank lines are skipped but counted,
 * so line numbers are the ones an editor shows.
 *
 * Files are read in 1 MiB blocks, never whole: a file's size is bounded by `maxBytes`, not by V8's
 * longest string, and a line longer than `maxLineBytes` is reported (and skipped) without being parsed.
 * Two ways to meet a bad line, chosen by the caller:
 *   - strict (`readJsonlRows`, for data the user gives us): a UserError naming file:line;
 *   - tolerant (`readJsonl`, for the run directory's append-only logs, where a crash can leave a
 *     half-written last line): the line is skipped and counted.
 */
import * as fs from "node:fs";
import { UserError } from "../errors.js";
import { writeFileAtomic } from "./atomic.js";

export type JsonlRow = Record<string, unknown>;

/** One line: its row, or why it is not one (a message without the file and line). `line` counts from 1. */
export type JsonlLine = { line: number; row: JsonlRow; error?: undefined } | { line: number; row?: undefined; error: string };

/** Longest line parsed (model output is untrusted; an eval line with 64 long samples stays under it). */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;
/** Largest data file a strict read accepts (bytes). */
export const MAX_FILE_BYTES = 2 ** 31 - 1;

const BLOCK_BYTES = 1 << 20;

/** Parses one line as a JSON object. */
export function parseJsonlLine(text: string): { row: JsonlRow; error?: undefined } | { row?: undefined; error: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { error: `not valid JSON (${(e as Error).message})` };
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return { error: "expected a JSON object per line" };
  return { row: v as JsonlRow };
}

const tooLong = (maxLineBytes: number): string => `line longer than ${maxLineBytes} bytes`;

export interface ScanOptions {
  /** Number of the buffer's first line (default 1). */
  firstLine?: number;
  /** The buffer ends the file: a last line without "\n" counts too. Default false (only ended lines). */
  final?: boolean;
  maxLineBytes?: number;
}

/**
 * Scans the lines of `buf` (which starts on a line boundary). Returns the non-blank lines, the bytes
 * consumed (just after the last line taken) and the number the next line will have.
 */
export function scanJsonl(buf: Buffer, o: ScanOptions = {}): { lines: JsonlLine[]; consumed: number; nextLine: number } {
  const maxLine = o.maxLineBytes ?? MAX_LINE_BYTES;
  const lines: JsonlLine[] = [];
  let line = o.firstLine ?? 1;
  let start = 0;
  while (start < buf.length) {
    let end = buf.indexOf(0x0a, start);
    if (end < 0) {
      if (!o.final) break;
      end = buf.length;
    }
    if (end - start > maxLine) lines.push({ line, error: tooLong(maxLine) });
    else {
      const text = buf.toString("utf8", start, end);
      if (text.trim() !== "") lines.push({ line, ...parseJsonlLine(text) });
    }
    line++;
    start = Math.min(end + 1, buf.length);
  }
  return { lines, consumed: start, nextLine: line };
}

/** The complete lines of `buf` as rows; lines that are not JSON objects are skipped and counted. */
export function parseJsonlBuffer(buf: Buffer, maxLineBytes = MAX_LINE_BYTES): { rows: JsonlRow[]; consumed: number; skipped: number } {
  const { lines, consumed } = scanJsonl(buf, { maxLineBytes });
  const rows: JsonlRow[] = [];
  for (const l of lines) if (l.row) rows.push(l.row);
  return { rows, consumed, skipped: lines.length - rows.length };
}

export interface ReadJsonlOptions {
  /** A larger file is refused (UserError) before anything is read. Default MAX_FILE_BYTES. */
  maxBytes?: number;
  maxLineBytes?: number;
}

/**
 * Turns blocks of bytes into numbered lines (the state between blocks: the unfinished line, its
 * number, and whether a too-long line is being skipped). Feed the blocks in order, then `end()`.
 */
class LineSplitter {
  private carry: Buffer = Buffer.alloc(0);
  private line = 1;
  private skipping = false; // inside a line already reported as too long: drop bytes up to its "\n"

  constructor(private readonly maxLine: number) {}

  push(block: Buffer): JsonlLine[] {
    return this.take(block, false);
  }

  end(): JsonlLine[] {
    return this.take(Buffer.alloc(0), true);
  }

  private take(block: Buffer, final: boolean): JsonlLine[] {
    let buf = block;
    if (this.skipping) {
      const nl = buf.indexOf(0x0a);
      if (nl < 0 && !final) return [];
      this.skipping = false;
      this.line++;
      buf = buf.subarray(nl < 0 ? buf.length : nl + 1);
    }
    if (this.carry.length > 0) buf = Buffer.concat([this.carry, buf]);
    const scan = scanJsonl(buf, { firstLine: this.line, final, maxLineBytes: this.maxLine });
    this.line = scan.nextLine;
    this.carry = buf.subarray(scan.consumed);
    if (this.carry.length > this.maxLine) {
      scan.lines.push({ line: this.line, error: tooLong(this.maxLine) });
      this.carry = Buffer.alloc(0);
      this.skipping = true;
    }
    return scan.lines;
  }
}

/**
 * Every non-blank line of `file`, read in blocks (a last line without "\n" counts). Errors opening the
 * file are thrown as they come (ENOENT…): callers decide what a missing file means.
 */
export function* readJsonlLines(file: string, o: ReadJsonlOptions = {}): Generator<JsonlLine> {
  const maxBytes = o.maxBytes ?? MAX_FILE_BYTES;
  const split = new LineSplitter(o.maxLineBytes ?? MAX_LINE_BYTES);
  const fd = fs.openSync(file, "r");
  try {
    const size = fs.fstatSync(fd).size;
    if (size > maxBytes) throw new UserError(`${file} is ${size} bytes, more than the ${maxBytes} this reader accepts`);
    for (;;) {
      const block = Buffer.allocUnsafe(BLOCK_BYTES); // a fresh block: the splitter may keep a view of the last one
      const n = fs.readSync(fd, block, 0, BLOCK_BYTES, null);
      if (n === 0) break;
      yield* split.push(block.subarray(0, n));
    }
    yield* split.end();
  } finally {
    fs.closeSync(fd);
  }
}

/** The same lines from a stream (a file being read, stdin) as its chunks arrive: for commands that score while they read. */
export async function* streamJsonlLines(input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, o: { maxLineBytes?: number } = {}): AsyncGenerator<JsonlLine> {
  const split = new LineSplitter(o.maxLineBytes ?? MAX_LINE_BYTES);
  for await (const chunk of input) yield* split.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk);
  yield* split.end();
}

/**
 * Strict read of a data file: each line a JSON object, else a UserError naming `file:line`. A missing
 * file is a UserError naming `what` ("data file", "dataset", …).
 */
export function readJsonlRows(file: string, what = "data file", o: ReadJsonlOptions = {}): { line: number; row: JsonlRow }[] {
  const out: { line: number; row: JsonlRow }[] = [];
  try {
    for (const l of readJsonlLines(file, o)) {
      if (l.error !== undefined) throw new UserError(`${file}:${l.line}: ${l.error}`);
      out.push({ line: l.line, row: l.row });
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EISDIR") throw new UserError(`${what} ${file} not found`);
    throw e;
  }
  return out;
}

export interface JsonlRead<T> {
  rows: T[];
  /** Lines that are not JSON objects (a half-written last line is expected after a crash). */
  skipped: number;
}

/** Tolerant read (the run directory's logs): bad lines are skipped and counted, a missing file has no rows. */
export function readJsonl<T = JsonlRow>(file: string, o: ReadJsonlOptions = {}): JsonlRead<T> {
  const rows: T[] = [];
  let skipped = 0;
  try {
    for (const l of readJsonlLines(file, { maxBytes: Infinity, ...o })) {
      if (l.row) rows.push(l.row as T);
      else skipped++;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { rows: [], skipped: 0 };
    throw e;
  }
  return { rows, skipped };
}

/** Appends one JSON value as one complete line (a single write call of the whole line). */
export function appendJsonl(file: string, value: unknown): void {
  const line = Buffer.from(JSON.stringify(value) + "\n", "utf8");
  const fd = fs.openSync(file, "a");
  try {
    fs.writeSync(fd, line);
  } finally {
    fs.closeSync(fd);
  }
}

/** Appends several JSON values as complete lines in one write call (a group of rows lands together or, after a crash, as a cut last line). */
export function appendJsonlRows(file: string, values: readonly unknown[]): void {
  if (values.length === 0) return;
  const buf = Buffer.from(values.map((v) => JSON.stringify(v) + "\n").join(""), "utf8");
  const fd = fs.openSync(file, "a");
  try {
    fs.writeSync(fd, buf);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Keeps only the rows with `step ≤ lastStep` (rewritten atomically) and returns the rows it removed
 * (the caller keeps them: src/runs/run-dir.ts moves them to superseded/). Used on resume so that the
 * steps after the checkpoint, which will be redone, are not logged twice.
 */
export function truncateJsonlAfterStep(file: string, lastStep: number): JsonlRow[] {
  if (!fs.existsSync(file)) return [];
  const { rows } = readJsonl<{ step?: unknown }>(file);
  const kept = rows.filter((r) => typeof r.step === "number" && r.step <= lastStep);
  if (kept.length === rows.length) return [];
  writeFileAtomic(file, kept.map((r) => JSON.stringify(r) + "\n").join(""));
  return rows.filter((r) => !kept.includes(r));
}
