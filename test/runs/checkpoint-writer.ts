/**
 * Child process for the kill -9 test: saves checkpoints in a loop, each with a model file whose bytes
 * encode the step, appending a metrics line per step, until killed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { RunDir } from "../../src/runs/run-dir.js";

const dir = process.argv[2]!;
const run = RunDir.create(dir, { seed: 1 }, { total_steps: 1_000_000, kind: "train", task: "t", model: "m" });
for (let step = 1; ; step++) {
  run.appendMetrics({ step, time: step, "reward/mean": step / 2 });
  await run.saveCheckpoint({ step, rng: { a: step, b: 0, c: 0, d: 1 } }, (d) => {
    fs.writeFileSync(path.join(d, "model.bin"), Buffer.alloc(200_000, step % 251));
    fs.writeFileSync(path.join(d, "optimizer.bin"), Buffer.alloc(100_000, step % 251));
  }, 2);
  run.setStep(step);
  if (step === 3) fs.writeFileSync(path.join(dir, "ready"), "");
}
