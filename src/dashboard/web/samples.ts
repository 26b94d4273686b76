/// <reference lib="dom" />
/**
 * Reading responses: a response is cut into its <think> and <answer> parts (tolerant of missing or
 * unclosed tags) and shown with the verdict, the extracted answer and each reward part. Re-check
 * phrases ("wait", "let me check") are marked softly; a search term is highlighted.
 */
import { fmtNum, h, highlight, type Child } from "./dom.js";
import type { EpisodeView, EvalSample, Sample } from "./api.js";

/** Longest response rendered in full (longer ones are cut, with a note). */
const MAX_RENDER_CHARS = 60_000;

export interface Segment {
  kind: "think" | "answer" | "text";
  text: string;
}

/** Strips leading and trailing newlines (a loop: a regex here would backtrack on long runs of "\n"). */
function trimNewlines(t: string): string {
  let a = 0;
  let b = t.length;
  while (a < b && (t[a] === "\n" || t[a] === "\r")) a++;
  while (b > a && (t[b - 1] === "\n" || t[b - 1] === "\r")) b--;
  return t.slice(a, b);
}

/** Splits a response at <think>…</think> and <answer>…</answer>; an unclosed tag runs to the end. */
export function segments(response: string): Segment[] {
  // R1-style templates end the prompt with "<think>": the response then starts inside the think part.
  const lower = response.toLowerCase();
  const firstOpen = lower.indexOf("<think>");
  const firstClose = lower.indexOf("</think>");
  if (firstClose >= 0 && (firstOpen < 0 || firstClose < firstOpen)) {
    const head = trimNewlines(response.slice(0, firstClose));
    return [{ kind: "think", text: head }, ...scan(response.slice(firstClose + "</think>".length))];
  }
  return scan(response);
}

function scan(response: string): Segment[] {
  const lower = response.toLowerCase();
  const out: Segment[] = [];
  const re = /<(think|answer)>/gi;
  let i = 0;
  for (;;) {
    re.lastIndex = i;
    const m = re.exec(response);
    if (!m) break;
    const tag = (m[1] ?? "").toLowerCase() as "think" | "answer";
    if (m.index > i) out.push({ kind: "text", text: response.slice(i, m.index) });
    const start = m.index + m[0].length;
    const close = lower.indexOf(`</${tag}>`, start);
    const end = close < 0 ? response.length : close;
    out.push({ kind: tag, text: response.slice(start, end) });
    i = close < 0 ? response.length : close + tag.length + 3;
  }
  const rest = response.slice(i);
  if (rest.length > 0) out.push({ kind: "text", text: rest });
  return out.map((s) => ({ ...s, text: trimNewlines(s.text) })).filter((s) => s.kind !== "text" || s.text.trim() !== "");
}

const RECHECK = /\b(wait|hmm|re-?check(?:ing)?|let me (?:re-?)?(?:check|verify)|double-check|verify)\b/gi;

function textWithMarks(text: string, needle: string): Child[] {
  if (needle !== "") return highlight(text, needle);
  const out: Child[] = [];
  let i = 0;
  for (const m of text.matchAll(RECHECK)) {
    const j = m.index ?? 0;
    if (j > i) out.push(text.slice(i, j));
    out.push(h("span", { class: "recheck" }, m[0]));
    i = j + m[0].length;
  }
  if (i < text.length) out.push(text.slice(i));
  return out;
}

export function renderResponse(response: string, needle: string): HTMLElement {
  const cut = response.length > MAX_RENDER_CHARS;
  const segs = segments(cut ? response.slice(0, MAX_RENDER_CHARS) : response);
  return h(
    "div",
    { class: "response" },
    segs.map((s) =>
      s.kind === "text"
        ? h("div", { class: "seg seg-text" }, textWithMarks(s.text, needle))
        : h("div", { class: `seg seg-${s.kind}` }, h("div", { class: "seg-tag" }, s.kind), h("div", { class: "seg-body" }, textWithMarks(s.text, needle))),
    ),
    cut ? h("div", { class: "muted" }, `… cut at ${MAX_RENDER_CHARS.toLocaleString()} of ${response.length.toLocaleString()} characters`) : null,
  );
}

/**
 * A multi-turn episode: the model's text (cut into think/answer as usual), and after each turn that
 * called a tool a call line (tool, input; an error marked) and the result the environment appended,
 * each in its own style, so what the model wrote and what it was given read apart.
 */
