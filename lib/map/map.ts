import type { NativeMapHandle } from '../../typings/native';
import { PerfBuffer, type PerfBufferOptions, type PerfRecord } from '../events/perf-buffer';
import { RingBuffer, type RingBufferOptions } from '../events/ring-buffer';
import type { ObjectContext } from '../resource';
import { type BytesInput, fromBytes, toBytes } from './bytes';

/** Flags of map updates: BPF_ANY, BPF_NOEXIST, BPF_EXIST (or a number, e.g. with BPF_F_LOCK). */
export type UpdateFlag = 'any' | 'noexist' | 'exist' | number;

const UPDATE_FLAGS: Record<string, number> = { any: 0, noexist: 1, exist: 2 };

const internals = new WeakMap<BpfMap, { handle: NativeMapHandle; owner: ObjectContext }>();

/** @internal A map's native handle and owner, for readers; not exported from the package. */
export function mapInternals(map: BpfMap): { handle: NativeMapHandle; owner: ObjectContext } {
  const found = internals.get(map);
  if (!found) throw new TypeError('expected a BpfMap of a BpfObject');
  return found;
}

/**
 * One map of a BpfObject, at the byte level: keys and values are Buffers (numbers and
 * bigints are accepted for 4- and 8-byte keys and values). It follows JS Map: get, set,
 * has, delete, keys, values, entries, iteration, clear.
 */
export class BpfMap implements Iterable<[Buffer, Buffer]> {
  readonly #handle: NativeMapHandle;
  readonly #owner: ObjectContext;
  /** The map's name in the C source. */
  readonly name: string;

  /** @internal Maps come from BpfObject.maps / map(name). */
  constructor(handle: NativeMapHandle, owner: ObjectContext) {
    this.#handle = handle;
    this.#owner = owner;
    this.name = handle.name;
    internals.set(this, { handle, owner });
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

  /** The map's file descriptor once loaded. */
  get fd(): number {
    this.#owner.assertLoaded('map.fd');
    return this.#handle.fd;
  }

  #key(key: BytesInput, operation: string): Uint8Array {
    this.#owner.assertLoaded(operation);
    return toBytes(key, this.#handle.keySize, 'key');
  }

  /** The value stored under `key` (for per-CPU maps: every CPU's slot, concatenated), or undefined. */
  get(key: BytesInput): Buffer | undefined {
    return this.#handle.lookup(this.#key(key, 'map.get'));
  }

  /** The value under `key` read as a number (4 bytes) or bigint (8 bytes), or undefined. */
  getNumber(key: BytesInput): number | bigint | undefined {
    const value = this.get(key);
    return value === undefined ? undefined : fromBytes(value);
  }

  /** For per-CPU maps: one value per possible CPU, or undefined. */
  getPerCpu(key: BytesInput): Buffer[] | undefined {
    if (!this.perCpu) throw new TypeError(`map '${this.name}' (${this.type}) is not a per-CPU map`);
    const all = this.get(key);
    if (all === undefined) return undefined;
    const slot = Math.ceil(this.#handle.valueSize / 8) * 8;
    const out: Buffer[] = [];
    for (let offset = 0; offset < all.length; offset += slot) out.push(all.subarray(offset, offset + this.#handle.valueSize));
    return out;
  }

  /** Stores `value` under `key`. Per-CPU maps take every CPU's slot (see getPerCpu), or one value for all. */
  set(key: BytesInput, value: BytesInput, flags: UpdateFlag = 'any'): this {
    const k = this.#key(key, 'map.set');
    const flagValue = typeof flags === 'number' ? flags : UPDATE_FLAGS[flags];
    if (flagValue === undefined) throw new TypeError(`unknown update flag '${String(flags)}' (any, noexist, exist)`);
    let bytes: Uint8Array;
    if (this.#handle.perCpu && !(value instanceof Uint8Array && value.byteLength === this.#handle.valueBytes)) {
      bytes = this.#replicate(toBytes(value, this.#handle.valueSize, 'value'));
    } else {
      bytes = toBytes(value, this.#handle.valueBytes, 'value');
    }
    this.#handle.update(k, bytes, flagValue);
    return this;
  }

  #replicate(one: Uint8Array): Buffer {
    const slot = Math.ceil(this.#handle.valueSize / 8) * 8;
    const out = Buffer.alloc(this.#handle.valueBytes);
    for (let offset = 0; offset < out.length; offset += slot) out.set(one, offset);
    return out;
  }

  has(key: BytesInput): boolean {
    return this.get(key) !== undefined;
  }

  /** Removes `key`; false when it was not there. Array maps cannot delete (EINVAL). */
  delete(key: BytesInput): boolean {
    return this.#handle.delete(this.#key(key, 'map.delete'));
  }

  /** Every key, in the kernel's order. */
  *keys(): IterableIterator<Buffer> {
    this.#owner.assertLoaded('map.keys');
    let key = this.#handle.nextKey(null);
    while (key !== undefined) {
      yield key;
      this.#owner.assertLoaded('map.keys');
      key = this.#handle.nextKey(key);
    }
  }

  *values(): IterableIterator<Buffer> {
    for (const [, value] of this.entries()) yield value;
  }

  /** Every [key, value] pair; keys deleted while iterating are skipped. */
  *entries(): IterableIterator<[Buffer, Buffer]> {
    for (const key of this.keys()) {
      const value = this.#handle.lookup(key);
      if (value !== undefined) yield [key, value];
    }
  }

  [Symbol.iterator](): IterableIterator<[Buffer, Buffer]> {
    return this.entries();
  }

  /** Removes every key; array maps, whose entries always exist, are zeroed instead. */
  clear(): void {
    this.#owner.assertLoaded('map.clear');
    const zero = Buffer.alloc(this.#handle.valueBytes);
    const arrayLike = this.#handle.type.endsWith('array');
    for (const key of [...this.keys()]) {
      if (arrayLike) this.#handle.update(key, zero, 0);
      else this.#handle.delete(key);
    }
  }

  /**
   * A reader of this ring buffer map (BPF_MAP_TYPE_RINGBUF): `for await (const rec of
   * map.ringBuffer())` yields each record's bytes, or what `options.decode` makes of them.
   */
  ringBuffer<T = Buffer>(options: RingBufferOptions<T> = {}): RingBuffer<T> {
    const decode = options.decode ?? ((data: Buffer) => data as unknown as T);
    return new RingBuffer<T>([this], { ...options, decode });
  }

  /**
   * A reader of this perf event array map (BPF_MAP_TYPE_PERF_EVENT_ARRAY): `for await
   * (const rec of map.perfBuffer())` yields `{ cpu, data }`, or what `options.decode` makes.
   */
  perfBuffer<T = PerfRecord>(options: PerfBufferOptions<T> = {}): PerfBuffer<T> {
    return new PerfBuffer<T>(this, options);
  }

  toString(): string {
    return `BpfMap(${this.name})`;
  }
}
