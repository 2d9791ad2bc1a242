import { BpfError, type BpfMap, BpfObject, type MapBatch } from '../lib';
import { mapInternals } from '../lib/map/map';
import { fixture } from './helpers/kernel';

let obj: BpfObject;

beforeEach(async () => {
  obj = BpfObject.open(fixture('batches'));
  await obj.load();
});

afterEach(() => obj.close());

interface Flow {
  bytes: bigint;
  packets: number;
  port: number;
  proto: number;
  name: string;
}

/** Every batch's entries, read through key(i) and value(i), with the batch lengths. */
function dump<K, V>(map: BpfMap<K, V>, batchSize: number): { lengths: number[]; entries: [K, V][] } {
  const lengths: number[] = [];
  const entries: [K, V][] = [];
  for (const batch of map.batches({ batchSize })) {
    lengths.push(batch.length);
    for (let i = 0; i < batch.length; i++) entries.push([batch.key(i), batch.value(i)]);
  }
  return { lengths, entries };
}

/** The error `fn` throws (fails the test when it throws none). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('BpfMap.batches()', () => {
  const N = 3000;
  const expected = new Map(Array.from({ length: N }, (_, i) => [i * 13 + 1, BigInt(i) * 0x1_0000_0001n + 7n] as [number, bigint]));

  test.each([
    ['larger than', 256],
    ['equal to', N],
    ['smaller than', 5000],
  ])('a hash of 3000 entries, %s the batchSize: every key and value exactly, in batches of at most batchSize', (_, batchSize) => {
    const counts = obj.map<number, bigint>('counts');
    expect(counts.setMany(expected)).toBe(N);
    const { lengths, entries } = dump(counts, batchSize);
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(N);
    for (const length of lengths) {
      expect(length).toBeGreaterThan(0);
      expect(length).toBeLessThanOrEqual(batchSize);
    }
    if (batchSize >= N) expect(lengths).toEqual([N]);
    else expect(lengths.length).toBeGreaterThanOrEqual(Math.ceil(N / batchSize));
    expect(entries).toHaveLength(N);
    expect(new Map(entries)).toEqual(expected);
  });

  test('keyBytes, valueBytes and iteration agree with key(i) and value(i)', () => {
    const counts = obj.map<number, bigint>('counts');
    counts.setMany(expected);
    let seen = 0;
    for (const batch of counts.batches({ batchSize: 700 })) {
      const keys = batch.keyBytes;
      const values = batch.valueBytes;
      expect(keys).toBeInstanceOf(Buffer);
      expect(keys.length).toBe(batch.length * 4);
      expect(values.length).toBe(batch.length * 8);
      const pairs = [...batch];
      expect(pairs).toHaveLength(batch.length);
      for (let i = 0; i < batch.length; i++) {
        expect(keys.readUInt32LE(i * 4)).toBe(batch.key(i));
        expect(values.readBigUInt64LE(i * 8)).toBe(batch.value(i));
        expect(pairs[i]).toEqual([batch.key(i), batch.value(i)]);
        expect(expected.get(batch.key(i))).toBe(batch.value(i));
      }
      seen += batch.length;
    }
    expect(seen).toBe(N);
  });

  test('an empty map has no batches', () => {
    const counts = obj.map<number, bigint>('counts');
    expect([...counts.batches({ batchSize: 16 })]).toEqual([]);
    const it = counts.batches({ batchSize: 16 });
    expect(it[Symbol.iterator]()).toBe(it);
    expect(it.next()).toEqual({ value: undefined, done: true });
    expect(it.next()).toEqual({ value: undefined, done: true });
    expect([...counts.batches()]).toEqual([]); // the default batchSize
  });

  test('a per-CPU hash: an array of one value per possible CPU for each entry', () => {
    const pc = obj.map<number, bigint>('per_cpu_counts');
    const cpus = mapInternals(pc).handle.valueBytes / 8; // one 8-byte slot per possible CPU
    expect(cpus).toBeGreaterThan(0);
    const want = new Map<number, bigint[]>();
    for (let k = 0; k < 200; k++) {
      const values = Array.from({ length: cpus }, (_, cpu) => BigInt(k) * 1000n + BigInt(cpu) + 1n);
      pc.set(k, values);
      want.set(k, values);
    }
    const seen = new Map<number, bigint[]>();
    for (const batch of pc.batches({ batchSize: 64 })) {
      expect(batch.valueBytes.length).toBe(batch.length * cpus * 8);
      for (let i = 0; i < batch.length; i++) seen.set(batch.key(i), batch.value(i) as unknown as bigint[]);
    }
    expect(seen).toEqual(want);
  });

  test('struct values through the BTF codec', () => {
    const flows = obj.map<number, Flow>('flows');
    const want = new Map<number, Flow>();
    for (let k = 0; k < 500; k++) {
      const flow = { bytes: BigInt(k) << 40n, packets: k * 3, port: (k * 77) & 0xffff, proto: k & 0xff, name: `flow${k}` };
      flows.set(k, flow);
      want.set(k, flow);
    }
    const { lengths, entries } = dump(flows, 128);
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(500);
    expect(new Map(entries)).toEqual(want);
    // Decoded keys and values are copies: they outlive their batch, whose memory the next one reuses.
    const it = flows.batches({ batchSize: 128 });
    const first = it.next().value as MapBatch<number, Flow>;
    const kept = [...first];
    expect(it.next().done).toBe(false);
    expect(kept).toHaveLength(first.length); // a hash's batches end at a bucket's end: often short of batchSize
    for (const [k, v] of kept) expect(v).toEqual(want.get(k));
    it.return!();
  });

  test('an array map: every index, in order, in batches of batchSize', () => {
    const slots = obj.map<number, number>('slots');
    for (let k = 0; k < 100; k += 7) slots.set(k, k * 1000 + 1);
    const { lengths, entries } = dump(slots, 30);
    expect(lengths).toEqual([30, 30, 30, 10]);
    expect(entries).toEqual(Array.from({ length: 100 }, (_, k) => [k, k % 7 === 0 ? k * 1000 + 1 : 0]));
  });

  test('a map type without batch lookups (devmap_hash): read one by one, grouped into batches of batchSize', () => {
    const devices = obj.map<number, number>('devices');
    // The kernel has no BPF_MAP_LOOKUP_BATCH for it: this is the fallback.
    expect(() => mapInternals(devices).handle.lookupBatch(null, 16)).toThrow(expect.objectContaining({ code: 'ENOTSUPP' }));
    const want = new Map<number, number>();
    for (let k = 0; k < 40; k++) {
      devices.set(k * 3, 1); // the loopback device's ifindex
      want.set(k * 3, 1);
    }
    const { lengths, entries } = dump(devices, 16);
    expect(lengths).toEqual([16, 16, 8]);
    expect(new Map(entries)).toEqual(want);
    expect(entries).toHaveLength(40);
    let bytes = 0;
    for (const batch of devices.batches({ batchSize: 40 })) {
      expect(batch.length).toBe(40);
      for (let i = 0; i < batch.length; i++) expect(batch.keyBytes.readUInt32LE(i * 4)).toBe(batch.key(i));
      bytes += batch.valueBytes.length;
    }
    expect(bytes).toBe(40 * 4);
    devices.clear();
    expect([...devices.batches({ batchSize: 8 })]).toEqual([]);
  });

  test('a batch used after the iterator moved on throws, rather than read the next batch', () => {
    const counts = obj.map<number, bigint>('counts');
    counts.setMany(expected);
    const it = counts.batches({ batchSize: 512 });
    const first = it.next().value as MapBatch<number, bigint>;
    expect(first.current).toBe(true);
    const firstKey = first.key(0);
    expect(expected.get(firstKey)).toBe(first.value(0));
    const second = it.next().value as MapBatch<number, bigint>;
    expect(second.key(0)).not.toBe(firstKey);
    expect(first.current).toBe(false);
    const error = thrown(() => first.key(0));
    expect(error).toBeInstanceOf(BpfError);
    expect(error).toEqual(expect.objectContaining({ code: 'EBADF', operation: 'map.batches' }));
    expect(error.message).toMatch(/the batch was reused/);
    expect(() => first.value(0)).toThrow(/the batch was reused/);
    expect(() => first.keyBytes).toThrow(/the batch was reused/);
    expect(() => first.valueBytes).toThrow(/the batch was reused/);
    expect(() => [...first]).toThrow(/the batch was reused/);
    expect(first.length).toBeGreaterThan(0); // still says what it had
    // The current one is fine; out of range is a RangeError, never another batch's bytes.
    expect(expected.get(second.key(second.length - 1))).toBe(second.value(second.length - 1));
    for (const i of [second.length, -1, 0.5, NaN]) {
      expect(() => second.key(i)).toThrow(RangeError);
      expect(() => second.value(i)).toThrow(RangeError);
    }
    // return() (what break calls) retires the batch in hand too, as does the loop's end.
    it.return!();
    expect(() => second.value(0)).toThrow(/the batch was reused/);
    expect(it.next()).toEqual({ value: undefined, done: true });
    let last: MapBatch<number, bigint> | undefined;
    for (const batch of counts.batches({ batchSize: 512 })) last = batch;
    expect(() => last!.key(0)).toThrow(/the batch was reused/);
    for (const batch of counts.batches({ batchSize: 512 })) {
      last = batch;
      break;
    }
    expect(() => last!.value(0)).toThrow(/the batch was reused/);
  });

  test('a batch of a closed object throws, and so does its iterator, as entries() does', () => {
    const counts = obj.map<number, bigint>('counts');
    counts.setMany(expected);
    const it = counts.batches({ batchSize: 256 });
    const entries = counts.entries({ batchSize: 256 });
    const batch = it.next().value as MapBatch<number, bigint>;
    expect(entries.next().done).toBe(false);
    expect(expected.get(batch.key(0))).toBe(batch.value(0));
    obj.close();
    expect(batch.current).toBe(false);
    for (const use of [() => batch.key(0), () => batch.value(1), () => batch.keyBytes, () => batch.valueBytes]) {
      const error = thrown(use);
      expect(error).toBeInstanceOf(BpfError);
      expect(error).toEqual(expect.objectContaining({ code: 'EBADF', operation: 'map.batches' }));
      expect(error.message).toMatch(/closed/);
    }
    const byEntries = thrown(() => {
      for (let i = 0; i < 300; i++) entries.next();
    }) as BpfError;
    const byBatches = thrown(() => it.next()) as BpfError;
    expect(byBatches).toBeInstanceOf(BpfError);
    expect(byBatches).toEqual(expect.objectContaining({ code: byEntries.code, operation: 'map.batches' }));
    expect(byBatches.message.replace('map.batches', 'map.entries')).toBe(byEntries.message);
    expect(it.next()).toEqual({ value: undefined, done: true }); // done after it threw
  });

  test('an object not loaded: the error entries() gives', () => {
    using opened = BpfObject.open(fixture('batches'));
    const counts = opened.map<number, bigint>('counts');
    const byBatches = thrown(() => counts.batches({ batchSize: 16 }).next()) as BpfError;
    const byEntries = thrown(() => counts.entries({ batchSize: 16 }).next()) as BpfError;
    expect(byBatches).toBeInstanceOf(BpfError);
    expect(byBatches.code).toBe('EBADF');
    expect(byBatches.code).toBe(byEntries.code);
    expect(byBatches.message).toMatch(/not loaded/);
    expect(byBatches.message.replace('map.batches', 'map.entries')).toBe(byEntries.message);
  });

  test.each([0, -1, 1.5, NaN, 2 ** 20 + 1])('batchSize %p throws as entries() does', (batchSize) => {
    const counts = obj.map<number, bigint>('counts');
    counts.set(1, 1n);
    const byBatches = thrown(() => counts.batches({ batchSize }).next());
    const byEntries = thrown(() => counts.entries({ batchSize }).next());
    expect(byBatches.name).toBe('TypeError'); // the native one is of the addon's realm, not jest's
    expect(byBatches.message).toMatch(/batch ?size must be/i);
    expect(byBatches.constructor).toBe(byEntries.constructor);
    expect(byBatches.message).toBe(byEntries.message);
    // And on a map without batch lookups, where nothing reaches the kernel's batch call.
    const devices = obj.map<number, number>('devices');
    expect(() => devices.batches({ batchSize }).next()).toThrow(byBatches.message);
  });

  test('the iterator has the iterator prototype (helpers where the runtime has them), and nothing is read before next()', () => {
    const counts = obj.map<number, bigint>('counts');
    const it = counts.batches({ batchSize: 0 }); // not checked until the first next()
    expect(Object.getPrototypeOf(Object.getPrototypeOf(it))).toBe(Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())));
    expect(() => it.next()).toThrow(/batchSize must be a positive integer/);
    expect(it.next()).toEqual({ value: undefined, done: true });
  });
});
