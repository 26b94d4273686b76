// One decoding step of the Qwen2.5-0.5B shape, timed, plus the token sampler's cost per row: the
// before/after figure of issue 16's sampling work. Compares two checkouts on the same machine:
//   ROOT=/path/to/checkout node scripts/decode-step.mjs B fp32|bf16 [steps]
// (B sequences with 16-token prompts, best of `steps` decode steps; temperature 1 for the sampler).
// A checkout with Model's inferencePrecision (this one) runs bf16 as packed weights + a bf16 KV cache;
// an older one as its bf16 matmul mode. Build both (npm run build, npm run build:native) first.
import path from "node:path";

const ROOT = path.resolve(process.env.ROOT ?? ".");
const { parseHfConfig } = await import(`${ROOT}/dist/model/config.js`);
const { Model } = await import(`${ROOT}/dist/model/model.js`);
const { initParams } = await import(`${ROOT}/dist/model/params.js`);
const { TokenSampler } = await import(`${ROOT}/dist/model/sample.js`);
const { BENCH_MODELS } = await import(`${ROOT}/dist/bench/model.js`);
const B = Number(process.argv[2] ?? 16), prec = process.argv[3] ?? "bf16", steps = Number(process.argv[4] ?? 3);
const cfg = parseHfConfig(BENCH_MODELS["qwen2.5-0.5b"].hf, "qwen2.5-0.5b");
const model = new Model(cfg, { inferencePrecision: prec, kvCache: prec });
const packed = "inferencePrecision" in model;
if (!packed) model.precision = prec;
initParams(model.params, cfg, 0);
const L0 = 16, V = cfg.vocabSize;
const cache = model.createKVCache(B, L0 + steps + 2);
const slots = Int32Array.from({ length: B }, (_, i) => i);
model.prefill(cache, slots, new Int32Array(B * L0).map((_, i) => (i * 7919) % V), Int32Array.from({ length: B + 1 }, (_, i) => i * L0));
let logits = model.decode(cache, slots, new Int32Array(B).fill(5)); // warm-up
// wall time, and this process's CPU time (with OMP_NUM_THREADS=1 the CPU time is what a quiet core
// would take, a steadier figure than wall time on a shared machine)
let best = Infinity, bestCpu = Infinity;
for (let s = 0; s < steps; s++) {
  const t = performance.now(), c = process.cpuUsage();
  logits = model.decode(cache, slots, new Int32Array(B).fill(6 + s));
  const dc = process.cpuUsage(c);
  best = Math.min(best, performance.now() - t);
  bestCpu = Math.min(bestCpu, (dc.user + dc.system) / 1e3);
}
const ts = new TokenSampler(V);
let bs = Infinity;
for (let r = 0; r < 3; r++) {
  const c = process.cpuUsage();
  for (let b = 0; b < B; b++) ts.sample(logits.subarray(b * V, (b + 1) * V), { temperature: 1, topP: 1, topK: 0 }, 0.37);
  const dc = process.cpuUsage(c);
  bs = Math.min(bs, (dc.user + dc.system) / 1e3);
}
process.stdout.write(`${ROOT} B=${B} ${prec}${packed ? " (packed weights, kv-cache " + prec + ")" : ""}: decode step ${best.toFixed(0)} ms ` +
  `wall, ${bestCpu.toFixed(0)} ms CPU (${((B / bestCpu) * 1e3).toFixed(1)} tokens/s of CPU time), sampler ${(bs / B).toFixed(2)} ms CPU/row\n`);
