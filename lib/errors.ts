import { constants as osConstants } from 'node:os';
import * as fs from 'node:fs';
import type { NativeErrorInfo } from '../typings/native';

/** Every failure of libbpf or the kernel, and every misuse of a closed or busy resource. */
export class BpfError extends Error {
  /** Positive errno, e.g. 1 for EPERM. */
  readonly errno: number;
  /** The system's name for errno, e.g. "EPERM". */
  readonly code: string;
  /** What failed, e.g. "load", "attachTracepoint", "map.update". */
  readonly operation: string;
  /** libbpf's own messages for this operation (the last lines), when it printed any. */
  readonly libbpfLog: string;

  constructor(message: string, fields: { errno: number; code: string; operation: string; libbpfLog?: string }) {
    super(message);
    this.name = 'BpfError';
    this.errno = fields.errno;
    this.code = fields.code;
    this.operation = fields.operation;
    this.libbpfLog = fields.libbpfLog ?? '';
  }
}

/** The verifier rejected a program; `log` is its full log. */
export class VerifierError extends BpfError {
  /** The verifier's log for the rejected program. */
  readonly log: string;
  /** The rejected program's name, when libbpf said which. */
  readonly program: string | undefined;

  constructor(
    message: string,
    fields: { errno: number; code: string; operation: string; libbpfLog?: string; log: string; program?: string },
  ) {
    super(message, fields);
    this.name = 'VerifierError';
    this.log = fields.log;
    this.program = fields.program;
  }
}

/** One diagnostic of clang's: where, how bad, what, and the source line it points at. */
export interface CompileDiagnostic {
  /** The file clang names: the inline source's file name (e.g. "inline.bpf.c") or a header's path. */
  file: string;
  line: number;
  column: number;
  severity: 'error' | 'warning' | 'note';
  message: string;
  /** The text of that line, when the file could be read. */
  sourceLine?: string;
}

/** clang refused C source given to BpfObject.compile() or `bpf\`...\``; `diagnostics` says where and why. */
export class CompileError extends BpfError {
  /** clang's diagnostics, in its order (errors, and the warnings and notes around them). */
  readonly diagnostics: CompileDiagnostic[];
  /** clang's whole standard error. */
  readonly output: string;

  constructor(
    message: string,
    fields: { errno: number; code: string; operation: string; diagnostics: CompileDiagnostic[]; output: string },
  ) {
    super(message, fields);
    this.name = 'CompileError';
    this.diagnostics = fields.diagnostics;
    this.output = fields.output;
  }
}

/** The verifier's reason: the last lines of its log, without its closing statistics. */
function verifierReason(log: string): string {
  const lines = log
    .trimEnd()
    .split('\n')
    .filter((l) => l && !/^(processed \d+ insns|verification time|stack depth|peak_states)/.test(l));
  return lines.slice(-2).join('\n  ');
}

const errnoNames = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

/** A BpfError raised by the TypeScript layer itself (closed objects, unknown names...). */
export function bpfError(operation: string, code: keyof typeof osConstants.errno, message: string): BpfError {
  return new BpfError(`${operation}: ${message}`, { errno: osConstants.errno[code], code, operation });
}

// Capability numbers from linux/capability.h.
const CAPABILITIES: Record<string, number> = {
  CAP_NET_ADMIN: 12,
  CAP_SYS_ADMIN: 21,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
};

