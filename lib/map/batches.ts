// A map read a batch at a time (BPF_MAP_LOOKUP_BATCH), for entries({ batchSize }), which
// yields a [key, value] tuple per entry, and batches(), which yields columnar MapBatch
// objects over buffers reused from batch to batch. One BatchReader does the reading for
// both: the token, the reused buffers, the end, and what to do where the kernel or the map
// type has no batch lookups.
import type { NativeMapHandle } from '../../typings/native';
import type { Codec, IntLayout } from '../btf/codec';
import { bpfError } from '../errors';
import type { Closable, ObjectContext } from '../resource';
import { type IntArray, intArray } from './ints';

/** What a batch reader needs of its map view. */
export interface BatchSource<K, V> {
  handle: NativeMapHandle;
  owner: ObjectContext;
  keyCodec: Codec<K>;
  /** Set for plain integer keys and values: read them through typed arrays. */
  keyLayout: IntLayout | undefined;
  valueLayout: IntLayout | undefined;
  /** One value (for per-CPU maps: one per possible CPU) at `offset` of a batch's values. */
  decodeValue(view: DataView, offset: number): V;
  /** The entries one by one, decoded, where the kernel or the map type has no batch lookups (entries()). */
  oneByOne(): Iterator<[K, V]>;
  /** The same as bytes (batches() groups them into its buffers). */
  rawOneByOne(): Iterator<[Buffer, Buffer]>;
}

/** Buffers reused by every batch of one reader, and typed arrays and views over them. */
interface Reused {
  keys: Buffer;
  values: Buffer;
  token: Buffer;
  keyInts: IntArray | undefined;
  valueInts: IntArray | undefined;
  keyView: DataView;
  valueView: DataView;
}

const START = 0;
const MORE = 1; // the kernel has more batches
const LAST = 2; // the batch in hand is the last
const FINISHED = 3;

const MAX_BATCH = 1 << 20; // the native side's bound
const MAX_BATCH_BYTES = 2 ** 30;

/** Errors that mean "no batch operations here" (old kernel, or a map type without them). */
export function batchUnsupported(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'EINVAL' || code === 'EOPNOTSUPP' || code === 'ENOTSUP' || code === 'ENOTSUPP' || code === 'E524' || code === 'ENOSYS';
}

/**
 * Reads the batches of one iteration; the batch in hand is in its public fields, which
 * the next read() replaces. Nothing happens before the first read(). With `columns`
 * (batches()), one set of buffers serves every batch whatever the codecs, and where the
 * kernel has no batch lookups the entries are read one by one into those buffers, a batch
 * of them at a time. Without (entries()), buffers are reused only for integer keys and
 * values (which decode to fresh numbers and bigints, never to views of the batch), and the
 * caller reads one by one itself.
 *
 * @internal
 */
export class BatchReader<K, V> {
  readonly source: BatchSource<K, V>;
  readonly #size: number;
  readonly #operation: string;
  readonly #columns: boolean;
  #state = START;
  #token: Buffer | null = null;
  #reused: Reused | undefined;
  #grouped: Iterator<[Buffer, Buffer]> | undefined;
  // The batch in hand: `count` entries at the start of these.
  count = 0;
  keys: Buffer | undefined;
  values: Buffer | undefined;
  keyInts: IntArray | undefined;
  valueInts: IntArray | undefined;
  keyView: DataView | undefined;
  valueView: DataView | undefined;

  constructor(source: BatchSource<K, V>, batchSize: number, operation: string, columns: boolean) {
    this.source = source;
    this.#size = batchSize;
    this.#operation = operation;
    this.#columns = columns;
  }

