/**
 * The weights `aha serve` decodes with, and the gate that lets a trainer swap them (docs/serve.md,
 * "Weight updates"): SGLang's `update_weights_from_disk` (a Hugging Face folder of the same shape → the
 * base weights) and vLLM's `load_lora_adapter` / `unload_lora_adapter` (PEFT folders served under a name).
 *
 * One continuous batch decodes with one set of weights, so the gate is a queue of two kinds of entries:
 * - generations, each for one served name (the base or an adapter). Generations for the name now in the
 *   model run together; one for another name waits until the batch is idle, then the model switches
 *   (detach one LoRA set, attach another: no copy, no merge).
 * - updates, which run alone: an update waits until every generation in flight has finished, and every
 *   request that arrives after it waits behind it (a pause, as SGLang's pause_generation). Nothing in
 *   flight ever sees two weight versions.
 * The queue is first come, first served: a waiting update or switch holds back later requests, so
 * neither starves. `version` counts successful updates (0 at start); a request records the version
 * it was admitted under, which is the version that decoded every one of its tokens.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.js";
import { loadHfWeights, readHfConfig } from "../formats/hf.js";
import { loadPeftAdapter } from "../formats/peft.js";
import type { LoraSet } from "../model/lora.js";
import type { Model } from "../model/model.js";
import { Arena } from "../model/params.js";

export interface ServedModel {
  model: Model;
  /** The folder the base weights came from (/v1/models `root`). */
  path: string;
  /** The adapter given at start (`--adapter`): part of the base name's weights; runtime adapters replace it while they run. */
  startAdapter?: LoraSet | null;
}

export interface AdapterEntry {
  name: string;
  path: string;
  set: LoraSet;
  /** The weight version its last load made. */
  version: number;
}

type Waiter =
  | { kind: "generate"; name: string; resolve: (release: () => void) => void; reject: (e: unknown) => void }
  | { kind: "update"; run: () => void };

/** Raised when a generation names a model that is not (or no longer) served. */
export class UnknownModelError extends Error {
  constructor(readonly model: string) {
    super(`unknown model '${model}'`);
  }
}

export class WeightGate {
  /** Successful weight updates so far. */
  version = 0;
  readonly adapters = new Map<string, AdapterEntry>();
  /** The name whose weights are in the model now. */
  private current: string;
  private active = 0;
  private updating = false;
  private readonly queue: Waiter[] = [];

  constructor(readonly baseName: string, readonly served: ServedModel | null) {
    this.current = baseName;
  }

  /** Generations running now. */
  get running(): number {
    return this.active;
  }

  /** Requests (generations and updates) waiting for their turn. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Whether an update runs or waits (new generations queue behind it). */
  get paused(): boolean {
    return this.updating || this.queue.some((w) => w.kind === "update");
  }

  has(name: string): boolean {
    return name === this.baseName || this.adapters.has(name);
  }

  /**
   * Waits until a generation for `name` may run; returns its release (call it once, when the response is
   * done). Rejects with UnknownModelError when `name` is not served at its turn (e.g. unloaded meanwhile).
   */
  acquire(name: string): Promise<() => void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ kind: "generate", name, resolve, reject });
      this.pump();
    });
  }

  /**
   * Runs `fn` alone: after every generation in flight has finished, with later requests held back.
   * `fn`'s result (or error) is passed on; the queue moves on either way. `queuedBehind` is given the
   * generations that were waiting when `fn` started (SGLang's num_paused_requests).
   */
  exclusive<T>(fn: (queuedBehind: number) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        kind: "update",
        run: () => {
          try {
            resolve(fn(this.queue.filter((w) => w.kind === "generate").length));
          } catch (e) {
            reject(e);
          } finally {
            this.updating = false;
            this.pump();
          }
        },
      });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.updating) {
      const w = this.queue[0]!;
      if (w.kind === "update") {
        if (this.active > 0) return;
        this.queue.shift();
        this.updating = true;
        w.run(); // synchronous: clears `updating` and pumps again when done
        return;
      }
      if (w.name !== this.current && this.active > 0) return;
      this.queue.shift();
      if (!this.has(w.name)) {
        w.reject(new UnknownModelError(w.name));
        continue;
      }
      if (w.name !== this.current) this.switchTo(w.name);
      this.active++;
      let released = false;
      w.resolve(() => {
        if (released) return;
        released = true;
        this.active--;
        this.pump();
      });
    }
  }

  /** Puts `name`'s weights in the model (the batch is idle). */
  private switchTo(name: string): void {
    const s = this.served;
    if (s) {
      const from = this.current === this.baseName ? s.startAdapter ?? null : this.adapters.get(this.current)?.set ?? null;
      const to = name === this.baseName ? s.startAdapter ?? null : this.adapters.get(name)!.set;
      if (from !== to) {
        from?.detach();
        to?.attach({ freezeBase: false });
      }
    }
    this.current = name;
  }

  private need(): ServedModel {
    if (!this.served) throw new UserError("this server was started without access to its model's weights: weight updates are not available", undefined, "AHA_NO_WEIGHT_UPDATES");
    return this.served;
  }

  /**
   * Loads a Hugging Face folder's weights into the base model (call inside `exclusive`). The folder's
   * config.json must describe the same model; the tensors are read into a scratch copy first, so a
   * failure at any point leaves the served weights as they were. Returns the load's warnings.
   */
  loadBaseWeights(dir: string): string[] {
    const s = this.need();
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dir}: no such folder`, undefined, "AHA_NO_MODEL");
    const { config } = readHfConfig(dir);
    const have = s.model.cfg as unknown as Record<string, unknown>;
    const got = config as unknown as Record<string, unknown>;
    const diff = Object.keys(have).filter((k) => k !== "initializerRange" && JSON.stringify(have[k]) !== JSON.stringify(got[k]));
    if (diff.length > 0) {
      throw new UserError(
        `${join(dir, "config.json")} describes another model than the one served: ${diff.map((k) => `${k} ${JSON.stringify(got[k])} (served: ${JSON.stringify(have[k])})`).join(", ")}`,
        undefined,
        "AHA_SHAPE_MISMATCH",
      );
    }
    const scratch = new Arena(s.model.params.table);
    const { warnings } = loadHfWeights(dir, scratch);
    s.model.params.data.set(scratch.data);
    s.model.params.markChanged();
    this.version++;
    return warnings;
  }

  /**
   * Loads (or replaces) the PEFT adapter `name` from `dir` (call inside `exclusive`). A failure leaves
   * the adapters as they were.
   */
  loadAdapter(name: string, dir: string): AdapterEntry {
    const s = this.need();
    if (name === this.baseName) throw new UserError(`'${name}' is the base model's name; give the adapter another lora_name`);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dir}: no such folder`, undefined, "AHA_NO_ADAPTER");
    const set = loadPeftAdapter(dir, s.model, { attach: false });
    const old = this.adapters.get(name);
    const entry: AdapterEntry = { name, path: dir, set, version: this.version + 1 };
    if (this.current === name && old) {
      old.set.detach();
      set.attach({ freezeBase: false });
    }
    this.adapters.set(name, entry);
    this.version++;
    entry.version = this.version;
    return entry;
  }

  /** Forgets adapter `name` (call inside `exclusive`); false when it is not loaded. */
  unloadAdapter(name: string): boolean {
    const a = this.adapters.get(name);
    if (!a) return false;
    if (this.current === name) this.switchTo(this.baseName);
    this.adapters.delete(name);
    return true;
  }
}