/** The calling process's effective capability set (CapEff of /proc/self/status), if readable. */
export function effectiveCapabilities(): bigint | undefined {
  try {
    const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return line ? BigInt(`0x${line[1]}`) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the effective set `effective` holds `cap` (one of CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN). */
export function hasCapability(effective: bigint, cap: string): boolean {
  const bit = CAPABILITIES[cap];
  return bit !== undefined && (effective & (1n << BigInt(bit))) !== 0n;
}

/**
 * Whether this process is in a user namespace other than the initial one: there its
 * capabilities hold only for what the namespace owns, and the kernel does not count them
 * for BPF, perf events or tracefs (a BPF token can delegate BPF to it).
 */
export function inUserNamespace(): boolean {
  try {
    const map = fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    return map.join(' ') !== '0 0 4294967295';
  } catch {
    return false;
  }
}

/** Which of `needed` the calling process lacks in its effective set (Linux /proc). */
export function missingCapabilities(needed: readonly string[]): string[] {
  if (inUserNamespace()) return needed.filter((cap) => cap in CAPABILITIES);
  const effective = effectiveCapabilities();
  if (effective === undefined) return [];
  const hasSysAdmin = hasCapability(effective, 'CAP_SYS_ADMIN');
  return needed.filter((cap) => {
    if (CAPABILITIES[cap] === undefined || hasCapability(effective, cap)) return false;
    // CAP_SYS_ADMIN stands in for CAP_BPF, CAP_PERFMON and (for BPF) CAP_NET_ADMIN.
    return !hasSysAdmin;
  });
}

// Program types (libbpf's names) whose loading needs more than CAP_BPF, as the kernel's
// bpf_prog_load() decides (is_perfmon_prog_type / is_net_admin_prog_type).
const TRACING_TYPES = new Set(['kprobe', 'tracepoint', 'perf_event', 'raw_tracepoint', 'raw_tracepoint_writable', 'tracing', 'lsm', 'struct_ops', 'ext']);
const NETWORKING_TYPES = new Set([
  'xdp', 'sched_cls', 'sched_act', 'lwt_in', 'lwt_out', 'lwt_xmit', 'lwt_seg6local', 'sk_skb', 'sk_msg', 'lirc_mode2', 'flow_dissector',
  'cgroup_device', 'cgroup_sock', 'cgroup_sock_addr', 'cgroup_sockopt', 'cgroup_sysctl', 'sock_ops', 'ext', 'netfilter',
]);

/** The capabilities loading programs of these types needs (CAP_SYS_ADMIN stands for all). */
export function capabilitiesToLoad(programTypes: Iterable<string>): string[] {
  const needed = new Set(['CAP_BPF']);
  for (const type of programTypes) {
    if (TRACING_TYPES.has(type)) needed.add('CAP_PERFMON');
    if (NETWORKING_TYPES.has(type)) needed.add('CAP_NET_ADMIN');
  }
  return [...needed];
}

// Attachments the kernel guards with CAP_NET_ADMIN (network devices, netlink, sockets,
// netns, netfilter, cgroups) rather than
// CAP_PERFMON (perf events, tracepoints, probes).
const NETWORK_ATTACHES = new Set(['attachXdp', 'attachTc', 'attachCgroup', 'attachSocketFilter', 'attachSkLookup', 'attachNetfilter']);
const CGROUP_OR_NETWORK_TYPES = /^(xdp|sched_cls|sched_act|cgroup_.*|sock_ops|sk_lookup|flow_dissector|netfilter)$/;

/**
 * The capabilities an operation needs when the kernel refuses it: `attach` (by SEC())
 * depends on the program's type.
 */
export function capabilitiesFor(operation: string, programType?: string): string[] {
  if (NETWORK_ATTACHES.has(operation) || (operation === 'attach' && programType && CGROUP_OR_NETWORK_TYPES.test(programType))) {
    return ['CAP_NET_ADMIN'];
  }
  if (operation.startsWith('attach')) return ['CAP_BPF', 'CAP_PERFMON'];
  // Reading a perf event array opens a system-wide perf event on every CPU.
  if (operation === 'perfBuffer') return ['CAP_PERFMON'];
  return ['CAP_BPF'];
}

function permissionHint(operation: string, needed: readonly string[]): string {
  const missing = missingCapabilities(needed);
  // CAP_SYS_ADMIN itself: the system-wide views (listing objects, opening them by id).
  const listing = needed.includes('CAP_SYS_ADMIN');
  const what =
    operation === 'load'
      ? 'loading this object'
      : operation === 'attach'
        ? 'attaching this program'
        : listing && !operation.startsWith('attach')
          ? "listing the system's BPF objects or opening them by id"
          : operation;
  let why = `${what} needs ${needed.join(' and ')}${listing ? '' : ' (or CAP_SYS_ADMIN)'}`;
  if (operation === 'perfBuffer') why += ', or kernel.perf_event_paranoid at 0 or below';
  if (missing.length > 0) {
    let userns = '';
    if (inUserNamespace()) {
      userns = operation === 'perfBuffer'
        ? ' (capabilities in a user namespace do not count for perf events)'
        : ' (in a user namespace, capabilities count only through a BPF token: OpenOptions.tokenPath)';
    }
    return `missing ${missing.join(', ')}: ${why}${userns}`;
  }
  return `${why}; this process has them, so a kernel policy refused it (lockdown, an LSM, or kernel.unprivileged_bpf_disabled)`;
}

/**
 * A BpfError saying which capabilities `operation` lacks, or undefined when the process has
 * them (or the kernel lets unprivileged users do it: kernel.unprivileged_bpf_disabled = 0).
 */
export function privilegeError(operation: string, needed: readonly string[]): BpfError | undefined {
  const required = unprivilegedBpfAllowed() ? needed.filter((c) => c !== 'CAP_BPF') : needed;
  if (missingCapabilities(required).length === 0) return undefined;
  return bpfError(operation, 'EPERM', permissionHint(operation, needed));
}

function unprivilegedBpfAllowed(): boolean {
  try {
    return fs.readFileSync('/proc/sys/kernel/unprivileged_bpf_disabled', 'utf8').trim() === '0';
  } catch {
    return false;
  }
}

// Pins are files in bpffs: a refusal there is the file's or the directory's mode.
const PIN_OPERATIONS = new Set(['map.pin', 'map.unpin', 'link.pin', 'link.unpin', 'openPinned']);

function pinPermissionHint(operation: string): string {
  const access = operation === 'openPinned' ? 'read (and, to update, write) permission on the pin' : 'write permission on the directory of the pin';
  return `bpffs pins are files: this user needs ${access}; no BPF capability grants that (only file ownership, mode, or CAP_DAC_OVERRIDE)`;
}

/** How to let a non-root user read tracefs (it is mounted mode 700, root only, by default). */
export const TRACEFS_ACCESS_HINT =
  'tracefs is readable by root only unless mounted for a group (mount -o remount,gid=GID,mode=750 /sys/kernel/tracing)';

function tracefsPermissionHint(info: NativeErrorInfo): string | undefined {
  const denied = /failed to open '(\/sys\/kernel\/(?:debug\/)?tracing\/[^']*)': Permission denied/.exec(info.libbpf);
  if (!denied) return undefined;
  return `cannot read ${denied[1]}: ${TRACEFS_ACCESS_HINT}`;
}