export function renderEpisode(ep: EpisodeView, needle: string): HTMLElement {
  let call = 0;
  const callLine = (c: EpisodeView["calls"][number]): HTMLElement =>
    h("div", { class: `tool-call${c.error !== null ? " has-error" : ""}`, "data-testid": "tool-call" },
      h("span", { class: "seg-tag" }, "call"), h("code", null, c.name), " ", h("code", { class: "call-input" }, highlight(c.input, needle)),
      c.error !== null ? h("span", { class: "badge bad" }, c.error) : null);
  const body = ep.spans.map((s) => {
    if (s.kind === "model") return h("div", { class: "turn turn-model" }, renderResponse(s.text, needle));
    const c = ep.calls[call++];
    return h(
      "div",
      { class: "turn turn-env" },
      c ? callLine(c) : null,
      h("div", { class: "seg seg-env", "data-testid": "tool-result" }, h("div", { class: "seg-tag" }, "tool result"), h("div", { class: "seg-body" }, highlight(s.text, needle))),
    );
  });
  // calls whose result was not appended (the episode ended at them: a limit)
  const unanswered = ep.calls.slice(call).map((c) => h("div", { class: "turn turn-env" }, callLine(c), h("div", { class: "muted small" }, "result not appended: the episode ended")));
  return h(
    "div",
    { class: "response episode", "data-testid": "episode" },
    body,
    unanswered,
    ep.finish !== "" && ep.finish !== "stop" ? h("div", { class: "episode-end" }, h("span", { class: "badge warn" }, ep.finish.replace(/_/g, " ")), ep.detail ? h("span", { class: "muted" }, ` ${ep.detail}`) : null) : null,
  );
}

function verdictBadge(correct: boolean | null): HTMLElement {
  return correct === true
    ? h("span", { class: "badge ok" }, "✓ correct")
    : correct === false
      ? h("span", { class: "badge bad" }, "✗ incorrect")
      : h("span", { class: "badge" }, "no verdict");
}

function answerLine(extracted: string | null, needle: string): HTMLElement {
  return h(
    "div",
    { class: "extracted" },
    h("span", { class: "k" }, "extracted answer"),
    extracted === null
      ? h("span", { class: "none" }, "none (no parsable answer)")
      : extracted === ""
        ? h("span", { class: "none" }, "an empty string")
        : h("code", null, highlight(extracted, needle)),
  );
}

export function sampleCard(s: Sample, needle: string, showStep = false): HTMLElement {
  const parts = Object.entries(s.parts);
  return h(
    "article",
    { class: `sample ${s.correct === true ? "is-ok" : s.correct === false ? "is-bad" : ""}`, "data-step": s.step },
    h(
      "header",
      null,
      verdictBadge(s.correct),
      showStep ? h("span", { class: "chip" }, `step ${s.step}`) : null,
      h("span", { class: "reward" }, "reward ", h("b", null, fmtNum(s.reward))),
      parts.length > 0 ? h("span", { class: "parts" }, parts.map(([k, v]) => h("span", { class: `part ${v > 0 ? "pos" : v < 0 ? "neg" : "zero"}` }, `${k} ${fmtNum(v)}`))) : null,
      h("span", { class: "spacer" }),
      s.length !== null ? h("span", { class: "muted" }, `${s.length} tokens`) : null,
      s.episode ? h("span", { class: "chip" }, `${s.episode.calls.length} tool call${s.episode.calls.length === 1 ? "" : "s"}`) : null,
      s.truncated ? h("span", { class: "badge warn" }, "truncated") : null,
    ),
    answerLine(s.extracted, needle),
    s.prompt ? h("details", { class: "prompt" }, h("summary", null, "prompt"), h("div", { class: "prompt-body" }, highlight(s.prompt, needle))) : null,
    s.episode ? renderEpisode(s.episode, needle) : renderResponse(s.response, needle),
  );
}

export function evalSampleCard(s: EvalSample, i: number, needle: string): HTMLElement {
  return h(
    "article",
    { class: `sample ${s.correct === true ? "is-ok" : s.correct === false ? "is-bad" : ""}` },
    h(
      "header",
      null,
      h("span", { class: "chip" }, `sample ${i + 1}`),
      verdictBadge(s.correct),
      h("span", { class: "spacer" }),
      s.length !== null ? h("span", { class: "muted" }, `${s.length} tokens`) : null,
      s.episode ? h("span", { class: "chip" }, `${s.episode.calls.length} tool call${s.episode.calls.length === 1 ? "" : "s"}`) : null,
      s.truncated ? h("span", { class: "badge warn" }, "truncated") : null,
    ),
    answerLine(s.extracted, needle),
    s.episode ? renderEpisode(s.episode, needle) : renderResponse(s.response, needle),
  );
}
