/* eslint-disable no-control-regex -- these tests look for control characters on purpose */
// Red team: hostile programs beyond the list (security.test.ts covers that list). Each must
// be contained, scored as a failure with a sensible reason, and leave no trace on the host: no file
// named with this run's marker anywhere we look, no process of its uid, no per-run cgroup, this
// process, a decoy process and a canary file intact. Everything runs inside the test's own capped
// cgroup (harness.ts) with small limits.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { codeReward, type CodeRewardResult } from "../../../src/rewards/code/reward.js";
import { defaultConcurrency, runProgram, SandboxPool, type RunResult } from "../../../src/rewards/code/sandbox.js";
import { cgroupBases } from "../../../src/rewards/code/cgroup.js";
import { alive, leftoverCgroups, openTestGroup, sandboxProcesses, type TestGroup } from "./harness.js";

let group: TestGroup;
let hostDir: string;
const MARK = `ahart${randomBytes(6).toString("hex")}`; // every file a program tries to leave is named with it
const canary = `canary-${randomBytes(8).toString("hex")}`;
let decoy: ChildProcess;
const HOST_DIRS = ["/", "/tmp", "/var/tmp", "/dev/shm", "/run", "/root", "/work", "/usr", "/etc"];

beforeAll(() => {
  group = openTestGroup("redteam");
  hostDir = mkdtempSync(join(tmpdir(), "aha-rt-"));
  writeFileSync(join(hostDir, "canary.txt"), canary);
  decoy = spawn("/bin/sleep", ["120"], { stdio: "ignore" });
});

afterAll(() => {
  decoy.kill("SIGKILL");
  rmSync(hostDir, { recursive: true, force: true });
  group.close();
});

const seen: (number | null)[] = [];
afterEach(() => {
  for (const uid of seen.splice(0)) expect(sandboxProcesses(uid)).toEqual([]);
  expect(leftoverCgroups()).toEqual([]);
  expect(alive(process.pid)).toBe(true);
  expect(alive(decoy.pid!)).toBe(true);
  expect(readdirSync(hostDir)).toEqual(["canary.txt"]);
  expect(readFileSync(join(hostDir, "canary.txt"), "utf8")).toBe(canary);
  for (const d of HOST_DIRS) {
    let names: string[] = [];
    try {
      names = readdirSync(d);
    } catch {
      /* not there */
    }
    expect(names.filter((n) => n.includes(MARK)), d).toEqual([]);
  }
});

type Lang = "python" | "javascript";

