/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * A run's page: header (status, progress), tabs for curves, samples, config and evaluations.
 * Curves of the run (and of runs overlaid on it) update live from server-sent events.
 */
import { api, type Row, type RunInfo, type Verdict } from "./api.js";
import { chartSections, PALETTE, type ChartOptions, type MetricChart, type RunSeries } from "./charts.js";
import { append, clear, fmtAgo, fmtDuration, fmtNum, fmtPct, h } from "./dom.js";
import { sampleCard } from "./samples.js";
import { card, debounce, errorBox, hrefOf, progress, replaceParams, segmented, statusBadge, type Params } from "./ui.js";

interface RunData {
  name: string;
  color: string;
  info: RunInfo;
  rows: Row[];
  offset: number;
}

type Tab = "charts" | "samples" | "config" | "evals";

export async function runPage(root: HTMLElement, params: Params, onCleanup: (f: () => void) => void): Promise<void> {
  const path = params.get("p") ?? "";
  const overlay = (params.get("with") ?? "").split(",").filter((s) => s !== "" && s !== path);
  const [main, list] = await Promise.all([api.run(path), api.runs()]);
  const names = [path, ...overlay];
  const runs = new Map<string, RunData>();
  await Promise.all(
    names.map(async (n, i) => {
      const [m, infoRes] = await Promise.all([api.metrics(n), n === path ? Promise.resolve(main) : api.run(n)]);
      runs.set(n, { name: n, color: PALETTE[i % PALETTE.length] ?? "#333", info: infoRes.info, rows: m.rows, offset: m.offset });
    }),
  );

  let tab: Tab = (["charts", "samples", "config", "evals"] as const).find((t) => t === params.get("tab")) ?? "charts";
  const chartOpts: ChartOptions = {
    xMode: params.get("x") === "time" ? "time" : "step",
    smoothing: params.has("smooth") ? Math.min(0.99, Math.max(0, Number(params.get("smooth")) || 0)) : 0.6,
    onPickStep: (run, step) => {
      sampleState.run = run;
      sampleState.step = step;
      sampleState.allSteps = false;
      switchTab("samples");
    },
  };

  // ---- header -------------------------------------------------------------------------------
  const head = h("div", { class: "run-head" });
  const renderHead = (): void => {
    const info = runs.get(path)?.info ?? main.info;
    document.title = `${info.step ?? "–"}${info.total_steps ? `/${info.total_steps}` : ""} · ${info.name} · aha`;
    clear(head);
    append(head, [
      h("div", { class: "crumbs" }, h("a", { href: hrefOf("") }, "Runs"), " / "),
      h("div", { class: "title-row" }, h("h1", null, info.name), statusBadge(info), info.status_note ? h("span", { class: "muted" }, info.status_note) : null),
      h(
        "div",
        { class: "meta-row" },
        meta("task", info.task),
        meta("model", info.model),
        meta("algorithm", info.algorithm),
        h("span", { class: "meta" }, h("span", { class: "k" }, "step"), h("span", { "data-testid": "run-step" }, info.step === null ? "–" : `${info.step}${info.total_steps ? ` / ${info.total_steps}` : ""}`)),
        meta("best accuracy", info.best_accuracy === null ? null : fmtPct(info.best_accuracy)),
        meta("started", info.started ? new Date(info.started).toLocaleString() : null),
        meta("updated", fmtAgo(info.updated)),
      ),
      info.total_steps ? progress(info.step, info.total_steps) : null,
      info.error ? h("div", { class: "error-box" }, info.error) : null,
    ]);
  };
  renderHead();

  // ---- tabs ---------------------------------------------------------------------------------
  const panes: Record<Tab, HTMLElement> = {
    charts: h("div", { class: "pane", "data-pane": "charts" }),
    samples: h("div", { class: "pane", "data-pane": "samples" }),
    config: h("div", { class: "pane", "data-pane": "config" }),
    evals: h("div", { class: "pane", "data-pane": "evals" }),
  };
  const tabDefs: { id: Tab; label: string }[] = [
    { id: "charts", label: "Curves" },
    { id: "samples", label: "Samples" },
    { id: "config", label: "Config" },
    ...(main.info.evals.length > 0 || main.summary ? [{ id: "evals" as const, label: `Evaluation${main.info.evals.length > 1 ? "s" : ""}` }] : []),
  ];
  const tabBar = h("nav", { class: "tabs" });
  const loaded = new Set<Tab>();
  const switchTab = (t: Tab): void => {
    tab = t;
    tabBar.replaceChildren(...tabDefs.map((d) => h("button", { type: "button", class: d.id === t ? "on" : "", "data-tab": d.id, onclick: () => switchTab(d.id) }, d.label)));
    for (const [k, el] of Object.entries(panes)) el.hidden = k !== t;
    replaceParams({ tab: t === "charts" ? null : t, step: t === "samples" ? sampleState.step : null });
    if (t === "samples") void loadSamples();
    else if (!loaded.has(t)) {
      loaded.add(t);
      if (t === "config") renderConfig();
      if (t === "evals") renderEvals();
    }
    if (t === "charts") {
      // Live rows that arrived while another tab was shown are drawn on return.
      if (dirty) {
        dirty = false;
        drawCharts();
      }
      for (const c of charts) c.resize();
    }
  };

  root.replaceChildren(head, tabBar, ...Object.values(panes));

  // ---- curves -------------------------------------------------------------------------------
  let charts: MetricChart[] = [];
  let keysSeen = "";
  const chartsBox = h("div", { class: "sections" });
  const series = (): RunSeries[] => names.map((n) => runs.get(n)).filter((r): r is RunData => r !== undefined).map((r) => ({ name: r.name, color: r.color, rows: r.rows }));
  const drawCharts = (): void => {
    const keys = new Set<string>();
    for (const r of runs.values()) for (const row of r.rows) for (const [k, v] of Object.entries(row)) if (typeof v === "number") keys.add(k);
    const sig = [...keys].sort().join(",");
    if (sig !== keysSeen) {
      keysSeen = sig;
      for (const c of charts) c.destroy();
      charts = chartSections(chartsBox, keys, chartOpts);
      if (keys.size === 0) chartsBox.append(h("p", { class: "empty" }, "No metrics yet: metrics.jsonl is empty."));
    }
    const s = series();
    for (const c of charts) {
      c.setOptions(chartOpts);
      c.update(s);
    }
  };
  let pending = false;
  const scheduleDraw = (): void => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      if (tab === "charts" || charts.length === 0) drawCharts();
      else dirty = true;
    });
  };
  let dirty = false;

  const smoothVal = h("span", { class: "num" }, chartOpts.smoothing.toFixed(2));
  const slider = h("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: String(chartOpts.smoothing), "data-testid": "smoothing" });
  slider.addEventListener("input", () => {
    chartOpts.smoothing = Number(slider.value);
    smoothVal.textContent = chartOpts.smoothing.toFixed(2);
    replaceParams({ smooth: chartOpts.smoothing });
    scheduleDraw();
  });
  const others = list.runs.filter((r) => r.path !== path);
  const overlayBox = h(
    "div",
    { class: "overlay-pick" },
    others.length === 0
      ? h("span", { class: "muted" }, "no other runs")
      : others.map((r) => {
          const on = overlay.includes(r.path);
          const color = on ? (runs.get(r.path)?.color ?? "#999") : "#c9ced6";
          return h(
            "a",
            { class: `pick${on ? " on" : ""}`, href: hrefOf("run", { p: path, with: (on ? overlay.filter((o) => o !== r.path) : [...overlay, r.path]).join(",") || null, smooth: chartOpts.smoothing, x: chartOpts.xMode === "time" ? "time" : null }) },
            h("span", { class: "sw", style: `background:${color}` }),
            r.name,
          );
        }),
  );
  const controls = h(
    "div",
    { class: "controls card" },
    h("label", { class: "ctl" }, h("span", { class: "k" }, "Smoothing"), slider, smoothVal),
    h(
      "div",
      { class: "ctl" },
      h("span", { class: "k" }, "X axis"),
      segmented(
        [
          { value: "step", label: "Step" },
          { value: "time", label: "Time" },
        ],
        chartOpts.xMode,
        (v) => {
          chartOpts.xMode = v;
          replaceParams({ x: v === "time" ? "time" : null });
          drawCharts();
        },
        "xaxis",
      ),
    ),
    h("div", { class: "ctl grow" }, h("span", { class: "k" }, "Compare with"), overlayBox),
  );
  const legend =
    names.length > 1
      ? h(
          "div",
          { class: "run-legend" },
          names.map((n) => h("span", { class: "lg" }, h("span", { class: "sw", style: `background:${runs.get(n)?.color ?? "#999"}` }), n)),
        )
      : null;
  panes.charts.append(...(main.summary ? [summaryCard(main.summary, main.info.evals)] : []), controls, legend ?? "", chartsBox);

  // ---- samples ------------------------------------------------------------------------------
  const sampleState: { run: string; step: number | null; verdict: Verdict; q: string; allSteps: boolean } = {
    run: path,
    step: params.has("step") ? Number(params.get("step")) : null,
    verdict: "all",
    q: "",
    allSteps: false,
  };
  const stepSelect = h("select", { "data-testid": "step-select", "aria-label": "step" });
  const stepSlider = h("input", { type: "range", min: "0", max: "0", step: "1", value: "0", class: "step-slider" });
  const searchBox = h("input", { type: "search", placeholder: "search responses (e.g. wait)", "data-testid": "search", class: "search" });
  const allBox = h("input", { type: "checkbox" });
  const runSelect =
    names.length > 1
      ? h(
          "select",
          { "aria-label": "run" },
          names.map((n) => h("option", { value: n }, n)),
        )
      : null;
  const sampleInfo = h("div", { class: "sample-info", "data-testid": "sample-info" });
  const matchStrip = h("div", { class: "match-strip" });
  const sampleList = h("div", { class: "sample-list", "data-testid": "samples" });
  let stepList: number[] = [];
  let sampleSeq = 0;
  const loadSamples = async (): Promise<void> => {
    const seq = ++sampleSeq;
    if (runSelect) runSelect.value = sampleState.run;
    try {
      const res = await api.samples(sampleState.run, { step: sampleState.allSteps && sampleState.q !== "" ? null : sampleState.step, verdict: sampleState.verdict, q: sampleState.q });
      if (seq !== sampleSeq) return;
      stepList = res.steps;
      if (!sampleState.allSteps || sampleState.q === "") sampleState.step = res.step;
      replaceParams({ step: sampleState.step });
      stepSelect.replaceChildren(...(res.step === null ? [h("option", { value: "", selected: true }, "all steps")] : []), ...res.steps.map((s) => h("option", { value: String(s), selected: s === res.step }, `step ${s}`)));
      stepSlider.max = String(Math.max(0, res.steps.length - 1));
      stepSlider.value = String(Math.max(0, res.steps.indexOf(res.step ?? -1)));
      stepSelect.disabled = sampleState.allSteps && sampleState.q !== "";
      renderMatchStrip(res.steps, res.matches, res.step);
      const shown = res.samples;
      const nCorrect = shown.filter((s) => s.correct === true).length;
      const rewards = shown.map((s) => s.reward).filter((r): r is number => r !== null);
      const meanR = rewards.length > 0 ? rewards.reduce((a, b) => a + b, 0) / rewards.length : null;
      const where = sampleState.allSteps && sampleState.q !== "" ? `all steps` : `step ${res.step ?? "–"}`;
      sampleInfo.replaceChildren(
        h("b", null, where),
        ` · ${res.total} sample${res.total === 1 ? "" : "s"}${res.total > shown.length ? ` (first ${shown.length} shown)` : ""}`,
        shown.length > 0 ? ` · ${nCorrect} correct · mean reward ${fmtNum(meanR)}` : "",
        sampleState.q !== "" ? h("span", { class: "muted" }, ` · matching “${sampleState.q}”`) : "",
      );
      sampleList.replaceChildren(
        ...(shown.length === 0 ? [h("p", { class: "empty" }, res.steps.length === 0 ? "This run has no samples.jsonl yet." : "No samples match.")] : shown.map((s) => sampleCard(s, sampleState.q, sampleState.allSteps && sampleState.q !== ""))),
      );
    } catch (e) {
      sampleList.replaceChildren(errorBox(e));
    }
  };
  const renderMatchStrip = (steps: number[], matches: Record<string, number>, cur: number | null): void => {
    const filtered = sampleState.q !== "" || sampleState.verdict !== "all";
    if (!filtered || steps.length === 0) {
      matchStrip.replaceChildren();
      return;
    }
    const max = Math.max(1, ...Object.values(matches));
    const total = Object.values(matches).reduce((a, b) => a + b, 0);
    const nSteps = Object.keys(matches).length;
    matchStrip.replaceChildren(
      h("div", { class: "strip-label" }, `${total} matching samples in ${nSteps} of ${steps.length} steps`, h("span", { class: "muted" }, " — click a bar to open its step")),
      h(
        "div",
        { class: "strip" },
        steps.map((s) => {
          const n = matches[String(s)] ?? 0;
          return h("button", {
            type: "button",
            class: `bar${s === cur ? " cur" : ""}`,
            title: `step ${s}: ${n}`,
            style: `--h:${((n / max) * 100).toFixed(0)}%`,
            onclick: () => {
              sampleState.step = s;
              sampleState.allSteps = false;
              allBox.checked = false;
              void loadSamples();
            },
          });
        }),
      ),
    );
  };
  stepSelect.addEventListener("change", () => {
    sampleState.step = Number(stepSelect.value);
    void loadSamples();
  });
  stepSlider.addEventListener("input", () => {
    const s = stepList[Number(stepSlider.value)];
    if (s !== undefined) {
      sampleState.step = s;
      void loadSamples();
    }
  });
  const stepBy = (d: number): void => {
    const i = stepList.indexOf(sampleState.step ?? -1);
    const s = stepList[Math.min(stepList.length - 1, Math.max(0, i + d))];
    if (s !== undefined) {
      sampleState.step = s;
      sampleState.allSteps = false;
      allBox.checked = false;
      void loadSamples();
    }
  };
  // ← / → step through the samples (when not typing in a field).
  const onKey = (e: KeyboardEvent): void => {
    if (tab !== "samples" || e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target as HTMLElement | null;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    if (e.key === "ArrowLeft") stepBy(-1);
    else if (e.key === "ArrowRight") stepBy(1);
  };
  document.addEventListener("keydown", onKey);
  onCleanup(() => document.removeEventListener("keydown", onKey));
  searchBox.addEventListener(
    "input",
    debounce(() => {
      sampleState.q = searchBox.value.trim();
      void loadSamples();
    }, 250),
  );
  allBox.addEventListener("change", () => {
    sampleState.allSteps = allBox.checked;
    void loadSamples();
  });
  runSelect?.addEventListener("change", () => {
    sampleState.run = runSelect.value;
    void loadSamples();
  });
  panes.samples.append(
    h(
      "div",
      { class: "controls card sample-controls" },
      runSelect ? h("label", { class: "ctl" }, h("span", { class: "k" }, "Run"), runSelect) : null,
      h(
        "div",
        { class: "ctl" },
        h("span", { class: "k" }, "Step"),
        h("button", { type: "button", class: "btn icon", title: "previous step (←)", onclick: () => stepBy(-1) }, "‹"),
        stepSelect,
        h("button", { type: "button", class: "btn icon", title: "next step (→)", onclick: () => stepBy(1) }, "›"),
        stepSlider,
      ),
      h(
        "div",
        { class: "ctl" },
        segmented(
          [
            { value: "all", label: "All" },
            { value: "correct", label: "Correct" },
            { value: "incorrect", label: "Incorrect" },
          ],
          sampleState.verdict,
          (v) => {
            sampleState.verdict = v;
            void loadSamples();
          },
          "verdict",
        ),
      ),
      h("div", { class: "ctl grow" }, searchBox, h("label", { class: "check" }, allBox, "all steps")),
    ),
    matchStrip,
    sampleInfo,
    sampleList,
  );

  // ---- config -------------------------------------------------------------------------------
  const renderConfig = (): void => {
    const cfg = main.config;
    if (!cfg) {
      panes.config.append(card("Config", h("p", { class: "empty" }, "No config.json in this run.")));
      return;
    }
    const groups = new Map<string, [string, unknown][]>();
    const flat = (prefix: string, v: unknown, top: string): void => {
      if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0) {
        for (const [k, x] of Object.entries(v as Row)) flat(prefix ? `${prefix}.${k}` : k, x, top);
      } else if (Array.isArray(v) && v.some((x) => x !== null && typeof x === "object")) {
        v.forEach((x, i) => flat(`${prefix}[${i}]`, x, top));
      } else {
        const g = groups.get(top) ?? [];
        g.push([prefix, v]);
        groups.set(top, g);
      }
    };
    const isSection = (v: unknown): boolean => v !== null && typeof v === "object";
    for (const [k, v] of Object.entries(cfg)) if (!isSection(v)) flat(k, v, "general");
    for (const [k, v] of Object.entries(cfg)) if (isSection(v)) flat(Array.isArray(v) ? k : "", v, Array.isArray(v) ? "general" : k);
    panes.config.append(
      h(
        "div",
        { class: "config-grid" },
        [...groups.entries()].map(([g, rows]) =>
          card(
            g,
            h(
              "table",
              { class: "kv" },
              h(
                "tbody",
                null,
                rows.map(([k, v]) => h("tr", null, h("th", null, k), h("td", { class: "mono" }, typeof v === "string" ? v : JSON.stringify(v)))),
              ),
            ),
          ),
        ),
      ),
      h("p", { class: "muted" }, h("a", { href: `/files/${path.split("/").map(encodeURIComponent).join("/")}${path ? "/" : ""}config.json`, target: "_blank" }, "config.json"), " · ", h("a", { href: `/files/${path.split("/").map(encodeURIComponent).join("/")}${path ? "/" : ""}metrics.jsonl`, target: "_blank" }, "metrics.jsonl")),
    );
  };

  // ---- evaluations ----------------------------------------------------------------------------
  const renderEvals = (): void => {
    if (main.summary) panes.evals.append(summaryCard(main.summary, []));
    if (main.info.evals.length > 0) {
      panes.evals.append(card("Evaluation outputs", h("ul", { class: "links" }, main.info.evals.map((e) => h("li", null, h("a", { href: hrefOf("eval", { p: e }) }, e))))));
    }
  };

  // ---- live updates ---------------------------------------------------------------------------
  for (const r of runs.values()) {
    if (r.info.status !== "running") continue;
    const es = new EventSource(api.liveUrl(r.name, r.offset));
    es.addEventListener("metrics", (ev) => {
      const d = JSON.parse((ev as MessageEvent<string>).data) as { rows: Row[]; offset: number; reset: boolean };
      if (d.reset) r.rows = [];
      for (const row of d.rows) r.rows.push(row);
      r.offset = d.offset;
      scheduleDraw();
    });
    es.addEventListener("status", (ev) => {
      r.info = JSON.parse((ev as MessageEvent<string>).data) as RunInfo;
      if (r.name === path) renderHead();
      // Reading the newest step of a live run: follow it as new steps arrive.
      const newest = stepList[stepList.length - 1];
      if (tab === "samples" && r.name === sampleState.run && !sampleState.allSteps && newest !== undefined && sampleState.step === newest && (r.info.step ?? 0) > newest) {
        sampleState.step = null;
        void loadSamples();
      }
    });
    onCleanup(() => es.close());
  }
  const ro = new ResizeObserver(debounce(() => {
    if (tab === "charts") for (const c of charts) c.resize();
  }, 100));
  ro.observe(root);
  onCleanup(() => {
    ro.disconnect();
    for (const c of charts) c.destroy();
  });

  switchTab(tab);
  drawCharts();
}

