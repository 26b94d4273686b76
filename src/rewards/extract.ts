/**
 * Answer extraction (the R1-Zero contract), shared by every verifier that reads an answer: math,
 * Countdown, K&K, the arithmetic demo, CodeI/O, code and the judge. Linear in the response length;
 * never uses backtracking regexes on the whole response.
 *
 * The rule: an answer inside the thinking is not the answer. Every verifier looks for its answer only
 * in `answerRegion(response, prefix)` — the text after the last </think>, up to a <think> opened after
 * it (a think block that never closes: the response stopped while thinking). `prefix` is what the
 * prompt already wrote of the response (the r1-zero template ends with "<think>", the tasks pass it as
 * ctx.responsePrefix), so with it a response that never closes its thinking has no answer. A response
 * with no think tags at all is read whole, as before.
 */

export type Extraction =
  | { ok: true; text: string; source: "answer" | "answer+boxed" | "boxed" | "lenient" }
  | { ok: false; reason: "no answer" | "empty answer" | "unbalanced \\boxed" };

/**
 * Where the answer may be in `text` (the prefix already joined to the response): [start, end) with
 * start just after the last </think> (0 when there is none) and end at the first <think> after it (the
 * end when there is none). Two searches, linear.
 */
export function answerBounds(text: string): { start: number; end: number } {
  const close = text.lastIndexOf("</think>");
  const start = close >= 0 ? close + "</think>".length : 0;
  const reopened = text.indexOf("<think>", start);
  return { start, end: reopened >= 0 ? reopened : text.length };
}

/**
 * The part of `prefix + response` that may hold the answer: after the last </think>, before any
 * <think> opened after it. "" when the response is still thinking (with prefix "<think>": no </think>).
 * `<think>a <answer>5</answer> b</think>` → ""; `<think>a</think><answer>5</answer>` → "<answer>5</answer>";
 * a response without think tags → itself.
 */
export function answerRegion(response: string, prefix = ""): string {
  const text = prefix === "" ? response : prefix + response;
  const { start, end } = answerBounds(text);
  return text.slice(start, end);
}

/** Content of the last closed <tag>…</tag> span, or null. The span opens at the last <tag> before the last </tag>. */
export function lastTagSpan(text: string, tag = "answer"): string | null {
  const close = text.lastIndexOf(`</${tag}>`);
  if (close < 0) return null;
  const open = text.lastIndexOf(`<${tag}>`, close);
  if (open < 0) return null;
  return text.slice(open + tag.length + 2, close);
}

const BOX_CMDS = ["\\boxed", "\\fbox"];

/**
 * The last \boxed{…} / \fbox{…} / `\boxed 5`: its content, "" when empty, or null when there is none;
 * "unbalanced" when the last one never closes.
 */
export function lastBoxed(text: string): string | null | "unbalanced" {
  let at = -1;
  let cmd = "";
  for (const c of BOX_CMDS) {
    let i = text.lastIndexOf(c);
    // skip \boxedfoo-like longer command names
    while (i >= 0 && /[a-zA-Z]/.test(text[i + c.length] ?? "")) i = i === 0 ? -1 : text.lastIndexOf(c, i - 1);
    if (i > at) {
      at = i;
      cmd = c;
    }
  }
  if (at < 0) return null;
  let i = at + cmd.length;
  while (text[i] === " ") i++;
  if (text[i] === "{") {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const ch = text[j];
      if (ch === "\\") {
        j++; // \{ and \} do not count
        continue;
      }
      if (ch === "{") depth++;
      else if (ch === "}" && --depth === 0) return text.slice(i + 1, j).trim();
    }
    return "unbalanced";
  }
  // "\boxed" glued to something else is not a box, except a number: \boxed5 boxes the 5 as in TeX
  if (i === at + cmd.length && !/[0-9]/.test(text[i] ?? "")) return null;
  const m = /^[^\s${}]+/.exec(text.slice(i, i + 256));
  if (!m) return "";
  return m[0].replace(/[.,;:]+$/, "");
}

/** Every top-level \boxed{…} content in order (for gold solutions that box several answers). */
export function allBoxed(text: string, max = 16): string[] {
  const out: string[] = [];
  let from = 0;
  while (out.length < max) {
    const i = text.indexOf("\\boxed", from);
    if (i < 0) break;
    let j = i + 6;
    while (text[j] === " ") j++;
    if (text[j] !== "{") {
      from = i + 6;
      continue;
    }
    let depth = 0;
    let k = j;
    for (; k < text.length; k++) {
      if (text[k] === "\\") {
        k++;
        continue;
      }
      if (text[k] === "{") depth++;
      else if (text[k] === "}" && --depth === 0) break;
    }
    if (k >= text.length) break;
    out.push(text.slice(j + 1, k).trim());
    from = k + 1;
  }
  return out;
}

