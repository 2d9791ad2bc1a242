import { type BpfMap, BpfObject, cstring, struct, u32, u64, u64AsNumber } from '../lib';
import { mapInternals } from '../lib/map/map';
import { fixture, getpriority } from './helpers/kernel';

let obj: BpfObject;

beforeEach(async () => {
  obj = BpfObject.open(fixture('types'));
  await obj.load();
});

afterEach(() => obj.close());

interface Inner {
  a: number;
  b: number;
  tag: string;
}

describe('typed map views (from BTF)', () => {
  test('a hash of structs takes and returns plain objects', () => {
    const records = obj.map<number, Record<string, unknown>>('records');
    records.set(1, { id: 5n, name: 'first', inners: [{ a: 1, b: -1, tag: 'x' }], flags: { low: 7 } });
    const r = records.get(1)!;
    expect(r.id).toBe(5n);
    expect(r.name).toBe('first');
    expect(r.inners).toEqual([
      { a: 1, b: -1, tag: 'x' },
      { a: 0, b: 0, tag: '' },
    ]);
    expect((r.flags as { low: number }).low).toBe(7);
    expect(records.has(1)).toBe(true);
    expect(records.get(2)).toBeUndefined();
    expect([...records.keys()]).toEqual([1]);
    expect([...records.entries()].map(([k, v]) => [k, v.name])).toEqual([[1, 'first']]);
    expect(() => records.set(2, { name: 'x'.repeat(20) })).toThrow(/value\.name: 20 bytes of text do not fit char\[16\]/);
    expect(() => records.set(-1, {})).toThrow(/key: expected an integer from 0 to 4294967295/);
    expect(records.delete(1)).toBe(true);
    expect([...records]).toEqual([]);
    // The byte level is still there.
    records.set(3, { count: 9 });
    expect(records.raw.get(3)!.readUInt32LE(16)).toBe(9);
  });

  test('an array of enums, as numbers or (with enums: names) enumerator names', async () => {
    const colors = obj.map<number, number>('colors');
    colors.set(2, 40);
    expect(colors.get(2)).toBe(40);
    expect([...colors.values()]).toEqual([0, 0, 40, 0]);
    using named = BpfObject.open(fixture('types'), { enums: 'names' });
    await named.load();
    const byName = named.map<number, string | number>('colors');
    byName.set(1, 'GREEN');
    expect(byName.get(1)).toBe('GREEN');
    expect(byName.get(0)).toBe(0); // no enumerator has the value 0
    expect(() => byName.set(1, 'PINK')).toThrow(/enum color has no enumerator 'PINK'/);
  });

  test('per-CPU values with struct keys: one value per CPU, or one for all', () => {
    const m = obj.map<Inner, bigint>('per_cpu_by_inner');
    const key = { a: 1, b: 2, tag: 'k' };
    m.set(key, 7n);
    const values = m.getPerCpu(key)!;
    expect(values.length).toBeGreaterThanOrEqual(1);
    expect(values.every((v) => v === 7n)).toBe(true);
    expect(m.sumPerCpu(key)).toBe(7n * BigInt(values.length));
    m.set(key, values.map((_, cpu) => BigInt(cpu * 10)));
    expect(m.get(key)).toEqual(values.map((_, cpu) => BigInt(cpu * 10)));
    expect([...m.keys()]).toEqual([key]);
  });

  test('withCodecs reads a map through explicit codecs', () => {
    const m = obj.map('per_cpu_by_inner').withCodecs(struct({ a: u32, tag: cstring(4) }), u64);
    expect(m.codecs.key.size).toBe(8);
    expect(() => obj.map('records').withCodecs(u32, u64)).toThrow(/value codec __u64 is 8 bytes; map 'records' values are \d+/);
  });

  test('a map without BTF key/value types reads Buffers', () => {
    const events = obj.map('events');
    expect(events.codecs.key.name).toBe('key (0 bytes)');
  });

  test('ring buffer records decoded by BTF type name', async () => {
    obj.close();
    obj = BpfObject.open(fixture('types'));
    obj.globals.set('target_tgid', process.pid);
    obj.globals.set('multiplier', 3);
    await obj.load();
    using link = obj.program('on_getpriority').attach();
    void link;
    using reader = obj.map('events').ringBuffer<{ pid: number; multiplier: number; counter: bigint; comm: string }>({ type: 'event' });
    getpriority(2);
    const got = reader.drain();
    expect(got.map((e) => [e.pid, e.multiplier, e.counter])).toEqual([
      [process.pid, 3, 3n],
      [process.pid, 3, 6n],
    ]);
    expect(typeof got[0].comm).toBe('string');
    using perf = obj.map('perf_events').perfBuffer<{ counter: bigint }>({ type: 'event' });
    getpriority(1);
    const fromPerf = perf.drain() as { counter: bigint }[];
    expect(fromPerf.map((e) => e.counter)).toEqual([9n]);
    expect(() => obj.map('events').ringBuffer({ type: 'nope' })).toThrow(/no type named 'nope'/);
  });

  test('a record shorter than its type is a RangeError, read one by one or in place', async () => {
    obj.close();
    obj = BpfObject.open(fixture('types'));
    obj.globals.set('target_tgid', process.pid);
    await obj.load();
    using link = obj.program('on_getpriority').attach();
    void link;
    const size = obj.btf!.sizeOf(obj.btf!.find('record', 'struct')!.id);
    const message = `a 32-byte record is shorter than struct record (${size} bytes)`;
    using ring = obj.map('events').ringBuffer({ type: 'record' }); // struct event records: 32 bytes
    using perf = obj.map('perf_events').perfBuffer({ type: 'record' });
    getpriority(2);
    expect(() => ring.drain()).toThrow(new RangeError(message));
    // perf samples carry 4 bytes of padding: 36 bytes
    expect(() => perf.drain()).toThrow(new RangeError(message.replace('32-byte', '36-byte')));
    getpriority(1);
    using again = obj.map('events').ringBuffer({ type: 'record' });
    for await (const batch of again.batches()) {
      expect(() => [...batch]).toThrow(new RangeError(message));
      expect(() => batch.at(0)).toThrow(new RangeError(message));
      break;
    }
    // The struct's own decode passed as a plain decodeView (no size check asked for) is
    // iterated first: the typed reader of the same struct keeps its check all the same.
    const decode = obj.map('records').codecs.value.decode;
    getpriority(1);
    using plainCodec = obj.map('events').ringBuffer({ decodeView: decode, batchSize: 10 });
    for await (const batch of plainCodec.batches()) {
      const records = batch[Symbol.iterator]();
      expect(() => records.next()).not.toThrow(new RangeError(message)); // reads past the record: DataView's own error, or an object
      break;
    }
    getpriority(1);
    using typedAfter = obj.map('events').ringBuffer({ type: 'record' });
    for await (const batch of typedAfter.batches()) {
      expect(() => [...batch]).toThrow(new RangeError(message));
      break;
    }
  });

  test('batches of typed records decode in place with the compiled decoder, as drain() does', async () => {
    obj.close();
    obj = BpfObject.open(fixture('types'));
    obj.globals.set('target_tgid', process.pid);
    obj.globals.set('multiplier', 2);
    await obj.load();
    using link = obj.program('on_getpriority').attach();
    void link;
    type Event = { pid: number; multiplier: number; counter: bigint; comm: string };
    using reader = obj.map('events').ringBuffer<Event>({ type: 'event' });
    getpriority(3);
    const decoded: Event[] = [];
    for await (const batch of reader.batches()) {
      decoded.push(...batch, ...[batch.at(-1) as Event]);
      break;
    }
    expect(decoded.map((e) => [e.pid, e.multiplier, e.counter])).toEqual([
      [process.pid, 2, 2n],
      [process.pid, 2, 4n],
      [process.pid, 2, 6n],
      [process.pid, 2, 6n],
    ]);
    expect(typeof decoded[0].comm).toBe('string');
    expect(Object.keys(decoded[0])).toEqual(Object.keys(decoded[1])); // one shape for every record
  });
});