async function run(language: Lang, source: string, extra: { stdin?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  const opts = { ...group.options, env: { MARK, ...extra.env } };
  const r = await runProgram({ language, source, ...(extra.stdin !== undefined ? { stdin: extra.stdin } : {}) }, opts);
  seen.push(r.uid);
  return r;
}
const py = (source: string, extra?: { stdin?: string; env?: Record<string, string> }): Promise<RunResult> => run("python", source, extra);
const js = (source: string, extra?: { stdin?: string; env?: Record<string, string> }): Promise<RunResult> => run("javascript", source, extra);

async function score(language: Lang, source: string, ref: { stdout?: string; stdin?: string; testCode?: string }): Promise<CodeRewardResult> {
  const reference = {
    language,
    ...(ref.stdout !== undefined ? { tests: [{ stdin: ref.stdin ?? "", stdout: ref.stdout }] } : {}),
    ...(ref.testCode !== undefined ? { testCode: ref.testCode } : {}),
  };
  const res = await codeReward("```" + language + "\n" + source + "\n```", reference, { ...group.options, env: { MARK } });
  for (const t of res.tests) seen.push(t.uid);
  return res;
}

describe("red team: reading the host", () => {
  it("pid 1's and the parent's environment, mountinfo, /sys, /etc/shadow, /root, the project, ~/.npmrc, ssh keys", async () => {
    const secret = `tok-${randomBytes(8).toString("hex")}`;
    process.env.AHA_RT_SECRET = secret;
    try {
      const r = await py(`import os, glob
got = {}
paths = ["/proc/1/environ", f"/proc/{os.getppid()}/environ", "/proc/self/environ", "/etc/shadow", "/etc/passwd",
         "/root/.npmrc", "/root/.ssh/id_rsa", "/root/.bash_history", "/work/main/package.json", ${JSON.stringify(join(hostDir, "canary.txt"))},
         "/sys/kernel/notes", "/proc/1/root/etc/hostname", "/proc/1/cwd/main.py"] + glob.glob("/home/*/.ssh/*")
for p in paths:
    try:
        got[p] = open(p, "rb").read()[:2000]
    except OSError as e:
        got[p] = type(e).__name__
mi = open("/proc/self/mountinfo").read()
print(repr(got))
print(mi)
print(sorted(os.listdir("/")), [p for p in os.listdir("/proc") if p.isdigit()])
`);
      expect(r.status).toBe("ok");
      expect(r.stdout).not.toContain(secret);
      expect(r.stdout).not.toContain(canary);
      expect(r.stdout).not.toMatch(/root:|_authToken|PRIVATE KEY|"name": "aha"/);
      expect(r.stdout).toContain("'/etc/shadow': 'PermissionError'");
      // The mount table shows only the sandbox's own mounts: no project, no home, no host /tmp.
      expect(r.stdout).not.toMatch(/ \/work\/main| \/root | \/home/);
      expect(r.stdout).toContain("['bin', 'dev', 'etc', 'lib', 'lib64', 'proc', 'tmp', 'usr', 'work'] ['1', '2']");
    } finally {
      delete process.env.AHA_RT_SECRET;
    }
  });

  it("inherits no descriptor of ours: only stdin, stdout and stderr are open", async () => {
    for (const [lang, src] of [
      ["python", "import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))"],
      ["javascript", "console.log(JSON.stringify(require('fs').readdirSync('/proc/self/fd').map(Number).sort((a, b) => a - b)))"],
    ] as const) {
      const r = await run(lang, src);
      // Python lists its own directory handle (3); Node has its epoll/eventfd/pipes — but none of them
      // may be one we had open. Compare with the host: nothing below the program's own descriptors.
      const fds = JSON.parse(r.stdout.replace(/ /g, "")) as number[];
      expect(fds.slice(0, 3)).toEqual([0, 1, 2]);
      if (lang === "python") expect(fds).toEqual([0, 1, 2, 3]);
    }
    // Python, precisely: each open descriptor, by what it points at.
    const r = await py("import os\nfor f in sorted(os.listdir('/proc/self/fd'), key=int):\n    try:\n        print(f, os.readlink('/proc/self/fd/' + f).split(':')[0])\n    except OSError:\n        pass\n");
    expect(r.stdout).toBe("0 socket\n1 socket\n2 socket\n");
  });

  it("cannot find the expected outputs anywhere in the sandbox", async () => {
    const expected = `answer-${randomBytes(8).toString("hex")}`;
    const src = `import os
hits = []
for root, dirs, files in os.walk("/"):
    if root.startswith(("/proc/self", "/proc/thread-self", "/dev", "/usr")):
        dirs[:] = []
        continue
    for f in files:
        p = os.path.join(root, f)
        try:
            data = open(p, "rb").read(1 << 20)
        except OSError:
            continue
        i = data.find(b"answer-")
        if i >= 0:
            hits.append(data[i:i + 23].decode(errors="replace"))
print(hits[0] if hits else "nothing")
`;
    const res = await score("python", src, { stdin: "", stdout: expected });
    expect(res.score).toBe(0);
    expect(res.tests[0]!.verdict).toBe("wrong_answer");
    expect(res.reason).not.toContain(expected);
  });

  it("two runs at once share nothing: /tmp, /work, /dev/shm, abstract sockets, SysV IPC", async () => {
    const writer = `import os, socket, time
for d in ["/tmp", "/work", "/dev/shm"]:
    open(f"{d}/{os.environ['MARK']}", "w").write("secret")
s = socket.socket(socket.AF_UNIX)
s.bind("\\0" + os.environ["MARK"])
s.listen(1)
print("ready", flush=True)
time.sleep(1.2)
`;
    const reader = `import os, socket, time
time.sleep(0.4)
seen = []
for d in ["/tmp", "/work", "/dev/shm"]:
    seen.append(os.path.exists(f"{d}/{os.environ['MARK']}"))
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\\0" + os.environ["MARK"])
    seen.append("connected")
except OSError as e:
    seen.append(type(e).__name__)
print(seen)
`;
    const pool = new SandboxPool({ ...group.options, env: { MARK } }, 2);
    const [w, r] = await Promise.all([pool.run({ language: "python", source: writer }), pool.run({ language: "python", source: reader })]);
    seen.push(w.uid, r.uid);
    expect(w.stdout).toBe("ready\n");
    expect(r.stdout).toBe("[False, False, False, 'ConnectionRefusedError']\n");
  });
});

describe("red team: writing and filling", () => {
  it("writes to /dev/shm, /tmp, /var/tmp, /run and the project land nowhere on the host", async () => {
    const r = await py(`import os
done = []
for d in ["/dev/shm", "/tmp", "/var/tmp", "/run", "/work/main", "/root", "/"]:
    try:
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, os.environ["MARK"]), "w").write("x")
        done.append(d)
    except OSError as e:
        done.append(type(e).__name__)
print(done)
`);
    // The sandbox's own tmpfs mounts take the writes; the read-only root refuses the rest.
    expect(r.stdout).toBe("['/dev/shm', '/tmp', 'PermissionError', 'PermissionError', '/work/main', 'PermissionError', 'PermissionError']\n");
    expect(existsSync("/work/main/" + MARK)).toBe(false);
  });

  it("filling the tmpfs, exhausting inodes, long names and deep nesting end in the sandbox", async () => {
    const full = await py(`import os
chunk = b"x" * (1 << 20)
with open("/work/big", "wb") as f:
    for i in range(64):
        f.write(chunk)
`);
    expect(full.status).toBe("runtime_error");
    expect(full.stderr).toMatch(/No space left on device/);
    const inodes = await py(`import os
n = 0
try:
    while n < 50000:
        os.mkdir(f"/tmp/{n}")
        n += 1
except OSError as e:
    print(type(e).__name__)
print(n > 1000)
`);
    expect(["ok", "time_limit", "memory_limit"]).toContain(inodes.status);
    const names = await py(`import os
for n in [255, 256, 4096]:
    try:
        open("/work/" + "a" * n, "w").close()
        print(n, "ok")
    except OSError as e:
        print(n, e.errno)
d = "/work"
for i in range(2000):
    d += "/d"
    try:
        os.mkdir(d)
    except OSError as e:
        print("depth", i, e.errno)
        break
else:
    print("depth 2000")
`);
    expect(names.stdout).toMatch(/^255 ok\n256 36\n4096 36\n/); // ENAMETOOLONG
    expect(names.status).toBe("ok");
  });

  it("symlinks and hardlinks do not reach out", async () => {
    const r = await py(`import os
out = []
for target in [${JSON.stringify(join(hostDir, "canary.txt"))}, "/proc/1/root/etc/passwd", "/proc/1/cwd", "/proc/self/root/../../etc/shadow"]:
    link = f"/work/l{len(out)}"
    os.symlink(target, link)
    try:
        out.append(open(link).read()[:50])
    except OSError as e:
        out.append(type(e).__name__)
for src in ["/usr/bin/python3", "/etc/ld.so.cache"]:
    try:
        os.link(src, "/work/h")
        out.append("linked")
    except OSError as e:
        out.append(type(e).__name__)
print(out)
`);
    expect(r.stdout).not.toContain(canary);
    // Hard links: across mounts (EXDEV: OSError) or to a file not ours (protected_hardlinks: EPERM).
    expect(r.stdout).toMatch(/^\['FileNotFoundError', 'PermissionError', 'PermissionError', 'PermissionError', '(OSError|PermissionError)', '(OSError|PermissionError)'\]\n$/);
  });
});

describe("red team: processes and signals", () => {
  it("thread bombs (Python threads, Node worker_threads) are capped by the process limit", async () => {
    const pyThreads = await py(`import threading, time
ts = []
try:
    for i in range(200):
        t = threading.Thread(target=time.sleep, args=(0.5,))
        t.start()
        ts.append(t)
except RuntimeError as e:
    print("capped", len(ts))
`);
    expect(pyThreads.stdout).toMatch(/^capped \d+\n$/);
    expect(Number(pyThreads.stdout.split(" ")[1])).toBeLessThan(16);
    const workers = await js(`const { Worker } = require("worker_threads");
let n = 0;
for (let i = 0; i < 40; i++) { try { new Worker("setTimeout(() => {}, 60000)", { eval: true }).on("error", () => {}); n++; } catch (e) { break; } }
console.log("spawned", n);`);
    expect(["runtime_error", "time_limit", "memory_limit", "sandbox_violation"]).toContain(workers.status);
    const res = await score("javascript", `const { Worker } = require("worker_threads");\nfor (let i = 0; i < 40; i++) new Worker("for(;;){}", { eval: true });`, { stdout: "x" });
    expect(res.score).toBe(0);
  });

  it("SIGTERM handlers, zombies, orphans and a setsid double fork die at the time limit", async () => {
    const t0 = performance.now();
    const r = await py(`import os, signal, time
for s in [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]:
    signal.signal(s, signal.SIG_IGN)
for i in range(3):
    if os.fork() == 0:
        os._exit(0)          # zombies: never reaped
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for s in [signal.SIGTERM, signal.SIGHUP]:
            signal.signal(s, signal.SIG_IGN)
        time.sleep(60)       # an orphan of a daemon
    os._exit(0)
print("answer", flush=True)
time.sleep(60)
`);
    expect(r.status).toBe("time_limit");
    expect(r.detail).toMatch(/wall time/);
    expect(performance.now() - t0).toBeLessThan(6_000);
  });

  it("kill(-1), kill(0) and killpg reach only the program itself", async () => {
    for (const call of ["os.kill(-1, signal.SIGKILL)", "os.kill(0, signal.SIGKILL)", "os.killpg(os.getpgrp(), signal.SIGKILL)", "os.kill(1, signal.SIGKILL)"]) {
      const res = await score("python", `import os, signal\nprint(5)\n${call}\n`, { stdout: "5" });
      expect(alive(process.pid)).toBe(true);
      expect(alive(decoy.pid!)).toBe(true);
      if (call.startsWith("os.kill(1")) expect(res.tests[0]!.verdict).toBe("sandbox_violation");
      else expect(res.score).toBe(0); // killed itself: not a pass even though it printed the answer
    }
  });

  it("printing the expected answer and then crashing is not a pass", async () => {
    for (const [lang, tail] of [
      ["python", "import os\nos.abort()"],
      ["python", "import sys\nsys.exit(3)"],
      ["python", "raise SystemExit('bye')"],
      ["python", "import ctypes\nctypes.string_at(0)"],
      ["javascript", "process.exit(1)"],
      ["javascript", "process.abort()"],
      ["javascript", "Promise.reject(new Error('late'))"],
    ] as const) {
      const print = lang === "python" ? "print(5, flush=True)" : "console.log(5);";
      const res = await score(lang, `${print}\n${tail}`, { stdout: "5\n" });
      expect(res.score, `${lang}: ${tail}`).toBe(0);
      expect(res.tests[0]!.verdict).toBe("runtime_error");
    }
  });
});

describe("red team: privileges and the kernel", () => {
  it("ptrace, unshare, setns, mount, keyctl, chroot, bpf via raw syscall numbers; setuid(0); raising rlimits", async () => {
    const r = await py(`import ctypes, os, resource
libc = ctypes.CDLL(None, use_errno=True)
out = []
calls = [("unshare", 272, (0x10000000,)), ("unshare_ns", 272, (0x20000,)), ("setns", 308, (0, 0)),
         ("mount", 165, (b"none", b"/tmp", b"tmpfs", 0, 0)), ("keyctl", 250, (0, 0)), ("add_key", 248, (b"user", b"k", b"v", 1, -3)),
         ("ptrace", 101, (16, 1)), ("chroot", 161, (b"/tmp",)), ("bpf", 321, (0, 0, 0)), ("io_uring_setup", 425, (1, 0)),
         ("userfaultfd", 323, (0,)), ("perf_event_open", 298, (0, 0, -1, -1, 0)), ("clone_newuser", 56, (0x10000000 | 17, 0, 0, 0, 0)),
         ("clone3", 435, (0, 0)), ("pivot_root", 155, (b"/tmp", b"/tmp")), ("open_tree", 428, (-100, b"/", 0))]
for name, nr, args in calls:
    out.append(f"{name}={libc.syscall(nr, *args)}/{ctypes.get_errno()}")
for f in [lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.setgroups([0]), lambda: os.chroot("/tmp"),
          lambda: resource.setrlimit(resource.RLIMIT_NPROC, (10**6, 10**6)), lambda: resource.setrlimit(resource.RLIMIT_AS, (-1, -1)),
          lambda: resource.setrlimit(resource.RLIMIT_CPU, (100, 100))]:
    try:
        f()
        out.append("ALLOWED")
    except (OSError, ValueError) as e:
        out.append(type(e).__name__)
print(" ".join(out))
`);
    if (process.arch !== "x64") return; // syscall numbers above are x86-64's
    expect(r.stdout).toBe(
      "unshare=-1/1 unshare_ns=-1/1 setns=-1/1 mount=-1/1 keyctl=-1/1 add_key=-1/1 ptrace=-1/1 chroot=-1/1 bpf=-1/1 io_uring_setup=-1/1 " +
        "userfaultfd=-1/1 perf_event_open=-1/1 clone_newuser=-1/1 clone3=-1/38 pivot_root=-1/1 open_tree=-1/1 " +
        "PermissionError PermissionError PermissionError PermissionError ValueError ValueError ValueError\n",
    );
  });

  it("sockets: vsock, AF_ALG, AF_PACKET, netlink-audit refused; UDP, IPv6 loopback, DNS and our abstract socket unreachable", async () => {
    let connections = 0;
    const abstract = `\0aha-rt-${MARK}`;
    const servers: Server[] = [];
    const listen = (arg: object): Promise<void> =>
      new Promise((resolve) => {
        const s = createServer((c) => {
          connections++;
          c.destroy();
        });
        s.on("error", () => resolve()); // no IPv6 here: nothing to reach anyway
        s.listen(arg, () => resolve());
        servers.push(s);
      });
    await listen({ path: abstract });
    await listen({ port: 0, host: "::1" });
    const v6port = (servers[1]!.address() as { port: number } | null)?.port ?? 1;
    try {
      const r = await py(`import socket
out = []
for fam, typ in [(40, socket.SOCK_STREAM), (40, socket.SOCK_DGRAM), (38, socket.SOCK_SEQPACKET), (17, socket.SOCK_RAW), (9, socket.SOCK_DGRAM), (2, socket.SOCK_RAW)]:
    try:
        socket.socket(fam, typ).close()
        out.append("OPENED")
    except OSError as e:
        out.append(e.errno)
def attempt(f):
    try:
        f()
        out.append("REACHED")
    except OSError as e:
        out.append(type(e).__name__)
def unix():
    s = socket.socket(socket.AF_UNIX)
    s.connect(${JSON.stringify(abstract)})
def v6():
    socket.create_connection(("::1", ${v6port}), timeout=0.5)
def udp():
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("1.1.1.1", 53))
def dns():
    socket.getaddrinfo("example.com", 80)
for f in [unix, v6, udp, dns]:
    attempt(f)
print(out)
`);
      // EPERM from the seccomp family list (vsock, AF_ALG, AF_PACKET, X.25); raw IPv4 needs CAP_NET_RAW.
      expect(r.stdout).toMatch(/^\[1, 1, 1, 1, 1, (1|93), 'ConnectionRefusedError', '\w+', 'OSError', 'gaierror'\]\n$/);
      expect(r.stdout).not.toContain("REACHED");
      const res = await score("javascript", `const s = require("net").connect(${JSON.stringify(abstract)}, () => { console.log("in"); s.end(); });`, { stdout: "in" });
      expect(res.score).toBe(0);
      expect(res.tests[0]!.verdict).toBe("sandbox_violation");
    } finally {
      for (const s of servers) await new Promise((r) => s.close(() => r(null)));
    }
    expect(connections).toBe(0);
  });

  it("Node: process.binding, child_process, WebAssembly memory, huge buffers", async () => {
    const r = await js(`const out = [];
try { out.push(typeof process.binding("spawn_sync")); } catch (e) { out.push(e.code ?? "err"); }
try { require("child_process").execFileSync("/bin/cat", ["/proc/1/environ"]); out.push("READ"); } catch (e) { out.push("denied"); }
try { new WebAssembly.Memory({ initial: 1, maximum: 65536 }).grow(60000); out.push("GREW"); } catch (e) { out.push(e.constructor.name); }
try { Buffer.alloc(2 ** 31); out.push("ALLOC"); } catch (e) { out.push(e.constructor.name); }
console.log(JSON.stringify(out));`);
    expect(r.stdout).not.toMatch(/READ|GREW|ALLOC/);
    expect(r.status).toBe("ok");
  });

  it("huge argv/env for a child and a stdin flood stay contained", async () => {
    const r = await py(`import os, subprocess
try:
    subprocess.run(["/bin/true", "x" * (64 << 20)])
    print("ran")
except OSError as e:
    print(type(e).__name__)
`);
    expect(["ok", "memory_limit", "runtime_error"]).toContain(r.status);
    expect(r.stdout).not.toBe("ran\n");
    const flood = "1 2\n".repeat(2 << 20); // 8 MB of stdin to a program that reads one line
    const res = await score("python", "a, b = map(int, input().split())\nprint(a + b)", { stdin: flood, stdout: "3" });
    expect(res.score).toBe(1);
    const ignore = await score("python", "print(3)", { stdin: flood, stdout: "3" });
    expect(ignore.score).toBe(1);
  });
});

describe("red team: scoring", () => {
  it("assertion tests cannot be skipped by exiting 0 early (sys.exit, os._exit, atexit, process.exit, an exit hook)", async () => {
    const cheats: [Lang, string][] = [
      ["python", "import sys\nsys.exit(0)\ndef add(a, b):\n    return 0"],
      ["python", "import os\nos._exit(0)\ndef add(a, b):\n    return 0"],
      ["python", "import atexit, os\natexit.register(os._exit, 0)\ndef add(a, b):\n    return 0"],
      ["python", "import sys\nsys.excepthook = lambda *a: None\nimport atexit, os\natexit.register(lambda: os._exit(0))\ndef add(a, b):\n    return 0"],
      ["javascript", "process.exit(0);\nfunction add(a, b) { return 0; }"],
      ["javascript", "process.on('exit', () => { process.exitCode = 0; });\nprocess.on('uncaughtException', () => process.exit(0));\nfunction add(a, b) { return 0; }"],
    ];
    for (const [lang, src] of cheats) {
      const testCode = lang === "python" ? "assert add(2, 3) == 5" : "if (add(2, 3) !== 5) throw new Error('add');";
      const res = await score(lang, src, { testCode });
      expect(res.score, src).toBe(0);
      expect(res.tests[0]!.verdict).toBe("runtime_error");
    }
    // …while honest programs still pass, including ones that print.
    const ok = await score("python", "def add(a, b):\n    print('adding')\n    return a + b", { testCode: "assert add(2, 3) == 5" });
    expect(ok.score).toBe(1);
    const okJs = await score("javascript", "function add(a, b) { return a + b; } // no newline at the end", { testCode: "if (add(2, 3) !== 5) throw new Error('add')" });
    expect(okJs.score).toBe(1);
  });

  it("invalid UTF-8, NUL bytes and terminal escapes in the output leave the reason printable", async () => {
    const res = await score("python", "import sys\nsys.stdout.buffer.write(b'\\x1b[2J\\x1b]0;pwned\\x07\\x00\\xff\\xfe\\xed\\n' + '\\U0001F600'.encode() * 40)\nsys.stderr.write('\\x1b[31m\\x00boom')\nsys.exit(0)", { stdout: "x" });
    expect(res.score).toBe(0);
    expect(res.reason).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(JSON.parse(JSON.stringify(res.reason))).toBe(res.reason);
    expect(res.reason).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/); // no half emoji where it was cut
    const err = await score("python", "import sys\nsys.stderr.write('\\x1b[31m\\x00boom\\x07')\nsys.exit(2)", { stdout: "x" });
    expect(err.reason).toMatch(/runtime_error/);
    expect(err.reason).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
  });
});

