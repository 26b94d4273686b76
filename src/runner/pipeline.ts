/**
 * A recipe as one run (DeepSeek-R1's pipeline: cold-start SFT → reasoning RL → rejection sampling →
 * SFT → final RL): `aha pipeline --config r1.yaml` runs stages of the kinds `sft`, `rl`, `sample` and
 * `eval` in order, in one run directory with a folder per stage, each stage's output feeding the next:
 *
 *   - a stage's model is the newest model made before it (the start `model`, or an sft / rl stage's
 *     final checkpoint), or the one named by `from: <stage name> | base`;
 *   - an sft stage without `data` trains on the newest sample stage's file.
 *
 * The config (YAML):
 *
 *   model: models/demo-adder          # the start model (the "base")
 *   run-dir: runs/r1-demo             # optional (default runs/<date>-pipeline)
 *   common: { task: arithmetic, seed: 0 }   # keys given to every stage whose command knows them
 *   stages:
 *     - { name: cold-start-data, kind: sample, samples: 4, filter-format: true }
 *     - { name: cold-start, kind: sft, steps: 30 }
 *     - { name: reasoning-rl, kind: rl, steps: 40 }
 *     ...
 *
 * A stage's keys are those of its command (aha sft, aha train, aha sample; eval: the keys below), checked
 * for every stage before anything runs, with errors naming the file, line, stage and key. The run
 * directory holds pipeline.yaml (the config as given), pipeline.json (the status of every stage) and
 * one folder per stage, `<NN>-<name>/`: an sft or rl run directory, a sample stage's samples.jsonl, an
 * eval stage's results.jsonl and summary.json (the layout of aha eval). Resume: run the same command
 * again (or --resume DIR): finished stages are skipped, the stage in progress continues with its own
 * resume (a checkpoint, a sample file's finished prompts, an evaluation's finished questions).
 */
import { setMaxListeners } from "node:events";
import * as fs from "node:fs";
import * as path from "node:path";
import { isMap, isScalar, isSeq, type Node as YamlNode, type Pair } from "yaml";
import { z } from "zod";
import { AhaError, UserError } from "../errors.js";
import { idsPrompter, runEval } from "../eval/evaluate.js";
import { ChatTemplate } from "../formats/chat-template.js";
import { encodePrompt, engineFor, loadFolder } from "../rollout/folder.js";
import { latestCheckpoint } from "../runs/checkpoint.js";
import { pidAlive } from "../runs/status.js";
import { defaultRunName } from "../runs/run-dir.js";
import { makeTask, resolveTemplate, taskSection } from "../tasks/index.js";
import { readJson, writeFileAtomic, writeJsonAtomic } from "../util/atomic.js";
import { readJsonlLines } from "../util/jsonl.js";
import { defineConfig, parseYamlDocument, setting, type ConfigSpec, type Given, type Sections } from "../util/config.js";
import { sftSpec, trainSpec, precisionField } from "./config.js";
import { quietReporter, type Reporter } from "./reporter.js";
import { sampleFromConfig, sampleSpec } from "./sample.js";
import { prepareSftRun } from "./sft.js";
import { prepareTrainRun } from "./train.js";

export const STAGE_KINDS = ["sft", "rl", "sample", "eval"] as const;
export type StageKind = (typeof STAGE_KINDS)[number];

/** The eval stage's keys: the current model on the task's held-out problems (the demo's base-vs-final protocol by default). */
export const evalStageSpec = defineConfig({
  task: taskSection,
  eval: {
    title: "Evaluation",
    prefix: "",
    schema: z.strictObject({
      samples: setting(z.int().min(1), 8, "Samples per held-out problem (pass@1 is their mean)."),
      temperature: setting(z.number().min(0), 1, "Sampling temperature."),
      topP: setting(z.number().gt(0).max(1), 1, "Nucleus sampling."),
      maxTokens: setting(z.int().min(1), 1024, "Most tokens per response."),
      seed: setting(z.int().min(0), 0, "Each question's seed comes from it and the question's id."),
      slots: setting(z.int().min(1), 256, "Sequences decoded together (KV-cache slots)."),
      precision: precisionField,
    }),
  },
});

