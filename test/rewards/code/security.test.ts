// Hostile programs: each must be contained, scored as a failure with the right reason, and leave the
// host, this (trainer) process and other programs untouched. Every test checks the host side
// independently of what the sandbox reports, so a broken sandbox fails it.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { codeReward } from "../../../src/rewards/code/reward.js";
import { runProgram, SandboxPool, type RunResult } from "../../../src/rewards/code/sandbox.js";
import { alive, leftoverCgroups, openTestGroup, sandboxProcesses, type TestGroup } from "./harness.js";

let group: TestGroup;
let hostDir: string; // a HOME-like directory of ours, with a canary file
const canary = `canary-${randomBytes(8).toString("hex")}`;
let decoy: ChildProcess; // "another program" on the host that must survive

beforeAll(() => {
  group = openTestGroup("security");
  hostDir = mkdtempSync(join(tmpdir(), "aha-sec-"));
  writeFileSync(join(hostDir, "canary.txt"), canary);
  decoy = spawn("/bin/sleep", ["120"], { stdio: "ignore" });
});

afterAll(() => {
  decoy.kill("SIGKILL");
  rmSync(hostDir, { recursive: true, force: true });
  group.close();
});

const seen: RunResult[] = [];
afterEach(() => {
  // Nothing of any run survives it: no process of its uid, no per-run cgroup; we and the decoy live.
  for (const r of seen.splice(0)) expect(sandboxProcesses(r.uid)).toEqual([]);
  expect(leftoverCgroups()).toEqual([]);
  expect(alive(process.pid)).toBe(true);
  expect(alive(decoy.pid!)).toBe(true);
  expect(readdirSync(hostDir)).toEqual(["canary.txt"]);
});

async function py(source: string, extra: { stdin?: string; env?: Record<string, string>; limits?: Partial<typeof group.options.limits> } = {}): Promise<RunResult> {
  const opts = { ...group.options, ...(extra.env ? { env: extra.env } : {}), ...(extra.limits ? { limits: { ...group.options.limits, ...extra.limits } } : {}) };
  const r = await runProgram({ language: "python", source, ...(extra.stdin !== undefined ? { stdin: extra.stdin } : {}) }, opts);
  seen.push(r);
  return r;
}

/** Scores `source` through codeReward against one stdin/stdout case; returns the result. */
async function score(language: "python" | "javascript", source: string, expected: string) {
  const res = await codeReward("```" + language + "\n" + source + "\n```", { language, tests: [{ stdin: "", stdout: expected }] }, group.options);
  for (const t of res.tests) seen.push({ uid: t.uid } as RunResult);
  return res;
}

