// The native surface of the addon (src-native/), declared once, by hand. Only lib/ uses it.
import type { LinkInfo, MapInfo, ProgramInfo } from '../lib/system';

export interface NativeErrorInfo {
  operation: string;
  errno: number;
  code: string;
  description: string;
  detail: string;
  libbpf: string;
  verifierLog?: string;
}

export interface NativeOpenOptions {
  name?: string;
  pinRoot?: string;
  btfPath?: string;
  tokenPath?: string;
}

/** One BTF type as src-native/btf.cc describes it; `kind` is the kernel's BTF_KIND_* number. */
export interface NativeBtfType {
  kind: number;
  name: string;
  size?: number;
  type?: number;
  encoding?: number;
  bits?: number;
  bitOffset?: number;
  indexType?: number;
  length?: number;
  members?: { name: string; type: number; bitOffset: number; bitSize: number }[];
  signed?: boolean;
  values?: { name: string; value: number | bigint }[];
  vars?: { type: number; offset: number; size: number }[];
  linkage?: number;
  union?: boolean;
}

export interface NativeObjectHandle {
  readonly name: string;
  programs(): NativeProgramHandle[];
  maps(): NativeMapHandle[];
  btf(): (NativeBtfType | null)[] | null;
  load(): Promise<void>;
  close(): void;
}

export interface NativeProgramHandle {
  readonly name: string;
  readonly section: string;
  readonly type: string;
  readonly fd: number;
  autoload: boolean;
  readonly autoattach: boolean;
  attach(): NativeLinkHandle;
  attachTracepoint(category: string, name: string): NativeLinkHandle;
  attachRawTracepoint(name: string): NativeLinkHandle;
  testRun(data: Uint8Array | undefined, repeat: number, ctx?: Uint8Array): { retval: number; duration: number; data: Buffer };
  attachXdp(ifindex: number, flags: number): NativeLinkHandle;
  attachTcx(ifindex: number, egress: boolean): NativeLinkHandle;
  attachUprobe(binary: string, symbol: string | undefined, offset: number, pid: number, retprobe: boolean, cookie: bigint): NativeLinkHandle;
  attachIter(): NativeLinkHandle;
  attachCgroup(path: string, attachType?: string): NativeLinkHandle;
  attachKprobe(func: string, retprobe: boolean, offset: number, cookie: bigint): NativeLinkHandle;
  attachKsyscall(name: string, retprobe: boolean): NativeLinkHandle;
  attachTrace(): NativeLinkHandle;
  attachLsm(): NativeLinkHandle;
  attachPerfEvent(type: number, config: number, samplePeriod: number, sampleFreq: number, pid: number, cpu: number): NativeLinkHandle;
  attachKprobeMulti(pattern: string | undefined, symbols: string[] | undefined, retprobe: boolean, cookies: bigint[] | undefined): NativeLinkHandle;
  attachUprobeMulti(
    binary: string,
    pattern: string | undefined,
    symbols: string[] | undefined,
    offsets: (number | bigint)[] | undefined,
    pid: number,
    retprobe: boolean,
    cookies: bigint[] | undefined,
  ): NativeLinkHandle;
  attachUsdt(binary: string, provider: string, name: string, pid: number, cookie: bigint): NativeLinkHandle;
  info(): ProgramInfo;
  attachSocketFilter(socketFd: number): NativeLinkHandle;
  attachSkLookup(netnsPath: string): NativeLinkHandle;
  attachNetfilter(protocolFamily: string, hook: string, priority: number, defrag: boolean): NativeLinkHandle;
  attachTcClsact(ifindex: number, egress: boolean, priority: number): NativeLinkHandle;
  attachXdpReplace(ifindex: number, flags: number): NativeLinkHandle;
}

export interface NativeMapHandle {
  readonly name: string;
  readonly type: string;
  readonly keySize: number;
  readonly valueSize: number;
  /** Bytes of one value as the syscall sees it (per-CPU maps: one 8-byte aligned slot per CPU). */
  readonly valueBytes: number;
  maxEntries: number;
  readonly fd: number;
  readonly perCpu: boolean;
  lookup(key: Uint8Array, flags?: number): Buffer | undefined;
  lookupInto(key: Uint8Array, out: Uint8Array, flags?: number): boolean;
  /**
   * Binds a key and a value buffer (never detached) and returns two functions on them:
   * lookup() is lookupInto(bound key, bound value), update(flags) is update(bound key,
   * bound value, flags), with no arguments to check. Binding again disables the previous pair.
   */
  bindBuffers(key: Uint8Array, value: Uint8Array): [lookup: () => boolean, update: (flags: number) => void];
  update(key: Uint8Array, value: Uint8Array, flags?: number): void;
  delete(key: Uint8Array): boolean;
  nextKey(key: Uint8Array | null): Buffer | undefined;
  readonly btfKeyTypeId: number;
  readonly btfValueTypeId: number;
  /** The global section's own memory (detached when the object closes). */
  /** null after load for a section libbpf did not memory-map (read it with lookup). */
  dataBuffer(): ArrayBuffer | null;
  lookupBatch(token: Buffer | null, max: number): { keys: Buffer; values: Buffer; count: number; token: Buffer; done: boolean };
  /**
   * lookupBatch into the caller's buffers (of at least `max` keys and values); `next` gets
   * the next call's token and may be `token` itself. Returns the count, or -1 - count when
   * this batch is the last.
   */
  lookupBatchInto(token: Uint8Array | null, max: number, keys: Uint8Array, values: Uint8Array, next: Uint8Array): number;
  updateBatch(keys: Uint8Array, values: Uint8Array, count: number, flags: number): number;
  deleteBatch(keys: Uint8Array, count: number): number;
  push(value: Uint8Array, flags: number): void;
  pop(): Buffer | undefined;
  peek(): Buffer | undefined;
  peek(value: Uint8Array): boolean;
  freeze(): void;
  pin(path: string): void;
  unpin(path?: string): void;
  readonly pinPath: string | null;
  /** Maps opened from a pin only: closes their fd. */
  close(): void;
  info(): MapInfo;
  writeData(offset: number, bytes: Uint8Array): void;
}

