/**
 * The native backend: an N-API addon (native/*.cc, built into build/Release/aha_native.node).
 * Placeholder until the addon lands: it reports "not built".
 */
import type { Backend } from "./backend.js";

export type NativeLoad = { ok: true; backend: Backend } | { ok: false; error: string };

export function loadNativeBackend(): NativeLoad {
  return { ok: false, error: "the native addon is not built yet" };
}
