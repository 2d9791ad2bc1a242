import { BpfObject, cstring, struct, u32, u64 } from '../lib';
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

  test('an array of enums', () => {
    const colors = obj.map<number, number>('colors');
    colors.set(2, 40);
    expect(colors.get(2)).toBe(40);
    expect([...colors.values()]).toEqual([0, 0, 40, 0]);
  });

  test('per-CPU values with struct keys: one value per CPU, or one for all', () => {
    const m = obj.map<Inner, bigint>('per_cpu_by_inner');
    const key = { a: 1, b: 2, tag: 'k' };
    m.set(key, 7n);
    const values = m.getPerCpu(key)!;
    expect(values.length).toBeGreaterThanOrEqual(1);
    expect(values.every((v) => v === 7n)).toBe(true);
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
    expect(() => obj.map('events').ringBuffer({ type: 'nope' })).toThrow(/no type named 'nope'/);
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
      ]),
    );
    expect(obj.globals.get('greeting')).toBe('hi');
    expect(obj.globals.get('data_value')).toBe(7);
    expect(obj.globals.get('custom_value')).toBe(3);
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
    obj.close();
    expect(() => g.get('counter')).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});
