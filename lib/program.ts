import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import type { Socket as NetSocket } from 'node:net';
import type { NativeLinkHandle, NativeProgramHandle } from '../typings/native';
import { BpfError, bpfError, capabilitiesFor, withCapabilities } from './errors';
import { features, probe } from './features';
import { Link, LinkGroup } from './link';
import { native } from './binding';
import type { ObjectContext } from './resource';
import type { ProgramInfo } from './system';

const XDP_MODES: Record<string, number> = { skb: 2, driver: 4, hw: 8 };
const CGROUP2_SUPER_MAGIC = 0x63677270;

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
function interfaceIndex(operation: string, iface: string | number): number {
  if (typeof iface === 'number') {
    if (!Number.isInteger(iface) || iface < 1 || iface > 0xffffffff) throw new TypeError(`interface index must be a positive integer, got ${iface}`);
  } else if (typeof iface !== 'string' || !iface) {
    throw new TypeError(`interface must be a name or an index, got ${String(iface)}`);
  }
  // Asked of the kernel for this network namespace: it says only EINVAL for an index that
  // is not there (e.g. the interface went away).
  const index = native.interfaceIndex(iface);
  if (index === 0) {
    const which = typeof iface === 'number' ? `with index ${iface}` : `'${iface}'`;
    throw bpfError(operation, 'ENODEV', `no network interface ${which} in this network namespace`);
  }
  return index;
}

/** "a, b and 3 more": a list of attach targets, briefly. */
function describeList(items: readonly string[] | undefined): string {
  if (!items || items.length === 0) return '(none)';
  return items.length === 1 ? items[0] : `${items[0]} and ${items.length - 1} more`;
}

/** A socket's file descriptor: the number itself, or the fd under a Node socket. */
function socketFd(socket: number | dgram.Socket | NetSocket): number {
  if (typeof socket === 'number') {
    if (!Number.isInteger(socket) || socket < 0) throw new TypeError(`socket must be a file descriptor (a non-negative integer) or a Node socket, got ${socket}`);
    return socket;
  }
  if (socket === null || typeof socket !== 'object') throw new TypeError(`socket must be a file descriptor or a Node socket, got ${String(socket)}`);
  // Node keeps the fd on the socket's libuv handle (-1 before a dgram socket is bound): a
  // net.Socket's _handle, a dgram.Socket's internal state (its _handle getter is deprecated).
  type Handle = { fd?: unknown } | null | undefined;
  let handle: Handle;
  if (socket instanceof dgram.Socket) {
    const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
    handle = state && (socket as unknown as Record<symbol, { handle?: Handle }>)[state].handle;
  } else {
    handle = (socket as unknown as { _handle?: Handle })._handle;
  }
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new TypeError('socket has no file descriptor: it is closed, or not bound or connected yet');
  return fd;
}

/** Why netfilter programs cannot load or attach on a kernel without them. */
export const NO_NETFILTER_LINKS = 'this kernel has no BPF netfilter hooks (Linux 6.4 and later, built with CONFIG_NETFILTER_BPF_LINK)';