describe("sandbox containment", () => {
  it("a tame bounded fork of 100 is capped at the process limit, and cleaned up", async () => {
    const r = await py(`import os, time
n = 0
for i in range(100):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(0.5)
        os._exit(0)
    n += 1
print(n)
`);
    expect(r.status).toBe("ok");
    expect(Number(r.stdout)).toBeGreaterThan(0);
    expect(Number(r.stdout)).toBeLessThan(16); // maxProcesses: 16 (TEST_LIMITS), the program counts as one
  });

  it("writing outside its directory: read-only system, no host paths", async () => {
    for (const target of ["/usr/evil.txt", "/evil.txt", "/etc/evil.txt"]) {
      const res = await score("python", `open(${JSON.stringify(target)}, "w").write("x")\nprint("written")`, "written");
      expect(res.score).toBe(0);
      expect(res.tests[0]!.verdict).toBe("sandbox_violation");
      expect(existsSync(target)).toBe(false);
    }
    // Our directory does not exist in there; even re-created, writes land in the sandbox's tmpfs.
    const p = join(hostDir, "evil.txt");
    const res = await score("python", `import os\nos.makedirs(${JSON.stringify(hostDir)}, exist_ok=True)\nopen(${JSON.stringify(p)}, "w").write("x")\nprint(open(${JSON.stringify(join(hostDir, "canary.txt"))}).read())`, canary);
    expect(res.score).toBe(0);
    expect(["runtime_error", "sandbox_violation"]).toContain(res.tests[0]!.verdict);
    expect(existsSync(p)).toBe(false);
  });

  it("reading the user's home: our canary file and /root are out of reach", async () => {
    const r = await py(`import os, glob
found = []
for p in [${JSON.stringify(join(hostDir, "canary.txt"))}, os.path.expanduser("~/canary.txt")] + glob.glob("/root/*") + glob.glob("/home/*/*"):
    try:
        found.append(open(p).read())
    except OSError:
        pass
print(os.path.exists("/root"), os.path.exists("/work/main"), found)
os.listdir("/root")
`, { env: { HOME: hostDir } });
    expect(r.stdout).toBe("False False []\n");
    expect(r.stdout).not.toContain(canary);
    expect(r.status).toBe("runtime_error"); // FileNotFoundError: /root is not there at all
    const res = await score("python", `print(open(${JSON.stringify(join(hostDir, "canary.txt"))}).read())`, canary);
    expect(res.score).toBe(0);
  });

  it("connecting to a server on 127.0.0.1 fails and the server sees nothing", async () => {
    let connections = 0;
    const server: Server = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const pyRes = await score("python", `import socket\ns = socket.create_connection(("127.0.0.1", ${port}), timeout=1)\ns.sendall(b"hello")\nprint("connected")`, "connected");
      expect(pyRes.score).toBe(0);
      expect(pyRes.tests[0]!.verdict).toBe("sandbox_violation");
      const jsRes = await score(
        "javascript",
        `const s = require("net").connect(${port}, "127.0.0.1", () => { console.log("connected"); s.end(); });`,
        "connected",
      );
      expect(jsRes.score).toBe(0);
      expect(jsRes.tests[0]!.verdict).toBe("sandbox_violation");
      const dns = await score("python", `import socket\nprint(socket.gethostbyname("example.com"))`, "93.184.216.34");
      expect(dns.score).toBe(0);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(connections).toBe(0);
  });

  it("a fork bomb is capped, killed at the time limit, and other programs run undisturbed", async () => {
    const pool = new SandboxPool(group.options, 2);
    const t0 = performance.now();
    const [bomb, other] = await Promise.all([
      pool.run({ language: "python", source: "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n" }),
      pool.run({ language: "python", source: "import time\ntime.sleep(0.3)\nprint(sum(range(10)))" }),
    ]);
    seen.push(bomb, other);
    expect(["time_limit", "sandbox_violation"]).toContain(bomb.status);
    expect(performance.now() - t0).toBeLessThan(6_000);
    expect(other.status).toBe("ok");
    expect(other.stdout).toBe("45\n");
    const res = await score("python", "import os\nwhile True:\n    os.fork()\n", "x");
    expect(res.score).toBe(0);
  });

  it("allocating 8 GB is a memory-limit failure (Python and Node)", async () => {
    // Python and Node start slowly on a loaded machine: more time, so that memory (not time) is what runs out.
    const roomy = { wallMs: 8_000, cpuSeconds: 4 };
    const r = await py("x = bytearray(8 * 2**30)\nprint(len(x))", { limits: roomy });
    expect(r.status).toBe("memory_limit");
    const grow = await py("xs = []\nwhile True:\n    xs.append(bytearray(10**7))\n", { limits: roomy });
    expect(grow.status).toBe("memory_limit");
    const slow = { ...group.options, limits: { ...group.options.limits, ...roomy } };
    const res = await codeReward("```js\nconst xs = []; for (;;) xs.push(Buffer.alloc(1e7, 1));\n```", { language: "javascript", tests: [{ stdin: "", stdout: "x" }] }, slow);
    for (const t of res.tests) seen.push({ uid: t.uid } as RunResult);
    expect(res.score).toBe(0);
    expect(res.tests[0]!.verdict).toBe("memory_limit");
  });

  it("an endless loop hits the CPU limit; a sleeping program the wall-time limit", async () => {
    const t0 = performance.now();
    const busy = await py("while True:\n    pass\n");
    expect(busy.status).toBe("time_limit");
    const sleepy = await py("import time\ntime.sleep(60)\n");
    expect(sleepy.status).toBe("time_limit");
    expect(sleepy.detail).toMatch(/wall time/);
    expect(performance.now() - t0).toBeLessThan(7_000);
  });

  it("printing 1 GB stops at the output cap", async () => {
    const t0 = performance.now();
    const r = await py("import sys\ns = 'x' * 2**20\nfor _ in range(1024):\n    sys.stdout.write(s)\n");
    expect(r.status).toBe("output_limit");
    expect(r.stdoutTruncated).toBe(true);
    expect(r.stdout.length).toBe(64 * 1024);
    expect(performance.now() - t0).toBeLessThan(3_000);
    const res = await score("python", "print('y' * 10**6)", "y");
    expect(res.tests[0]!.verdict).toBe("output_limit");
  });

  it("signalling its parent, pid 1, everyone, or the trainer's pid does nothing outside", async () => {
    const r = await py(
      `import os, signal
targets = [os.getppid(), 1, int(os.environ["TRAINER_PID"]), int(os.environ["DECOY_PID"])]
errors = []
for pid in targets:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as e:
        errors.append(type(e).__name__)
visible = [p for p in os.listdir("/proc") if p.isdigit()]
print(errors, len(visible))
os.kill(-1, signal.SIGKILL)
`,
      { env: { TRAINER_PID: String(process.pid), DECOY_PID: String(decoy.pid) } },
    );
    // getppid() is bwrap's init (pid 1, root): EPERM; the host pids do not exist in its namespace.
    expect(r.stdout).toBe("['PermissionError', 'PermissionError', 'ProcessLookupError', 'ProcessLookupError'] 2\n");
    expect(alive(process.pid)).toBe(true);
    expect(alive(decoy.pid!)).toBe(true);
  });

  it("reading the environment finds no secrets", async () => {
    const secret = `tok-${randomBytes(8).toString("hex")}`;
    process.env.SECRET_TOKEN = secret;
    try {
      const res = await score("python", `import os\nprint(os.environ.get("SECRET_TOKEN", ""))`, secret);
      expect(res.score).toBe(0);
      expect(res.tests[0]!.verdict).toBe("wrong_answer");
      const r = await py(`import os\nprint(sorted(os.environ))\nfor p in os.listdir("/proc"):\n    try:\n        print(open(f"/proc/{p}/environ").read())\n    except OSError:\n        pass\n`);
      expect(r.stdout).not.toContain(secret);
      expect(r.stdout.split("\n")[0]).toBe("['HOME', 'LANG', 'OPENSSL_CONF', 'PATH', 'PWD']");
      const js = await score("javascript", `console.log(process.env.SECRET_TOKEN ?? "")`, secret);
      expect(js.score).toBe(0);
    } finally {
      delete process.env.SECRET_TOKEN;
    }
  });
  it("cannot create namespaces (seccomp): no nested user namespace, no own mounts", async () => {
    const r = await py(`import ctypes, subprocess
libc = ctypes.CDLL(None, use_errno=True)
print(libc.unshare(0x10000000), ctypes.get_errno())
print(subprocess.run(["/usr/bin/unshare", "-r", "--mount", "true"], capture_output=True).returncode)
`);
    expect(r.stdout).toBe("-1 1\n1\n"); // EPERM both ways; threads and fork still work (other tests)
  });

  it("cannot outlive its run by daemonizing", async () => {
    const r = await py(`import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.close(1)
        os.close(2)
        time.sleep(30)
    os._exit(0)
time.sleep(0.2)
print("parent done")
`);
    // "ok", not time_limit: the run did not wait for the sleeper (it died with the run's PID namespace),
    // and afterEach checks that no process of its uid is left.
    expect(r.status).toBe("ok");
    expect(r.stdout).toBe("parent done\n");
  });
});
