/**
 * `aha bench rl`: one GRPO step of a real run (prepareTrainRun → src/rl/trainer.ts's `train`, preset grpo: β 0.04
 * with a reference model, ε 0.2, seq-mean-token-mean) on model S, split into the trainer's own phases —
 * generate (KV-cache sampling of G responses per prompt), reward (decode + the Countdown verifier),
 * reference (log-probs of the frozen reference copy; the old log-probs come fused with the update's
 * forward, as the trainer does with one epoch and one mini-batch), train (forward, GRPO loss, backward,
 * clip, AdamW) — next to the same step written in PyTorch (scripts/peer_rl.py, same shapes).
 *
 * Fixed shapes so that both sides do the same work: P prompts of Lp tokens, G samples each, exactly N
 * new tokens (no stop token), temperature 1. The bench tokenizer maps characters to ids and ids back to
 * printable characters; the reward is the Countdown score of that text plus its share of '7's (so that
 * groups have reward variance, as in a real run, and the update is not zero).
 */
import { parseHfConfig } from "../model/config.js";
import { Model, type Precision } from "../model/model.js";
import { initParams } from "../model/params.js";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { saveHfModel } from "../formats/hf.js";
import type { MetricsRow } from "../rl/loop.js";
import { prepareTrainRun } from "../runner/train.js";
import { countdownTask } from "../tasks/generated.js";
import type { Task } from "../tasks/types.js";
import { BENCH_MODELS } from "./model.js";
import { BYTE_VOCAB, writeByteTokenizer } from "./serve.js";
import { runPeerScript, type PeerResult } from "./peer.js";
import type { BenchContext, BenchRow, BenchSuite } from "./types.js";

const PHASES = ["generate", "reward", "reference", "train"] as const;
const DTYPES: Precision[] = ["fp32", "bf16"];

/** The step's shape: P prompts × G samples, Lp prompt tokens, N new tokens. */
export const RL_SHAPE = { prompts: 4, group: 8, promptLen: 16, newTokens: 64 };

/** Printable characters for ids (the peer uses the same map). */
export const benchDecode = (ids: ArrayLike<number>): string => Array.from(ids, (t) => String.fromCharCode(32 + (t % 95))).join("");

const PEER_RL = new URL("../../scripts/peer_rl.py", import.meta.url);

export function benchTask(): Task<unknown> {
  const cd = countdownTask({ seed: 0, heldOutPermille: 50 });
  return {
    ...cd,
    score: async (text, p, ctx) => {
      const s = await cd.score(text, p as never, ctx);
      const sevens = (text.match(/7/g)?.length ?? 0) / Math.max(text.length, 1);
      return { ...s, reward: (s.reward ?? 0) + sevens, parts: { ...s.parts, sevens } };
    },
  } as Task<unknown>;
}

/** Times `steps` GRPO steps (the first is a warm-up); the best of the rest per phase, in seconds. */
export async function ahaRlStep(ctx: Pick<BenchContext, "backend">, dtype: Precision, o: { newTokens: number; steps: number }): Promise<Record<string, number>> {
  const cfg = parseHfConfig(BENCH_MODELS["S"]!.hf, "<bench model S>");
  const { prompts: P, group: G, promptLen: Lp } = RL_SHAPE;
  const model = new Model(cfg, { precision: dtype, backend: ctx.backend });
  initParams(model.params, cfg, 0);
  const tokenizer = {
    encode: (t: string) => Array.from(t.padEnd(Lp).slice(0, Lp), (ch) => ch.charCodeAt(0) % cfg.vocabSize),
    decode: benchDecode,
    stopTokenIds: [] as number[],
  };
  const task = benchTask();
  const rows: MetricsRow[] = [];
  // The runner builds the policy (full fine-tuning, a reference copy for β > 0), the reward and the local
  // engine from the config, as `aha train` does; the model, tokenizer and task are the bench's.
  const run = await prepareTrainRun(
    { algorithm: "grpo", "group-size": G, "prompts-per-step": P, "max-new-tokens": o.newTokens, steps: o.steps, "save-every": 0, "samples-per-step": 0, lr: 1e-6, template: "none", "held-out": 0 },
    { persist: false, parts: { model: { model, tokenizer }, task: { ...task, stop: [] } }, onStep: (m) => rows.push(m) },
  );
  try {
    await run.run();
  } finally {
    await run.close();
  }
  const timed = rows.slice(1);
  const out: Record<string, number> = {};
  for (const k of [...PHASES, "step"]) out[k] = Math.min(...timed.map((m) => m[`seconds/${k}`] ?? Number.NaN));
  out["length"] = timed[0]?.["length/mean"] ?? Number.NaN;
  return out;
}

const AHA_BIN = fileURLToPath(new URL("../../bin/aha.js", import.meta.url));

/** Starts `aha serve` in a child process (one OpenMP thread: several share this machine) and waits for its URL. */
async function serveProcess(dir: string, slots: number): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [AHA_BIN, "serve", "--model", dir, "--port", "0", "--served-model-name", "S", "--slots", String(slots)], {
    env: { ...process.env, OMP_NUM_THREADS: "1" }, stdio: ["ignore", "ignore", "pipe"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let err = "";
    const timer = setTimeout(() => reject(new Error(`aha serve did not start in 60 s: ${err.slice(-300)}`)), 60_000);
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on("exit", (code) => reject(new Error(`aha serve exited (${code}): ${err.slice(-300)}`)));
  });
  return { url, stop: () => void child.kill("SIGTERM") };
}

/**
 * `steps` GRPO steps of model S sampling from two `aha serve` processes, its weights pushed to both
 * after every update (SGLang's route), synchronously or async with max-staleness 1; the median seconds per
 * step after the first. The same model, task and shapes as the local case (a byte-level tokenizer).
 */
