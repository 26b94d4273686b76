/**
 * What every HTTP client of aha shares (the rollout engine's, the judge's, weight sync's): which statuses
 * are worth a retry, the backoff between tries, Retry-After, the server's own error message, and a FIFO
 * limit on requests in flight.
 */

/** 429, 408 and 5xx: the server's trouble, worth another try. Any other 4xx is the request's fault. */
export const isRetryableStatus = (status: number): boolean => status === 429 || status === 408 || status >= 500;

/** The backoff before retry `attempt` (0-based): first × 2^attempt, capped at 30 s, ±25 % jitter. */
export function backoffMs(first: number, attempt: number): number {
  return Math.min(first * 2 ** attempt, 30_000) * (0.75 + 0.5 * Math.random());
}

/** A Retry-After header in seconds as milliseconds (capped at `capMs`), or null when absent or not a number. */
export function retryAfterMs(headers: Headers, capMs: number): number | null {
  const ra = headers.get("retry-after");
  if (ra === null || ra.trim() === "" || !Number.isFinite(Number(ra))) return null;
  return Math.min(Math.max(Number(ra), 0) * 1000, capMs);
}

/**
 * The server's message from an error body: OpenAI's {"error": {"message"}} or {"error": "…"}, or a
 * "message" / "detail" field; else the body itself. `cut` bounds the text (default: fields whole, the
 * body's first 300 characters).
 */
export function errorMessage(text: string, cut?: (s: string) => string): string {
  const field = cut ?? ((s: string) => s);
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown; detail?: unknown };
    if (typeof j.error === "string") return field(j.error);
    if (j.error && typeof j.error.message === "string") return field(j.error.message);
    if (typeof j.message === "string") return field(j.message);
    if (typeof j.detail === "string") return field(j.detail);
  } catch {
    // not JSON
  }
  return (cut ?? ((s: string) => s.slice(0, 300)))(text) || "(empty body)";
}

/** At most `size` holders at once; waiters are served first come, first served. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async take(): Promise<void> {
    if (this.active < this.size) {
      this.active++;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next) next(); // the slot passes straight on
    else this.active--;
  }
}