function meta(k: string, v: string | null): HTMLElement | null {
  return v === null ? null : h("span", { class: "meta" }, h("span", { class: "k" }, k), v);
}

/** The base-vs-final table from summary.json. */
function summaryCard(summary: Row, evals: string[]): HTMLElement {
  const base = (summary.base ?? {}) as Row;
  const final = (summary.final ?? {}) as Row;
  const keys = [...new Set([...Object.keys(base), ...Object.keys(final)])].filter((k) => typeof base[k] === "number" || typeof final[k] === "number");
  const isFrac = (k: string): boolean => /pass@|maj@|acc|rate|frac/.test(k);
  const fmt = (k: string, v: unknown): string => (typeof v !== "number" ? "–" : isFrac(k) ? fmtPct(v) : fmtNum(v));
  return card(
    h("span", null, "Base vs final", h("span", { class: "muted small" }, [typeof summary.steps === "number" ? ` · ${summary.steps} steps` : "", typeof summary.wall_seconds === "number" ? ` · ${fmtDuration(summary.wall_seconds)} wall` : ""].join(""))),
    h(
      "div",
      { class: "summary-row", "data-testid": "summary" },
      keys.map((k) => {
        const b = base[k];
        const f = final[k];
        const d = typeof b === "number" && typeof f === "number" ? f - b : null;
        return h(
          "div",
          { class: "stat" },
          h("div", { class: "stat-k" }, k),
          h("div", { class: "stat-v" }, h("span", { class: "from" }, fmt(k, b)), h("span", { class: "arrow" }, "→"), h("b", null, fmt(k, f))),
          d === null ? null : h("div", { class: `delta ${d > 0 ? "up" : d < 0 ? "down" : ""}` }, `${d > 0 ? "+" : ""}${isFrac(k) ? `${(d * 100).toFixed(1)} pts` : fmtNum(d)}`),
        );
      }),
    ),
    evals.length > 0 ? h("div", { class: "links-row" }, "evaluation outputs: ", evals.map((e) => h("a", { href: hrefOf("eval", { p: e }), class: "chip link" }, e.split("/").pop() ?? e))) : null,
  );
}
