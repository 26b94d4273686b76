/// <reference lib="dom" />
/** An `aha eval` output: summary, per-category table, and the per-question samples. */
import { api, type EvalResult, type Row, type Verdict } from "./api.js";
import { append, clear, fmtNum, fmtPct, h, highlight } from "./dom.js";
import { evalSampleCard } from "./samples.js";
import { card, debounce, errorBox, hrefOf, segmented, type Params } from "./ui.js";

const PAGE = 20;
/** Samples shown per question before "show all". */
const FIRST_SAMPLES = 2;

export async function evalPage(root: HTMLElement, params: Params): Promise<void> {
  const path = params.get("p") ?? "";
  const { info, summary } = await api.evalSummary(path);
  document.title = `${path} · aha eval`;
  const s = summary ?? {};
  const state: { verdict: Verdict; q: string; category: string; offset: number } = { verdict: "all", q: "", category: params.get("category") ?? "", offset: 0 };

  const pk = (s["pass@k"] ?? {}) as Row;
  const stats: [string, string, string?][] = [
    ["pass@1", fmtPct(num(s["pass@1"])), "mean accuracy over samples"],
    ...Object.entries(pk)
      .filter(([k]) => k !== "1")
      .map(([k, v]): [string, string, string] => [`pass@${k}`, fmtPct(num(v)), `at least one of ${k} samples correct`]),
    ["maj@k", fmtPct(num(s["maj@k"])), "majority vote"],
    ["length", fmtNum(num(s["length/mean"])), "mean tokens"],
    ["truncated", fmtPct(num(s.truncated_frac))],
  ];
  const cats = (s.categories ?? {}) as Record<string, Row>;
  const catNames = Object.keys(cats).sort();
  const listBox = h("div", { class: "question-list", "data-testid": "questions" });
  const countBox = h("div", { class: "sample-info" });
  const moreBtn = h("button", { type: "button", class: "btn" }, "Show more");
  const catSelect = h("select", { "aria-label": "category" }, h("option", { value: "" }, "all categories"), catNames.map((c) => h("option", { value: c, selected: c === state.category }, c)));
  const search = h("input", { type: "search", class: "search", placeholder: "search questions and responses" });

  const load = async (more: boolean): Promise<void> => {
    if (!more) state.offset = 0;
    try {
      const res = await api.evalResults(path, { verdict: state.verdict, q: state.q, category: state.category, offset: state.offset, limit: PAGE });
      if (!more) clear(listBox);
      append(listBox, res.results.map((r) => questionCard(r, state.q)));
      state.offset += res.results.length;
      countBox.replaceChildren(h("b", null, `${res.total} question${res.total === 1 ? "" : "s"}`), state.offset < res.total ? ` · showing ${state.offset}` : "");
      moreBtn.hidden = state.offset >= res.total;
    } catch (e) {
      listBox.replaceChildren(errorBox(e));
    }
  };
  moreBtn.addEventListener("click", () => void load(true));
  catSelect.addEventListener("change", () => {
    state.category = catSelect.value;
    void load(false);
  });
  search.addEventListener(
    "input",
    debounce(() => {
      state.q = search.value.trim();
      void load(false);
    }, 250),
  );

  clear(root);
  append(root, [
    h(
      "div",
      { class: "run-head" },
      h("div", { class: "crumbs" }, h("a", { href: hrefOf("") }, "Runs"), " / ", info.parent ? [h("a", { href: hrefOf("run", { p: info.parent, tab: "evals" }) }, info.parent), " / "] : null),
      h("div", { class: "title-row" }, h("h1", null, info.parent ? path.slice(info.parent.length + 1) : path), h("span", { class: "chip" }, "evaluation")),
      h(
        "div",
        { class: "meta-row" },
        info.model ? h("span", { class: "meta" }, h("span", { class: "k" }, "model"), info.model) : null,
        info.task ? h("span", { class: "meta" }, h("span", { class: "k" }, "task"), info.task) : null,
        h("span", { class: "meta" }, h("span", { class: "k" }, "questions"), fmtNum(info.questions)),
        h("span", { class: "meta" }, h("span", { class: "k" }, "samples per question"), fmtNum(info.samples)),
      ),
    ),
    h(
      "div",
      { class: "summary-row big", "data-testid": "eval-summary" },
      stats.map(([k, v, note]) => h("div", { class: "stat card" }, h("div", { class: "stat-k" }, k), h("div", { class: "stat-v" }, h("b", null, v)), note ? h("div", { class: "stat-note" }, note) : null)),
    ),
    catNames.length > 0
      ? card(
          "By category",
          h(
            "table",
            { class: "table", "data-testid": "categories" },
            h("thead", null, h("tr", null, ["Category", "Questions", "pass@1", "", "maj@k", "Length"].map((t, i) => h("th", { class: i === 0 || i === 3 ? "" : "num" }, t)))),
            h(
              "tbody",
              null,
              catNames.map((c) => {
                const r = cats[c] ?? {};
                const p1 = num(r["pass@1"]);
                return h(
                  "tr",
                  { class: "clickable", onclick: () => ((catSelect.value = c), (state.category = c), void load(false)) },
                  h("td", null, c),
                  h("td", { class: "num" }, fmtNum(num(r.questions))),
                  h("td", { class: "num" }, h("b", null, fmtPct(p1))),
                  h("td", { class: "barcell" }, h("div", { class: "hbar" }, h("div", { class: "fill", style: `width:${((p1 ?? 0) * 100).toFixed(1)}%` }))),
                  h("td", { class: "num" }, fmtPct(num(r["maj@k"]))),
                  h("td", { class: "num" }, fmtNum(num(r["length/mean"]))),
                );
              }),
            ),
          ),
        )
      : null,
    card(
      "Questions",
      h(
        "div",
        { class: "controls sample-controls" },
        h(
          "div",
          { class: "ctl" },
          segmented(
            [
              { value: "all", label: "All" },
              { value: "correct", label: "Correct" },
              { value: "incorrect", label: "Incorrect" },
            ],
            state.verdict,
            (v) => {
              state.verdict = v;
              void load(false);
            },
            "verdict",
          ),
        ),
        catNames.length > 0 ? h("div", { class: "ctl" }, catSelect) : null,
        h("div", { class: "ctl grow" }, search),
      ),
      countBox,
      listBox,
      moreBtn,
    ),
  ]);
  await load(false);
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function questionCard(r: EvalResult, needle: string): HTMLElement {
  const samplesBox = h("div", { class: "q-samples" });
  const showSamples = (all: boolean): void => {
    const shown = all ? r.samples : r.samples.slice(0, FIRST_SAMPLES);
    samplesBox.replaceChildren(...shown.map((s, i) => evalSampleCard(s, i, needle)));
    if (!all && r.samples.length > FIRST_SAMPLES) {
      samplesBox.append(h("button", { type: "button", class: "btn ghost", onclick: () => showSamples(true) }, `show all ${r.samples.length} samples`));
    }
  };
  showSamples(false);
  return h(
    "article",
    { class: "question card" },
    h(
      "header",
      null,
      h("span", { class: "mono small" }, r.id),
      r.category ? h("span", { class: "chip" }, r.category) : null,
      h("span", { class: "spacer" }),
      r.pass1 !== null ? h("span", { class: `badge ${r.pass1 >= 0.5 ? "ok" : r.pass1 > 0 ? "warn" : "bad"}` }, `pass@1 ${fmtPct(r.pass1)}`) : null,
      h("span", { class: "muted small" }, `${r.n_correct} of ${r.n_samples} samples correct${r.samples.length < r.n_samples ? ` · ${r.samples.length} shown` : ""}`),
    ),
    h("div", { class: "q-text" }, highlight(r.question, needle)),
    h("div", { class: "extracted" }, h("span", { class: "k" }, "reference answer"), h("code", null, r.answer)),
    samplesBox,
  );
}
