// Batches lent in place: a ring buffer batch is the kernel ring's own pages, a perf buffer
// batch a pooled slab; each is released when batches() moves on (or the reader closes),
// and only then may the kernel (or the pool) reuse its memory. flood.bpf.c writes
// numbered 64-byte records with BPF_PROG_TEST_RUN: exact counts, no timing.
import { BpfError, BpfObject, type PerfBuffer, type PerfRecord, RecordBatch, RingBuffer } from '../lib';
import { DIST_INDEX, fixture, runNode, writeScript } from './helpers/kernel';

const PACKET = Buffer.alloc(64);
const RECORD_SPACE = 64 + 8; // a record and its ring header
const seqOf = (data: Buffer) => Number(data.readBigUInt64LE(0));
const released = (e: unknown) => e instanceof BpfError && e.code === 'EBADF' && /batch was released/.test(e.message);

let obj: BpfObject;

beforeEach(async () => {
  obj = BpfObject.open(fixture('flood'));
  await obj.load();
});

afterEach(() => obj.close());

function produce(name: string, n: number): void {
  expect(obj.program(name).testRun({ data: PACKET, repeat: n }).retval).toBe(2);
}

/** Every sequence number of a batch, read in place. */
function sequence(batch: RecordBatch<unknown>): number[] {
  const out: number[] = [];
  batch.visit((view, offset) => out.push(Number(view.getBigUint64(offset, true))));
  return out;
}