/** Where attachNetfilter() hooks in. */
export interface NetfilterOptions {
  /** Which packets: IPv4 (NFPROTO_IPV4) or IPv6 (NFPROTO_IPV6). */
  protocolFamily: 'ipv4' | 'ipv6';
  /** The netfilter hook: NF_INET_PRE_ROUTING, LOCAL_IN, FORWARD, LOCAL_OUT, POST_ROUTING. */
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  /** Order among the hook's functions (lower runs first; conntrack is at -200, the default nftables filter at 0). */
  priority: number;
  /** Have the kernel defragment IP packets before the program sees them (Linux 6.6 and later). */
  defrag?: boolean;
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
    try {
      return this.#link('attach', () => this.#handle.attach(), `SEC("${this.section}")`);
    } catch (e) {
      // What a refusal lacks depends on the kind of hook: say it for this program's type.
      throw withCapabilities(e, capabilitiesFor('attach', this.type));
    }
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
   * Synchronous: a large `repeat` blocks the event loop for that long. Signals sent to
   * the thread meanwhile wait until the runs are over (the kernel would end them early
   * with EINTR, some runs made and some not).
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
   *
   * Without `replace`, the program is attached through a BPF link, which fails when the
   * interface already has an XDP program in that mode. With `replace: true`, it is set
   * through netlink instead, atomically replacing the program attached there now (one that
   * `ip link set dev X xdp ...` or another tool attached through netlink; a program held
   * by a BPF link can only be replaced by its owner, with `link.update()`), or attaching
   * when there is none. Closing that Link detaches our program if it is still the one
   * attached (the replaced program is not restored). Like every netlink attachment, it
   * outlives a process killed before it could close it.
   */
  attachXdp(iface: string | number, options: { mode?: 'skb' | 'driver' | 'hw'; replace?: boolean } = {}): Link {
    const ifindex = interfaceIndex('attachXdp', iface);
    const flags = options.mode === undefined ? 0 : XDP_MODES[options.mode];
    if (flags === undefined) throw new TypeError(`mode must be 'skb', 'driver' or 'hw', got ${String(options.mode)}`);
    if (options.replace !== undefined && typeof options.replace !== 'boolean') throw new TypeError(`replace must be a boolean, got ${String(options.replace)}`);
    this.#requireType('attachXdp', ['xdp'], 'XDP');
    const target = `xdp ${iface}${options.mode ? ` (${options.mode})` : ''}`;
    if (options.replace) return this.#link('attachXdp', () => this.#handle.attachXdpReplace(ifindex, flags), `${target} through netlink`);
    return this.#link('attachXdp', () => this.#handle.attachXdp(ifindex, flags), target);
  }

  /**
   * Attaches a tc program (SEC("tc")) to an interface's ingress or egress. `api`: 'tcx'
   * (a tcx link, Linux 6.6 and later) or 'clsact' (a direct-action filter on the
   * interface's clsact qdisc, made when missing). By default tcx where the kernel has it,
   * else clsact; a `priority` (1 to 65535, the filter's preference) asks for clsact, since
   * tcx has none. Closing a clsact Link removes its filter, and the qdisc when this
   * process made it and no other of its filters is on it.
   */
  attachTc(iface: string | number, options: { direction?: 'ingress' | 'egress'; priority?: number; api?: 'tcx' | 'clsact' } = {}): Link {
    const ifindex = interfaceIndex('attachTc', iface);
    const direction = options.direction ?? 'ingress';
    if (direction !== 'ingress' && direction !== 'egress') throw new TypeError(`direction must be 'ingress' or 'egress', got ${String(direction)}`);
    const { priority } = options;
    if (priority !== undefined && (!Number.isInteger(priority) || priority < 1 || priority > 0xffff)) {
      throw new TypeError(`priority must be an integer from 1 to 65535, got ${priority}`);
    }
    const api = options.api ?? (priority !== undefined || !features().tcx ? 'clsact' : 'tcx');
    if (api !== 'tcx' && api !== 'clsact') throw new TypeError(`api must be 'tcx' or 'clsact', got ${String(api)}`);
    if (api === 'tcx' && priority !== undefined) throw new TypeError('priority is for the clsact API: tcx links have no priorities (they run in the order they were attached)');
    this.#requireType('attachTc', ['sched_cls'], 'tc');
    if (api === 'clsact') {
      const target = `tc clsact ${direction} ${iface}${priority ? ` priority ${priority}` : ''}`;
      return this.#link('attachTc', () => this.#handle.attachTcClsact(ifindex, direction === 'egress', priority ?? 0), target);
    }
    return withFeatureHint(
      () => this.#link('attachTc', () => this.#handle.attachTcx(ifindex, direction === 'egress'), `tcx ${direction} ${iface}`),
      () => (features().tcx ? undefined : "this kernel has no tcx links (Linux 6.6 and later): use api: 'clsact'"),
    );
  }

