/**
 * Which metrics go on which chart (a lookup table, in the order people read them), the smoothing,
 * and the y range. Pure functions: tested in node (test/dashboard/web.test.ts).
 */

export interface ChartSpec {
  id: string;
  title: string;
  /** The metric keys drawn on this chart (those present in the data). */
  keys: string[];
  big?: boolean;
  /** Values are fractions: the y axis reads as percent. */
  frac?: boolean;
}

export interface Section {
  title: string;
  note?: string;
  charts: ChartSpec[];
}

const LABELS: Record<string, string> = {
  accuracy: "Accuracy",
  "length/mean": "Response length (mean tokens)",
  recheck_share: "Re-check share",
  "reward/mean": "Reward (mean)",
  "reward/std": "Reward (std within groups)",
  format_rate: "Format rate",
  "groups/zero_variance_frac": "Groups with zero reward variance",
  "reward/unscorable_frac": "Unscorable responses",
  "groups/trained": "Groups trained on",
  skipped: "Skipped steps (non-finite loss)",
  "length/truncated_frac": "Truncated responses",
  entropy: "Entropy (nats/token)",
  kl: "KL to reference",
  "loss/policy": "Policy loss",
  grad_norm: "Gradient norm",
  lr: "Learning rate",
  loss: "Loss",
  "critic/value_loss": "Value loss",
  "critic/explained_variance": "Explained variance",
  "critic/clip_frac": "Clipped values",
  "critic/grad_norm": "Critic gradient norm",
  "tools/calls_per_episode": "Tool calls per episode",
  "tools/turns_per_episode": "Model turns per episode",
  "tools/errors": "Failed tool calls per episode",
  "tools/seconds": "Tool seconds per episode",
  "tools/masked_share": "Tool tokens (masked out of the loss)",
};
export const NOTES: Record<string, string> = {
  recheck_share: "responses that stop and re-check (\"wait\", \"let me check\")",
  "groups/zero_variance_frac": "prompts whose samples all got the same reward (no learning signal)",
  "critic/explained_variance": "1 − Var(R − V) / Var(R) of the rollout values: 1 = the critic predicts the returns",
};
const FRACTIONS = new Set(["tools/masked_share", "accuracy", "recheck_share", "format_rate", "groups/zero_variance_frac", "length/truncated_frac", "clip/low_frac", "clip/high_frac", "tis/truncated_frac", "tis/masked_frac"]);

export function label(key: string): string {
  return LABELS[key] ?? key;
}

