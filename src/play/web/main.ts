/// <reference lib="dom" />
/**
 * The /play page: the built-in demo (`aha train` with no arguments) trained in this tab. A Web Worker
 * (../worker.ts) loads models/demo-adder, evaluates it, trains it with GRPO and evaluates it again; this
 * page draws what it reports with the dashboard's own pieces (metric charts, sample cards, the
 * base-vs-final card) and says which kernels run (WebGPU, WASM or js).
 *
 * Query parameters: steps=N (default: the demo's 120), heldout=N and samples=N (the evaluations: the
 * demo's 200 problems × 8 samples), prompts=N and group=N (a step's prompts × samples: the demo's
 * 16 × 8), backend=auto|webgpu|wasm|js, autostart=1 (start at once). For
 * tests and scripts the page keeps `window.ahaPlay` up to date:
 *   { backend, detail, step, steps, accuracy (the last step's training accuracy), loss, base, final
 *     (held-out pass@1 before / after, null until known), done, error }
 */
import { chartSections, type ChartOptions, type MetricChart, type RunSeries } from "../../dashboard/web/charts.js";
import { fmtDuration, fmtNum, fmtPct, h } from "../../dashboard/web/dom.js";
import { renderResponse, sampleCard } from "../../dashboard/web/samples.js";
import type { BackendChoice, FromWorker, ToWorker } from "../protocol.js";
import type { EvalExample, EvalFigures, PlayEvent, PlayOverrides } from "../session.js";

interface AhaPlay {
  backend: string | null;
  detail: string | null;
  step: number;
  steps: number | null;
  accuracy: number | null;
  /** The last step's policy loss (null before the first update). */
  loss: number | null;
  base: number | null;
  final: number | null;
  done: boolean;
  error: string | null;
}
declare global {
  interface Window {
    ahaPlay: AhaPlay;
  }
}

const params = new URLSearchParams(location.search);
const intParam = (name: string): number | undefined => {
  const v = params.get(name);
  return v !== null && /^\d{1,7}$/.test(v) ? Number(v) : undefined;
};
const overrides: PlayOverrides = {};
const steps = intParam("steps");
if (steps !== undefined && steps > 0) overrides.steps = steps;
const heldOut = intParam("heldout");
if (heldOut !== undefined) overrides.heldOut = heldOut;
const evalSamples = intParam("samples");
if (evalSamples !== undefined) overrides.evalSamples = evalSamples;
const prompts = intParam("prompts");
if (prompts !== undefined) overrides.promptsPerStep = prompts;
const group = intParam("group");
if (group !== undefined) overrides.groupSize = group;
const backendParam = params.get("backend");
const choice: BackendChoice = backendParam === "webgpu" || backendParam === "wasm" || backendParam === "js" ? backendParam : "auto";

const state: AhaPlay = { backend: null, detail: null, step: 0, steps: null, accuracy: null, loss: null, base: null, final: null, done: false, error: null };
window.ahaPlay = state;

// ---- the page's parts --------------------------------------------------------------------------
const backendBadge = h("span", { class: "status", "data-testid": "backend" }, "kernels: not started");
const phase = h("span", { class: "muted", "data-testid": "phase" }, "Press Start: the model trains in this tab (nothing is uploaded).");
const startBtn = h("button", { class: "btn primary", "data-testid": "start" }, "Start");
const stopBtn = h("button", { class: "btn", "data-testid": "stop", disabled: true }, "Stop");
const bar = h("div", { class: "progress-bar" }, h("div", { class: "progress-fill" }));
const summary = h("div", { class: "summary-row big", "data-testid": "summary" });
const chartsBox = h("div", { class: "sections" });
const evalBox = h("div", { class: "play-evals" });
const samplesHead = h("h3", null, "Samples");
const samplesBox = h("div", { class: "sample-list", "data-testid": "samples" });

