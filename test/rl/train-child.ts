/** Child process for the kill -9 test: a real training run (tiny model), new or resumed, until killed. */
import { train } from "../../src/rl/trainer.js";
import { RunDir } from "../../src/runs/run-dir.js";
import { setup, spec } from "./tiny.js";

const [dir, mode, ...argv] = process.argv.slice(2);
// PPO-family presets train a value model beside the policy (its weights and optimizer are in the checkpoint too)
const critic = ["ppo", "orz", "vapo"].includes(argv[argv.indexOf("--algorithm") + 1] ?? "");
const s = setup(argv, { critic });
if (mode === "new") {
  const run = RunDir.create(dir!, spec.toFlat(s.c), { total_steps: s.c.train.steps, kind: "train", task: "arithmetic", model: "tiny" });
  await train({ ...s.opts, run });
} else {
  const r = RunDir.resume(dir!);
  await train({ ...s.opts, run: r.run, resume: r.checkpoint });
}
