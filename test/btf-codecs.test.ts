// Codecs built from a real object's BTF, checked against the layout the C compiler of
// this machine gives the same declarations (an independent reading of the C rules).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BpfObject, Btf, CodecFactory, cstring, decodeValue, encodeValue, i64AsNumber, struct, u16, u32, u64, u64AsNumber, u8 } from '../lib';
import { fixture, hasCommand } from './helpers/kernel';

const obj = BpfObject.open(fixture('types'));
afterAll(() => obj.close());
const btf = obj.btf as Btf;
const codecs = new CodecFactory(btf);
const named = new CodecFactory(btf, { enums: 'names' });

const SAMPLE = {
  id: 0x1122334455667788n,
  delta: -5n,
  count: 4000000000,
  enabled: true,
  name: 'hello',
  mac: Uint8Array.from([1, 2, 3, 4, 5, 6]),
  color: 40,
  wide: 0x123456789n,
  inners: [
    { a: 65535, b: -128, tag: 'abcd' },
    { a: 7, b: 127, tag: '' },
  ],
  flags: { low: 5, mid: -33, high: 0x3fffff, big: 0xabcdef0123n },
  num: { u: 0xfffffffe, s: -2, f: Number.NaN },
  x: 10,
  y: 20,
  ratio: 0.25,
  ptr: 0xffff888012345678n,
  temps: [-300, 0, 300],
};

// The same declarations for the host compiler, filled with SAMPLE's values.
const HOST_C = String.raw`
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdbool.h>
enum color { RED = 1, GREEN = 2, BLUE = 40 };
enum wide { WIDE_SMALL = 1, WIDE_BIG = 0x123456789ULL };
struct inner { uint16_t a; int8_t b; char tag[5]; };
struct flags { uint32_t low : 3; int32_t mid : 7; uint32_t high : 22; uint64_t big : 40; };
union number { uint32_t u; int32_t s; float f; };
struct record {
  uint64_t id; int64_t delta; uint32_t count; bool enabled; char name[16]; uint8_t mac[6];
  enum color color; enum wide wide; struct inner inners[2]; struct flags flags;
  union number num; struct { uint32_t x; uint32_t y; }; double ratio; void *ptr; int16_t temps[3];
};
int main(void) {
  struct record r; memset(&r, 0, sizeof(r));
  r.id = 0x1122334455667788ULL; r.delta = -5; r.count = 4000000000u; r.enabled = true;
  strcpy(r.name, "hello"); uint8_t mac[6] = {1,2,3,4,5,6}; memcpy(r.mac, mac, 6);
  r.color = BLUE; r.wide = WIDE_BIG;
  r.inners[0].a = 65535; r.inners[0].b = -128; strcpy(r.inners[0].tag, "abcd");
  r.inners[1].a = 7; r.inners[1].b = 127;
  r.flags.low = 5; r.flags.mid = -33; r.flags.high = 0x3fffff; r.flags.big = 0xabcdef0123ULL;
  r.num.u = 0xfffffffeu; r.x = 10; r.y = 20; r.ratio = 0.25; r.ptr = (void *)0xffff888012345678ULL;
  r.temps[0] = -300; r.temps[1] = 0; r.temps[2] = 300;
  printf("%zu\n", sizeof(r));
  for (size_t i = 0; i < sizeof(r); i++) printf("%02x", ((unsigned char *)&r)[i]);
  printf("\n");
  return 0;
}`;

