// Where a steady-state perf buffer drain spends its time (BENCHMARKS.md, "Perf buffers,
// the serial bound"): one process, bench.bpf.o's perf map (pageCount 8192), 400,000 64-byte
// samples per fill from perf_64's test_run, drained in batches of 32,768, 8 untimed warm
// rounds then 16 timed ones per mode:
//
//   node dist/bench/perf-parts.js [--batch N]
//
// Modes: `native`, the reader's native drain called in a loop with no event loop and no
// JavaScript per record (each batch released at once); `count`, `batches()` counting
// batch.length; `sum`, `batches()` summing each record's first 4 bytes in place (the main
// bench's loop). For `count` it also times, per batch of the loop after the first: the
// native drain, the JavaScript from the drain's return to the loop's body, and from the
// body's end to the next drain; and counts minor page faults per drain; for `sum`, the
// native drain and the loop's body (the sum) per batch. The C figure to compare with is
// `perf_buffer__consume` in `npm run bench`'s "perf 64 B" row.
//
// With --ring, the same for the ring buffer (bench.bpf.o's 256 MiB ring, 1,000,000
// 64-byte records a fill from fill_64; C: `ring_buffer__consume`, the "ring 64 B" row).
//
// Perf buffers only, after the modes: `cold`, how long the first call into the addon
// takes right after a fill (the fill writes 29 MB through the caches) and the call after
// it, the same getter each time; and with --producer (alone), the producer's side:
// perf_64's cost per sample in test_run with no reader, with a reader whose wakeupEvents
// is 1 (the default), 16 and 64 (each wake-up is an interrupt the producing CPU raises to
// itself).
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type * as Ebpf from 'ebpf';
import type { NativeReaderHandle } from '../typings/native';
import { median, sumInPlace } from './in-place';

const ROOT = path.resolve(__dirname, '..', '..');
const OBJECT = path.join(ROOT, 'build-bpf', 'bench.bpf.o');
const { values: args } = parseArgs({ options: { batch: { type: 'string' }, ring: { type: 'boolean' }, producer: { type: 'boolean' } } });
const RING = args.ring ?? false;
const PRODUCER = args.producer ?? false;
if (RING && PRODUCER) throw new TypeError('--producer measures perf buffers: leave out --ring');
const SAMPLES = RING ? 1_000_000 : 400_000;
const WARM = 8;
const TIMED = 16;

const BATCH = Number(args.batch ?? 32768);
if (!Number.isInteger(BATCH) || BATCH < 1) throw new TypeError(`--batch must be a positive integer, got ${args.batch}`);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { BpfObject } = require(path.join(ROOT, 'dist', 'lib')) as typeof Ebpf;

const now = (): number => Number(process.hrtime.bigint());
const faults = (): number => process.resourceUsage().minorPageFault;
const ms = (ns: number): string => `${(ns / 1e6).toFixed(2)} ms`;
const us = (ns: number): string => `${(ns / 1e3).toFixed(1)} µs`;

/** The reader's native handle (protected in the API: a diagnostic needs it). */
function handleOf(reader: object): NativeReaderHandle {
  return (reader as { handle: NativeReaderHandle }).handle;
}

