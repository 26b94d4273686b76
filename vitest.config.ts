import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Tests must not print: a stray console call is a bug (zod's fail-on-console habit).
    onConsoleLog: () => false,
    // kernel choices (src/kernels/choice.ts) are measured per test process, never cached in ~/.cache
    env: { AHA_KERNEL_CACHE: "off" },
  },
});
