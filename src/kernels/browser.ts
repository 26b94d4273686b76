/**
 * The backend chooser of browser bundles. ./index.ts is Node's chooser (AHA_BACKEND, the native addon,
 * a warning on stderr); a browser bundle (scripts/build-play.mjs) maps ./index.js to this file, which
 * has the same exports and no Node APIs: the page picks a backend (WebGPU, WASM, or the TypeScript
 * reference) and installs it with `setBackend` before it builds a model. test/play/bundle.test.ts checks
 * that the exports match and that the bundle pulls in no Node built-in.
 */
import type { Backend } from "./backend.js";
import { tsBackend } from "./ts.js";

export type { Backend, BF16, F32, MatmulOptions } from "./backend.js";
export { tsBackend } from "./ts.js";

let chosen: Backend = tsBackend;

/** The backend models and optimizers use when none is given (the TypeScript reference until one is set). */
export function getBackend(): Backend {
  return chosen;
}

/** Installs the backend the page picked. */
export function setBackend(b: Backend): void {
  chosen = b;
}
