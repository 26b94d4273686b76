/**
 * The terminal progress line: on a TTY one line rewritten in place (step, rate, ETA, a few metrics);
 * when stdout is not a TTY (a log file, CI) plain lines at most every `plainEverySeconds`, plus the last.
 */

export interface ProgressOptions {
  total: number;
  label?: string;
  /** Where to write (default process.stdout); `isTTY` decides the mode. */
  stream?: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Seconds between plain lines when not a TTY. */
  plainEverySeconds?: number;
  /** Clock in seconds (tests inject one). */
  now?: () => number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

const fmtNum = (v: number): string => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));

export class Progress {
  private readonly stream: NonNullable<ProgressOptions["stream"]>;
  private readonly now: () => number;
  private readonly start: number;
  private readonly startDone: number;
  private lastPlain = -Infinity;
  private lastLen = 0;

  constructor(private readonly opts: ProgressOptions, done = 0) {
    this.stream = opts.stream ?? process.stdout;
    this.now = opts.now ?? (() => performance.now() / 1000);
    this.start = this.now();
    this.startDone = done;
  }

  get tty(): boolean {
    return this.stream.isTTY === true;
  }

  /** The text of the line for `done` of `total` with extra `name value` pairs. */
  line(done: number, extra: Record<string, number | string> = {}): string {
    const elapsed = this.now() - this.start;
    const newDone = done - this.startDone;
    const rate = elapsed > 0 ? newDone / elapsed : 0;
    const eta = rate > 0 ? (this.opts.total - done) / rate : Number.NaN;
    const parts = [`${this.opts.label ?? "step"} ${done}/${this.opts.total}`];
    for (const [k, v] of Object.entries(extra)) parts.push(`${k} ${typeof v === "number" ? fmtNum(v) : v}`);
    parts.push(rate > 0 ? (rate >= 1 ? `${rate.toFixed(2)} steps/s` : `${(1 / rate).toFixed(1)} s/step`) : "- s/step");
    parts.push(`elapsed ${formatDuration(elapsed)}`, `ETA ${done >= this.opts.total ? "0s" : formatDuration(eta)}`);
    return parts.join(" · ");
  }

  update(done: number, extra: Record<string, number | string> = {}): void {
    const text = this.line(done, extra);
    if (this.tty) {
      const width = this.stream.columns ?? 120;
      const shown = text.length > width - 1 ? text.slice(0, width - 2) + "…" : text;
      this.stream.write("\r" + shown + " ".repeat(Math.max(0, this.lastLen - shown.length)));
      this.lastLen = shown.length;
      return;
    }
    const t = this.now();
    if (done >= this.opts.total || t - this.lastPlain >= (this.opts.plainEverySeconds ?? 30)) {
      this.stream.write(text + "\n");
      this.lastPlain = t;
    }
  }

  /** Ends the in-place line (TTY) so later output starts on a fresh line. */
  finish(): void {
    if (this.tty && this.lastLen > 0) this.stream.write("\n");
    this.lastLen = 0;
  }
}
