/**
 * Train / held-out split by hashing the question text: a question is held out when its hash falls in
 * the first `heldOutPermille` of 1000 buckets. The same question lands on the same side in every run
 * and for every seed, so the two sides never overlap (even when a generator repeats a question).
 */
import { fnv1a32 } from "../util/rng.js";

export const normaliseQuestion = (q: string): string => q.trim().replace(/\s+/g, " ");

export function isHeldOut(question: string, heldOutPermille: number): boolean {
  return fnv1a32("aha-split:" + normaliseQuestion(question)) % 1000 < heldOutPermille;
}
