// What the running kernel can do, for attach decisions and clear errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { native } from './binding';
import { Btf } from './btf/btf';
import { capabilitiesToLoad, kernelHasKprobes, privilegeError, tracefsMounted } from './errors';

export interface KernelFeatures {
  /** uname -r */
  kernel: string;
  /** /sys/kernel/btf/vmlinux: CO-RE relocations and BTF-typed programs. */
  btf: boolean;
  /** tracefs is mounted (tracepoints, trace_pipe). */
  tracefs: boolean;
  /** bpffs is mounted at /sys/fs/bpf (pinning). */
  bpffs: boolean;
  /** kprobes and kretprobes (CONFIG_KPROBES). */
  kprobes: boolean;
  /** uprobes and uretprobes (CONFIG_UPROBE_EVENTS). */
  uprobes: boolean;
  /** kprobe.multi links over many functions (fprobe: Linux 5.18, CONFIG_FPROBE). */
  kprobeMulti: boolean;
  /** uprobe.multi links over many functions of a binary (Linux 6.6). */
  uprobeMulti: boolean;
  /**
   * fentry / fexit / fmod_ret: BPF trampolines, tried for real on bpf_fentry_test1 (false
   * when this process may not load tracing programs: CAP_BPF and CAP_PERFMON).
   */
  fentry: boolean;
  /** "bpf" among the active LSMs (BPF LSM programs). */
  bpfLsm: boolean;
  /** tcx links for tc programs (Linux 6.6 and later). */
  tcx: boolean;
  /** BPF_MAP_TYPE_RINGBUF (Linux 5.8 and later). */
  ringbuf: boolean;
}

let cached: KernelFeatures | undefined;

function activeLsms(): string[] | undefined {
  try {
    return fs.readFileSync('/sys/kernel/security/lsm', 'utf8').trim().split(',');
  } catch {
    return undefined; // securityfs not mounted
  }
}

function fentryWorks(): boolean {
  try {
    const target = Btf.kernel().byName('bpf_fentry_test1', 'func')[0];
    return target ? native.probeFentry(target.id) : false;
  } catch {
    return false;
  }
}

/** The kernel's features that matter for loading and attaching (probed once, then cached). */
export function features(): KernelFeatures {
  if (cached) return cached;
  const btf = fs.existsSync('/sys/kernel/btf/vmlinux');
  cached = {
    kernel: os.release(),
    btf,
    tracefs: tracefsMounted(),
    bpffs: fs.existsSync('/sys/fs/bpf') && fs.statfsSync('/sys/fs/bpf').type === 0xcafe4a11,
    kprobes: kernelHasKprobes(),
    uprobes: fs.existsSync('/sys/bus/event_source/devices/uprobe'),
    // The link types' kernel structures are in the kernel's BTF only when they are built in.
    kprobeMulti: btf && Btf.kernel().find('bpf_kprobe_multi_link', 'struct') !== undefined,
    uprobeMulti: btf && Btf.kernel().find('bpf_uprobe_multi_link', 'struct') !== undefined,
    fentry: btf && fentryWorks(),
    bpfLsm: activeLsms()?.includes('bpf') ?? false,
    tcx: btf && Btf.kernel().find('tcx_entry', 'struct') !== undefined,
    // Without the privilege to create maps, the kernel's BTF says whether it has ring buffers.
    ringbuf: privilegeError('features', ['CAP_BPF']) ? btf && Btf.kernel().find('bpf_ringbuf', 'struct') !== undefined : native.probeMapType('ringbuf'),
  };
  return cached;
}

/**
 * Turns on the kernel's run statistics for every BPF program (program.info.runCount and
 * runTimeNs) until the returned handle is closed. They cost a little per program run.
 */
export function enableStats(): Disposable & { close(): void } {
  let fd = native.enableStats();
  const close = () => {
    if (fd >= 0) fs.closeSync(fd);
    fd = -1;
  };
  return { close, [Symbol.dispose]: close };
}

/**
 * Runs a probe, after checking that this process may load what it loads: without the
 * privilege, libbpf's probes answer "no" (or, for helpers, "yes") whatever the kernel has.
 */
function probeAs(operation: string, programType: string, run: () => boolean): boolean {
  const refused = privilegeError(operation, capabilitiesToLoad([programType]));
  if (refused) throw refused;
  return run();
}

/**
 * Direct probes through libbpf: can this kernel load / create / call it? Each loads a tiny
 * program or creates a map, so each needs the privilege that takes (a BpfError names the
 * missing capability).
 */
export const probe = {
  /** A program type by libbpf's name ('kprobe', 'xdp', 'tracing', ...). */
  programType: (type: string): boolean => probeAs('probe.programType', type, () => native.probeProgramType(type)),
  /** A map type by libbpf's name ('hash', 'ringbuf', 'bloom_filter', ...). */
  mapType: (type: string): boolean => probeAs('probe.mapType', 'socket_filter', () => native.probeMapType(type)),
  /** Whether programs of `programType` may call helper number `helperId` (BPF_FUNC_*). */
  helper: (programType: string, helperId: number): boolean =>
    probeAs('probe.helper', programType, () => native.probeHelper(programType, helperId)),
};