document.body.prepend(h("header", { class: "topbar" }, h("a", { class: "brand", href: "." }, h("span", { class: "logo" }, "aha"), h("span", { class: "brand-sub" }, "play")), h("span", { class: "spacer" }), backendBadge));
(document.getElementById("app") as HTMLElement).append(
  h(
    "main",
    { class: "page" },
    h(
      "div",
      { class: "card" },
      h("h2", null, "The aha moment, in this tab"),
      h("p", null, "A 0.8M-parameter transformer that mostly guesses 3-digit sums learns, by GRPO rewarded only for a correct final answer, to work column by column and to re-check itself (", h("code", null, "<wait>"), "). This is ", h("code", null, "aha train"), " with no arguments — the same model, settings and evaluation — running in a Web Worker of this page."),
      h("div", { class: "play-controls" }, startBtn, stopBtn, phase),
      bar,
    ),
    h("div", { class: "card" }, h("h3", null, "Held-out pass@1, base → final"), summary),
    chartsBox,
    evalBox,
    h("section", { class: "metric-section" }, samplesHead, samplesBox),
  ),
);

// ---- curves --------------------------------------------------------------------------------------
const rows: Record<string, unknown>[] = [];
const samplesByStep = new Map<number, PlayEvent & { kind: "step" }>();
let charts: MetricChart[] = [];
let keysSeen = "";
const chartOpts: ChartOptions = { xMode: "step", smoothing: 0.6, onPickStep: (_run, step) => showSamples(step) };
let pending = false;

function drawCharts(): void {
  const keys = new Set<string>();
  for (const r of rows) for (const [k, v] of Object.entries(r)) if (typeof v === "number") keys.add(k);
  const sig = [...keys].sort().join(",");
  if (sig !== keysSeen) {
    keysSeen = sig;
    for (const c of charts) c.destroy();
    charts = chartSections(chartsBox, keys, chartOpts);
  }
  const series: RunSeries[] = [{ name: "this tab", color: "#2563eb", rows }];
  for (const c of charts) c.update(series);
}

function scheduleDraw(): void {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    drawCharts();
  });
}

function showSamples(step: number): void {
  const e = samplesByStep.get(step);
  if (!e) return;
  samplesHead.textContent = `Samples of step ${step}`;
  // the page's demo has no tools: no multi-turn episodes to draw
  samplesBox.replaceChildren(...e.samples.map((s) => sampleCard({ ...s, extracted: s.extracted ?? null, episode: null }, "")));
}

// ---- evaluations ---------------------------------------------------------------------------------
const figures: { base: EvalFigures | null; final: EvalFigures | null } = { base: null, final: null };

function drawSummary(): void {
  const stat = (label: string, key: keyof EvalFigures, frac: boolean): HTMLElement => {
    const b = figures.base?.[key];
    const f = figures.final?.[key];
    const fmt = (v: number | undefined): string => (v === undefined ? "–" : frac ? fmtPct(v) : fmtNum(v, 1));
    const d = b !== undefined && f !== undefined ? f - b : null;
    return h(
      "div",
      { class: "stat", "data-testid": `stat-${key}` },
      h("div", { class: "stat-k" }, label),
      h("div", { class: "stat-v" }, h("span", { class: "from" }, fmt(b)), h("span", { class: "arrow" }, "→"), h("b", null, fmt(f))),
      d === null ? null : h("div", { class: `delta ${d > 0 ? "up" : d < 0 ? "down" : ""}` }, `${d > 0 ? "+" : ""}${frac ? `${(d * 100).toFixed(1)} pts` : fmtNum(d, 1)}`),
    );
  };
  const n = figures.base ?? figures.final;
  summary.replaceChildren(
    stat("pass@1", "pass@1", true),
    stat("response length (tokens)", "length/mean", false),
    stat("re-checks", "recheck_share", true),
    h("div", { class: "stat-note" }, n ? `${n.questions} held-out problems × ${n.samples} samples, T = 1` : "evaluated before and after training"),
  );
}

function exampleCard(name: string, fig: EvalFigures, examples: EvalExample[], seconds: number): HTMLElement {
  return h(
    "section",
    { class: "metric-section", "data-testid": `eval-${name}` },
    h("h3", null, `${name === "base" ? "Before training" : "After training"}: pass@1 ${fmtPct(fig["pass@1"])}`, h("span", { class: "note" }, `evaluated in ${fmtDuration(seconds)}; the first sample of the first problems`)),
    h("div", { class: "sample-list" }, examples.map((x) =>
      h("article", { class: `sample ${x.correct ? "is-ok" : "is-bad"}` },
        h("header", null, h("span", { class: `badge ${x.correct ? "ok" : "bad"}` }, x.correct ? "correct" : "wrong"), h("code", null, `${x.question} → ${x.answer}`)),
        renderResponse(x.response, "")))),
  );
}

