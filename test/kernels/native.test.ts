/**
 * Every native kernel against the TypeScript reference on random inputs, odd sizes included.
 * The addon MUST load (CI installs libdnnl-dev and builds it in `npm ci`): if it does not, these tests
 * fail — unless AHA_BACKEND=ts is set explicitly, which declares a machine without the native backend.
 */
import { describe, expect, it } from "vitest";
import type { Backend } from "../../src/kernels/backend.js";
import { BF16_CLASSES, BF16_PATHS } from "../../src/kernels/bf16-gemm.js";
import { bf16Gemm, loadNativeBackend, type NativeAddon } from "../../src/kernels/native.js";
import { tsBackend as R } from "../../src/kernels/ts.js";
import { GEMM_BF16, kernelConformance } from "./conformance.js";
import { expectClose, randn, rng } from "./util.js";

const load = loadNativeBackend();
const tsOnly = process.env["AHA_BACKEND"] === "ts";

describe("native addon", () => {
  it(tsOnly ? "is not required (AHA_BACKEND=ts)" : "loads (build it with `npm run build:native`)", () => {
    if (tsOnly) return;
    expect(load.ok ? "loaded" : load.error).toBe("loaded");
  });
});

describe.runIf(load.ok)("native kernels match the reference", () => {
  const nativeAddon = (): NativeAddon => {
    if (!load.ok) throw new Error("the addon did not load");
    return load.addon;
  };
  const N = (load.ok ? load.backend : R) as Backend;
  kernelConformance(N);

  it.each(BF16_PATHS)("matmul bf16 (%s path): fp32 operands rounded, BF16 arrays used as they are, mixed", (path) => {
    const addon = nativeAddon();
    const chosen = bf16Gemm(addon).choices; // resolve first, so the first bf16 product does not undo the paths set here
    for (const cls of BF16_CLASSES) addon.setBf16Path(cls, path);
    try {
      for (const [m, n, flags, cls] of [[16, 64, 2, "decode"], [64, 16, 1, "decode"], [32, 32, 2, "nt"], [40, 64, 0, "nn"],
        [33, 129, 1, "tn"], [33, 129, 3, "tn"]] as const) {
        expect(addon.bf16Route(m, n, flags)).toEqual({ class: cls, path });
      }
      matmulBf16Cases();
    } finally {
      for (const cls of BF16_CLASSES) addon.setBf16Path(cls, chosen[cls].path);
    }
  });

  it("setBf16Path rejects unknown classes and paths", () => {
    const addon = nativeAddon();
    expect(() => addon.setBf16Path("big" as "nt", "onednn")).toThrow(/class must be decode, nt, nn or tn/);
    expect(() => addon.setBf16Path("nt", "amx" as "onednn")).toThrow(/path must be onednn or emulate/);
  });

  function matmulBf16Cases(): void {
    const r = rng(11);
    for (const [m, n, k] of [[1, 1, 1], [3, 17, 33], [33, 129, 17], [16, 96, 129], [40, 64, 100]] as const) {
      for (const transA of [false, true]) for (const transB of [false, true]) {
        const a = randn(r, m * k), b = randn(r, k * n), c0 = randn(r, m * n);
        const opts = { transA, transB, accumulate: true, bf16: true };
        const cr = c0.slice(), cn = c0.slice();
        R.matmul(cr, a, b, m, n, k, opts);
        N.matmul(cn, a, b, m, n, k, opts);
        expectClose(`bf16 matmul ${m}x${k}x${n} ${JSON.stringify(opts)}`, cn, cr, GEMM_BF16);
        const ab = new Uint16Array(m * k), bb = new Uint16Array(k * n);
        N.toBf16(ab, a);
        N.toBf16(bb, b);
        const cm = new Float32Array(m * n);
        N.matmul(cm, ab, b, m, n, k, { transA, transB }); // BF16 a makes the product bf16 × bf16
        R.matmul(cr, a, b, m, n, k, { transA, transB, bf16: true });
        expectClose(`mixed bf16 matmul ${m}x${k}x${n}`, cm, cr, GEMM_BF16);
        N.matmul(cm, ab, bb, m, n, k, { transA, transB });
        expectClose(`bf16 arrays matmul ${m}x${k}x${n}`, cm, cr, GEMM_BF16);
      }
    }
  }

  it("rejects wrong lengths instead of touching memory", () => {
    expect(() => N.matmul(new Float32Array(3), new Float32Array(4), new Float32Array(4), 2, 2, 2)).toThrow(/length/);
    expect(() => N.attentionForward(new Float32Array(8), new Float32Array(2), new Float32Array(8), new Float32Array(8),
      new Float32Array(8), Int32Array.from([0, 3]), 2, 1, 1, 4, 1)).toThrow(/cuSeqlens/);
  });
});
