/**
 * `aha dashboard [RUNS_DIR] [--port 6006] [--host 127.0.0.1]`: serves the web dashboard over a runs
 * directory until interrupted (Ctrl-C).
 */
import { stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { UserError } from "../errors.js";

export const summary = "web dashboard over a runs directory: curves, samples, evaluations (live)";

const HELP = `Usage: aha dashboard [RUNS_DIR] [--port 6006] [--host 127.0.0.1]

Serves a web page over RUNS_DIR (default: runs/): the runs with their status, each run's metric curves
(smoothing, step/time axis, several runs overlaid), its config and base-vs-final summary, the sampled
responses of every logged step, and \`aha eval\` outputs. A running run's page updates by itself.
/play trains the built-in demo in the browser tab (WebGPU, else WASM; docs/play.md).

Options:
  --port N        port to listen on (default 6006; 0 picks a free one)
  --host ADDR     address to bind (default 127.0.0.1: only this machine can connect). Binding to
                  another address lets anyone who can reach it read every file in RUNS_DIR.
  -h, --help      show this help
`;

/** Where `npm run build` puts the bundled web app (scripts/build-dashboard.mjs). */
export const ASSETS_DIR = fileURLToPath(new URL("../dashboard/public/", import.meta.url));
/** Where `npm run build` puts the /play page (scripts/build-play.mjs). */
export const PLAY_DIR = fileURLToPath(new URL("../play/public/", import.meta.url));

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: "string", default: "6006" },
        host: { type: "string", default: "127.0.0.1" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    throw new UserError((e as Error).message, "see `aha dashboard --help`");
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 1) throw new UserError(`expected one RUNS_DIR, got ${positionals.length}: ${positionals.join(" ")}`);
  const runsDir = positionals[0] ?? "runs";
  if (!/^\d{1,5}$/.test(values.port) || Number(values.port) > 65535) throw new UserError(`--port: '${values.port}' is not a port number (0-65535)`);
  try {
    if (!(await stat(runsDir)).isDirectory()) throw new UserError(`${runsDir} is not a directory`);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`runs directory '${runsDir}' does not exist`, "train something first (`aha train`), or pass the folder that holds your runs");
  }
  if (!(await stat(ASSETS_DIR).catch(() => null))) {
    throw new UserError(`the dashboard's web app is missing (${ASSETS_DIR})`, "run `npm run build` in the aha folder");
  }
  const { startDashboard } = await import("../dashboard/server.js");
  let dash;
  try {
    dash = await startDashboard({ runsDir, assetsDir: ASSETS_DIR, playDir: PLAY_DIR, host: values.host, port: Number(values.port) });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new UserError(`port ${values.port} is in use`, "pick another with --port (0 picks a free one)");
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") throw new UserError(`--host: cannot bind to '${values.host}'`);
    throw e;
  }
  process.stdout.write(`aha dashboard: ${runsDir} at ${dash.url}  (Ctrl-C to stop); the demo in your browser: ${dash.url}play/\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await dash.close();
  return 0;
}