// ---- the worker ----------------------------------------------------------------------------------
let worker: Worker | null = null;
let t0 = 0;
let total = 0;

function setProgress(frac: number): void {
  (bar.firstChild as HTMLElement).style.width = `${Math.max(0, Math.min(1, frac)) * 100}%`;
}

function onEvent(e: PlayEvent): void {
  switch (e.kind) {
    case "loaded":
      total = e.steps;
      state.steps = e.steps;
      phase.textContent = `Loaded (${(e.parameters / 1e6).toFixed(2)}M parameters). ${e.heldOut > 0 && e.evalSamples > 0 ? "Evaluating the base model…" : "Training…"}`;
      break;
    case "eval-progress":
      phase.textContent = `Evaluating the ${e.name} model: ${e.done}/${e.total} problems, pass@1 so far ${fmtPct(e.passAt1)}`;
      break;
    case "eval":
      figures[e.name] = e.figures;
      state[e.name] = e.figures["pass@1"];
      drawSummary();
      evalBox.append(exampleCard(e.name, e.figures, e.examples, e.seconds));
      if (e.name === "base") phase.textContent = "Training…";
      break;
    case "step": {
      rows.push({ ...e.row });
      samplesByStep.set(e.row.step, e);
      state.step = e.row.step;
      state.accuracy = typeof e.row["accuracy"] === "number" ? e.row["accuracy"] : null;
      state.loss = typeof e.row["loss/policy"] === "number" ? e.row["loss/policy"] : null;
      setProgress(e.row.step / Math.max(total, 1));
      phase.textContent = `Step ${e.row.step}/${total} · accuracy ${fmtPct(state.accuracy)} · ${fmtNum(e.row["length/mean"] ?? null, 1)} tokens · ${fmtDuration((performance.now() - t0) / 1000)}`;
      showSamples(e.row.step);
      scheduleDraw();
      break;
    }
    case "done":
      state.done = true;
      stopBtn.disabled = true;
      phase.textContent = `${e.stopped ? "Stopped" : "Done"} after ${e.steps} steps in ${fmtDuration(e.wallSeconds)}.` +
        (e.base && e.final ? ` Held-out pass@1 ${fmtPct(e.base["pass@1"])} → ${fmtPct(e.final["pass@1"])}.` : "");
      break;
  }
}

function start(): void {
  if (worker) return;
  startBtn.disabled = true;
  stopBtn.disabled = false;
  t0 = performance.now();
  phase.textContent = "Loading the model and the kernels…";
  worker = new Worker("play-worker.js");
  worker.onmessage = (m: MessageEvent<FromWorker>) => {
    const d = m.data;
    if (d.type === "backend") {
      state.backend = d.name;
      state.detail = d.detail;
      backendBadge.textContent = `kernels: ${d.name}`;
      backendBadge.title = d.detail;
      backendBadge.append(h("span", { class: "muted small" }, ` — ${d.detail}`));
    } else if (d.type === "event") onEvent(d.event);
    else {
      state.error = d.message;
      state.done = true;
      stopBtn.disabled = true;
      phase.replaceChildren(h("span", { class: "badge bad" }, "error"), ` ${d.message}`);
    }
  };
  worker.onerror = (ev) => {
    state.error = ev.message || "the worker failed to start";
    state.done = true;
    phase.textContent = `error: ${state.error}`;
  };
  const msg: ToWorker = { type: "start", overrides, backend: choice };
  worker.postMessage(msg);
}

startBtn.addEventListener("click", start);
stopBtn.addEventListener("click", () => {
  const msg: ToWorker = { type: "stop" };
  worker?.postMessage(msg);
  stopBtn.disabled = true;
  phase.textContent = "Stopping after this step…";
});
drawSummary();
if (params.get("autostart") === "1") start();
