/**
 * aha's public entry. Export groups, from the bottom layer up:
 * - kernels: the compute backend interface and the backend in use
 * - errors: AhaError / UserError
 * Further groups (model, formats, rewards, tasks, rl, rollout, eval, runs) are added as they land.
 */
export type { Backend, MatmulOptions, F32, BF16 } from "./kernels/backend.js";
export { AhaError, UserError } from "./errors.js";
