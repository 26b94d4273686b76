/** Child process for the pipeline kill tests: runs a pipeline config into a run directory until killed. */
import { readFileSync } from "node:fs";
import { parsePipeline, runPipeline } from "../../src/runner/pipeline.js";

const [config, dir] = process.argv.slice(2);
await runPipeline(parsePipeline(readFileSync(config!, "utf8"), config!), { runDir: dir! });