/** Groups the metric keys present into sections of charts; keys no rule claims go to "Other". */
export function sections(keys: Set<string>): Section[] {
  const used = new Set<string>(["step", "time"]);
  const take = (pred: (k: string) => boolean): string[] => {
    const ks = [...keys].filter((k) => !used.has(k) && pred(k)).sort();
    for (const k of ks) used.add(k);
    return ks;
  };
  const one = (key: string, extra: Partial<ChartSpec> = {}): ChartSpec[] =>
    keys.has(key) && !used.has(key) ? (used.add(key), [{ id: key, title: label(key), keys: [key], frac: FRACTIONS.has(key), ...extra }]) : [];
  const many = (id: string, title: string, pred: (k: string) => boolean, extra: Partial<ChartSpec> = {}): ChartSpec[] => {
    const ks = take(pred);
    if (ks.length === 1 && ks[0] !== undefined) return [{ id, title: label(ks[0]), keys: ks, frac: FRACTIONS.has(ks[0]) || ks[0].endsWith("_frac"), ...extra }];
    return ks.length > 0 ? [{ id, title, keys: ks, ...extra }] : [];
  };
  const out: Section[] = [
    {
      title: "The aha moment",
      note: "accuracy rising while responses grow longer and start re-checking themselves",
      charts: [...one("accuracy", { big: true }), ...one("length/mean", { big: true }), ...one("recheck_share", { big: true }), ...one("reward/mean", { big: true })],
    },
    {
      title: "Reward",
      charts: [
        ...many("reward-parts", "Reward parts", (k) => k.startsWith("reward/") && k !== "reward/std" && !k.endsWith("_frac")),
        ...one("reward/std"),
        ...one("format_rate"),
        ...one("reward/unscorable_frac", { frac: true }),
        ...one("groups/zero_variance_frac"),
        ...many("groups", "Groups", (k) => k.startsWith("groups/")),
      ],
    },
    {
      title: "Tools",
      note: "multi-turn episodes: how often the model calls its tools, how many fail, and what ended the episodes",
      charts: [
        ...one("tools/calls_per_episode"),
        ...one("tools/turns_per_episode"),
        ...one("tools/errors"),
        ...one("tools/masked_share"),
        ...one("tools/seconds"),
        ...many("tools-finish", "Episodes ended by a limit or an error", (k) => k.startsWith("tools/finish/"), { frac: true }),
      ],
    },
    {
      title: "Length",
      charts: [
        ...(keys.has("length/min") || keys.has("length/max")
          ? (take((k) => k === "length/min" || k === "length/max"), [{ id: "length", title: "Response length (min / mean / max)", keys: ["length/min", "length/mean", "length/max"].filter((k) => keys.has(k)) }])
          : []),
        ...one("length/truncated_frac"),
        ...many("length-other", "Other length metrics", (k) => k.startsWith("length/")),
      ],
    },
    {
      title: "Policy",
      charts: [...one("entropy"), ...one("kl"), ...many("clip", "Clipped tokens (low / high)", (k) => k.startsWith("clip/"), { frac: true }), ...many("loss", "Loss", (k) => k === "loss" || k.startsWith("loss/"))],
    },
    {
      title: "Critic",
      note: "PPO's value model (critic = value): its loss, how much of the returns it explains, values vs returns, GAE advantages",
      charts: [
        ...one("critic/value_loss"),
        ...one("critic/explained_variance"),
        ...many("critic-values", "Values and returns (mean)", (k) => k === "critic/value_mean" || k === "critic/return_mean"),
        ...many("advantage", "Advantages (mean / std / min / max)", (k) => k.startsWith("advantage/")),
        ...one("critic/clip_frac", { frac: true }),
        ...one("critic/grad_norm"),
      ],
    },
    { title: "Optimizer", charts: [...one("grad_norm"), ...one("lr")] },
    {
      title: "Speed",
      charts: [
        ...many("tps", "Tokens per second", (k) => k.startsWith("tokens_per_s")),
        ...one("seconds/step", { title: "Seconds per step" }),
        ...many("phases", "Seconds per phase", (k) => k.startsWith("seconds/")),
      ],
    },
  ];
  const rest = [...keys].filter((k) => !used.has(k)).sort();
  out.push({ title: "Other", charts: rest.map((k) => ({ id: k, title: label(k), keys: [k], frac: k.endsWith("_frac") })) });
  return out.filter((s) => s.charts.length > 0);
}

/** TensorBoard's smoothing: an exponential moving average, debiased at the start. */
export function smooth(ys: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return ys;
  let last = 0;
  let n = 0;
  return ys.map((y) => {
    if (y === null) return null;
    last = last * weight + (1 - weight) * y;
    n++;
    return last / (1 - Math.pow(weight, n));
  });
}

/**
 * The y range: fractions start at 0 and stop near 1; a flat series gets a visible band around it
 * instead of uPlot's default [0, 100] for all-zero data.
 */
export function yRange(min: number | null, max: number | null, frac: boolean): [number, number] {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return frac ? [0, 1] : [0, 1];
  if (frac) {
    const lo = Math.min(0, min);
    const hi = max <= 0 ? 1 : max <= 1 ? Math.min(1.02, Math.max(max * 1.1, 0.05)) : max * 1.05;
    return [lo, hi];
  }
  // Flat (smoothing of a constant leaves float noise around it: not worth zooming into).
  if (max - min <= 1e-6 * Math.max(Math.abs(min), Math.abs(max))) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return [min - (min >= 0 && min - pad < 0 ? min : pad), max + pad];
  }
  const pad = (max - min) * 0.08;
  return [min >= 0 && min - pad < 0 ? 0 : min - pad, max + pad];
}

