/**
 * The `search` tool: BM25 over a JSONL corpus the user gives (one document per line: `{"text": …}`,
 * optional `"title"` and `"id"`). Okapi BM25 with Lucene's idf, k1 = 1.2, b = 0.75 (Robertson &
 * Zaragoza 2009; Lucene's BM25Similarity), over lowercased alphanumeric terms:
 *
 *   score(q, d) = Σ_{t ∈ q} idf(t) · tf(t,d)·(k1 + 1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl))
 *   idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
 *
 * A query term counted twice counts twice. Ties keep corpus order. The result is the top-k documents,
 * each as "Doc i (title): text" (a document's text is cut at `maxDocChars`). Queries are bounded
 * (`MAX_QUERY_CHARS`, `MAX_QUERY_TERMS`); the corpus is read through the strict JSONL reader (errors name
 * file:line). A small corpus ships for tests: fixtures/env/corpus.jsonl.
 */
import { UserError } from "../errors.js";
import { readJsonlRows } from "../util/jsonl.js";
import { textTool } from "./tools.js";
import type { Tool } from "./types.js";

export const MAX_QUERY_CHARS = 1000;
export const MAX_QUERY_TERMS = 64;

export interface SearchDoc {
  id: string;
  title: string;
  text: string;
}

export interface Bm25Options {
  k1?: number;
  b?: number;
}

/** Lowercased runs of letters and digits (Unicode-aware). */
export function terms(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

export class Bm25Index {
  readonly docs: readonly SearchDoc[];
  private readonly tf: Map<string, number>[] = [];
  private readonly len: number[] = [];
  private readonly df = new Map<string, number>();
  private readonly avgdl: number;
  private readonly k1: number;
  private readonly b: number;

  constructor(docs: readonly SearchDoc[], o: Bm25Options = {}) {
    this.docs = docs;
    this.k1 = o.k1 ?? 1.2;
    this.b = o.b ?? 0.75;
    let total = 0;
    for (const d of docs) {
      const counts = new Map<string, number>();
      const ts = terms(`${d.title} ${d.text}`);
      for (const t of ts) counts.set(t, (counts.get(t) ?? 0) + 1);
      for (const t of counts.keys()) this.df.set(t, (this.df.get(t) ?? 0) + 1);
      this.tf.push(counts);
      this.len.push(ts.length);
      total += ts.length;
    }
    this.avgdl = docs.length > 0 ? total / docs.length : 1;
  }

  idf(term: string): number {
    const N = this.docs.length;
    const df = this.df.get(term) ?? 0;
    return Math.log(1 + (N - df + 0.5) / (df + 0.5));
  }

  /** BM25 score of every document for the query's terms. */
  scores(query: string): Float64Array {
    const q = terms(query.slice(0, MAX_QUERY_CHARS)).slice(0, MAX_QUERY_TERMS);
    const out = new Float64Array(this.docs.length);
    for (const t of q) {
      if (!this.df.has(t)) continue;
      const idf = this.idf(t);
      for (let i = 0; i < this.docs.length; i++) {
        const f = this.tf[i]!.get(t);
        if (!f) continue;
        out[i]! += (idf * f * (this.k1 + 1)) / (f + this.k1 * (1 - this.b + (this.b * this.len[i]!) / this.avgdl));
      }
    }
    return out;
  }

  /** The k best documents with a positive score, best first (ties: corpus order). */
  search(query: string, k: number): { doc: SearchDoc; score: number }[] {
    const s = this.scores(query);
    const idx = [...s.keys()].filter((i) => s[i]! > 0);
    idx.sort((a, b) => s[b]! - s[a]! || a - b);
    return idx.slice(0, k).map((i) => ({ doc: this.docs[i]!, score: s[i]! }));
  }
}

/** Reads a corpus: JSONL rows with a string `text` (and optional `title`, `id`). */
export function readCorpus(file: string): SearchDoc[] {
  const docs: SearchDoc[] = [];
  for (const { line, row } of readJsonlRows(file, "search corpus")) {
    const text = row["text"] ?? row["contents"];
    if (typeof text !== "string") throw new UserError(`${file}:${line}: a search document needs a string "text" field`, 'each line: {"id": …, "title": …, "text": …}');
    const title = typeof row["title"] === "string" ? row["title"] : "";
    const id = typeof row["id"] === "string" || typeof row["id"] === "number" ? String(row["id"]) : `${line}`;
    docs.push({ id, title, text });
  }
  if (docs.length === 0) throw new UserError(`${file}: the search corpus is empty`);
  return docs;
}

export interface SearchToolOptions {
  /** Documents per answer. Default 3. */
  topK?: number;
  /** Longest document text shown, in characters. Default 1000. */
  maxDocChars?: number;
}

export function searchTool(index: Bm25Index, o: SearchToolOptions = {}): Tool {
  const k = o.topK ?? 3;
  const maxChars = o.maxDocChars ?? 1000;
  return textTool({
    name: "search",
    description: "Searches the document collection (BM25) and returns the best matching passages.",
    arg: "query",
    argDescription: "search words",
    resultTag: "information",
    run(q) {
      if (terms(q).length === 0) return { text: "error: empty query", error: "empty query" };
      const hits = index.search(q, k);
      if (hits.length === 0) return { text: "no results" };
      return {
        text: hits
          .map((h, i) => {
            const body = h.doc.text.length > maxChars ? `${h.doc.text.slice(0, maxChars)}…` : h.doc.text;
            return `Doc ${i + 1}${h.doc.title ? ` (${h.doc.title})` : ""}: ${body}`;
          })
          .join("\n"),
      };
    },
  });
}
