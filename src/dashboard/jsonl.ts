/**
 * Tolerant, incremental reading of the run directory's append-only JSONL files (docs/run-directory.md):
 * a writer appends one complete line at a time, so a reader may see a last line that is still being
 * written. Only lines ended by "\n" are consumed; a complete line that does not parse as a JSON object
 * is skipped (counted), never fatal. Lines are parsed by the one JSONL reader (src/util/jsonl.ts); what
 * is here is the reading by byte offset that polling needs.
 */
import { open, stat } from "node:fs/promises";
import { parseJsonlBuffer, type JsonlRow } from "../util/jsonl.js";

/** Largest single read from a JSONL file (a bound on memory per request). */
export const MAX_READ_BYTES = 64 * 1024 * 1024;

export type Row = JsonlRow;

export interface JsonlChunk {
  rows: Row[];
  /** Byte offset just after the last complete line consumed: pass it back as `since`. */
  offset: number;
  /** Complete lines that did not parse as a JSON object. */
  skipped: number;
}

/**
 * Reads the complete lines of `file` from byte `since` on. A missing file reads as empty. When the
 * file is shorter than `since` (it was replaced), reading starts over from 0.
 */
export async function readJsonlFrom(file: string, since = 0, maxRead = MAX_READ_BYTES): Promise<JsonlChunk> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    return { rows: [], offset: 0, skipped: 0 };
  }
  let from = Number.isFinite(since) && since > 0 ? Math.floor(since) : 0;
  if (from > size) from = 0;
  const length = Math.min(size - from, maxRead);
  if (length <= 0) return { rows: [], offset: from, skipped: 0 };
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, from);
    const { rows, consumed, skipped } = parseJsonlBuffer(buf.subarray(0, bytesRead));
    if (consumed === 0 && bytesRead === maxRead && from + bytesRead < size) {
      // One line longer than a whole read: skip to the byte after its newline (if it has one yet).
      const block = Buffer.alloc(1 << 20);
      for (let pos = from + bytesRead; pos < size; pos += block.length) {
        const { bytesRead: n } = await fh.read(block, 0, block.length, pos);
        const nl = block.subarray(0, n).indexOf(0x0a);
        if (nl >= 0) return { rows: [], offset: pos + nl + 1, skipped: 1 };
      }
    }
    return { rows, offset: from + consumed, skipped };
  } finally {
    await fh.close();
  }
}

/**
 * Keeps the rows of several JSONL files in memory and reads only what was appended since the last
 * call (the runs list and the samples browser read the same files again and again).
 */
export class JsonlCache {
  private readonly files = new Map<string, { rows: Row[]; offset: number; mtimeMs: number; ino: number }>();

  async rows(file: string): Promise<Row[]> {
    let st;
    try {
      st = await stat(file);
    } catch {
      this.files.delete(file);
      return [];
    }
    let entry = this.files.get(file);
    if (entry && (st.ino !== entry.ino || st.size < entry.offset)) entry = undefined; // replaced
    if (!entry) entry = { rows: [], offset: 0, mtimeMs: 0, ino: st.ino };
    // Reads in bounded chunks until the end (or until only a half-written line is left).
    while (st.size > entry.offset) {
      const chunk = await readJsonlFrom(file, entry.offset);
      for (const r of chunk.rows) entry.rows.push(r);
      if (chunk.offset <= entry.offset) break;
      entry.offset = chunk.offset;
    }
    entry.mtimeMs = st.mtimeMs;
    this.files.set(file, entry);
    return entry.rows;
  }
}
