/**
 * The peer: scripts/peer_bench.py run with Debian's PyTorch (/usr/bin/python3, 2 threads), one
 * subcommand per suite, JSON on stdout. Missing Python or torch gives { ok: false, why } — the bench
 * then reports peer: null with a note, it does not fail.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export const PEER_SCRIPT = new URL("../../scripts/peer_bench.py", import.meta.url);
export const PEER_PYTHON = process.env["AHA_PEER_PYTHON"] ?? "/usr/bin/python3";

export type PeerResult = { ok: true; data: Record<string, unknown> } | { ok: false; why: string };

export function runPeer(suite: string, spec: unknown, threads: number, timeoutMs = 30 * 60_000): PeerResult {
  return runPeerScript(PEER_SCRIPT, [suite], spec, threads, timeoutMs);
}

/** Any peer script: argv after the script, a JSON spec on stdin, JSON (or {"error"}) on stdout. */
export function runPeerScript(script: URL, args: string[], spec: unknown, threads: number, timeoutMs = 30 * 60_000): PeerResult {
  if (!existsSync(PEER_PYTHON)) return { ok: false, why: `${PEER_PYTHON} not found` };
  const r = spawnSync(PEER_PYTHON, [script.pathname, ...args], {
    input: JSON.stringify(spec),
    encoding: "utf8",
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  if (r.error) {
    const timedOut = (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT";
    return { ok: false, why: timedOut ? `${script.pathname.split("/").pop()} ran past its ${timeoutMs >= 60_000 ? `${Math.round(timeoutMs / 60_000)}-minute` : `${timeoutMs / 1000}-second`} limit (a busy machine?) and was stopped` : `running ${PEER_PYTHON}: ${r.error.message}` };
  }
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    return { ok: false, why: `peer script gave no JSON (exit ${r.status}): ${(r.stderr ?? "").trim().split("\n").slice(-3).join(" / ")}` };
  }
  if (typeof data["error"] === "string") return { ok: false, why: data["error"] };
  return { ok: true, data };
}
