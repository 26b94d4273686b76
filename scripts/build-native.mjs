// Builds the native kernels addon (build/Release/aha_native.node) with npm's bundled node-gyp.
// Runs from `npm ci` (the prepare script). If the compiler or oneDNN (Debian libdnnl-dev) is missing,
// or the build fails, it prints ONE clear warning and exits 0: the TypeScript backend then runs.
// AHA_REQUIRE_NATIVE=1 turns that warning into a failure (exit 1).
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const strict = process.env.AHA_REQUIRE_NATIVE === "1";

function giveUp(why) {
  process.stderr.write(`aha: warning: native kernels not built (${why}); the slow TypeScript backend will run.\n` +
    "  To build them: apt-get install g++ make libdnnl-dev, then `npm run build:native`.\n");
  process.exit(strict ? 1 : 0);
}

function findNodeGyp() {
  const candidates = [
    path.join(path.dirname(process.execPath), "..", "lib", "node_modules", "npm"),
    process.env.npm_execpath ? path.resolve(path.dirname(process.env.npm_execpath), "..") : "",
    root,
  ].filter(Boolean);
  for (const c of candidates) {
    try {
      return createRequire(path.join(c, "package.json")).resolve("node-gyp/bin/node-gyp.js");
    } catch { /* try the next place */ }
  }
  return null;
}

const cxx = process.env.CXX ?? "g++";
if (spawnSync(cxx, ["--version"], { stdio: "ignore" }).status !== 0) giveUp(`no C++ compiler (${cxx})`);
const hasDnnl = ["/usr/include/dnnl.hpp", "/usr/include/oneapi/dnnl/dnnl.hpp", "/usr/local/include/dnnl.hpp"]
  .some((p) => existsSync(p));
if (!hasDnnl) giveUp("oneDNN headers (dnnl.hpp, Debian package libdnnl-dev) not found");
const gyp = findNodeGyp();
if (!gyp) giveUp("node-gyp not found (it ships with npm)");

// Headers of the running Node: Debian's nodejs keeps them in /usr/include/node, so point node-gyp at
// /usr instead of letting it download them (the install must work offline).
const env = { ...process.env };
if (!env.npm_config_nodedir && existsSync("/usr/include/node/node_api.h")) env.npm_config_nodedir = "/usr";
const r = spawnSync(process.execPath, [gyp, "rebuild", "--release", "-j", "2"], {
  cwd: root, env, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8",
});
if (r.status !== 0) {
  process.stderr.write((r.stdout ?? "").slice(-4000) + (r.stderr ?? "").slice(-4000));
  giveUp("node-gyp build failed (output above)");
}
process.stdout.write("aha: native kernels built (build/Release/aha_native.node)\n");
