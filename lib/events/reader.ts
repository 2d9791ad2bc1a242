// What RingBuffer and PerfBuffer share: the native reader delivers one batch per wake-up
// of the event loop (a slab of records and their (offset, size, source, kind) quads, or,
// when every record has one size at one stride, a descriptor of that layout); the
// batches wait here, undecoded, until the consumer pulls. Records are decoded on the way
// out (`for await`), or handed over a batch at a time (`batches()`), which reads fields
// straight from the slab without an object per record.
import type { NativeBatch, NativeBatchCallback, NativeReaderHandle } from '../../typings/native';
import { bpfError } from '../errors';
import { compileFunction } from '../codegen';
import type { Closable, ObjectContext } from '../resource';
import { Wakeups, closingIterator } from './wakeups';

const KIND_LOST = 1;
const KIND_UNIFORM = 2;

/** A native table's records: quads, or a uniform batch's descriptor (see NativeBatch). */
function recordCount(meta: Uint32Array): number {
  return meta.length === 8 && meta[3] === KIND_UNIFORM ? meta[4] : meta.length / 4;
}

/** The quads of a native table, from `start`: a uniform descriptor written out. */
function quads(meta: Uint32Array, start = 0): Uint32Array {
  if (!(meta.length === 8 && meta[3] === KIND_UNIFORM)) return start === 0 ? meta : meta.subarray(start * 4);
  const [first, size, source, , count, stride] = meta;
  const out = new Uint32Array((count - start) * 4);
  for (let i = start, q = 0; i < count; i++, q += 4) {
    out[q] = first + i * stride;
    out[q + 1] = size;
    out[q + 2] = source;
  }
  return out;
}

export interface ReaderOptions {
  /** Most records drained per wake-up of the event loop (default 256). */
  batchSize?: number;
  /** Most records queued in JS; past it the reader stops draining the kernel buffers until
   * the consumer catches up (default 4 × batchSize). */
  highWaterMark?: number;
  /** Aborting ends every pending iteration with the signal's reason (an AbortError). */
  signal?: AbortSignal;
}

/**
 * The records of one drain, undecoded: read them in place, or decode them one by one.
 *
 * A batch is lent, not copied: its bytes are the kernel ring's own pages (read-only
 * memory: never write to `slab`), or a pooled slab (perf buffers with `copy`, or a perf
 * record that wraps past its ring's end). The kernel cannot reuse a ring's space until
 * every batch before it is released: hold batches briefly. They stay valid until the batch is released, which `batches()` does when the loop moves on to the
 * next batch or ends, and `close()` does for every batch; after that, reading it throws a
 * `BpfError` (code `EBADF`). Records decoded from a batch (`at(i)`, iteration, `data(i)`)
 * may share its memory too. To keep a batch, or anything read from it, past its turn,
 * take `batch.copy()`: one copy of the whole batch, which is never released.
 */
export class RecordBatch<T> implements Iterable<T> {
  readonly #slab: Buffer;
  readonly #meta: Uint32Array;
  readonly #decode: (data: Buffer, source: number) => T;
  readonly #start: number;
  readonly #length: number;
  // A uniform batch: record i at #first + i * #stride, #size bytes from #source; #stride is
  // 0 for a batch with a table.
  readonly #first: number;
  readonly #stride: number;
  readonly #size: number;
  readonly #source: number;
  // The records offset(i) may compute: #length for a uniform batch not yet released, else 0.
  #live: number;
  readonly #release: (() => void) | undefined;
  readonly #decodeView: InPlaceDecoder<T> | undefined;
  readonly #from: (source: number) => string;
  #view: DataView | undefined;
  #released = false;

  /** @internal */
  constructor(
    slab: Buffer,
    meta: Uint32Array,
    start: number,
    decode: (data: Buffer, source: number) => T,
    release?: () => void,
    decodeView?: InPlaceDecoder<T>,
    from: (source: number) => string = String,
  ) {
    this.#slab = slab;
    this.#meta = meta;
    this.#start = start;
    if (meta.length === 8 && meta[3] === KIND_UNIFORM) {
      this.#stride = meta[5];
      this.#first = meta[0] + start * this.#stride;
      this.#size = meta[1];
      this.#source = meta[2];
      this.#length = meta[4] - start;
      this.#live = this.#length;
    } else {
      this.#first = this.#stride = this.#size = this.#source = this.#live = 0;
      this.#length = meta.length / 4 - start;
    }
    this.#decode = decode;
    this.#release = release;
    this.#decodeView = decodeView;
    this.#from = from;
  }

