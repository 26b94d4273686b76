/// <reference lib="dom" />
/** The first page: every training run and evaluation in the runs directory. */
import { api, type EvalInfo, type PipelineInfo, type RunInfo } from "./api.js";
import { clear, fmtAgo, fmtNum, fmtPct, h } from "./dom.js";
import { breakable, card, errorBox, hrefOf, progress, statusBadge, statusNote } from "./ui.js";

export async function runsPage(root: HTMLElement, onCleanup: (f: () => void) => void): Promise<void> {
  document.title = "aha dashboard";
  const selected = new Set<string>();
  const runsBox = h("div");
  const evalsBox = h("div");
  const pipelinesCard = card("Pipelines", h("div"));
  pipelinesCard.hidden = true;
  const compareBtn = h("button", { type: "button", class: "btn primary", disabled: true, "data-testid": "compare" }, "Compare selected");
  compareBtn.addEventListener("click", () => {
    const [first, ...rest] = [...selected];
    if (first !== undefined) location.hash = hrefOf("run", { p: first, with: rest.length > 0 ? rest.join(",") : null });
  });
  const rootLabel = h("span", { class: "muted mono" });
  root.replaceChildren(
    h("div", { class: "page-head" }, h("h1", null, "Runs"), rootLabel),
    pipelinesCard,
    card(h("span", null, "Training runs", h("span", { class: "spacer" }), compareBtn), runsBox),
    card("Evaluations", evalsBox),
  );

  const renderRuns = (runs: RunInfo[]): void => {
    clear(runsBox);
    if (runs.length === 0) {
      runsBox.append(h("p", { class: "empty" }, "No training runs here yet. Start one with ", h("code", null, "aha train"), "."));
      return;
    }
    const sorted = [...runs].sort((a, b) => (b.updated ?? "").localeCompare(a.updated ?? ""));
    runsBox.append(
      h(
        "div",
        { class: "table-wrap" },
        h(
        "table",
        { class: "table runs-table", "data-testid": "runs-table" },
        h("thead", null, h("tr", null, h("th", { class: "sel" }), ["Run", "Status", "Task", "Model", "Algorithm", "Steps", "Accuracy", "Best", "Updated"].map((t) => h("th", { class: t === "Best" ? "num" : "" }, t)))),
        h(
          "tbody",
          null,
          sorted.map((r) => {
            const box = h("input", { type: "checkbox", checked: selected.has(r.path), "aria-label": `select ${r.name}` });
            box.addEventListener("change", () => {
              if (box.checked) selected.add(r.path);
              else selected.delete(r.path);
              compareBtn.disabled = selected.size < 2;
              compareBtn.textContent = selected.size > 1 ? `Compare ${selected.size} runs` : "Compare selected";
            });
            return h(
              "tr",
              { "data-run": r.path },
              h("td", { class: "sel" }, box),
              h("td", null, h("a", { href: hrefOf("run", { p: r.path }), class: "run-link" }, r.name), r.kind !== "train" ? h("span", { class: "chip" }, r.kind) : null),
              h("td", null, statusBadge(r), statusNote(r)),
              h("td", null, r.task ?? "–"),
              h("td", { class: "mono small" }, r.model ? breakable(r.model) : "–"),
              h("td", null, r.algorithm ?? "–"),
              h("td", null, progress(r.step, r.total_steps)),
              h("td", { class: "spark-cell" }, sparkline(r.spark)),
              h("td", { class: "num" }, r.best_accuracy === null ? "–" : h("b", null, fmtPct(r.best_accuracy))),
              h("td", { class: "muted", title: r.updated ?? "" }, fmtAgo(r.updated)),
            );
          }),
        ),
      ),
      ),
    );
  };

  const renderEvals = (evals: EvalInfo[]): void => {
    clear(evalsBox);
    if (evals.length === 0) {
      evalsBox.append(h("p", { class: "empty" }, "No evaluations yet (", h("code", null, "aha eval"), " writes them)."));
      return;
    }
    evalsBox.append(
      h(
        "table",
        { class: "table", "data-testid": "evals-table" },
        h("thead", null, h("tr", null, ["Evaluation", "Model", "Task", "Questions", "Samples", "pass@1"].map((t, i) => h("th", { class: i >= 3 ? "num" : "" }, t)))),
        h(
          "tbody",
          null,
          evals.map((e) =>
            h(
              "tr",
              null,
              h("td", null, h("a", { href: hrefOf("eval", { p: e.path }) }, e.path)),
              h("td", { class: "mono small" }, e.model ?? "–"),
              h("td", null, e.task ?? "–"),
              h("td", { class: "num" }, fmtNum(e.questions)),
              h("td", { class: "num" }, fmtNum(e.samples)),
              h("td", { class: "num" }, h("b", null, fmtPct(e.pass1))),
            ),
          ),
        ),
      ),
    );
  };

  const load = async (): Promise<void> => {
    try {
      const data = await api.runs();
      rootLabel.textContent = data.root;
      renderRuns(data.runs);
      renderEvals(data.evals);
      const pipelines = data.pipelines ?? [];
      pipelinesCard.hidden = pipelines.length === 0;
      pipelinesCard.lastElementChild!.replaceChildren(...pipelines.map(pipelineTable));
    } catch (e) {
      runsBox.replaceChildren(errorBox(e));
    }
  };
  await load();
  const timer = setInterval(() => void load(), 5000);
  onCleanup(() => clearInterval(timer));
}

