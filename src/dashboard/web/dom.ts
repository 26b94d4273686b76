/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * A tiny DOM builder and formatting helpers for the dashboard's web app. Text from runs (model
 * output, prompts, config values) is only ever inserted as text nodes, never as HTML.
 */

export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, unknown> | null;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
      else if (k === "class") el.className = String(v);
      else if (k === "value" || k === "checked" || k === "selected" || k === "disabled") (el as unknown as Record<string, unknown>)[k] = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** Numbers as people read them: 3-4 significant digits, thousands grouped, tiny values in e-notation. */
export function fmtNum(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 10000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(a >= 1000 ? 0 : 1);
  if (a < 0.001) return v.toExponential(1);
  return String(Number(v.toPrecision(digits)));
}

/** Axis ticks: as short as the value allows ("100", "0.25", "1.5k", "5e-7"). */
export function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 10000) return `${Number((v / 1000).toPrecision(3))}k`;
  if (a < 0.001) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}

export function fmtPct(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : `${(v * 100).toFixed(1)}%`;
}

export function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return "–";
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}`;
}

export function fmtAgo(iso: string | null): string {
  if (!iso) return "–";
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  const s = (Date.now() - t) / 1000;
  if (s < 0) return "just now";
  if (s < 90) return `${Math.round(s)}s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

/** Appends `text` to `el` with case-insensitive occurrences of `needle` wrapped in <mark>. */
export function highlight(text: string, needle: string, markClass = "hit"): Child[] {
  if (needle === "") return [text];
  const out: Child[] = [];
  const lower = text.toLowerCase();
  const n = needle.toLowerCase();
  let i = 0;
  for (;;) {
    const j = lower.indexOf(n, i);
    if (j < 0) break;
    if (j > i) out.push(text.slice(i, j));
    out.push(h("mark", { class: markClass }, text.slice(j, j + n.length)));
    i = j + n.length;
  }
  if (i < text.length) out.push(text.slice(i));
  return out;
}
