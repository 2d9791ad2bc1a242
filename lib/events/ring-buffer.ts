import type { NativeBatchCallback, NativeRingBufferHandle } from '../../typings/native';
import { native } from '../binding';
import { bpfError } from '../errors';
import { type BpfMap, mapInternals } from '../map/map';
import type { Closable, ObjectContext } from '../resource';

export interface RingBufferOptions<T> {
  /** Most records drained per wake-up of the event loop (default 256). */
  batchSize?: number;
  /** Most records queued in JS; past it the reader stops draining the kernel ring until
   * the consumer catches up (default 4 × batchSize). */
  highWaterMark?: number;
  /** Aborting ends every pending iteration with the signal's reason (an AbortError). */
  signal?: AbortSignal;
  /** Turns a record's bytes into what the iteration yields. `data` is a view into a batch
   * buffer: copy it (Buffer.from(data)) to keep it beyond the record's own use. */
  decode?: (data: Buffer, map: string) => T;
}

/** A record of a reader over several maps: which map it came from, and its bytes. */
export interface RingBufferRecord {
  map: string;
  data: Buffer;
}

export interface RingBufferStats {
  /** Records delivered to JS. */
  records: number;
  /** Bytes of those records. */
  bytes: number;
  /** Drains that delivered at least one record. */
  batches: number;
}

type Waiter<T> = { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void };

/**
 * Reads one or more BPF ring buffer maps as an async iterable. The kernel ring is drained
 * on the event loop in batches of at most `batchSize` records; when the consumer stops
 * pulling, draining stops at `highWaterMark` queued records, so the kernel ring fills (the
 * BPF side sees reservation failures) instead of memory growing in JS.
 */
export class RingBuffer<T = RingBufferRecord> implements AsyncIterable<T>, Disposable, Closable {
  readonly #handle: NativeRingBufferHandle;
  readonly #callback: NativeBatchCallback;
  readonly #names: string[];
  readonly #owners: ObjectContext[];
  readonly #decode: (data: Buffer, map: string) => T;
  readonly #highWaterMark: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;
  #queue: T[] = [];
  #head = 0;
  #waiters: Waiter<T>[] = [];
  #polling = false;
  #closed = false;
  #error: unknown = undefined;
  readonly #stats: RingBufferStats = { records: 0, bytes: 0, batches: 0 };

  constructor(maps: BpfMap | readonly BpfMap[], options: RingBufferOptions<T> = {}) {
    const list = Array.isArray(maps) ? (maps as readonly BpfMap[]) : [maps as BpfMap];
    if (list.length === 0) throw new TypeError('a RingBuffer needs at least one map');
    const batchSize = options.batchSize ?? 256;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new TypeError(`batchSize must be a positive integer, got ${batchSize}`);
    this.#highWaterMark = options.highWaterMark ?? 4 * batchSize;
    if (!Number.isInteger(this.#highWaterMark) || this.#highWaterMark < 1) {
      throw new TypeError(`highWaterMark must be a positive integer, got ${this.#highWaterMark}`);
    }
    options.signal?.throwIfAborted();
    const parts = list.map((m) => mapInternals(m));
    for (const { owner } of parts) owner.assertLoaded('ringBuffer');
    this.#names = list.map((m) => m.name);
    this.#decode = options.decode ?? ((data: Buffer, map: string) => ({ map, data }) as T);
    // The native side holds this callback weakly while idle: keep it alive with the reader.
    this.#callback = (error, slab, meta) => this.#onBatch(error, slab, meta);
    this.#handle = new native.RingBufferHandle(
      parts.map((p) => p.handle),
      this.#callback,
      batchSize,
    );
    this.#owners = [...new Set(parts.map((p) => p.owner))];
    for (const owner of this.#owners) owner.trackReader(this);
    this.#signal = options.signal;
    this.#onAbort = () => this.#fail(this.#signal?.reason ?? new Error('aborted'));
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Counters since the reader was made. */
  get stats(): Readonly<RingBufferStats> {
    return { ...this.#stats };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Records queued in JS, not yet taken by the consumer. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  #onBatch(error: Error | null, slab?: Buffer, meta?: Uint32Array): void {
    if (error || !slab || !meta) {
      this.#fail(error ?? new Error('ring buffer poll failed'));
      return;
    }
    this.#stats.batches++;
    try {
      this.#each(slab, meta, (value) => {
        const waiter = this.#waiters.shift();
        if (waiter) waiter.resolve({ value, done: false });
        else this.#queue.push(value);
      });
    } catch (e) {
      this.#fail(e);
      return;
    }
    if (this.queued >= this.#highWaterMark) this.#pause();
  }

  /** Decodes each record of a batch, in order, and counts it. */
  #each(slab: Buffer, meta: Uint32Array, sink: (value: T) => void): void {
    for (let i = 0; i < meta.length; i += 3) {
      const offset = meta[i];
      const size = meta[i + 1];
      sink(this.#decode(slab.subarray(offset, offset + size), this.#names[meta[i + 2]]));
      this.#stats.records++;
      this.#stats.bytes += size;
    }
  }

  #resume(): void {
    if (!this.#polling && !this.#closed) {
      this.#handle.start();
      this.#polling = true;
    }
  }

  #pause(): void {
    if (this.#polling) {
      this.#handle.stop();
      this.#polling = false;
    }
  }

  #take(): T {
    const value = this.#queue[this.#head];
    this.#queue[this.#head] = undefined as T;
    this.#head++;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return value;
  }

  /** The next record; `done` once the reader is closed. */
  next(): Promise<IteratorResult<T>> {
    if (this.#error !== undefined) {
      const error = this.#error;
      this.#error = undefined;
      return Promise.reject(error);
    }
    if (this.queued > 0) {
      const value = this.#take();
      if (this.queued < this.#highWaterMark) this.#resume();
      return Promise.resolve({ value, done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    this.#resume();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: (value?: unknown) => {
        this.close();
        return Promise.resolve({ value: value as T, done: true });
      },
    };
  }

  #fail(error: unknown): void {
    if (this.#closed) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#shutdown();
    if (waiters.length > 0) for (const w of waiters) w.reject(error);
    else this.#error = error;
  }

  #shutdown(): void {
    this.#closed = true;
    this.#polling = false;
    this.#queue = [];
    this.#head = 0;
    this.#handle.close();
    this.#signal?.removeEventListener('abort', this.#onAbort);
    for (const owner of this.#owners) owner.untrackReader(this);
  }

  /** Stops reading and frees the reader; pending and later iterations end (`done: true`). */
  close(): void {
    if (this.#closed) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#shutdown();
    for (const w of waiters) w.resolve({ value: undefined, done: true });
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Drains what the kernel ring holds now, synchronously, without waiting (at most `max` records). */
  drain(max?: number): T[] {
    if (this.#closed) throw bpfError('ringBuffer.drain', 'EBADF', 'the reader is closed');
    const [slab, meta] = this.#handle.consume(max);
    const out: T[] = [];
    this.#each(slab, meta, (value) => out.push(value));
    return out;
  }
}
