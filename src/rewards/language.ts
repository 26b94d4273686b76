/**
 * R1's language-consistency reward: the share of the chain of thought written in the target
 * language's script. Words are runs of letters; a word counts for the target when all its letters
 * are in the target script; each CJK character counts as one word (Chinese has no spaces).
 * No letters at all → 0 (nothing in the target language).
 */
import { lastTagSpan } from "./extract.js";
import type { RewardResult } from "./types.js";

/** language → the script its words are written in */
const SCRIPTS: Record<string, RegExp> = {
  en: /^\p{Script=Latin}+$/u,
  fr: /^\p{Script=Latin}+$/u,
  de: /^\p{Script=Latin}+$/u,
  es: /^\p{Script=Latin}+$/u,
  zh: /^\p{Script=Han}+$/u,
  ja: /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]+$/u,
  ko: /^\p{Script=Hangul}+$/u,
  ru: /^\p{Script=Cyrillic}+$/u,
  ar: /^\p{Script=Arabic}+$/u,
};

export const LANGUAGES = Object.keys(SCRIPTS);

export interface LanguageOptions {
  /** Target language (default "en"). */
  lang?: string;
  /** Tag holding the chain of thought (default "think"); when absent the whole response is used. */
  thinkTag?: string;
  /** Text of the prompt that the response continues (e.g. "<think>"). */
  prefix?: string;
}

/** Share of words in the target script; CJK characters are one word each. */
export function languageShare(text: string, lang = "en"): number {
  const script = SCRIPTS[lang];
  if (!script) throw new RangeError(`unknown language '${lang}' (known: ${LANGUAGES.join(", ")})`);
  const words = text.match(/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|[\p{L}\p{M}]+/gu) ?? [];
  // split mixed words further: a CJK char is always its own word (handled by the alternation order)
  if (words.length === 0) return 0;
  let hit = 0;
  for (const w of words) if (script.test(w.normalize("NFC").replace(/\p{M}/gu, ""))) hit++;
  return hit / words.length;
}

export function scoreLanguage(response: string, _ref: unknown = null, o: LanguageOptions = {}): RewardResult {
  const text = (o.prefix ?? "") + response;
  const tag = o.thinkTag ?? "think";
  // No closed think block: the whole response, without its tags (an unclosed "<think>" is no word).
  const thought = lastTagSpan(text, tag) ?? text.replace(/<\/?[A-Za-z_][\w-]{0,31}>/g, " ");
  const share = languageShare(thought, o.lang ?? "en");
  return { score: share, parts: { language: share }, reason: `${(share * 100).toFixed(0)}% ${o.lang ?? "en"}` };
}