/** Stage states shown with the run badges' colours. */
const STAGE_CLASS: Record<string, string> = { done: "finished", running: "running", failed: "crashed", crashed: "crashed", stopped: "stopped", pending: "unknown" };

/** One `aha pipeline` run: its stages in order, each linked to its run or evaluation. */
function pipelineTable(p: PipelineInfo): HTMLElement {
  return h(
    "div",
    { class: "pipeline", "data-pipeline": p.path },
    h("div", { class: "pipeline-head" }, h("b", null, p.name), " ", statusBadge(p), statusNote(p)),
    h(
      "table",
      { class: "table", "data-testid": "pipeline-stages" },
      h("thead", null, h("tr", null, ["#", "Stage", "Kind", "State", "Progress", "Result"].map((t) => h("th", null, t)))),
      h(
        "tbody",
        null,
        p.stages.map((s, i) =>
          h(
            "tr",
            { "data-stage": s.name },
            h("td", { class: "muted" }, String(i + 1)),
            h("td", null, s.opens ? h("a", { href: hrefOf(s.opens, { p: s.path }) }, s.name) : s.name),
            h("td", null, h("span", { class: "chip" }, s.kind)),
            h("td", null, h("span", { class: `status st-${STAGE_CLASS[s.state] ?? "unknown"}`, title: s.error ?? s.state }, h("span", { class: "dot" }), s.state), s.error ? h("div", { class: "err-line", title: s.error }, s.error) : null),
            h("td", null, s.total_steps !== null ? progress(s.step, s.total_steps) : "–"),
            h("td", null, s.pass1 !== null ? h("b", null, `pass@1 ${fmtPct(s.pass1)}`) : s.kept !== null ? `${s.kept} rows kept` : "–"),
          ),
        ),
      ),
    ),
  );
}

/** Accuracy over the run as a small line (0 at the bottom, 100% at the top). */
function sparkline(ys: number[]): Element | string {
  if (ys.length < 2) return "";
  const W = 120;
  const H = 28;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", String(W));
  svg.setAttribute("height", String(H));
  svg.setAttribute("class", "spark");
  const pts = ys.map((y, i) => `${((i / (ys.length - 1)) * (W - 2) + 1).toFixed(1)},${(H - 1 - Math.max(0, Math.min(1, y)) * (H - 2)).toFixed(1)}`);
  const area = document.createElementNS(NS, "polygon");
  area.setAttribute("points", `1,${H - 1} ${pts.join(" ")} ${W - 1},${H - 1}`);
  area.setAttribute("class", "spark-area");
  const line = document.createElementNS(NS, "polyline");
  line.setAttribute("points", pts.join(" "));
  line.setAttribute("class", "spark-line");
  svg.append(area, line);
  return svg;
}
