/**
 * The one gate between a request and the file system: a path from a request becomes a file path only
 * if it names something inside the runs directory, after symlinks are resolved.
 *
 * Refused: absolute paths, `..` and `.` segments, backslashes, NUL, empty segments, and any path whose
 * real location (fs.realpath) is outside the real runs directory. Callers pass already-decoded text
 * (URLSearchParams decodes once); a segment that still contains `%` followed by hex is refused too, so
 * a double-encoded `%252e%252e` cannot turn into `..` later.
 */
import { realpath } from "node:fs/promises";
import { isAbsolute, join, sep } from "node:path";

export class PathRefused extends Error {
  readonly code = "AHA_PATH_REFUSED";
  constructor(readonly requested: string, reason: string) {
    super(`refused path ${JSON.stringify(requested.slice(0, 200))}: ${reason}`);
    this.name = "PathRefused";
  }
}

/** The segments of a relative path, or a PathRefused. Pure: no file-system access. */
export function checkRelative(rel: string): string[] {
  if (rel.length > 1024) throw new PathRefused(rel, "too long");
  if (rel.includes("\0")) throw new PathRefused(rel, "NUL byte");
  if (rel.includes("\\")) throw new PathRefused(rel, "backslash");
  if (isAbsolute(rel) || rel.startsWith("/")) throw new PathRefused(rel, "absolute path");
  if (/%[0-9a-f]{2}/i.test(rel)) throw new PathRefused(rel, "encoded characters left after decoding");
  const parts = rel.split("/");
  if (rel === "") return [];
  for (const p of parts) {
    if (p === "" || p === "." || p === "..") throw new PathRefused(rel, `segment '${p}'`);
  }
  return parts;
}

function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The real path of `rel` inside `rootReal` (which must itself be a realpath). Throws PathRefused when
 * it is outside, and the fs error (ENOENT…) when it does not exist.
 */
export async function resolveInside(rootReal: string, rel: string): Promise<string> {
  const parts = checkRelative(rel);
  const joined = join(rootReal, ...parts);
  if (!inside(rootReal, joined)) throw new PathRefused(rel, "outside the runs directory");
  const real = await realpath(joined);
  if (!inside(rootReal, real)) throw new PathRefused(rel, "a symlink pointing outside the runs directory");
  return real;
}
