/**
 * Where a run tells its user what is happening: lines for stdout (`say`), warnings (`warn`) and progress
 * lines. A library call is quiet unless given a reporter; the CLI uses `terminalReporter`.
 */
import { Progress } from "../runs/progress.js";
import type { ProgressSink } from "../rl/loop.js";

export interface Reporter {
  say(line: string): void;
  warn(line: string): void;
  /** A progress line for `total` items starting at `start` (null = none). */
  progress(label: string, total: number, start: number): ProgressSink | null;
}

export const quietReporter: Reporter = {
  say: () => {},
  warn: () => {},
  progress: () => null,
};

/** Lines to `out`, warnings as "<command>: …" and progress lines to `err` (stdout / stderr by default). */
export function terminalReporter(command: string, o: { out?: NodeJS.WritableStream & { isTTY?: boolean }; err?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } } = {}): Reporter {
  const out = o.out ?? process.stdout;
  const err = o.err ?? process.stderr;
  return {
    say: (line) => void out.write(line + "\n"),
    warn: (line) => void err.write(`\naha ${command}: ${line}\n`),
    progress: (label, total, start) => new Progress({ total, label, stream: err }, start),
  };
}

/** Lines to console.log (for scripts: `prepareTrainRun(settings, { reporter: consoleReporter })`). */
export const consoleReporter: Reporter = {
  say: (line) => console.log(line),
  warn: (line) => console.warn(line),
  progress: () => null,
};
