/**
 * Several OpenAI-compatible endpoints serving the same model, used as one: the remote rollout engine's
 * transport (./remote.ts). `rollout-endpoint` takes a comma-separated list of base URLs.
 *
 * Balancing: each request goes to the endpoint with the fewest requests in flight (ties round-robin),
 * among the endpoints that are up and have a free slot; each endpoint has its own cap (`concurrency`).
 *
 * Failover: a request has `retries` retries in all, whichever endpoints they go to. A failure that is the
 * endpoint's (refused or broken connection, timeout, a 2xx body that is not JSON or not a valid answer,
 * 429 / 408 / 5xx) counts against the endpoint: a connection failure, a timeout or garbage marks it down at
 * once, an HTTP status after `downAfter` failures in a row. The request then goes at once to an endpoint
 * it has not failed on that is up; when there is none it backs off (exponential, Retry-After honoured) and
 * tries again on the endpoints that are up — or, when none is, on the down ones (the request is the probe).
 * A failure that is the request's (400 and any other 4xx) is not retried anywhere: the endpoints serve the
 * same model with the same key, so another one would refuse it too.
 *
 * Probes: a down endpoint is asked GET /models after a cooldown (`probeMs`, doubling while it stays down,
 * capped at 30 s); any answer below 500 brings it back. Its cooldown is reset only by a request it serves,
 * so an endpoint that answers probes but fails requests comes back less and less often.
 *
 * When every endpoint is down and a request has used its retries, it fails with AHA_NO_ENDPOINT naming
 * every endpoint and its last error (one endpoint: AHA_ENDPOINT_UNREACHABLE, as a single client gives).
 * `state()` reports per endpoint {url, up, requests, failures, inFlight, lastError} for logs and metrics.
 *
 * Determinism: a request's body (its seed included) is the same whichever endpoint serves it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { AhaError } from "../errors.js";
import { backoffMs } from "../util/http.js";
import { attemptOnce, normaliseBaseUrl } from "./openai-client.js";

export interface EndpointPoolOptions {
  /** Base URLs: a list, or one string with a comma-separated list. */
  baseUrls: string | readonly string[];
  apiKey?: string;
  /** Requests in flight at once per endpoint. Default 16. */
  concurrency?: number;
  /** Retries of a request after its first try, over all endpoints. Default 5. */
  retries?: number;
  /** First backoff (ms) when a request has no fresh endpoint left; doubles, ±25 % jitter, capped at 30 s. Default 500. */
  backoffMs?: number;
  /** Per-request timeout (ms). Default 600 000. */
  timeoutMs?: number;
  /** HTTP 429 / 408 / 5xx answers in a row that mark an endpoint down. Default 2. */
  downAfter?: number;
  /** First cooldown (ms) before a down endpoint is probed; doubles while it stays down, capped at 30 s. Default 1000. */
  probeMs?: number;
  /** Timeout of a probe (ms). Default min(timeoutMs, 10 000). */
  probeTimeoutMs?: number;
}

/** One endpoint's state, for logs and metrics (e.g. rollout/endpoints_up). */
export interface EndpointState {
  url: string;
  up: boolean;
  /** Tries sent to it (a retried request counts once per try). */
  requests: number;
  /** Tries that failed on its side (connection, timeout, 429 / 408 / 5xx, garbage). */
  failures: number;
  inFlight: number;
  lastError: string | null;
}

/** The URLs of a comma-separated list, each normalised (normaliseBaseUrl); errors name the bad entry. */
export function parseEndpointList(list: string | readonly string[]): string[] {
  const raw = typeof list === "string" ? list.split(",").map((s) => s.trim()) : [...list];
  if (raw.length === 0 || (raw.length === 1 && raw[0] === "")) throw new AhaError("AHA_BAD_INPUT", "no endpoint URL given", "e.g. http://127.0.0.1:8000/v1,http://127.0.0.1:8001/v1");
  const out: string[] = [];
  raw.forEach((u, i) => {
    if (u === "") throw new AhaError("AHA_BAD_INPUT", `endpoint list ${JSON.stringify(typeof list === "string" ? list : list.join(","))}: entry ${i + 1} is empty`);
    const n = normaliseBaseUrl(u);
    if (out.includes(n)) throw new AhaError("AHA_BAD_INPUT", `endpoint ${u} is listed twice`);
    out.push(n);
  });
  return out;
}

interface Endpoint extends EndpointState {
  /** Failures in a row (reset by a success). */
  inARow: number;
  cooldownMs: number;
  probe: NodeJS.Timeout | null;
  /** Held out of rotation by the caller (weight sync: it failed to load the newest weights); the reason. */
  held: string | null;
}

/** What a request's answer must be; throw (any error) when it is garbage: the endpoint is at fault. */
export type Validate<T> = (json: unknown, url: string) => T;

const MAX_COOLDOWN = 30_000;

