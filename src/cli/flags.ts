/** Small flag parsers shared by the commands that take plain node:util parseArgs flags. */
import { UserError } from "../errors.js";
import type { Precision } from "../model/model.js";

/** `--precision fp32|bf16`. */
export function parsePrecision(value: string | undefined): Precision {
  if (value !== "fp32" && value !== "bf16") throw new UserError(`--precision must be fp32 or bf16, got ${value}`);
  return value;
}