/** Per kind: its config schema, and the keys the pipeline sets (a stage may not). */
const KINDS: Record<StageKind, { spec: ConfigSpec<Sections>; reserved: readonly string[]; command: string }> = {
  sft: { spec: sftSpec as unknown as ConfigSpec<Sections>, reserved: ["model", "run-dir", "name", "resume"], command: "aha sft" },
  rl: { spec: trainSpec as unknown as ConfigSpec<Sections>, reserved: ["model", "run-dir", "name", "resume"], command: "aha train" },
  sample: { spec: sampleSpec as unknown as ConfigSpec<Sections>, reserved: ["model", "endpoint", "model-name", "out"], command: "aha sample" },
  eval: { spec: evalStageSpec as unknown as ConfigSpec<Sections>, reserved: [], command: "the eval stage" },
};

/** Keys of the pipeline itself (top level of the YAML) and of every stage besides its command's keys. */
const TOP_KEYS = ["model", "run-dir", "common", "stages"] as const;
const STAGE_KEYS = ["name", "kind", "from"] as const;

export interface StagePlan {
  index: number;
  name: string;
  kind: StageKind;
  /** Where the stage's model comes from: "base", or an earlier stage's name; null = the newest model before it. */
  from: string | null;
  /** The stage's own keys (flat, after `common`), validated. */
  settings: Record<string, unknown>;
  /** The folder of the stage inside the pipeline's run directory. */
  folder: string;
}

export interface PipelinePlan {
  file: string;
  text: string;
  model: string;
  runDir: string | null;
  stages: StagePlan[];
}

const slug = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, "-");

/**
 * Reads and checks a pipeline config: every stage's keys against its command's schema (values, ranges,
 * cross-field rules) before anything runs. Every problem is reported at once, each naming the file,
 * line, stage and key.
 */