describe("red team: the kernel's shared resources", () => {
  it("loopback TCP buffers are capped per run (the kernel does not count them as the run's memory otherwise)", async () => {
    const r = await py(`import socket
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(8)
total = 0
keep = []
for i in range(4):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 26)
    c.connect(ls.getsockname())
    a, _ = ls.accept()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 26)
    c.setblocking(False)
    keep.append((c, a))
    while True:
        try:
            total += c.send(b"x" * (1 << 20))
        except (BlockingIOError, OSError):
            break
print(total >> 20)
`);
    expect(r.status).toBe("ok");
    // Four connections hold ~40 MB here without the cap (memory.kmem.tcp.limit_in_bytes, 16 MiB).
    if (cgroupBases() && !group.options.cgroups) expect(Number(r.stdout)).toBeLessThanOrEqual(20);
  });

  it("a crash dumps no core, and never wakes a host crash handler (RLIMIT_CORE 1, the kernel's 'never' for pipes)", async () => {
    const r = await py("import ctypes, resource\nprint(resource.getrlimit(resource.RLIMIT_CORE), flush=True)\nctypes.string_at(0)\n");
    expect(r.stdout).toBe("(1, 1)\n");
    expect(r.status).toBe("runtime_error");
    expect(r.detail).toMatch(/SIGSEGV/);
  });

  it("no real-time scheduling, no higher priority, no other syscall ABI (int 0x80, x32)", async () => {
    const r = await py(`import os
out = []
for f in [lambda: os.nice(-5), lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1)),
          lambda: os.setpriority(os.PRIO_PROCESS, 0, -5)]:
    try:
        f()
        out.append("ALLOWED")
    except OSError as e:
        out.append(type(e).__name__)
print(out, flush=True)
`);
    expect(r.stdout).toBe("['PermissionError', 'PermissionError', 'PermissionError']\n");
    if (process.arch !== "x64") return;
    // An i386 write(1, marker) through int 0x80, from an executable page below 4 GiB (the i386 ABI
    // truncates pointers to 32 bits). Where the kernel runs i386 syscalls, the filter kills the process
    // (SIGSYS); where it does not (CONFIG_IA32_EMULATION off, ia32_emulation=0, and some VM guests:
    // the dev machine's kernel has IA32 emulation built in and still faults), int 0x80 is a general
    // protection fault (SIGSEGV) before seccomp sees anything. Either way the call must have no
    // effect: the marker is never written and the program never gets past the call.
    const i386 = await py(`import ctypes, mmap, struct
m = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x40,  # MAP_32BIT
              prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
base = ctypes.addressof(ctypes.c_char.from_buffer(m))
assert base + 4096 <= 1 << 32, hex(base)
msg = b"I386-WRITE-WORKED\\n"
m.write(bytes([0x53, 0xb8, 4, 0, 0, 0, 0xbb, 1, 0, 0, 0, 0xb9]) + struct.pack("<I", base + 64)  # push rbx; mov eax, 4 (write); mov ebx, 1; mov ecx, msg
        + bytes([0xba]) + struct.pack("<I", len(msg)) + bytes([0xcd, 0x80, 0x5b, 0xc3]))   # mov edx, len; int 0x80; pop rbx; ret
m.seek(64)
m.write(msg)
f = ctypes.CFUNCTYPE(ctypes.c_int)(base)
print("ready", flush=True)
print("after", f(), flush=True)
`);
    expect(i386.stdout).toBe("ready\n"); // set up, then nothing: no marker, no "after"
    expect(["sandbox_violation", "runtime_error"]).toContain(i386.status);
    expect(i386.detail).toMatch(/SIGSYS|SIGSEGV/);
    const x32 = await py("import ctypes\nprint(ctypes.CDLL(None).syscall(0x40000000 | 39), flush=True)\n"); // x32 getpid
    expect(x32.stdout).toBe("");
    expect(x32.status).toBe("sandbox_violation");
  });
});

describe("red team: load", () => {
  it("reward calls made at once without a pool share one concurrency limit (a batch cannot start a sandbox per response)", async () => {
    const ours = (): Set<number> => {
      const uids = new Set<number>();
      for (const p of sandboxProcesses()) {
        try {
          if (!readFileSync(`/proc/${p}/cgroup`, "utf8").includes(`aha-test-redteam-${process.pid}`)) continue;
          uids.add(Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1]));
        } catch {
          /* gone */
        }
      }
      return uids;
    };
    let most = 0;
    const timer = setInterval(() => (most = Math.max(most, ours().size)), 15);
    try {
      const results = await Promise.all(Array.from({ length: 4 }, () => score("python", "import time\ntime.sleep(0.3)\nprint(1)", { stdout: "1" })));
      expect(results.map((r) => r.score)).toEqual([1, 1, 1, 1]);
    } finally {
      clearInterval(timer);
    }
    if (!cgroupBases() || group.options.cgroups === "off") return; // "ours" is found through the test's cgroup
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(defaultConcurrency());
  });
});
