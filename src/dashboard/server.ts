/**
 * The dashboard's HTTP server (node:http): the bundled web app and a read-only JSON API over one runs
 * directory. Nothing outside the runs directory can be read through it (safe-path.ts); it answers
 * only GET/HEAD; bound to a loopback address it also refuses requests whose Host header names another
 * host (a DNS-rebinding page cannot read the runs).
 *
 *   GET /api/runs                                      runs and eval outputs, with effective status
 *   GET /api/run?run=P                                 a run's info, resolved config, summary
 *   GET /api/metrics?run=P&since=BYTES                 metrics.jsonl rows appended since a byte offset
 *   GET /api/samples?run=P&step=N&verdict=&q=&limit=   samples of a step (or search all steps)
 *   GET /api/live?run=P&since=BYTES                    server-sent events: "metrics" and "status"
 *   GET /api/eval?path=P                               an eval output's summary
 *   GET /api/eval/results?path=P&verdict=&q=&category=&offset=&limit=
 *   GET /files/<path inside RUNS_DIR>                  a raw file (download)
 *   GET /play/…                                        the demo trained in the browser tab (src/play/;
 *                                                      a static folder built by scripts/build-play.mjs)
 */
import { createReadStream } from "node:fs";
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join } from "node:path";
import { PathRefused } from "./safe-path.js";
import { RunsDir, type Verdict } from "./runs.js";

export interface DashboardOptions {
  /** The runs directory; every file served comes from inside it. */
  runsDir: string;
  /** The bundled web app (index.html, app.js, app.css); see scripts/build-dashboard.mjs. */
  assetsDir: string;
  /** The /play page's static folder (scripts/build-play.mjs); absent: no /play. */
  playDir?: string;
  host?: string;
  port?: number;
  /** How often the live view checks metrics.jsonl and status.json for changes. */
  pollMs?: number;
  now?: () => number;
}

export interface Dashboard {
  server: Server;
  url: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".jsonl": "text/plain; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".yaml": "text/plain; charset=utf-8",
  ".yml": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".wasm": "application/wasm",
  ".safetensors": "application/octet-stream",
};

/**
 * The /play page compiles WebAssembly ('wasm-unsafe-eval'), runs a worker from its own folder, and is
 * cross-origin isolated (COOP + COEP): a worker may block on a SharedArrayBuffer (WebGPU's sync link).
 */
const PLAY_HEADERS: Record<string, string> = {
  "Content-Security-Policy": "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
};

const SECURITY_HEADERS: Record<string, string> = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  // uPlot positions its legend and cursor with inline style attributes.
  "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
};

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", "Content-Length": Buffer.byteLength(data) });
  res.end(data);
}

function intParam(u: URL, name: string, def: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = u.searchParams.get(name);
  if (v === null || v === "") return def;
  if (!/^\d{1,15}$/.test(v)) throw new HttpError(400, `query parameter '${name}' must be a non-negative integer`);
  return Math.min(Number(v), max);
}

function pathParam(u: URL, name: string): string {
  const v = u.searchParams.get(name);
  if (v === null) throw new HttpError(400, `query parameter '${name}' is required`);
  return v;
}

function verdictParam(u: URL): Verdict {
  const v = u.searchParams.get("verdict") ?? "all";
  if (v !== "all" && v !== "correct" && v !== "incorrect") throw new HttpError(400, "verdict must be all, correct or incorrect");
  return v;
}

/**
 * Loads the bundled assets once: only these exact names are ever served from the assets folder (its
 * files, and those of the `subdirs` named), under `prefix`.
 */
