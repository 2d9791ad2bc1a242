import * as fs from 'node:fs';
import type { NativeLinkHandle, NativeProgramHandle } from '../typings/native';
import { BpfError, bpfError } from './errors';
import { features } from './features';
import { Link, LinkGroup } from './link';
import type { ObjectContext } from './resource';
import type { ProgramInfo } from './system';

const XDP_MODES: Record<string, number> = { skb: 2, driver: 4, hw: 8 };

/** The online CPUs, from /sys/devices/system/cpu/online ("0-3,6"). */
function onlineCpus(): number[] {
  const text = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  const cpus: number[] = [];
  for (const part of text.split(',')) {
    const [from, to] = part.split('-').map(Number);
    for (let c = from; c <= (to ?? from); c++) cpus.push(c);
  }
  return cpus;
}

/** Runs `attach`; a BpfError it throws gains the missing feature's name when there is one. */
export function withFeatureHint(attach: () => Link, hint: () => string | undefined): Link {
  try {
    return attach();
  } catch (e) {
    // Only the kernel's refusals: not a closed or unloaded object.
    if (!(e instanceof BpfError) || e.code === 'EBADF' || e.code === 'EBUSY') throw e;
    const why = hint();
    if (!why) throw e;
    const [first, ...rest] = e.message.split('\n');
    throw new BpfError([`${first}: ${why}`, ...rest].join('\n'), { errno: e.errno, code: e.code, operation: e.operation, libbpfLog: e.libbpfLog });
  }
}

/** An interface's index, from its name (in this process's network namespace) or the index itself. */
function interfaceIndex(iface: string | number): number {
  if (typeof iface === 'number') {
    if (!Number.isInteger(iface) || iface < 1) throw new TypeError(`interface index must be a positive integer, got ${iface}`);
    // The kernel says only EINVAL for an index that is not there (e.g. the interface went away).
    const known = fs.readdirSync('/sys/class/net').some((name) => {
      try {
        return Number(fs.readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim()) === iface;
      } catch {
        return false;
      }
    });
    if (!known) throw bpfError('attach', 'ENODEV', `no network interface with index ${iface} in this network namespace`);
    return iface;
  }
  try {
    return Number(fs.readFileSync(`/sys/class/net/${iface.replace(/\//g, '')}/ifindex`, 'utf8').trim());
  } catch {
    throw bpfError('attach', 'ENODEV', `no network interface '${iface}' in this network namespace`);
  }
}

export interface TestRunResult {
  /** The program's return value (e.g. XDP_PASS = 2). */
  retval: number;
  /** Mean duration of one run, in nanoseconds. */
  duration: number;
  /** The packet after the run (empty without `data`). */
  data: Buffer;
}

/** One BPF program of a BpfObject. */
export class Program {
  readonly #handle: NativeProgramHandle;
  readonly #owner: ObjectContext;
  /** The program's function name in the C source. */
  readonly name: string;

  /** @internal Programs come from BpfObject.programs / program(name). */
  constructor(handle: NativeProgramHandle, owner: ObjectContext) {
    this.#handle = handle;
    this.#owner = owner;
    this.name = handle.name;
  }

  /** Its ELF section, the SEC() of the C source, e.g. "tracepoint/syscalls/sys_enter_execve". */
  get section(): string {
    this.#owner.assertUsable('program.section');
    return this.#handle.section;
  }

  /** libbpf's name of its program type, e.g. "tracepoint", "xdp". */
  get type(): string {
    this.#owner.assertUsable('program.type');
    return this.#handle.type;
  }

  /** Its file descriptor once loaded. */
  get fd(): number {
    this.#owner.assertLoaded('program.fd');
    const fd = this.#handle.fd;
    if (fd < 0) throw bpfError('program.fd', 'EBADF', `program '${this.name}' was not loaded (its autoload is false)`);
    return fd;
  }

  /** Whether load() loads it (default true). Settable before load only. */
  get autoload(): boolean {
    this.#owner.assertUsable('program.autoload');
    return this.#handle.autoload;
  }

  set autoload(value: boolean) {
    this.#owner.assertNotLoaded('program.autoload', `autoload of program '${this.name}'`);
    if (typeof value !== 'boolean') throw new TypeError('autoload must be a boolean');
    this.#handle.autoload = value;
  }