  /**
   * Reads the next batch that has entries: returns its count; 0 when there are no more;
   * -1 (entries() only, on the first read) where there are no batch lookups. After 0, -1
   * or an error, the reader is finished: read() returns 0.
   */
  read(): number {
    const s = this.source;
    const h = s.handle;
    try {
      for (;;) {
        if (this.#state === LAST || this.#state === FINISHED) {
          this.finish();
          return 0;
        }
        s.owner.assertLoaded(this.#operation);
        const size = this.#size;
        if (this.#state === START) {
          if (!Number.isInteger(size) || size < 1) throw new TypeError(`batchSize must be a positive integer, got ${size}`);
          this.#reused = this.#reusable(size);
        }
        let count: number;
        if (this.#grouped) {
          count = this.#group(this.#reused!);
        } else {
          let done: boolean;
          try {
            const reused = this.#reused;
            if (reused) {
              const r = h.lookupBatchInto(this.#state === START ? null : reused.token, size, reused.keys, reused.values, reused.token);
              done = r < 0;
              count = done ? -1 - r : r;
              this.#use(reused);
            } else {
              const batch = h.lookupBatch(this.#state === START ? null : this.#token, size);
              ({ done, count } = batch);
              this.#token = batch.token;
              this.#useFresh(batch.keys, batch.values, count);
            }
          } catch (e) {
            if (this.#state !== START || !batchUnsupported(e)) throw e;
            if (!this.#columns) {
              this.finish();
              return -1;
            }
            // The buffers exist: a batch too large for them failed before the syscall.
            this.#grouped = s.rawOneByOne();
            continue;
          }
          this.#state = done ? LAST : MORE;
        }
        this.count = count;
        if (count > 0) return count;
      }
    } catch (e) {
      this.finish();
      throw e;
    }
  }

  finish(): void {
    this.#state = FINISHED;
    this.count = 0;
    this.keys = this.values = undefined;
    this.keyInts = this.valueInts = undefined;
    this.keyView = this.valueView = undefined;
    this.#reused = undefined;
    this.#token = null;
    this.#grouped?.return?.();
    this.#grouped = undefined;
  }

  /** The buffers of every batch (or undefined: each batch gets its own from the native side). */
  #reusable(size: number): Reused | undefined {
    const s = this.source;
    const { keySize, valueBytes } = s.handle;
    if (size > MAX_BATCH || (keySize + valueBytes) * size > MAX_BATCH_BYTES) return undefined; // the native side says why
    if (!this.#columns && (!s.keyLayout || !s.valueLayout)) return undefined;
    const keys = Buffer.alloc(size * keySize);
    const values = Buffer.alloc(size * valueBytes);
    const keyInts = intArray(s.keyLayout, keys.buffer, keys.byteOffset, size);
    const valueInts = intArray(s.valueLayout, values.buffer, values.byteOffset, size);
    if (!this.#columns && (!keyInts || !valueInts)) return undefined;
    const token = Buffer.alloc(Math.max(8, keySize));
    return { keys, values, token, keyInts, valueInts, keyView: dataView(keys), valueView: dataView(values) };
  }

  #use(reused: Reused): void {
    this.keys = reused.keys;
    this.values = reused.values;
    this.keyInts = reused.keyInts;
    this.valueInts = reused.valueInts;
    this.keyView = reused.keyView;
    this.valueView = reused.valueView;
  }

  #useFresh(keys: Buffer, values: Buffer, count: number): void {
    const s = this.source;
    this.keys = keys;
    this.values = values;
    this.keyInts = intArray(s.keyLayout, keys.buffer, keys.byteOffset, count);
    this.valueInts = intArray(s.valueLayout, values.buffer, values.byteOffset, count);
    this.keyView = this.keyInts ? undefined : dataView(keys);
    this.valueView = this.valueInts ? undefined : dataView(values);
  }

  /** Up to a batch of entries read one by one, copied into the reused buffers. */
  #group(reused: Reused): number {
    const { keySize, valueBytes } = this.source.handle;
    const grouped = this.#grouped!;
    let n = 0;
    this.#state = MORE;
    while (n < this.#size) {
      const next = grouped.next();
      if (next.done) {
        this.#state = LAST;
        break;
      }
      const [key, value] = next.value;
      reused.keys.set(key, n * keySize);
      reused.values.set(value, n * valueBytes);
      n++;
    }
    this.#use(reused);
    return n;
  }
}

function dataView(bytes: Buffer): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// Iterator helpers (map, filter, take... where the runtime has them), as generators have.
const ITERATOR_PROTOTYPE = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())) as object;

/**
 * entries({ batchSize }): each entry decoded when next() reaches it, from its batch's
 * buffers (typed arrays for integer keys and values). A plain iterator object rather than a
 * generator: no generator frame to resume per entry. It behaves as the generator did:
 * nothing happens before the first next(), an error ends the iteration, return() ends it
 * early.
 *
 * What is left over C's bpf_map_lookup_batch loop is the [key, value] tuple each entry must
 * be (measured on 200k u32 -> u64 entries, batches of 4096: a plain loop over the same
 * batches that makes and keeps an escaping tuple per entry costs what this iterator does,
 * about 20 ns more user time and 15-20 ns more kernel time per entry than the same loop
 * without the tuple, which itself runs at about 85-95% of C). batches() has no tuple.
 */
