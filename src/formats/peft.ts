/**
 * PEFT adapter folders (Hugging Face `peft`'s LoRA format): adapter_config.json + adapter_model.safetensors
 * with PEFT's tensor names (`base_model.model.<module>.lora_A.weight`). The adapters themselves (their
 * arena, forward and backward) are src/model/lora.ts; this file reads and writes them.
 *
 * Pinned against PyTorch (scripts/make_hf_fixtures.py lora) in test/model/lora.test.ts.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.js";
import { ALL_TARGETS, LORA_MODULES, LoraSet, type LoraConfig, type LoraTarget } from "../model/lora.js";
import type { Model } from "../model/model.js";
import { writeJsonAtomic } from "../util/atomic.js";
import { SafetensorsFile, writeSafetensors } from "./safetensors.js";

/** PEFT's adapter_config.json fields for a set. */
export function peftConfig(set: LoraSet, baseModel = ""): Record<string, unknown> {
  return {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel,
    r: set.cfg.rank,
    lora_alpha: set.cfg.alpha,
    lora_dropout: set.cfg.dropout,
    target_modules: set.cfg.targets.map((t) => LORA_MODULES[t]).sort(),
    bias: "none",
    fan_in_fan_out: false,
    use_rslora: set.cfg.useRslora,
    use_dora: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
    layers_to_transform: null,
    rank_pattern: {},
    alpha_pattern: {},
  };
}

/** Writes adapter_config.json + adapter_model.safetensors (F32), each atomically (src/util/atomic.ts). */
export function savePeftAdapter(set: LoraSet, dir: string, opts: { baseModel?: string } = {}): void {
  mkdirSync(dir, { recursive: true });
  writeSafetensors(
    join(dir, "adapter_model.safetensors"),
    set.table.specs.map((s) => ({ name: s.name, shape: s.shape, data: set.params.view(s.name) })),
    { format: "pt" },
  );
  writeJsonAtomic(join(dir, "adapter_config.json"), peftConfig(set, opts.baseModel));
}

function peftTargets(v: unknown, file: string): LoraTarget[] {
  const names = typeof v === "string" ? [v] : v;
  if (!Array.isArray(names) || names.length === 0) throw new UserError(`${file}: 'target_modules' must be a non-empty list of module names`);
  const out: LoraTarget[] = [];
  for (const n of names) {
    const leaf = typeof n === "string" ? n.split(".").pop() : undefined;
    const t = ALL_TARGETS.find((k) => LORA_MODULES[k] === leaf);
    if (t === undefined) {
      throw new UserError(`${file}: target module ${JSON.stringify(n)} is not supported; supported: ${Object.values(LORA_MODULES).join(", ")}`);
    }
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

/** Reads a PEFT adapter_config.json into our LoraConfig; anything we cannot honour is an error naming the field. */
export function readPeftConfig(dir: string): LoraConfig {
  const file = join(dir, "adapter_config.json");
  if (!existsSync(file)) throw new UserError(`${file} not found: is ${dir} a PEFT adapter folder?`, undefined, "AHA_NO_ADAPTER");
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${file}: cannot read JSON: ${(e as Error).message}`);
  }
  if ((c.peft_type ?? "LORA") !== "LORA") throw new UserError(`${file}: peft_type ${String(c.peft_type)} is not supported; only LORA`);
  const rank = c.r, alpha = c.lora_alpha ?? c.r;
  if (typeof rank !== "number" || !Number.isInteger(rank) || rank <= 0) throw new UserError(`${file}: field 'r' must be a positive integer`);
  if (typeof alpha !== "number" || !(alpha > 0)) throw new UserError(`${file}: field 'lora_alpha' must be a positive number`);
  const unsupported: [string, boolean][] = [
    ["fan_in_fan_out", c.fan_in_fan_out === true],
    ["use_dora", c.use_dora === true],
    ["bias", c.bias !== undefined && c.bias !== "none"],
    ["rank_pattern", typeof c.rank_pattern === "object" && c.rank_pattern !== null && Object.keys(c.rank_pattern).length > 0],
    ["alpha_pattern", typeof c.alpha_pattern === "object" && c.alpha_pattern !== null && Object.keys(c.alpha_pattern).length > 0],
    ["modules_to_save", Array.isArray(c.modules_to_save) && c.modules_to_save.length > 0],
    ["layers_to_transform", c.layers_to_transform !== undefined && c.layers_to_transform !== null],
  ];
  for (const [field, bad] of unsupported) if (bad) throw new UserError(`${file}: field '${field}' = ${JSON.stringify(c[field])} is not supported`);
  const dropout = typeof c.lora_dropout === "number" ? c.lora_dropout : 0;
  return { rank, alpha, dropout, targets: peftTargets(c.target_modules, file), useRslora: c.use_rslora === true };
}

/**
 * Loads a PEFT adapter folder onto `model` and attaches it (unless `attach: false`: a server keeping
 * several adapters attaches one at a time). Every tensor the config implies must be in
 * adapter_model.safetensors with its shape; a tensor we would not use is an error too (a mismatch between
 * the adapter and the model is almost always a wrong --adapter or --model).
 */
export function loadPeftAdapter(dir: string, model: Model, opts: { freezeBase?: boolean; attach?: boolean } = {}): LoraSet {
  const cfg = readPeftConfig(dir);
  const set = new LoraSet(model, cfg);
  const file = join(dir, "adapter_model.safetensors");
  if (!existsSync(file)) throw new UserError(`${file} not found (adapter_model.bin is not supported: convert to safetensors)`);
  const f = SafetensorsFile.open(file);
  try {
    for (const s of set.table.specs) {
      // PEFT also writes names without ".default" for the default adapter; accept both spellings.
      const alt = s.name.replace(/\.lora_([AB])\.weight$/, ".lora_$1.default.weight");
      const name = f.has(s.name) ? s.name : f.has(alt) ? alt : null;
      if (name === null) throw new UserError(`${file}: tensor "${s.name}" is missing (adapter_config.json targets ${cfg.targets.map((t) => LORA_MODULES[t]).join(", ")})`);
      const info = f.info(name);
      if (info.shape.length !== 2 || info.shape[0] !== s.shape[0] || info.shape[1] !== s.shape[1]) {
        throw new UserError(`${file}: tensor "${name}" has shape [${info.shape.join(", ")}] but the model and r=${cfg.rank} imply [${s.shape.join(", ")}]`);
      }
      f.readInto(name, set.params.view(s.name));
    }
    const known = new Set(set.table.specs.flatMap((s) => [s.name, s.name.replace(/\.lora_([AB])\.weight$/, ".lora_$1.default.weight")]));
    for (const n of f.names()) {
      if (!known.has(n)) throw new UserError(`${file}: tensor "${n}" does not match any adapted module of this model`);
    }
  } finally {
    f.close();
  }
  if (opts.attach ?? true) set.attach(opts);
  return set;
}
