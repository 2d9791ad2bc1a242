// Regression tests for what the fuzz harness (fuzz/, RELIABILITY.md) found: each of these
// crashed the process, threw an untyped Error, or removed a file it should not have.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BpfError, BpfMap, BpfObject, CodecFactory, decodeValue, encodeValue } from '../lib';
import { fixture, hasCommand } from './helpers/kernel';

const opened: BpfObject[] = [];
function open(name: string): BpfObject {
  const obj = BpfObject.open(fixture(name));
  opened.push(obj);
  return obj;
}
afterEach(() => {
  for (const obj of opened.splice(0)) obj.close();
});

describe('global sections libbpf does not memory-map', () => {
  // libbpf maps .data/.rodata after load only when a non-static variable is in them, and
  // unmaps the others: a view over that memory made before load used to read freed pages.
  test('a .rodata of bpf_printk formats reads after load (was SIGSEGV)', async () => {
    const obj = open('attach');
    const name = obj.globals.describe().find((g) => g.section === '.rodata')!.name;
    const before = obj.globals.get(name);
    await obj.load();
    expect(obj.globals.get(name)).toBe(before);
    expect(before).toMatch(/%/);
  });

  test('static-only .data and .rodata read and write through the map after load', async () => {
    const obj = open('statics');
    expect([obj.globals.get('hits'), obj.globals.get('step')]).toEqual([7, 3]);
    await obj.load();
    const count = obj.program('count');
    expect(count.testRun({ data: Buffer.alloc(64) }).retval).toBe(10);
    expect(obj.globals.get('hits')).toBe(10);
    obj.globals.set('hits', 1);
    expect(obj.globals.get('hits')).toBe(1);
    expect(count.testRun({ data: Buffer.alloc(64) }).retval).toBe(4);
    expect(() => obj.globals.set('step', 5)).toThrow(/read-only once loaded/);
  });

  test('a section view made before load follows the remapped map after load', async () => {
    const obj = open('types');
    const name = obj.globals.describe().find((g) => g.section === '.data.custom')!.name;
    obj.globals.set(name, 41);
    expect(obj.globals.get(name)).toBe(41);
    await obj.load();
    obj.globals.set(name, 42);
    const map = obj.maps.find((m) => m.name.endsWith('.data.custom'))!;
    expect(map.raw.get(0)!.readUInt32LE(0)).toBe(42); // the kernel's copy, not the old image
  });
});

test('maxEntries of a global data section cannot change (libbpf unmapped memory not its own at close)', () => {
  const obj = open('types');
  for (const map of obj.maps.filter((m) => /\.(rodata|data|bss)/.test(m.name))) {
    expect(() => (map.maxEntries = 4096)).toThrow(/global data section: it holds one element/);
    map.maxEntries = 1; // the same value is no change
    expect(map.maxEntries).toBe(1);
  }
  obj.map('records').maxEntries = 64; // an ordinary map still resizes
  expect(obj.map('records').maxEntries).toBe(64);
});

describe('bytes arguments', () => {
  let obj: BpfObject;
  beforeEach(async () => {
    obj = open('maps');
    await obj.load();
  });

  test('views over a SharedArrayBuffer are keys and values (was a plain Error "Invalid argument")', () => {
    const slots = obj.map('slots').raw;
    const key = new Uint8Array(new SharedArrayBuffer(4));
    key[0] = 3;
    const value = new Uint8Array(new SharedArrayBuffer(slots.get(0)!.length));
    value[0] = 0x5a;
    slots.set(key, value);
    expect(slots.get(3)![0]).toBe(0x5a);
  });

  test('an object image in a SharedArrayBuffer opens', () => {
    const bytes = fs.readFileSync(fixture('maps'));
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
    shared.set(bytes);
    const copy = BpfObject.open(shared);
    opened.push(copy);
    expect(copy.maps.map((m) => m.name)).toEqual(obj.maps.map((m) => m.name));
  });

  test('detached and shrunk buffers are a TypeError naming the argument', () => {
    const slots = obj.map('slots').raw;
    const detached = new Uint8Array(new ArrayBuffer(4));
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    expect(() => slots.get(detached)).toThrow(/key must be 4 bytes, got 0/);
    type Resizable = ArrayBuffer & { resize(n: number): void };
    const resizable = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable)(4, { maxByteLength: 64 });
    const view = new Uint8Array(resizable, 0, 4);
    resizable.resize(0); // the view is now out of bounds
    expect(() => slots.get(view)).toThrow(/key must be 4 bytes, got 0/);
  });
});

