/**
 * Runs an untrusted Python or JavaScript program in a sandbox and reports what happened.
 *
 * Isolation (see `sandboxArgv` for the exact command line):
 *   - bubblewrap, run as root *without* a user namespace: new PID, network, IPC, UTS and cgroup
 *     namespaces; the root is an empty tmpfs holding read-only binds of /usr (+ /lib, /lib64, /bin
 *     links) and /etc/ld.so.cache only — no $HOME, no project, no other runs, no /sys; fresh /proc
 *     and a minimal /dev; /tmp, /dev/shm and the working dir /work are fresh size-capped tmpfs mounts that vanish
 *     with the sandbox; the program is copied in from a pipe (nothing is written on the host disk).
 *   - a seccomp deny list (seccomp.ts): no new namespaces, mounts, keyrings, bpf, ptrace, io_uring…,
 *     no sockets but unix/inet/inet6/netlink (no vsock to a VM's host), and no syscalls of another ABI.
 *   - descriptors above 4 that this process inherited without close-on-exec are closed before bwrap.
 *   - inside, `setpriv` drops to a per-run random unprivileged uid/gid with no groups, no capabilities
 *     (inheritable, ambient and bounding sets cleared) and no_new_privs, then `prlimit` sets CPU time,
 *     address space, process count, open files and file size (and no core dumps, no real-time or
 *     raised priority). The uid is unique to the run, so
 *     RLIMIT_NPROC (which the kernel ignores for root) counts only this run's processes.
 *   - where cgroup v1 pids+memory are writable (root), each run also gets its own cgroups (+ a cpu quota) with
 *     a process cap, a memory cap (counting tmpfs) and a TCP/UDP buffer cap, joined before bwrap starts.
 *   - the parent kills the sandbox at the wall-time limit (its process group; --die-with-parent
 *     takes the PID namespace down with it) and when stdout exceeds its cap.
 *   - scrubbed environment: PATH, LANG, HOME=/work, OPENSSL_CONF=/dev/null only.
 * `unsafeNoSandbox` (trusted code only) keeps the rlimits, cgroups, scrubbed environment, a temp dir
 * (deleted afterwards) and, as root, the drop to a per-run uid — but no namespaces or seccomp.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { AhaError } from "../../errors.js";
import { RunCgroup } from "./cgroup.js";
import { seccompFilter } from "./seccomp.js";

export type Language = "python" | "javascript";

/** Limits for one program run. Defaults in DEFAULT_LIMITS, each with its reason. */
export interface SandboxLimits {
  wallMs: number;
  cpuSeconds: number;
  memoryBytes: number;
  maxProcesses: number;
  cpuCores: number;
  maxOpenFiles: number;
  maxFileBytes: number;
  maxOutputBytes: number;
  tmpfsBytes: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: SandboxLimits = {
  wallMs: 5_000, // typical competitive-programming tests finish in well under 1 s of Python
  cpuSeconds: 4, // RLIMIT_CPU (whole seconds); below wall time so busy loops die by CPU first
  memoryBytes: 512 * MiB, // RLIMIT_AS for Python and the cgroup cap; Node gets NODE_MIN_ADDRESS_SPACE
  maxProcesses: 16, // processes + threads (Node runs ~11); a small multiprocessing pool fits, a fork bomb does not
  cpuCores: 1, // CPU quota per run (cgroup cpu controller, where there is one): leaves the trainer its share
  maxOpenFiles: 64, // stdin/out/err + a few files
  maxFileBytes: 16 * MiB, // RLIMIT_FSIZE: no single file larger than this
  maxOutputBytes: 1 * MiB, // stdout past this kills the run (output limit); stderr is cut silently
  tmpfsBytes: 32 * MiB, // size of /tmp, /dev/shm and /work each
};

/** Node reserves ~700 MB of address space at start (V8 cages), so its RLIMIT_AS can't go below this. */
export const NODE_MIN_ADDRESS_SPACE = 1024 * MiB;

export type RunStatus = "ok" | "runtime_error" | "time_limit" | "memory_limit" | "output_limit" | "sandbox_violation";

export interface RunResult {
  status: RunStatus;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  wallMs: number;
  /** One line explaining a non-ok status. */
  detail: string;
  /** The run's uid inside the sandbox (null without one): lets tests check nothing of it survives. */
  uid: number | null;
}

export interface SandboxOptions {
  limits?: Partial<SandboxLimits>;
  /** Run without bubblewrap (still with rlimits, scrubbed env and a temp dir). Never the default. */
  unsafeNoSandbox?: boolean;
  /** "auto": per-run cgroups where usable; "off": never. */
  cgroups?: "auto" | "off";
  /** Relative name of a parent cgroup (in both hierarchies) to nest per-run cgroups in (tests). */
  cgroupParent?: string;
  /** Install the seccomp deny list (seccomp.ts) where we have a syscall table for this arch. Default true. */
  seccomp?: boolean;
  /** Extra environment variables for the program (after scrubbing). */
  env?: Record<string, string>;
}

export interface RunRequest {
  language: Language;
  source: string;
  stdin?: string;
}

/** Thrown when the sandbox cannot run here (bubblewrap missing, no interpreter). */
export class SandboxUnavailable extends AhaError {
  constructor(message: string, hint: string) {
    super("AHA_SANDBOX_UNAVAILABLE", message, hint);
    this.name = "SandboxUnavailable";
  }
}

function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

export interface Tools {
  bwrap: string | null;
  setpriv: string | null;
  prlimit: string | null;
  /** For the pre-exec step that closes inherited descriptors (see runOnce); /bin/sh when absent. */
  bash: string | null;
  python: string | null;
  node: string;
}

let toolsCache: Tools | undefined;

/**
 * Locates the tools. Python: Debian's /usr/bin/python3 first (a pyenv shim under /root would not be
 * reachable inside the sandbox), else python3 on PATH resolved to its real file. Node: this process's
 * own binary, resolved.
 */
export function findTools(): Tools {
  if (toolsCache) return toolsCache;
  const real = (p: string | null): string | null => {
    try {
      return p ? realpathSync(p) : null;
    } catch {
      return null;
    }
  };
  let python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : null;
  if (!python) {
    const p = which("python3");
    // A shim script (pyenv) is not the interpreter; ask it where the real one is.
    const r = p ? spawnSync(p, ["-c", "import sys; print(sys.executable)"], { encoding: "utf8", timeout: 10_000 }) : null;
    python = real(r?.status === 0 ? r.stdout.trim() : p);
  }
  toolsCache = {
    bwrap: real(existsSync("/usr/bin/bwrap") ? "/usr/bin/bwrap" : which("bwrap")),
    setpriv: real(existsSync("/usr/bin/setpriv") ? "/usr/bin/setpriv" : which("setpriv")),
    prlimit: real(existsSync("/usr/bin/prlimit") ? "/usr/bin/prlimit" : which("prlimit")),
    bash: existsSync("/bin/bash") ? "/bin/bash" : which("bash"),
    python,
    node: realpathSync(process.execPath),
  };
  return toolsCache;
}

/** Throws SandboxUnavailable with an install hint unless a sandboxed run is possible. */
export function checkSandbox(opts: SandboxOptions = {}, t: Tools = findTools()): void {
  if (opts.unsafeNoSandbox) return;
  if (!t.bwrap)
    throw new SandboxUnavailable(
      "the code reward needs bubblewrap (bwrap) to run model-written programs safely, and it is not installed: apt-get install bubblewrap",
      "apt-get install bubblewrap   (or pass --unsafe-no-sandbox / unsafeNoSandbox: true to run programs unisolated — only for trusted code)",
    );
  if (!t.setpriv || !t.prlimit)
    throw new SandboxUnavailable("the code sandbox needs setpriv and prlimit (util-linux)", "apt-get install util-linux");
  if (process.getuid?.() !== 0)
    throw new SandboxUnavailable(
      "the code sandbox runs bubblewrap without a user namespace and drops to a per-run uid, which needs root",
      "run as root (e.g. in a container), or pass --unsafe-no-sandbox for trusted code only",
    );
}

function interpreter(language: Language, t: Tools): { bin: string; file: string; args: string[] } {
  if (language === "python") {
    if (!t.python) throw new SandboxUnavailable("python3 not found", "apt-get install python3");
    // -I: isolated (ignores PYTHON* env and user site), -B: no .pyc writes.
    return { bin: t.python, file: "main.py", args: ["-I", "-B"] };
  }
  return { bin: t.node, file: "main.js", args: [] };
}

/** Directories outside /usr that must be visible for an interpreter living elsewhere (e.g. nvm). */
function extraBinds(bin: string): string[] {
  if (bin.startsWith("/usr/")) return [];
  // <prefix>/bin/node → bind <prefix> (holds its lib/ too).
  return [dirname(dirname(bin))];
}

const SIGNALS: Record<number, string> = { 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 24: "SIGXCPU", 25: "SIGXFSZ", 15: "SIGTERM", 31: "SIGSYS" };

/**
 * The command line that runs `bin args… /work/<file>` in the sandbox as `uid`, reading the program
 * from fd 3 and (with `seccomp`) the seccomp filter (seccomp.ts) from fd 4. Exported so the report and the tests can show the exact flags.
 */
export function sandboxArgv(t: Tools, language: Language, uid: number, limits: SandboxLimits, seccomp = true): string[] {
  const it = interpreter(language, t);
  const as = language === "javascript" ? Math.max(limits.memoryBytes, NODE_MIN_ADDRESS_SPACE) : limits.memoryBytes;
  const argv = [
    t.bwrap!,
    "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
    "--die-with-parent", "--new-session",
    "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
    "--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache",
  ];
  for (const d of extraBinds(it.bin)) argv.push("--ro-bind", d, d);
  argv.push(
    "--proc", "/proc", "--dev", "/dev",
    "--size", String(limits.tmpfsBytes), "--perms", "1777", "--tmpfs", "/tmp",
    "--size", String(limits.tmpfsBytes), "--perms", "1777", "--tmpfs", "/dev/shm", // POSIX semaphores (multiprocessing)
    "--size", String(limits.tmpfsBytes), "--perms", "0777", "--tmpfs", "/work",
    "--perms", "0444", "--file", "3", `/work/${it.file}`,
    ...(seccomp ? ["--seccomp", "4"] : []),
    "--chdir", "/work",
    "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
    "--setenv", "HOME", "/work", "--setenv", "OPENSSL_CONF", "/dev/null",
    "--",
    t.setpriv!, `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
    ...rlimitArgv(t, limits, as),
    it.bin, ...it.args,
  );
  if (language === "javascript") argv.push(`--max-old-space-size=${Math.max(16, Math.floor(limits.memoryBytes / MiB / 2))}`);
  argv.push(it.file);
  return argv;
}

function rlimitArgv(t: Tools, limits: SandboxLimits, as: number): string[] {
  return [
    t.prlimit!,
    `--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 1}`,
    `--as=${as}`,
    `--nproc=${limits.maxProcesses}`,
    `--nofile=${limits.maxOpenFiles}`,
    `--fsize=${limits.maxFileBytes}`,
    // 1, not 0: where core_pattern pipes to a crash handler (apport, systemd-coredump), the kernel
    // ignores RLIMIT_CORE — except 1, its "never dump" value — and would start that root helper on the
    // host for every crashing program. For core files, 1 byte is below the minimum: nothing written.
    "--core=1",
    // No real-time scheduling and no raising of priority, whatever the host's own limits allow: a
    // SCHED_FIFO busy loop is not bound by the cgroup CPU quota and would starve the machine.
    "--rtprio=0",
    "--nice=0",
    "--",
  ];
}

// Heuristics on stderr, used only to name the reason of a failed run (never to pass one).
const MEMORY_PATTERNS = /MemoryError|could not allocate memory|Fatal process OOM|Failed to reserve virtual memory|heap out of memory|Cannot allocate memory|std::bad_alloc|Fatal process out of memory|ENOMEM|Array buffer allocation failed/;
const VIOLATION_PATTERNS = /PermissionError|Operation not permitted|Permission denied|Read-only file system|EACCES|EPERM|EROFS|Network is unreachable|ENETUNREACH|ECONNREFUSED|Connection refused|BlockingIOError|Resource temporarily unavailable|EAGAIN|ProcessLookupError|ESRCH|No such process|getaddrinfo|EAI_AGAIN|Name or service not known|Temporary failure in name resolution/;

/** The last stderr line matching `re` (trimmed, at most 200 characters). */
function lineMatching(stderr: string, re: RegExp): string {
  const lines = stderr.split("\n").filter((l) => re.test(l));
  return (lines[lines.length - 1] ?? "").trim().slice(0, 200);
}

/** A random uid/gid for one run: far above any real account, so RLIMIT_NPROC counts only this run. */
function runUid(): number {
  return 0x40000000 + randomInt(0x3fff0000);
}

/**
 * Runs one program. Never throws for anything the program does; throws SandboxUnavailable when the
 * sandbox cannot run here.
 */
export async function runProgram(req: RunRequest, opts: SandboxOptions = {}): Promise<RunResult> {
  checkSandbox(opts);
  if (!opts.unsafeNoSandbox) await selfTest(req.language, opts);
  return runOnce(req, opts);
}

/**
 * Fails early (SandboxUnavailable, with the install command) unless programs of `language` can run
 * here: checkSandbox, then (sandboxed) the once-per-process self-test. For callers that want to know
 * before any work is done (making a training task), not at the first response scored.
 */
export async function ensureSandbox(language: Language, opts: SandboxOptions = {}, t: Tools = findTools()): Promise<void> {
  checkSandbox(opts, t);
  if (!opts.unsafeNoSandbox) await selfTest(language, opts);
}

const selfTests = new Map<string, Promise<void>>();

/**
 * Once per language and process: a trivial program must run in the sandbox. Where bubblewrap cannot
 * make its namespaces (a restricted container), every run would otherwise fail and score 0 silently.
 */
function selfTest(language: Language, opts: SandboxOptions): Promise<void> {
  const key = JSON.stringify([language, opts.cgroups ?? "auto", opts.seccomp ?? true, opts.cgroupParent ?? "", opts.env ?? {}]);
  let p = selfTests.get(key);
  if (!p) {
    const source = language === "python" ? "print(6 * 7)" : "console.log(6 * 7)";
    const probe: SandboxOptions = { ...opts, limits: { wallMs: 30_000, cpuSeconds: 10 } };
    p = runOnce({ language, source }, probe).then((r) => {
      if (r.status !== "ok" || r.stdout !== "42\n")
        throw new SandboxUnavailable(
          `the code sandbox does not work here: a trivial ${language} program gave ${r.status} (${r.stderr.trim().split("\n")[0] ?? r.detail})`,
          "bubblewrap must be able to create namespaces: run as root outside a restricted container (or with --cap-add SYS_ADMIN and seccomp unconfined), or pass --unsafe-no-sandbox for trusted code only",
        );
    });
    p.catch(() => selfTests.delete(key)); // try again next time (a transient failure under load)
    selfTests.set(key, p);
  }
  return p;
}

async function runOnce(req: RunRequest, opts: SandboxOptions): Promise<RunResult> {
  const limits: SandboxLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const t = findTools();
  let cg: RunCgroup | null = null;
  if (opts.cgroups !== "off")
    cg = RunCgroup.create(opts.cgroupParent ?? "", limits.maxProcesses + 8, limits.memoryBytes + limits.tmpfsBytes * 3, limits.cpuCores);
  let workdir: string | null = null;
  // Unsafe path: still drop root where we can (RLIMIT_NPROC does not bind root).
  const dropRoot = !opts.unsafeNoSandbox || (process.getuid?.() === 0 && t.setpriv !== null);
  const uid = dropRoot ? runUid() : null;
  let filter: Buffer | null = null;
  try {
    let argv: string[];
    const env: Record<string, string> = { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" };
    if (opts.unsafeNoSandbox) {
      const it = interpreter(req.language, t);
      workdir = mkdtempSync(join(tmpdir(), "aha-code-"));
      writeFileSync(join(workdir, it.file), req.source);
      const as = req.language === "javascript" ? Math.max(limits.memoryBytes, NODE_MIN_ADDRESS_SPACE) : limits.memoryBytes;
      argv = [...(t.prlimit ? rlimitArgv(t, limits, as) : []), it.bin, ...it.args, it.file];
      if (uid !== null) {
        chownSync(workdir, uid, uid);
        argv = [t.setpriv!, `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", ...argv];
      }
      Object.assign(env, { HOME: workdir, OPENSSL_CONF: "/dev/null" }, opts.env);
    } else {
      filter = opts.seccomp === false ? null : seccompFilter();
      argv = sandboxArgv(t, req.language, uid!, limits, filter !== null);
      if (opts.env) {
        // --setenv pairs go before the "--" that ends bwrap's options.
        const i = argv.indexOf("--");
        argv.splice(i, 0, ...Object.entries(opts.env).flatMap(([k, v]) => ["--setenv", k, v]));
      }
    }
    // A small shell runs first: it closes every descriptor above 4 that this process inherited
    // without close-on-exec from whatever started it (a launcher's pipe, a log file, a socket —
    // bwrap passes them all into the sandbox otherwise), joins the run's cgroups, then becomes the
    // sandbox. bash can close descriptors above 9 (dash cannot); without bash only 5–9 are closed.
    const files = cg?.procsFiles ?? [];
    const closeFds = t.bash
      ? 'for f in /proc/$$/fd/*; do n=${f##*/}; if [ "$n" -gt 4 ]; then eval "exec $n>&-"; fi; done; '
      : "exec 5>&- 6>&- 7>&- 8>&- 9>&-; ";
    const script = closeFds + 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"';
    // --norc: bash reads ~/.bashrc even with -c when its stdin is a socket (as Node's pipes are).
    argv = [...(t.bash ? [t.bash, "--norc", "--noprofile"] : ["/bin/sh"]), "-c", script, "sh", String(files.length), ...files, ...argv];
    return { ...(await execute(argv, env, req, filter, limits, cg, workdir ?? "/")), uid };
  } finally {
    if (workdir) rmSync(workdir, { recursive: true, force: true });
    if (cg) await cg.remove();
  }
}

