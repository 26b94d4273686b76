/// <reference lib="dom" />
/**
 * The dashboard's web app: a hash router over three pages (runs list, a run, an evaluation).
 * Bundled with uPlot by scripts/build-dashboard.mjs into dist/dashboard/public/.
 */
import { h } from "./dom.js";
import { evalPage } from "./eval-page.js";
import { runPage } from "./run-page.js";
import { runsPage } from "./runs-page.js";
import { errorBox, hrefOf } from "./ui.js";

const app = document.getElementById("app") as HTMLElement;
let cleanups: (() => void)[] = [];
let seq = 0;

async function route(): Promise<void> {
  const mine = ++seq;
  for (const f of cleanups) f();
  cleanups = [];
  const onCleanup = (f: () => void): void => {
    if (mine === seq) cleanups.push(f);
    else f();
  };
  const [name, query] = location.hash.replace(/^#\/?/, "").split("?");
  const params = new URLSearchParams(query ?? "");
  const page = h("main", { class: "page" }, h("div", { class: "loading" }, "loading…"));
  app.replaceChildren(page);
  try {
    if (name === "run" && params.has("p")) await runPage(page, params, onCleanup);
    else if (name === "eval" && params.has("p")) await evalPage(page, params);
    else await runsPage(page, onCleanup);
  } catch (e) {
    if (mine === seq) page.replaceChildren(errorBox(e), h("p", null, h("a", { href: hrefOf("") }, "back to the runs")));
  }
}

document.body.prepend(
  h("header", { class: "topbar" }, h("a", { class: "brand", href: hrefOf("") }, h("span", { class: "logo" }, "aha"), h("span", { class: "brand-sub" }, "dashboard")), h("span", { class: "spacer" }), h("a", { href: hrefOf(""), class: "nav" }, "Runs")),
);
window.addEventListener("hashchange", () => void route());
void route();
