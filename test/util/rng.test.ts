import { describe, expect, it } from "vitest";
import { fnv1a32, Rng } from "../../src/util/rng.js";

/** Reference sfc32 step written out independently from the published algorithm (32-bit words). */
function sfc32Ref(a: number, b: number, c: number, d: number): { out: number; next: [number, number, number, number] } {
  const t = (a + b + d) % 2 ** 32;
  const na = (b ^ (b >>> 9)) >>> 0;
  const nb = (c + c * 8) % 2 ** 32;
  const rot = ((c << 21) | (c >>> 11)) >>> 0;
  return { out: t, next: [na, nb, (rot + t) % 2 ** 32, (d + 1) % 2 ** 32] };
}

describe("Rng", () => {
  it("steps like sfc32", () => {
    const r = new Rng(7);
    let s = r.state();
    for (let i = 0; i < 100; i++) {
      const ref = sfc32Ref(s.a, s.b, s.c, s.d);
      expect(r.u32()).toBe(ref.out);
      s = r.state();
      expect([s.a, s.b, s.c, s.d]).toEqual(ref.next);
    }
  });
  it("FNV-1a matches published vectors", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
  });
  it("restores exactly from a JSON round trip of its state", () => {
    const r = new Rng(42, "data");
    for (let i = 0; i < 17; i++) r.float();
    const saved = JSON.parse(JSON.stringify(r.state())) as ReturnType<Rng["state"]>;
    const a = [r.float(), r.int(10), r.normal()];
    const q = Rng.fromState(saved);
    expect([q.float(), q.int(10), q.normal()]).toEqual(a);
  });
  it("purposes and seeds give different streams; same seed same stream", () => {
    const x = new Rng(1, "data").u32();
    expect(new Rng(1, "data").u32()).toBe(x);
    expect(new Rng(1, "sampling").u32()).not.toBe(x);
    expect(new Rng(2, "data").u32()).not.toBe(x);
  });
  it("float is in [0,1) with mean ~0.5; int is unbiased over a small range", () => {
    const r = new Rng(3);
    let s = 0;
    const counts = [0, 0, 0];
    for (let i = 0; i < 30000; i++) {
      const f = r.float();
      expect(f >= 0 && f < 1).toBe(true);
      s += f;
      counts[r.int(3)]!++;
    }
    expect(Math.abs(s / 30000 - 0.5)).toBeLessThan(0.01);
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(400);
  });
  it("rejects a malformed state", () => {
    expect(() => Rng.fromState({ a: 1, b: 2, c: -1, d: 0 })).toThrow(/word c/);
  });
});