  /**
   * Attaches a socket filter program (SEC("socket")) to a socket of this process
   * (SO_ATTACH_BPF): its return value is how many bytes of each packet the socket keeps (0
   * drops it). `socket` is an fd, or a Node socket (dgram.Socket once bound, net.Socket once
   * connected). A socket has one filter: attaching replaces the one it had, and closing the
   * Link detaches the socket's filter (SO_DETACH_BPF) if the socket is still open — a closed
   * socket takes its filter with it. The Link has no fd and cannot be pinned.
   */
  attachSocketFilter(socket: number | dgram.Socket | NetSocket): Link {
    const fd = socketFd(socket);
    this.#requireType('attachSocketFilter', ['socket_filter'], 'SO_ATTACH_BPF');
    return this.#link('attachSocketFilter', () => this.#handle.attachSocketFilter(fd), `socket fd ${fd}`);
  }

  /**
   * Attaches an sk_lookup program (SEC("sk_lookup")) to a network namespace, given by a
   * path to it: /proc/PID/ns/net, /var/run/netns/NAME (`ip netns`), or this process's own
   * (the default). The program then picks the socket for every TCP connection and UDP
   * packet that namespace receives, before the kernel's own lookup.
   */
  attachSkLookup(netnsPath = '/proc/self/ns/net'): Link {
    if (typeof netnsPath !== 'string' || !netnsPath) throw new TypeError('netnsPath must be the path of a network namespace');
    this.#requireType('attachSkLookup', ['sk_lookup'], 'sk_lookup');
    return this.#link('attachSkLookup', () => this.#handle.attachSkLookup(netnsPath), `sk_lookup ${netnsPath}`);
  }