describe("64-bit integers as numbers (int64: 'number')", () => {
  test('maps, per-CPU values, batches, globals and records read numbers, and take numbers or bigints', async () => {
    using numbers = BpfObject.open(fixture('types'), { int64: 'number' });
    numbers.globals.set('target_tgid', process.pid);
    numbers.globals.set('multiplier', 5);
    await numbers.load();
    const hash = numbers.map<number, number | bigint>('big_hash');
    hash.set(1, 2 ** 53 + 2);
    hash.set(2, 2n ** 64n - 1n);
    hash.setMany([[3, 3], [4, 4n]]);
    expect(hash.get(1)).toBe(2 ** 53 + 2);
    expect(hash.get(2)).toBe(2 ** 64); // the nearest number
    expect(new Map([...hash.entries({ batchSize: 2 })])).toEqual(new Map([[1, 2 ** 53 + 2], [2, 2 ** 64], [3, 3], [4, 4]]));
    expect(hash.getMany([3, 4])).toEqual([3, 4]);
    // What the kernel holds is exact: the bigint view of the same map reads it back.
    const exact = numbers.map('big_hash').withCodecs(u32, u64);
    expect([exact.get(1), exact.get(2)]).toEqual([2n ** 53n + 2n, 2n ** 64n - 1n]);
    expect(() => hash.set(5, 2 ** 64)).toThrow(/expected a value from 0 to 18446744073709551615 \(__u64\)/);

    const perCpu = numbers.map<Inner, number>('per_cpu_by_inner');
    perCpu.set({ a: 1, b: 2, tag: 'k' }, 7);
    const values = perCpu.getPerCpu({ a: 1, b: 2, tag: 'k' })!;
    expect(values.every((v) => v === 7)).toBe(true);
    expect(perCpu.sumPerCpu({ a: 1, b: 2, tag: 'k' })).toBe(7 * values.length);
    // The explicit codecs read the same way, for maps without BTF or views of one's own.
    expect(obj.map('big_hash').withCodecs(u32, u64AsNumber).set(1, 2 ** 50).get(1)).toBe(2 ** 50);
    expect(obj.map<number, bigint>('big_hash').get(1)).toBe(2n ** 50n);

    using link = numbers.program('on_getpriority').attach();
    void link;
    using reader = numbers.map('events').ringBuffer<{ pid: number; counter: number }>({ type: 'event' });
    getpriority(3);
    const drained = reader.drain().map((e) => e.counter);
    expect(drained).toEqual([5, 10, 15]);
    getpriority(2);
    for await (const batch of reader.batches()) {
      expect([...batch].map((e) => e.counter)).toEqual([20, 25]); // the compiled decoder, in place
      break;
    }
    expect(numbers.globals.get('counter')).toBe(25);
    const counter = numbers.globals.accessor<number>('counter');
    expect(counter.get()).toBe(25);
    counter.set(2 ** 40);
    expect([counter.get(), numbers.globals.get('counter')]).toEqual([2 ** 40, 2 ** 40]);
    expect(() => BpfObject.open(fixture('types'), { int64: 'numbers' as 'number' })).toThrow(new TypeError("options.int64 must be 'bigint' or 'number', got numbers"));
  });
});

