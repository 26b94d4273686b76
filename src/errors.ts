/**
 * Errors with a stable code and a hint (vitest's / llm.c's habit). Anything thrown as an AhaError is
 * shown to the user as one clear message, never as a stack trace.
 */
export class AhaError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(code: string, message: string, hint?: string) {
    super(message);
    this.name = "AhaError";
    this.code = code;
    this.hint = hint;
  }
}

/** Bad input from the user (a flag, a config file, a model folder, a data file). */
export class UserError extends AhaError {
  constructor(message: string, hint?: string, code = "AHA_BAD_INPUT") {
    super(code, message, hint);
    this.name = "UserError";
  }
}
