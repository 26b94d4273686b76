/**
 * Lets the event loop run (I/O callbacks, signals, timers, a worker's messages) between chunks of
 * synchronous work, without Node imports: Node's global `setImmediate` where it exists (the same
 * callback `node:timers/promises`' setImmediate uses), else a MessageChannel message (browsers, Web
 * Workers), which — unlike `setTimeout(0)` — is not clamped to a minimum delay.
 */
type Immediate = (cb: () => void) => unknown;
interface Port {
  postMessage(v: unknown): void;
  onmessage: (() => void) | null;
}
type Channel = new () => { port1: Port; port2: Port };

let channel: { send: Port; queue: (() => void)[] } | null = null;

function postTask(cb: () => void): void {
  const g = globalThis as unknown as { setImmediate?: Immediate; MessageChannel?: Channel };
  if (typeof g.setImmediate === "function") {
    g.setImmediate(cb);
    return;
  }
  if (channel === null) {
    const mc = new g.MessageChannel!();
    const c = { send: mc.port2, queue: [] as (() => void)[] };
    mc.port1.onmessage = () => c.queue.shift()?.();
    channel = c;
  }
  channel.queue.push(cb);
  channel.send.postMessage(null);
}

/** Resolves after the event loop has had a turn. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => postTask(resolve));
}
