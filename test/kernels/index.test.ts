/** getBackend(): AHA_BACKEND picks the backend; a bad value is an error naming the allowed ones. */
import { afterEach, describe, expect, it, vi } from "vitest";

async function freshGetBackend() {
  vi.resetModules();
  return (await import("../../src/kernels/index.js")).getBackend;
}

describe("getBackend", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  it("AHA_BACKEND=ts gives the TypeScript reference", async () => {
    vi.stubEnv("AHA_BACKEND", "ts");
    expect((await freshGetBackend())().name).toBe("ts");
  });
  it("rejects an unknown AHA_BACKEND", async () => {
    vi.stubEnv("AHA_BACKEND", "cuda");
    const get = await freshGetBackend();
    expect(() => get()).toThrow(/'ts', 'native' or 'webgpu'/);
  });
  it("picks native by default when the addon loads, and caches the choice", async () => {
    vi.stubEnv("AHA_BACKEND", "");
    const get = await freshGetBackend();
    const { loadNativeBackend } = await import("../../src/kernels/native.js");
    const warn = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const b = get();
      expect(get()).toBe(b);
      if (loadNativeBackend().ok) {
        expect(b.name).toBe("native");
        expect(warn).not.toHaveBeenCalled();
      } else {
        // without the addon: the reference, and exactly one warning
        expect(b.name).toBe("ts");
        expect(warn).toHaveBeenCalledTimes(1);
      }
    } finally {
      warn.mockRestore();
    }
  });
});
