// preflight() and `ebpf doctor`: can this process, on this kernel, load and attach BPF?
// Each check says what it found and, when something is missing, what to do: the kernel
// option, the capability, or the command.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { TRACEFS_PATHS, capabilitiesToLoad, effectiveCapabilities, hasCapability, missingCapabilities } from './errors';
import { features, probe } from './features';
import { libbpfVersion } from './system';

/** ok: present; warn: missing, but only what needs it fails; fail: BPF cannot work here. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

export type CheckGroup = 'kernel' | 'privileges' | 'filesystems' | 'limits' | 'attach' | 'program types' | 'map types';

/** One check of preflight(). */
export interface PreflightCheck {
  /** A stable identifier, e.g. "btf", "cap.CAP_BPF", "attach.kprobe", "program.xdp", "map.ringbuf". */
  id: string;
  group: CheckGroup;
  /** What is checked, e.g. "BTF", "CAP_BPF", "kprobes". */
  title: string;
  status: CheckStatus;
  /** What was found. */
  detail: string;
  /** What to do about it (when the status is not ok). */
  fix?: string;
}

/** What preflight() found. */
export interface PreflightReport {
  /** No check failed. */
  ok: boolean;
  /** uname -r */
  kernel: string;
  /** The libbpf the addon is linked with. */
  libbpf: string;
  /** How many checks have each status. */
  counts: Record<CheckStatus, number>;
  checks: PreflightCheck[];
}

interface Mount {
  mountPoint: string;
  fsType: string;
}

function mounts(): Mount[] {
  try {
    // mountinfo: ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
    return fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const fields = line.split(' ');
        const sep = fields.indexOf('-');
        return { mountPoint: fields[4].replace(/\\040/g, ' '), fsType: fields[sep + 1] };
      });
  } catch {
    return [];
  }
}

