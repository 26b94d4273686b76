/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Metric curves drawn with uPlot: one chart per metric group (layout.ts), cursors synced across
 * charts, raw values faint behind the smoothed curve, click → that step's samples.
 */
import uPlot from "uplot";
import { clear, fmtDuration, fmtNum, fmtTick, h, type Child } from "./dom.js";
import { NOTES, sections, smooth, yRange, type ChartSpec } from "./layout.js";
import type { Row } from "./api.js";

export const PALETTE = ["#2563eb", "#e8590c", "#0ca678", "#ae3ec9", "#d6336c", "#0b7285", "#f59f00", "#5c7cfa", "#495057"];
const DASHES: number[][] = [[], [6, 4], [2, 3], [10, 3, 2, 3]];

export interface RunSeries {
  name: string;
  color: string;
  rows: Row[];
}

export interface ChartOptions {
  xMode: "step" | "time";
  smoothing: number;
  onPickStep: (run: string, step: number) => void;
}

/** One chart: a card with a title, a live read-out, and the uPlot canvas. */
export class MetricChart {
  readonly el: HTMLElement;
  private plot: uPlot | null = null;
  private readonly plotEl: HTMLElement;
  private readonly readout: HTMLElement;
  private readonly legendEl: HTMLElement;
  private seriesMeta: { run: string; key: string; smoothed: boolean }[] = [];
  private lastLine: Child[] = [];
  private downAt: [number, number] | null = null;
  private stepOf: ((idx: number) => { run: string; step: number } | null) | null = null;

  constructor(readonly spec: ChartSpec, private opts: ChartOptions) {
    this.readout = h("span", { class: "readout" });
    this.legendEl = h("div", { class: "legend" });
    this.plotEl = h("div", { class: "plot" });
    this.el = h(
      "div",
      { class: `chart card${spec.big ? " big" : ""}`, "data-chart": spec.id },
      h("div", { class: "chart-head" }, h("div", { class: "chart-title" }, spec.title, NOTES[spec.id] ? h("span", { class: "chart-note" }, NOTES[spec.id]) : null), this.readout),
      this.legendEl,
      this.plotEl,
    );
  }

  setOptions(opts: ChartOptions): void {
    this.opts = opts;
  }

