/**
 * Every webgpu kernel (WGSL on Dawn; SwiftShader in CI) against the TypeScript reference, at the native
 * backend's tolerances (./conformance.ts), plus the residency rules of src/kernels/webgpu/backend.ts.
 * The backend MUST start when the optional `webgpu` package is installed (`npm ci` installs it), and the
 * package must be there when AHA_REQUIRE_WEBGPU=1 (CI sets it): otherwise these tests fail. Without the
 * package (an install with --omit=optional), only the install hint is checked.
 */
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tsBackend as R } from "../../src/kernels/ts.js";
import { existsSync } from "node:fs";
import { loadWebGpuBackend, WEBGPU_INSTALL_HINT, workerScript } from "../../src/kernels/webgpu-node.js";
import { kernelConformance } from "./conformance.js";
import { randn, rng } from "./util.js";

const installed = (() => {
  try {
    createRequire(import.meta.url).resolve("webgpu");
    return true;
  } catch {
    return false;
  }
})();
const load = loadWebGpuBackend();
const required = process.env["AHA_REQUIRE_WEBGPU"] === "1";

describe("webgpu backend", () => {
  it(installed || required ? "starts on Dawn (the webgpu package is installed)" : "says how to get the webgpu package", () => {
    if (installed || required) expect(load.ok ? "started" : load.error).toBe("started");
    else expect(load.ok ? "started" : load.error).toBe(WEBGPU_INSTALL_HINT);
  });
});

describe("the worker's script under vitest", () => {
  it("is a bundle in a temporary folder that is removed once the worker has started", () => {
    const s = workerScript();
    expect(s.file).toMatch(/aha-webgpu-[^/]+\/worker\.mjs$/);
    expect(existsSync(s.file)).toBe(true);
    s.done();
    expect(existsSync(s.file)).toBe(false);
  });
});

describe.runIf(load.ok)("webgpu kernels match the reference", () => {
  if (!load.ok) return;
  const G = load.backend;
  kernelConformance(G);

  it("timed both variants of each two-variant kernel on the adapter and runs the faster", () => {
    const families = new Set([...G.choices.keys()].map((k) => k.split(":")[0]));
    expect([...families].sort()).toEqual(["logprobsForward", "matmul", "rmsnormBackwardX", "rmsnormForward", "sumSquares"]);
    for (const c of G.choices.values()) {
      expect(c.ms.serial).toBeGreaterThan(0);
      expect(c.ms.tiled).toBeGreaterThan(0);
      expect(c.variant).toBe(c.ms.tiled < c.ms.serial ? "tiled" : "serial");
    }
  });

  it("keeps resident arrays on the device until download, and takes host writes only through upload", () => {
    const r = rng(30);
    const arena = new Float32Array(1000);
    arena.set(randn(r, 1000));
    const ref = arena.slice();
    G.keepOnDevice(arena);
    const x = arena.subarray(100, 300), y = arena.subarray(300, 500);
    G.scale(x, 2); // device only
    expect(arena[100]).toBe(ref[100]); // host copy untouched: no round trip per kernel
    G.download(x);
    for (let i = 0; i < 200; i++) expect(x[i]).toBe(Math.fround(ref[100 + i]! * 2));
    y.fill(1); // a host write the device does not see ...
    G.add(x, x, y);
    G.download(x);
    expect(x[0]).toBe(Math.fround(Math.fround(ref[100]! * 2) + ref[300]!));
    G.upload(y); // ... until uploaded
    G.add(x, x, y);
    G.download(x);
    expect(x[0]).toBe(Math.fround(Math.fround(Math.fround(ref[100]! * 2) + ref[300]!) + 1));
    G.zero(y);
    G.copy(arena.subarray(500, 700), y);
    G.download(arena);
    expect(Array.from(arena.subarray(500, 700)).every((v) => v === 0)).toBe(true);
    // copies between resident arrays go as one batch: chained and overlapping ones keep their order's meaning
    // (a copy onto itself shifted is not supported, as before: each copy is parallel)
    const before = G.dispatches;
    const seq = new Float32Array(64);
    for (let i = 0; i < 64; i++) seq[i] = i;
    const host = seq.slice();
    const arena2 = seq.slice();
    G.keepOnDevice(arena2);
    const span = (a: Float32Array, lo: number, n: number): Float32Array => a.subarray(lo, lo + n);
    for (const [d, s2, n] of [[16, 0, 8], [24, 40, 8], [32, 16, 8], [4, 10, 4], [48, 56, 4], [56, 48, 4]] as const) {
      G.copy(span(arena2, d, n), span(arena2, s2, n));
      host.copyWithin(d, s2, s2 + n);
    }
    G.download(arena2);
    expect(Array.from(arena2)).toEqual(Array.from(host));
    expect(G.dispatches - before).toBeLessThan(6); // batched: fewer dispatches than copies
    // a transient (non-resident) output is copied back at once
    const out = new Float32Array(200);
    G.add(out, x, x);
    R.add(ref.subarray(0, 200), x, x);
    expect(Array.from(out)).toEqual(Array.from(ref.subarray(0, 200)));
  });
});

// each variant of the two-variant kernels (matmul, RMSNorm, log-softmax, sumSquares) against the reference,
// whichever the measurement would pick on this adapter
for (const mode of ["serial", "tiled"] as const) {
  describe.runIf(load.ok)(`webgpu kernels match the reference with the ${mode} variants forced`, () => {
    if (!load.ok) return;
    const G = load.backend;
    beforeAll(() => { G.variantMode = mode; });
    afterAll(() => { G.variantMode = "measure"; });
    kernelConformance(G);
  });
}