export class EndpointPool {
  readonly urls: readonly string[];
  /** Retries done so far, over all requests (tests and logs). */
  retriesDone = 0;
  private readonly eps: Endpoint[];
  private readonly o: Required<Omit<EndpointPoolOptions, "apiKey" | "baseUrls">> & { apiKey: string | undefined };
  private rr = 0;
  private waiters: (() => void)[] = [];
  private readonly hooked = new WeakSet<AbortSignal>();
  private readonly closer = new AbortController();

  constructor(o: EndpointPoolOptions) {
    this.urls = parseEndpointList(o.baseUrls);
    const timeoutMs = o.timeoutMs ?? 600_000;
    this.o = {
      concurrency: o.concurrency ?? 16, retries: o.retries ?? 5, backoffMs: o.backoffMs ?? 500, timeoutMs, downAfter: o.downAfter ?? 2,
      probeMs: o.probeMs ?? 1000, probeTimeoutMs: o.probeTimeoutMs ?? Math.min(timeoutMs, 10_000), apiKey: o.apiKey,
    };
    if (!Number.isInteger(this.o.concurrency) || this.o.concurrency < 1) throw new AhaError("AHA_BAD_INPUT", `concurrency must be a positive integer, got ${this.o.concurrency}`);
    if (!Number.isInteger(this.o.downAfter) || this.o.downAfter < 1) throw new AhaError("AHA_BAD_INPUT", `downAfter must be a positive integer, got ${this.o.downAfter}`);
    this.eps = this.urls.map((url) => ({ url, up: true, requests: 0, failures: 0, inFlight: 0, lastError: null, inARow: 0, cooldownMs: this.o.probeMs, probe: null, held: null }));
  }

  /** Per-endpoint state, in the order of the list. */
  state(): EndpointState[] {
    return this.eps.map((e) => ({ url: e.url, up: e.up && e.held === null, requests: e.requests, failures: e.failures, inFlight: e.inFlight, lastError: e.held ?? e.lastError }));
  }

  /**
   * POST `body` to `path` (relative to the base URLs) on one endpoint after another until one gives a
   * valid answer. Returns the answer and the endpoint that gave it.
   */
  async post<T>(path: string, body: unknown, validate: Validate<T>, signal?: AbortSignal): Promise<{ value: T; url: string }> {
    const failedHere = new Set<Endpoint>();
    let backoffs = 0;
    let wait: number | null = null;
    let lastProblem = "";
    for (let attempt = 0; attempt <= this.o.retries; attempt++) {
      if (attempt > 0) this.retriesDone++;
      if (wait !== null) {
        await sleep(wait, undefined, { signal: signals(signal, this.closer.signal) }).catch(() => undefined);
        wait = null;
        failedHere.clear();
      }
      this.checkAbort(signal);
      const ep = await this.acquire(failedHere, signal);
      ep.requests++;
      let problem: string;
      let dead: boolean;
      let retryAfterMs: number | null = null;
      try {
        const a = await attemptOnce("POST", ep.url + path, body, { apiKey: this.o.apiKey, timeoutMs: this.o.timeoutMs }, signals(signal, this.closer.signal));
        if (a.ok) {
          let value: T | undefined;
          let bad: string | null = null;
          try {
            value = validate(a.json, ep.url);
          } catch (e) {
            bad = (e as Error).message;
            // one endpoint: a malformed answer is a clear error at once, as from a single client
            if (this.eps.length === 1) throw e;
          }
          if (bad === null) {
            this.succeeded(ep);
            return { value: value as T, url: ep.url };
          }
          problem = bad;
          dead = true;
        } else {
          if (a.kind === "garbage" && this.eps.length === 1) throw new AhaError("AHA_ENDPOINT_ERROR", `POST ${ep.url}${path}: ${a.problem}`);
          problem = a.problem;
          dead = a.kind !== "status";
          retryAfterMs = a.retryAfterMs;
        }
      } finally {
        this.release(ep);
      }
      this.failed(ep, problem, dead);
      lastProblem = this.eps.length === 1 ? problem : `${ep.url}: ${problem}`;
      failedHere.add(ep);
      // at once to an endpoint this request has not failed on, else after a backoff
      if (!this.eps.some((e) => e.up && !failedHere.has(e))) wait = retryAfterMs ?? backoffMs(this.o.backoffMs, backoffs++);
    }
    if (this.eps.length === 1) {
      throw new AhaError("AHA_ENDPOINT_UNREACHABLE", `POST ${this.eps[0]!.url}${path} failed after ${this.o.retries + 1} tries: ${lastProblem}`, "is the server running, and is the URL right (e.g. http://127.0.0.1:8000/v1)?");
    }
    if (this.eps.every((e) => !e.up)) {
      throw new AhaError(
        "AHA_NO_ENDPOINT",
        `no rollout endpoint answers (${this.o.retries + 1} tries): ${this.eps.map((e) => `${e.url} (${e.lastError ?? "no error"})`).join("; ")}`,
        "are the servers running, and are the URLs right? A list may leave out the dead ones.",
      );
    }
    throw new AhaError("AHA_ENDPOINT_UNREACHABLE", `POST ${path} failed after ${this.o.retries + 1} tries; the last: ${lastProblem}`, "the endpoints are up but failed this request");
  }

