/**
 * A small seccomp filter for sandboxed programs (given to bubblewrap with --seccomp FD): a deny list
 * in the spirit of Docker's default profile, aimed at what a test program never needs and a hostile
 * one would use to widen its reach —
 *   - new namespaces: unshare, setns, and clone with any CLONE_NEW* flag (a user namespace would let it
 *     mount an unbounded tmpfs and reach kernel code paths that need CAP_SYS_ADMIN); clone3 answers
 *     ENOSYS so libc falls back to clone, whose flags the filter can see;
 *   - mounts and roots, kernel keyrings, bpf, perf, userfaultfd, io_uring, ptrace and cross-process
 *     memory access, module loading, kexec, reboot, swap, clock setting, quotas, personality
 *     changes — all answer EPERM;
 *   - sockets of any address family but unix, inet, inet6 and netlink (see SOCKET_FAMILIES): no vsock
 *     to the hypervisor host, no AF_ALG/AF_PACKET/…;
 *   - syscalls of another ABI (i386 `int 0x80`, x32) kill the process, so the deny list cannot be
 *     sidestepped by a different syscall table.
 * Written as raw classic-BPF (struct sock_filter, 8 bytes each, little-endian); no library needed.
 */

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_JSET_K = 0x45;
const BPF_RET_K = 0x06;

const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const retErrno = (e: number): number => 0x00050000 | e;
const EPERM = 1;
const ENOSYS = 38;

/**
 * The socket address families a program may create: AF_UNIX, AF_INET, AF_INET6 (all confined to the
 * sandbox's own network namespace) and AF_NETLINK (interface listing). Everything else answers EPERM —
 * above all AF_VSOCK (40), which network namespaces do not isolate: in a VM it reaches the hypervisor
 * host's services. Also AF_ALG, AF_PACKET, AF_KEY, Bluetooth… (kernel attack surface nobody needs).
 */
const SOCKET_FAMILIES = [1, 2, 10, 16];

/** All CLONE_NEW* flags: NEWNS 0x20000, NEWCGROUP 0x02000000, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
const CLONE_NEW_MASK = 0x7e020000;

interface ArchTable {
  audit: number; // AUDIT_ARCH_*
  x32Bit?: number; // syscall numbers at or above this belong to another ABI (x86_64's x32)
  clone: number;
  clone3: number;
  socket: number;
  denied: Record<string, number>;
}

/** Syscall numbers from the kernel's syscall tables (arch/x86/entry/syscalls/syscall_64.tbl, asm-generic/unistd.h). */
const ARCHES: Record<string, ArchTable> = {
  x64: {
    audit: 0xc000003e,
    x32Bit: 0x40000000,
    clone: 56,
    clone3: 435,
    socket: 41,
    denied: {
      unshare: 272, setns: 308, mount: 165, umount2: 166, pivot_root: 155, chroot: 161, ptrace: 101,
      process_vm_readv: 310, process_vm_writev: 311, keyctl: 250, add_key: 248, request_key: 249, bpf: 321,
      perf_event_open: 298, userfaultfd: 323, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
      kexec_load: 246, kexec_file_load: 320, init_module: 175, finit_module: 313, delete_module: 176, reboot: 169,
      swapon: 167, swapoff: 168, syslog: 103, acct: 163, settimeofday: 164, clock_settime: 227, clock_adjtime: 305,
      adjtimex: 159, quotactl: 179, personality: 135, open_by_handle_at: 304, name_to_handle_at: 303,
      fanotify_init: 300, lookup_dcookie: 212, vhangup: 153, iopl: 172, ioperm: 173, open_tree: 428,
      move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, mount_setattr: 442,
    },
  },
  arm64: {
    audit: 0xc00000b7,
    clone: 220,
    clone3: 435,
    socket: 198,
    denied: {
      unshare: 97, setns: 268, mount: 40, umount2: 39, pivot_root: 41, chroot: 51, ptrace: 117,
      process_vm_readv: 270, process_vm_writev: 271, keyctl: 219, add_key: 217, request_key: 218, bpf: 280,
      perf_event_open: 241, userfaultfd: 282, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
      kexec_load: 104, kexec_file_load: 294, init_module: 105, finit_module: 273, delete_module: 106, reboot: 142,
      swapon: 224, swapoff: 225, syslog: 116, acct: 89, settimeofday: 170, clock_settime: 112, clock_adjtime: 266,
      adjtimex: 171, quotactl: 60, personality: 92, open_by_handle_at: 265, name_to_handle_at: 264,
      fanotify_init: 262, lookup_dcookie: 18, vhangup: 58, open_tree: 428, move_mount: 429, fsopen: 430,
      fsconfig: 431, fsmount: 432, fspick: 433, mount_setattr: 442,
    },
  },
};