describe('globals', () => {
  test('lists every variable with its section and type', () => {
    expect(obj.globals.describe()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'multiplier', section: '.rodata', type: 'const volatile __u32', readonly: true }),
        expect.objectContaining({ name: 'greeting', section: '.rodata', readonly: true }),
        expect.objectContaining({ name: 'counter', section: '.bss', type: '__u64', readonly: false }),
        expect.objectContaining({ name: 'last_inner', section: '.bss', type: 'struct inner' }),
        expect.objectContaining({ name: 'data_value', section: '.data' }),
        expect.objectContaining({ name: 'custom_value', section: '.data.custom' }),
        expect.objectContaining({ name: 'custom_ro', section: '.rodata.custom', readonly: true }),
      ]),
    );
    expect(obj.globals.get('greeting')).toBe('hi');
    expect(obj.globals.get('data_value')).toBe(7);
    expect(obj.globals.get('custom_value')).toBe(3);
    expect(obj.globals.get('custom_ro')).toBe(11);
    expect(() => obj.globals.get('nope')).toThrow(/no global variable 'nope'; it has: /);
  });

  test('.rodata set before load changes what the program does; .bss and .data are live after load', async () => {
    obj.close();
    obj = BpfObject.open(fixture('types'));
    obj.globals.set('target_tgid', process.pid).set('multiplier', 5);
    expect(obj.globals.get('multiplier')).toBe(5);
    await obj.load();
    using link = obj.program('on_getpriority').attach();
    void link;
    getpriority(3);
    expect(obj.globals.get('counter')).toBe(15n); // 3 calls × multiplier 5, read from the mmapped .bss
    expect(obj.globals.get('last_inner')).toEqual({ a: 15, b: 0, tag: '' });
    expect(obj.globals.get('seen_data')).toBe(7 + 3);
    obj.globals.set('data_value', 100).set('custom_value', 20).set('counter', 1000n);
    getpriority(1);
    expect(obj.globals.get('seen_data')).toBe(120); // the program saw what JS wrote
    expect(obj.globals.get('counter')).toBe(1005n);
    expect(() => obj.globals.set('multiplier', 1)).toThrow(/read-only once loaded \(the kernel froze it\): set \.rodata variables before load\(\)/);
    expect(obj.globals.get('multiplier')).toBe(5); // still readable
    expect(() => obj.globals.set('data_value', -1)).toThrow(/data_value: expected an integer from 0 to 4294967295/);
  });

  test('globals after close are refused', () => {
    const g = obj.globals;
    const counter = g.accessor<bigint>('counter');
    obj.close();
    expect(() => g.get('counter')).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(() => counter.get()).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  test('an accessor reads what the program writes, in place, and writes what it reads', async () => {
    obj.close();
    obj = BpfObject.open(fixture('types'));
    obj.globals.set('target_tgid', process.pid).set('multiplier', 2);
    await obj.load();
    const counter = obj.globals.accessor<bigint>('counter');
    const seen = obj.globals.accessor<number>('seen_data');
    expect(counter.name).toBe('counter');
    using link = obj.program('on_getpriority').attach();
    void link;
    getpriority(4);
    expect(counter.get()).toBe(8n);
    counter.set(100n);
    obj.globals.set('data_value', 30);
    getpriority(1);
    expect(counter.get()).toBe(102n);
    expect(obj.globals.get('counter')).toBe(102n);
    expect(seen.get()).toBe(30 + 3); // data_value + custom_value
    expect(() => counter.set(-1n)).toThrow(/counter/);
    expect(() => obj.globals.accessor('nope')).toThrow(/no global variable 'nope'/);
  });
});