export class BatchEntries<K, V> implements IterableIterator<[K, V]> {
  readonly #reader: BatchReader<K, V>;
  #fallback: Iterator<[K, V]> | undefined;
  // The batch in hand, copied from the reader for the per-entry path.
  #count = 0;
  #index = 0;
  #keyInts: IntArray | undefined;
  #valueInts: IntArray | undefined;
  #keyView: DataView | undefined;
  #valueView: DataView | undefined;

  constructor(source: BatchSource<K, V>, batchSize: number) {
    this.#reader = new BatchReader(source, batchSize, 'map.entries', false);
  }

  next(): IteratorResult<[K, V]> {
    const i = this.#index;
    if (i < this.#count) {
      this.#index = i + 1;
      const s = this.#reader.source;
      const keys = this.#keyInts;
      const values = this.#valueInts;
      const key = keys !== undefined ? (keys[i] as K) : s.keyCodec.decode(this.#keyView!, i * s.handle.keySize);
      const value = values !== undefined ? (values[i] as V) : s.decodeValue(this.#valueView!, i * s.handle.valueBytes);
      return { value: [key, value], done: false };
    }
    return this.#nextBatch();
  }

  return(): IteratorResult<[K, V]> {
    this.#reader.finish();
    this.#count = this.#index = 0;
    this.#fallback?.return?.();
    return { value: undefined, done: true };
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this;
  }

  #nextBatch(): IteratorResult<[K, V]> {
    if (this.#fallback) return this.#fallback.next();
    const r = this.#reader;
    const count = r.read(); // on an error, the reader is finished and count stays 0: done, as a generator
    if (count < 0) {
      this.#fallback = r.source.oneByOne();
      return this.#fallback.next();
    }
    this.#index = 0;
    this.#count = count;
    this.#keyInts = r.keyInts;
    this.#valueInts = r.valueInts;
    this.#keyView = r.keyView;
    this.#valueView = r.valueView;
    return count > 0 ? this.next() : { value: undefined, done: true };
  }
}
Object.setPrototypeOf(BatchEntries.prototype, ITERATOR_PROTOTYPE);

/**
 * One batch of a map's entries from `BpfMap.batches()`, read as columns: entry `i` is
 * `key(i)` and `value(i)`, decoded by the map's codecs when asked (plain integer keys and
 * values are read through typed arrays: no allocation but a value's own, a bigint for
 * 64-bit integers). Per-CPU maps give an array per value, one per possible CPU.
 *
 * The batch lends its iterator's memory, which the next batch reuses: it is valid until
 * the iterator moves on (its next `next()`, the loop's next turn, or `return()`, which
 * `break` calls) or the map's object closes. After that every method throws a `BpfError`
 * (code `EBADF`, operation `map.batches`) rather than read another batch's entries. Keys
 * and values decoded from it are copies, and may be kept (unless a custom codec returns
 * views of its bytes); `keyBytes` and `valueBytes` are views: copy them to keep them.
 */
export class MapBatch<K, V> implements Iterable<[K, V]> {
  /** Number of entries (at least 1). */
  readonly length: number;
  // `length` while the batch is current, 0 after: the one compare of every access.
  #live: number;
  readonly #source: BatchSource<K, V>;
  readonly #keys: Buffer;
  readonly #values: Buffer;
  readonly #keyInts: IntArray | undefined;
  readonly #valueInts: IntArray | undefined;
  readonly #keyView: DataView;
  readonly #valueView: DataView;

  /** @internal Made by BpfMap.batches(). */
  constructor(reader: BatchReader<K, V>) {
    this.length = this.#live = reader.count;
    this.#source = reader.source;
    this.#keys = reader.keys!;
    this.#values = reader.values!;
    this.#keyInts = reader.keyInts;
    this.#valueInts = reader.valueInts;
    this.#keyView = reader.keyView!;
    this.#valueView = reader.valueView!;
  }

  /** Key `i` (0 ≤ i < length), decoded. Out of range: RangeError. */
  key(i: number): K {
    if (i >= this.#live || i >>> 0 !== i) this.#refuse(i);
    const ints = this.#keyInts;
    return ints !== undefined ? (ints[i] as K) : this.#source.keyCodec.decode(this.#keyView, i * this.#source.handle.keySize);
  }

  /** Value `i` (0 ≤ i < length), decoded; for per-CPU maps, one per possible CPU. Out of range: RangeError. */
  value(i: number): V {
    if (i >= this.#live || i >>> 0 !== i) this.#refuse(i);
    const ints = this.#valueInts;
    return ints !== undefined ? (ints[i] as V) : this.#source.decodeValue(this.#valueView, i * this.#source.handle.valueBytes);
  }

  /** The keys as the kernel wrote them: `length × keySize` bytes, a view of the batch's memory. */
  get keyBytes(): Buffer {
    if (this.#live === 0) this.#refuse(0);
    return this.#keys.subarray(0, this.length * this.#source.handle.keySize);
  }

  /**
   * The values as the kernel wrote them: `length` values of the map's value size (per-CPU
   * maps: one 8-byte aligned slot per possible CPU each), a view of the batch's memory.
   */
  get valueBytes(): Buffer {
    if (this.#live === 0) this.#refuse(0);
    return this.#values.subarray(0, this.length * this.#source.handle.valueBytes);
  }

  /** Whether the batch is still the current one of its iterator, and usable. */
  get current(): boolean {
    return this.#live !== 0;
  }

  /** Every [key, value] pair of the batch, decoded: fresh tuples. */
  *[Symbol.iterator](): Generator<[K, V], void, undefined> {
    for (let i = 0; i < this.length; i++) yield [this.key(i), this.value(i)];
  }

  /** @internal Its iterator moved on, or the map closed: the memory is no longer this batch's. */
  retire(): void {
    this.#live = 0;
  }

  #refuse(i: number): never {
    if (this.#live === 0) {
      this.#source.owner.assertLoaded('map.batches'); // closed: the error every operation gives then
      throw bpfError('map.batches', 'EBADF', 'the batch was reused (the loop moved on): decode or copy what you need before the next batch');
    }
    throw new RangeError(`entry ${i} is not in this batch of ${this.length}`);
  }
}

// Untracks the close hook of a batches() iterator that was dropped without being finished.
const dropped = new FinalizationRegistry<{ owner: ObjectContext; hook: Closable }>(({ owner, hook }) => owner.untrackReader(hook));

/**
 * batches(): a MapBatch per batch, each retired when the next is read, when the iteration
 * ends, and when the map's object closes (a close hook is tracked while a batch is out).
 */
export class MapBatches<K, V> implements IterableIterator<MapBatch<K, V>> {
  readonly #reader: BatchReader<K, V>;
  #current: MapBatch<K, V> | undefined;
  #hook: Closable | undefined;

  constructor(source: BatchSource<K, V>, batchSize: number) {
    this.#reader = new BatchReader(source, batchSize, 'map.batches', true);
  }

  next(): IteratorResult<MapBatch<K, V>> {
    this.#retire();
    let count: number;
    try {
      count = this.#reader.read();
    } catch (e) {
      this.#untrack();
      throw e;
    }
    if (count <= 0) {
      this.#untrack();
      return { value: undefined, done: true };
    }
    this.#track();
    this.#current = new MapBatch(this.#reader);
    return { value: this.#current, done: false };
  }

  return(): IteratorResult<MapBatch<K, V>> {
    this.#retire();
    this.#reader.finish();
    this.#untrack();
    return { value: undefined, done: true };
  }

  [Symbol.iterator](): IterableIterator<MapBatch<K, V>> {
    return this;
  }

  #retire(): void {
    this.#current?.retire();
    this.#current = undefined;
  }

  #track(): void {
    if (this.#hook) return;
    // The hook holds the iterator weakly: a dropped iterator is collected, and its hook untracked.
    const self = new WeakRef(this);
    const hook: Closable = {
      close: () => {
        const batches = self.deref();
        if (batches) batches.#retire();
      },
    };
    this.#hook = hook;
    const owner = this.#reader.source.owner;
    owner.trackReader(hook);
    dropped.register(this, { owner, hook }, hook);
  }

  #untrack(): void {
    const hook = this.#hook;
    if (!hook) return;
    this.#hook = undefined;
    this.#reader.source.owner.untrackReader(hook);
    dropped.unregister(hook);
  }
}
Object.setPrototypeOf(MapBatches.prototype, ITERATOR_PROTOTYPE);
