/**
 * The peer: scripts/peer_bench.py run with Debian's PyTorch (/usr/bin/python3, 2 threads), one
 * subcommand per suite, JSON on stdout. Missing Python or torch gives { ok: false, why } — the bench
 * then reports peer: null with a note, it does not fail.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

export const PEER_SCRIPT = new URL("../../scripts/peer_bench.py", import.meta.url);
export const PEER_PYTHON = process.env["AHA_PEER_PYTHON"] ?? "/usr/bin/python3";

export type PeerResult = { ok: true; data: Record<string, unknown> } | { ok: false; why: string };

export function runPeer(suite: string, spec: unknown, threads: number, timeoutMs = 30 * 60_000): PeerResult {
  return runPeerScript(PEER_SCRIPT, [suite], spec, threads, timeoutMs);
}

/**
 * Runs a full garbage collection now. The bench drops each model it measured, but V8 frees their arenas
 * (gigabytes at the 0.5B shape) only when it next collects, and it does not collect while this process
 * waits in spawnSync for a peer — whose own model then came on top: the default `aha bench` was killed
 * by the OOM killer (19 GB held by aha's two 0.5B training models, 3 GB by the peer's, on 24 GiB).
 */
export function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

/** Any peer script: argv after the script, a JSON spec on stdin, JSON (or {"error"}) on stdout. */
export function runPeerScript(script: URL, args: string[], spec: unknown, threads: number, timeoutMs = 30 * 60_000): PeerResult {
  if (!existsSync(PEER_PYTHON)) return { ok: false, why: `${PEER_PYTHON} not found` };
  collectGarbage(); // the models this process measured must not share the machine's memory with the peer's
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