  /**
   * The kernel's view of the loaded program: id, tag, JITed and translated sizes, and run
   * count and total run time (collected while `enableStats()` is in effect).
   */
  get info(): ProgramInfo {
    this.#owner.assertLoaded('program.info');
    return this.#handle.info();
  }

  /** Whether BpfObject.attach() attaches it (its SEC() says where, and it is loaded). */
  get autoattach(): boolean {
    this.#owner.assertUsable('program.autoattach');
    return this.#handle.autoattach;
  }

  /** Attaches where its SEC() says (e.g. SEC("tracepoint/syscalls/sys_enter_execve")). */
  attach(): Link {
    return this.#link('attach', () => this.#handle.attach(), `SEC("${this.section}")`);
  }

  /** Attaches a tracepoint program to /sys/kernel/tracing/events/<category>/<name>. */
  attachTracepoint(category: string, name: string): Link {
    return this.#link('attachTracepoint', () => this.#handle.attachTracepoint(category, name), `tracepoint ${category}/${name}`);
  }

  /** Attaches a raw tracepoint program to the raw tracepoint `name` (e.g. "sys_enter"). */
  attachRawTracepoint(name: string): Link {
    return this.#link('attachRawTracepoint', () => this.#handle.attachRawTracepoint(name), `raw_tracepoint ${name}`);
  }