async function loadAssets(dir: string, prefix = "", subdirs: readonly string[] = [], into = new Map<string, { type: string; body: Buffer }>()): Promise<Map<string, { type: string; body: Buffer }>> {
  const assets = into;
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return assets;
  }
  for (const n of names) {
    const p = join(dir, n);
    if (subdirs.includes(n) && (await stat(p)).isDirectory()) {
      await loadAssets(p, `${prefix}/${n}`, [], assets);
      continue;
    }
    const type = CONTENT_TYPES[extname(n)];
    if (!type || n.startsWith(".")) continue;
    if (!(await stat(p)).isFile()) continue;
    assets.set(`${prefix}/${n}`, { type, body: await readFile(p) });
  }
  return assets;
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const rootReal = await realpath(opts.runsDir);
  if (!(await stat(rootReal)).isDirectory()) throw new Error(`${opts.runsDir} is not a directory`);
  const runs = new RunsDir(rootReal, opts.now ?? Date.now);
  const assets = await loadAssets(opts.assetsDir);
  const play = opts.playDir ? await loadAssets(opts.playDir, "/play", ["demo-adder"]) : new Map<string, { type: string; body: Buffer }>();
  const host = opts.host ?? "127.0.0.1";
  const pollMs = opts.pollMs ?? 1000;
  const loopbackOnly = LOOPBACK.has(host);
  const live = new Set<ServerResponse>();

  async function api(u: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    switch (u.pathname) {
      case "/api/runs":
        return sendJson(res, 200, { root: opts.runsDir, ...(await runs.list()) });
      case "/api/run": {
        const run = pathParam(u, "run");
        const [info, config, summary] = await Promise.all([runs.runInfo(run), runs.config(run), runs.summary(run)]);
        return sendJson(res, 200, { info, config, summary });
      }
      case "/api/metrics": {
        const run = pathParam(u, "run");
        return sendJson(res, 200, await runs.metrics(run, intParam(u, "since", 0)));
      }
      case "/api/samples": {
        const run = pathParam(u, "run");
        const stepRaw = u.searchParams.get("step");
        const step = stepRaw === null || stepRaw === "" ? null : intParam(u, "step", 0);
        return sendJson(res, 200, await runs.querySamples(run, { step, verdict: verdictParam(u), text: (u.searchParams.get("q") ?? "").slice(0, 200), limit: intParam(u, "limit", 200, 1000) }));
      }
      case "/api/eval": {
        const path = pathParam(u, "path");
        const [info, summary] = await Promise.all([runs.evalInfo(path), runs.evalSummary(path)]);
        return sendJson(res, 200, { info, summary });
      }
      case "/api/eval/results": {
        const path = pathParam(u, "path");
        const category = u.searchParams.get("category");
        return sendJson(
          res,
          200,
          await runs.evalResults(path, {
            verdict: verdictParam(u),
            text: (u.searchParams.get("q") ?? "").slice(0, 200),
            category: category === null || category === "" ? null : category,
            offset: intParam(u, "offset", 0),
            limit: intParam(u, "limit", 50, 500),
          }),
        );
      }
      case "/api/live":
        return liveStream(u, req, res);
      default:
        throw new HttpError(404, `no such endpoint: ${u.pathname}`);
    }
  }

  /** Server-sent events: appended metrics rows, and the run's info whenever status.json changes. */
  async function liveStream(u: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const run = pathParam(u, "run");
    await runs.resolve(run); // refuse before opening the stream
    let offset = intParam(u, "since", 0);
    res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", Connection: "keep-alive" });
    res.write("retry: 2000\n\n");
    live.add(res);
    let lastInfo = "";
    let ino: number | null = null;
    let busy = false;
    let ticks = 0;
    const tick = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        // A file replaced (resume truncates it to the checkpoint's step) or shortened is read again whole.
        const id = await runs.metricsIdentity(run);
        let reset = false;
        if (id && ((ino !== null && id.ino !== ino) || id.size < offset)) {
          offset = 0;
          reset = true;
        }
        if (id) ino = id.ino;
        const chunk = await runs.metrics(run, offset);
        if (chunk.rows.length > 0 || reset) {
          res.write(`event: metrics\ndata: ${JSON.stringify({ rows: chunk.rows, offset: chunk.offset, reset })}\n\n`);
        }
        offset = chunk.offset;
        const info = JSON.stringify(await runs.runInfo(run));
        if (info !== lastInfo) {
          res.write(`event: status\ndata: ${info}\n\n`);
          lastInfo = info;
        }
        if (++ticks % Math.max(1, Math.round(15000 / pollMs)) === 0) res.write(": keep-alive\n\n");
      } catch {
        /* the run folder may be mid-rename; try again next tick */
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void tick(), pollMs);
    const stop = (): void => {
      clearInterval(timer);
      live.delete(res);
    };
    req.on("close", stop);
    res.on("close", stop);
    await tick();
  }

  async function rawFile(pathname: string, res: ServerResponse, head: boolean): Promise<void> {
    // Decode each segment on its own: an encoded "/" (%2f) must not split or join segments.
    const segs = pathname.slice("/files/".length).split("/").map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new HttpError(400, "bad percent-encoding");
      }
    });
    for (const s of segs) if (s.includes("/")) throw new PathRefused(s, "encoded '/' in a segment");
    const abs = await runs.resolve(segs.join("/"));
    const st = await stat(abs);
    if (!st.isFile()) throw new HttpError(404, "not a file");
    const type = CONTENT_TYPES[extname(abs)] ?? "application/octet-stream";
    res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": type, "Content-Length": st.size, "Cache-Control": "no-store", ...(type === "application/octet-stream" ? { "Content-Disposition": "attachment" } : {}) });
    if (head) return void res.end();
    createReadStream(abs).pipe(res);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "read-only: GET and HEAD only");
      if (loopbackOnly) {
        const h = (req.headers.host ?? "").replace(/:\d+$/, "").toLowerCase();
        if (!LOOPBACK.has(h)) throw new HttpError(403, `host '${h}' is not this dashboard (bound to ${host})`);
      }
      const raw = req.url ?? "/";
      if (!raw.startsWith("/")) throw new HttpError(400, "bad request target");
      const rawPath = raw.split("?")[0] ?? "";
      if (rawPath.startsWith("/files/")) return await rawFile(rawPath, res, req.method === "HEAD");
      const u = new URL(raw, "http://dashboard.invalid");
      // WHATWG URL parsing resolves "..", "%2e%2e" and "\\": any path it had to rewrite is refused.
      if (u.pathname !== rawPath) throw new PathRefused(rawPath, "not a canonical path");
      if (u.pathname.startsWith("/api/")) return await api(u, req, res);
      if (u.pathname === "/play") {
        res.writeHead(301, { ...SECURITY_HEADERS, Location: "/play/" });
        return void res.end();
      }
      if (u.pathname.startsWith("/play/")) {
        const file = play.get(u.pathname === "/play/" ? "/play/index.html" : u.pathname);
        if (!file) throw new HttpError(404, play.size === 0 ? "the /play page is not built: run `npm run build` in the aha folder" : "not found");
        res.writeHead(200, { ...SECURITY_HEADERS, ...PLAY_HEADERS, "Content-Type": file.type, "Content-Length": file.body.length, "Cache-Control": "no-cache" });
        return void res.end(req.method === "HEAD" ? undefined : file.body);
      }
      const asset = assets.get(u.pathname === "/" ? "/index.html" : u.pathname);
      if (asset) {
        res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": asset.type, "Content-Length": asset.body.length, "Cache-Control": "no-cache" });
        return void res.end(req.method === "HEAD" ? undefined : asset.body);
      }
      if (u.pathname === "/" && assets.size === 0) throw new HttpError(500, "the web app is not built: run `npm run build` in the aha folder");
      throw new HttpError(404, "not found");
    } catch (e) {
      if (res.headersSent) return void res.end();
      if (e instanceof PathRefused) return sendJson(res, 403, { error: e.message, code: e.code });
      if (e instanceof HttpError) return sendJson(res, e.status, { error: e.message });
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return sendJson(res, 404, { error: "not found" });
      return sendJson(res, 500, { error: e instanceof Error ? e.message : String(e) });
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 6006, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${shownHost}:${addr.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of live) r.end();
        live.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
