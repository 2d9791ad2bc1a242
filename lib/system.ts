import { native } from './binding';
import { withCapabilities } from './errors';

/** The version of the libbpf the addon is linked with, e.g. "v1.5". */
export function libbpfVersion(): string {
  return native.libbpfVersion();
}

/**
 * The C declarations of every type in a BTF file, the kernel's by default: what BPF
 * programs include as vmlinux.h (the same as `bpftool btf dump file ... format c`).
 */
export function vmlinuxHeader(btfPath?: string): string {
  return native.vmlinuxHeader(btfPath);
}

/** One BPF program in the kernel, as `bpftool prog show` shows it. */
export interface ProgramInfo {
  /** The kernel's id of the program (stable while it is loaded). */
  id: number;
  /** Its name (the kernel keeps the first 15 characters of the C function name). */
  name: string;
  /** libbpf's name of its type, e.g. "tracepoint", "xdp", "cgroup_skb". */
  type: string;
  /** The kernel's tag of its instructions: 16 hex digits. */
  tag: string;
  /** When it was loaded, in nanoseconds since boot. */
  loadTimeNs: bigint;
  /** The uid of the process that loaded it. */
  uid: number;
  /** Ids of the maps it uses. */
  mapIds: number[];
  /** Id of its BTF object in the kernel (0: none). */
  btfId: number;
  gplCompatible: boolean;
  /** Bytes of JIT-compiled machine code. */
  jitedSize: number;
  /** Bytes of the instructions after the verifier's rewriting. */
  xlatedSize: number;
  /** Instructions the verifier went through. */
  verifiedInstructions: number;
  /** Runs counted while statistics are enabled (enableStats()). */
  runCount: bigint;
  /** Time spent in those runs, in nanoseconds. */
  runTimeNs: bigint;
}

/** One BPF map in the kernel, as `bpftool map show` shows it. */
export interface MapInfo {
  id: number;
  /** Its name (the first 15 characters; libbpf's names for global sections, e.g. "events.bss"). */
  name: string;
  /** libbpf's name of its type, e.g. "hash", "ringbuf". */
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** BPF_F_* creation flags. */
  flags: number;
  /** Id of its BTF object in the kernel (0: none). */
  btfId: number;
}

/** One BPF link (an attachment) in the kernel, as `bpftool link show` shows it. */
export interface LinkInfo {
  id: number;
  /** libbpf's name of the link type, e.g. "xdp", "tcx", "perf_event", "iter", "cgroup". */
  type: string;
  /** Id of the attached program. */
  programId: number;
  /**
   * Where it is attached, as far as the kernel says: "xdp veth0 (ifindex 4)", "iter
   * task", "raw_tracepoint sys_enter", "cgroup_inet_egress cgroup id 1234", and for
   * perf_event links (Linux 6.6 and later) "tracepoint sys_enter_execve", "uprobe
   * /bin/bash+0x1c2f0", "kprobe do_sys_open+0x0", "perf event config 0"; empty where the
   * kernel does not say.
   */
  target: string;
  /** libbpf's name of the attach type (tracing, cgroup, netns, tcx links). */
  attachType?: string;
  /** The interface (xdp, tcx, netkit links); 0 once the interface is gone. */
  ifindex?: number;
  /** Interface or cgroup links whose target went away: the program runs no more. */
  detached?: boolean;
  /** The cgroup's id (cgroup links). */
  cgroupId?: bigint;
  /** The network namespace's inode (netns links). */
  netnsIno?: number;
  /** The tracepoint, the iterator target, the probed file or function (raw_tracepoint, iter, perf_event links). */
  targetName?: string;
  /** The BTF id of the traced function and the id of the BTF object it is in (tracing links). */
  targetBtfId?: number;
  targetObjectId?: number;
}

/** Runs a call that lists or opens kernel objects by id: refusals name CAP_SYS_ADMIN. */
export function bySystemId<T>(call: () => T): T {
  try {
    return call();
  } catch (e) {
    throw withCapabilities(e, ['CAP_SYS_ADMIN']);
  }
}

/** A kernel object id: a TypeError or RangeError naming `what` when it cannot be one. */
export function checkId(id: unknown, what: string): number {
  if (typeof id !== 'number') throw new TypeError(`${what}: id must be a number, got ${typeof id}`);
  if (!Number.isInteger(id) || id < 1 || id > 0xffffffff) throw new RangeError(`${what}: id must be an integer from 1 to 2^32-1, got ${id}`);
  return id;
}

/**
 * Every BPF program loaded in the kernel, by any process, in id order (what `bpftool prog
 * show` lists). Needs CAP_SYS_ADMIN.
 */
export function listPrograms(): ProgramInfo[] {
  return bySystemId(() => native.listPrograms());
}

/** Every BPF map in the kernel, by any process, in id order. Needs CAP_SYS_ADMIN. */
export function listMaps(): MapInfo[] {
  return bySystemId(() => native.listMaps());
}

/** Every BPF link in the kernel, by any process, in id order. Needs CAP_SYS_ADMIN. */
export function listLinks(): LinkInfo[] {
  return bySystemId(() => native.listLinks());
}

/** The program with kernel id `id` (a BpfError ENOENT when there is none). Needs CAP_SYS_ADMIN. */
export function programInfo(id: number): ProgramInfo {
  checkId(id, 'programInfo');
  return bySystemId(() => native.programInfoById(id));
}