  /** Stops the probes; pending requests are aborted. */
  close(): void {
    this.closer.abort();
    for (const e of this.eps) {
      if (e.probe) clearTimeout(e.probe);
      e.probe = null;
    }
    this.wake();
  }

  private checkAbort(signal?: AbortSignal): void {
    if (signal?.aborted || this.closer.signal.aborted) throw new AhaError("AHA_ABORTED", "generation was aborted");
  }

  /**
   * Holds an endpoint out of rotation (`reason`) or lets it back (null): weight sync holds a server that
   * failed to load the newest weights, so no sample comes from weights older than the trainer believes.
   * Requests never go to a held endpoint; when every endpoint is held they fail with AHA_NO_ENDPOINT.
   */
  hold(url: string, reason: string | null): void {
    const e = this.eps.find((x) => x.url === normaliseBaseUrl(url));
    if (!e) throw new AhaError("AHA_NO_ENDPOINT", `hold: ${url} is not one of the endpoints (${this.urls.join(", ")})`);
    e.held = reason;
    if (reason === null) this.wake();
  }

  /** The endpoints a try may go to: fresh ones (not failed by this request) that are up; else fresh ones; else all (never held ones). */
  private candidates(failedHere: ReadonlySet<Endpoint>): Endpoint[] {
    const usable = this.eps.filter((e) => e.held === null);
    if (usable.length === 0) throw new AhaError("AHA_NO_ENDPOINT", `every endpoint is held out: ${this.eps.map((e) => `${e.url} (${e.held})`).join("; ")}`, "the servers failed to load the trainer's weights: check their logs");
    const fresh = usable.filter((e) => !failedHere.has(e));
    const base = fresh.length > 0 ? fresh : usable;
    const up = base.filter((e) => e.up);
    return up.length > 0 ? up : base;
  }

  /** A slot on the least busy candidate (ties: round-robin), waiting for one when all are full. */
  private async acquire(failedHere: ReadonlySet<Endpoint>, signal?: AbortSignal): Promise<Endpoint> {
    for (;;) {
      this.checkAbort(signal);
      const free = this.candidates(failedHere).filter((e) => e.inFlight < this.o.concurrency);
      if (free.length > 0) {
        const least = Math.min(...free.map((e) => e.inFlight));
        const n = this.eps.length;
        let pick: Endpoint | null = null;
        for (let k = 0; k < n && pick === null; k++) {
          const e = this.eps[(this.rr + k) % n]!;
          if (e.inFlight === least && free.includes(e)) pick = e;
        }
        this.rr = (this.eps.indexOf(pick!) + 1) % n;
        pick!.inFlight++;
        return pick!;
      }
      // one listener per signal (not one per waiter): an abort wakes every waiter, each looks at its own signal
      if (signal && !this.hooked.has(signal)) {
        this.hooked.add(signal);
        signal.addEventListener("abort", () => this.wake(), { once: true });
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private release(ep: Endpoint): void {
    ep.inFlight--;
    this.wake();
  }

  /** Waiters look again (a slot was freed or an endpoint came back). */
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private succeeded(ep: Endpoint): void {
    ep.inARow = 0;
    ep.cooldownMs = this.o.probeMs;
    if (!ep.up) this.markUp(ep);
  }

  private failed(ep: Endpoint, problem: string, dead: boolean): void {
    ep.failures++;
    ep.inARow++;
    ep.lastError = problem;
    if (ep.up && (dead || ep.inARow >= this.o.downAfter)) {
      ep.up = false;
      this.scheduleProbe(ep);
    }
  }

  private markUp(ep: Endpoint): void {
    ep.up = true;
    ep.inARow = 0;
    if (ep.probe) clearTimeout(ep.probe);
    ep.probe = null;
    this.wake();
  }

  private scheduleProbe(ep: Endpoint): void {
    if (ep.probe || this.closer.signal.aborted) return;
    const delay = ep.cooldownMs;
    ep.cooldownMs = Math.min(ep.cooldownMs * 2, MAX_COOLDOWN);
    ep.probe = setTimeout(() => {
      ep.probe = null;
      void this.runProbe(ep);
    }, delay);
    ep.probe.unref();
  }

  private async runProbe(ep: Endpoint): Promise<void> {
    if (ep.up || this.closer.signal.aborted) return;
    let alive = false;
    try {
      const res = await fetch(ep.url + "/models", {
        headers: this.o.apiKey ? { authorization: `Bearer ${this.o.apiKey}` } : {},
        signal: AbortSignal.any([this.closer.signal, AbortSignal.timeout(this.o.probeTimeoutMs)]),
      });
      await res.arrayBuffer();
      alive = res.status < 500;
    } catch {
      alive = false;
    }
    if (ep.up || this.closer.signal.aborted) return;
    if (alive) this.markUp(ep);
    else this.scheduleProbe(ep);
  }
}

function signals(a: AbortSignal | undefined, b: AbortSignal): AbortSignal {
  return a ? AbortSignal.any([a, b]) : b;
}