export const TRACEFS_PATHS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** Where tracefs is mounted, even where this user cannot look inside it (/proc/self/mountinfo). */
export function tracefsRoot(): string | undefined {
  const seen = TRACEFS_PATHS.find((p) => fs.existsSync(`${p}/events`));
  if (seen) return seen;
  try {
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
    // "36 25 0:13 / /sys/kernel/tracing rw,relatime - tracefs tracefs rw"
    return TRACEFS_PATHS.find((p) => mounts.some((line) => line.split(' ')[4] === p && / - tracefs /.test(line)));
  } catch {
    return undefined;
  }
}

export function tracefsMounted(): boolean {
  return tracefsRoot() !== undefined;
}

function tracepointHint(info: NativeErrorInfo): string | undefined {
  if (info.errno !== osConstants.errno.ENOENT) return undefined;
  const tracepoint = /tracepoint ([^ /]+)\/(\S+)/.exec(info.detail) ?? /SEC\("(?:tp|tracepoint)\/([^/]+)\/([^"]+)"\)/.exec(info.detail);
  if (!tracepoint && !info.operation.startsWith('attachTracepoint')) return undefined;
  if (!tracefsMounted()) {
    return 'tracefs is not mounted: mount it with "mount -t tracefs tracefs /sys/kernel/tracing"';
  }
  if (tracepoint) return `the kernel has no tracepoint ${tracepoint[1]}/${tracepoint[2]} (see /sys/kernel/tracing/events)`;
  return undefined;
}