describe('global accessors', () => {
  test('an integer accessor made before load reads the initial value, then the live map, and is refused once closed', async () => {
    obj.close();
    obj = BpfObject.open(fixture('types'));
    const data = obj.globals.accessor<number>('data_value');
    const counter = obj.globals.accessor<bigint>('counter');
    const multiplier = obj.globals.accessor<number>('multiplier');
    expect([data.get(), counter.get(), multiplier.get()]).toEqual([7, 0n, 1]);
    data.set(9);
    multiplier.set(3);
    expect([data.get(), multiplier.get()]).toEqual([9, 3]);
    obj.globals.set('target_tgid', process.pid);
    const loading = obj.load();
    expect(() => data.get()).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    await loading;
    // The section was remapped at load: the accessor follows it.
    expect([data.get(), counter.get(), multiplier.get()]).toEqual([9, 0n, 3]);
    using link = obj.program('on_getpriority').attach();
    void link;
    getpriority(2);
    expect(counter.get()).toBe(6n);
    obj.globals.set('data_value', 11);
    expect(data.get()).toBe(11);
    counter.set(2n ** 64n - 1n);
    expect(counter.get()).toBe(2n ** 64n - 1n);
    obj.close();
    for (const a of [data, counter, multiplier]) expect(() => a.get()).toThrow(expect.objectContaining({ code: 'EBADF', operation: 'globals.get' }));
  });

  test('struct and custom-section globals read through their codec, before and after load', async () => {
    const inner = obj.globals.accessor<Inner>('last_inner');
    const custom = obj.globals.accessor<number>('custom_value');
    expect(inner.get()).toEqual({ a: 0, b: 0, tag: '' });
    inner.set({ a: 5, b: -5, tag: 'abc' });
    expect(inner.get()).toEqual({ a: 5, b: -5, tag: 'abc' });
    expect(custom.get()).toBe(3);
    obj.globals.set('custom_value', 4);
    expect(custom.get()).toBe(4);
    obj.close();
    expect(() => inner.get()).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(() => custom.get()).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});

describe('one at a time through the bound key and value buffers', () => {
  test('views of one map share them: each operation sees its own key and value', () => {
    const typed = obj.map<number, bigint>('big_hash');
    const raw = typed.withCodecs(u32, u64);
    for (let k = 0; k < 1000; k++) typed.set(k, BigInt(k) * 10n);
    for (let k = 0; k < 1000; k += 2) raw.set(k, BigInt(k) * 100n); // the other view, same buffers
    expect(typed.get(4)).toBe(400n);
    expect(raw.get(5)).toBe(50n);
    expect(typed.get(5000)).toBeUndefined();
    expect(typed.has(999)).toBe(true);
    // A caller's own key bytes take the general path and agree with the bound one.
    const key = Buffer.alloc(4);
    key.writeUInt32LE(6);
    expect(typed.get(key as unknown as number)).toBe(600n);
    expect(typed.set(1, 7n, 'exist').get(1)).toBe(7n);
    expect(() => typed.set(2000, 1n, 'exist')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => typed.set(1, 1n, 'noexist')).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    for (let k = 0; k < 1000; k++) typed.delete(k);
  });
});

describe('the bound functions at the native level', () => {
  test('a pair checks the object itself: after close or a second binding it throws, never touches freed memory', () => {
    const m = obj.map<number, bigint>('big_hash');
    m.set(0, 5n);
    const { handle } = mapInternals(m as BpfMap<unknown, unknown>);
    const key = Buffer.alloc(4);
    const value = Buffer.alloc(8);
    const [lookup, update] = handle.bindBuffers(key, value);
    expect(lookup()).toBe(true);
    expect(value.readBigUInt64LE(0)).toBe(5n);
    value.writeBigUInt64LE(6n);
    update(0);
    expect(lookup()).toBe(true);
    key.writeUInt32LE(1);
    expect(lookup()).toBe(false);
    expect(() => update(2 /* BPF_EXIST */)).toThrow(expect.objectContaining({ code: 'ENOENT', operation: 'map.update' }));
    // The view's own pair was replaced by this binding: it refuses instead of using buffers let go.
    expect(() => m.get(0)).toThrow(expect.objectContaining({ code: 'EBADF', operation: 'map.lookup' }));
    const [lookup2] = handle.bindBuffers(Buffer.alloc(4), Buffer.alloc(8));
    expect(() => lookup()).toThrow(/buffers were bound again/);
    expect(() => update(0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(lookup2()).toBe(true);
    obj.close();
    expect(() => lookup2()).toThrow(expect.objectContaining({ code: 'EBADF', operation: 'map.lookup' }));
    expect(() => lookup2()).toThrow(/closed/);
  });
});

describe('many at once', () => {
  test('setMany / entries({ batchSize }) / getMany / deleteMany agree with single operations on 100,000 entries', () => {
    const m = obj.map<number, bigint>('big_hash');
    const N = 100_000;
    const entries: [number, bigint][] = Array.from({ length: N }, (_, i) => [i * 7, BigInt(i) * 3n]);
    expect(m.setMany(entries)).toBe(N);
    // Batched dump vs. next-key iteration.
    const batched = new Map(m.entries({ batchSize: 4096 }));
    expect(batched.size).toBe(N);
    const single = new Map(m.entries());
    expect(single).toEqual(batched);
    for (const [k, v] of entries) expect(batched.get(k)).toBe(v);
    const some = [0, 7, 14, 3, 70_000 * 7];
    expect(m.getMany(some)).toEqual([0n, 3n, 6n, undefined, 210_000n]);
    expect(some.map((k) => m.get(k))).toEqual(m.getMany(some));
    // Missing keys in the middle are skipped.
    expect(m.deleteMany([0, 1, 7, 2, 14])).toBe(3);
    expect(m.getMany([0, 7, 14, 21])).toEqual([undefined, undefined, undefined, 9n]);
    expect(m.deleteMany(entries.map(([k]) => k))).toBe(N - 3);
    expect([...m.keys()]).toEqual([]);
  });

  test('entries({ batchSize }) of an empty map, and ended early', () => {
    const m = obj.map<number, bigint>('big_hash');
    expect([...m.entries({ batchSize: 16 })]).toEqual([]);
    const empty = m.entries({ batchSize: 16 });
    expect(empty.next()).toEqual({ value: undefined, done: true });
    expect(empty.next()).toEqual({ value: undefined, done: true });
    m.setMany(Array.from({ length: 100 }, (_, i) => [i, BigInt(i)] as [number, bigint]));
    const it = m.entries({ batchSize: 16 });
    expect(it[Symbol.iterator]()).toBe(it);
    let seen = 0;
    for (const [k, v] of it) {
      expect(v).toBe(BigInt(k));
      if (++seen === 20) break; // return(): the rest is not read
    }
    expect(it.next()).toEqual({ value: undefined, done: true });
    // Entries yielded are fresh tuples: keeping them while iterating is safe.
    const all = [...m.entries({ batchSize: 7 })];
    expect(all).toHaveLength(100);
    expect(new Set(all.map(([k]) => k)).size).toBe(100);
    for (const [k, v] of all) expect(v).toBe(BigInt(k));
    m.clear();
  });

  test('entries({ batchSize }) of a map changing under it, and of an object closed under it', () => {
    const m = obj.map<number, bigint>('big_hash');
    m.setMany(Array.from({ length: 1000 }, (_, i) => [i, BigInt(i) * 2n] as [number, bigint]));
    const keys = new Set<number>();
    let i = 0;
    for (const [k, v] of m.entries({ batchSize: 64 })) {
      expect(v).toBe(BigInt(k) * 2n);
      keys.add(k);
      if (i++ % 3 === 0) m.delete((k + 500) % 1000); // some of what is still ahead goes
      m.set(1000 + i, BigInt(1000 + i) * 2n); // and new keys come
    }
    expect(keys.size).toBeGreaterThan(0);
    m.clear();
    m.setMany(Array.from({ length: 300 }, (_, j) => [j, 1n] as [number, bigint]));
    const it = m.entries({ batchSize: 100 });
    expect(it.next().done).toBe(false);
    obj.close();
    let error: unknown;
    try {
      for (let j = 0; j < 300; j++) it.next();
    } catch (e) {
      error = e;
    }
    expect(error).toEqual(expect.objectContaining({ code: 'EBADF', operation: 'map.entries' }));
    expect(it.next()).toEqual({ value: undefined, done: true }); // done after it threw, as a generator
  });

  test('entries({ batchSize }) through a codec that returns views of its bytes: each batch has its own', () => {
    const m = obj.map<number, bigint>('big_hash');
    m.setMany(Array.from({ length: 500 }, (_, i) => [i, BigInt(i)] as [number, bigint]));
    const view = { ...u64, name: 'view', decode: (dv: DataView, offset: number) => new Uint8Array(dv.buffer, dv.byteOffset + offset, 8) };
    const aliased = m.withCodecs(u32, view as unknown as typeof u64);
    const all = [...aliased.entries({ batchSize: 32 })] as unknown as [number, Uint8Array][];
    expect(all).toHaveLength(500);
    for (const [k, bytes] of all) expect(Buffer.from(bytes).readBigUInt64LE(0)).toBe(BigInt(k));
    expect(() => [...m.entries({ batchSize: 0 })]).toThrow(/batchSize must be a positive integer/);
    m.clear();
  });

  test('get and set of integer keys and values: the typed fast path and the codec agree, errors included', () => {
    const m = obj.map<number, bigint>('big_hash');
    m.set(1, 5n).set(2 ** 32 - 1, 2n ** 64n - 1n);
    expect(m.get(2 ** 32 - 1)).toBe(2n ** 64n - 1n);
    // A bigint key and a number value go through the codec's conversions.
    m.set(3n as unknown as number, 7 as unknown as bigint);
    expect(m.get(3)).toBe(7n);
    expect(m.get(-0)).toBeUndefined();
    expect(() => m.set(2 ** 32, 1n)).toThrow(/key: expected an integer from 0 to 4294967295/);
    expect(() => m.set(1.5, 1n)).toThrow(/key: expected an integer/);
    expect(() => m.get(NaN)).toThrow(/key: expected an integer/);
    expect(() => m.set(1, 2n ** 64n)).toThrow(/value: expected a value from 0 to/);
    expect(() => m.set(1, -1n)).toThrow(/value: expected a value from 0 to/);
    expect(() => m.set(1, 1.5 as unknown as bigint)).toThrow(/value: expected a bigint/);
    expect(m.get(1)).toBe(5n); // the failed sets left it alone
    const e = obj.map<number, number>('colors'); // __u32 -> enum color (4 bytes, numbers)
    e.set(2, 3);
    expect(e.get(2)).toBe(3);
    m.clear();
    obj.close();
    expect(() => m.get(1)).toThrow(expect.objectContaining({ code: 'EBADF', operation: 'map.get' }));
    expect(() => m.set(1, 1n)).toThrow(expect.objectContaining({ code: 'EBADF', operation: 'map.set' }));
  });

  test('batched reads of per-CPU and array maps', () => {
    const colors = obj.map<number, number>('colors');
    colors.setMany([
      [0, 1],
      [3, 40],
    ]);
    expect([...colors.entries({ batchSize: 2 })]).toEqual([
      [0, 1],
      [1, 0],
      [2, 0],
      [3, 40],
    ]);
    const pc = obj.map<Inner, bigint>('per_cpu_by_inner');
    pc.set({ a: 1, b: 1, tag: 'a' }, 5n);
    const [[key, values]] = [...pc.entries({ batchSize: 8 })] as unknown as [Inner, bigint[]][];
    expect(key).toEqual({ a: 1, b: 1, tag: 'a' });
    expect(values.every((v) => v === 5n)).toBe(true);
  });
});

describe('other map types', () => {
  test('queue and stack: push, peek, pop', () => {
    const fifo = obj.map<never, number>('fifo');
    for (const v of [1, 2, 3]) fifo.push(v);
    expect(fifo.peek()).toBe(1);
    expect([fifo.pop(), fifo.pop(), fifo.pop(), fifo.pop()]).toEqual([1, 2, 3, undefined]);
    const lifo = obj.map<never, Inner>('lifo');
    lifo.push({ a: 1, b: 0, tag: 'one' });
    lifo.push({ a: 2, b: 0, tag: 'two' });
    expect(lifo.pop()).toEqual({ a: 2, b: 0, tag: 'two' });
    expect(() => obj.map('records').push({})).toThrow(/map 'records' is a hash map, not queue or stack/);
  });

  test('bloom filter: add and mayContain', () => {
    const seen = obj.map<never, bigint>('seen');
    for (let i = 0n; i < 50n; i++) seen.add(i * 1000n);
    for (let i = 0n; i < 50n; i++) expect(seen.mayContain(i * 1000n)).toBe(true);
    expect(seen.has(49_000n as never)).toBe(true);
    const falsePositives = Array.from({ length: 200 }, (_, i) => seen.mayContain(BigInt(i) * 1000n + 1n)).filter(Boolean).length;
    expect(falsePositives).toBeLessThan(40);
  });

  test('LPM trie: the longest prefix matches', () => {
    const routes = obj.map<{ prefixlen: number; addr: Uint8Array }, number>('routes');
    routes.set({ prefixlen: 16, addr: Uint8Array.from([198, 18, 0, 0]) }, 1);
    routes.set({ prefixlen: 24, addr: Uint8Array.from([198, 18, 7, 0]) }, 2);
    expect(routes.get({ prefixlen: 32, addr: Uint8Array.from([198, 18, 7, 9]) })).toBe(2);
    expect(routes.get({ prefixlen: 32, addr: Uint8Array.from([198, 18, 9, 9]) })).toBe(1);
    expect(routes.get({ prefixlen: 32, addr: Uint8Array.from([198, 19, 0, 1]) })).toBeUndefined();
  });

  test('LRU hash evicts instead of failing when full', () => {
    const recent = obj.map<number, bigint>('recent');
    for (let i = 0; i < 500; i++) recent.set(i, BigInt(i));
    const kept = [...recent.keys()];
    expect(kept.length).toBeLessThanOrEqual(64);
    expect(recent.get(499)).toBe(499n);
  });

  test('hash of maps: inner maps go in as maps and read back as ids', () => {
    const outer = obj.map<number, unknown>('outer');
    expect(outer.raw.get(0)).toBeDefined(); // libbpf placed inner_a at load
    outer.set(1, obj.map('inner_b'));
    expect(outer.raw.get(1)!.readUInt32LE(0)).toBeGreaterThan(0);
    outer.set(2, 'inner_a'); // by name
    outer.set(3, obj.map('inner_b').fd); // by fd
    expect(outer.raw.get(2)!.readUInt32LE(0)).toBe(outer.raw.get(0)!.readUInt32LE(0)); // the same map id as libbpf's
    expect(outer.raw.get(3)!.readUInt32LE(0)).toBe(outer.raw.get(1)!.readUInt32LE(0));
    expect(() => outer.set(2, 'nope')).toThrow(/has no map 'nope' to put in 'outer'/);
    expect(outer.delete(1)).toBe(true);
  });

  test('freeze() stops writes from user space', () => {
    const recent = obj.map<number, bigint>('recent');
    recent.set(1, 1n);
    recent.freeze();
    expect(() => recent.set(2, 2n)).toThrow(expect.objectContaining({ code: 'EPERM', operation: 'map.update' }));
    expect(recent.get(1)).toBe(1n);
  });
});
