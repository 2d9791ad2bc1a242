import type { NativeRingBufferHandle } from '../../typings/native';
import { native } from '../binding';
import { type BpfMap, mapInternals } from '../map/map';
import { type BaseStats, EventReader, type InPlaceDecoder, type ReaderOptions } from './reader';

export interface RingBufferOptions<T> extends ReaderOptions {
  /** Turns a record's bytes into what the iteration yields. `data` is a view into a batch
   * buffer: copy it (Buffer.from(data)) to keep it beyond the record's own use. */
  decode?: (data: Buffer, map: string) => T;
  /** The same, reading the record in place from a DataView over its whole batch (no
   * Buffer per record): what batches() iteration and `at(i)` use when given. Records read
   * one by one (`for await`) still go through `decode`. */
  decodeView?: (view: DataView, offset: number, size: number, map: string) => T;
}

/** A record of a reader over several maps: which map it came from, and its bytes. */
export interface RingBufferRecord {
  map: string;
  data: Buffer;
}

export interface RingBufferStats extends BaseStats {
  /** Per map: bytes waiting in the kernel ring now, and the ring's size. */
  fill: { map: string; available: number; size: number }[];
  /** Records the BPF side could not reserve, for maps declared with EBPF_RINGBUF_DROPS
   * (include/ebpf/ringbuf.h): the sum of their `<map>__dropped` counters. */
  dropped: number;
}

/**
 * Reads one or more BPF ring buffer maps (BPF_MAP_TYPE_RINGBUF) as an async iterable. The
 * kernel rings are drained on the event loop, at most `batchSize` records per wake-up;
 * when the consumer stops pulling, draining stops at `highWaterMark` queued records, so
 * the kernel ring fills (the BPF side sees reservation failures) instead of memory
 * growing in JS.
 */
export class RingBuffer<T = RingBufferRecord> extends EventReader<T> {
  readonly #maps: readonly BpfMap[];
  readonly #decode: (data: Buffer, map: string) => T;
  readonly #decodeView: InPlaceDecoder<T> | undefined;

  constructor(maps: BpfMap | readonly BpfMap[], options: RingBufferOptions<T> = {}) {
    const list = Array.isArray(maps) ? (maps as readonly BpfMap[]) : [maps as BpfMap];
    if (list.length === 0) throw new TypeError('a RingBuffer needs at least one map');
    const parts = list.map((m) => mapInternals(m));
    super(
      'ringBuffer',
      (onBatch, batchSize) => new native.RingBufferHandle(parts.map((p) => p.handle), onBatch, batchSize),
      parts.map((p) => p.owner),
      options,
    );
    this.#maps = list;
    this.#decode = options.decode ?? ((data: Buffer, map: string) => ({ map, data }) as T);
    // Called as it is, with the map's name: a uniform batch's records share one.
    this.#decodeView = options.decodeView;
  }

  protected override inPlaceDecoder(): InPlaceDecoder<T> | undefined {
    return this.#decodeView;
  }

  protected override sourceName(source: number): string {
    return this.#maps[source].name;
  }

  protected decodeRecord(data: Buffer, source: number): T {
    return this.#decode(data, this.sourceName(source));
  }

  /** Counters since the reader was made, the rings' fill, and the BPF side's drops. */
  get stats(): Readonly<RingBufferStats> {
    const fill = this.closed ? [] : (this.handle as NativeRingBufferHandle).fill();
    let dropped = 0;
    for (const map of this.#maps) dropped += droppedCount(map);
    return {
      ...this.counters,
      fill: fill.map(([available, size], i) => ({ map: this.#maps[i].name, available, size })),
      dropped,
    };
  }
}

/** The sum over CPUs of `<map>__dropped` (EBPF_RINGBUF_DROPS), or 0 without one. */
function droppedCount(map: BpfMap): number {
  const { owner } = mapInternals(map);
  const counter = owner.findMap(`${map.name}__dropped`);
  if (!counter || owner.closed) return 0;
  const perCpu = counter.raw.getPerCpu(0) ?? [];
  return perCpu.reduce((sum, v) => sum + Number(v.readBigUInt64LE(0)), 0);
}
