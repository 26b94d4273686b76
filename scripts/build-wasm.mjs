#!/usr/bin/env node
// Builds the WASM SIMD kernels (src/kernels/wasm/kernels.c → build/wasm/aha_kernels.wasm) that the
// /play page runs where the browser has no WebGPU. Needs clang and wasm-ld (Debian: clang lld, which
// scripts/install-deps.sh installs). Runs from `npm run build`. Without the toolchain it prints ONE
// warning and exits 0 (the page then runs the TypeScript kernels and says "js");
// AHA_REQUIRE_NATIVE=1 (CI) turns that into a failure.
//   node scripts/build-wasm.mjs [OUT_FILE]
import { spawnSync } from "node:child_process";
import { mkdirSync, renameSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const WASM_SOURCE = join(ROOT, "src", "kernels", "wasm", "kernels.c");
export const WASM_OUT = join(ROOT, "build", "wasm", "aha_kernels.wasm");

/** Returns the path of the built module, or null (with the reason) when the toolchain is missing. */
export function buildWasm(out = WASM_OUT) {
  const cc = process.env.AHA_WASM_CC ?? "clang";
  if (spawnSync(cc, ["--version"], { stdio: "ignore" }).status !== 0) return { out: null, why: `no ${cc}` };
  if (spawnSync("wasm-ld", ["--version"], { stdio: "ignore" }).status !== 0) return { out: null, why: "no wasm-ld (Debian package lld)" };
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const args = ["--target=wasm32", "-msimd128", "-nostdlib", "-O3", "-fno-builtin",
    "-Wl,--no-entry", "-Wl,--export=__heap_base", "-Wl,--initial-memory=1048576", "-Wl,--stack-first", "-Wl,-z,stack-size=65536",
    "-o", tmp, WASM_SOURCE];
  const r = spawnSync(cc, args, { encoding: "utf8" });
  if (r.status !== 0) return { out: null, why: `${cc} failed:\n${r.stderr}` };
  renameSync(tmp, out);
  return { out, why: null };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { out, why } = buildWasm(process.argv[2] ? resolve(process.argv[2]) : undefined);
  if (out) process.stdout.write(`wasm kernels: built ${out}\n`);
  else {
    process.stderr.write(`aha: warning: WASM kernels not built (${why}); the /play page will run the TypeScript kernels ("js").\n` +
      "  To build them: apt-get install clang lld, then `npm run build`.\n");
    process.exit(process.env.AHA_REQUIRE_NATIVE === "1" ? 1 : 0);
  }
}
