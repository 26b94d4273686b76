/**
 * Crash-safe file writes (docs/run-directory.md): whole files go to `<name>.tmp-<pid>`, are fsynced,
 * then renamed into place (and the folder fsynced), so a reader sees the old file or the new one,
 * never a mix. JSONL files are appended one complete line per write.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export const tmpName = (file: string): string => `${file}.tmp-${process.pid}`;

/** fsync a folder so a rename inside it is durable (no-op where folders cannot be opened, e.g. Windows). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Some platforms do not allow fsync on a directory; the rename is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes `data` to `file` atomically: temp file, fsync, rename, fsync the folder. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = tmpName(file);
  const fd = fs.openSync(tmp, "w");
  try {
    fs.writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + "\n");
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

export interface JsonlRead<T> {
  rows: T[];
  /** Lines that did not parse (a half-written last line is expected after a crash). */
  skipped: number;
}

/** Reads a JSONL file; lines that do not parse are skipped (never an error). Missing file → no rows. */
export function readJsonl<T = Record<string, unknown>>(file: string): JsonlRead<T> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { rows: [], skipped: 0 };
    throw e;
  }
  const rows: T[] = [];
  let skipped = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      rows.push(JSON.parse(line) as T);
    } catch {
      skipped++;
    }
  }
  return { rows, skipped };
}

/**
 * Keeps only the rows with `step ≤ lastStep` (rewritten atomically). Used on resume so that the
 * steps after the checkpoint, which will be redone, are not logged twice.
 */
export function truncateJsonlAfterStep(file: string, lastStep: number): void {
  if (!fs.existsSync(file)) return;
  const { rows } = readJsonl<{ step?: unknown }>(file);
  const kept = rows.filter((r) => typeof r.step === "number" && r.step <= lastStep);
  writeFileAtomic(file, kept.map((r) => JSON.stringify(r) + "\n").join(""));
}

export function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    if (e instanceof SyntaxError) return null;
    throw e;
  }
}
