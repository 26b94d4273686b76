/**
 * Finding the program in a model's response: the last fenced code block of the requested language,
 * after the thinking (src/rewards/extract.ts's answerRegion: a draft inside <think> is not the program).
 * Bounded: responses longer than MAX_RESPONSE_CHARS are not scanned (a linear scan over lines).
 */
import { answerRegion } from "../extract.js";
import type { Language } from "./sandbox.js";

/** Responses longer than this are not searched for code (the model is rambling; score 0). */
export const MAX_RESPONSE_CHARS = 200_000;

/** Info-string words accepted for each language (first word after the fence, lower-cased). */
export const LANGUAGE_TAGS: Record<Language, readonly string[]> = {
  python: ["python", "py", "python3"],
  javascript: ["javascript", "js", "node", "nodejs", "mjs"],
};

export interface FencedBlock {
  tag: string; // first word of the info string, lower-cased ("" when none)
  code: string;
}

/**
 * All closed fenced blocks (``` or ~~~, 3+ chars, indented ≤ 3 spaces; the closing fence uses the same
 * character and at least as many). An unclosed final block (a truncated response) is not returned.
 */
export function fencedBlocks(text: string): FencedBlock[] {
  if (text.length > MAX_RESPONSE_CHARS) return [];
  const blocks: FencedBlock[] = [];
  const lines = text.split("\n");
  let open: { ch: string; len: number; tag: string; start: number } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "");
    const m = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line);
    if (!m) continue;
    const fence = m[1]!;
    const rest = m[2]!;
    if (open === null) {
      if (fence[0] === "`" && rest.includes("`")) continue; // not a fence (inline code)
      open = { ch: fence[0]!, len: fence.length, tag: (rest.trim().split(/\s+/)[0] ?? "").toLowerCase(), start: i + 1 };
    } else if (fence[0] === open.ch && fence.length >= open.len && rest.trim() === "") {
      blocks.push({ tag: open.tag, code: lines.slice(open.start, i).join("\n") });
      open = null;
    }
  }
  return blocks;
}

/**
 * The last closed block tagged with `language` (any of its LANGUAGE_TAGS) after the thinking, or null.
 * `prefix`: what the template wrote of the response (the r1-zero "<think>").
 */
export function extractCode(response: string, language: Language, prefix = ""): string | null {
  if (response.length > MAX_RESPONSE_CHARS) return null;
  const tags = LANGUAGE_TAGS[language];
  const blocks = fencedBlocks(answerRegion(response, prefix)).filter((b) => tags.includes(b.tag.replace(/^\{\.?|\}$/g, "")));
  const last = blocks[blocks.length - 1];
  return last === undefined || last.code.trim() === "" ? null : last.code;
}

/**
 * Output comparison: lines compared after removing trailing whitespace (and \r) from each, ignoring
 * trailing empty lines. Leading whitespace and inner spacing still count.
 */
export function normalizeOutput(s: string): string {
  return s
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .map((l) => l.trimEnd())
    .join("\n")
    .replace(/\n+$/, "");
}

export function outputsMatch(actual: string, expected: string): boolean {
  return normalizeOutput(actual) === normalizeOutput(expected);
}
