/**
 * The Knights & Knaves generator (Logic-RL's task; the verifier is src/rewards/kk.ts): seeded; 2–8
 * people; each person makes one statement of the kinds Logic-RL uses (X is a knight / knave; "not";
 * and; or; if-and-only-if; implication), rendered in natural language; a puzzle is kept only when
 * exactly one assignment is consistent (checked by brute force over all 2^n assignments).
 */
import { solveKK, type KKPuzzle, type Stmt } from "../rewards/kk.js";
import { mulberry32, randInt, shuffle, type Uniform } from "../util/rng.js";

const NAMES = [
  "Zoey", "Oliver", "Emma", "Liam", "Ava", "Noah", "Mia", "Lucas", "Sofia", "Ethan", "Chloe", "James", "Aria",
  "Henry", "Luna", "Jack", "Grace", "Leo", "Ella", "Owen", "Lily", "Samuel", "Nora", "David", "Ruby", "Isaac",
];

function render(s: Stmt, names: string[], top = true): string {
  const role = (k: boolean): string => (k ? "a knight" : "a knave");
  switch (s.k) {
    case "is":
      return `${names[s.who]} is ${role(s.knight)}`;
    case "not":
      return s.a.k === "is" ? `${names[s.a.who]} is not ${role(s.a.knight)}` : `it is not the case that ${render(s.a, names, false)}`;
    case "and":
      return `${render(s.a, names, false)} and ${render(s.b, names, false)}`;
    case "or":
      return `${render(s.a, names, false)} or ${render(s.b, names, false)}`;
    case "iff":
      return `${render(s.a, names, false)} if and only if ${render(s.b, names, false)}`;
    case "implies":
      return top ? `if ${render(s.a, names, false)} then ${render(s.b, names, false)}` : `${render(s.b, names, false)} if ${render(s.a, names, false)}`;
  }
}

function randomAtom(rng: Uniform, n: number, self: number): Stmt {
  // mostly about others, sometimes about oneself (as in Logic-RL's data)
  let who = randInt(rng, 0, n - 1);
  if (who === self && rng() < 0.7) who = (who + 1 + randInt(rng, 0, n - 2)) % n;
  return { k: "is", who, knight: rng() < 0.5 };
}

function randomStmt(rng: Uniform, n: number, self: number): Stmt {
  const r = rng();
  const atom = (): Stmt => randomAtom(rng, n, self);
  if (r < 0.35) return atom();
  if (r < 0.45) return { k: "not", a: atom() };
  // two atoms about two different people (no tautologies like "if X is a knave then X is a knave")
  const a = atom() as Extract<Stmt, { k: "is" }>;
  let b = atom() as Extract<Stmt, { k: "is" }>;
  if (b.who === a.who) b = { k: "is", who: (a.who + 1 + randInt(rng, 0, n - 2)) % n, knight: b.knight };
  if (r < 0.62) return { k: "and", a, b };
  if (r < 0.79) return { k: "or", a, b };
  if (r < 0.9) return { k: "iff", a, b };
  return { k: "implies", a, b };
}

const VERBS = ["said", "stated", "remarked", "claimed", "told you", "mentioned"];

export interface KKGenOptions {
  minPeople?: number;
  maxPeople?: number;
}

/** Seeded generator of puzzles with a unique solution (brute-force checked). */
export function generateKK(seed: number, count: number, o: KKGenOptions = {}): KKPuzzle[] {
  const rng = mulberry32(seed);
  const lo = Math.max(2, o.minPeople ?? 2);
  const hi = Math.min(8, o.maxPeople ?? 8);
  const out: KKPuzzle[] = [];
  while (out.length < count) {
    const n = randInt(rng, lo, hi);
    const names = shuffle(rng, NAMES.slice()).slice(0, n);
    for (let attempt = 0; attempt < 500; attempt++) {
      const statements = Array.from({ length: n }, (_, i) => randomStmt(rng, n, i));
      const sols = solveKK(statements, n);
      if (sols.length !== 1) continue;
      const solution = sols[0] as boolean[];
      const lines = statements.map((s, i) => `${names[i]} ${VERBS[randInt(rng, 0, VERBS.length - 1)]}, "${capitalise(render(s, names))}."`);
      const quiz =
        `A very special island is inhabited only by knights and knaves. Knights always tell the truth, and knaves always lie. ` +
        `You meet ${n} inhabitants: ${names.slice(0, -1).join(", ")}, and ${names[n - 1]}. ` +
        lines.join(" ") +
        ` So who is a knight and who is a knave?`;
      const solution_text = solutionText(names, solution);
      out.push({ quiz, names, solution, solution_text, statements });
      break;
    }
  }
  return out;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function solutionText(names: string[], solution: boolean[]): string {
  const parts = names.map((nm, i) => `${nm} is a ${solution[i] ? "knight" : "knave"}`);
  return parts.length === 1 ? `${parts[0]}.` : `${parts.slice(0, -1).join(", ")}, and ${parts[parts.length - 1]}.`;
}