export function parsePipeline(text: string, file: string): PipelinePlan {
  const { doc, lc } = parseYamlDocument(text, file);
  const lineOf = (n: unknown): number => (n && typeof n === "object" && "range" in n && Array.isArray((n as YamlNode).range) ? lc.linePos((n as YamlNode).range![0]).line : 0);
  const errors: string[] = [];
  if (!isMap(doc.contents)) throw new UserError(`${file}: expected a mapping with 'model' and 'stages' (a list of stages)`, "see examples/r1.yaml");
  const top = new Map<string, Pair>();
  for (const item of doc.contents.items) {
    const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
    if (!(TOP_KEYS as readonly string[]).includes(key)) errors.push(`${file}:${lineOf(item.key)}: unknown key '${key}' (the top level holds ${TOP_KEYS.join(", ")}; a stage's keys go inside its entry of 'stages')`);
    else top.set(key, item as Pair);
  }
  const scalar = (key: string): string | null => {
    const v = (top.get(key)?.value as { toJSON?: () => unknown } | null | undefined)?.toJSON?.();
    if (v === undefined || v === null) return null;
    if (typeof v !== "string" || v === "") {
      errors.push(`${file}:${lineOf(top.get(key)!.key)}: '${key}' must be text (a path)`);
      return null;
    }
    return v;
  };
  const model = scalar("model");
  const runDir = scalar("run-dir");
  if (model === null && !top.has("model")) errors.push(`${file}: 'model' is required (the start model folder, e.g. models/demo-adder)`);

  // common: keys given to every stage whose command knows them
  const common: { key: string; value: unknown; line: number }[] = [];
  const commonNode = top.get("common")?.value;
  if (commonNode !== undefined && commonNode !== null) {
    if (!isMap(commonNode)) errors.push(`${file}:${lineOf(top.get("common")!.key)}: 'common' must be a mapping of keys`);
    else for (const item of commonNode.items) {
      const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
      const line = lineOf(item.key);
      if (!STAGE_KINDS.some((k) => KINDS[k].spec.fields.has(key))) errors.push(`${file}:${line}: common key '${key}' is not a key of any stage kind (${STAGE_KINDS.join(", ")})`);
      else if (STAGE_KINDS.some((k) => KINDS[k].reserved.includes(key))) errors.push(`${file}:${line}: common key '${key}' is set by the pipeline`);
      else common.push({ key, value: (item.value as { toJSON?: () => unknown } | null)?.toJSON?.() ?? null, line });
    }
  }

  const stagesNode = top.get("stages")?.value;
  const stages: StagePlan[] = [];
  if (!isSeq(stagesNode) || stagesNode.items.length === 0) {
    errors.push(`${file}${top.has("stages") ? `:${lineOf(top.get("stages")!.key)}` : ""}: 'stages' must be a list of stages ({name, kind: ${STAGE_KINDS.join(" | ")}, …keys of its command})`);
  } else {
    const names = new Set<string>();
    const made: string[] = ["base"]; // stages before this one that make a model
    let sampled = false;
    stagesNode.items.forEach((node, i) => {
      const at = `${file}:${lineOf(node)}`;
      if (!isMap(node)) {
        errors.push(`${at}: stage ${i + 1} must be a mapping ({name, kind, …})`);
        return;
      }
      const raw = new Map<string, { value: unknown; line: number }>();
      for (const item of node.items) {
        const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
        raw.set(key, { value: (item.value as { toJSON?: () => unknown } | null)?.toJSON?.() ?? null, line: lineOf(item.key) });
      }
      const kindRaw = raw.get("kind")?.value;
      const name = typeof raw.get("name")?.value === "string" && raw.get("name")!.value !== "" ? (raw.get("name")!.value as string) : `stage-${i + 1}`;
      const label = `stage ${i + 1} '${name}'`;
      if (names.has(name)) errors.push(`${file}:${raw.get("name")?.line ?? lineOf(node)}: ${label}: the name is used by an earlier stage`);
      names.add(name);
      if (typeof kindRaw !== "string" || !(STAGE_KINDS as readonly string[]).includes(kindRaw)) {
        errors.push(`${file}:${raw.get("kind")?.line ?? lineOf(node)}: ${label}: kind must be one of ${STAGE_KINDS.join(" | ")}${kindRaw === undefined ? " (missing)" : `, got '${String(kindRaw)}'`}`);
        return;
      }
      const kind = kindRaw as StageKind;
      const { spec, reserved, command } = KINDS[kind];
      let from: string | null = null;
      const fromRaw = raw.get("from");
      if (fromRaw !== undefined) {
        if (typeof fromRaw.value !== "string" || !made.includes(fromRaw.value)) errors.push(`${file}:${fromRaw.line}: ${label}: from = ${JSON.stringify(fromRaw.value)} must be 'base' or the name of an earlier sft or rl stage (${made.join(", ")})`);
        else from = fromRaw.value;
      }
      // common first, then the stage's own keys; each value keeps where it came from
      const given = new Map<string, Given>();
      const put = (key: string, value: unknown, where: string): void => {
        try {
          for (const [k, g] of spec.fromObject({ [key]: value }, where)) given.set(k, { value: g.value, origin: `${where} (${label}) ${k}` });
        } catch (e) {
          errors.push(`${(e as Error).message} (${label}, keys of ${command})`);
        }
      };
      for (const c of common) if (spec.fields.has(c.key)) put(c.key, c.value, `${file}:${c.line} common`);
      for (const [key, { value, line }] of raw) {
        if ((STAGE_KEYS as readonly string[]).includes(key)) continue;
        if (reserved.includes(key)) {
          errors.push(`${file}:${line}: ${label}: '${key}' is set by the pipeline (${key === "model" ? "use 'from: <stage name> | base' to choose the model" : "each stage has its own folder in the run directory"})`);
          continue;
        }
        put(key, value, `${file}:${line}`);
      }
      // what the pipeline will fill in, so that the checks needing them pass now
      const filled = new Map(given);
      const placeholder = (k: string, v: unknown): void => void (spec.fields.has(k) && !filled.has(k) && filled.set(k, { value: v, origin: "the pipeline" }));
      placeholder("model", "<model of the previous stage>");
      placeholder("out", "<stage folder>/samples.jsonl");
      if (kind === "sft") {
        if (!given.has("data") && !sampled) errors.push(`${at}: ${label}: sft needs 'data' (a JSONL file), or an earlier sample stage whose rows it trains on`);
        placeholder("data", "<the newest sample stage's file>");
      }
      try {
        const resolved = spec.resolve({ yaml: filled });
        if ((kind === "sft" || kind === "rl") && (resolved as { lora?: { rank: number } }).lora!.rank > 0) {
          errors.push(`${given.get("lora-rank")?.origin ?? at}: ${label}: lora-rank > 0 is not supported in a pipeline yet (the next stage needs a whole model folder, not an adapter)`);
        }
      } catch (e) {
        for (const line of (e as Error).message.split("\n")) errors.push(line.includes(label) ? line : `${line} (${label})`);
      }
      const settings: Record<string, unknown> = {};
      for (const [k, g] of given) settings[k] = g.value;
      stages.push({ index: i, name, kind, from, settings, folder: `${String(i + 1).padStart(2, "0")}-${slug(name)}` });
      if (kind === "sft" || kind === "rl") made.push(name);
      if (kind === "sample") sampled = true;
    });
  }
  if (errors.length > 0) throw new UserError(errors.join("\n"), "see examples/r1.yaml and docs/pipeline.md", "AHA_BAD_CONFIG");
  return { file, text, model: model!, runDir, stages };
}

