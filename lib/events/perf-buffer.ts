import type { NativePerfBufferHandle } from '../../typings/native';
import { native } from '../binding';
import { type BpfMap, mapInternals } from '../map/map';
import { type BaseStats, EventReader, type ReaderOptions } from './reader';

export interface PerfBufferOptions<T> extends ReaderOptions {
  /** Pages of each per-CPU ring, a power of two (default 8). */
  pageCount?: number;
  /**
   * Samples a CPU's ring collects before the kernel wakes the reader (default 1). Each
   * wake-up costs the producing CPU an interrupt (5 µs a sample at 1 on the guests
   * measured in docs/events.md, 0.15 µs at 64): raise it for high-rate producers, at the
   * price of a quiet CPU's last samples waiting until that many have gathered.
   */
  wakeupEvents?: number;
  /**
   * Copy each drain into pooled memory instead of lending the kernel's per-CPU rings in
   * place (default false). Copies put every record at an 8-byte aligned offset (in place, a
   * sample's bytes sit 4 bytes past one, as the kernel lays them out) and give the ring
   * space back at once, so a batch held for long does not make the kernel drop samples;
   * they cost a copy of every record.
   */
  copy?: boolean;
  /** Yield `{ lost, cpu }` items for lost-sample notices (they are always counted in stats). */
  includeLost?: boolean;
  /** Turns a sample's bytes into what the iteration yields (default `{ cpu, data }`). */
  decode?: (data: Buffer, cpu: number) => T;
}

/** A sample of a perf buffer: the CPU it was written on, and its bytes. */
export interface PerfRecord {
  cpu: number;
  data: Buffer;
}

/** Samples the kernel dropped on one CPU because its ring was full. */
export interface PerfLost {
  lost: number;
  cpu: number;
}

export interface PerfBufferStats extends BaseStats {
  /** Samples lost (the per-CPU ring was full), in all. */
  lost: number;
  /** The same, per CPU (index = CPU). */
  lostByCpu: number[];
}

/**
 * Reads a BPF_MAP_TYPE_PERF_EVENT_ARRAY map (one ring per CPU) as an async iterable, like
 * RingBuffer. Each turn of the event loop drains up to `batchSize` records from the
 * per-CPU rings, lent in place like a ring buffer's (with `copy`: every ring, whole, copied
 * into pooled memory); lost samples are counted per CPU in `stats`, and yielded as
 * `{ lost, cpu }` with `includeLost`.
 */
export class PerfBuffer<T = PerfRecord> extends EventReader<T | PerfLost> {
  readonly #decode: (data: Buffer, cpu: number) => T;
  readonly #includeLost: boolean;
  readonly #lostByCpu: number[] = [];
  #lost = 0;

  constructor(map: BpfMap, options: PerfBufferOptions<T> = {}) {
    const { handle, owner } = mapInternals(map);
    const pageCount = options.pageCount ?? 8;
    const wakeupEvents = options.wakeupEvents ?? 1;
    if (!Number.isInteger(pageCount) || pageCount < 1 || (pageCount & (pageCount - 1)) !== 0) {
      throw new TypeError(`pageCount must be a power of two, got ${pageCount}`);
    }
    if (!Number.isInteger(wakeupEvents) || wakeupEvents < 1) throw new TypeError(`wakeupEvents must be a positive integer, got ${wakeupEvents}`);
    super('perfBuffer', (onBatch, batchSize) => new native.PerfBufferHandle(handle, onBatch, batchSize, pageCount, wakeupEvents, options.copy ?? false), [owner], options);
    this.#decode = options.decode ?? ((data: Buffer, cpu: number) => ({ cpu, data }) as T);
    this.#includeLost = options.includeLost ?? false;
  }

  protected decodeRecord(data: Buffer, cpu: number): T {
    return this.#decode(data, cpu);
  }

  protected override spendsWakeups(): boolean {
    return true;
  }

  protected override onLost(count: number, cpu: number): PerfLost | undefined {
    this.#lost += count;
    this.#lostByCpu[cpu] = (this.#lostByCpu[cpu] ?? 0) + count;
    return this.#includeLost ? { lost: count, cpu } : undefined;
  }

  /** Per-CPU rings (possible CPUs). */
  get bufferCount(): number {
    return (this.handle as NativePerfBufferHandle).bufferCount;
  }

  get stats(): Readonly<PerfBufferStats> {
    return { ...this.counters, lost: this.#lost, lostByCpu: Array.from(this.#lostByCpu, (n) => n ?? 0) };
  }
}
