import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { BpfError, BpfObject, libbpfVersion } from '../lib';
import { fixture } from './helpers/kernel';

/** Programs and maps as the ELF file itself lists them (llvm-readelf), not as libbpf does. */
function elfContents(file: string): { programs: string[]; maps: string[] } {
  const out = execFileSync('llvm-readelf-19', ['--symbols', '--section-headers', '--wide', file], { encoding: 'utf8' });
  const sections = new Map<string, string>();
  for (const m of out.matchAll(/^\s*\[\s*(\d+)\]\s+(\S+)\s+PROGBITS\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S*)/gm)) {
    sections.set(m[1], `${m[2]} ${m[3]}`);
  }
  const programs: string[] = [];
  const maps: string[] = [];
  for (const m of out.matchAll(/^\s*\d+:\s+\S+\s+\d+\s+(FUNC|OBJECT)\s+GLOBAL\s+\S+\s+(\d+)\s+(\S+)$/gm)) {
    const [name, flags] = (sections.get(m[2]) ?? '').split(' ');
    if (m[1] === 'FUNC' && flags?.includes('X') && name !== '.text') programs.push(m[3]);
    if (m[1] === 'OBJECT' && name === '.maps') maps.push(m[3]);
  }
  return { programs: programs.sort(), maps: maps.sort() };
}

describe('BpfObject', () => {
  test('reports the linked libbpf', () => {
    expect(libbpfVersion()).toBe('v1.5');
  });

  test.each(['events', 'maps', 'verifier_reject', 'execsnoop'])('lists the programs and maps of %s.bpf.o as the ELF has them', (name) => {
    const file = fixture(name);
    const elf = elfContents(file);
    expect(elf.programs.length).toBeGreaterThan(0);
    using obj = BpfObject.open(file);
    expect(obj.programs.map((p) => p.name).sort()).toEqual(elf.programs);
    expect(obj.maps.map((m) => m.name).sort()).toEqual(elf.maps);
    expect(obj.name).toBe(name);
    expect(obj.loaded).toBe(false);
  });

  test('describes programs and maps from their definitions', () => {
    using obj = BpfObject.open(fixture('events'));
    const prog = obj.program('on_getpriority');
    expect(prog.section).toBe('tracepoint/syscalls/sys_enter_getpriority');
    expect(prog.type).toBe('tracepoint');
    expect(obj.program('on_sys_enter').type).toBe('raw_tracepoint');
    const counts = obj.map('counts');
    expect([counts.type, counts.keySize, counts.valueSize, counts.maxEntries]).toEqual(['hash', 4, 8, 1024]);
    expect([obj.map('events').type, obj.map('events').maxEntries]).toEqual(['ringbuf', 256 * 1024]);
    expect(obj.map('raw_hits').perCpu).toBe(true);
  });

  test('opens from bytes as from a file', async () => {
    using obj = BpfObject.open(fs.readFileSync(fixture('maps')), { name: 'from_bytes' });
    expect(obj.name).toBe('from_bytes');
    expect(obj.maps.map((m) => m.name)).toContain('by_id');
    await obj.load();
    expect(obj.loaded).toBe(true);
    expect(obj.map('by_id').fd).toBeGreaterThan(2);
  });

  test('load, attach, close', async () => {
    const obj = BpfObject.open(fixture('events'));
    await obj.load();
    expect(obj.loaded).toBe(true);
    expect(obj.program('on_getpriority').fd).toBeGreaterThan(2);
    const links = obj.attach();
    expect(links.links.map((l) => l.program).sort()).toEqual(['on_getpriority', 'on_getuid', 'on_sys_enter']);
    expect(links.skipped).toEqual([]);
    for (const link of links) expect(link.fd).toBeGreaterThan(2);
    obj.close();
    expect(obj.closed).toBe(true);
    for (const link of links) expect(link.closed).toBe(true);
  });

  test('attach() skips programs whose SEC() names no target, and says which', async () => {
    using obj = BpfObject.open(fixture('maps'));
    await obj.load();
    using links = obj.attach();
    expect(links.length).toBe(0);
    expect([...links.skipped].sort()).toEqual(['keep_all', 'pass']);
    expect(() => obj.program('pass').attach()).toThrow(BpfError);
  });

  test('autoload and maxEntries are settable before load and refused after', async () => {
    using obj = BpfObject.open(fixture('events'));
    obj.program('on_getuid').autoload = false;
    obj.map('counts').maxEntries = 4096;
    await obj.load();
    expect(obj.map('counts').maxEntries).toBe(4096);
    expect(() => obj.program('on_getuid').fd).toThrow(/program 'on_getuid' was not loaded \(its autoload is false\)/);
    expect(obj.program('on_getuid').autoload).toBe(false);
    using links = obj.attach();
    expect(links.links.map((l) => l.program).sort()).toEqual(['on_getpriority', 'on_sys_enter']);
    expect(() => {
      obj.map('counts').maxEntries = 8;
    }).toThrow(/maxEntries of map 'counts' can only be set before load\(\)/);
    expect(() => {
      obj.program('on_getuid').autoload = true;
    }).toThrow(expect.objectContaining({ code: 'EBUSY', operation: 'program.autoload' }));
  });

  test('attachTracepoint and attachRawTracepoint take explicit targets', async () => {
    using obj = BpfObject.open(fixture('events'));
    await obj.load();
    using tp = obj.program('on_getpriority').attachTracepoint('syscalls', 'sys_enter_getpriority');
    using raw = obj.program('on_sys_enter').attachRawTracepoint('sys_enter');
    expect(tp.target).toBe('tracepoint syscalls/sys_enter_getpriority');
    expect(raw.target).toBe('raw_tracepoint sys_enter');
    expect(tp.fd).toBeGreaterThan(2);
    expect(raw.fd).toBeGreaterThan(2);
  });

  test('a second load is refused', async () => {
    using obj = BpfObject.open(fixture('maps'));
    await obj.load();
    await expect(obj.load()).rejects.toMatchObject({ code: 'EALREADY', operation: 'load' });
  });

  test('calls during load are refused, and load() resolves', async () => {
    using obj = BpfObject.open(fixture('events'));
    const loading = obj.load();
    expect(() => obj.maps).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    await loading;
    expect(obj.maps.length).toBe(5);
  });
});
