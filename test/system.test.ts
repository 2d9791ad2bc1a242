// The system's BPF objects: our fixtures' programs, maps and links found in the kernel's
// lists by id, opened by id, and gone from the lists once closed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BpfMap, BpfObject, Link, listLinks, listMaps, listPrograms, programInfo, u32 } from '../lib';
import { DIST_INDEX, eventually, fixture, getpriority, runNode, writeScript } from './helpers/kernel';

describe('listing the system', () => {
  let obj: BpfObject;
  beforeEach(async () => {
    obj = BpfObject.open(fixture('events'));
    obj.program('on_sys_enter').autoload = false;
    await obj.load();
  });
  afterEach(() => obj.close());

  test('listPrograms / listMaps find the fixture with its ids, names, types, sizes and map ids', () => {
    const prog = obj.program('on_getpriority').info;
    const listed = listPrograms().find((p) => p.id === prog.id);
    expect(listed).toMatchObject({ id: prog.id, name: 'on_getpriority', type: 'tracepoint', tag: prog.tag, uid: 0, gplCompatible: true });
    expect(listed!.tag).toMatch(/^[0-9a-f]{16}$/);
    expect(listed!.loadTimeNs).toBeGreaterThan(0n);
    expect(listed!.xlatedSize).toBeGreaterThan(0);
    expect(listed!.verifiedInstructions).toBeGreaterThan(0);
    // The maps it uses, by id, are in listMaps() with the C definitions.
    const maps = new Map(listMaps().map((m) => [m.id, m]));
    const used = listed!.mapIds.map((id) => maps.get(id));
    expect(used.every((m) => m !== undefined)).toBe(true);
    const byName = Object.fromEntries(used.map((m) => [m!.name, m!]));
    expect(byName.events).toMatchObject({ type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 256 * 1024 });
    expect(byName.counts).toMatchObject({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 1024 });
    expect(byName.target).toMatchObject({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1 });
    expect(byName.counts.btfId).toBeGreaterThan(0);
    // map.info is the kernel's record of the object's own map.
    expect(obj.map('counts').info).toEqual(byName.counts);
    expect(obj.map('events').info.id).toBe(byName.events.id);
    // programInfo(id) is the same record.
    expect(programInfo(prog.id)).toMatchObject({ id: prog.id, name: 'on_getpriority', mapIds: listed!.mapIds });
  });

  test('listLinks finds an attached tracepoint, and an iterator with its target', async () => {
    using links = obj.attach();
    const tp = links.links.find((l) => l.program === 'on_getpriority')!;
    const listed = listLinks().find((l) => l.id === tp.info.id);
    expect(listed).toMatchObject({ programId: obj.program('on_getpriority').info.id, type: tp.info.type });
    expect(['perf_event', 'raw_tracepoint']).toContain(listed!.type);
    // Kernels from 6.6 on name a perf_event link's tracepoint.
    const [major, minor] = os.release().split('.').map(Number);
    if (listed!.type === 'perf_event' && (major > 6 || (major === 6 && minor >= 6))) {
      expect(listed).toMatchObject({ target: 'tracepoint sys_enter_getpriority', targetName: 'sys_enter_getpriority' });
    }

    using attach = BpfObject.open(fixture('attach'));
    await attach.load();
    using iter = attach.program('list_processes').attachIter();
    expect(listLinks().find((l) => l.id === iter.info.id)).toMatchObject({
      type: 'iter',
      target: 'iter task',
      targetName: 'task',
      programId: attach.program('list_processes').info.id,
    });
  });

  test('BpfMap.fromId reads what the fixture wrote, and writes what the object then reads', () => {
    obj.map('target').set(0, process.pid);
    using links = obj.attach();
    getpriority(3);
    const prog = listPrograms().find((p) => p.id === obj.program('on_getpriority').info.id)!;
    const countsInfo = listMaps().find((m) => prog.mapIds.includes(m.id) && m.name === 'counts')!;
    using counts = BpfMap.fromId(countsInfo.id);
    expect([counts.name, counts.type, counts.keySize, counts.valueSize, counts.maxEntries]).toEqual(['counts', 'hash', 4, 8, 1024]);
    const key = Buffer.alloc(4);
    key.writeUInt32LE(process.pid);
    expect(counts.get(key)!.readBigUInt64LE(0)).toBe(3n);
    expect(obj.map('counts').get(process.pid)).toBe(3n);
    // A typed view on the same fd, and a write the object's own view sees.
    const typed = counts.withCodecs(u32, { size: 8, name: 'u64', decode: (v, o) => v.getBigUint64(o, true), encode: (x, v, o) => v.setBigUint64(o, x as bigint, true) });
    typed.set(1, 99n);
    expect(obj.map('counts').get(1)).toBe(99n);
    links.close();
  });

  test('Link.fromId: info, a pin that keeps it, and detach() that takes the program off its hook', async () => {
    const cgroup = fs.mkdtempSync(`/sys/fs/cgroup/unified/ebpf-system-${process.pid}-`);
    const pinDir = fs.mkdtempSync(`/sys/fs/bpf/ebpf-system-${process.pid}-`);
    using attach = BpfObject.open(fixture('attach'));
    await attach.load();
    try {
      const own = attach.program('cgroup_egress').attachCgroup(cgroup);
      const id = own.info.id;
      const byId = Link.fromId(id);
      expect(byId.program).toBe('cgroup_egress');
      expect(byId.info).toMatchObject({ id, type: 'cgroup', attachType: 'cgroup_inet_egress', detached: false, programId: attach.program('cgroup_egress').info.id });
      expect(byId.target).toMatch(/^cgroup_inet_egress cgroup id \d+$/);
      expect(byId.info.cgroupId).toBe(BigInt(fs.statSync(cgroup).ino));
      // Closing the view drops our second reference only.
      byId.close();
      expect(byId.closed).toBe(true);
      expect(listLinks().some((l) => l.id === id)).toBe(true);
      // A pin made through the by-id view keeps the link after its maker closes it.
      const pin = path.join(pinDir, 'link');
      const again = Link.fromId(id);
      again.pin(pin);
      again.close();
      own.close();
      expect(listLinks().find((l) => l.id === id)).toMatchObject({ detached: false });
      // detach() takes it off the cgroup although the pin still holds it.
      const third = Link.fromId(id);
      third.detach();
      expect(third.closed).toBe(true);
      expect(listLinks().find((l) => l.id === id)).toMatchObject({ detached: true });
      fs.unlinkSync(pin);
      expect(await eventually(() => !listLinks().some((l) => l.id === id))).toBe(true);
    } finally {
      fs.rmSync(pinDir, { recursive: true, force: true });
      fs.rmdirSync(cgroup);
    }
  });
});

