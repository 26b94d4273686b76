#!/usr/bin/env node
// Writes the tools demo's pretraining corpus as JSONL (first line: {"vocab": [...], "special": [...]},
// then {"prompt", "segments": [{"text", "env"}], "kind"}) from the multiply task's own generator
// (src/tasks/multiply.ts) with the calculator tool's own observations (src/env/), leaving out every
// held-out question. Segments with env = true are what the
// environment appended (the calculator's observations): the pretraining loss skips them.
// Used by scripts/make_tools_demo_model.py. Needs `npm run build` first.
// SCALE multiplies the shares of calls in the mix (MULTIPLY_MIX; 1 = the base model's habit, 3 = a
// tool-heavy phase that teaches the mechanics).
// Usage: node scripts/make-tools-demo-corpus.mjs N SEED [SCALE] > corpus.jsonl
import { MULTIPLY_MIX, MULTIPLY_SPECIAL_TAGS, MULTIPLY_VOCAB, multiplyCorpusExample } from "../dist/tasks/multiply.js";
import { isHeldOut } from "../dist/tasks/split.js";
import { calculate, calculator } from "../dist/env/calculator.js";
import { tagFormat } from "../dist/env/formats.js";
import { taskSchema } from "../dist/tasks/config.js";
import { Rng } from "../dist/util/rng.js";

// The environment's own observation for a call: the calculator tool's result in the plain-tag format.
const observe = (expr) => tagFormat.render(calculator, calculate(expr));

const n = Number(process.argv[2] ?? 64000);
const seed = Number(process.argv[3] ?? 1234);
const scale = Number(process.argv[4] ?? 1);
const mix = { tool: MULTIPLY_MIX.tool * scale, typo: MULTIPLY_MIX.typo * scale, broken: MULTIPLY_MIX.broken * scale };
if (!(scale > 0 && mix.tool + mix.typo + mix.broken <= 1)) throw new Error(`SCALE ${process.argv[4]}: the shares of calls must add up to at most 1`);
const permille = taskSchema.parse({}).heldOutPermille;
const rng = new Rng(seed, "tools-demo-corpus");
const out = [JSON.stringify({ vocab: MULTIPLY_VOCAB, special: MULTIPLY_SPECIAL_TAGS, heldOutPermille: permille })];
for (let i = 0; i < n; ) {
  const ex = multiplyCorpusExample(rng, observe, mix);
  if (isHeldOut(ex.question, permille)) continue;
  out.push(JSON.stringify({ prompt: ex.question, segments: ex.segments, kind: ex.kind }));
  i++;
}
process.stdout.write(out.join("\n") + "\n");
