// What RingBuffer and PerfBuffer share: the native reader delivers one batch per wake-up
// of the event loop (a slab of records and their (offset, size, source, kind) quads); the
// batches wait here, undecoded, until the consumer pulls. Records are decoded on the way
// out (`for await`), or handed over a batch at a time (`batches()`), which reads fields
// straight from the slab without an object per record.
import type { NativeBatchCallback, NativeReaderHandle } from '../../typings/native';
import { bpfError } from '../errors';
import type { Closable, ObjectContext } from '../resource';
import { Wakeups, closingIterator } from './wakeups';

const KIND_LOST = 1;

export interface ReaderOptions {
  /** Most records drained per wake-up of the event loop (default 256). */
  batchSize?: number;
  /** Most records queued in JS; past it the reader stops draining the kernel buffers until
   * the consumer catches up (default 4 × batchSize). */
  highWaterMark?: number;
  /** Aborting ends every pending iteration with the signal's reason (an AbortError). */
  signal?: AbortSignal;
}

/** The records of one drain, undecoded: read them in place, or decode them one by one. */
export class RecordBatch<T> implements Iterable<T> {
  /** Every record's bytes, each at an 8-byte aligned offset. */
  readonly slab: Buffer;
  readonly #meta: Uint32Array;
  readonly #decode: (data: Buffer, source: number) => T;
  readonly #start: number;

  /** @internal */
  constructor(slab: Buffer, meta: Uint32Array, start: number, decode: (data: Buffer, source: number) => T) {
    this.slab = slab;
    this.#meta = meta;
    this.#start = start;
    this.#decode = decode;
  }

  /** Number of records. */
  get length(): number {
    return this.#meta.length / 4 - this.#start;
  }

  /** Offset of record `i` in `slab`. */
  offset(i: number): number {
    return this.#meta[(this.#start + i) * 4];
  }

  /** Size in bytes of record `i`. */
  size(i: number): number {
    return this.#meta[(this.#start + i) * 4 + 1];
  }

  /** The bytes of record `i`, a view into `slab` (no copy). */
  data(i: number): Buffer {
    const offset = this.offset(i);
    return this.slab.subarray(offset, offset + this.size(i));
  }

  /** Record `i`, decoded; negative `i` counts from the end, out of range is undefined. */
  at(i: number): T | undefined {
    const index = i < 0 ? this.length + i : i;
    if (index < 0 || index >= this.length) return undefined;
    return this.#decode(this.data(index), this.#meta[(this.#start + index) * 4 + 2]);
  }

  /** Calls `visit` for each record with one DataView over the whole slab: no allocation per record. */
  visit(visit: (view: DataView, offset: number, size: number) => void): void {
    const view = new DataView(this.slab.buffer, this.slab.byteOffset, this.slab.byteLength);
    const meta = this.#meta;
    for (let q = this.#start * 4; q < meta.length; q += 4) visit(view, meta[q], meta[q + 1]);
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.length; i++) yield this.at(i) as T;
  }
}

interface QueuedBatch {
  slab: Buffer;
  meta: Uint32Array;
  next: number; // index of the next record to hand out
}

export interface BaseStats {
  /** Records delivered to JS. */
  records: number;
  /** Bytes of those records. */
  bytes: number;
  /** Drains that delivered at least one record. */
  batches: number;
}

/** The async-iterable reader core; RingBuffer and PerfBuffer supply the native handle. */
export abstract class EventReader<T> implements AsyncIterable<T>, Disposable, Closable {
  readonly #handle: NativeReaderHandle;
  readonly #callback: NativeBatchCallback;
  readonly #owners: ObjectContext[];
  readonly #highWaterMark: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;
  #queue: QueuedBatch[] = [];
  #queued = 0;
  /** Items made outside the batches (lost-sample notices), handed out first. */
  #items: T[] = [];
  /** Consumers waiting for the next batch, the end or an error. */
  readonly #wakeups = new Wakeups();
  #polling = false;
  #closed = false;
  #error: unknown = undefined;
  protected readonly counters: BaseStats = { records: 0, bytes: 0, batches: 0 };

