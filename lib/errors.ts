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

/** Which of `needed` the calling process lacks in its effective set (Linux /proc). */
export function missingCapabilities(needed: readonly string[]): string[] {
  let effective: bigint;
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    if (!line) return [];
    effective = BigInt(`0x${line[1]}`);
  } catch {
    return [];
  }
  const hasSysAdmin = (effective & (1n << BigInt(CAPABILITIES.CAP_SYS_ADMIN))) !== 0n;
  return needed.filter((cap) => {
    const bit = CAPABILITIES[cap];
    if (bit === undefined) return false;
    if ((effective & (1n << BigInt(bit))) !== 0n) return false;
    // CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON.
    return !(hasSysAdmin && (cap === 'CAP_BPF' || cap === 'CAP_PERFMON'));
  });
}

// Program types (libbpf's names) whose loading needs more than CAP_BPF.
const TRACING_TYPES = new Set(['kprobe', 'tracepoint', 'perf_event', 'raw_tracepoint', 'raw_tracepoint_writable', 'tracing', 'lsm', 'syscall']);
const NETWORKING_TYPES = new Set(['xdp', 'sched_cls', 'sched_act', 'lwt_in', 'lwt_out', 'lwt_xmit', 'lwt_seg6local', 'sk_skb', 'sk_msg', 'sk_lookup', 'sk_reuseport', 'flow_dissector', 'netfilter']);

/** The capabilities loading programs of these types needs (CAP_SYS_ADMIN stands for all). */
export function capabilitiesToLoad(programTypes: Iterable<string>): string[] {
  const needed = new Set(['CAP_BPF']);
  for (const type of programTypes) {
    if (TRACING_TYPES.has(type)) needed.add('CAP_PERFMON');
    if (NETWORKING_TYPES.has(type)) needed.add('CAP_NET_ADMIN');
  }
  return [...needed];
}

function permissionHint(operation: string, needed: readonly string[]): string {
  const missing = missingCapabilities(needed);
  const what =
    operation === 'load'
      ? 'loading this object'
      : operation.startsWith('attach')
        ? 'attaching tracing programs'
        : needed.includes('CAP_SYS_ADMIN')
          ? 'listing the system\'s BPF objects or opening them by id'
          : 'this';
  const why = `${what} needs ${needed.join(' and ')}${needed.includes('CAP_SYS_ADMIN') ? '' : ' (or CAP_SYS_ADMIN)'}`;
  if (missing.length > 0) return `missing ${missing.join(', ')}: ${why}`;
  return `${why}; this process has them, so a kernel policy refused it (lockdown, an LSM, or kernel.unprivileged_bpf_disabled)`;
}

function tracefsPermissionHint(info: NativeErrorInfo): string | undefined {
  const denied = /failed to open '(\/sys\/kernel\/(?:debug\/)?tracing\/[^']*)': Permission denied/.exec(info.libbpf);
  if (!denied) return undefined;
  return `cannot read ${denied[1]}: tracefs is readable by root only unless mounted with a group (mount -o remount,gid=GID /sys/kernel/tracing)`;
}

export const TRACEFS_PATHS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

export function tracefsMounted(): boolean {
  return TRACEFS_PATHS.some((p) => fs.existsSync(`${p}/events`));
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
  if (!/SEC\("k(?:ret)?(?:probe|syscall)|kprobe/.test(info.detail) || kernelHasKprobes()) return undefined;
  return 'this kernel has no kprobes (CONFIG_KPROBES is not set): attach to a tracepoint instead';
}

/** Builds the error for a native failure: the native layer calls this (see binding.ts). */
export function errorFromNative(info: NativeErrorInfo, needed?: readonly string[]): BpfError {
  const error = buildError(info, needed ?? (info.operation.startsWith('attach') ? ['CAP_BPF', 'CAP_PERFMON'] : ['CAP_BPF']));
  nativeInfo.set(error, info);
  return error;
}

function buildError(info: NativeErrorInfo, needed: readonly string[]): BpfError {
  const code = info.code || errnoNames.get(info.errno) || `E${info.errno}`;
  let message = `${info.operation}: ${info.description}`;
  if (info.detail) message += ` (${info.detail})`;
  if ((info.errno === osConstants.errno.EPERM || info.errno === osConstants.errno.EACCES) && !info.verifierLog) {
    if (info.operation.startsWith('map.')) {
      // The fd is the permission for map operations: a refusal is about the map itself.
      message += ': the map is read-only to user space (frozen, or created with BPF_F_RDONLY)';
    } else {
      message += `: ${tracefsPermissionHint(info) ?? permissionHint(info.operation, needed)}`;
    }
  }
  const hint = kprobeHint(info) ?? tracepointHint(info);
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
