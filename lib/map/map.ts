import type { NativeMapHandle } from '../../typings/native';
import { type Codec, intLayoutOf } from '../btf/codec';
import { PerfBuffer, type PerfBufferOptions, type PerfRecord } from '../events/perf-buffer';
import { RingBuffer, type RingBufferOptions } from '../events/ring-buffer';
import { type CheckedDecoder, type InPlaceDecoder, checkedDecoder } from '../events/reader';
import { native } from '../binding';
import { bpfError } from '../errors';
import { type MapInfo, bySystemId, checkId } from '../system';
import type { Closable, ObjectContext } from '../resource';
import { type BytesInput, toBytes } from './bytes';
import { cacheMapHandle } from './handle';
import { type IntArray, type IntFits, intArray, intFits } from './ints';
import { BatchEntries, type BatchSource, type MapBatch, MapBatches, batchUnsupported } from './batches';
import { RawMap, type UpdateFlag, replicatePerCpu, updateFlags } from './raw';

/** batches() without a batchSize. */
const DEFAULT_BATCH = 4096;

const internals = new WeakMap<BpfMap<unknown, unknown>, { handle: NativeMapHandle; owner: ObjectContext }>();

/** @internal A map's native handle and owner, for readers; not exported from the package. */
export function mapInternals(map: BpfMap<unknown, unknown>): { handle: NativeMapHandle; owner: ObjectContext } {
  const found = internals.get(map);
  if (!found) throw new TypeError('expected a BpfMap of a BpfObject');
  return found;
}

/** Keys and values of a map without BTF: Buffers (copies) out; Buffers, numbers or bigints in. */
function bytesCodec(size: number, what: string): Codec<unknown> {
  return {
    size,
    name: `${what} (${size} bytes)`,
    decode: (view, offset) => Buffer.from(new Uint8Array(view.buffer, view.byteOffset + offset, size)),
    encode(value, view, offset) {
      new Uint8Array(view.buffer, view.byteOffset + offset, size).set(toBytes(value as BytesInput, size, what));
    },
  };
}

/**
 * The key and value buffers of a native map, shared by its views (withCodecs) and bound
 * to the native handle once, on first use: `get` and `set` then make one N-API call
 * with no buffer arguments to check. Operations are synchronous, so sharing is safe.
 */
interface Scratch {
  key: Buffer;
  keyView: DataView;
  value: Buffer;
  valueView: DataView;
  /** Looks the key buffer up into the value buffer: binds them on the first call. */
  lookup: () => boolean;
  /** Stores the value buffer under the key buffer: binds them on the first call. */
  update: (flags: number) => void;
}

const scratches = new WeakMap<NativeMapHandle, Scratch>();

/** The largest key or value the kernel holds in a map (KMALLOC_MAX_SIZE on x86-64), and one CPU's value in a per-CPU map (PCPU_MIN_UNIT_SIZE). */
const MAX_ENTRY_BYTES = 4 << 20;
const MAX_PER_CPU_VALUE_BYTES = 32 << 10;

/**
 * A map whose key or value is larger than any the kernel creates (E2BIG) comes from a
 * corrupt object (libbpf takes the sizes as the ELF gives them): a BpfError at open,
 * rather than scratch buffers of that size, or a RangeError past 4 GiB.
 */
function checkEntrySizes(h: NativeMapHandle): void {
  const valueLimit = h.perCpu ? MAX_PER_CPU_VALUE_BYTES : MAX_ENTRY_BYTES;
  const too = (what: string, size: number, limit: number) =>
    bpfError('open', 'E2BIG', `map '${h.name}': its ${what} are ${size} bytes, more than the kernel allows (${limit}); is the object corrupt?`);
  if (h.keySize > MAX_ENTRY_BYTES) throw too('keys', h.keySize, MAX_ENTRY_BYTES);
  if (h.valueSize > valueLimit) throw too(h.perCpu ? 'per-CPU values' : 'values', h.valueSize, valueLimit);
}

