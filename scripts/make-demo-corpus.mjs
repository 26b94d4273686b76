#!/usr/bin/env node
// Writes the demo's pretraining corpus as JSONL (first line: {"vocab": [...]}, then {"prompt","response"}),
// from the arithmetic task's own generator (src/tasks/arithmetic.ts), leaving out every held-out
// question. Used by scripts/make_demo_model.py. Needs `npm run build` first.
// Usage: node scripts/make-demo-corpus.mjs N SEED > corpus.jsonl
import { ARITH_VOCAB, arithCorpusExample } from "../dist/tasks/arithmetic.js";
import { isHeldOut } from "../dist/tasks/split.js";
import { taskSchema } from "../dist/tasks/config.js";
import { Rng } from "../dist/util/rng.js";

const n = Number(process.argv[2] ?? 96000);
const seed = Number(process.argv[3] ?? 1234);
const permille = taskSchema.parse({}).heldOutPermille;
const rng = new Rng(seed, "demo-corpus");
const out = [JSON.stringify({ vocab: ARITH_VOCAB, heldOutPermille: permille })];
for (let i = 0; i < n; ) {
  const ex = arithCorpusExample(rng);
  if (isHeldOut(ex.question, permille)) continue;
  out.push(JSON.stringify({ prompt: ex.question, response: ex.response, kind: ex.kind }));
  i++;
}
process.stdout.write(out.join("\n") + "\n");