describe('unpin removes pins only', () => {
  const victim = path.join(os.tmpdir(), `ebpf-unpin-${process.pid}`);
  beforeEach(() => fs.writeFileSync(victim, 'keep me\n'));
  afterEach(() => fs.rmSync(victim, { force: true }));

  test('unpin(path) of a map opened from a pin: a file outside bpffs is EINVAL and stays (was unlinked)', async () => {
    const obj = open('maps');
    await obj.load();
    const pin = `/sys/fs/bpf/ebpf-unpin-${process.pid}`;
    obj.map('slots').pin(pin);
    const pinned = BpfMap.openPinned(pin);
    try {
      let error: unknown;
      try {
        pinned.unpin(victim);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(BpfError);
      expect((error as BpfError).code).toBe('EINVAL');
      expect((error as BpfError).message).toMatch(/not on a BPF file system/);
      expect(fs.existsSync(victim)).toBe(true);
      pinned.unpin(pin); // a pin is removed as before
      expect(fs.existsSync(pin)).toBe(false);
    } finally {
      pinned.close();
      fs.rmSync(pin, { force: true });
    }
  });

  test('link.unpin(path) of a file outside bpffs is EINVAL and the file stays (was unlinked)', async () => {
    const obj = open('attach');
    await obj.load();
    const link = obj.program('list_processes').attachIter();
    expect(() => link.unpin(victim)).toThrow(/not on a BPF file system/);
    expect(fs.existsSync(victim)).toBe(true);
    link.close();
  });
});

(hasCommand('clang-19') ? describe : describe.skip)('codecs of shapes the codec fuzzer found wrong', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-hardening-${process.pid}-`));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function codecsOf(source: string): CodecFactory {
    fs.writeFileSync(path.join(dir, 'shapes.bpf.c'), source);
    execFileSync('clang-19', ['-target', 'bpf', '-g', '-O2', '-c', path.join(dir, 'shapes.bpf.c'), '-o', path.join(dir, 'shapes.bpf.o')]);
    const obj = BpfObject.open(path.join(dir, 'shapes.bpf.o'));
    opened.push(obj);
    return new CodecFactory(obj.btf!);
  }

  test('bool[N] is an array of booleans, not bytes', () => {
    const codec = codecsOf('struct flags { _Bool on[3]; unsigned char raw[2]; } g;').named('flags');
    const value = { on: [true, false, true], raw: Uint8Array.from([1, 2]) };
    const bytes = encodeValue(codec, value);
    expect(bytes.toString('hex')).toBe('0100010102');
    expect(decodeValue(codec, bytes)).toEqual(value);
  });

  test('the fields of an anonymous struct in a union are one member, set together', () => {
    const codec = codecsOf('union u { struct { unsigned short lo; unsigned short hi : 12; }; unsigned int all; } g;').named('u');
    const bytes = encodeValue(codec, { lo: 0x1234, hi: 0xabc });
    expect(bytes.toString('hex')).toBe('3412bc0a');
    expect(decodeValue(codec, bytes)).toEqual({ lo: 0x1234, hi: 0xabc, all: 0x0abc1234 });
    expect(() => encodeValue(codec, { lo: 1, all: 2 })).toThrow(/set one member of union u, not lo and all/);
  });
});
