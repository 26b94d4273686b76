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
import { kernelConformance, matmulBf16Cases } from "./conformance.js";

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

  it("allocLarge: a zeroed, writable buffer of the length asked, its own memory each call; bad sizes refused", () => {
    for (const bytes of [0, 1, 4097, (2 << 20) + 6, 8 << 20]) {
      const a = new Uint8Array(N.allocLarge(bytes)), b = new Uint8Array(N.allocLarge(bytes));
      expect([a.length, b.length]).toEqual([bytes, bytes]);
      expect(a.every((x) => x === 0)).toBe(true);
      a.fill(7);
      expect(b.every((x) => x === 0)).toBe(true); // not shared
      if (bytes > 0) expect([a[0], a[bytes - 1]]).toEqual([7, 7]);
    }
    // used as the typed arrays the model makes of it
    const w = new Uint16Array(N.allocLarge(2 * 1000));
    w[999] = 0xffff;
    expect([w.length, w[999]]).toEqual([1000, 0xffff]);
    expect(() => N.allocLarge(-1)).toThrow(/non-negative integer/);
    expect(() => N.allocLarge(1.5)).toThrow(/non-negative integer/);
  });

  it.each(BF16_PATHS)("matmul bf16 (%s path): fp32 operands rounded, BF16 arrays used as they are, mixed", (path) => {
    const addon = nativeAddon();
    const chosen = bf16Gemm(addon).choices; // resolve first, so the first bf16 product does not undo the paths set here
    for (const cls of BF16_CLASSES) addon.setBf16Path(cls, path);
    try {
      for (const [m, n, flags, cls] of [[16, 64, 2, "decode"], [64, 16, 1, "decode"], [32, 32, 2, "nt"], [40, 64, 0, "nn"],
        [33, 129, 1, "tn"], [33, 129, 3, "tn"]] as const) {
        expect(addon.bf16Route(m, n, flags)).toEqual({ class: cls, path });
      }
      matmulBf16Cases(N);
    } finally {
      for (const cls of BF16_CLASSES) addon.setBf16Path(cls, chosen[cls].path);
    }
  });

  it("setBf16Path rejects unknown classes and paths", () => {
    const addon = nativeAddon();
    expect(() => addon.setBf16Path("big" as "nt", "onednn")).toThrow(/class must be decode, nt, nn or tn/);
    expect(() => addon.setBf16Path("nt", "amx" as "onednn")).toThrow(/path must be onednn or emulate/);
  });


  it("rejects wrong lengths instead of touching memory", () => {
    expect(() => N.matmul(new Float32Array(3), new Float32Array(4), new Float32Array(4), 2, 2, 2)).toThrow(/length/);
    expect(() => N.attentionForward(new Float32Array(8), new Float32Array(2), new Float32Array(8), new Float32Array(8),
      new Float32Array(8), Int32Array.from([0, 3]), 2, 1, 1, 4, 1)).toThrow(/cuSeqlens/);
  });
});