export interface NativeLinkHandle {
  readonly fd: number;
  readonly closed: boolean;
  destroy(): void;
  info(): LinkInfo;
  pin(path: string): void;
  unpin(path?: string): void;
  update(programFd: number): void;
  /** BPF_LINK_DETACH: off its hook even while other fds or pins hold the link. */
  forceDetach(): void;
  readIter(): string;
  /** A new run of the iterator: an fd to read until EOF, then close. */
  openIter(): number;
}

/** meta holds (offset, size, source, kind) quads, one per record of the slab: source is
 * the map index (ring buffers) or the CPU (perf buffers); kind 0 is a record, kind 1 a
 * lost-samples notice whose size is the count. The slab is the reader's own memory (a
 * ring's pages, read-only, or a pooled slab) until release(token) detaches it. */
/** One batch: its bytes, its (offset, size, source, kind) table, its token, the records' bytes summed, and its lost-sample entries. */
export type NativeBatchCallback = (error: Error | null, slab?: Buffer, meta?: Uint32Array, token?: number, bytes?: number, lost?: number) => void;

/** `meta`: (offset, size, source, kind) per record; or, for a uniform batch (kind 2 in its
 * fourth word), [first offset, size, source, 2, count, stride, 0, 0]. */
export type NativeBatch = [slab: Buffer, meta: Uint32Array, token: number, bytes: number, lost: number];

export interface NativeReaderHandle {
  readonly closed: boolean;
  /** The last drain stopped at its budget: records may be left that no wake-up announces. */
  readonly more: boolean;
  start(): void;
  stop(): void;
  consume(max?: number): NativeBatch[];
  /** The batch may be reused: its slab is detached (zero length from then on). */
  release(token: number): void;
  close(): void;
}

export interface NativeRingBufferHandle extends NativeReaderHandle {
  /** [bytes waiting, ring size] per map. */
  fill(): [number, number][];
}

export interface NativePerfBufferHandle extends NativeReaderHandle {
  readonly bufferCount: number;
}

export interface NativeFdWatcher {
  start(): void;
  stop(): void;
  close(): void;
}

export interface NativeBinding {
  libbpfVersion(): string;
  numPossibleCpus(): number;
  vmlinuxHeader(btfPath?: string): string;
  btfTypes(btfPath?: string): (NativeBtfType | null)[];
  openPinnedMap(path: string): NativeMapHandle;
  probeProgramType(type: string): boolean;
  probeMapType(type: string): boolean;
  probeHelper(programType: string, helperId: number): boolean;
  probeFentry(btfId: number): boolean;
  enableStats(): number;
  listPrograms(): ProgramInfo[];
  listMaps(): MapInfo[];
  listLinks(): LinkInfo[];
  programInfoById(id: number): ProgramInfo;
  openMapById(id: number): NativeMapHandle;
  openLinkById(id: number): NativeLinkHandle;
  openPinnedLink(path: string): NativeLinkHandle;
  /** The interface's index in this network namespace, 0 when there is none. */
  interfaceIndex(iface: string | number): number;
  setErrorFactory(factory: (info: NativeErrorInfo) => Error): void;
  ObjectHandle: new (source: string | Uint8Array, options: NativeOpenOptions) => NativeObjectHandle;
  RingBufferHandle: new (maps: NativeMapHandle[], onBatch: NativeBatchCallback, batchSize: number) => NativeRingBufferHandle;
  PerfBufferHandle: new (
    map: NativeMapHandle,
    onBatch: NativeBatchCallback,
    batchSize: number,
    pageCount: number,
    wakeupEvents: number,
    copy: boolean,
  ) => NativePerfBufferHandle;
  FdWatcher: new (fd: number, onReadable: (error: Error | null) => void) => NativeFdWatcher;
}