function scratchOf(native: NativeMapHandle, h: NativeMapHandle): Scratch {
  let scratch = scratches.get(native);
  if (!scratch) {
    const key = Buffer.alloc(h.keySize);
    const value = Buffer.alloc(h.valueBytes);
    const made: Scratch = {
      key,
      keyView: new DataView(key.buffer, key.byteOffset, key.byteLength),
      value,
      valueView: new DataView(value.buffer, value.byteOffset, value.byteLength),
      lookup: () => bindScratch(native, made).lookup(),
      update: (flags) => bindScratch(native, made).update(flags),
    };
    scratch = made;
    scratches.set(native, scratch);
  }
  return scratch;
}

/** Binds the scratch buffers (after load: the native side checks the map first). */
function bindScratch(native: NativeMapHandle, scratch: Scratch): Scratch {
  const [lookup, update] = native.bindBuffers(scratch.key, scratch.value);
  scratch.lookup = lookup;
  scratch.update = update;
  return scratch;
}

/**
 * One map of a BpfObject. Keys and values are plain JS values, encoded and decoded with
 * the map's own BTF types (struct → object, char[N] → string, 64-bit → bigint...); a map
 * without BTF uses Buffers (and numbers or bigints for 4- and 8-byte keys and values). A
 * Uint8Array of exactly the right size is always taken as the raw bytes. It follows JS
 * Map: get, set, has, delete, keys, values, entries, iteration, clear; `raw` is the
 * byte-level view. Per-CPU maps read as one value per possible CPU.
 */
export class BpfMap<K = unknown, V = unknown> implements Iterable<[K, V]> {
  readonly #native: NativeMapHandle;
  readonly #handle: NativeMapHandle;
  readonly #owner: ObjectContext;
  readonly #keyCodec: Codec<K>;
  readonly #valueCodec: Codec<V>;
  // Reused for every key and value this view encodes or looks up (no allocation per call).
  readonly #scratch: Scratch;
  readonly #keyBuffer: Buffer;
  readonly #keyView: DataView;
  readonly #valueBuffer: Buffer;
  readonly #valueView: DataView;
  /** Values are one value of the value codec (not per-CPU, not map-in-map). */
  readonly #plainValues: boolean;
  // Plain integer keys and values (u32, u64...): typed arrays over the key and value
  // buffers, and the checks of what they store as the codec would (see ints.ts).
  readonly #keyInts: IntArray | undefined;
  readonly #keyFits: IntFits | undefined;
  readonly #valueInts: IntArray | undefined;
  readonly #valueFits: IntFits | undefined;
  /** The byte-level view of the same map. */
  readonly raw: RawMap;
  /** The map's name in the C source. */
  readonly name: string;

  /**
   * The map pinned at `path` in bpffs (by `pin()`, LIBBPF_PIN_BY_NAME, or another
   * program), outside any object. Keys and values are Buffers until you give codecs
   * (`withCodecs`). Close it when done.
   */
  static openPinned(path: string): BpfMap<Buffer, Buffer> {
    return standaloneMap(native.openPinnedMap(path));
  }

  /**
   * The map with kernel id `id` (see listMaps()), made by any process: a view on its own fd,
   * like openPinned(). Unknown id: BpfError ENOENT. Needs CAP_SYS_ADMIN. Close it when done.
   */
  static fromId(id: number): BpfMap<Buffer, Buffer> {
    checkId(id, 'BpfMap.fromId');
    return standaloneMap(bySystemId(() => native.openMapById(id)));
  }

