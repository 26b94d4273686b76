/** Environments and tools for multi-turn episodes (docs/tools.md). */
export type * from "./types.js";