  /**
   * Runs the program in the kernel without attaching it (BPF_PROG_TEST_RUN), on `data` as
   * its packet (XDP, tc, socket filters) and/or `ctx` as its context, `repeat` times.
   * Returns the last run's return value, the mean run time in ns, and the packet out.
   * Synchronous: a large `repeat` blocks the event loop for that long.
   */
  testRun(options: { data?: Uint8Array; ctx?: Uint8Array; repeat?: number } = {}): TestRunResult {
    this.#owner.assertLoaded('testRun');
    const repeat = options.repeat ?? 1;
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 0xffffffff) throw new TypeError(`repeat must be a positive integer, got ${repeat}`);
    return this.#handle.testRun(options.data, repeat, options.ctx);
  }

  /**
   * Attaches an XDP program to a network interface (name or index, in this process's
   * network namespace). `mode`: 'skb' (generic), 'driver' (native), 'hw' (offload), or the
   * best the driver has when omitted.
   */
  attachXdp(iface: string | number, options: { mode?: 'skb' | 'driver' | 'hw' } = {}): Link {
    const ifindex = interfaceIndex(iface);
    const flags = options.mode === undefined ? 0 : XDP_MODES[options.mode];
    if (flags === undefined) throw new TypeError(`mode must be 'skb', 'driver' or 'hw', got ${String(options.mode)}`);
    return this.#link('attachXdp', () => this.#handle.attachXdp(ifindex, flags), `xdp ${iface}${options.mode ? ` (${options.mode})` : ''}`);
  }

  /** Attaches a tc program (SEC("tc")) to an interface's ingress or egress, through a tcx link. */
  attachTc(iface: string | number, options: { direction?: 'ingress' | 'egress' } = {}): Link {
    const ifindex = interfaceIndex(iface);
    const direction = options.direction ?? 'ingress';
    if (direction !== 'ingress' && direction !== 'egress') throw new TypeError(`direction must be 'ingress' or 'egress', got ${String(direction)}`);
    return this.#link('attachTc', () => this.#handle.attachTcx(ifindex, direction === 'egress'), `tcx ${direction} ${iface}`);
  }

  /**
   * Attaches a uprobe (or, with `retprobe`, a uretprobe) to a function of a binary or
   * shared library, by symbol name or file offset; `pid` limits it to one process.
   */
  attachUprobe(options: { binary: string; symbol?: string; offset?: number; pid?: number; retprobe?: boolean; cookie?: bigint }): Link {
    const { binary, symbol, offset = 0, pid = -1, retprobe = false, cookie = 0n } = options;
    if (typeof binary !== 'string' || !binary) throw new TypeError('attachUprobe needs the binary');
    if (symbol === undefined && !offset) throw new TypeError('attachUprobe needs a symbol or an offset');
    const what = `${retprobe ? 'uretprobe' : 'uprobe'} ${binary}:${symbol ?? `0x${offset.toString(16)}`}`;
    return this.#link('attachUprobe', () => this.#handle.attachUprobe(binary, symbol, offset, pid, retprobe, cookie), what);
  }

  /** Attaches an iterator program (SEC("iter/...")); `await link.read()` runs it once. */
  attachIter(): Link {
    return this.#link('attachIter', () => this.#handle.attachIter(), 'iterator');
  }

  /** Attaches a cgroup program (cgroup_skb, sock, ...) to the cgroup v2 directory at `path`. */
  attachCgroup(path: string): Link {
    return this.#link('attachCgroup', () => this.#handle.attachCgroup(path), `cgroup ${path}`);
  }

  /** Attaches a kprobe (or kretprobe) to a kernel function. Kernels without CONFIG_KPROBES say so. */
  attachKprobe(func: string, options: { retprobe?: boolean; offset?: number; cookie?: bigint } = {}): Link {
    const { retprobe = false, offset = 0, cookie = 0n } = options;
    return this.#link('attachKprobe', () => this.#handle.attachKprobe(func, retprobe, offset, cookie), `${retprobe ? 'kretprobe' : 'kprobe'} ${func}`);
  }

  /** Attaches a kprobe to a syscall by its name ("clone"), whatever the kernel's prefix for it. */
  attachKsyscall(name: string, options: { retprobe?: boolean } = {}): Link {
    const retprobe = options.retprobe ?? false;
    return this.#link('attachKsyscall', () => this.#handle.attachKsyscall(name, retprobe), `${retprobe ? 'kretsyscall' : 'ksyscall'} ${name}`);
  }

  /** Attaches fentry / fexit / fmod_ret / tp_btf programs to the target their SEC() names. */
  attachTrace(): Link {
    return withFeatureHint(
      () => this.#link('attachTrace', () => this.#handle.attachTrace(), `trace SEC("${this.section}")`),
      () => (features().fentry ? undefined : 'this kernel has no BPF trampolines (fentry/fexit need CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS)'),
    );
  }

  /** Attaches an LSM program (SEC("lsm/...")) to its hook; needs "bpf" in the active LSMs. */
  attachLsm(): Link {
    return withFeatureHint(
      () => this.#link('attachLsm', () => this.#handle.attachLsm(), `lsm SEC("${this.section}")`),
      () => (features().bpfLsm ? undefined : '"bpf" is not among the active LSMs (CONFIG_BPF_LSM, and boot with lsm=...,bpf)'),
    );
  }

  /**
   * Attaches a perf_event program to a perf event: `type` and `config` as perf_event_open
   * takes them (e.g. PERF_TYPE_SOFTWARE = 1, PERF_COUNT_SW_CPU_CLOCK = 0), sampled every
   * `samplePeriod` events or `sampleFreq` times a second, for `pid` (-1: all) on `cpu`.
   */
  attachPerfEvent(options: { type: number; config: number; samplePeriod?: number; sampleFreq?: number; pid?: number; cpu: number }): Link {
    const { type, config, samplePeriod = 0, sampleFreq = 0, pid = -1, cpu } = options;
    if (!samplePeriod === !sampleFreq) throw new TypeError('attachPerfEvent takes one of samplePeriod and sampleFreq');
    return this.#link('attachPerfEvent', () => this.#handle.attachPerfEvent(type, config, samplePeriod, sampleFreq, pid, cpu), `perf event ${type}:${config} cpu ${cpu}`);
  }

  /** attachPerfEvent on every online CPU (a profiler's set-up), as one group of links. */
  attachPerfEventAllCpus(options: { type: number; config: number; samplePeriod?: number; sampleFreq?: number; pid?: number }): LinkGroup {
    const links: Link[] = [];
    try {
      for (const cpu of onlineCpus()) links.push(this.attachPerfEvent({ ...options, cpu }));
    } catch (e) {
      for (const link of links) link.close();
      throw e;
    }
    return LinkGroup.of(links);
  }

  #link(operation: string, attach: () => NativeLinkHandle, target: string): Link {
    this.#owner.assertLoaded(operation);
    return new Link(attach(), this.#owner, this.name, target);
  }

  toString(): string {
    return `Program(${this.name})`;
  }
}
