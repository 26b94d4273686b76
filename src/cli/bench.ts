/**
 * `aha bench [suite…] [--json FILE]`: the engine's figures next to PyTorch doing the same work.
 * Suites live in src/bench/ (one per subcommand, registered in src/bench/index.ts); no suite named =
 * the engine set (gemm, train, sample — those that are registered).
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { DEFAULT_SUITES, SUITES, type BenchContext, type BenchRow } from "../bench/index.js";
import { UserError } from "../errors.js";
import { getBackend } from "../kernels/index.js";
import { loadNativeBackend } from "../kernels/native.js";
import { loadWebGpuBackend } from "../kernels/webgpu-node.js";
import { writeJsonAtomic } from "../util/atomic.js";

export const summary = "benchmarks (GEMM, training, sampling, …) side by side with PyTorch";

const HELP = `Usage: aha bench [suite ...] [options]

Suites: ${Object.keys(SUITES).join(", ")}   (none named: ${DEFAULT_SUITES.join(", ")}, the overview:
        ≤ 10 minutes on 2 cores, the Qwen2.5-0.5B shape in bf16 only; name a suite for its fp32 cases too)

Options:
  --json FILE     also write {"machine":{...},"rows":[...]} to FILE
  --threads N     OpenMP threads for aha and PyTorch (default: 2, the development machine's cores)
  --no-peer       do not run the PyTorch peer (scripts/peer_bench.py with /usr/bin/python3)
  --only LIST     only these cases, comma-separated (gemm shapes like 64x512x512; models S, qwen2.5-0.5b;
                  lora: qwen2.5-0.5b, qwen2.5-1.5b)
  --quick         short timings and only model S (smoke test; noisy figures)
  --profile       train: also print one step's time per op (matmuls by shape, layout and operand types);
                  sample: the same for 16 new tokens per case (the sampler is outside the backend)
  --no-webgpu     do not report the webgpu backend beside the CPU one (it is reported when the optional
                  \`webgpu\` package is installed: gemm GFLOP/s and model S training tokens/s)
  -h, --help      this text

Environment: AHA_BF16_GEMM=onednn|emulate forces the bf16 GEMM path (default: measured once per
machine and cached in ~/.cache/aha/kernels.json; AHA_KERNEL_CACHE=FILE|off), see docs/kernels.md.
`;

function fmt(x: number | null | string | undefined): string {
  if (x === null || x === undefined) return "-";
  if (typeof x === "string") return x;
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** Minutes:seconds since t0 (performance.now()), for the progress lines: where a long run spends its time. */
export function clock(t0: number): string {
  const s = Math.floor((performance.now() - t0) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: "string" },
        threads: { type: "string" },
        "no-peer": { type: "boolean" },
        "no-webgpu": { type: "boolean" },
        quick: { type: "boolean" },
        profile: { type: "boolean" },
        only: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UserError((e as Error).message, "see `aha bench --help`");
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const names = positionals.length > 0 ? positionals : DEFAULT_SUITES;
  for (const n of names) {
    if (!(n in SUITES)) throw new UserError(`unknown bench suite '${n}'`, `suites: ${Object.keys(SUITES).join(", ")}`);
  }
  const threads = values.threads === undefined ? 2 : Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1) throw new UserError(`--threads must be a positive integer, got '${values.threads}'`);

  const backend = getBackend();
  const native = loadNativeBackend();
  if (native.ok) native.addon.setThreads(threads);
  const notes: string[] = [];
  const started = performance.now();
  let webgpu: BenchContext["webgpu"] = null;
  const wantWebgpu = !values["no-webgpu"] && backend.name !== "webgpu";
  const wg = wantWebgpu ? loadWebGpuBackend() : null;
  if (wg?.ok) webgpu = wg.backend;
  const ctx: BenchContext = {
    backend,
    webgpu,
    peer: !values["no-peer"],
    quick: values.quick ?? false,
    overview: positionals.length === 0,
    profile: values.profile ?? false,
    only: values.only === undefined ? null : values.only.split(",").map((x) => x.trim()).filter((x) => x !== ""),
    threads,
    log: (line) => process.stderr.write(`bench ${clock(started)}: ${line}\n`),
    note: (line) => {
      notes.push(line);
      process.stderr.write(`bench ${clock(started)}: note: ${line}\n`);
    },
  };
  if (wg && !wg.ok) ctx.note(`no webgpu figures: ${wg.error}`);
  if (wg?.ok) ctx.note(`webgpu figures: Dawn on ${wg.backend.adapter}`);
  if (backend.name === "ts") ctx.note("the TypeScript reference backend is running (native addon not loaded): figures are not representative");

  const cpus = os.cpus();
  const machine: Record<string, unknown> = {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    threads,
    node: process.version,
    backend: backend.name,
    simd: native.ok ? native.addon.info().simd : null,
    // the fp32 FMA ceiling, measured now on `threads` threads (MEASUREMENTS.md: ~490 GFLOP/s on 2 threads)
    fmaPeakGflops: native.ok ? native.addon.fmaPeak(ctx.quick ? 2e6 : 5e7) : null,
    date: new Date().toISOString(),
    notes,
  };
  process.stderr.write(`bench ${clock(started)}: ${String(machine["cpu"])}, ${threads} threads, backend ${backend.name}` +
    `, FMA peak ${fmt(machine["fmaPeakGflops"] as number | null)} GFLOP/s\n`);

  const rows: BenchRow[] = [];
  const suiteSeconds: Record<string, number> = {};
  for (const n of names) {
    const suite = await SUITES[n]!();
    const t0 = performance.now();
    rows.push(...(await suite.run(ctx)));
    suiteSeconds[n] = Math.round((performance.now() - t0) / 100) / 10;
    ctx.log(`${n}: done in ${clock(t0)} (peers included)`);
  }
  machine["suiteSeconds"] = suiteSeconds;
  machine["wallSeconds"] = Math.round((performance.now() - started) / 100) / 10;

  const head = ["what", "case", "dtype", "aha", "peer", "aha/peer", "unit", "other"];
  const table = rows.map((r) => {
    const other = Object.entries(r).filter(([k]) => !["what", "case", "dtype", "aha", "peer", "unit"].includes(k))
      .map(([k, v]) => `${k}=${fmt(v)}`).join(" ");
    return [r.what, r.case, r.dtype, fmt(r.aha), fmt(r.peer), r.peer ? fmt(r.aha / r.peer) : "-", r.unit, other];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 3 || i >= 6 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  process.stdout.write([line(head), ...table.map(line)].join("\n") + "\n");
  if (notes.length > 0) process.stdout.write(notes.map((n) => `note: ${n}`).join("\n") + "\n");

  if (values.json !== undefined) {
    writeJsonAtomic(values.json, { machine, rows });
  }
  return 0;
}