/** Names of the denied syscalls (for documentation and tests). */
export function deniedSyscalls(arch: string = process.arch): string[] {
  const t = ARCHES[arch];
  return t ? [...Object.keys(t.denied), "clone(CLONE_NEW*)", "clone3 (ENOSYS)", "socket(family ∉ unix/inet/inet6/netlink)"] : [];
}

type Insn = { code: number; jt: number | string; jf: number | string; k: number } | { label: string };

/** The filter program for `arch` (Node's process.arch), or null where we have no syscall table. */
export function seccompFilter(arch: string = process.arch): Buffer | null {
  const t = ARCHES[arch];
  if (!t) return null;
  const prog: Insn[] = [
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 4 }, // A = seccomp_data.arch
    { code: BPF_JEQ_K, jt: 0, jf: "kill", k: t.audit },
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 0 }, // A = seccomp_data.nr
  ];
  if (t.x32Bit !== undefined) prog.push({ code: BPF_JGE_K, jt: "kill", jf: 0, k: t.x32Bit });
  for (const nr of Object.values(t.denied)) prog.push({ code: BPF_JEQ_K, jt: "eperm", jf: 0, k: nr });
  prog.push(
    { code: BPF_JEQ_K, jt: "enosys", jf: 0, k: t.clone3 },
    { code: BPF_JEQ_K, jt: "clone", jf: 0, k: t.clone },
    { code: BPF_JEQ_K, jt: "socket", jf: 0, k: t.socket },
    { code: BPF_RET_K, jt: 0, jf: 0, k: RET_ALLOW },
    { label: "socket" },
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 16 }, // A = low 32 bits of args[0] (the address family)
    ...SOCKET_FAMILIES.map((f) => ({ code: BPF_JEQ_K, jt: "allow", jf: 0, k: f })),
    { code: BPF_RET_K, jt: 0, jf: 0, k: retErrno(EPERM) },
    { label: "allow" },
    { code: BPF_RET_K, jt: 0, jf: 0, k: RET_ALLOW },
    { label: "clone" },
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 16 }, // A = low 32 bits of args[0] (the flags)
    { code: BPF_JSET_K, jt: "eperm", jf: 0, k: CLONE_NEW_MASK },
    { code: BPF_RET_K, jt: 0, jf: 0, k: RET_ALLOW },
    { label: "eperm" },
    { code: BPF_RET_K, jt: 0, jf: 0, k: retErrno(EPERM) },
    { label: "enosys" },
    { code: BPF_RET_K, jt: 0, jf: 0, k: retErrno(ENOSYS) },
    { label: "kill" },
    { code: BPF_RET_K, jt: 0, jf: 0, k: RET_KILL_PROCESS },
  );
  // Resolve labels to relative jumps (from the next instruction).
  const at = new Map<string, number>();
  const insns: Exclude<Insn, { label: string }>[] = [];
  for (const x of prog) {
    if ("label" in x) at.set(x.label, insns.length);
    else insns.push(x);
  }
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((x, i) => {
    const rel = (j: number | string): number => {
      if (typeof j === "number") return j;
      const d = at.get(j)! - (i + 1);
      if (d < 0 || d > 255) throw new Error(`seccomp: jump to ${j} out of range`);
      return d;
    };
    buf.writeUInt16LE(x.code, i * 8);
    buf.writeUInt8(rel(x.jt), i * 8 + 2);
    buf.writeUInt8(rel(x.jf), i * 8 + 3);
    buf.writeUInt32LE(x.k >>> 0, i * 8 + 4);
  });
  return buf;
}
