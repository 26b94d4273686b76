/**
 * The one atomic-write helper (docs/run-directory.md): a file goes to `<name>.tmp-<pid>`, is fsynced,
 * then renamed into place and the folder fsynced, so a reader (or a restart after kill -9 or a power
 * cut) sees the old file or the new one, never a mix. A write that fails removes its temp file.
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

/**
 * A file written in pieces that appears under its name only when complete: `commit()` fsyncs, renames
 * and fsyncs the folder; `abort()` removes the temp file. One of the two must be called.
 */
export class AtomicFile {
  readonly tmp: string;
  private fd: number | null;

  constructor(readonly file: string) {
    this.tmp = tmpName(file);
    this.fd = fs.openSync(this.tmp, "w");
  }

  write(data: string | Uint8Array): void {
    if (this.fd === null) throw new Error(`${this.file}: write after commit or abort`);
    const b = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let done = 0;
    while (done < b.length) done += fs.writeSync(this.fd, b, done, Math.min(b.length - done, 1 << 30));
  }

  commit(): void {
    if (this.fd === null) throw new Error(`${this.file}: commit after commit or abort`);
    try {
      fs.fsyncSync(this.fd);
    } finally {
      fs.closeSync(this.fd);
      this.fd = null;
    }
    fs.renameSync(this.tmp, this.file);
    fsyncDir(path.dirname(this.file));
  }

  abort(): void {
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already unusable; the temp file is removed below either way
      }
      this.fd = null;
    }
    fs.rmSync(this.tmp, { force: true });
  }
}

/** Writes `data` (or what `fill` writes) to `file` atomically. */
export function writeFileAtomic(file: string, data: string | Uint8Array | ((f: AtomicFile) => void)): void {
  const f = new AtomicFile(file);
  try {
    if (typeof data === "function") data(f);
    else f.write(data);
    f.commit();
  } catch (e) {
    f.abort();
    throw e;
  }
}

/** JSON with two-space indentation and a final newline, written atomically. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + "\n");
}

/** Copies `src` to `dst` atomically (copy to the temp name, fsync, rename). */
export function copyFileAtomic(src: string, dst: string): void {
  const tmp = tmpName(dst);
  try {
    fs.copyFileSync(src, tmp);
    const fd = fs.openSync(tmp, "r+");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, dst);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(dst));
}

/** A JSON file's value; null when the file is missing or not valid JSON. */
export function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    if (e instanceof SyntaxError) return null;
    throw e;
  }
}