  protected constructor(
    operation: string,
    create: (onBatch: NativeBatchCallback, batchSize: number) => NativeReaderHandle,
    owners: ObjectContext[],
    options: ReaderOptions,
  ) {
    const batchSize = options.batchSize ?? 256;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new TypeError(`batchSize must be a positive integer, got ${batchSize}`);
    this.#highWaterMark = options.highWaterMark ?? 4 * batchSize;
    if (!Number.isInteger(this.#highWaterMark) || this.#highWaterMark < 1) {
      throw new TypeError(`highWaterMark must be a positive integer, got ${this.#highWaterMark}`);
    }
    options.signal?.throwIfAborted();
    for (const owner of owners) owner.assertLoaded(operation);
    // The native side holds this callback weakly while idle: keep it alive with the reader.
    this.#callback = (error, slab, meta) => this.#onBatch(error, slab, meta);
    this.#handle = create(this.#callback, batchSize);
    this.#owners = [...new Set(owners)];
    for (const owner of this.#owners) owner.trackReader(this);
    this.#signal = options.signal;
    this.#onAbort = () => this.#fail(this.#signal?.reason ?? new Error('aborted'));
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Turns a record into what the iteration yields; `source` is the map index or the CPU. */
  protected abstract decodeRecord(data: Buffer, source: number): T;

  /** A lost-samples notice (perf buffers): counted by the subclass, yielded when it returns a value. */
  protected onLost(_count: number, _source: number): T | undefined {
    return undefined;
  }

  /** The native handle, for subclasses' extra stats. */
  protected get handle(): NativeReaderHandle {
    return this.#handle;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Records received from the kernel and not yet taken by the consumer. */
  get queued(): number {
    return this.#queued;
  }

  #onBatch(error: Error | null, slab?: Buffer, meta?: Uint32Array): void {
    if (error || !slab || !meta) {
      this.#fail(error ?? new Error('reader poll failed'));
      return;
    }
    const records = this.#takeLost(meta);
    if (records.length > 0) {
      this.counters.batches++;
      this.counters.records += records.length / 4;
      for (let q = 1; q < records.length; q += 4) this.counters.bytes += records[q];
      this.#queue.push({ slab, meta: records, next: 0 });
      this.#queued += records.length / 4;
      if (this.#queued >= this.#highWaterMark) this.#pause();
    }
    this.#wakeups.wakeAll();
  }

  /** Lost-sample notices leave the batch here: counted, or queued as items. */
  #takeLost(meta: Uint32Array): Uint32Array {
    let lost = 0;
    for (let q = 3; q < meta.length; q += 4) if (meta[q] === KIND_LOST) lost++;
    if (lost === 0) return meta;
    const kept = new Uint32Array(meta.length - lost * 4);
    let k = 0;
    for (let q = 0; q < meta.length; q += 4) {
      if (meta[q + 3] === KIND_LOST) {
        const item = this.onLost(meta[q + 1], meta[q + 2]);
        if (item !== undefined) this.#items.push(item);
      } else {
        kept.set(meta.subarray(q, q + 4), k);
        k += 4;
      }
    }
    return kept;
  }


  /** Resolves at the next batch, the end or an error (polling meanwhile). */
  #wait(): Promise<void> {
    const woken = this.#wakeups.wait();
    this.#resume(); // may deliver at once, waking the promise above
    return woken;
  }

  /** The next record of the queue, decoded. */
  #take(): T {
    const head = this.#queue[0];
    const q = head.next * 4;
    head.next++;
    this.#queued--;
    if (head.next * 4 >= head.meta.length) this.#queue.shift();
    if (this.#queued < this.#highWaterMark) this.#resume();
    const offset = head.meta[q];
    return this.decodeRecord(head.slab.subarray(offset, offset + head.meta[q + 1]), head.meta[q + 2]);
  }

  #throwIfFailed(): void {
    if (this.#error !== undefined) {
      const error = this.#error;
      this.#error = undefined;
      throw error;
    }
  }

  #resume(): void {
    if (!this.#polling && !this.#closed) {
      this.#handle.start();
      this.#polling = true;
      // What arrived while we were not polling may already have spent its wake-up (a perf
      // event reports readable once per wake-up): take it now rather than at the next one.
      const [slab, meta] = this.#handle.consume();
      if (meta.length > 0) this.#onBatch(null, slab, meta);
    }
  }

  #pause(): void {
    if (this.#polling) {
      this.#handle.stop();
      this.#polling = false;
    }
  }

  /** The next record; `done` once the reader is closed. */
  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      this.#throwIfFailed();
      if (this.#items.length > 0) return { value: this.#items.shift() as T, done: false };
      if (this.#queued > 0) {
        try {
          return { value: this.#take(), done: false };
        } catch (e) {
          this.#fail(e); // a decoder that throws ends the reader
          this.#throwIfFailed();
        }
      }
      if (this.#closed) return { value: undefined, done: true };
      await this.#wait();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return closingIterator(() => this.next(), () => this.close());
  }

  /**
   * One batch per drain of the kernel buffers, undecoded: the fast path. Read fields in
   * place (`batch.visit((view, offset, size) => ...)`, or `batch.slab` with
   * `batch.offset(i)` / `batch.size(i)`), or decode with `batch.at(i)` / iteration.
   * Breaking out of the loop closes the reader. Lost-sample items are not part of
   * batches (see stats).
   */
  async *batches(): AsyncGenerator<RecordBatch<T>, void, undefined> {
    try {
      for (;;) {
        this.#throwIfFailed();
        const head = this.#queue.shift();
        if (head) {
          this.#queued -= head.meta.length / 4 - head.next;
          if (this.#queued < this.#highWaterMark) this.#resume();
          yield new RecordBatch(head.slab, head.meta, head.next, (data, source) => this.decodeRecord(data, source));
          continue;
        }
        if (this.#closed) return;
        await this.#wait();
      }
    } finally {
      this.close();
    }
  }

  #fail(error: unknown): void {
    if (this.#closed) return;
    this.#error = error;
    this.#shutdown();
  }

  #shutdown(): void {
    this.#closed = true;
    this.#polling = false;
    this.#queue = [];
    this.#queued = 0;
    this.#items = [];
    this.#handle.close();
    this.#signal?.removeEventListener('abort', this.#onAbort);
    for (const owner of this.#owners) owner.untrackReader(this);
    this.#wakeups.wakeAll();
  }

  /** Stops reading and frees the reader; pending and later iterations end (`done: true`). */
  close(): void {
    if (!this.#closed) this.#shutdown();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Drains what the kernel buffers hold now, synchronously, without waiting (at most `max` records). */
  drain(max?: number): T[] {
    if (this.#closed) throw bpfError('reader.drain', 'EBADF', 'the reader is closed');
    const [slab, raw] = this.#handle.consume(max);
    const meta = this.#takeLost(raw);
    const out = this.#items.splice(0);
    for (let q = 0; q < meta.length; q += 4) {
      out.push(this.decodeRecord(slab.subarray(meta[q], meta[q] + meta[q + 1]), meta[q + 2]));
      this.counters.records++;
      this.counters.bytes += meta[q + 1];
    }
    return out;
  }
}