  /** @internal Maps come from BpfObject.maps / map(name). */
  constructor(handle: NativeMapHandle, owner: ObjectContext, codecs?: { key?: Codec; value?: Codec }) {
    this.#native = handle;
    this.#handle = cacheMapHandle(handle);
    checkEntrySizes(this.#handle);
    this.#owner = owner;
    this.name = this.#handle.name;
    this.raw = new RawMap(this.#handle, owner);
    this.#keyCodec = (codecs?.key ?? bytesCodec(this.#handle.keySize, 'key')) as Codec<K>;
    this.#valueCodec = (codecs?.value ?? bytesCodec(this.#handle.valueSize, 'value')) as Codec<V>;
    this.#scratch = scratchOf(handle, this.#handle);
    this.#keyBuffer = this.#scratch.key;
    this.#keyView = this.#scratch.keyView;
    this.#valueBuffer = this.#scratch.value;
    this.#valueView = this.#scratch.valueView;
    this.#plainValues = !this.#handle.perCpu && !this.#handle.type.endsWith('_of_maps');
    const keyLayout = intLayoutOf(this.#keyCodec);
    this.#keyInts = intArray(keyLayout, this.#keyBuffer.buffer, this.#keyBuffer.byteOffset, 1);
    this.#keyFits = this.#keyInts && keyLayout ? intFits(keyLayout) : undefined;
    const valueLayout = this.#plainValues ? intLayoutOf(this.#valueCodec) : undefined;
    this.#valueInts = intArray(valueLayout, this.#valueBuffer.buffer, this.#valueBuffer.byteOffset, 1);
    this.#valueFits = this.#valueInts && valueLayout ? intFits(valueLayout) : undefined;
    internals.set(this as BpfMap<unknown, unknown>, { handle, owner });
  }

  /**
   * The same map with explicit codecs, for maps without BTF or to read them differently:
   * `map.withCodecs(u32, struct({ pid: u32, comm: cstring(16) }))`.
   */
  withCodecs<K2, V2>(key: Codec<K2>, value: Codec<V2>): BpfMap<K2, V2> {
    if (key.size !== this.#handle.keySize) throw new TypeError(`key codec ${key.name} is ${key.size} bytes; map '${this.name}' keys are ${this.#handle.keySize}`);
    if (value.size !== this.#handle.valueSize) {
      throw new TypeError(`value codec ${value.name} is ${value.size} bytes; map '${this.name}' values are ${this.#handle.valueSize}`);
    }
    return new BpfMap<K2, V2>(this.#native, this.#owner, { key, value });
  }

  /** The map's BTF key and value type ids in its object's BTF (0: none). */
  get btfTypeIds(): { key: number; value: number } {
    this.#owner.assertUsable('map.btf');
    return { key: this.#handle.btfKeyTypeId, value: this.#handle.btfValueTypeId };
  }

  /** The codecs this view uses. */
  get codecs(): { key: Codec<K>; value: Codec<V> } {
    return { key: this.#keyCodec, value: this.#valueCodec };
  }

  /** libbpf's name of the map type, e.g. "hash", "array", "ringbuf", "percpu_array". */
  get type(): string {
    this.#owner.assertUsable('map.type');
    return this.#handle.type;
  }

  get keySize(): number {
    this.#owner.assertUsable('map.keySize');
    return this.#handle.keySize;
  }

  /** Size of one value (for per-CPU maps: of one CPU's value). */
  get valueSize(): number {
    this.#owner.assertUsable('map.valueSize');
    return this.#handle.valueSize;
  }

  /** Whether values hold one slot per possible CPU (percpu_hash, percpu_array, ...). */
  get perCpu(): boolean {
    this.#owner.assertUsable('map.perCpu');
    return this.#handle.perCpu;
  }

  /** Capacity; settable before load only (for ring buffers: its size in bytes). */
  get maxEntries(): number {
    this.#owner.assertUsable('map.maxEntries');
    return this.#handle.maxEntries;
  }

  set maxEntries(value: number) {
    this.#owner.assertNotLoaded('map.maxEntries', `maxEntries of map '${this.name}'`);
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new TypeError(`maxEntries must be an integer from 0 to 2^32-1, got ${value}`);
    }
    this.#handle.maxEntries = value;
  }

  /** The kernel's view of the map once loaded: its id (as in listMaps()), name, type, sizes, flags. */
  get info(): MapInfo {
    this.#owner.assertLoaded('map.info');
    return this.#handle.info();
  }

  /** The map's file descriptor once loaded. */
  get fd(): number {
    this.#owner.assertLoaded('map.fd');
    return this.#handle.fd;
  }

  /** The key's bytes: the caller's Uint8Array of the right size, or the reused key buffer. */
  #encodeKey(key: K, operation: string): Uint8Array {
    this.#owner.assertLoaded(operation);
    const ints = this.#keyInts;
    if (ints !== undefined && this.#keyFits!(key)) {
      ints[0] = key as never;
      return this.#keyBuffer;
    }
    if (key instanceof Uint8Array && key.byteLength === this.#keyBuffer.length) return key;
    this.#keyCodec.encode(key, this.#keyView, 0, 'key');
    return this.#keyBuffer;
  }

  #decodeKey(bytes: Buffer): K {
    return decodeWith(this.#keyCodec, bytes, 0);
  }

  #decodeValue(bytes: Buffer): V | V[] {
    if (!this.#handle.perCpu) return decodeWith(this.#valueCodec, bytes, 0);
    const slot = Math.ceil(this.#handle.valueSize / 8) * 8;
    const out: V[] = [];
    for (let offset = 0; offset < bytes.length; offset += slot) out.push(decodeWith(this.#valueCodec, bytes, offset));
    return out;
  }

  /** The value's bytes (the reused value buffer for the common case). */
  #encodeValue(value: V | V[]): Uint8Array {
    const h = this.#handle;
    if (this.#plainValues) {
      const ints = this.#valueInts;
      if (ints !== undefined && this.#valueFits!(value)) {
        ints[0] = value as never;
        return this.#valueBuffer;
      }
      if (value instanceof Uint8Array && value.byteLength === h.valueSize) return value;
      this.#valueCodec.encode(value as V, this.#valueView, 0, 'value');
      return this.#valueBuffer;
    }
    if (h.type.endsWith('_of_maps')) {
      // Map-in-map: the inner map goes in by its fd, given as a BpfMap, a map name or an fd.
      let inner: unknown = value;
      if (typeof inner === 'string') {
        const found = this.#owner.findMap(inner);
        if (!found) throw new TypeError(`value: object '${this.#owner.name}' has no map '${inner}' to put in '${this.name}'`);
        inner = found;
      }
      if (inner instanceof BpfMap) return toBytes(mapInternals(inner as BpfMap<unknown, unknown>).handle.fd, 4, 'value');
    }
    if (!h.perCpu) return encodeWith(this.#valueCodec, value as V, h.valueSize, 'value');
    if (value instanceof Uint8Array && value.byteLength === h.valueBytes) return value;
    if (Array.isArray(value) && value.length === h.valueBytes / (Math.ceil(h.valueSize / 8) * 8) && !(this.#valueCodec.name.endsWith(']'))) {
      const slot = Math.ceil(h.valueSize / 8) * 8;
      const out = Buffer.alloc(h.valueBytes);
      value.forEach((v, cpu) => out.set(encodeWith(this.#valueCodec, v, h.valueSize, `value[${cpu}]`), cpu * slot));
      return out;
    }
    return replicatePerCpu(encodeWith(this.#valueCodec, value as V, h.valueSize, 'value'), h.valueSize, h.valueBytes);
  }

  /** Looks `key` up into the value buffer: the bound fast path when the key is in the key buffer. */
  #lookup(key: Uint8Array): boolean {
    if (key !== this.#keyBuffer) return this.#handle.lookupInto(key, this.#valueBuffer);
    return this.#scratch.lookup();
  }

  /** The value under `key`, decoded (per-CPU maps: one per possible CPU), or undefined. */
  get(key: K): V | undefined {
    if (!this.#lookup(this.#encodeKey(key, 'map.get'))) return undefined;
    if (this.#valueInts !== undefined) return this.#valueInts[0] as V;
    if (this.#plainValues) return this.#valueCodec.decode(this.#valueView, 0);
    return this.#decodeValue(this.#valueBuffer) as V;
  }

  /** For per-CPU maps: the value of each possible CPU (index = CPU), or undefined. */
  getPerCpu(key: K): V[] | undefined {
    if (!this.perCpu) throw new TypeError(`map '${this.name}' (${this.type}) is not a per-CPU map`);
    return this.get(key) as V[] | undefined;
  }

  /** For per-CPU maps of numbers: the sum over CPUs of the value under `key` (0 when absent). */
  sumPerCpu(key: K): V extends bigint ? bigint : number {
    const values = this.getPerCpu(key) ?? [];
    let total: number | bigint = typeof values[0] === 'bigint' ? 0n : 0;
    for (const v of values) {
      if (typeof v === 'bigint') total = (total as bigint) + v;
      else if (typeof v === 'number') total = (total as number) + v;
      else throw new TypeError(`sumPerCpu: map '${this.name}' values are not numbers`);
    }
    return total as V extends bigint ? bigint : number;
  }

  /** Stores `value` under `key` (per-CPU maps: one value for every CPU, or one per CPU). */
  set(key: K, value: V | V[], flags: UpdateFlag = 'any'): this {
    const k = this.#encodeKey(key, 'map.set');
    const v = this.#encodeValue(value);
    if (k === this.#keyBuffer && v === this.#valueBuffer) {
      this.#scratch.update(flags === 'any' ? 0 : updateFlags(flags));
    } else {
      this.#handle.update(k, v, updateFlags(flags));
    }
    return this;
  }

  /** Whether `key` is there; for bloom filter maps, whether the value may have been added (see mayContain). */
  has(key: K): boolean {
    if (this.#handle.type === 'bloom_filter') return this.mayContain(key as unknown as V);
    return this.#lookup(this.#encodeKey(key, 'map.has'));
  }

  /** Removes `key`; false when it was not there. Array maps cannot delete (EINVAL). */
  delete(key: K): boolean {
    return this.#handle.delete(this.#encodeKey(key, 'map.delete'));
  }

  /** Every key, in the kernel's order. */
  *keys(): IterableIterator<K> {
    for (const key of this.raw.keys()) yield this.#decodeKey(key);
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  /**
   * Every [key, value] pair; keys deleted while iterating are skipped. With `batchSize`,
   * reads that many entries per syscall (BPF_MAP_LOOKUP_BATCH) where the kernel and map
   * type allow it, instead of two syscalls per entry.
   */
  entries(options: { batchSize?: number } = {}): IterableIterator<[K, V]> {
    if (options.batchSize !== undefined) return this.#entriesBatched(options.batchSize);
    return this.#entriesOneByOne();
  }

  *#entriesOneByOne(): IterableIterator<[K, V]> {
    for (const [key, value] of this.raw.entries()) yield [this.#decodeKey(key), this.#decodeValue(value) as V];
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  /** Removes every key; array maps, whose entries always exist, are zeroed instead. */
  clear(): void {
    this.raw.clear();
  }

  // --- many at once ---------------------------------------------------------------

  /** The values of `keys`, in their order (undefined where absent). */
  getMany(keys: Iterable<K>): (V | undefined)[] {
    return Array.from(keys, (key) => this.get(key));
  }

  /** Stores every [key, value] in one syscall (BPF_MAP_UPDATE_BATCH), or one by one where the kernel or map type has no batch. */
  setMany(entries: Iterable<[K, V]>, flags: UpdateFlag = 'any'): number {
    this.#owner.assertLoaded('map.setMany');
    const list = [...entries];
    if (list.length === 0) return 0;
    const h = this.#handle;
    const keys = Buffer.alloc(h.keySize * list.length);
    const values = Buffer.alloc(h.valueBytes * list.length);
    list.forEach(([k, v], i) => {
      keys.set(encodeWith(this.#keyCodec, k, h.keySize, `entries[${i}][0]`), i * h.keySize);
      values.set(this.#encodeValue(v), i * h.valueBytes);
    });
    const flagValue = updateFlags(flags);
    return withBatchFallback(
      () => h.updateBatch(keys, values, list.length, flagValue),
      () => {
        for (let i = 0; i < list.length; i++) {
          h.update(keys.subarray(i * h.keySize, (i + 1) * h.keySize), values.subarray(i * h.valueBytes, (i + 1) * h.valueBytes), flagValue);
        }
        return list.length;
      },
    );
  }

  /** Removes every key of `keys` that is there (BPF_MAP_DELETE_BATCH where possible); returns how many were. */
  deleteMany(keys: Iterable<K>): number {
    this.#owner.assertLoaded('map.deleteMany');
    const h = this.#handle;
    const list = Array.from(keys, (k, i) => encodeWith(this.#keyCodec, k, h.keySize, `keys[${i}]`));
    const one = (from: number) => {
      let n = 0;
      for (let i = from; i < list.length; i++) if (h.delete(list[i])) n++;
      return n;
    };
    return withBatchFallback(
      () => {
        // The kernel stops at the first key that is not there: skip it and go on.
        let deleted = 0;
        for (let from = 0; from < list.length; ) {
          const chunk = Buffer.concat(list.slice(from));
          const n = h.deleteBatch(chunk, list.length - from);
          deleted += n;
          from += n + 1;
        }
        return deleted;
      },
      () => one(0),
    );
  }

  #entriesBatched(batchSize: number): IterableIterator<[K, V]> {
    return new BatchEntries<K, V>(this.#batchSource(), batchSize);
  }

  /**
   * The map as columns, a batch at a time: BPF_MAP_LOOKUP_BATCH into one set of buffers
   * that every batch reuses, so that reading an entry allocates nothing but its decoded
   * key or value. Entry `i` of a batch is `batch.key(i)` and `batch.value(i)`; `keyBytes`
   * and `valueBytes` are the kernel's output as is.
   *
   * ```ts
   * for (const batch of counts.batches({ batchSize: 4096 })) {
   *   for (let i = 0; i < batch.length; i++) total += batch.value(i);
   * }
   * ```
   *
   * A batch is valid until the iterator moves on (the loop's next turn, or its end) or the
   * object closes; using it after that throws a BpfError (EBADF) instead of reading the
   * next batch's entries (see {@link MapBatch}). Where the kernel or the map type has no
   * batch lookups, the entries are read one by one, `batchSize` to a batch. Without
   * `batchSize`, batches of 4096 entries.
   */
  batches(options: { batchSize?: number } = {}): IterableIterator<MapBatch<K, V>> {
    return new MapBatches<K, V>(this.#batchSource(), options.batchSize ?? DEFAULT_BATCH);
  }

  /** What entries({ batchSize }) and batches() read the map with. */
  #batchSource(): BatchSource<K, V> {
    const h = this.#handle;
    const slot = Math.ceil(h.valueSize / 8) * 8;
    const codec = this.#valueCodec;
    const decodeValue = h.perCpu
      ? (view: DataView, offset: number): V => {
          const out: V[] = [];
          for (let at = offset; at < offset + h.valueBytes; at += slot) out.push(codec.decode(view, at));
          return out as V;
        }
      : (view: DataView, offset: number): V => codec.decode(view, offset);
    return {
      handle: h,
      owner: this.#owner,
      keyCodec: this.#keyCodec,
      keyLayout: intLayoutOf(this.#keyCodec),
      valueLayout: this.#plainValues ? intLayoutOf(codec) : undefined,
      decodeValue,
      oneByOne: () => this.#entriesOneByOne(),
      rawOneByOne: () => this.raw.entries(),
    };
  }

  // --- queue, stack, bloom filter -------------------------------------------------

  #keyless(operation: string, types: string[]): NativeMapHandle {
    this.#owner.assertLoaded(operation);
    if (!types.includes(this.#handle.type)) throw new TypeError(`${operation}: map '${this.name}' is a ${this.#handle.type} map, not ${types.join(' or ')}`);
    return this.#handle;
  }

  /** Queue and stack maps: adds `value` (flags 'exist' replaces the oldest when full). */
  push(value: V, flags: UpdateFlag = 'any'): void {
    const h = this.#keyless('map.push', ['queue', 'stack']);
    h.push(encodeWith(this.#valueCodec, value, h.valueSize, 'value'), updateFlags(flags));
  }

  /** Queue and stack maps: removes and returns the next value (queue: oldest, stack: newest). */
  pop(): V | undefined {
    const bytes = this.#keyless('map.pop', ['queue', 'stack']).pop();
    return bytes === undefined ? undefined : decodeWith(this.#valueCodec, bytes, 0);
  }

  /** Queue and stack maps: the next value, left in place. */
  peek(): V | undefined {
    const bytes = this.#keyless('map.peek', ['queue', 'stack']).peek();
    return bytes === undefined ? undefined : decodeWith(this.#valueCodec, bytes, 0);
  }

  /** Bloom filter maps: adds `value`. */
  add(value: V): void {
    const h = this.#keyless('map.add', ['bloom_filter']);
    h.push(encodeWith(this.#valueCodec, value, h.valueSize, 'value'), 0);
  }

  /** Bloom filter maps: false when `value` was surely never added; true when it may have been. */
  mayContain(value: V): boolean {
    const h = this.#keyless('map.mayContain', ['bloom_filter']);
    return h.peek(encodeWith(this.#valueCodec, value, h.valueSize, 'value'));
  }

  /** Pins the map at `path` (in bpffs): it outlives this process until unpinned. */
  pin(path: string): void {
    this.#owner.assertLoaded('map.pin');
    this.#handle.pin(path);
  }

  /** Removes the map's pin (at `path`, or where it was pinned). */
  unpin(path?: string): void {
    this.#owner.assertUsable('map.unpin');
    this.#handle.unpin(path);
  }

  /** Where the map is pinned, if libbpf pinned it (pin(), LIBBPF_PIN_BY_NAME). */
  get pinPath(): string | null {
    this.#owner.assertUsable('map.pinPath');
    return this.#handle.pinPath;
  }

  /** For a map from openPinned() or fromId(): closes it (readers first). Maps of an object close with it. */
  close(): void {
    if (this.#owner.standalone) this.#owner.closeStandalone?.();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** No more writes from user space, ever (BPF_MAP_FREEZE); BPF programs may still write. */
  freeze(): void {
    this.#owner.assertLoaded('map.freeze');
    this.#handle.freeze();
  }

  /**
   * A reader of this ring buffer map (BPF_MAP_TYPE_RINGBUF): `for await (const rec of
   * map.ringBuffer())` yields each record's bytes, the records decoded as the BTF type
   * `options.type` (e.g. 'event' for struct event), or what `options.decode` makes.
   */
  ringBuffer<T = Buffer>(options: RingBufferOptions<T> & { type?: string } = {}): RingBuffer<T> {
    const decode = options.decode ?? this.#typeDecoder<T>(options.type) ?? ((data: Buffer) => data as unknown as T);
    const decodeView = options.decode ? options.decodeView : (options.decodeView ?? this.#typeViewDecoder<T>(options.type));
    return new RingBuffer<T>([this as BpfMap<unknown, unknown>], { ...options, decode, decodeView });
  }

  /**
   * A reader of this perf event array map (BPF_MAP_TYPE_PERF_EVENT_ARRAY): `for await
   * (const rec of map.perfBuffer())` yields `{ cpu, data }`, the samples decoded as the BTF
   * type `options.type`, or what `options.decode` makes.
   */
  perfBuffer<T = PerfRecord>(options: PerfBufferOptions<T> & { type?: string } = {}): PerfBuffer<T> {
    const decode = options.decode ?? this.#typeDecoder<T>(options.type);
    return new PerfBuffer<T>(this as BpfMap<unknown, unknown>, decode ? { ...options, decode } : options);
  }

  #typeDecoder<T>(type: string | undefined): ((data: Buffer) => T) | undefined {
    if (type === undefined) return undefined;
    const codecs = this.#owner.codecs();
    if (!codecs) throw new TypeError(`object '${this.#owner.name}' has no BTF to decode '${type}' records with`);
    const codec = codecs.named(type) as Codec<T>;
    const size = codec.size;
    return (data: Buffer) => {
      if (data.length < size) throw recordTooShort(codec, data.length);
      return decodeWith(codec, data, 0);
    };
  }

  /** The BTF type's compiled decoder, reading a record in place (batches of ring buffers). */
  #typeViewDecoder<T>(type: string | undefined): RingBufferOptions<T>['decodeView'] {
    if (type === undefined) return undefined;
    const codec = this.#owner.codecs()?.named(type) as Codec<T> | undefined;
    if (!codec) return undefined;
    const size = codec.size;
    const decode: InPlaceDecoder<T> = (view, offset, recordSize) => {
      if (recordSize < size) throw recordTooShort(codec, recordSize);
      return codec.decode(view, offset);
    };
    // Iteration over a uniform batch checks its one record size and calls the struct's decoder itself.
    const checked: CheckedDecoder<T> = Object.assign(decode, {
      [checkedDecoder]: { decode: codec.decode, size, tooShort: (recordSize: number) => recordTooShort(codec, recordSize) },
    });
    return checked;
  }

  toString(): string {
    return `BpfMap(${this.name})`;
  }
}

function standaloneMap(handle: NativeMapHandle): BpfMap<Buffer, Buffer> {
  return new BpfMap<Buffer, Buffer>(handle, standaloneContext(handle));
}

/** The context of a map opened from a pin or by id: it is loaded until closed, and owns its readers. */
function standaloneContext(handle: NativeMapHandle): ObjectContext {
  let closed = false;
  const readers = new Set<Closable>();
  const assertOpen = (operation: string) => {
    if (closed) throw bpfError(operation, 'EBADF', `map '${handle.name}' is closed`);
  };
  return {
    name: handle.name,
    standalone: true,
    get loaded() {
      return !closed;
    },
    get closed() {
      return closed;
    },
    assertUsable: assertOpen,
    assertLoaded: assertOpen,
    assertNotLoaded: (operation, what) => {
      assertOpen(operation);
      throw bpfError(operation, 'EBUSY', `${what} cannot change: the map exists in the kernel already`);
    },
    trackLink: () => undefined,
    untrackLink: () => undefined,
    trackReader: (reader) => readers.add(reader),
    untrackReader: (reader) => readers.delete(reader),
    findMap: () => undefined,
    codecs: () => undefined,
    closeStandalone: () => {
      if (closed) return;
      for (const reader of [...readers]) reader.close();
      closed = true;
      handle.close();
    },
  };
}

function withBatchFallback(batch: () => number, oneByOne: () => number): number {
  try {
    return batch();
  } catch (e) {
    if (!batchUnsupported(e)) throw e;
    return oneByOne();
  }
}

/** A Uint8Array of exactly `size` bytes passes as is; anything else goes through the codec. */
function encodeWith<T>(codec: Codec<T>, value: T, size: number, what: string): Uint8Array {
  if (value instanceof Uint8Array && value.byteLength === size) return value;
  const out = Buffer.alloc(size);
  codec.encode(value, new DataView(out.buffer, out.byteOffset, out.byteLength), 0, what);
  return out;
}

function decodeWith<T>(codec: Codec<T>, bytes: Buffer, offset: number): T {
  return codec.decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset);
}

function recordTooShort(codec: Codec, size: number): RangeError {
  return new RangeError(`a ${size}-byte record is shorter than ${codec.name} (${codec.size} bytes)`);
}