// ---- the status file

export type StageState = "pending" | "running" | "done" | "failed" | "stopped";

export interface StageStatus {
  name: string;
  kind: StageKind;
  /** The stage's folder, relative to the pipeline's run directory. */
  dir: string;
  state: StageState;
  /** The model the stage started from (sft, rl, sample, eval). */
  model?: string;
  /** What it made: a model folder (sft, rl), a data file (sample), figures (eval). */
  output?: { model?: string; data?: string; "pass@1"?: number; kept?: number };
  started?: string;
  finished?: string;
  error?: string;
}

export interface PipelineStatus {
  kind: "pipeline";
  state: "running" | "finished" | "crashed" | "stopped";
  pid: number;
  started: string;
  updated: string;
  model: string;
  stages: StageStatus[];
  error?: string;
}

export const pipelineStatusPath = (dir: string): string => path.join(dir, "pipeline.json");

/** pipeline.json, with a "running" state whose process is gone read as crashed; null when absent. */
export function readPipelineStatus(dir: string): PipelineStatus | null {
  const s = readJson<PipelineStatus>(pipelineStatusPath(dir));
  if (s === null) return null;
  if (s.state === "running" && !pidAlive(s.pid)) return { ...s, state: "crashed" };
  return s;
}

// ---- running a plan

export interface RunPipelineOptions {
  /** The pipeline's run directory (else the config's run-dir, else runs/<date>-pipeline). */
  runDir?: string;
  reporter?: Partial<Reporter>;
  /** Aborted → the stage in progress stops as Ctrl-C stops it (a checkpoint), the pipeline is "stopped". */
  signal?: AbortSignal;
}

export interface PipelineResult {
  dir: string;
  stopped: boolean;
  status: PipelineStatus;
}

/** The template recorded in the first row of a sample stage's file (aha sample writes it), if any. */
function templateOfRows(file: string): string | undefined {
  for (const l of readJsonlLines(file)) return typeof l.row?.["template"] === "string" ? (l.row["template"] as string) : undefined;
  return undefined;
}

/** The model folder of a run directory's newest checkpoint. */
function checkpointModel(dir: string, stage: string): string {
  const c = latestCheckpoint(dir);
  if (!c) throw new AhaError("AHA_PIPELINE", `stage '${stage}' finished without a checkpoint in ${path.join(dir, "checkpoints")}`);
  return path.join(c.dir, "model");
}

