/**
 * Ctrl-C for a training run: the first SIGINT (or SIGTERM) aborts the controller — the trainer
 * finishes its step, saves a checkpoint and marks the run "stopped"; a second one exits at once
 * (exit code 130; the last complete checkpoint is still there to resume from).
 */
export function installInterrupt(ctl: AbortController, o: { write?: (s: string) => void; exit?: (code: number) => void } = {}): () => void {
  const write = o.write ?? ((s: string) => void process.stderr.write(s));
  const exit = o.exit ?? ((code: number) => process.exit(code));
  let count = 0;
  const handler = (): void => {
    count++;
    if (count === 1) {
      write("\naha: stopping after this step and saving a checkpoint (Ctrl-C again to quit now)\n");
      ctl.abort();
    } else {
      write("\naha: quitting now; resume from the last checkpoint with --resume\n");
      exit(130);
    }
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}