async function main(): Promise<void> {
  using obj = BpfObject.open(OBJECT);
  await obj.load();
  const packet = Buffer.alloc(64);
  const fill = (): void => {
    obj.program(RING ? 'fill_64' : 'perf_64').testRun({ data: packet, repeat: SAMPLES });
  };
  if (PRODUCER) {
    producerCost(obj, packet);
    return;
  }
  const open = () =>
    RING
      ? obj.map('ring').ringBuffer({ batchSize: BATCH, highWaterMark: 1 << 22 })
      : obj.map('perf').perfBuffer({ pageCount: 8192, batchSize: BATCH, highWaterMark: 1 << 22 });

  // native: the drain alone.
  {
    using reader = open();
    const handle = handleOf(reader);
    const times: number[] = [];
    for (let round = 0; round < WARM + TIMED; round++) {
      fill();
      const start = now();
      let seen = 0;
      while (seen < SAMPLES) {
        for (const [, meta, token] of handle.consume(BATCH)) {
          seen += meta.length === 8 && meta[3] === 2 ? meta[4] : meta.length / 4;
          handle.release(token);
        }
      }
      if (round >= WARM) times.push(now() - start);
      if (seen !== SAMPLES) throw new Error(`${seen} samples drained, ${SAMPLES} filled`);
    }
    console.log(`native drain: ${ms(median(times))} a fill (${((SAMPLES / median(times)) * 1e3).toFixed(1)} M/s)`);
  }

  for (const mode of ['count', 'sum'] as const) {
    using reader = open();
    const handle = handleOf(reader);
    // Time the loop's drains from outside: the reader calls handle.consume() for every
    // batch after the first of a fill (the first comes from the poll callback).
    const consume = handle.consume.bind(handle);
    let drainEnd = 0;
    let bodyEnd = 0;
    const inDrain: number[] = [];
    const toBody: number[] = [];
    const toDrain: number[] = [];
    const inBody: number[] = [];
    let timed = false;
    Object.defineProperty(handle, 'consume', {
      value: (max?: number) => {
        const start = now();
        if (timed && bodyEnd !== 0) toDrain.push(start - bodyEnd);
        const out = consume(max);
        drainEnd = now();
        if (timed) inDrain.push(drainEnd - start);
        return out;
      },
    });
    const totals: number[] = [];
    const firsts: number[] = [];
    const pageFaults: number[] = [];
    let round = 0;
    let seen = 0;
    let sum = 0;
    let first = 0;
    fill();
    let faults0 = faults();
    let start = now();
    for await (const batch of reader.batches()) {
      const bodyStart = now();
      if (first === 0) first = bodyStart;
      if (timed && drainEnd !== 0) toBody.push(bodyStart - drainEnd);
      drainEnd = 0;
      if (mode === 'sum') sum = (sum + sumInPlace(batch)) | 0;
      seen += batch.length;
      bodyEnd = now();
      if (timed && mode === 'sum') inBody.push(bodyEnd - bodyStart);
      if (seen < SAMPLES) continue;
      bodyEnd = 0;
      if (seen !== SAMPLES) throw new Error(`${seen} samples drained, ${SAMPLES} filled`);
      if (timed) {
        totals.push(now() - start);
        firsts.push(first - start);
        pageFaults.push(faults() - faults0);
      }
      if (++round === WARM + TIMED) break;
      timed = round >= WARM;
      batch.release();
      fill();
      seen = 0;
      first = 0;
      faults0 = faults();
      start = now();
    }
    const total = median(totals);
    let line = `${mode}: ${ms(total)} a fill (${((SAMPLES / total) * 1e3).toFixed(1)} M/s), first batch after ${ms(median(firsts))}`;
    if (mode === 'count') {
      line += `; per later batch: drain ${us(median(inDrain))}, drain to body ${us(median(toBody))}, body to next drain ${us(median(toDrain))}`;
      line += `; minor faults per fill ${median(pageFaults)}`;
    } else {
      line += `; per later batch: drain ${us(median(inDrain))}, sum ${us(median(inBody))} (checksum ${sum})`;
    }
    console.log(line);
  }
  if (!RING) coldCalls(open, fill);
}

/** The first call into the addon after a fill, and the next one: the same getter. */
function coldCalls<R extends Disposable & { drain(max?: number): unknown[] }>(open: () => R, fill: () => void): void {
  using reader = open();
  const handle = handleOf(reader);
  const first: number[] = [];
  const next: number[] = [];
  for (let round = 0; round < 6; round++) {
    fill();
    const a = now();
    void handle.more;
    const b = now();
    void handle.more;
    const c = now();
    first.push(b - a);
    next.push(c - b);
    while (reader.drain(BATCH).length > 0);
  }
  console.log(`cold: the first call into the addon after a fill ${us(median(first))}, the next ${us(median(next))}`);
}

/** perf_64's cost per sample in test_run, by the reader's wakeupEvents (no reader: the map slot is empty). */
function producerCost(obj: Ebpf.BpfObject, packet: Buffer): void {
  const repeat = 100_000;
  const program = obj.program('perf_64');
  for (const wakeupEvents of [0, 1, 16, 64]) {
    const reader = wakeupEvents === 0 ? undefined : obj.map('perf').perfBuffer({ pageCount: 8192, batchSize: BATCH, wakeupEvents });
    const perSample: number[] = [];
    for (let round = 0; round < 5; round++) {
      const start = now();
      program.testRun({ data: packet, repeat });
      perSample.push((now() - start) / repeat);
      if (reader) while (reader.drain(BATCH).length > 0);
    }
    reader?.close();
    const label = wakeupEvents === 0 ? 'no reader' : `wakeupEvents ${wakeupEvents}`;
    console.log(`producer, ${label}: ${median(perSample).toFixed(0)} ns a sample`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