  /** (Re)draws with the given runs. Rebuilds the plot when the set of series changed, else swaps data. */
  update(runs: RunSeries[]): void {
    const xKey = this.opts.xMode;
    const w = this.opts.smoothing;
    const tables: uPlot.AlignedData[] = [];
    const meta: { run: string; key: string; smoothed: boolean; color: string; dash: number[]; faint: boolean }[] = [];
    const xsToStep: { run: string; map: Map<number, number> }[] = [];
    const multiRun = runs.length > 1;
    runs.forEach((r) => {
      this.spec.keys.forEach((key, ki) => {
        const pts = r.rows.filter((row) => typeof row[key] === "number" && typeof row[xKey] === "number");
        if (pts.length === 0) return;
        const xs = pts.map((row) => row[xKey] as number);
        const ys = pts.map((row) => row[key] as number);
        const m = new Map<number, number>();
        for (const row of pts) if (typeof row.step === "number") m.set(row[xKey] as number, row.step);
        xsToStep.push({ run: r.name, map: m });
        const color = multiRun ? r.color : this.spec.keys.length > 1 ? (PALETTE[ki % PALETTE.length] ?? "#333") : r.color;
        const dash = multiRun ? (DASHES[ki % DASHES.length] ?? []) : [];
        if (w > 0) {
          tables.push([xs, ys, smooth(ys, w)]);
          meta.push({ run: r.name, key, smoothed: false, color, dash, faint: true }, { run: r.name, key, smoothed: true, color, dash, faint: false });
        } else {
          tables.push([xs, ys]);
          meta.push({ run: r.name, key, smoothed: false, color, dash, faint: false });
        }
      });
    });
    if (tables.length === 0) {
      this.el.hidden = true;
      return;
    }
    this.el.hidden = false;
    // Steps are sorted already; times too (both grow along a run).
    const data = tables.length === 1 ? (tables[0] as uPlot.AlignedData) : uPlot.join(tables);
    const signature = meta.map((m) => `${m.run}|${m.key}|${m.smoothed}|${m.color}`).join(";") + xKey;
    this.stepOf = (idx) => {
      const x = data[0][idx];
      if (typeof x !== "number") return null;
      for (const t of xsToStep) {
        const s = t.map.get(x);
        if (s !== undefined) return { run: t.run, step: s };
      }
      return null;
    };
    // The last value of each drawn (smoothed when smoothing) series, for the read-out.
    const lastVals: Child[] = [];
    const drawn = meta.filter((m) => !m.faint);
    const crowded = drawn.length > 4;
    meta.forEach((m, i) => {
      if (m.faint || (crowded && m.run !== meta[0]?.run)) return;
      const col = data[i + 1] ?? [];
      let v: number | null | undefined = null;
      for (let j = col.length - 1; j >= 0; j--) if (col[j] !== null && col[j] !== undefined) { v = col[j]; break; }
      lastVals.push(h("span", { class: "rv", style: `color:${m.color}` }, this.spec.frac ? `${fmtNum((v ?? NaN) * 100)}%` : fmtNum(v)));
    });
    this.lastLine = lastVals;
    this.showReadout(null);
    this.renderLegend(meta.filter((m) => !m.faint), multiRun);
    if (this.plot && (this.plot as unknown as { __sig?: string }).__sig === signature) {
      // Keep a zoom the reader made (drag) while new steps arrive; a full view follows the data.
      const xs = this.plot.data[0];
      const { min, max } = this.plot.scales.x ?? {};
      const first = xs[0];
      const last = xs[xs.length - 1];
      const zoomed = min !== undefined && max !== undefined && first !== undefined && last !== undefined && (min > first || max < last);
      this.plot.setData(data);
      if (zoomed) this.plot.setScale("x", { min, max });
      return;
    }
    this.plot?.destroy();
    const width = Math.max(200, this.plotEl.clientWidth || 400);
    const height = this.spec.big ? 220 : 160;
    const fmtY = (v: number): string => (this.spec.frac ? `${fmtTick(v * 100)}%` : fmtTick(v));
    const opts: uPlot.Options = {
      width,
      height,
      legend: { show: false },
      cursor: { sync: { key: "aha", setSeries: false }, drag: { x: true, y: false }, points: { size: 7 } },
      scales: { x: { time: false }, y: { range: (_u, min, max) => yRange(min, max, this.spec.frac === true) } },
      axes: [
        {
          stroke: "#6b7280",
          font: "11px system-ui, sans-serif",
          grid: { stroke: "#eef0f4", width: 1 },
          ticks: { show: false },
          values: (_u, vals) => vals.map((v) => (xKey === "time" ? fmtDuration(v) : fmtTick(v))),
        },
        {
          stroke: "#6b7280",
          font: "11px system-ui, sans-serif",
          grid: { stroke: "#eef0f4", width: 1 },
          ticks: { show: false },
          size: 52,
          values: (_u, vals) => vals.map(fmtY),
        },
      ],
      series: [
        { label: xKey },
        ...meta.map((m) => ({
          label: `${m.run} ${m.key}`,
          stroke: m.faint ? hexAlpha(m.color, 0.22) : m.color,
          width: m.faint ? 1 : 1.75,
          dash: m.dash,
          spanGaps: true,
          points: { show: false },
        })),
      ],
      hooks: {
        setCursor: [
          (u) => {
            const idx = u.cursor.idx;
            this.showReadout(idx === null || idx === undefined ? null : idx);
          },
        ],
      },
    };
    this.plot = new uPlot(opts, data, this.plotEl);
    (this.plot as unknown as { __sig?: string }).__sig = signature;
    this.seriesMeta = meta;
    const over = this.plot.over;
    over.addEventListener("mousedown", (e) => (this.downAt = [e.clientX, e.clientY]));
    over.addEventListener("click", (e) => {
      const d = this.downAt;
      if (d && Math.hypot(e.clientX - d[0], e.clientY - d[1]) > 4) return; // a drag (zoom), not a click
      const idx = this.plot?.cursor.idx;
      if (idx === null || idx === undefined) return;
      const hit = this.stepOf?.(idx);
      if (hit) this.opts.onPickStep(hit.run, hit.step);
    });
    over.title = "click: read this step's samples · drag: zoom · double-click: reset";
  }

