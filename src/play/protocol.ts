/** The messages between the /play page (./web/main.ts) and its training worker (./worker.ts). */
import type { PlayEvent, PlayOverrides } from "./session.js";

/** Which kernels: "auto" = WebGPU when the browser has it and aha's WebGPU kernels load, else WASM, else js. */
export type BackendChoice = "auto" | "webgpu" | "wasm" | "js";

export type ToWorker =
  | { type: "start"; overrides: PlayOverrides; backend: BackendChoice }
  | { type: "stop" };

export type FromWorker =
  | { type: "backend"; name: "webgpu" | "wasm" | "js"; detail: string }
  | { type: "event"; event: PlayEvent }
  | { type: "error"; message: string };
