// User-space probes and BTF tracepoints on this machine's kernel: uprobe.multi links over
// several functions of a binary the test compiles (with a cookie per function), USDT probes
// (sys/sdt.h) with their arguments, tp_btf; and what links do beyond attaching: iterator
// streams, and the warning for a link dropped without close().
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BpfError, BpfObject, Link, features, listLinks } from '../lib';
import { DIST_INDEX, eventually, fixture, getpriority, onlyWith, runNode, writeScript } from './helpers/kernel';

const TARGET_C = `#include <stdlib.h>
#include <sys/sdt.h>
__attribute__((noinline)) int ebpf_fn_a(int x) { return x + 1; }
__attribute__((noinline)) int ebpf_fn_b(int x) { return x * 3; }
__attribute__((noinline)) int ebpf_fn_c(int x) { return x - 2; }
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  long s = 0;
  for (int i = 0; i < n; i++) {
    s += ebpf_fn_a(i) + ebpf_fn_b(i);
    if (i % 2) s += ebpf_fn_c(i);
    DTRACE_PROBE2(ebpf_test, tick, i, (long)i * 10);
  }
  return s == -1;
}
`;

let dir: string;
let bin: string;
let obj: BpfObject;
const hits = () => [...obj.map<number, bigint>('hits').values()].map(Number);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-probes-${process.pid}-`));
  bin = path.join(dir, 'target');
  fs.writeFileSync(path.join(dir, 'target.c'), TARGET_C);
  execFileSync('cc', ['-O1', '-o', bin, path.join(dir, 'target.c')]);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeEach(async () => {
  obj = BpfObject.open(fixture('probes'));
  obj.globals.set('target_tgid', process.pid);
  await obj.load();
});
afterEach(() => obj.close());

const uprobeMulti = onlyWith(features().uprobeMulti, 'has no uprobe.multi links (Linux 6.6)');

describe('uprobe.multi', () => {
  uprobeMulti('by pattern: one link over every matching function, then detached', () => {
    const link = obj.program('multi_entry').attachUprobeMulti({ binary: bin, pattern: 'ebpf_fn_*' });
    expect(link.info.type).toBe('uprobe_multi');
    expect(link.target).toBe(`uprobe.multi ${bin}:ebpf_fn_*`);
    execFileSync(bin, ['6']);
    // No cookies: every call lands in slot 0 — 6 (a) + 6 (b) + 3 (c).
    expect(hits()[0]).toBe(15);
    link.close();
    execFileSync(bin, ['6']);
    expect(hits()[0]).toBe(15);
  });

  uprobeMulti('by symbols with a cookie each, and the return probe', () => {
    using entry = obj.program('multi_entry').attachUprobeMulti({ binary: bin, symbols: ['ebpf_fn_a', 'ebpf_fn_c'], cookies: [1n, 3n] });
    using exit = obj.program('multi_exit').attachUprobeMulti({ binary: bin, symbols: ['ebpf_fn_b'], retprobe: true });
    expect(entry.target).toBe(`uprobe.multi ${bin}:ebpf_fn_a and 1 more`);
    expect(exit.target).toBe(`uretprobe.multi ${bin}:ebpf_fn_b`);
    execFileSync(bin, ['8']);
    const h = hits();
    expect([h[0], h[1], h[2], h[3], h[8]]).toEqual([0, 8, 0, 4, 8]);
  });

  uprobeMulti('by file offsets', () => {
    // The offset of ebpf_fn_b in the file: its symbol value minus its segment's address
    // plus the segment's file offset (a plain -O1 executable maps .text 1:1 from the file
    // offset the section header gives).
    const nm = execFileSync('nm', [bin], { encoding: 'utf8' });
    const addr = BigInt(`0x${nm.split('\n').find((l) => l.endsWith(' ebpf_fn_b'))!.split(' ')[0]}`);
    const sections = execFileSync('readelf', ['-SW', bin], { encoding: 'utf8' });
    const text = sections.split('\n').find((l) => / \.text /.test(l))!.trim().split(/\s+/);
    const [textAddr, textOff] = [BigInt(`0x${text[text.indexOf('PROGBITS') + 1]}`), BigInt(`0x${text[text.indexOf('PROGBITS') + 2]}`)];
    using link = obj.program('multi_entry').attachUprobeMulti({ binary: bin, offsets: [addr - textAddr + textOff], cookies: [5n] });
    void link;
    execFileSync(bin, ['4']);
    expect(hits()[5]).toBe(4);
  });

  uprobeMulti('bad input: what is missing is named', () => {
    const p = obj.program('multi_entry');
    expect(() => p.attachUprobeMulti({ binary: bin, pattern: 'no_such_fn_*' })).toThrow(expect.objectContaining({ operation: 'attachUprobeMulti' }));
    expect(() => p.attachUprobeMulti({ binary: path.join(dir, 'missing'), symbols: ['ebpf_fn_a'] })).toThrow(/attachUprobeMulti.*missing/s);
    expect(() => p.attachUprobeMulti({ binary: bin })).toThrow(/one of a pattern, a list of symbols or a list of offsets/);
    expect(() => p.attachUprobeMulti({ binary: bin, symbols: ['ebpf_fn_a'], cookies: [1n, 2n] })).toThrow(/one entry per symbol or offset/);
    expect(() => p.attachUprobeMulti({ binary: bin, offsets: [-1] })).toThrow(/offsets must hold integers/);
  });
});

describe('USDT', () => {
  test('a SystemTap SDT probe with its arguments and cookie', () => {
    const link = obj.program('on_usdt').attachUsdt({ binary: bin, provider: 'ebpf_test', name: 'tick', cookie: 42n });
    expect(link.target).toBe(`usdt ${bin}:ebpf_test:tick`);
    execFileSync(bin, ['5']);
    expect(hits()[9]).toBe(5);
    // The second argument is i * 10: 0 + 10 + 20 + 30 + 40.
    expect(obj.globals.get('usdt_arg_sum')).toBe(100n);
    expect(obj.globals.get('usdt_cookie_seen')).toBe(42n);
    link.close();
    execFileSync(bin, ['5']);
    expect(hits()[9]).toBe(5);
  });

  test('an unknown probe or binary is a BpfError naming it', () => {
    const p = obj.program('on_usdt');
    expect(() => p.attachUsdt({ binary: bin, provider: 'ebpf_test', name: 'nope' })).toThrow(/attachUsdt.*usdt .*:ebpf_test:nope/s);
    expect(() => p.attachUsdt({ binary: path.join(dir, 'missing'), provider: 'p', name: 'n' })).toThrow(expect.objectContaining({ operation: 'attachUsdt' }));
  });
});

test('tp_btf: a BTF-typed raw tracepoint sees this process call getpriority()', () => {
  using link = obj.program('on_sys_enter').attachTrace();
  expect(link.info.type).toBe('raw_tracepoint');
  getpriority(7);
  expect(hits()[10]).toBeGreaterThanOrEqual(7);
  link.close();
  const after = hits()[10];
  getpriority(7);
  expect(hits()[10]).toBe(after);
});

describe('links', () => {
  test('an iterator as a stream, chunk by chunk, and read() gives the same lines', async () => {
    using iterObj = BpfObject.open(fixture('attach'));
    await iterObj.load();
    using it = iterObj.program('list_processes').attachIter();
    let text = '';
    let chunks = 0;
    for await (const chunk of it.stream()) {
      text += chunk.toString();
      chunks++;
    }
    expect(chunks).toBeGreaterThanOrEqual(1);
    expect(text.split('\n').find((l) => l.startsWith(`${process.pid} `))).toBeDefined();
    const again = await it.read();
    expect(again.split('\n').find((l) => l.startsWith(`${process.pid} `))).toBeDefined();
    it.close();
    expect(() => it.stream()).toThrow(/closed/);
  });

  test('Link.openPinned: a pinned link outlives its object and is opened again by its pin', async () => {
    const pin = `/sys/fs/bpf/ebpf-link-${process.pid}`;
    const mapPin = `/sys/fs/bpf/ebpf-notalink-${process.pid}`;
    try {
      const link = obj.program('on_sys_enter').attachTrace();
      const { id } = link.info;
      link.pin(pin);
      obj.map('hits').pin(mapPin);
      obj.close();
      expect(listLinks().some((l) => l.id === id)).toBe(true); // the pin holds it

      const again = Link.openPinned(pin);
      expect(again.info).toMatchObject({ id, type: 'raw_tracepoint' });
      expect(again.program).toBe('on_sys_enter');
      again.unpin();
      again.close();
      expect(await eventually(() => !listLinks().some((l) => l.id === id))).toBe(true);

      expect(() => Link.openPinned(mapPin)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/is pinned, but not a link/) }));
      expect(() => Link.openPinned(pin)).toThrow(BpfError);
      expect(() => Link.openPinned(pin)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    } finally {
      for (const p of [pin, mapPin]) fs.rmSync(p, { force: true });
    }
  });

  test('a link dropped without close() is detached when collected, with a warning naming it', async () => {
    const script = writeScript(
      'dropped-link.js',
      `const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
(async () => {
  await (async () => {
    const o = BpfObject.open(${JSON.stringify(fixture('probes'))});
    await o.load();
    o.program('on_sys_enter').attachTrace(); // dropped, with its object
  })();
  for (let i = 0; i < 10; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
  const fs = require('fs');
  const links = fs.readdirSync('/proc/self/fd').filter((fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd) === 'anon_inode:bpf_link'; } catch { return false; } });
  console.log(JSON.stringify({ links: links.length }));
})();`,
    );
    const r = await runNode(script, [], { nodeArgs: ['--expose-gc'] });
    expect(r.stderr).toMatch(/EbpfWarning: Link\(on_sys_enter -> trace SEC\("tp_btf\/sys_enter"\)\) was garbage-collected without close\(\): the program has been detached/);
    expect(JSON.parse(r.stdout)).toEqual({ links: 0 });
  });
});