  /**
   * Attaches a netfilter program (SEC("netfilter"), returning NF_ACCEPT or NF_DROP) to a
   * netfilter hook of this process's network namespace. Needs Linux 6.4 and later, built
   * with CONFIG_NETFILTER_BPF_LINK.
   */
  attachNetfilter(options: NetfilterOptions): Link {
    if (options === null || typeof options !== 'object') throw new TypeError('attachNetfilter takes { protocolFamily, hook, priority, defrag }');
    const { protocolFamily, hook, priority, defrag = false } = options;
    if (!Number.isInteger(priority) || priority < -0x80000000 || priority > 0x7fffffff) throw new TypeError(`priority must be a 32-bit integer, got ${String(priority)}`);
    this.#requireType('attachNetfilter', ['netfilter'], 'a netfilter hook');
    return withFeatureHint(
      () => this.#link('attachNetfilter', () => this.#handle.attachNetfilter(protocolFamily, hook, priority, defrag), `netfilter ${protocolFamily} ${hook}`),
      () => (probe.programType('netfilter') ? undefined : NO_NETFILTER_LINKS),
    );
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

  /**
   * Attaches a cgroup program (cgroup_skb, sock, ...) to the cgroup v2 directory at `path`,
   * where its SEC() says, or as `attachType` says (libbpf's name: 'cgroup_inet_ingress',
   * 'cgroup_inet_egress', 'cgroup_inet_sock_create', ...) — for programs whose SEC() gives
   * none, like SEC("cgroup/skb"). The kernel takes another attach type than the one of the
   * SEC() only for some program types (cgroup_skb does; cgroup_sock does not).
   */
  attachCgroup(path: string, options: { attachType?: string } = {}): Link {
    const { attachType } = options;
    if (attachType !== undefined && (typeof attachType !== 'string' || !attachType)) throw new TypeError(`attachType must be an attach type's name, got ${String(attachType)}`);
    // The kernel says only EBADF for a directory that is not a cgroup v2 one.
    let type: number | undefined;
    try {
      type = typeof path === 'string' ? Number(fs.statfsSync(path).type) : undefined;
    } catch {
      type = undefined; // missing or unreadable: the attach says why
    }
    if (type !== undefined && type !== CGROUP2_SUPER_MAGIC) {
      throw bpfError('attachCgroup', 'EBADF', `${path} is not a cgroup v2 directory (the cgroup2 file system is often at /sys/fs/cgroup or /sys/fs/cgroup/unified)`);
    }
    return this.#link('attachCgroup', () => this.#handle.attachCgroup(path, attachType), `cgroup ${path}${attachType ? ` as ${attachType}` : ''}`);
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

  /**
   * Attaches a kprobe.multi (or kretprobe.multi) program to many kernel functions at once
   * through one fprobe link: every function matching a glob `pattern` ("tcp_v4_*"), or the
   * `symbols` listed (each with its `cookies` entry, read with bpf_get_attach_cookie()).
   * Needs kprobes with fprobe (Linux 5.18, CONFIG_FPROBE).
   */
  attachKprobeMulti(options: { pattern?: string; symbols?: string[]; retprobe?: boolean; cookies?: bigint[] }): Link {
    const { pattern, symbols, retprobe = false, cookies } = options;
    const what = `${retprobe ? 'kretprobe.multi' : 'kprobe.multi'} ${pattern ?? describeList(symbols)}`;
    // Without fprobe, libbpf's attempt fails in misleading ways (EPERM reading tracefs).
    const f = features();
    const missing = !f.kprobes
      ? 'this kernel has no kprobes (CONFIG_KPROBES is not set): attach to a tracepoint instead'
      : !f.kprobeMulti
        ? 'this kernel has no kprobe.multi links (Linux 5.18 with CONFIG_FPROBE): use attachKprobe() per function'
        : undefined;
    if (missing) {
      this.#owner.assertLoaded('attachKprobeMulti');
      throw bpfError('attachKprobeMulti', 'EOPNOTSUPP', `program '${this.name}' to ${what}: ${missing}`);
    }
    return this.#link('attachKprobeMulti', () => this.#handle.attachKprobeMulti(pattern, symbols, retprobe, cookies), what);
  }

  /**
   * Attaches a uprobe.multi (or uretprobe.multi) program to many functions of one binary or
   * shared library through one link: those matching a glob `pattern`, the `symbols` listed,
   * or the file `offsets` listed (optionally with one cookie each). `pid` limits it to one
   * process. Needs Linux 6.6 (uprobe_multi links).
   */
  attachUprobeMulti(options: {
    binary: string;
    pattern?: string;
    symbols?: string[];
    offsets?: (number | bigint)[];
    pid?: number;
    retprobe?: boolean;
    cookies?: bigint[];
  }): Link {
    const { binary, pattern, symbols, offsets, pid = -1, retprobe = false, cookies } = options;
    if (typeof binary !== 'string' || !binary) throw new TypeError('attachUprobeMulti needs the binary');
    const what = `${retprobe ? 'uretprobe.multi' : 'uprobe.multi'} ${binary}:${pattern ?? describeList(symbols ?? offsets?.map((o) => `0x${o.toString(16)}`))}`;
    return withFeatureHint(
      () => this.#link('attachUprobeMulti', () => this.#handle.attachUprobeMulti(binary, pattern, symbols, offsets, pid, retprobe, cookies), what),
      () => (features().uprobeMulti ? undefined : 'this kernel has no uprobe_multi links (Linux 6.6 with CONFIG_UPROBES)'),
    );
  }

  /**
   * Attaches a USDT program (SEC("usdt")) to a statically defined tracepoint of a binary or
   * shared library: `provider:name` as the SystemTap SDT note names it (DTRACE_PROBE in
   * sys/sdt.h). The program reads the probe's arguments with bpf_usdt_arg() and `cookie`
   * with bpf_usdt_cookie(); `pid` limits it to one process.
   */
  attachUsdt(options: { binary: string; provider: string; name: string; pid?: number; cookie?: bigint }): Link {
    const { binary, provider, name, pid = -1, cookie = 0n } = options;
    if (typeof binary !== 'string' || !binary) throw new TypeError('attachUsdt needs the binary');
    return this.#link('attachUsdt', () => this.#handle.attachUsdt(binary, provider, name, pid, cookie), `usdt ${binary}:${provider}:${name}`);
}

  /** A BpfError when the program is not of one of `types` (libbpf's names). */
  #requireType(operation: string, types: readonly string[], what: string): void {
    this.#owner.assertLoaded(operation); // a closed or unloaded object says so first
    const type = this.#handle.type;
    if (!types.includes(type)) {
      throw bpfError(operation, 'EINVAL', `program '${this.name}' is of type ${type}, and ${what} takes programs of type ${types.join(' or ')}`);
    }
  }

  #link(operation: string, attach: () => NativeLinkHandle, target: string): Link {
    this.#owner.assertLoaded(operation);
    return new Link(attach(), this.#owner, this.name, target);
  }

  toString(): string {
    return `Program(${this.name})`;
  }
}
