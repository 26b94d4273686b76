/** The per-op profiler of `aha bench train --profile`: it forwards every call and counts it under the right key. */
import { describe, expect, it } from "vitest";
import { profiled } from "../../src/bench/profile.js";
import { packedBf16Size } from "../../src/kernels/backend.js";
import { tsBackend } from "../../src/kernels/ts.js";

describe("profiled backend", () => {
  it("forwards calls unchanged and counts them per op, matmuls per shape, layout and operand types", () => {
    const p = profiled(tsBackend);
    const a = Float32Array.from([1, 2, 3, 4, 5, 6]); // (2, 3)
    const b = Float32Array.from([1, 0, 0, 1, 1, 1]); // stored (2, 3) = rows [1 0 0], [1 1 1], used transposed
    const c = new Float32Array(4);
    p.backend.matmul(c, a, b, 2, 2, 3, { transB: true });
    expect([...c]).toEqual([1, 1 + 2 + 3, 4, 4 + 5 + 6]);
    const b16 = new Uint16Array(6);
    p.backend.toBf16(b16, b);
    p.backend.matmul(c, a, b16, 2, 2, 3, { transB: true, accumulate: true });
    p.backend.matmul(c, a, b16, 2, 2, 3, { transB: true, accumulate: true });
    expect([...c]).toEqual([3, 18, 12, 45]); // small integers: exact in bf16
    const out = new Float32Array(6);
    p.backend.add(out, a, a);
    expect(out[5]).toBe(12);
    expect(p.backend.name).toBe("ts");
    const got = p.take();
    expect(got.map((o) => [o.op, o.calls]).sort()).toEqual([
      ["add", 1], ["matmul 2x3x2 tB f·f", 1], ["matmul 2x3x2 tB+ f·b", 2], ["toBf16", 1],
    ]);
    for (const o of got) expect(o.ms).toBeGreaterThanOrEqual(0);
    expect(p.take()).toEqual([]);
  });

  it("keys packed products by m×k×n", () => {
    const p = profiled(tsBackend);
    const w = Float32Array.from([1, 2, 3, 4, 5, 6]); // (n 2, k 3)
    const wp = new Uint16Array(packedBf16Size(2, 3));
    p.backend.packBf16(wp, w, 2, 3);
    const c = new Float32Array(2);
    p.backend.matmulPacked(c, Float32Array.of(1, 1, 1), wp, 1, 2, 3);
    expect([...c]).toEqual([6, 15]);
    expect(p.take().map((o) => o.op).sort()).toEqual(["matmulPacked 1x3x2", "packBf16"]);
  });
});
