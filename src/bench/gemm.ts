/**
 * GEMM GFLOP/s: c (M, N) = a (M, K) · b (N, K)ᵀ — the nn.Linear layout the model uses — in fp32 and in
 * bf16 (both operands bf16 arrays, fp32 accumulation), through the backend (one JS → N-API call per
 * product), next to oneDNN timed alone in C++ (`onednn`) and to PyTorch (`peer`).
 */
import type { Backend } from "../kernels/backend.js";
import type { Bf16Resolution } from "../kernels/bf16-gemm.js";
import { bf16Gemm, loadNativeBackend } from "../kernels/native.js";
import { WebGpuBackend } from "../kernels/webgpu/backend.js";
import { runPeer } from "./peer.js";
import type { BenchContext, BenchRow, BenchSuite } from "./types.js";

/** M×K×N cases from issue 2: a long-batch projection, a square-ish one, a small one, a decode-like MLP. */
export const GEMM_CASES: ReadonlyArray<readonly [number, number, number]> = [
  [4096, 256, 768],
  [4096, 1024, 1024],
  [64, 512, 512],
  [16, 896, 4864],
];
const DTYPES = ["fp32", "bf16"] as const;

/**
 * Best of 3 rounds of `iters` calls, iters chosen so a round takes about `seconds / 3`, after a warm-up
 * call; when one timed call alone takes `seconds` or more, that call is the figure (2 calls in all).
 */
export function bestSeconds(fn: () => void, seconds: number): { perCall: number; iters: number } {
  fn();
  const t0 = performance.now();
  fn();
  const one = Math.max((performance.now() - t0) / 1e3, 1e-7);
  // one call already took the whole budget (webgpu over SwiftShader: seconds per product): it is the figure
  if (one >= seconds) return { perCall: one, iters: 1 };
  const iters = Math.max(1, Math.floor(seconds / 3 / one));
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (let i = 0; i < iters; i++) fn();
    best = Math.min(best, (performance.now() - t) / 1e3 / iters);
  }
  return { perCall: best, iters };
}

/** Waits for queued device work (webgpu), so that a timing covers the kernels and not just their queueing. */
export function syncDevice(be: Backend): void {
  if (be instanceof WebGpuBackend) be.flush();
}

export const gemmSuite: BenchSuite = {
  summary: "matrix products (GFLOP/s), fp32 and bf16, vs raw oneDNN and PyTorch",
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const be = ctx.backend;
    const native = loadNativeBackend();
    const seconds = ctx.quick ? 0.15 : 1.5;
    const rows: BenchRow[] = [];
    if (native.ok && be.name === "native") logBf16Choices(ctx, bf16Gemm(native.addon));
    const cases = GEMM_CASES.filter(([m, k, n]) => !ctx.only || ctx.only.includes(`${m}x${k}x${n}`));
    for (const [m, k, n] of cases) {
      const a = new Float32Array(m * k), b = new Float32Array(n * k), c = new Float32Array(m * n);
      for (let i = 0; i < a.length; i++) a[i] = Math.sin(i) * 0.5;
      for (let i = 0; i < b.length; i++) b[i] = Math.cos(i) * 0.5;
      const a16 = new Uint16Array(a.length), b16 = new Uint16Array(b.length);
      be.toBf16(a16, a);
      be.toBf16(b16, b);
      for (const dtype of DTYPES) {
        const flop = 2 * m * n * k;
        // the TS reference would take minutes on the big cases: one call is enough to time it
        const secs = be.name === "ts" ? 0 : seconds;
        const x = dtype === "bf16" ? a16 : a, y = dtype === "bf16" ? b16 : b;
        const t = bestSeconds(() => {
          be.matmul(c, x, y, m, n, k, { transB: true });
          syncDevice(be);
        }, secs);
        const row: BenchRow = { what: "gemm", case: `${m}x${k}x${n}`, dtype, aha: flop / t.perCall / 1e9, peer: null,
          unit: "GFLOP/s", onednn: null };
        if (native.ok) {
          row["onednn"] = flop / native.addon.benchRaw(m, n, k, dtype === "bf16" ? 1 : 0, t.iters) / 1e9;
          row["impl"] = native.addon.matmulImpl(m, n, k, 2 | (dtype === "bf16" ? 8 : 0));
          // the bf16 path this shape class takes here (chosen by measurement, src/kernels/bf16-gemm.ts);
          // `onednn` is oneDNN's bf16 matmul alone
          if (dtype === "bf16") {
            const route = native.addon.bf16Route(m, n, 2);
            row["path"] = `${route.class}:${route.path}`;
          }
        }
        if (ctx.webgpu) {
          // operands resident on the device (copies: a product's inputs never travel per call), one sync per product
          const wg = ctx.webgpu;
          const xg = x.slice(), yg = y.slice(), cg = c.slice();
          for (const v of [xg, yg, cg]) wg.keepOnDevice(v);
          const tg = bestSeconds(() => {
            wg.matmul(cg, xg, yg, m, n, k, { transB: true });
            syncDevice(wg);
          }, ctx.quick ? 0 : seconds);
          row["webgpu"] = flop / tg.perCall / 1e9;
        }
        ctx.log(`gemm ${row.case} ${dtype}: aha ${row.aha.toFixed(0)} GFLOP/s` +
          (row["onednn"] !== null ? `, oneDNN alone ${Number(row["onednn"]).toFixed(0)}` : "") +
          (row["webgpu"] !== undefined ? `, webgpu ${Number(row["webgpu"]).toFixed(1)}` : ""));
        rows.push(row);
      }
    }
    if (ctx.peer) {
      const p = runPeer("gemm", { cases, dtypes: DTYPES, seconds }, ctx.threads);
      if (p.ok) {
        const peerRows = p.data["rows"] as Array<{ case: string; dtype: string; gflops: number }>;
        for (const r of rows) r.peer = peerRows.find((q) => q.case === r.case && q.dtype === r.dtype)?.gflops ?? null;
        ctx.log(`gemm peer: PyTorch ${String(p.data["torch"])} on ${String(p.data["threads"])} threads`);
      } else {
        ctx.note(`gemm: no PyTorch peer (${p.why}); peer is null`);
      }
    }
    return rows;
  },
};

/** One line per bf16 shape class: the path taken, why (measured now, cached, AHA_BF16_GEMM) and the timings. */
function logBf16Choices(ctx: BenchContext, r: Bf16Resolution): void {
  for (const [cls, c] of Object.entries(r.choices)) {
    const t = c.seconds ? ` (onednn ${(c.seconds.onednn * 1e3).toFixed(3)} ms, emulate ${(c.seconds.emulate * 1e3).toFixed(3)} ms)` : "";
    ctx.log(`bf16 ${cls}: ${c.path}, ${c.source}${t}${c.source === "cache" ? ` from ${r.cacheFile}` : ""}`);
  }
}
