/** Shared by the dashboard tests: a private copy of fixtures/runs, and raw HTTP requests. */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const FIXTURE_RUNS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "fixtures", "runs");
export const RUNNING = "countdown-dapo-qwen2.5-0.5b";
export const FINISHED = "countdown-grpo-qwen2.5-0.5b";
export const CRASHED = "countdown-drgrpo-smollm2";
export const EVAL = "eval-countdown-qwen2.5-0.5b-base";

/**
 * Copies the fixture runs into a fresh temp folder (the tests append to files) and makes the "running"
 * run look alive: this process's pid and a fresh update time.
 */
export function copyFixture(): { base: string; runs: string } {
  const base = mkdtempSync(join(tmpdir(), "aha-dash-"));
  const runs = join(base, "runs");
  cpSync(FIXTURE_RUNS, runs, { recursive: true });
  const sp = join(runs, RUNNING, "status.json");
  const st = JSON.parse(readFileSync(sp, "utf8")) as Record<string, unknown>;
  writeFileSync(sp, JSON.stringify({ ...st, pid: process.pid, updated: new Date().toISOString() }));
  return { base, runs };
}

/** A GET with the request target sent exactly as given (no client-side normalization of "..", "%2e"). */
export function rawGet(url: string, target: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: target, method: "GET", headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}
