#!/usr/bin/env node
// Writes the tools demo's pretraining corpus as JSONL (first line: {"vocab": [...], "special": [...]},
// then {"prompt", "segments": [{"text", "env"}], "kind"}) from the multiply task's own generator
// (src/tasks/multiply.ts), leaving out every held-out question. Segments with env = true are what the
// environment appended (the calculator's observations): the pretraining loss skips them.
// Used by scripts/make_tools_demo_model.py. Needs `npm run build` first.
// Usage: node scripts/make-tools-demo-corpus.mjs N SEED > corpus.jsonl
import { MULTIPLY_SPECIAL_TAGS, MULTIPLY_VOCAB, multiplyCorpusExample } from "../dist/tasks/multiply.js";
import { isHeldOut } from "../dist/tasks/split.js";
import { taskSchema } from "../dist/tasks/config.js";
import { Rng } from "../dist/util/rng.js";

// Stand-in for the calculator tool until src/env lands: exact products of two integers, else an error.
const observe = (expr) => {
  const m = /^(\d+)\*(\d+)$/.exec(expr);
  return m ? `<result>${BigInt(m[1]) * BigInt(m[2])}</result>` : `<result>error: cannot parse ${expr}</result>`;
};

const n = Number(process.argv[2] ?? 64000);
const seed = Number(process.argv[3] ?? 1234);
const permille = taskSchema.parse({}).heldOutPermille;
const rng = new Rng(seed, "tools-demo-corpus");
const out = [JSON.stringify({ vocab: MULTIPLY_VOCAB, special: MULTIPLY_SPECIAL_TAGS, heldOutPermille: permille })];
for (let i = 0; i < n; ) {
  const ex = multiplyCorpusExample(rng, observe);
  if (isHeldOut(ex.question, permille)) continue;
  out.push(JSON.stringify({ prompt: ex.question, segments: ex.segments, kind: ex.kind }));
  i++;
}
process.stdout.write(out.join("\n") + "\n");