describe('ring buffer batches, in place', () => {
  test('the kernel ring keeps a held batch: its space comes back only when the loop moves on', async () => {
    produce('to_big', 300);
    using reader = obj.map('big').ringBuffer({ batchSize: 100 });
    const it = reader.batches()[Symbol.asyncIterator]();
    const first = (await it.next()).value as RecordBatch<unknown>;
    expect(sequence(first)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    // Nothing is consumed in the kernel while the batch is held: all 300 still wait there.
    expect(reader.stats.fill[0].available).toBe(300 * RECORD_SPACE);
    const second = (await it.next()).value as RecordBatch<unknown>;
    expect(first.released).toBe(true);
    expect(second.released).toBe(false);
    expect(sequence(second)[0]).toBe(100);
    expect(reader.stats.fill[0].available).toBe(200 * RECORD_SPACE);
    await it.return(undefined);
    expect(second.released).toBe(true);
  });

  test('close() with a batch held releases it: the next reader starts after it, nothing twice', async () => {
    produce('to_big', 300);
    const reader = obj.map('big').ringBuffer({ batchSize: 100 });
    const it = reader.batches()[Symbol.asyncIterator]();
    const held = (await it.next()).value as RecordBatch<unknown>;
    expect(sequence(held)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    reader.close();
    expect(held.released).toBe(true);
    using next = obj.map('big').ringBuffer({ batchSize: 1000 });
    expect(next.stats.fill[0].available).toBe(200 * RECORD_SPACE);
    expect(next.drain().map((r) => seqOf(r as Buffer))).toEqual(Array.from({ length: 200 }, (_, i) => 100 + i));
  });

  test('records no wake-up announces (BPF_RB_NO_WAKEUP) are drained past the first batch', async () => {
    using reader = obj.map('big').ringBuffer({ batchSize: 100 });
    produce('to_big_quiet', 350); // after the reader exists: the ring was empty, nothing wakes it
    const seen: number[] = [];
    const guard = setTimeout(() => reader.close(), 5000); // ends a stuck loop: records are then missing
    for await (const batch of reader.batches()) {
      seen.push(...sequence(batch));
      if (seen.length >= 350) break;
    }
    clearTimeout(guard);
    expect(seen).toEqual(Array.from({ length: 350 }, (_, i) => i));
  });

  test('a released batch refuses to be read; copy() keeps one', async () => {
    produce('to_big', 200);
    using reader = obj.map('big').ringBuffer({ batchSize: 100 });
    let kept: RecordBatch<unknown> | undefined;
    let old: RecordBatch<unknown> | undefined;
    let total = 0;
    for await (const batch of reader.batches()) {
      if (!kept) {
        kept = batch.copy();
        old = batch;
      }
      total += batch.length;
      if (total === 200) break;
    }
    expect(old?.released).toBe(true);
    expect(() => old?.slab).toThrow(BpfError);
    let error: unknown;
    try {
      old?.visit(() => undefined);
    } catch (e) {
      error = e;
    }
    expect(released(error)).toBe(true);
    expect(() => old?.data(0)).toThrow(/batch was released/);
    expect(old?.length).toBe(100); // the count stays readable
    expect(() => old?.offset(0)).toThrow(/batch was released/);
    expect(kept?.released).toBe(false);
    expect(sequence(kept as RecordBatch<unknown>)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(seqOf(kept?.data(99) as Buffer)).toBe(99);
  });

  test('close() while JavaScript holds a batch detaches it: no read of freed memory', async () => {
    produce('to_big', 50);
    const reader = obj.map('big').ringBuffer({ batchSize: 50 });
    const it = reader.batches()[Symbol.asyncIterator]();
    const batch = (await it.next()).value as RecordBatch<unknown>;
    const slab = batch.slab;
    const record = batch.data(49);
    expect(seqOf(record)).toBe(49);
    reader.close();
    expect(batch.released).toBe(true);
    expect(() => batch.slab).toThrow(/batch was released/);
    // Views taken before the close see a detached buffer (zero bytes), never stale memory.
    expect(slab.length).toBe(0);
    expect(record.length).toBe(0);
    expect(() => record.readBigUInt64LE(0)).toThrow(/outside buffer bounds/);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  test('records decoded per record own their bytes: they outlive the batch they came in', async () => {
    produce('to_big', 1000);
    using reader = obj.map('big').ringBuffer({ batchSize: 64 });
    const records: Buffer[] = [];
    for await (const rec of reader) {
      records.push(rec);
      if (records.length === 1000) break;
    }
    expect(records.map(seqOf)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  test('a ring that is full because a batch is held makes the BPF side drop, and is counted', async () => {
    produce('to_small', 40); // a one-page ring holds ~56 records
    using reader = obj.map('small').ringBuffer({ batchSize: 40 });
    const it = reader.batches()[Symbol.asyncIterator]();
    const held = (await it.next()).value as RecordBatch<unknown>;
    expect(held.length).toBe(40);
    produce('to_small', 40); // only the space after the held batch is free
    const room = Math.floor(4096 / RECORD_SPACE) - 40;
    expect(reader.stats.dropped).toBe(40 - room);
    const next = (await it.next()).value as RecordBatch<unknown>; // releases the first
    expect(sequence(next)).toEqual(Array.from({ length: room }, (_, i) => 40 + i));
    await it.return(undefined);
  });

  test('a reader over two maps hands out one batch per ring, each with its source', async () => {
    produce('to_big', 30);
    produce('to_small', 20);
    using both = new RingBuffer([obj.map('big'), obj.map('small')], { batchSize: 100 });
    const seen = new Map<string, number[]>();
    for await (const batch of both.batches()) {
      for (const rec of batch) {
        const list = seen.get(rec.map) ?? [];
        list.push(seqOf(rec.data));
        seen.set(rec.map, list);
      }
      if ((seen.get('big')?.length ?? 0) + (seen.get('small')?.length ?? 0) === 50) break;
    }
    expect(seen.get('big')).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(seen.get('small')).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  test('a drain that stops at its budget starts the next at the next map: a flooded ring does not hold the others back', () => {
    produce('to_big', 75);
    produce('to_small', 30);
    using both = new RingBuffer([obj.map('big'), obj.map('small')], { batchSize: 25 });
    const drains: string[][] = [];
    for (let records = both.drain(25); records.length > 0; records = both.drain(25)) drains.push([...new Set(records.map((r) => r.map))]);
    // Each full drain starts the next one at the map after the one it stopped in (without
    // that, big's 75 would all come before small's first).
    expect(drains).toEqual([['big'], ['small'], ['big'], ['small', 'big'], ['big']]);
  });
});

describe('pause() and resume()', () => {
  /** Turns of the event loop, for the reader to poll if it would. */
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
  };

  test('a paused ring reader leaves new records in the kernel ring; resume() reads them first, in order', async () => {
    using reader = obj.map('big').ringBuffer({ batchSize: 1000 });
    const it = reader.batches()[Symbol.asyncIterator]();
    produce('to_big', 10);
    expect(sequence((await it.next()).value as RecordBatch<unknown>)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    reader.pause();
    expect(reader.paused).toBe(true);
    const waiting = it.next();
    let settled = false;
    void waiting.then(() => (settled = true));
    produce('to_big', 20);
    await turns(5);
    expect(settled).toBe(false);
    expect(reader.queued).toBe(0);
    expect(reader.stats.fill[0].available).toBe(20 * RECORD_SPACE); // still in the kernel
    reader.resume();
    expect(reader.paused).toBe(false);
    expect(sequence((await waiting).value as RecordBatch<unknown>)).toEqual(Array.from({ length: 20 }, (_, i) => 10 + i));
    await it.return(undefined);
    expect(() => reader.pause()).toThrow(expect.objectContaining({ code: 'EBADF', operation: 'reader.pause' }));
    expect(() => reader.resume()).toThrow(expect.objectContaining({ code: 'EBADF', operation: 'reader.resume' }));
  });

  test('a paused perf reader still hands out what it queued; samples written while paused come after resume()', async () => {
    using reader = obj.map('perf').perfBuffer({ pageCount: 64, batchSize: 5 });
    produce('to_perf', 12);
    const it = reader[Symbol.asyncIterator]();
    const seen = [seqOf(((await it.next()).value as PerfRecord).data)];
    await turns(5); // the reader drains a batch a turn meanwhile, up to highWaterMark (20)
    const queued = reader.queued;
    expect(queued).toBeGreaterThan(0);
    reader.pause();
    produce('to_perf', 8);
    for (let i = 0; i < queued; i++) seen.push(seqOf(((await it.next()).value as PerfRecord).data));
    const waiting = it.next();
    let settled = false;
    void waiting.then(() => (settled = true));
    await turns(5);
    expect([settled, reader.queued]).toEqual([false, 0]);
    reader.resume();
    reader.resume(); // twice is once
    seen.push(seqOf(((await waiting).value as PerfRecord).data));
    while (seen.length < 20) seen.push(seqOf(((await it.next()).value as PerfRecord).data));
    // What was queued came first, in order; the rest in order per CPU, which perf buffers
    // do not merge (a fill may run on either CPU).
    expect(seen.slice(0, queued + 1)).toEqual(Array.from({ length: queued + 1 }, (_, i) => i));
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(reader.stats.lost).toBe(0);
    await it.return?.(undefined);
  });
});

describe('batch layouts: uniform (no table) and mixed', () => {
  /** What to_big_mixed / to_perf_mixed write for sequence numbers 0..n-1: [seq, size] of the records kept. */
  const mixed = (n: number, shortSize: number, longSize: number, discards: boolean) =>
    Array.from({ length: n }, (_, seq) => seq)
      .filter((seq) => seq % 5 === 3 || !discards || seq % 7 !== 6)
      .map((seq) => [seq, seq % 5 === 3 ? shortSize : longSize]);
  /** [seq, size] of every record of a batch, through offset(i)/size(i), visit and at(i). */
  const layout = (batch: RecordBatch<unknown>): number[][] => {
    const indexed = Array.from({ length: batch.length }, (_, i) => [Number(batch.slab.readBigUInt64LE(batch.offset(i))), batch.size(i)]);
    const visited: number[][] = [];
    batch.visit((view, offset, size) => visited.push([Number(view.getBigUint64(offset, true)), size]));
    expect(visited).toEqual(indexed);
    return indexed;
  };

  test('records of one size at one stride: offsets follow the stride, every accessor agrees, copy() and out of range too', async () => {
    produce('to_big', 50);
    using reader = obj.map('big').ringBuffer({ batchSize: 1000 });
    for await (const batch of reader.batches()) {
      expect(batch.length).toBe(50);
      expect(layout(batch)).toEqual(Array.from({ length: 50 }, (_, i) => [i, 64]));
      expect(Array.from({ length: 50 }, (_, i) => batch.offset(i))).toEqual(Array.from({ length: 50 }, (_, i) => 8 + i * RECORD_SPACE));
      expect(batch.source(49)).toBe(0);
      expect([batch.offset(50), batch.size(-1), batch.source(50), batch.at(50)]).toEqual([undefined, undefined, undefined, undefined]);
      expect(seqOf(batch.at(-1) as Buffer)).toBe(49);
      const kept = batch.copy();
      batch.release();
      expect(layout(kept)).toEqual(Array.from({ length: 50 }, (_, i) => [i, 64]));
      break;
    }
  });

  test('ring records of two sizes with discarded ones between: each record where and as long as it is', async () => {
    produce('to_big_mixed', 200);
    using reader = obj.map('big').ringBuffer({ batchSize: 1000 });
    const expected = mixed(200, 16, 64, true);
    for await (const batch of reader.batches()) {
      expect(layout(batch)).toEqual(expected);
      expect(layout(batch.copy())).toEqual(expected);
      break;
    }
    // The same records one at a time (the per-record path writes the table out).
    produce('to_big_mixed', 200);
    using again = obj.map('big').ringBuffer({ batchSize: 1000 });
    const later = mixed(400, 16, 64, true).filter(([seq]) => seq >= 200);
    const seen: number[][] = [];
    const guard = setTimeout(() => again.close(), 5000); // ends a stuck loop: records are then missing
    for await (const rec of again) {
      seen.push([seqOf(rec), rec.length]);
      if (seen.length === later.length) break;
    }
    clearTimeout(guard);
    expect(seen).toEqual(later);
  });

  test('a batch that starts uniform and turns mixed past batchSize stays exact across batches', async () => {
    produce('to_big_mixed', 100);
    using reader = obj.map('big').ringBuffer({ batchSize: 3 });
    const seen: number[][] = [];
    for await (const batch of reader.batches()) {
      expect(batch.length).toBeLessThanOrEqual(3);
      seen.push(...layout(batch));
      if (seen.length === mixed(100, 16, 64, true).length) break;
    }
    expect(seen).toEqual(mixed(100, 16, 64, true));
  });

  test('perf samples of two sizes, in place: each sample where and as long as it is', async () => {
    using reader = obj.map('perf').perfBuffer({ pageCount: 64, batchSize: 1000 });
    produce('to_perf_mixed', 120);
    const seen: number[][] = [];
    for await (const batch of reader.batches()) {
      seen.push(...layout(batch));
      if (seen.length >= 120) break;
    }
    // The kernel pads a raw sample to 8 bytes with its size field: 16 -> 20, 64 -> 68.
    expect(seen).toEqual(mixed(120, 20, 68, false));
  });
});

describe('decodeView', () => {
  test('batches decode in place with one DataView; records read one by one use decode', async () => {
    produce('to_big', 300);
    produce('to_small', 5);
    using reader = new RingBuffer([obj.map('big'), obj.map('small')], {
      batchSize: 1000,
      decode: (data, map) => ({ seq: seqOf(data), size: data.length, map, how: 'decode' }),
      decodeView: (view, offset, size, map) => ({ seq: Number(view.getBigUint64(offset, true)), size, map, how: 'view' }),
    });
    const got: { seq: number; size: number; map: string; how: string }[] = [];
    for await (const batch of reader.batches()) {
      got.push(...batch);
      if (got.length === 305) break;
    }
    expect(got.every((r) => r.how === 'view' && r.size === 64)).toBe(true);
    expect(got.filter((r) => r.map === 'big').map((r) => r.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(got.filter((r) => r.map === 'small').map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
    produce('to_big', 2);
    using again = new RingBuffer(obj.map('big'), {
      decode: (data) => ({ seq: seqOf(data), how: 'decode' }),
      decodeView: (view, offset) => ({ seq: Number(view.getBigUint64(offset, true)), how: 'view' }),
    });
    expect(again.drain()).toEqual([
      { seq: 300, how: 'decode' },
      { seq: 301, how: 'decode' },
    ]);
  });
  test('readers with decoders of their own iterate side by side, each decoding with its own', async () => {
    // Iteration over a uniform batch is compiled per decoder: two batches iterated at once,
    // two readers sharing one decoder, and a decoder that throws, each kept apart.
    produce('to_big', 6);
    produce('to_small', 6);
    const asSeq = (view: DataView, offset: number) => ({ seq: Number(view.getBigUint64(offset, true)) });
    const asPair = (view: DataView, offset: number, size: number, map: string) => [map, size, view.getUint32(offset, true)] as const;
    using big = obj.map('big').ringBuffer({ batchSize: 1000, decodeView: asSeq });
    using small = obj.map('small').ringBuffer({ batchSize: 1000, decodeView: asPair });
    const bigBatches = big.batches()[Symbol.asyncIterator]();
    const smallBatches = small.batches()[Symbol.asyncIterator]();
    const a = (await bigBatches.next()).value as RecordBatch<{ seq: number }>;
    const b = (await smallBatches.next()).value as RecordBatch<readonly [string, number, number]>;
    const ia = a[Symbol.iterator]();
    const ib = b[Symbol.iterator]();
    const got: unknown[] = [];
    for (let i = 0; i < 6; i++) got.push(ia.next().value, ib.next().value);
    expect(got).toEqual(Array.from({ length: 6 }, (_, i) => [{ seq: i }, ['small', 64, i]]).flat());
    expect(ia.next()).toEqual({ value: undefined, done: true });
    expect(ib.next()).toEqual({ value: undefined, done: true });
    await bigBatches.return(undefined);
    await smallBatches.return(undefined);

    produce('to_big', 3);
    using same = obj.map('big').ringBuffer({ batchSize: 1000, decodeView: asSeq });
    for await (const batch of same.batches()) {
      expect([...batch]).toEqual([{ seq: 6 }, { seq: 7 }, { seq: 8 }]);
      break;
    }
    produce('to_big', 2);
    using failing = obj.map('big').ringBuffer({
      batchSize: 1000,
      decodeView: (view, offset) => {
        const seq = Number(view.getBigUint64(offset, true));
        if (seq === 10) throw new RangeError(`record ${seq} refused`);
        return seq;
      },
    });
    for await (const batch of failing.batches()) {
      const records = batch[Symbol.iterator]();
      expect(records.next().value).toBe(9);
      expect(() => records.next()).toThrow(new RangeError('record 10 refused'));
      break;
    }
  });

  test('a process that refuses code generation from strings decodes by BTF type and iterates all the same', async () => {
    // Typed decoders and batch iterators are compiled with new Function where the process
    // allows it; under --disallow-code-generation-from-strings they are interpreted.
    const script = writeScript(
      'no-codegen.js',
      `const os = require('node:os');
const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
(async () => {
  let compiled = true;
  try { new Function('return 1'); } catch { compiled = false; }
  const obj = BpfObject.open(${JSON.stringify(fixture('types'))});
  obj.globals.set('target_tgid', process.pid);
  obj.globals.set('multiplier', 3);
  await obj.load();
  const link = obj.program('on_getpriority').attach();
  const typed = obj.map('events').ringBuffer({ type: 'event', batchSize: 1000 });
  for (let i = 0; i < 3; i++) os.getPriority(0);
  const out = { compiled };
  for await (const batch of typed.batches()) {
    out.typed = [...batch].map((e) => [e.pid === process.pid, e.multiplier, e.counter]);
    out.at = batch.at(-1).counter;
    break;
  }
  const view = obj.map('events').ringBuffer({ decodeView: (v, o) => v.getUint32(o + 4, true), batchSize: 1000 });
  os.getPriority(0);
  for await (const batch of view.batches()) {
    out.view = [...batch];
    break;
  }
  link.close();
  obj.close();
  console.log(JSON.stringify(out, (k, v) => (typeof v === 'bigint' ? String(v) : v)));
})().catch((e) => { console.error(e); process.exitCode = 1; });
`,
    );
    const r = await runNode(script, [], { nodeArgs: ['--disallow-code-generation-from-strings'] });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      compiled: false,
      typed: [
        [true, 3, '3'],
        [true, 3, '6'],
        [true, 3, '9'],
      ],
      at: '9',
      view: [3],
    });
    expect(r.code).toBe(0);
  });

  test('mixed batches decode in place too, and iteration stops at a release with EBADF', async () => {
    produce('to_big_mixed', 40);
    using reader = obj.map('big').ringBuffer({
      batchSize: 1000,
      decodeView: (view, offset, size, map) => ({ seq: Number(view.getBigUint64(offset, true)), size, map }),
    });
    const expected = Array.from({ length: 40 }, (_, seq) => seq)
      .filter((seq) => seq % 5 === 3 || seq % 7 !== 6)
      .map((seq) => ({ seq, size: seq % 5 === 3 ? 16 : 64, map: 'big' }));
    for await (const batch of reader.batches()) {
      expect([...batch]).toEqual(expected);
      expect(Array.from({ length: batch.length }, (_, i) => batch.at(i))).toEqual(expected);
      break;
    }
    produce('to_big', 10);
    for await (const batch of reader.batches()) {
      const records = batch[Symbol.iterator]();
      expect(records.next().value).toEqual({ seq: 40, size: 64, map: 'big' });
      batch.release();
      let error: unknown;
      try {
        records.next();
      } catch (e) {
        error = e;
      }
      expect(released(error)).toBe(true);
      break;
    }
  });
});

describe('perf buffer batches, in place or from a slab pool', () => {
  test('in place, a held batch holds its ring: later samples are lost (and counted) until it is released', async () => {
    // test_run writes every sample of one call on the CPU it runs on, which the scheduler
    // picks. The scenario runs on one reader in a few back-to-back calls; when a call lands
    // on another CPU than the held batch's (the thread moved), it starts again on a new
    // reader, on the CPU the thread is on then.
    const scenario = async (): Promise<boolean> => {
      // 1 page per CPU: 51 samples of 80 bytes (8 header, 4 size, 64 record, 4 padding) fit.
      using reader = obj.map('perf').perfBuffer({ pageCount: 1, batchSize: 1000 });
      produce('to_perf', 40);
      const it = reader.batches()[Symbol.asyncIterator]();
      const held = (await it.next()).value as RecordBatch<PerfRecord>;
      expect(held.length).toBe(40);
      expect(held.offset(0) % 8).toBe(4); // in place: a sample's bytes follow its 12 bytes of headers
      const cpu = (held.at(0) as PerfRecord).cpu;
      const onHeldCpu = (n: number): PerfRecord[] | undefined => {
        produce('to_perf', n);
        const records = reader.drain() as PerfRecord[];
        return records.length > 0 && records.every((r) => r.cpu === cpu) ? records : undefined;
      };
      const whileHeld = onHeldCpu(40);
      if (!whileHeld) return false;
      expect(whileHeld).toHaveLength(11); // room for 11 while the held batch's 40 keep their space
      expect(reader.stats.lost).toBe(0); // the kernel reports a loss with the ring's next record
      held.release();
      const after = onHeldCpu(5);
      if (!after) return false;
      expect(after).toHaveLength(5);
      expect(reader.stats.lostByCpu[cpu]).toBe(29);
      expect(reader.stats.lost).toBe(29);
      await it.return(undefined);
      return true;
    };
    for (let attempt = 0; attempt < 20; attempt++) {
      if (await scenario()) return;
    }
    throw new Error('in 20 attempts, the thread moved to another CPU in the middle of each');
  });

  test('in place, a drain takes batchSize records; the rest come at the next turns', async () => {
    using reader = obj.map('perf').perfBuffer({ pageCount: 16, batchSize: 10 });
    produce('to_perf', 35);
    const sizes: number[] = [];
    const seen: number[] = [];
    const guard = setTimeout(() => reader.close(), 5000); // ends a stuck loop: records are then missing
    for await (const batch of reader.batches()) {
      sizes.push(batch.length);
      seen.push(...sequence(batch));
      if (seen.length >= 35) break;
    }
    clearTimeout(guard);
    expect(seen).toEqual(Array.from({ length: 35 }, (_, i) => i));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
  });

  test('in place, records that wrap past the ring end come whole and in order', async () => {
    // 1 page: 4096 is not a multiple of 80, so the rounds keep putting a sample across the end.
    using reader = obj.map('perf').perfBuffer({ pageCount: 1, batchSize: 1000 });
    const seen: number[] = [];
    let sizes = true;
    for (let round = 0; round < 30; round++) {
      produce('to_perf', 23);
      for (const record of reader.drain()) {
        const data = (record as { data: Buffer }).data;
        sizes &&= data.length === 68; // the kernel pads a raw sample to 8 bytes with its size field, and says so
        seen.push(seqOf(data));
      }
    }
    expect(sizes).toBe(true);
    expect(reader.stats.lost).toBe(0);
    expect(seen).toEqual(Array.from({ length: 30 * 23 }, (_, i) => i));
  });

  test('samples written after a drain, with no sample after them, still wake the loop', async () => {
    // A perf event is readable once per wake-up, and libuv's arming of the poll (at its
    // next turn) spends that wake-up: the reader looks again once the poll is armed.
    using reader = obj.map('perf').perfBuffer({ pageCount: 16, batchSize: 1000 });
    produce('to_perf', 30);
    const rounds: number[][] = [];
    const guard = setTimeout(() => reader.close(), 5000); // ends a stuck loop: rounds are then missing
    for await (const batch of reader.batches()) {
      rounds.push(sequence(batch));
      if (rounds.length === 4) break;
      // The next samples are written before the event loop turns: nothing is written after them.
      batch.release();
      produce('to_perf', 30);
    }
    clearTimeout(guard);
    expect(rounds).toEqual([0, 1, 2, 3].map((r) => Array.from({ length: 30 }, (_, i) => r * 30 + i)));
  });

  test('with copy, a held batch keeps its slab while later drains reuse released ones', async () => {
    using reader = obj.map('perf').perfBuffer({ pageCount: 16, copy: true });
    produce('to_perf', 50);
    const it = reader.batches()[Symbol.asyncIterator]();
    const held = (await it.next()).value as RecordBatch<unknown>;
    const first = Array.from({ length: 50 }, (_, i) => i);
    expect(sequence(held)).toEqual(first);
    // Each drain fills a slab from the pool, copies it out and returns it: 20 reuses.
    const drained: number[] = [];
    for (let round = 0; round < 20; round++) {
      produce('to_perf', 50);
      // A test run may move to another CPU midway: its records are then in two rings.
      drained.push(...reader.drain().map((r) => seqOf((r as { data: Buffer }).data)).sort((a, b) => a - b));
    }
    expect(drained).toEqual(Array.from({ length: 1000 }, (_, i) => 50 + i));
    expect(sequence(held)).toEqual(first); // untouched by the reuse
    await it.return(undefined);
    expect(held.released).toBe(true);
  });
});

// A reader that is behind (a drain stopped at batchSize with records left) has a helper
// thread check the headers of the ring's next run of records while JavaScript reads the
// batch; the next drain takes that count. Whatever the thread got to, every record must
// come whole, once, where and as long as it is. The same cases for both readers.
interface AheadCase {
  name: string;
  /** A reader whose ring holds 50,000 records, drained in batches of `batchSize`. */
  large: string;
  /** A reader whose ring holds a few dozen records (rounds of 23 keep crossing its end). */
  small: string;
  fixed: string; // the program writing fixed-size records (64 bytes, numbered) for `large`
  mixed: string; // the same for records of two sizes (and, for ring buffers, discards)
  smallFixed: string; // the program writing fixed-size records for `small`
  /** Records the reader's side lost: perf's lost-sample notices, a ring's failed reserves. */
  lost: (reader: PerfBuffer | RingBuffer) => number;
  /** Whether records a closed reader left wait for the next one (a ring buffer's stay in the map). */
  keepsLeftovers: boolean;
  /** [seq, size] of the records `fixed` x 2000 then `mixed` x 600 deliver, in order. */
  expected: () => number[][];
  recordLength: number; // what a fixed record's bytes come to
  /** A drained record's bytes (a perf reader yields `{ cpu, data }`, a ring buffer the bytes). */
  bytes: (record: unknown) => Buffer;
}
const aheadCases: AheadCase[] = [
  {
    name: 'perf buffer',
    large: "obj.map('perf').perfBuffer({ pageCount: 1024, batchSize: BATCH })",
    small: "obj.map('perf').perfBuffer({ pageCount: 1, batchSize: 7 })", // 51 samples of 80 bytes
    fixed: 'to_perf',
    mixed: 'to_perf_mixed',
    smallFixed: 'to_perf',
    lost: (reader) => (reader as PerfBuffer).stats.lost,
    keepsLeftovers: false, // each reader maps rings of its own
    bytes: (record) => (record as PerfRecord).data,
    // The kernel pads a raw sample to 8 bytes with its size field: 16 -> 20, 64 -> 68.
    expected: () => Array.from({ length: 2600 }, (_, seq) => [seq, seq >= 2000 && seq % 5 === 3 ? 20 : 68]),
    recordLength: 68,
  },
  {
    name: 'ring buffer',
    large: "obj.map('big').ringBuffer({ batchSize: BATCH })", // 16 MiB
    small: "obj.map('small').ringBuffer({ batchSize: 7 })", // 4 KiB: 56 records of 72 bytes
    fixed: 'to_big',
    mixed: 'to_big_mixed',
    smallFixed: 'to_small',
    lost: (reader) => (reader as RingBuffer).stats.dropped,
    keepsLeftovers: true,
    bytes: (record) => record as Buffer,
    // Of the mixed ones, n % 5 == 3 is 16 bytes, else n % 7 == 6 is discarded (never seen).
    expected: () =>
      Array.from({ length: 2600 }, (_, seq) => [seq, seq >= 2000 && seq % 5 === 3 ? 16 : 64]).filter(
        ([seq]) => seq < 2000 || seq % 5 === 3 || seq % 7 !== 6,
      ),
    recordLength: 64,
  },
];

describe.each(aheadCases)('$name read-ahead, when behind', (c) => {
  /** A reader made from one of the case's expressions (also the text of a child's script). */
  const open = (expression: string, batchSize = 100): PerfBuffer | RingBuffer =>
    new Function('obj', 'BATCH', `return ${expression}`)(obj, batchSize) as PerfBuffer | RingBuffer;
  /** A pause that gives the thread time to finish its count (the results may not depend on it). */
  const pause = () => new Promise((resolve) => setTimeout(resolve, 1));
  /** [seq, size] of every record of a batch. */
  const records = (batch: RecordBatch<unknown>): number[][] =>
    Array.from({ length: batch.length }, (_, i) => [Number(batch.slab.readBigUInt64LE(batch.offset(i))), batch.size(i)]);

  test('a run counted ahead ends where the record size changes', async () => {
    using reader = open(c.large, 100);
    produce(c.fixed, 2000);
    produce(c.mixed, 600);
    const expected = c.expected();
    const seen: number[][] = [];
    for await (const batch of reader.batches()) {
      expect(batch.length).toBeLessThanOrEqual(100);
      seen.push(...records(batch));
      if (seen.length >= expected.length) break;
      await pause();
    }
    seen.sort((a, b) => a[0] - b[0]); // two perf calls may run on two CPUs: two rings
    expect(seen).toEqual(expected);
    expect(c.lost(reader)).toBe(0);
  });

  test('a run counted ahead stops at the ring end; the record across it comes whole', async () => {
    using reader = open(c.small);
    const seen: number[] = [];
    let sizes = true;
    for (let round = 0; round < 40; round++) {
      produce(c.smallFixed, 23);
      for (let got = 0; got < 23; ) {
        const drained = reader.drain(7);
        expect(drained.length).toBeGreaterThan(0);
        expect(drained.length).toBeLessThanOrEqual(7);
        for (const record of drained) {
          const data = c.bytes(record);
          sizes &&= data.length === c.recordLength;
          seen.push(seqOf(data));
        }
        got += drained.length;
        await pause();
      }
    }
    expect(sizes).toBe(true);
    expect(c.lost(reader)).toBe(0);
    expect(seen).toEqual(Array.from({ length: 40 * 23 }, (_, i) => i));
  });

  test('close() while the thread counts ahead waits for it: no read of unmapped rings', async () => {
    const LEFT = 30_000; // what the thread has to count after the first batch of 20,000
    let runs = 0; // test runs so far: the program numbers its records across all of them
    let moved = 0;
    for (let round = 0; round < 10; ) {
      const reader = open(c.large, 20_000);
      // A ring buffer still holds the last round's leftovers: top it up to 50,000.
      produce(c.fixed, c.keepsLeftovers && round > 0 ? 50_000 - LEFT : 50_000);
      runs++;
      const it = reader.batches()[Symbol.asyncIterator]();
      const first = (await it.next()).value as RecordBatch<unknown>;
      if (!c.keepsLeftovers && first.length < 20_000) {
        // A long test_run may move to another CPU midway: its samples are then in two perf
        // rings, and this batch is one ring's part (seen once in CI: 5,394). That round
        // again, on a new reader (this one closed while its thread may count ahead, too).
        expect(++moved).toBeLessThan(20);
        reader.close();
        expect((await it.next()).done).toBe(true);
        continue;
      }
      expect(first.length).toBe(20_000);
      // A ring buffer's next record is the oldest left; a perf reader's, one of this run's.
      const seq = Number(first.slab.readBigUInt64LE(first.offset(0)));
      if (c.keepsLeftovers) expect(seq).toBe(round * 20_000);
      else expect(Math.floor(seq / 50_000)).toBe(runs - 1);
      reader.close(); // the rings are unmapped at once
      expect(first.released).toBe(true);
      expect((await it.next()).done).toBe(true);
      round++;
    }
    // The map still works for a new reader, which gets what is left and what comes next.
    using again = open(c.large, 100_000);
    produce(c.fixed, 5);
    const last = c.keepsLeftovers ? 200_000 + LEFT + 5 : runs * 50_000 + 5;
    const first = last - (c.keepsLeftovers ? LEFT + 5 : 5);
    const seqs = again.drain().map((r) => seqOf(c.bytes(r)));
    expect(seqs.sort((a, b) => a - b)).toEqual(
      Array.from({ length: last - first }, (_, i) => first + i),
    );
  });

  test('a process that exits while behind, without close(), exits cleanly', async () => {
    const script = writeScript(
      `behind-exit-${c.fixed}.js`,
      `const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
(async () => {
  const obj = BpfObject.open(${JSON.stringify(fixture('flood'))});
  await obj.load();
  const BATCH = 20000;
  const reader = ${c.large};
  obj.program(${JSON.stringify(c.fixed)}).testRun({ data: Buffer.alloc(64), repeat: 50000 });
  for await (const batch of reader.batches()) {
    process.stdout.write(String(batch.length));
    process.exit(0); // the thread may still be counting: the environment's teardown ends it
  }
})();
`,
    );
    const r = await runNode(script);
    expect(r.stderr).toBe('');
    // A full first batch; for a perf reader, possibly one ring's part of a test_run that
    // moved to another CPU midway (seen: 669), with the rest still waiting in the other.
    if (c.keepsLeftovers) {
      expect(r.stdout).toBe('20000');
    } else {
      expect(r.stdout).toMatch(/^[1-9]\d*$/);
      expect(Number(r.stdout)).toBeLessThanOrEqual(20_000);
    }
    expect(r.code).toBe(0);
  });
});
