/** The shared HTTP pieces (src/util/http.ts): retryable statuses, backoff bounds, Retry-After, error messages, the FIFO semaphore. */
import { describe, expect, it } from "vitest";
import { backoffMs, errorMessage, isRetryableStatus, retryAfterMs, Semaphore } from "../../src/util/http.js";

describe("util/http", () => {
  it("429, 408 and 5xx are retried; other 4xx are not", () => {
    expect([429, 408, 500, 503].map(isRetryableStatus)).toEqual([true, true, true, true]);
    expect([400, 401, 404, 422].map(isRetryableStatus)).toEqual([false, false, false, false]);
  });
  it("backoff doubles within ±25 % and is capped at 30 s", () => {
    for (let a = 0; a < 4; a++) {
      const b = backoffMs(100, a);
      expect(b).toBeGreaterThanOrEqual(0.75 * 100 * 2 ** a);
      expect(b).toBeLessThanOrEqual(1.25 * 100 * 2 ** a);
    }
    expect(backoffMs(1000, 20)).toBeLessThanOrEqual(1.25 * 30_000);
  });
  it("Retry-After in seconds, capped; absent or not a number is null", () => {
    expect(retryAfterMs(new Headers({ "retry-after": "2" }), 60_000)).toBe(2000);
    expect(retryAfterMs(new Headers({ "retry-after": "120" }), 30_000)).toBe(30_000);
    expect(retryAfterMs(new Headers({ "retry-after": "soon" }), 30_000)).toBeNull();
    expect(retryAfterMs(new Headers(), 30_000)).toBeNull();
  });
  it("the server's message, from each error shape, else the body's start", () => {
    expect(errorMessage(JSON.stringify({ error: { message: "bad model" } }))).toBe("bad model");
    expect(errorMessage(JSON.stringify({ error: "nope" }))).toBe("nope");
    expect(errorMessage(JSON.stringify({ detail: "missing field" }))).toBe("missing field");
    expect(errorMessage("x".repeat(400))).toHaveLength(300);
    expect(errorMessage("")).toBe("(empty body)");
    expect(errorMessage(JSON.stringify({ message: "abcdef" }), (s) => s.slice(0, 3))).toBe("abc");
  });
  it("the semaphore holds at most its size and serves waiters in order", async () => {
    const s = new Semaphore(2);
    const order: number[] = [];
    await s.take();
    await s.take();
    const waiters = [1, 2, 3].map((i) => s.take().then(() => order.push(i)));
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual([]);
    s.give();
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual([1]);
    s.give();
    s.give();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
  });
});