function execute(argv: string[], env: Record<string, string>, req: RunRequest, filter: Buffer | null, limits: SandboxLimits, cg: RunCgroup | null, cwd: string): Promise<Omit<RunResult, "uid">> {
  return new Promise((resolve) => {
    const start = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd,
      env, // scrubbed: nothing of ours (tokens, keys) reaches the program
      stdio: ["pipe", "pipe", "pipe", "pipe", "pipe"],
      detached: true, // own process group: the wall-time kill takes everything started from here
    });
    let killedFor: "wall" | "output" | null = null;
    const kill = (why: "wall" | "output"): void => {
      if (killedFor) return;
      killedFor = why;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
      cg?.killAll();
    };
    const timer = setTimeout(() => kill("wall"), limits.wallMs);

    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let outTrunc = false;
    let errTrunc = false;
    child.stdout!.on("data", (b: Buffer) => {
      if (outTrunc) return;
      const room = limits.maxOutputBytes - outBytes;
      if (b.length > room) {
        out.push(b.subarray(0, room));
        outBytes += room;
        outTrunc = true;
        kill("output");
        return;
      }
      out.push(b);
      outBytes += b.length;
    });
    child.stderr!.on("data", (b: Buffer) => {
      if (errTrunc) return; // read and discard past the cap
      const room = limits.maxOutputBytes - errBytes;
      if (b.length > room) {
        err.push(b.subarray(0, room));
        errBytes += room;
        errTrunc = true;
        return;
      }
      err.push(b);
      errBytes += b.length;
    });
    // The program text goes in through fd 3 (bwrap --file 3, or nothing for the unsafe path).
    const progFd = child.stdio[3] as NodeJS.WritableStream | null;
    if (progFd) {
      progFd.on("error", () => {});
      if (argv.includes("--file")) progFd.end(req.source);
      else progFd.end();
    }
    const filterFd = child.stdio[4] as NodeJS.WritableStream | null;
    if (filterFd) {
      filterFd.on("error", () => {});
      filterFd.end(filter ?? Buffer.alloc(0));
    }
    child.stdin!.on("error", () => {}); // EPIPE when the program does not read its input
    child.stdin!.end(req.stdin ?? "");

    let spawnError: Error | null = null;
    let done = false;
    child.on("error", (e) => {
      spawnError = e;
      if (child.pid === undefined) finish(null, null); // never started: no 'close' will follow
    });
    child.on("close", (code, signal) => finish(code, signal));
    function finish(code: number | null, signal: NodeJS.Signals | null): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const wallMs = performance.now() - start;
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      const r: Omit<RunResult, "uid"> = {
        status: "ok",
        exitCode: code,
        signal,
        stdout,
        stderr,
        stdoutTruncated: outTrunc,
        stderrTruncated: errTrunc,
        wallMs,
        detail: "",
      };
      // bwrap reports a child killed by signal N as exit code 128+N.
      const sig = signal ?? (code !== null && code > 128 && code < 160 ? SIGNALS[code - 128] ?? `signal ${code - 128}` : null);
      const hitProcs = cg?.hitProcessLimit() ?? false;
      const hitMem = cg?.hitMemoryLimit() ?? false;
      const failed = code !== 0 || signal !== null;
      const lastErr = stderr.trim().split("\n").slice(-1)[0]?.slice(0, 200) ?? "";
      if (spawnError) [r.status, r.detail] = ["runtime_error", `could not start: ${String(spawnError)}`];
      else if (killedFor === "output") [r.status, r.detail] = ["output_limit", `stdout exceeded ${limits.maxOutputBytes} bytes`];
      else if (killedFor === "wall") [r.status, r.detail] = ["time_limit", `wall time exceeded ${limits.wallMs} ms`];
      else if (sig === "SIGXCPU" || (sig === "SIGKILL" && !hitMem && wallMs >= limits.cpuSeconds * 1000))
        [r.status, r.detail] = ["time_limit", `CPU time exceeded ${limits.cpuSeconds} s`];
      else if (failed && (hitMem || MEMORY_PATTERNS.test(stderr)))
        [r.status, r.detail] = ["memory_limit", hitMem ? "memory cgroup limit hit" : `out of memory: ${lineMatching(stderr, MEMORY_PATTERNS)}`];
      else if (sig === "SIGSYS") [r.status, r.detail] = ["sandbox_violation", "killed by SIGSYS: a system call of another ABI (seccomp)"];
      else if (sig === "SIGXFSZ") [r.status, r.detail] = ["sandbox_violation", `file size limit ${limits.maxFileBytes} bytes`];
      else if (failed && hitProcs) [r.status, r.detail] = ["sandbox_violation", `process limit ${limits.maxProcesses} hit`];
      else if (failed && VIOLATION_PATTERNS.test(stderr)) [r.status, r.detail] = ["sandbox_violation", lineMatching(stderr, VIOLATION_PATTERNS)];
      else if (failed) [r.status, r.detail] = ["runtime_error", sig ? `killed by ${sig}` : `exit code ${code}: ${lastErr}`];
      resolve(r);
    }
  });
}