export async function remoteRlStep(o: { async: boolean; newTokens: number; steps: number }): Promise<{ step: number; generate: number; staleness: number }> {
  const cfg = parseHfConfig(BENCH_MODELS["S"]!.hf, "<bench model S>");
  const { prompts: P, group: G } = RL_SHAPE;
  const root = mkdtempSync(join(tmpdir(), "aha-bench-rl-remote-"));
  const servers: { url: string; stop: () => void }[] = [];
  try {
    writeByteTokenizer(join(root, "tok"));
    const m = new Model({ ...cfg, vocabSize: BYTE_VOCAB });
    initParams(m.params, m.cfg, 0);
    const dir = join(root, "model-S");
    saveHfModel(dir, m.cfg, m.params, { copyFrom: join(root, "tok") });
    servers.push(await serveProcess(dir, P * G), await serveProcess(dir, P * G));
    const rows: MetricsRow[] = [];
    const run = await prepareTrainRun(
      {
        model: dir, algorithm: "grpo", "group-size": G, "prompts-per-step": P, "max-new-tokens": o.newTokens, steps: o.steps, lr: 1e-6, template: "none", "held-out": 0,
        "rollout-engine": "remote", "rollout-endpoint": servers.map((s) => s.url + "/v1").join(","), "rollout-model-name": "S", "rollout-sync": "sglang",
        "rollout-sync-dir": join(root, "weights"), "tis-cap": 2, async: o.async, "max-staleness": 1,
      },
      { persist: false, parts: { task: { ...benchTask(), stop: [] } }, onStep: (r) => rows.push(r) },
    );
    try {
      await run.run();
    } finally {
      await run.close();
    }
    const timed = rows.slice(1);
    const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
    return { step: median(timed.map((r) => r["seconds/step"]!)), generate: median(timed.map((r) => r["seconds/generate"]!)), staleness: Math.max(...rows.map((r) => r["rollout/staleness"] ?? 0)) };
  } finally {
    for (const s of servers) s.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

export const rlSuite: BenchSuite = {
  summary: "one GRPO step on model S (generate, reward, reference, train), vs the same step in PyTorch; and the step through two aha serve processes with weight sync, sync vs async",
  async run(ctx: BenchContext): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    const N = ctx.quick ? 16 : RL_SHAPE.newTokens;
    const steps = ctx.quick ? 2 : 3;
    const dtypes = ctx.quick ? DTYPES.slice(0, 1) : DTYPES;
    const { prompts: P, group: G, promptLen: Lp } = RL_SHAPE;
    const caseName = "model-S step";
    for (const dtype of dtypes) {
      const t = await ahaRlStep(ctx, dtype, { newTokens: N, steps });
      if (t["length"] !== N) ctx.note(`rl: responses averaged ${t["length"]} tokens, not ${N}`);
      for (const k of [...PHASES, "step"]) rows.push({ what: "rl", case: caseName, phase: k, dtype, aha: t[k]!, peer: null, unit: "s", shape: `${P}x${G} prompts×samples, ${Lp}+${N} tokens` });
      ctx.log(`rl ${caseName} ${dtype}: ${PHASES.map((k) => `${k} ${t[k]!.toFixed(3)} s`).join(", ")}; step ${t["step"]!.toFixed(3)} s`);
    }
    if (!ctx.quick || ctx.only?.includes("remote")) {
      // the same step sampling from two aha serve processes with weight sync, sync vs async (no peer: aha's own modes)
      const remoteSteps = ctx.quick ? 3 : 6;
      const sync = await remoteRlStep({ async: false, newTokens: N, steps: remoteSteps });
      const asy = await remoteRlStep({ async: true, newTokens: N, steps: remoteSteps });
      const shape = `${P}x${G} prompts×samples, ${N} new tokens, 2 servers`;
      rows.push({ what: "rl", case: "model-S step, 2 aha serve", phase: "step", mode: "sync", dtype: "fp32", aha: sync.step, peer: null, unit: "s", shape, staleness: sync.staleness });
      rows.push({ what: "rl", case: "model-S step, 2 aha serve", phase: "step", mode: "async", dtype: "fp32", aha: asy.step, peer: null, unit: "s", shape, staleness: asy.staleness, "sync/async": sync.step / asy.step });
      ctx.log(`rl model-S step through 2 aha serve: sync ${sync.step.toFixed(3)} s (waiting for rollouts ${sync.generate.toFixed(3)} s), async ${asy.step.toFixed(3)} s (waiting ${asy.generate.toFixed(3)} s; staleness ≤ ${asy.staleness}); ${(sync.step / asy.step).toFixed(2)}×`);
    }
    if (ctx.peer) {
      const task = countdownTask({ seed: 0, heldOutPermille: 50 });
      const problems = Array.from({ length: P }, (_, i) => task.train.get(i).reference);
      const p: PeerResult = runPeerScript(PEER_RL, [], { model: BENCH_MODELS["S"]!.hf, prompts: P, group: G, prompt_len: Lp, new_tokens: N, dtypes, steps, problems, kl_coef: 0.04, clip: 0.2 }, ctx.threads);
      if (!p.ok) ctx.note(`rl: no PyTorch peer (${p.why}); peer is null`);
      else {
        const peerRows = p.data["rows"] as Array<Record<string, number | string>>;
        for (const r of rows) {
          const q = peerRows.find((x) => x["dtype"] === r.dtype);
          const v = q?.[String(r["phase"])];
          if (typeof v === "number") r.peer = v;
        }
      }
    }
    return rows;
  },
};
