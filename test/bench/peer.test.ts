/**
 * The PyTorch peer's budgets (scripts/peer_bench.py budget_s): with a budget that is spent at once,
 * training times exactly one step and sampling stops decoding early; without one, every step and
 * token runs. A tiny model, so this takes seconds; it needs Debian's PyTorch, as the peer does. Where torch
 * is missing (CI installs no PyTorch) each test checks instead that the peer says so ({ ok: false, why }),
 * which is what lets the bench report "no peer" rather than fail.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { collectGarbage, PEER_PYTHON, runPeer, runPeerScript } from "../../src/bench/peer.js";

const TINY = { architectures: ["LlamaForCausalLM"], vocab_size: 64, hidden_size: 32, intermediate_size: 64,
  num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2 };
const hasTorch = spawnSync(PEER_PYTHON, ["-c", "import torch"], { stdio: "ignore" }).status === 0;

describe("peer budgets", () => {
  type Row = { dtype: string; tokens_per_s: number; steps_timed?: number; new_tokens_timed?: number };
  const rows = (r: ReturnType<typeof runPeer>): Row[] => {
    if (!r.ok) throw new Error(r.why);
    return r.data["rows"] as Row[];
  };
  /** Without torch: the peer answers no rows and a reason naming what is missing. */
  const noPeer = (r: ReturnType<typeof runPeer>): void => {
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(/torch|python|not found/i);
  };

  it("train: budget 0 times one step per dtype, no budget times them all", () => {
    const spec = { model: TINY, batch: 2, seq: 8, dtypes: ["fp32", "bf16"], steps: 3 };
    if (!hasTorch) return noPeer(runPeer("train", { ...spec, budget_s: 0 }, 1));
    expect(rows(runPeer("train", { ...spec, budget_s: 0 }, 1)).map((r) => r.steps_timed)).toEqual([1, 1]);
    expect(rows(runPeer("train", { ...spec, budget_s: null }, 1)).map((r) => r.steps_timed)).toEqual([3, 3]);
  });

  it("sample: budget 0 decodes one token of one repeat, no budget decodes all of them", () => {
    const spec = { model: TINY, prompts: 2, prompt_len: 3, new_tokens: 40, dtypes: ["fp32"], repeats: 2 };
    if (!hasTorch) return noPeer(runPeer("sample", { ...spec, budget_s: 0 }, 1));
    const cut = rows(runPeer("sample", { ...spec, budget_s: 0 }, 1));
    expect(cut.map((r) => r.new_tokens_timed)).toEqual([1]);
    expect(cut[0]!.tokens_per_s).toBeGreaterThan(0);
    expect(rows(runPeer("sample", spec, 1)).map((r) => r.new_tokens_timed)).toEqual([40]);
  });
});

describe("peer time limit", () => {
  it("a peer that runs past its limit is stopped and named, not reported as a spawn error", () => {
    const dir = mkdtempSync(join(tmpdir(), "aha-peer-"));
    try {
      const script = join(dir, "slow_peer.py");
      writeFileSync(script, "import time\ntime.sleep(30)\n");
      const r = runPeerScript(pathToFileURL(script), [], {}, 1, 300);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.why).toBe("slow_peer.py ran past its 0.3-second limit (a busy machine?) and was stopped");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("collectGarbage", () => {
  it("frees an object nothing refers to any more, without --expose-gc", async () => {
    let big: Float32Array | null = new Float32Array(1 << 20);
    const ref = new WeakRef(big);
    big = null;
    await new Promise((r) => setTimeout(r, 0)); // WeakRef targets stay alive until the current job ends
    collectGarbage();
    expect(ref.deref()).toBeUndefined();
  });
});