/**
 * Runs programs concurrently up to `concurrency` at a time. Default: cores − 1 (at least 1), so one
 * core is left for the trainer and the Node event loop.
 */
export class SandboxPool {
  readonly concurrency: number;
  private active = 0;
  private readonly queue: (() => void)[] = [];
  readonly options: SandboxOptions;

  constructor(options: SandboxOptions = {}, concurrency?: number) {
    this.options = options;
    this.concurrency = Math.max(1, concurrency ?? defaultConcurrency());
  }

  async run(req: RunRequest): Promise<RunResult> {
    if (this.active >= this.concurrency) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      return await runProgram(req, this.options);
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

const sharedPools = new Map<string, SandboxPool>();

/**
 * The process-wide pool for these options (default concurrency). Rewards called without a pool use
 * it, so that scoring a batch with `Promise.all` (one call per response) still runs at most
 * `defaultConcurrency()` programs at once instead of one pool — and a whole machine's worth of
 * sandboxes, each with its memory cap — per call.
 */
export function sharedPool(options: SandboxOptions = {}): SandboxPool {
  const key = JSON.stringify([options.limits ?? {}, options.unsafeNoSandbox ?? false, options.cgroups ?? "auto", options.cgroupParent ?? "", options.seccomp ?? true, options.env ?? {}]);
  let p = sharedPools.get(key);
  if (!p) {
    p = new SandboxPool(options);
    sharedPools.set(key, p);
  }
  return p;
}

export function defaultConcurrency(): number {
  // availableParallelism respects CPU affinity.
  return Math.max(1, availableParallelism() - 1);
}