function tokenHint(info: NativeErrorInfo): string | undefined {
  const failed = /failed \(-\d+\) to create BPF token from '([^']*)'/.exec(info.libbpf);
  if (!failed) return undefined;
  const why =
    info.errno === osConstants.errno.EOPNOTSUPP
      ? 'a bpffs owned by the initial user namespace makes no tokens'
      : info.errno === osConstants.errno.EINVAL
        ? 'it is not a bpffs mount'
        : 'the kernel refused (BPF tokens need Linux 6.9 or later)';
  return `no BPF token from ${failed[1]}: ${why}; tokenPath must be a bpffs mounted for this user namespace with delegate_cmds, delegate_maps, delegate_progs and delegate_attachs (tokenPath: '' loads without a token)`;
}

const nativeInfo = new WeakMap<BpfError, NativeErrorInfo>();

/** The same error, its permission hint computed for the capabilities the operation needs. */
export function withCapabilities(error: unknown, needed: readonly string[]): unknown {
  const info = error instanceof BpfError ? nativeInfo.get(error) : undefined;
  return info ? errorFromNative(info, needed) : error;
}

/** Whether this kernel can make kprobes (the kprobe PMU, or legacy kprobe_events in tracefs). */
export function kernelHasKprobes(): boolean {
  return fs.existsSync('/sys/bus/event_source/devices/kprobe') || TRACEFS_PATHS.some((p) => fs.existsSync(`${p}/kprobe_events`));
}

function kprobeHint(info: NativeErrorInfo): string | undefined {
  if (info.errno !== osConstants.errno.ENOENT && info.errno !== osConstants.errno.EOPNOTSUPP) return undefined;
  if (!/\bk(?:ret)?(?:probe|syscall)/.test(info.detail) || kernelHasKprobes()) return undefined;
  return 'this kernel has no kprobes (CONFIG_KPROBES is not set): attach to a tracepoint instead';
}

/** Builds the error for a native failure: the native layer calls this (see binding.ts). */
export function errorFromNative(info: NativeErrorInfo, needed?: readonly string[]): BpfError {
  const error = buildError(info, needed ?? capabilitiesFor(info.operation));
  nativeInfo.set(error, info);
  return error;
}

function buildError(info: NativeErrorInfo, needed: readonly string[]): BpfError {
  const code = info.code || errnoNames.get(info.errno) || `E${info.errno}`;
  let message = `${info.operation}: ${info.description}`;
  if (info.detail) message += ` (${info.detail})`;
  if ((info.errno === osConstants.errno.EPERM || info.errno === osConstants.errno.EACCES) && !info.verifierLog) {
    if (PIN_OPERATIONS.has(info.operation)) {
      message += `: ${pinPermissionHint(info.operation)}`;
    } else if (info.operation.startsWith('map.')) {
      // The fd is the permission for map operations: a refusal is about the map itself.
      message += ': the map is read-only to user space (frozen, or created with BPF_F_RDONLY)';
    } else {
      message += `: ${tracefsPermissionHint(info) ?? permissionHint(info.operation, needed)}`;
    }
  }
  const hint = tokenHint(info) ?? kprobeHint(info) ?? tracepointHint(info);
  if (hint) message += `: ${hint}`;
  if (info.verifierLog) {
    const program = /prog '([^']+)': BPF program load failed/.exec(info.libbpf)?.[1];
    message += `: the verifier rejected ${program ? `program '${program}'` : 'a program'}:\n  ${verifierReason(info.verifierLog)}`;
    return new VerifierError(message, {
      program,
      errno: info.errno,
      code,
      operation: info.operation,
      libbpfLog: info.libbpf,
      log: info.verifierLog,
    });
  }
  if (info.libbpf) message += `\n  libbpf: ${info.libbpf.split('\n').join('\n  libbpf: ')}`;
  return new BpfError(message, { errno: info.errno, code, operation: info.operation, libbpfLog: info.libbpf });
}