function readTrimmed(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function kernelVersion(): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(os.release());
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function atLeast(major: number, minor: number): boolean {
  const [ma, mi] = kernelVersion();
  return ma > major || (ma === major && mi >= minor);
}

// Program types probed (libbpf's names), with what a kernel needs to have them.
const PROGRAM_TYPES: [string, string][] = [
  ['socket_filter', 'CONFIG_BPF_SYSCALL'],
  ['kprobe', 'CONFIG_BPF_EVENTS'],
  ['tracepoint', 'CONFIG_BPF_EVENTS'],
  ['raw_tracepoint', 'CONFIG_BPF_EVENTS (Linux 4.17)'],
  ['perf_event', 'CONFIG_BPF_EVENTS and CONFIG_PERF_EVENTS'],
  ['xdp', 'CONFIG_BPF_SYSCALL and CONFIG_NET'],
  ['sched_cls', 'CONFIG_NET_CLS_BPF'],
  ['cgroup_skb', 'CONFIG_CGROUP_BPF'],
  ['sk_lookup', 'CONFIG_INET (Linux 5.9)'],
  ['tracing', 'CONFIG_DEBUG_INFO_BTF and BPF trampolines (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS)'],
  ['lsm', 'CONFIG_BPF_LSM'],
  ['struct_ops', 'CONFIG_BPF_JIT and CONFIG_DEBUG_INFO_BTF (Linux 5.6)'],
  ['netfilter', 'CONFIG_NETFILTER_BPF_LINK (Linux 6.4)'],
  ['syscall', 'CONFIG_BPF_SYSCALL (Linux 5.14)'],
];

// Map types probed, with the kernel that brought them.
const MAP_TYPES: [string, string][] = [
  ['hash', 'CONFIG_BPF_SYSCALL'],
  ['array', 'CONFIG_BPF_SYSCALL'],
  ['percpu_hash', 'Linux 4.6'],
  ['lru_hash', 'Linux 4.10'],
  ['lpm_trie', 'Linux 4.11'],
  ['perf_event_array', 'CONFIG_PERF_EVENTS'],
  ['stack_trace', 'CONFIG_PERF_EVENTS'],
  ['queue', 'Linux 4.20'],
  ['ringbuf', 'Linux 5.8'],
  ['bloom_filter', 'Linux 5.16'],
  ['user_ringbuf', 'Linux 6.1'],
];

/** How to give a process capabilities, e.g. grant(['CAP_BPF', 'CAP_PERFMON']). */
function grant(caps: readonly string[]): string {
  const lower = caps.map((c) => c.slice(4).toLowerCase());
  return (
    `run as root, or grant ${caps.join(' and ')}: AmbientCapabilities=${caps.join(' ')} in a systemd unit, ` +
    `setcap ${lower.map((c) => `cap_${c}`).join(',')}+ep on the node binary, or setpriv --inh-caps=${lower.map((c) => `+${c}`).join(',')} ` +
    `--ambient-caps=${lower.map((c) => `+${c}`).join(',')}`
  );
}

/**
 * Checks what BPF needs on this machine, for this process: the kernel version, BTF, the
 * effective capabilities, kernel.unprivileged_bpf_disabled, the tracefs, bpffs and cgroup2
 * mounts, RLIMIT_MEMLOCK, and which attach kinds, program types and map types the kernel
 * has. Each check is ok, warn (a feature is missing: only what needs it fails) or fail
 * (BPF cannot work here), with a fix naming the kernel option, capability or command.
 * This is what `npx ebpf doctor` prints.
 */
export function preflight(): PreflightReport {
  const checks: PreflightCheck[] = [];
  const add = (group: CheckGroup, id: string, title: string, status: CheckStatus, detail: string, fix?: string) =>
    checks.push(status === 'ok' || fix === undefined ? { id, group, title, status, detail } : { id, group, title, status, detail, fix });

  // The kernel.
  const release = os.release();
  if (atLeast(5, 8)) add('kernel', 'kernel', 'kernel version', 'ok', `Linux ${release}`);
  else add('kernel', 'kernel', 'kernel version', 'warn', `Linux ${release}: ring buffers need 5.8, BTF-typed programs and CO-RE 5.4 or later`, 'upgrade to Linux 5.8 or later');
  const btf = '/sys/kernel/btf/vmlinux';
  if (fs.existsSync(btf)) add('kernel', 'btf', 'BTF', 'ok', `${btf} (${(fs.statSync(btf).size / 2 ** 20).toFixed(1)} MiB)`);
  else add('kernel', 'btf', 'BTF', 'fail', `${btf} is missing: CO-RE objects cannot be relocated`, 'a kernel built with CONFIG_DEBUG_INFO_BTF=y (or pass OpenOptions.btfPath, a BTF file for this kernel)');
  const jit = readTrimmed('/proc/sys/net/core/bpf_jit_enable');
  if (jit === undefined) add('kernel', 'jit', 'BPF JIT', 'warn', 'net.core.bpf_jit_enable is not there: no BPF JIT', 'a kernel with CONFIG_BPF_JIT=y (fentry, struct_ops and trampolines need it)');
  else if (jit === '0') add('kernel', 'jit', 'BPF JIT', 'warn', 'the BPF JIT is off (net.core.bpf_jit_enable = 0): programs are interpreted', 'sysctl net.core.bpf_jit_enable=1');
  else add('kernel', 'jit', 'BPF JIT', 'ok', `on (net.core.bpf_jit_enable = ${jit})`);
  const lockdown = /\[(\w+)\]/.exec(readTrimmed('/sys/kernel/security/lockdown') ?? '')?.[1];
  if (lockdown === 'confidentiality') {
    add('kernel', 'lockdown', 'lockdown', 'warn', 'kernel lockdown is "confidentiality": reading kernel memory (bpf_probe_read_kernel) is refused', 'boot with lockdown=integrity or lockdown=none');
  } else {
    add('kernel', 'lockdown', 'lockdown', 'ok', lockdown ? `kernel lockdown is "${lockdown}"` : 'no kernel lockdown (or securityfs is not mounted)');
  }

  // Privileges: the effective set, as the kernel sees it.
  const effective = effectiveCapabilities() ?? 0n;
  const held = (cap: string) => hasCapability(effective, cap);
  const sysAdmin = held('CAP_SYS_ADMIN');
  const canBpf = held('CAP_BPF') || sysAdmin;
  const capabilityUses: [string, string, CheckStatus][] = [
    ['CAP_BPF', 'creating maps and loading any program', 'fail'],
    ['CAP_PERFMON', 'tracing programs: tracepoints, kprobes, uprobes, perf events', 'warn'],
    ['CAP_NET_ADMIN', 'networking programs: XDP, tc', 'warn'],
    ['CAP_SYS_ADMIN', "what the others do not cover: some iterators and helpers, other processes' objects by id", 'warn'],
  ];
  for (const [cap, use, missing] of capabilityUses) {
    if (held(cap)) add('privileges', `cap.${cap}`, cap, 'ok', `held; needed for ${use}`);
    else if (sysAdmin && (cap === 'CAP_BPF' || cap === 'CAP_PERFMON')) add('privileges', `cap.${cap}`, cap, 'ok', `covered by CAP_SYS_ADMIN; needed for ${use}`);
    else add('privileges', `cap.${cap}`, cap, missing, `missing from the effective set; needed for ${use}`, grant([cap]));
  }
  const unprivileged = readTrimmed('/proc/sys/kernel/unprivileged_bpf_disabled');
  const unprivTitle = 'kernel.unprivileged_bpf_disabled';
  if (unprivileged === undefined) {
    add('privileges', 'unprivileged_bpf', unprivTitle, 'warn', 'not readable: no bpf() system call?', 'a kernel with CONFIG_BPF_SYSCALL=y');
  } else if (unprivileged === '0') {
    add('privileges', 'unprivileged_bpf', unprivTitle, 'ok', '0: processes without CAP_BPF may load socket filters');
  } else if (canBpf) {
    add('privileges', 'unprivileged_bpf', unprivTitle, 'ok', `${unprivileged}: bpf() is for privileged processes, and this one has CAP_BPF`);
  } else {
    add('privileges', 'unprivileged_bpf', unprivTitle, 'fail', `${unprivileged}: bpf() is refused to processes without CAP_BPF, like this one`, grant(['CAP_BPF']));
  }

  // Mounts.
  const mounted = mounts();
  const tracefs = mounted.find((m) => m.fsType === 'tracefs' && TRACEFS_PATHS.includes(m.mountPoint));
  if (!tracefs) {
    add('filesystems', 'tracefs', 'tracefs', 'warn', 'not mounted: tracepoints and trace_pipe (bpf_printk) need it', 'mount -t tracefs tracefs /sys/kernel/tracing');
  } else {
    let readable = true;
    try {
      fs.accessSync(`${tracefs.mountPoint}/events`, fs.constants.R_OK | fs.constants.X_OK);
    } catch {
      readable = false;
    }
    if (readable) add('filesystems', 'tracefs', 'tracefs', 'ok', `mounted at ${tracefs.mountPoint}`);
    else add('filesystems', 'tracefs', 'tracefs', 'warn', `mounted at ${tracefs.mountPoint}, but not readable by this user: attaching tracepoints fails`, `run as root, or mount -o remount,gid=GID ${tracefs.mountPoint} for a group of this user`);
  }
  const bpffs = mounted.find((m) => m.fsType === 'bpf');
  if (bpffs) add('filesystems', 'bpffs', 'bpffs', 'ok', `mounted at ${bpffs.mountPoint}${bpffs.mountPoint === '/sys/fs/bpf' ? '' : ' (not /sys/fs/bpf, the default pin root)'}`);
  else add('filesystems', 'bpffs', 'bpffs', 'warn', 'not mounted: pinning maps and links needs it', 'mount -t bpf bpf /sys/fs/bpf');
  const cgroup2 = mounted.find((m) => m.fsType === 'cgroup2');
  if (cgroup2) add('filesystems', 'cgroup2', 'cgroup2', 'ok', `mounted at ${cgroup2.mountPoint}`);
  else add('filesystems', 'cgroup2', 'cgroup2', 'warn', 'not mounted: cgroup programs (cgroup_skb, ...) attach to cgroup v2 directories', 'mount -t cgroup2 none /sys/fs/cgroup');

  // RLIMIT_MEMLOCK: only kernels before 5.11 charge BPF memory to it.
  const memlock = /^Max locked memory\s+(\S+)\s+(\S+)/m.exec(readTrimmed('/proc/self/limits') ?? '');
  const limit = memlock ? (memlock[1] === 'unlimited' ? 'unlimited' : `${Number(memlock[1]) / 1024} KiB`) : 'unknown';
  if (atLeast(5, 11)) add('limits', 'memlock', 'RLIMIT_MEMLOCK', 'ok', `${limit}; not used for BPF since Linux 5.11 (memory cgroup accounting)`);
  else if (limit === 'unlimited') add('limits', 'memlock', 'RLIMIT_MEMLOCK', 'ok', 'unlimited');
  else add('limits', 'memlock', 'RLIMIT_MEMLOCK', 'warn', `${limit}: this kernel charges BPF maps and programs to it, so large maps fail with EPERM`, 'ulimit -l unlimited (LimitMEMLOCK=infinity in a systemd unit)');

  // Attach kinds. Probing loads a program: it needs what loading that type needs.
  const have = features();
  const lacking = (programType: string) => missingCapabilities(programType === 'map' ? ['CAP_BPF'] : capabilitiesToLoad([programType]));
  const probeOf = (programType: string, result: () => boolean): boolean | string[] => {
    const missing = lacking(programType);
    return missing.length > 0 ? missing : result();
  };
  const notProbed = (missing: string[]) => `not probed: probing needs ${missing.join(' and ')}, which this process lacks`;
  const attach = (id: string, title: string, ok: boolean | string[], detail: string, fix: string) => {
    if (Array.isArray(ok)) add('attach', `attach.${id}`, title, 'warn', notProbed(ok), grant(ok));
    else if (ok) add('attach', `attach.${id}`, title, 'ok', detail);
    else add('attach', `attach.${id}`, title, 'warn', `missing: ${detail}`, fix);
  };
  const events = tracefs ? `${tracefs.mountPoint}/events` : undefined;
  let categories: string[] | undefined;
  try {
    categories = events ? fs.readdirSync(events, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name) : undefined;
  } catch {
    categories = undefined;
  }
  if (!tracefs) add('attach', 'attach.tracepoint', 'tracepoints', 'warn', 'cannot tell: tracefs is not mounted', 'mount -t tracefs tracefs /sys/kernel/tracing');
  else if (!categories) add('attach', 'attach.tracepoint', 'tracepoints', 'warn', `cannot tell: ${events} is not readable by this user`, `run as root, or mount -o remount,gid=GID ${tracefs.mountPoint}`);
  else if (categories.length === 0) add('attach', 'attach.tracepoint', 'tracepoints', 'warn', 'missing: tracefs has no events', 'a kernel with CONFIG_TRACEPOINTS=y');
  else if (!categories.includes('syscalls')) add('attach', 'attach.tracepoint', 'tracepoints', 'warn', `${categories.length} categories, but no syscalls/ (sys_enter_*, sys_exit_*)`, 'a kernel with CONFIG_FTRACE_SYSCALLS=y for the syscall tracepoints');
  else add('attach', 'attach.tracepoint', 'tracepoints', 'ok', `${categories.length} categories, syscalls/ among them`);
  attach('raw_tracepoint', 'raw tracepoints', probeOf('raw_tracepoint', () => probe.programType('raw_tracepoint')), 'raw_tracepoint and tp_btf programs', 'Linux 4.17 or later with CONFIG_BPF_EVENTS');
  attach('kprobe', 'kprobes', have.kprobes, 'kprobe, kretprobe and ksyscall programs', 'a kernel with CONFIG_KPROBES=y and CONFIG_KPROBE_EVENTS=y; meanwhile attach to a tracepoint (syscalls/sys_enter_*) instead');
  attach('kprobe_multi', 'kprobe.multi', have.kprobes && have.kprobeMulti, 'kprobe.multi links (many kernel functions, one link)', 'a kernel with CONFIG_KPROBES=y and CONFIG_FPROBE=y (Linux 5.18 or later); meanwhile attachKprobe() per function');
  attach('uprobe', 'uprobes', have.uprobes, 'uprobe, uretprobe and USDT programs', 'a kernel with CONFIG_UPROBES=y and CONFIG_UPROBE_EVENTS=y');
  attach('uprobe_multi', 'uprobe.multi', have.uprobeMulti, 'uprobe.multi links (many functions of a binary, one link)', 'Linux 6.6 or later with CONFIG_UPROBES=y; meanwhile attachUprobe() per function');
  attach('fentry', 'fentry/fexit', probeOf('tracing', () => have.fentry), 'fentry, fexit and fmod_ret programs (BPF trampolines, tried for real)', 'a kernel with CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS=y, CONFIG_FUNCTION_TRACER=y and CONFIG_BPF_JIT=y');
  attach('lsm', 'BPF LSM', have.bpfLsm, 'LSM programs ("bpf" is not among the active LSMs)', 'a kernel with CONFIG_BPF_LSM=y, booted with "bpf" in lsm= (e.g. lsm=...,bpf)');
  attach('tcx', 'tcx', have.tcx, 'tc programs through tcx links', 'Linux 6.6 or later (tcx links)');
  attach('xdp', 'XDP', probeOf('xdp', () => probe.programType('xdp')), 'XDP programs', 'a kernel with CONFIG_NET and CONFIG_BPF_SYSCALL');

  // Program and map types, as libbpf's probes find them.
  const probed = (group: CheckGroup, prefix: string, table: [string, string][], probeType: (t: string) => boolean) => {
    if (!canBpf) {
      // One line rather than one per type: nothing can be probed without CAP_BPF.
      add(group, `${prefix}.*`, `${prefix} types`, 'warn', notProbed(['CAP_BPF']), grant(['CAP_BPF']));
      return;
    }
    for (const [type, needs] of table) {
      const result = probeOf(prefix === 'map' ? 'map' : type, () => probeType(type));
      if (Array.isArray(result)) add(group, `${prefix}.${type}`, type, 'warn', notProbed(result), grant(result));
      else if (result) add(group, `${prefix}.${type}`, type, 'ok', 'supported');
      else add(group, `${prefix}.${type}`, type, type === 'socket_filter' || type === 'hash' ? 'fail' : 'warn', 'not supported by this kernel', `needs ${needs}`);
    }
  };
  probed('program types', 'program', PROGRAM_TYPES, probe.programType);
  probed('map types', 'map', MAP_TYPES, probe.mapType);

  const counts = { ok: 0, warn: 0, fail: 0 };
  for (const c of checks) counts[c.status]++;
  return { ok: counts.fail === 0, kernel: release, libbpf: libbpfVersion(), counts, checks };
}

const LABEL: Record<CheckStatus, string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL' };

/** preflight()'s report as `ebpf doctor` prints it: one line per check, grouped, each fix under its check. */
export function formatPreflight(report: PreflightReport): string {
  const width = Math.max(...report.checks.map((c) => c.title.length));
  const lines = [`ebpf doctor: Linux ${report.kernel}, libbpf ${report.libbpf}, Node ${process.version}`];
  let group: string | undefined;
  for (const c of report.checks) {
    if (c.group !== group) {
      group = c.group;
      lines.push('', `${group}:`);
    }
    lines.push(`  ${LABEL[c.status].padEnd(4)}  ${c.title.padEnd(width)}  ${c.detail}`);
    if (c.fix) lines.push(`  ${''.padEnd(4)}  ${''.padEnd(width)}  fix: ${c.fix}`);
  }
  const { ok, warn, fail } = report.counts;
  lines.push('', `${ok} ok, ${warn} warning${warn === 1 ? '' : 's'}, ${fail} failed${fail > 0 ? ': BPF programs cannot be loaded here until the failures are fixed' : ''}`);
  return `${lines.join('\n')}\n`;
}
