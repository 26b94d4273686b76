#!/usr/bin/env node
// The `aha` command. The TypeScript sources are compiled to dist/ by `npm ci` (the prepare script).
import { existsSync } from "node:fs";
const entry = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("aha: dist/ is missing. Run `npm ci` (or `npm run build`) in the aha folder first.\n");
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
