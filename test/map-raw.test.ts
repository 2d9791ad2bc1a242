import { BpfError, BpfObject } from '../lib';
import { fixture } from './helpers/kernel';

let obj: BpfObject;

beforeEach(async () => {
  obj = BpfObject.open(fixture('maps'));
  await obj.load();
});

afterEach(() => obj.close());

// struct pair { __u64 a; __u32 b; __u32 c; }
function pair(a: bigint, b: number, c: number): Buffer {
  const out = Buffer.alloc(16);
  out.writeBigUInt64LE(a, 0);
  out.writeUInt32LE(b, 8);
  out.writeUInt32LE(c, 12);
  return out;
}

describe('byte-level (map.raw) hash maps', () => {
  test('set/get/has/delete round-trip struct values', () => {
    const m = obj.map('by_id').raw;
    expect(m.get(7)).toBeUndefined();
    expect(m.has(7)).toBe(false);
    m.set(7, pair(1n << 40n, 2, 3));
    expect(m.has(7)).toBe(true);
    const v = m.get(7)!;
    expect([v.readBigUInt64LE(0), v.readUInt32LE(8), v.readUInt32LE(12)]).toEqual([1n << 40n, 2, 3]);
    expect(m.delete(7)).toBe(true);
    expect(m.delete(7)).toBe(false);
    expect(m.get(7)).toBeUndefined();
  });

  test('keys, values, entries and iteration see every entry once', () => {
    const m = obj.map('by_id').raw;
    for (let k = 0; k < 50; k++) m.set(k, pair(BigInt(k) * 10n, k, k + 1));
    const keys = [...m.keys()].map((k) => k.readUInt32LE(0)).sort((a, b) => a - b);
    expect(keys).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const entries = new Map([...m].map(([k, v]) => [k.readUInt32LE(0), v.readBigUInt64LE(0)]));
    expect(entries.size).toBe(50);
    for (const [k, a] of entries) expect(a).toBe(BigInt(k) * 10n);
    expect([...m.values()].length).toBe(50);
    m.clear();
    expect([...m.keys()]).toEqual([]);
  });

  test('8-byte keys and values take bigints and numbers', () => {
    const m = obj.map('by_u64').raw;
    m.set(1n << 63n, 5n);
    m.set(42, 2 ** 40);
    expect(m.getNumber(1n << 63n)).toBe(5n);
    expect(m.getNumber(42n)).toBe(2n ** 40n);
    expect(m.getNumber(-1n)).toBeUndefined();
    m.set(-1n, 1n); // two's complement: the same key as 2^64-1
    expect(m.getNumber(0xffffffffffffffffn)).toBe(1n);
  });

  test('update flags: noexist and exist', () => {
    const m = obj.map('by_u64').raw;
    m.set(1, 1, 'noexist');
    expect(() => m.set(1, 2, 'noexist')).toThrow(expect.objectContaining({ code: 'EEXIST', operation: 'map.update' }));
    m.set(1, 3, 'exist');
    expect(() => m.set(2, 3, 'exist')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(m.getNumber(1)).toBe(3n);
    expect(() => m.set(1, 1, 'sometimes' as 'any')).toThrow(TypeError);
  });

  test('a full map says so', () => {
    const m = obj.map('by_u64').raw; // max_entries 16
    for (let k = 0; k < 16; k++) m.set(k, k);
    expect(() => m.set(100, 1)).toThrow(expect.objectContaining({ code: 'E2BIG' }));
  });
});

describe('array maps', () => {
  test('every index exists, holds zero until set, and cannot be deleted', () => {
    const m = obj.map('slots').raw;
    expect(m.getNumber(3)).toBe(0n);
    m.set(3, 99n);
    expect(m.getNumber(3)).toBe(99n);
    expect([...m.keys()].length).toBe(8);
    expect(() => m.delete(3)).toThrow(expect.objectContaining({ code: 'EINVAL', operation: 'map.delete' }));
    expect(() => m.get(8)).not.toThrow();
    expect(m.get(8)).toBeUndefined();
    expect(() => m.set(8, 1n)).toThrow(expect.objectContaining({ code: 'E2BIG' }));
    m.clear();
    expect(m.getNumber(3)).toBe(0n);
  });
});

describe('per-CPU maps', () => {
  test('values hold one slot per possible CPU', () => {
    const m = obj.map('per_cpu').raw; // __u32 values: 8-byte slots
    const cpus = m.getPerCpu(0)!.length;
    expect(cpus).toBeGreaterThanOrEqual(1);
    const all = Buffer.alloc(8 * cpus);
    for (let c = 0; c < cpus; c++) all.writeUInt32LE(100 + c, 8 * c);
    m.set(1, all);
    expect(m.getPerCpu(1)!.map((v) => v.readUInt32LE(0))).toEqual(Array.from({ length: cpus }, (_, c) => 100 + c));
    // One value for every CPU.
    m.set(2, 7);
    expect(m.getPerCpu(2)!.map((v) => v.readUInt32LE(0))).toEqual(Array(cpus).fill(7));
  });

  test('per-CPU hash: set, read and delete', () => {
    const m = obj.map('per_cpu_hash').raw;
    m.set(9, 5n);
    expect(m.getPerCpu(9)!.every((v) => v.readBigUInt64LE(0) === 5n)).toBe(true);
    expect(m.delete(9)).toBe(true);
    expect(m.getPerCpu(9)).toBeUndefined();
    expect(() => obj.map('by_id').raw.getPerCpu(1)).toThrow(/not a per-CPU map/);
  });
});

describe('size and type errors', () => {
  test('a key or value of the wrong size is a TypeError naming the expected size', () => {
    const m = obj.map('by_id').raw;
    expect(() => m.get(Buffer.alloc(3))).toThrow(new TypeError('key must be 4 bytes, got 3'));
    expect(() => m.set(1, Buffer.alloc(15))).toThrow(new TypeError('value must be 16 bytes, got 15'));
    expect(() => m.set(1, 5)).toThrow(/value must be 16 bytes, got a number/);
    expect(() => obj.map('by_u64').raw.get(Buffer.alloc(4))).toThrow(/key must be 8 bytes, got 4/);
  });

  test('numbers out of range, fractions and other types are refused', () => {
    const m = obj.map('by_id').raw;
    expect(() => m.get(2 ** 32)).toThrow(RangeError);
    expect(() => m.get(1.5)).toThrow(/must be an integer/);
    expect(() => m.get('1' as unknown as number)).toThrow(TypeError);
    expect(() => obj.map('by_u64').raw.get(2 ** 60)).toThrow(/not a safe integer/);
  });

  test('a detached buffer is a TypeError, not a crash', () => {
    const m = obj.map('by_id').raw;
    const key = new Uint8Array(4);
    structuredClone(key.buffer, { transfer: [key.buffer] });
    expect(() => m.get(key)).toThrow(TypeError);
  });

  test('map operations before load are refused', () => {
    using fresh = BpfObject.open(fixture('maps'));
    expect(() => fresh.map('by_id').get(1)).toThrow(expect.objectContaining({ code: 'EBADF', operation: 'map.get' }));
    expect(() => fresh.map('by_id').get(1)).toThrow(/not loaded; await load\(\) first/);
  });

  test('a ring buffer reader over a map that is not a ring buffer is refused', () => {
    expect(() => obj.map('by_id').ringBuffer()).toThrow(BpfError);
    expect(() => obj.map('by_id').ringBuffer()).toThrow(/is not a ring buffer/);
  });
});
