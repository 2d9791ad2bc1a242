import * as fs from 'node:fs';
import { BpfObject, RingBuffer } from '../lib';
import { fixture, getpriority, getuid } from './helpers/kernel';

interface Event {
  pid: number;
  tgid: number;
  seq: bigint;
  comm: string;
}

// struct event of events.bpf.c
function decodeEvent(data: Buffer): Event {
  return {
    pid: data.readUInt32LE(0),
    tgid: data.readUInt32LE(4),
    seq: data.readBigUInt64LE(8),
    comm: data.toString('latin1', 16, 32).replace(/\0.*$/s, ''),
  };
}

async function loaded(): Promise<BpfObject> {
  const obj = BpfObject.open(fixture('events'));
  await obj.load();
  obj.map('target').set(0, process.pid); // the programs report this process only
  return obj;
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

describe('tracepoint programs and ring buffers', () => {
  test('for await yields exactly the events the test triggered, with our pid', async () => {
    using obj = await loaded();
    using links = obj.attach();
    void links;
    const reader = obj.map('events').ringBuffer({ decode: decodeEvent });
    const triggered = 1000;
    setImmediate(() => getpriority(triggered));
    const events: Event[] = [];
    for await (const ev of reader) {
      events.push(ev);
      if (events.length === triggered) break;
    }
    expect(reader.closed).toBe(true); // break closed it
    expect(events.every((e) => e.tgid === process.pid)).toBe(true);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: triggered }, (_, i) => BigInt(i + 1)));
    // The main thread's name, as the kernel has it.
    expect(events[0].comm).toBe(fs.readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim());
    // The hash map counted the same calls.
    expect(obj.map('counts').get(process.pid)).toBe(BigInt(triggered));
    // And nothing more arrives: drain what the kernel ring holds now.
    using again = obj.map('events').ringBuffer({ decode: decodeEvent });
    expect(again.drain()).toEqual([]);
  });

  test('records arrive in batches on the event loop without a thread of ours', async () => {
    using obj = await loaded();
    using links = obj.attach();
    void links;
    using reader = obj.map('events').ringBuffer({ batchSize: 64 });
    getpriority(500);
    let n = 0;
    for await (const rec of reader) {
      expect(rec.length).toBe(32);
      if (++n === 500) break;
    }
    expect(reader.stats.records).toBeGreaterThanOrEqual(500);
    expect(reader.stats.batches).toBeGreaterThanOrEqual(Math.ceil(500 / 64));
    expect(reader.stats.bytes).toBe(reader.stats.records * 32);
  });

  test('a raw tracepoint counts into a per-CPU array', async () => {
    using obj = await loaded();
    using link = obj.program('on_sys_enter').attachRawTracepoint('sys_enter');
    void link;
    getpriority(200);
    const perCpu = obj.map<number, bigint>('raw_hits').getPerCpu(0)!;
    const total = perCpu.reduce((sum, v) => sum + v, 0n);
    expect(total).toBeGreaterThanOrEqual(200n);
  });

  test('detaching a link stops its events', async () => {
    using obj = await loaded();
    const link = obj.program('on_getpriority').attach();
    using reader = obj.map('events').ringBuffer();
    getpriority(10);
    expect(reader.drain().length).toBe(10);
    link.detach();
    expect(link.closed).toBe(true);
    getpriority(10);
    expect(reader.drain().length).toBe(0);
    expect(obj.map('counts').get(process.pid)).toBe(10n);
  });

  test('close() ends a pending for await cleanly', async () => {
    using obj = await loaded();
    const reader = obj.map('events').ringBuffer();
    const loop = (async () => {
      let n = 0;
      for await (const rec of reader) n += rec.length;
      return n;
    })();
    await tick(20);
    reader.close();
    await expect(loop).resolves.toBe(0);
  });

  test('closing the object ends its readers and detaches its links', async () => {
    const obj = await loaded();
    const links = obj.attach();
    const reader = obj.map('events').ringBuffer();
    const loop = (async () => {
      const seen = [];
      for await (const rec of reader) seen.push(rec);
      return seen.length;
    })();
    await tick(10);
    obj.close();
    await expect(loop).resolves.toBe(0);
    expect(reader.closed).toBe(true);
    expect(links.links.every((l) => l.closed)).toBe(true);
  });

  test('a reader closed from inside its own for await stops there', async () => {
    using obj = await loaded();
    using links = obj.attach();
    void links;
    const reader = obj.map('events').ringBuffer();
    getpriority(50);
    let n = 0;
    for await (const rec of reader) {
      void rec;
      n++;
      if (n === 5) reader.close();
    }
    expect(n).toBe(5);
  });

  test('an AbortSignal ends pending iterations with an AbortError', async () => {
    using obj = await loaded();
    const controller = new AbortController();
    const reader = obj.map('events').ringBuffer({ signal: controller.signal });
    const loop = (async () => {
      for await (const rec of reader) void rec;
    })();
    await tick(10);
    controller.abort();
    await expect(loop).rejects.toMatchObject({ name: 'AbortError' });
    expect(reader.closed).toBe(true);
  });

  test('backpressure: a consumer that stops pulling stops the draining at highWaterMark', async () => {
    using obj = await loaded();
    using links = obj.attach();
    void links;
    using reader = obj.map('events').ringBuffer({ batchSize: 8, highWaterMark: 16 });
    const first = await (async () => {
      setImmediate(() => getpriority(100));
      return reader.next();
    })();
    expect(first.done).toBe(false);
    await tick(50);
    // At most one batch past the mark is queued; the rest stays in the kernel ring.
    expect(reader.queued).toBeLessThanOrEqual(16 + 8);
    expect(reader.stats.records).toBeLessThan(100);
    let total = 1;
    while (total < 100) {
      const r = await reader.next();
      expect(r.done).toBe(false);
      total++;
    }
    expect(reader.stats.records).toBe(100);
  });

  test('one reader over two ring buffers says which map each record came from', async () => {
    using obj = await loaded();
    using links = obj.attach();
    void links;
    using reader = new RingBuffer([obj.map('events'), obj.map('uid_events')]);
    getpriority(3);
    getuid(2);
    const seen: Record<string, number> = {};
    for await (const rec of reader) {
      seen[rec.map] = (seen[rec.map] ?? 0) + 1;
      if (rec.map === 'uid_events') expect(rec.data.readUInt32LE(0)).toBe(process.pid);
      if ((seen.events ?? 0) + (seen.uid_events ?? 0) === 5) break;
    }
    expect(seen).toEqual({ events: 3, uid_events: 2 });
  });

  test('an exception in decode rejects the iteration instead of crashing', async () => {
    using obj = await loaded();
    using links = obj.attach();
    void links;
    const reader = obj.map('events').ringBuffer({
      decode: () => {
        throw new Error('bad record');
      },
    });
    setImmediate(() => getpriority(1));
    await expect(reader.next()).rejects.toThrow('bad record');
    expect(reader.closed).toBe(true);
  });
});
