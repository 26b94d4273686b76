/**
 * Per-op profile for `aha bench train|sample --profile`: a backend that forwards every call to the real
 * one and adds up its wall time per op (matrix products per shape, layout and operand types, e.g.
 * "matmul 4096x256x704 tB f·b" = m×k×n, b transposed, fp32 a, bf16 b; "matmulPacked 16x896x4864" =
 * m×k×n on packed bf16 weights; "matmulPackedMany 16x896x4864+4864": several at once). Where the time of a step goes.
 */
import type { Backend, BF16, F32, MatmulOptions } from "../kernels/backend.js";

export interface OpTime {
  op: string;
  ms: number;
  calls: number;
}

function matmulKey(a: F32 | BF16, b: F32 | BF16, m: number, n: number, k: number, o: MatmulOptions | undefined): string {
  const layout = `${o?.transA ? "tA" : ""}${o?.transB ? "tB" : ""}${o?.accumulate ? "+" : ""}` || "nn";
  const t = (x: F32 | BF16): string => (x instanceof Uint16Array ? "b" : "f");
  return `matmul ${m}x${k}x${n} ${layout} ${t(a)}·${t(b)}${o?.bf16 ? " bf16" : ""}`;
}

/** Wraps `be`; `take()` returns the times since the last take, largest first, and starts again. */
export function profiled(be: Backend): { backend: Backend; take(): OpTime[] } {
  const times = new Map<string, OpTime>();
  const add = (op: string, ms: number): void => {
    const e = times.get(op) ?? { op, ms: 0, calls: 0 };
    e.ms += ms;
    e.calls++;
    times.set(op, e);
  };
  const wrapped: Record<string, unknown> = { name: be.name };
  for (const [name, fn] of Object.entries(be) as Array<[string, unknown]>) {
    if (typeof fn !== "function") continue;
    wrapped[name] = (...args: unknown[]): unknown => {
      const op = name === "matmul"
        ? matmulKey(args[1] as F32, args[2] as F32, args[3] as number, args[4] as number, args[5] as number, args[6] as MatmulOptions)
        : name === "matmulPacked" ? `matmulPacked ${String(args[3])}x${String(args[5])}x${String(args[4])}`
          : name === "matmulPackedMany" ? `matmulPackedMany ${String(args[3])}x${String(args[5])}x${(args[4] as number[]).join("+")}` : name;
      const t0 = performance.now();
      const r = (fn as (...a: unknown[]) => unknown).apply(be, args);
      add(op, performance.now() - t0);
      return r;
    };
  }
  return {
    backend: wrapped as unknown as Backend,
    take: () => {
      const out = [...times.values()].sort((x, y) => y.ms - x.ms);
      times.clear();
      return out;
    },
  };
}