  /**
   * Every record's bytes (valid until the batch is released). Ring buffer records, and
   * copies, start at 8-byte aligned offsets; perf samples lent in place 4 bytes past one.
   */
  get slab(): Buffer {
    this.#check();
    return this.#slab;
  }

  #check(): void {
    if (this.#released) throw releasedError();
  }

  /** One DataView over the slab, made when first needed. */
  #slabView(): DataView {
    const slab = this.#slab;
    return (this.#view ??= new DataView(slab.buffer, slab.byteOffset, slab.byteLength));
  }

  /** Whether the batch has been released: its memory is then the reader's again. */
  get released(): boolean {
    return this.#released;
  }

  /** Number of records. */
  get length(): number {
    return this.#length;
  }

  /** Offset of record `i` in `slab` (undefined out of range). */
  offset(i: number): number {
    // The fast path, one branch: a uniform batch, not released, `i` in range.
    if (i >= 0 && i < this.#live) return this.#first + i * this.#stride;
    this.#check();
    if (this.#stride !== 0) return undefined as unknown as number;
    return this.#meta[(this.#start + i) * 4];
  }

  /** Size in bytes of record `i` (undefined out of range). */
  size(i: number): number {
    this.#check();
    if (this.#stride !== 0) return i >= 0 && i < this.#length ? this.#size : (undefined as unknown as number);
    return this.#meta[(this.#start + i) * 4 + 1];
  }

  /** The map index (ring buffers) or CPU (perf buffers) record `i` came from. */
  source(i: number): number {
    this.#check();
    if (this.#stride !== 0) return i >= 0 && i < this.#length ? this.#source : (undefined as unknown as number);
    return this.#meta[(this.#start + i) * 4 + 2];
  }

  /** The bytes of record `i`, a view into `slab` (no copy). */
  data(i: number): Buffer {
    const offset = this.offset(i);
    return this.slab.subarray(offset, offset + this.size(i));
  }

  /** Record `i`, decoded; negative `i` counts from the end, out of range is undefined. */
  at(i: number): T | undefined {
    const index = i < 0 ? this.#length + i : i;
    if (index < 0 || index >= this.#length) return undefined;
    this.#check();
    const decodeView = this.#decodeView;
    if (decodeView) {
      const view = this.#slabView();
      if (this.#stride !== 0) return decodeView(view, this.#first + index * this.#stride, this.#size, this.#from(this.#source));
      return decodeView(view, this.offset(index), this.size(index), this.#from(this.source(index)));
    }
    return this.#decode(this.data(index), this.source(index));
  }

  /** Calls `visit` for each record with one DataView over the whole slab: no allocation per record. */
  visit(visit: (view: DataView, offset: number, size: number) => void): void {
    this.#check();
    const view = this.#slabView();
    const stride = this.#stride;
    if (stride !== 0) {
      const size = this.#size;
      const end = this.#first + this.#length * stride;
      for (let offset = this.#first; offset < end; offset += stride) visit(view, offset, size);
      return;
    }
    const meta = this.#meta;
    for (let q = this.#start * 4; q < meta.length; q += 4) visit(view, meta[q], meta[q + 1]);
  }

  /** A copy of the batch in memory of its own, valid for as long as it is referenced. */
  copy(): RecordBatch<T> {
    return new RecordBatch(Buffer.from(this.slab), quads(this.#meta, this.#start).slice(), 0, this.#decode, undefined, this.#decodeView, this.#from);
  }

  /** Hands the batch's memory back to the reader now (the loop does it when it moves on). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#live = 0;
    this.#release?.();
  }

  /** Every record, decoded in order (a plain iterator: no generator to resume per record). */
  [Symbol.iterator](): IterableIterator<T> {
    const decodeView = this.#decodeView;
    if (decodeView !== undefined && this.#stride !== 0) {
      this.#check();
      const Iterator = uniformIterator(decodeView);
      if (Iterator) return new Iterator(this, this.#slabView(), this.#first, this.#stride, this.#length, this.#size, this.#from(this.#source));
    }
    return new RecordIterator(this);
  }
}

/** What reading a released batch throws. */
function releasedError(): Error {
  return bpfError('recordBatch', 'EBADF', 'the batch was released (the loop moved on, or the reader closed): take batch.copy() to keep a batch');
}

/** The iterator of a uniform batch's records for one decoder (see uniformIterator). */
type UniformIteratorClass<T> = new (batch: RecordBatch<T>, view: DataView, first: number, stride: number, length: number, size: number, from: string) => IterableIterator<T>;

/**
 * A decodeView that is a struct's compiled decoder behind a check of the record's size
 * (BTF-typed readers): iteration checks the batch's one record size against a constant
 * and calls the struct's decoder itself.
 */
export interface CheckedDecoder<T> extends InPlaceDecoder<T> {
  [checkedDecoder]: { decode: (view: DataView, offset: number) => T; size: number; tooShort: (size: number) => Error };
}
export const checkedDecoder = Symbol('ebpf.checkedDecoder');

// The body of every uniform iterator class. Each class is compiled for one decoder by
// `new Function`: V8 keeps type feedback per compiled function, so each decoder's call is
// then seen alone and inlined, where one class shared by every reader of a process sees
// every decoder (measured: a decodeView after four other decoders ran 22-75% faster in a
// class of its own). The records' offsets step by the stride.
// Its fields are plain properties: private (#) fields in a class made by new Function ran
// 3-4x slower on Node 20. They cannot reach memory outside the batch's slab: the DataView
// over it checks every read.
const UNIFORM_ITERATOR = `"use strict";
return class UniformIterator {
  constructor(batch, view, first, stride, length, size, from) {
    this.batch = batch;
    this.view = view;
    this.offset = first;
    this.stride = stride;
    this.end = first + length * stride;
    this.size = size;
    this.from = from;
  }
  next() {
    const offset = this.offset;
    if (offset < this.end) {
      if (this.batch.released) throw releasedError();
      if (this.size < minSize) throw tooShort(this.size);
      this.offset = offset + this.stride;
      return { value: decode(this.view, offset, this.size, this.from), done: false };
    }
    return { value: undefined, done: true };
  }
  [Symbol.iterator]() {
    return this;
  }
};`;

type CompileUniformIterator<T> = (
  decode: InPlaceDecoder<T> | ((view: DataView, offset: number) => T),
  minSize: number,
  tooShort: (size: number) => Error,
  released: () => Error,
) => UniformIteratorClass<T>;

// Plain decodeViews and the struct decoders of typed readers apart: a user may pass a
// codec's decode as a decodeView (map.codecs.value.decode), which must not share the
// typed reader's size check, nor lose it.
const plainIterators = new WeakMap<object, UniformIteratorClass<unknown>>();
const checkedIterators = new WeakMap<object, UniformIteratorClass<unknown>>();

/**
 * The uniform iterator class of `decodeView`, compiled at its first batch and kept while
 * the decoder lives; undefined where code generation is refused (iteration then goes
 * through at(i)).
 */
function uniformIterator<T>(decodeView: InPlaceDecoder<T>): UniformIteratorClass<T> | undefined {
  const checked = (decodeView as Partial<CheckedDecoder<T>>)[checkedDecoder];
  const cache = checked ? checkedIterators : plainIterators;
  const key = checked?.decode ?? decodeView;
  let made = cache.get(key) as UniformIteratorClass<T> | undefined;
  if (made === undefined) {
    const compile = compileFunction<CompileUniformIterator<T>>(['decode', 'minSize', 'tooShort', 'releasedError'], UNIFORM_ITERATOR);
    if (!compile) return undefined;
    made = checked ? compile(checked.decode, checked.size, checked.tooShort, releasedError) : compile(decodeView, 0, releasedError, releasedError);
    Object.setPrototypeOf(made.prototype, iteratorPrototype);
    cache.set(key, made as UniformIteratorClass<unknown>);
  }
  return made;
}

/** The records of a RecordBatch, decoded one by one by `at(i)`. */
class RecordIterator<T> implements IterableIterator<T> {
  readonly #batch: RecordBatch<T>;
  #index = 0;

  constructor(batch: RecordBatch<T>) {
    this.#batch = batch;
  }

  next(): IteratorResult<T> {
    const i = this.#index;
    if (i < this.#batch.length) {
      this.#index = i + 1;
      return { value: this.#batch.at(i) as T, done: false };
    }
    return { value: undefined, done: true };
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this;
  }
}
// Iterator helpers (map, filter, take... where the runtime has them), as generators have.
const iteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())) as object;
Object.setPrototypeOf(RecordIterator.prototype, iteratorPrototype);

/**
 * Decodes a record in place: `offset` and `size` locate it in `view`, which spans the
 * batch; `from` names where the record came from (a ring buffer: its map's name).
 */
export type InPlaceDecoder<T> = (view: DataView, offset: number, size: number, from: string) => T;

interface QueuedBatch {
  slab: Buffer;
  meta: Uint32Array;
  count: number; // records in the batch
  next: number; // index of the next record to hand out
  token: number; // the native batch to release, or 0 once the slab is a copy of our own
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
  /** Batches handed out by batches() and not yet released. */
  readonly #lent = new Set<RecordBatch<T>>();
  #polling = false;
  #paused = false; // by pause(): no polling until resume()
  #looking = false; // a look at the kernel buffers is due at the next turn
  #closed = false;
  #error: unknown = undefined;
  protected readonly counters: BaseStats = { records: 0, bytes: 0, batches: 0 };
  readonly #sourceName = (source: number): string => this.sourceName(source);

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
    this.#callback = (error, slab, meta, token, bytes, lost) => this.#onBatch(error, slab, meta, token, bytes, lost);
    this.#handle = create(this.#callback, batchSize);
    this.#owners = [...new Set(owners)];
    for (const owner of this.#owners) owner.trackReader(this);
    this.#signal = options.signal;
    this.#onAbort = () => this.#fail(this.#signal?.reason ?? new Error('aborted'));
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Turns a record into what the iteration yields; `source` is the map index or the CPU. */
  protected abstract decodeRecord(data: Buffer, source: number): T;

  /** A decoder that reads records in place, with one DataView per batch, when the subclass has one. */
  protected inPlaceDecoder(): InPlaceDecoder<T> | undefined {
    return undefined;
  }

  /** The name an in-place decoder is given for a record's source (the map index or the CPU). */
  protected sourceName(source: number): string {
    return String(source);
  }

  /** Whether polling the fd clears its readiness (perf events: readable once per wake-up). */
  protected spendsWakeups(): boolean {
    return false;
  }

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

  /**
   * Stops reading the kernel buffers until resume(): what is queued in JavaScript is still
   * handed out, new records wait in the kernel (a ring or perf buffer that fills then makes
   * the BPF side drop, counted as usual), and a consumer that has taken everything waits.
   * For a daemon that must hold events back for a while (a reload, a slow sink) without
   * closing the reader.
   */
  pause(): void {
    if (this.#closed) throw bpfError('reader.pause', 'EBADF', 'the reader is closed');
    this.#paused = true;
    this.#pause();
  }

  /** Reads the kernel buffers again after pause(), starting with what waited there. */
  resume(): void {
    if (this.#closed) throw bpfError('reader.resume', 'EBADF', 'the reader is closed');
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#queued < this.#highWaterMark) this.#resume();
    this.#wakeups.wakeAll();
  }

  /** Whether pause() holds the reader. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Records received from the kernel and not yet taken by the consumer. */
  get queued(): number {
    return this.#queued;
  }

  #onBatch(error: Error | null, slab?: Buffer, meta?: Uint32Array, token = 0, bytes = 0, lost = 0): void {
    if (error || !slab || !meta) {
      this.#fail(error ?? new Error('reader poll failed'));
      return;
    }
    const records = this.#takeLost(meta, lost);
    const count = recordCount(records);
    if (count > 0) {
      this.counters.batches++;
      this.counters.records += count;
      this.counters.bytes += bytes;
      this.#queue.push({ slab, meta: records, count, next: 0, token });
      this.#queued += count;
      if (this.#queued >= this.#highWaterMark) this.#pause();
    } else {
      this.#release(token);
    }
    this.#wakeups.wakeAll();
  }

  /** The native batch's memory may be reused (its slab is detached). */
  #release(token: number): void {
    if (token !== 0 && !this.#closed) this.#handle.release(token);
  }

  /** Copies of a lent batch's bytes and table (quads), which is then released: for records that outlive their batch. */
  #own(slab: Buffer, meta: Uint32Array, token: number): [Buffer, Uint32Array] {
    if (token === 0) return [slab, quads(meta)];
    const table = quads(meta);
    const copies: [Buffer, Uint32Array] = [Buffer.from(slab), table === meta ? meta.slice() : table];
    this.#release(token);
    return copies;
  }

  /** Lost-sample notices (`lost` of them) leave the batch here: counted, or queued as items. */
  #takeLost(meta: Uint32Array, lost = 0): Uint32Array {
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
    if (this.#polling) {
      // Records may be waiting that no wake-up announces when the last drain stopped at
      // batchSize (the kernel wakes a ring consumer only once it has caught up, and a perf
      // event once per wake-up): look at the next turn of the loop (one batch per turn, as
      // polling does: a flood must not starve timers and I/O).
      if (this.#handle.more) this.#lookSoon();
    } else {
      this.#resume(); // may deliver at once, waking the promise above
    }
    return woken;
  }

  #lookSoon(): void {
    if (this.#looking) return;
    this.#looking = true;
    setImmediate(() => {
      this.#looking = false;
      if (this.#polling && this.#queued === 0) this.#consumeNow();
    });
  }

  /** The next record of the queue, decoded. */
  #take(): T {
    const head = this.#queue[0];
    // Decoded records may keep views of their bytes: the per-record path copies each batch once.
    if (head.token !== 0) {
      [head.slab, head.meta] = this.#own(head.slab, head.meta, head.token);
      head.token = 0;
    }
    const q = head.next * 4;
    head.next++;
    this.#queued--;
    if (head.next >= head.count) this.#queue.shift();
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
    if (!this.#polling && !this.#closed && !this.#paused) {
      this.#handle.start();
      this.#polling = true;
      // What arrived while we were not polling may already have spent its wake-up (a perf
      // event reports readable once per wake-up): take it now rather than at the next one.
      this.#consumeNow();
      // libuv adds the fd to its epoll set in the I/O phase of its next turn, and adding it
      // polls the fd once: for a perf event that spends the wake-up of anything written
      // between now and then, which would then wait for the next sample. Look again once
      // the poll is armed: an immediate queued from an immediate runs after the I/O phase
      // of the turn after the current one.
      if (this.spendsWakeups()) {
        setImmediate(() =>
          setImmediate(() => {
            if (this.#polling) this.#consumeNow();
          }),
        );
      }
    }
  }

  /** Drains the kernel buffers now; a failure ends the reader as a failed poll does (it may run from a timer, where a throw would be uncaught). */
  #consumeNow(): void {
    let batches: NativeBatch[];
    try {
      batches = this.#handle.consume();
    } catch (e) {
      this.#fail(e);
      return;
    }
    for (const [slab, meta, token, bytes, lost] of batches) this.#onBatch(null, slab, meta, token, bytes, lost);
  }

  #pause(): void {
    if (this.#polling) {
      this.#handle.stop();
      this.#polling = false;
    }
  }

  /** The next record; `done` once the reader is closed. */
  next(): Promise<IteratorResult<T>> {
    // The common case, a record already queued, without an async function's machinery.
    if (this.#queued > 0 && this.#items.length === 0 && this.#error === undefined) {
      let value: T;
      try {
        value = this.#take();
      } catch (e) {
        this.#fail(e); // a decoder that throws ends the reader
        return this.#next();
      }
      return Promise.resolve({ value, done: false });
    }
    return this.#next();
  }

  async #next(): Promise<IteratorResult<T>> {
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
   * Each batch is lent, in place (see RecordBatch): it is released when the loop asks for
   * the next one; `batch.copy()` keeps one. Breaking out of the loop closes the reader.
   * Lost-sample items are not part of batches (see stats).
   */
  async *batches(): AsyncGenerator<RecordBatch<T>, void, undefined> {
    try {
      for (;;) {
        this.#throwIfFailed();
        const head = this.#queue.shift();
        if (head) {
          this.#queued -= head.count - head.next;
          if (this.#queued < this.#highWaterMark) this.#resume();
          const token = head.token;
          const batch = new RecordBatch(
            head.slab,
            head.meta,
            head.next,
            (data, source) => this.decodeRecord(data, source),
            () => {
              this.#lent.delete(batch);
              this.#release(token);
            },
            this.inPlaceDecoder(),
            this.#sourceName,
          );
          this.#lent.add(batch);
          try {
            yield batch;
          } finally {
            batch.release();
          }
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
    // Batches yielded to the loop were delivered: they are released while the handle is
    // open, so their space goes back to the kernel (a ring buffer's next reader starts
    // after them). Batches still queued were never seen: they stay for the next reader.
    for (const batch of [...this.#lent]) batch.release();
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
    const batches: NativeBatch[] = this.#handle.consume(max);
    const out: T[] = [];
    for (const [lent, raw, token, , lost] of batches) {
      const [slab, meta] = this.#own(lent, this.#takeLost(raw, lost), token);
      out.push(...this.#items.splice(0));
      for (let q = 0; q < meta.length; q += 4) {
        out.push(this.decodeRecord(slab.subarray(meta[q], meta[q] + meta[q + 1]), meta[q + 2]));
        this.counters.records++;
        this.counters.bytes += meta[q + 1];
      }
    }
    out.push(...this.#items.splice(0));
    return out;
  }
}