/** Runs the stages in order, skipping finished ones and resuming the one in progress. */
export async function runPipeline(plan: PipelinePlan, o: RunPipelineOptions = {}): Promise<PipelineResult> {
  const reporter: Reporter = { ...quietReporter, ...(o.reporter ?? {}) };
  const dir = path.resolve(o.runDir ?? plan.runDir ?? path.join("runs", defaultRunName("pipeline")));
  const now = (): string => new Date().toISOString();
  let status = readPipelineStatus(dir);
  const savedText = path.join(dir, "pipeline.yaml");
  if (status) {
    if (status.state === "running") throw new UserError(`${dir} is still running (pid ${status.pid})`);
    if (status.state === "finished") reporter.warn(`${dir} has finished every stage; nothing to do`);
    // the stages done must be the ones this config describes
    const before = fs.existsSync(savedText) ? parsePipeline(fs.readFileSync(savedText, "utf8"), savedText) : null;
    if (before) {
      for (const s of status.stages) {
        if (s.state !== "done") continue;
        const a = before.stages.find((x) => x.name === s.name);
        const b = plan.stages.find((x) => x.name === s.name);
        if (!b || JSON.stringify(a) !== JSON.stringify(b)) {
          throw new UserError(`${dir}: stage '${s.name}' is done with other settings than ${plan.file} gives it`, `resume with the config it was started with (${savedText}): aha pipeline --resume ${dir}`);
        }
      }
      if (path.resolve(before.model) !== path.resolve(plan.model)) throw new UserError(`${dir} started from model ${before.model}; ${plan.file} says ${plan.model}`, `aha pipeline --resume ${dir}`);
    }
    status = { ...status, state: "running", pid: process.pid, updated: now(), stages: plan.stages.map((p) => status!.stages.find((s) => s.name === p.name && s.kind === p.kind) ?? { name: p.name, kind: p.kind, dir: p.folder, state: "pending" }) };
    delete status.error;
  } else {
    fs.mkdirSync(dir, { recursive: true });
    writeFileAtomic(savedText, plan.text);
    status = { kind: "pipeline", state: "running", pid: process.pid, started: now(), updated: now(), model: path.resolve(plan.model), stages: plan.stages.map((p) => ({ name: p.name, kind: p.kind, dir: p.folder, state: "pending" })) };
  }
  const save = (): void => {
    status!.updated = now();
    writeJsonAtomic(pipelineStatusPath(dir), status);
  };
  save();
  reporter.say(`aha pipeline: ${plan.stages.length} stages in ${dir}`);

  const models = new Map<string, string>([["base", path.resolve(plan.model)]]);
  let current = path.resolve(plan.model);
  let data: string | null = null;
  let stopped = false;
  for (const [i, p] of plan.stages.entries()) {
    const st = status.stages[i]!;
    const stageDir = path.join(dir, p.folder);
    const head = `stage ${i + 1}/${plan.stages.length} '${p.name}' (${p.kind})`;
    if (st.state === "done" && st.output) {
      reporter.say(`${head}: done, skipped`);
      if (st.output.model) {
        models.set(p.name, st.output.model);
        current = st.output.model;
      }
      if (st.output.data) data = st.output.data;
      continue;
    }
    const input = p.from !== null ? models.get(p.from)! : current;
    const resuming = st.state !== "pending";
    Object.assign(st, { state: "running", model: input, started: st.started ?? now() });
    delete st.error;
    save();
    reporter.say(`${head}: ${resuming ? "resuming" : "starting"} from ${path.relative(process.cwd(), input) || input}`);
    try {
      let output: NonNullable<StageStatus["output"]>;
      if (p.kind === "sft") {
        const sftData = (p.settings["data"] as string | undefined) ?? data!;
        // rows from a sample stage are rendered with the template they were sampled with
        const template = p.settings["template"] ?? (p.settings["data"] === undefined ? templateOfRows(sftData) : undefined);
        const exists = fs.existsSync(path.join(stageDir, "status.json"));
        const run = await prepareSftRun({ ...p.settings, data: sftData, ...(template !== undefined ? { template } : {}), ...(exists ? { resume: stageDir } : { model: input, "run-dir": stageDir }) }, { reporter, ...(o.signal ? { signal: o.signal } : {}) });
        const res = await run.run();
        if (res.stopped) stopped = true;
        output = { model: checkpointModel(stageDir, p.name) };
      } else if (p.kind === "rl") {
        const exists = fs.existsSync(path.join(stageDir, "status.json"));
        const steps = Number(p.settings["steps"] ?? trainSpec.fields.get("steps")!.defaultValue);
        const at = exists ? (latestCheckpoint(stageDir)?.state.step ?? 0) : 0;
        if (exists && at >= steps) {
          reporter.warn(`${head}: its ${at} steps were trained before the interruption; taking its last checkpoint`);
        } else {
          const run = await prepareTrainRun({ ...p.settings, ...(exists ? { resume: stageDir } : { model: input, "run-dir": stageDir }) }, { reporter, ...(o.signal ? { signal: o.signal } : {}) });
          try {
            const res = await run.run();
            if (res.stopped) stopped = true;
          } finally {
            await run.close();
          }
        }
        output = { model: checkpointModel(stageDir, p.name) };
      } else if (p.kind === "sample") {
        fs.mkdirSync(stageDir, { recursive: true });
        const out = path.join(stageDir, "samples.jsonl");
        const summary = await sampleFromConfig({ ...p.settings, model: input, out }, { reporter, ...(o.signal ? { signal: o.signal } : {}) });
        output = { data: out, kept: summary.kept };
      } else {
        output = { "pass@1": await evalStage(p.settings, input, stageDir, reporter, o.signal) };
      }
      if (stopped) {
        st.state = "stopped";
        break;
      }
      Object.assign(st, { state: "done", output, finished: now() });
      if (output.model) {
        models.set(p.name, output.model);
        current = output.model;
      }
      if (output.data) data = output.data;
      save();
    } catch (e) {
      const aborted = o.signal?.aborted === true;
      Object.assign(st, { state: aborted ? "stopped" : "failed", error: (e as Error).message });
      status.state = aborted ? "stopped" : "crashed";
      status.error = `${head}: ${(e as Error).message}`;
      save();
      if (e instanceof AhaError) throw new AhaError(e.code, `${head}: ${e.message}`, e.hint ?? `fix it and run the same command again: finished stages are skipped (aha pipeline --resume ${dir})`);
      throw e;
    }
  }
  status.state = stopped ? "stopped" : "finished";
  save();
  if (stopped) reporter.say(`stopped; continue with: aha pipeline --resume ${dir}`);
  else reporter.say(`pipeline finished: ${path.join(dir, "pipeline.json")}`);
  return { dir, stopped, status };
}

