/// <reference lib="dom" />
/** Pieces shared by the pages: routing helpers, status badges, segmented controls, small tables. */
import { h, type Child } from "./dom.js";
import type { RunInfo } from "./api.js";

export type Params = URLSearchParams;

/** A hash route; null/undefined parameters are left out ("" is kept: the run at the root is p=""). */
export function hrefOf(route: string, params: Record<string, string | number | null | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return `#/${route}${s ? `?${s}` : ""}`;
}

/** Rewrites the current URL's parameters without navigating (view state worth bookmarking). */
export function replaceParams(update: Record<string, string | number | null | undefined>): void {
  const [route, query] = location.hash.replace(/^#\/?/, "").split("?");
  const q = new URLSearchParams(query ?? "");
  for (const [k, v] of Object.entries(update)) {
    if (v === null || v === undefined || v === "") q.delete(k);
    else q.set(k, String(v));
  }
  const s = q.toString();
  history.replaceState(null, "", `#/${route ?? ""}${s ? `?${s}` : ""}`);
}

export function statusBadge(info: Pick<RunInfo, "status" | "status_note">): HTMLElement {
  return h("span", { class: `status st-${info.status}`, title: info.status_note ?? info.status, "data-testid": "status" }, h("span", { class: "dot" }), info.status);
}

/** Why a run reads as crashed ("process 123 is gone"), or its error message, as a short line. */
export function statusNote(info: Pick<RunInfo, "status_note" | "error">): HTMLElement | null {
  const text = info.error ?? info.status_note;
  return text ? h("div", { class: info.error ? "err-line" : "note-line", title: text }, text) : null;
}

/** A path-like name with line-break opportunities after each "/". */
export function breakable(name: string): (string | HTMLElement)[] {
  return name.split("/").flatMap((part, i, all) => (i < all.length - 1 ? [`${part}/`, h("wbr")] : [part]));
}

export function segmented<T extends string>(options: { value: T; label: string }[], value: T, onChange: (v: T) => void, testid?: string): HTMLElement {
  const el = h("div", { class: "seg-ctl", role: "group", "data-testid": testid });
  const render = (cur: T): void => {
    el.replaceChildren(
      ...options.map((o) =>
        h(
          "button",
          {
            type: "button",
            class: o.value === cur ? "on" : "",
            "data-value": o.value,
            onclick: () => {
              render(o.value);
              onChange(o.value);
            },
          },
          o.label,
        ),
      ),
    );
  };
  render(value);
  return el;
}

export function card(title: Child, ...body: Child[]): HTMLElement {
  return h("section", { class: "card" }, title ? h("h2", null, title) : null, ...body);
}

export function errorBox(e: unknown): HTMLElement {
  return h("div", { class: "error-box" }, e instanceof Error ? e.message : String(e));
}

/** Debounces text input. */
export function debounce<A extends unknown[]>(fn: (...a: A) => void, ms: number): (...a: A) => void {
  let t: ReturnType<typeof setTimeout> | null = null;
  return (...a: A) => {
    if (t) clearTimeout(t);
    t = setTimeout(() => fn(...a), ms);
  };
}

/** A progress bar with "step / total". */
export function progress(step: number | null, total: number | null): HTMLElement {
  const frac = step !== null && total ? Math.min(1, step / total) : null;
  return h(
    "div",
    { class: "progress" },
    h("div", { class: "bar" }, h("div", { class: "fill", style: `width:${frac === null ? 0 : (frac * 100).toFixed(1)}%` })),
    h("span", { class: "num" }, step === null ? "–" : total ? `${step} / ${total}` : String(step)),
  );
}