  private showReadout(idx: number | null): void {
    const p = this.plot;
    if (idx === null || !p) {
      this.readout.replaceChildren(...this.lastLine.map((c) => (c instanceof Node ? c.cloneNode(true) : document.createTextNode(String(c)))));
      return;
    }
    const x = p.data[0][idx];
    const parts: Node[] = [h("span", { class: "rx" }, this.opts.xMode === "time" ? fmtDuration(x ?? NaN) : `step ${fmtNum(x)}`)];
    const smoothing = this.seriesMeta.some((o) => o.smoothed);
    const crowded = this.seriesMeta.filter((o) => o.smoothed || !smoothing).length > 4;
    this.seriesMeta.forEach((m, i) => {
      if (!m.smoothed && smoothing) return;
      if (crowded && m.run !== this.seriesMeta[0]?.run) return;
      const v = p.data[i + 1]?.[idx];
      const s = p.series[i + 1];
      parts.push(h("span", { class: "rv", style: `color:${String(s?.stroke ?? "#333")}` }, v === null || v === undefined ? "–" : this.spec.frac ? `${fmtNum(v * 100)}%` : fmtNum(v)));
    });
    this.readout.replaceChildren(...parts);
  }

  /** Keys only: runs are told apart by colour in the page's run legend, keys by colour or dash here. */
  private renderLegend(meta: { run: string; key: string; color: string; dash: number[] }[], multiRun: boolean): void {
    const keys = [...new Set(meta.map((m) => m.key))];
    if (keys.length <= 1) {
      this.legendEl.replaceChildren();
      return;
    }
    this.legendEl.replaceChildren(
      ...keys.map((k) => {
        const m = meta.find((x) => x.key === k);
        const dashed = (m?.dash.length ?? 0) > 0;
        const color = multiRun ? "#6b7280" : (m?.color ?? "#333");
        return h("span", { class: "lg" }, h("span", { class: `sw${dashed ? " dashed" : ""}`, style: `border-color:${color}` }), shortKey(k));
      }),
    );
  }

  resize(): void {
    if (!this.plot) return;
    const w = this.plotEl.clientWidth;
    if (w > 0 && Math.abs(w - this.plot.width) > 2) this.plot.setSize({ width: w, height: this.plot.height });
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
  }
}

function shortKey(k: string): string {
  const i = k.indexOf("/");
  return i >= 0 ? k.slice(i + 1) : k;
}

function hexAlpha(hex: string, a: number): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return hex;
  return `rgba(${parseInt(m[1] ?? "0", 16)},${parseInt(m[2] ?? "0", 16)},${parseInt(m[3] ?? "0", 16)},${a})`;
}

/** Empties `box` and fills it with a chart per spec of the layout's sections for the metric keys present (the run page, /play). */
export function chartSections(box: HTMLElement, keys: Set<string>, opts: ChartOptions): MetricChart[] {
  const charts: MetricChart[] = [];
  clear(box);
  for (const s of sections(keys)) {
    const grid = h("div", { class: "grid" });
    box.append(h("section", { class: "metric-section" }, h("h3", null, s.title, s.note ? h("span", { class: "note" }, s.note) : null), grid));
    for (const spec of s.charts) {
      const c = new MetricChart(spec, opts);
      grid.append(c.el);
      charts.push(c);
    }
  }
  return charts;
}