/** The eval stage: the model on the task's held-out problems, in the layout of aha eval (resumable). */
async function evalStage(settings: Record<string, unknown>, model: string, outDir: string, reporter: Reporter, signal?: AbortSignal): Promise<number> {
  const c = evalStageSpec.resolve({ yaml: evalStageSpec.fromObject(settings) });
  const e = c.eval;
  const task = await makeTask(c.task, e.seed);
  const tpl = resolveTemplate(c.task, task);
  const lf = loadFolder(model, { precision: e.precision });
  const tok = lf.tokenizer;
  const chat = tpl === "chat" ? ChatTemplate.fromTokenizer(tok) : null;
  const prepare = idsPrompter(tpl, (t) => encodePrompt(tok, t, chat === null), chat ? (m) => chat.render(m, { addGenerationPrompt: true }) : undefined);
  const problems = task.heldOut(c.task.heldOut);
  if (problems.length === 0) throw new UserError(`the eval stage has no held-out problems (held-out = ${c.task.heldOut})`);
  const longest = Math.max(...problems.map((p) => prepare(p).request.promptIds.length));
  const engine = engineFor(lf, { slots: e.slots, maxLen: Math.min(lf.loaded.config.maxPositionEmbeddings, longest + e.maxTokens) }).engine;
  const prog = reporter.progress("evaluating: question", problems.length, 0);
  const stop = new AbortController(); // one listener per question in flight
  setMaxListeners(0, stop.signal);
  signal?.addEventListener("abort", () => stop.abort(), { once: true });
  try {
    const r = await runEval({
      engine, problems, prepare, score: (resp, p, ctx) => task.score(resp, p, ctx),
      sampling: { samples: e.samples, temperature: e.temperature, topP: e.topP, maxTokens: e.maxTokens, seed: e.seed },
      stopTokenIds: lf.stopTokenIds, ...(task.stop ? { stopStrings: task.stop } : {}), decode: (ids) => tok.decode([...ids]),
      outDir, model, task: task.name, settings: { template: tpl }, signal: stop.signal,
      onProgress: (done) => prog?.update(done),
    });
    prog?.finish();
    reporter.say(`pass@1 ${r.summary["pass@1"].toFixed(3)} (${r.summary.questions} held-out problems × ${e.samples} samples, T=${e.temperature})`);
    return r.summary["pass@1"];
  } finally {
    prog?.finish();
    await engine.close();
  }
}