export interface ExtractOptions {
  /** Also accept "Answer: 7", "the answer is 7" and, last, the final number in the response. Off by default. */
  lenient?: boolean;
  /** Tag holding the answer (R1 template: "answer"). */
  tag?: string;
  /** Text the prompt already wrote of the response (the r1-zero template's "<think>"); see `answerRegion`. */
  prefix?: string;
}

/** Strips surrounding $…$, \( \), \[ \] and a trailing period from an answer span. */
export function stripMathDelims(s: string): string {
  let t = s.trim();
  for (;;) {
    const before = t;
    if (t.startsWith("$$") && t.endsWith("$$") && t.length >= 4) t = t.slice(2, -2).trim();
    else if (t.startsWith("$") && t.endsWith("$") && t.length >= 2) t = t.slice(1, -1).trim();
    else if ((t.startsWith("\\(") && t.endsWith("\\)")) || (t.startsWith("\\[") && t.endsWith("\\]"))) t = t.slice(2, -2).trim();
    // a sentence's period goes; an ellipsis ("1, 2, 3, ...") stays, it is part of the answer
    if (t.endsWith(".") && !/\d\.$/.test(t.slice(-2)) && !t.endsWith("\\.") && !t.endsWith("..")) t = t.slice(0, -1).trim();
    if (t === before) return t;
  }
}

/**
 * The answer inside an <answer> span without \boxed: the last $…$ math segment when the span mixes
 * prose and math ("The answer is $5$"), else the span without a leading "The (final) answer is".
 */
export function answerFromSpan(span: string): string {
  // markdown bold around the answer (**5**) is emphasis, not multiplication
  const t = stripMathDelims(span.replace(/\*\*([^*]{1,4096})\*\*/g, "$1"));
  const segs = t.match(/\$\$([^$]+)\$\$|\$([^$]+)\$|\\\(([\s\S]+?)\\\)/g);
  if (segs && segs.length > 0 && /[a-zA-Z]{3,}/.test(t.replace(/\$[^$]*\$|\\\([\s\S]*?\\\)/g, ""))) {
    return stripMathDelims(segs[segs.length - 1] as string);
  }
  return stripMathDelims(t.replace(/^(?:(?:so|thus|therefore|hence),?\s+)?(?:(?:the\s+)?(?:final\s+)?answer\s*(?:is|:|=)?\s*:?\s*)?/i, ""));
}

/**
 * The answer of a response, looked for only in its answer region (`answerRegion`: after the thinking):
 * the last <answer> span (a \boxed inside it wins), else the last \boxed, else (lenient) "answer is …"
 * or the last number. A \boxed or an <answer> written inside the thinking is a draft, not the answer.
 */
export function extractAnswer(full: string, opts: ExtractOptions = {}): Extraction {
  const response = answerRegion(full, opts.prefix);
  const span = lastTagSpan(response, opts.tag ?? "answer");
  if (span !== null) {
    const boxed = lastBoxed(span);
    if (boxed === "unbalanced") return { ok: false, reason: "unbalanced \\boxed" };
    if (boxed !== null) return boxed === "" ? { ok: false, reason: "empty answer" } : { ok: true, text: boxed, source: "answer+boxed" };
    const t = answerFromSpan(span);
    return t === "" ? { ok: false, reason: "empty answer" } : { ok: true, text: t, source: "answer" };
  }
  const boxed = lastBoxed(response);
  if (boxed === "unbalanced") return { ok: false, reason: "unbalanced \\boxed" };
  if (boxed !== null) return boxed === "" ? { ok: false, reason: "empty answer" } : { ok: true, text: boxed, source: "boxed" };
  if (opts.lenient) {
    const tail = response.slice(-4000);
    const m = /(?:final answer|answer)\s*(?:is|:)\s*:?\s*([^\n]+?)\s*(?:\.\s*)?$/im.exec(tail);
    if (m && m[1]) return { ok: true, text: stripMathDelims(m[1]), source: "lenient" };
    const nums = tail.match(/-?\d[\d,]*(?:\.\d+)?(?:\/\d+)?/g);
    if (nums && nums.length) return { ok: true, text: nums[nums.length - 1] as string, source: "lenient" };
  }
  return { ok: false, reason: "no answer" };
}