test('ids disappear from the lists once the object is closed', async () => {
  const obj = BpfObject.open(fixture('events'));
  obj.program('on_sys_enter').autoload = false;
  await obj.load();
  const links = obj.attach();
  const progIds = obj.programs.filter((p) => p.autoload).map((p) => p.info.id);
  const linkIds = links.links.map((l) => l.info.id);
  const mapIds = programInfo(progIds[0]).mapIds;
  const present = () => ({
    progs: listPrograms().filter((p) => progIds.includes(p.id)).length,
    maps: listMaps().filter((m) => mapIds.includes(m.id)).length,
    links: listLinks().filter((l) => linkIds.includes(l.id)).length,
  });
  expect(present()).toEqual({ progs: progIds.length, maps: mapIds.length, links: linkIds.length });
  obj.close();
  expect(await eventually(() => Object.values(present()).every((n) => n === 0))).toBe(true);
  expect(present()).toEqual({ progs: 0, maps: 0, links: 0 });
  for (const id of mapIds) expect(() => BpfMap.fromId(id)).toThrow(expect.objectContaining({ code: 'ENOENT', operation: 'BpfMap.fromId' }));
});

describe('errors', () => {
  test('an unknown id is a BpfError ENOENT; a bad id a TypeError or RangeError naming it', () => {
    const unused = 0xfffffff0;
    expect(() => BpfMap.fromId(unused)).toThrow(expect.objectContaining({ name: 'BpfError', code: 'ENOENT', operation: 'BpfMap.fromId' }));
    expect(() => Link.fromId(unused)).toThrow(expect.objectContaining({ code: 'ENOENT', operation: 'Link.fromId' }));
    expect(() => programInfo(unused)).toThrow(expect.objectContaining({ code: 'ENOENT', operation: 'programInfo' }));
    expect(() => BpfMap.fromId(0)).toThrow(RangeError);
    expect(() => Link.fromId(-1)).toThrow(/Link.fromId: id must be an integer from 1/);
    expect(() => BpfMap.fromId(1.5)).toThrow(RangeError);
    expect(() => BpfMap.fromId('7' as unknown as number)).toThrow(TypeError);
  });

  test('without CAP_SYS_ADMIN, listing and opening by id fail naming the capability', async () => {
    const script = writeScript(
      'nosysadmin.js',
      `const ebpf = require(${JSON.stringify(DIST_INDEX)});
const out = {};
for (const [name, call] of [['listPrograms', () => ebpf.listPrograms()], ['listMaps', () => ebpf.listMaps()],
  ['listLinks', () => ebpf.listLinks()], ['fromId', () => ebpf.BpfMap.fromId(1)]]) {
  try { call(); out[name] = 'ok'; } catch (e) { out[name] = { code: e.code, message: e.message }; }
}
console.log(JSON.stringify(out));`,
    );
    // Root without CAP_SYS_ADMIN (dropped from the bounding set and so from the effective set).
    const r = await runNode(script, [], { wrapper: ['setpriv', '--bounding-set=-sys_admin', '--inh-caps=-sys_admin', '--'] });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as Record<string, { code: string; message: string }>;
    for (const name of ['listPrograms', 'listMaps', 'listLinks', 'fromId']) {
      expect(out[name].code).toBe('EPERM');
      expect(out[name].message).toMatch(/missing CAP_SYS_ADMIN: listing the system's BPF objects or opening them by id needs CAP_SYS_ADMIN/);
    }
  });
});