describe('codecs from BTF', () => {
  const record = codecs.named('record');

  test('sizes agree with the BTF', () => {
    expect(record.size).toBe(btf.sizeOf(btf.find('record', 'struct')!.id));
    expect(codecs.named('inner').size).toBe(8);
    expect(record.name).toBe('struct record');
  });

  (hasCommand('cc') ? test : test.skip)('encoding matches the host C compiler byte for byte', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ebpf-layout-'));
    try {
      fs.writeFileSync(path.join(dir, 'layout.c'), HOST_C);
      execFileSync('cc', ['-O0', '-o', path.join(dir, 'layout'), path.join(dir, 'layout.c')]);
      const [size, hex] = execFileSync(path.join(dir, 'layout'), { encoding: 'utf8' }).trim().split('\n');
      expect(record.size).toBe(Number(size));
      // The union holds u; encode only that member (the decoded sample shows all three).
      const bytes = encodeValue(record, { ...SAMPLE, num: { u: SAMPLE.num.u } });
      expect(bytes.toString('hex')).toBe(hex);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('decode shows every kind as a plain JS value', () => {
    const decoded = decodeValue(record, encodeValue(record, { ...SAMPLE, num: { u: SAMPLE.num.u } })) as typeof SAMPLE;
    expect(decoded).toEqual({ ...SAMPLE, num: { u: 0xfffffffe, s: -2, f: expect.any(Number) } });
    expect(Number.isNaN(decoded.num.f)).toBe(true);
    // The same bytes read as each member of the union: u32, s32 and float.
    expect(decodeValue(codecs.named('number'), encodeValue(codecs.named('number'), { u: 0xbf800000 }))).toEqual({ u: 0xbf800000, s: -1082130432, f: -1 });
    expect(decoded.mac).toBeInstanceOf(Uint8Array);
    const withNames = decodeValue(named.named('record'), encodeValue(record, { color: 2, wide: 1n })) as { color: unknown; wide: unknown };
    expect([withNames.color, withNames.wide]).toEqual(['GREEN', 'WIDE_SMALL']);
    expect(encodeValue(named.named('record'), { color: 'BLUE' }).equals(encodeValue(record, { color: 40 }))).toBe(true);
  });

  test('round-trips random values (seeded)', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31);
    const int = (bits: number, signed: boolean) => {
      const v = BigInt(Math.floor(rnd() * 2 ** 30)) * BigInt(Math.floor(rnd() * 2 ** 30)) * BigInt(Math.floor(rnd() * 2 ** 30));
      const u = BigInt.asUintN(bits, v);
      return signed ? BigInt.asIntN(bits, u) : u;
    };
    const text = (max: number) => 'abcdefghijklmnopqrstuvwxyz'.slice(0, Math.floor(rnd() * (max + 1)));
    for (let i = 0; i < 500; i++) {
      const value = {
        id: int(64, false),
        delta: int(64, true),
        count: Number(int(32, false)),
        enabled: rnd() < 0.5,
        name: text(16),
        mac: Uint8Array.from({ length: 6 }, () => Number(int(8, false))),
        color: Number(int(32, false)),
        wide: int(64, false),
        inners: [0, 1].map(() => ({ a: Number(int(16, false)), b: Number(int(8, true)), tag: text(5) })),
        flags: { low: Number(int(3, false)), mid: Number(int(7, true)), high: Number(int(22, false)), big: int(40, false) },
        num: { u: Number(int(32, false)) },
        x: Number(int(32, false)),
        y: Number(int(32, false)),
        ratio: rnd() * 1e6 - 5e5,
        ptr: int(64, false),
        temps: [0, 1, 2].map(() => Number(int(16, true))),
      };
      const decoded = decodeValue(record, encodeValue(record, value)) as Record<string, unknown>;
      expect({ ...decoded, num: { u: (decoded.num as { u: number }).u } }).toEqual(value);
    }
  });

  test('bad values are TypeErrors naming the field', () => {
    expect(() => encodeValue(record, { name: 'x'.repeat(17) })).toThrow(new TypeError('value.name: 17 bytes of text do not fit char[16]'));
    expect(() => encodeValue(record, { count: -1 })).toThrow('value.count: expected an integer from 0 to 4294967295 (__u32), got -1');
    expect(() => encodeValue(record, { inners: [{ b: 128 }] })).toThrow(/value\.inners\[0\]\.b: expected an integer from -128 to 127/);
    expect(() => encodeValue(record, { flags: { low: 8 } })).toThrow(/value\.flags\.low: expected a value that fits 3 bits/);
    expect(() => encodeValue(record, { id: 1.5 })).toThrow(/value\.id: expected a bigint/);
    expect(() => encodeValue(record, { nope: 1 })).toThrow(/value: struct record has no field 'nope'/);
    expect(() => encodeValue(record, 'text')).toThrow(/value: expected an object \(struct record\)/);
    expect(() => encodeValue(record, { num: { u: 1, s: 2 } })).toThrow(/set one member of union number, not u and s/);
    expect(() => encodeValue(record, { temps: [1, 2, 3, 4] })).toThrow(/value\.temps: expected an array of at most 3/);
    expect(() => encodeValue(named.named('record'), { color: 'PURPLE' })).toThrow(/enum color has no enumerator 'PURPLE'/);
    expect(() => codecs.named('no_such_type')).toThrow(/no type named 'no_such_type'/);
  });

  test('explicit codecs lay structs out as C does', () => {
    const c = struct({ a: u8, b: u32, c: u16, d: u64, name: cstring(3) });
    expect(c.size).toBe(32); // a@0 b@4 c@8 d@16 name@24, padded to 8
    const bytes = encodeValue(c, { a: 1, b: 2, c: 3, d: 4n, name: 'ab' });
    expect([bytes[0], bytes.readUInt32LE(4), bytes.readUInt16LE(8), bytes.readBigUInt64LE(16), bytes.toString('latin1', 24, 27)]).toEqual([1, 2, 3, 4n, 'ab\0']);
    expect(decodeValue(c, bytes)).toEqual({ a: 1, b: 2, c: 3, d: 4n, name: 'ab' });
    const n = struct({ a: u8, d: u64AsNumber, e: i64AsNumber });
    expect(n.size).toBe(24);
    const nb = encodeValue(n, { a: 1, d: 2 ** 53 + 2, e: -3 });
    expect([nb.readBigUInt64LE(8), nb.readBigInt64LE(16)]).toEqual([2n ** 53n + 2n, -3n]);
    expect(decodeValue(n, nb)).toEqual({ a: 1, d: 2 ** 53 + 2, e: -3 });
  });

  describe("int64: 'number'", () => {
    const numbers = new CodecFactory(btf, { int64: 'number' });
    const wide = (b: bigint) => ({ id: BigInt.asUintN(64, b), delta: BigInt.asIntN(64, b), wide: BigInt.asUintN(64, b), ptr: BigInt.asUintN(64, b), flags: { big: BigInt.asUintN(40, b) } });
    // Both sides of 2^53, both ends of each range, and values that round at a tie.
    const EDGES = [0n, 1n, -1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 53n + 3n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, 0x1122334455667788n];

    test('64-bit integers, pointers, 64-bit enums and 64-bit bitfields read as the nearest number', () => {
      let seed = 7;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), BigInt(seed));
      const values = [...EDGES, ...Array.from({ length: 300 }, () => (rnd() << 33n) ^ (rnd() << 2n) ^ rnd())];
      for (const b of values) {
        const bytes = encodeValue(record, wide(b));
        const big = decodeValue(record, bytes) as Record<string, unknown> & { flags: Record<string, unknown> };
        const num = decodeValue(numbers.named('record'), bytes) as Record<string, unknown> & { flags: Record<string, unknown> };
        for (const k of ['id', 'delta', 'wide', 'ptr'] as const) expect([k, num[k]]).toEqual([k, Number(big[k] as bigint)]);
        expect(num.flags.big).toBe(Number(big.flags.big as bigint));
        expect(num.count).toBe(big.count); // 32-bit fields as before
      }
      // The struct's compiled decoder reads inline; a lone __u64 through its codec: the same.
      const lone = numbers.codec(btf.find('__u64')!.id);
      for (const b of EDGES) {
        const bytes = Buffer.alloc(8);
        bytes.writeBigUInt64LE(BigInt.asUintN(64, b));
        expect(decodeValue(lone, bytes)).toBe(Number(BigInt.asUintN(64, b)));
      }
      expect(decodeValue(numbers.named('record'), encodeValue(record, { delta: -5n }))).toMatchObject({ delta: -5, id: 0 });
    });

    test('numbers and bigints encode; anything out of range or not an integer is a TypeError', () => {
      const rec = numbers.named('record');
      const bytes = encodeValue(rec, { id: 2 ** 60, delta: -(2 ** 40), wide: 7n, ptr: 2 ** 53 + 2, flags: { big: 2 ** 39 } });
      expect(decodeValue(record, bytes)).toMatchObject({ id: 2n ** 60n, delta: -(2n ** 40n), wide: 7n, ptr: 2n ** 53n + 2n, flags: { big: 2n ** 39n } });
      expect(() => encodeValue(rec, { id: 2 ** 64 })).toThrow(/value\.id: expected a value from 0 to 18446744073709551615 \(__u64\), got 18446744073709552000/);
      expect(() => encodeValue(rec, { delta: 1.5 })).toThrow(/value\.delta: expected an integer \(number or bigint\) for __s64, got 1\.5/);
      expect(() => encodeValue(rec, { flags: { big: 2 ** 40 } })).toThrow(/value\.flags\.big: expected a value that fits 40 bits/);
    });

    test('with enums as names too, a 64-bit enumerator still reads by name', () => {
      const both = new CodecFactory(btf, { int64: 'number', enums: 'names' });
      expect(decodeValue(both.named('record'), encodeValue(record, { wide: 0x123456789n, color: 3 }))).toMatchObject({ wide: 'WIDE_BIG', color: 3 });
      expect(encodeValue(both.named('record'), { wide: 'WIDE_BIG' }).equals(encodeValue(record, { wide: 0x123456789n }))).toBe(true);
    });
  });

  test('the kernel BTF is readable too', () => {
    const kernel = Btf.kernel();
    const task = kernel.find('task_struct', 'struct')!;
    expect(task.members!.some((m) => m.name === 'pid')).toBe(true);
    expect(kernel.sizeOf(kernel.find('pid_t')!.id)).toBe(4);
  });
});
