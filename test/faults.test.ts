// Faults a daemon meets: things closed, deleted or killed underneath the package, and
// user code that throws. Each ends in a defined state, with nothing left behind.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BpfMap, BpfObject, Link, listLinks, listMaps, listPrograms, u32, u64 } from '../lib';
import { DIST_INDEX, bpfFdKinds, eventually, fdCount, fixture, getpriority, createVethPair, removeVethPair, type VethPair, runNode, writeScript } from './helpers/kernel';

const PACKET = Buffer.alloc(64);

const ids = {
  programs: () => new Set(listPrograms().map((p) => p.id)),
  maps: () => new Set(listMaps().map((m) => m.id)),
  links: () => new Set(listLinks().map((l) => l.id)),
};

/** Whether none of `wanted` is in the kernel's list any more. */
const noneOf = (list: () => Set<number>, wanted: number[]) => () => {
  const present = list();
  return wanted.every((id) => !present.has(id));
};

describe('closing while load() is in flight', () => {
  test('20 objects closed mid-load, one whose verifier would reject: ECANCELED, no fd or kernel object left', async () => {
    await (async () => {
      using warm = BpfObject.open(fixture('events'));
      await warm.load();
    })();
    const before = fdCount();
    const kinds = bpfFdKinds();
    for (let i = 0; i < 20; i++) {
      const obj = BpfObject.open(fixture(i === 10 ? 'verifier_reject' : 'events'));
      const loading = obj.load();
      obj.close();
      await expect(loading).rejects.toMatchObject({ code: 'ECANCELED', operation: 'load' });
      expect(() => obj.program('on_getpriority')).toThrow(expect.objectContaining({ code: 'EBADF' }));
    }
    expect(fdCount()).toBe(before);
    expect(bpfFdKinds()).toEqual(kinds);
    // The next object loads as usual.
    using next = BpfObject.open(fixture('events'));
    await next.load();
    expect(next.program('on_getpriority').info.id).toBeGreaterThan(0);
  });

  test('a process that exits while load() is in flight exits cleanly', async () => {
    const script = writeScript(
      'exit-mid-load.js',
      `const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
const o = BpfObject.open(${JSON.stringify(fixture('events'))});
o.load().then(() => console.log('loaded'), (e) => console.log(e.code));
process.exit(7);`,
    );
    const r = await runNode(script);
    expect(r).toMatchObject({ code: 7, signal: null, stdout: '', stderr: '' });
  });
});

describe('readers closed from inside their own loops', () => {
  // test/ring-buffer-events.test.ts closes a ring buffer reader from its for await; here the
  // other loops and owners.
  test('in batches(), in a perf buffer for await, and by closing the object itself: the loop ends there', async () => {
    using flood = BpfObject.open(fixture('flood'));
    await flood.load();
    const before = fdCount();

    flood.program('to_big').testRun({ data: PACKET, repeat: 1000 });
    const ring = flood.map('big').ringBuffer({ batchSize: 100 });
    let batches = 0;
    for await (const batch of ring.batches()) {
      expect(batch.length).toBe(100);
      batches++;
      ring.close();
    }
    expect(batches).toBe(1);
    expect(ring.closed).toBe(true);

    const perf = flood.map('perf').perfBuffer(); // its perf events exist from here on
    flood.program('to_perf').testRun({ data: PACKET, repeat: 50 });
    let records = 0;
    for await (const record of perf) {
      expect('data' in record && record.data.length).toBeGreaterThanOrEqual(64);
      if (++records === 3) perf.close();
    }
    expect(records).toBe(3);
    expect(fdCount()).toBe(before);

    const other = BpfObject.open(fixture('flood'));
    await other.load();
    other.program('to_big').testRun({ data: PACKET, repeat: 10 });
    const reader = other.map('big').ringBuffer();
    let seen = 0;
    for await (const rec of reader) {
      void rec;
      seen++;
      other.close(); // closes this reader too
    }
    expect(seen).toBe(1);
    expect([reader.closed, other.closed]).toEqual([true, true]);
    expect(fdCount()).toBe(before);
  });
});

describe('a pinned map deleted underneath open views', () => {
  const dir = `/sys/fs/bpf/ebpf-faults-${process.pid}`;
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the views keep working on their fds; the map lives until the last one closes', async () => {
    fs.mkdirSync(dir);
    const obj = BpfObject.open(fixture('pinned'), { pinRoot: dir });
    await obj.load();
    const view = BpfMap.openPinned(path.join(dir, 'kept')).withCodecs(u32, u64);
    view.set(1, 5n);
    // Deleted with rm, not through the package.
    fs.rmSync(dir, { recursive: true });
    expect(fs.existsSync(path.join(dir, 'kept'))).toBe(false);
    expect(view.get(1)).toBe(5n);
    view.set(2, 6n);
    expect(obj.map('kept').get(2)).toBe(6n);
    expect(() => obj.map('kept').unpin()).toThrow(expect.objectContaining({ name: 'BpfError', code: 'ENOENT', operation: 'map.unpin' }));
    const id = view.info.id;
    obj.close();
    // Only the view holds the map now.
    expect(view.get(2)).toBe(6n);
    expect([...view.keys()].sort()).toEqual([1, 2]);
    expect(listMaps().some((m) => m.id === id)).toBe(true);
    view.close();
    expect(() => view.get(1)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(await eventually(noneOf(ids.maps, [id]))).toBe(true);
  });
});

describe('the interface of XDP and tcx links removed', () => {
  let net: VethPair;
  let ns = '';
  let ifA = '';

  beforeAll(() => {
    net = createVethPair('ef', 1);
    ({ nsA: ns, ifA } = net);
  });

  afterAll(() => expect(removeVethPair(net)).toBe(true));

  test('deleting the veth detaches the links: info says so, close() is fine, nothing crashes', async () => {
    const script = writeScript(
      'iface-gone.js',
      `const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
const { execFileSync } = require('child_process');
(async () => {
  const obj = BpfObject.open(${JSON.stringify(fixture('attach'))});
  await obj.load();
  const xdp = obj.program('xdp_count').attachXdp(${JSON.stringify(ifA)});
  const tc = obj.program('tc_count').attachTc(${JSON.stringify(ifA)}, { direction: 'egress' });
  const before = { xdp: xdp.info, tc: tc.info };
  execFileSync('ip', ['link', 'del', ${JSON.stringify(ifA)}]);
  const after = { xdp: xdp.info, tc: tc.info };
  let again;
  try { obj.program('xdp_count').attachXdp(before.xdp.ifindex); again = 'attached'; } catch (e) { again = { name: e.name, code: e.code, message: e.message }; }
  xdp.close();
  tc.close();
  const closed = [xdp.closed, tc.closed];
  obj.close();
  console.log(JSON.stringify({ before, after, again, closed }));
})().catch((e) => console.log(JSON.stringify({ error: e.message })));`,
    );
    const r = await runNode(script, [], { wrapper: ['ip', 'netns', 'exec', ns] });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      before: Record<string, { ifindex: number; detached: boolean; target: string; type: string; id: number }>;
      after: Record<string, { ifindex: number; detached: boolean; target: string }>;
      again: unknown;
      closed: boolean[];
      error?: string;
    };
    expect(out.error).toBeUndefined();
    expect(out.before.xdp).toMatchObject({ type: 'xdp', detached: false, target: `xdp ${ifA} (ifindex ${out.before.xdp.ifindex})` });
    expect(out.before.xdp.ifindex).toBeGreaterThan(0);
    expect(out.before.tc).toMatchObject({ type: 'tcx', detached: false, ifindex: out.before.xdp.ifindex });
    expect(out.after.xdp).toEqual(expect.objectContaining({ ifindex: 0, detached: true, target: 'xdp (detached)' }));
    expect(out.after.tc).toEqual(expect.objectContaining({ ifindex: 0, detached: true }));
    expect(out.again).toEqual({ name: 'BpfError', code: 'ENODEV', message: `attachXdp: no network interface with index ${out.before.xdp.ifindex} in this network namespace` });
    expect(out.closed).toEqual([true, true]);
    // The child is gone, and its links with it.
    expect(await eventually(noneOf(ids.links, [out.before.xdp.id, out.before.tc.id]))).toBe(true);
  });
});

describe('a uprobe target binary deleted while attached', () => {
  test('the probe stays on the deleted file: its running process still hits it, a new file at the path does not', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-faults-${process.pid}-`));
    try {
      const bin = path.join(dir, 'target');
      const source = path.join(dir, 'target.c');
      fs.writeFileSync(
        source,
        '#include <stdio.h>\n__attribute__((noinline)) int ebpf_target(int x) { return x * 2; }\n' +
          'int main(void) { int n = 0, s = 0; if (scanf("%d", &n) != 1) return 2; for (int i = 0; i < n; i++) s += ebpf_target(i); return s == -1; }\n',
      );
      execFileSync('cc', ['-O1', '-o', bin, source]);
      using obj = BpfObject.open(fixture('attach'));
      await obj.load();
      const hits = () => Number(obj.map<number, bigint>('hits').get(3));
      const link = obj.program('uprobe_hit').attachUprobe({ binary: bin, symbol: 'ebpf_target' });
      const run = (input: string) =>
        new Promise<number | null>((resolve, reject) => {
          const child = spawn(bin, [], { stdio: ['pipe', 'ignore', 'ignore'] });
          child.on('error', reject);
          child.on('spawn', () => {
            // The binary is mapped by its process now: delete the file, then let it run.
            if (input.startsWith('delete:')) fs.unlinkSync(bin);
            child.stdin.end(`${input.replace('delete:', '')}\n`);
          });
          child.on('close', resolve);
        });
      expect(await run('3')).toBe(0);
      expect(hits()).toBe(3);
      expect(await run('delete:4')).toBe(0);
      expect(fs.existsSync(bin)).toBe(false);
      expect(hits()).toBe(7);
      expect(link.info.id).toBeGreaterThan(0);
      // A new binary at the same path is another file: the probe is not on it.
      execFileSync('cc', ['-O1', '-o', bin, source]);
      expect(await run('5')).toBe(0);
      expect(hits()).toBe(7);
      link.close();
      expect(link.closed).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a process killed with SIGKILL while it has live links', () => {
  const pinDir = `/sys/fs/bpf/ebpf-kill-${process.pid}`;
  const cgroup = `/sys/fs/cgroup/unified/ebpf-kill-${process.pid}`;
  afterAll(() => {
    fs.rmSync(pinDir, { recursive: true, force: true });
    if (fs.existsSync(cgroup)) fs.rmdirSync(cgroup);
  });

  test('its unpinned links and programs are gone from the kernel; pinned ones stay until unpinned', async () => {
    fs.mkdirSync(pinDir);
    fs.mkdirSync(cgroup);
    const script = writeScript(
      'killed.js',
      `const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
(async () => {
  const ev = BpfObject.open(${JSON.stringify(fixture('events'))});
  ev.program('on_getuid').autoload = false;
  ev.program('on_sys_enter').autoload = false;
  await ev.load();
  const tp = ev.attach().links[0];
  const reader = ev.map('events').ringBuffer();
  reader.next();
  const at = BpfObject.open(${JSON.stringify(fixture('attach'))});
  await at.load();
  const iter = at.program('list_processes').attachIter();
  iter.pin(${JSON.stringify(`${pinDir}/iter`)});
  at.map('hits').pin(${JSON.stringify(`${pinDir}/hits`)});
  const cg = at.program('cgroup_egress').attachCgroup(${JSON.stringify(cgroup)});
  console.log(JSON.stringify({
    programs: { tp: ev.program('on_getpriority').info.id, cgroup: at.program('cgroup_egress').info.id, iter: at.program('list_processes').info.id },
    links: { tp: tp.info.id, cgroup: cg.info.id, iter: iter.info.id },
    maps: { events: ev.map('events').info.id, hits: at.map('hits').info.id },
  }));
  setInterval(() => {}, 1000);
})();`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.on('close', () => reject(new Error(`the child ended early: ${stderr}`)));
    });
    const made = JSON.parse(line) as { programs: Record<string, number>; links: Record<string, number>; maps: Record<string, number> };
    expect(listLinks().filter((l) => Object.values(made.links).includes(l.id))).toHaveLength(3);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(stderr).toBe('');

    // Unpinned: gone with the process.
    expect(await eventually(noneOf(ids.links, [made.links.tp, made.links.cgroup]))).toBe(true);
    expect(await eventually(noneOf(ids.programs, [made.programs.tp, made.programs.cgroup]))).toBe(true);
    expect(await eventually(noneOf(ids.maps, [made.maps.events]))).toBe(true);
    // Pinned: still there, and still usable by id.
    expect(ids.links().has(made.links.iter)).toBe(true);
    expect(ids.programs().has(made.programs.iter)).toBe(true);
    expect(ids.maps().has(made.maps.hits)).toBe(true);
    {
      using iter = Link.fromId(made.links.iter);
      expect(iter.program).toBe('list_processes');
      expect(await iter.read()).toContain(`${process.pid} `);
    }
    // Unpinned by the test: gone.
    fs.unlinkSync(path.join(pinDir, 'iter'));
    fs.unlinkSync(path.join(pinDir, 'hits'));
    expect(await eventually(noneOf(ids.links, [made.links.iter]))).toBe(true);
    expect(await eventually(noneOf(ids.programs, [made.programs.iter]))).toBe(true);
    expect(await eventually(noneOf(ids.maps, [made.maps.hits]))).toBe(true);
  });
});

describe('worker_threads loading and terminating, over and over', () => {
  // test/lifetimes.test.ts terminates workers that attached and read; here workers are
  // also terminated while load() is in flight, and the kernel's lists are checked.
  test('20 workers terminated mid-load or with live links: no fd, program, map or link left', async () => {
    const script = writeScript(
      'worker-churn.js',
      `const { parentPort, workerData } = require('worker_threads');
const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
(async () => {
  const o = BpfObject.open(${JSON.stringify(fixture('events'))});
  o.program('on_getuid').autoload = false;
  o.program('on_sys_enter').autoload = false;
  const loading = o.load();
  if (workerData.midLoad) parentPort.postMessage({ loading: true });
  await loading;
  const links = o.attach();
  o.map('events').ringBuffer().next();
  parentPort.postMessage({
    programs: [o.program('on_getpriority').info.id],
    maps: o.maps.map((m) => m.info.id),
    links: links.links.map((l) => l.info.id),
  });
  await new Promise(() => {});
})();`,
    );
    const before = fdCount();
    const made = { programs: [] as number[], maps: [] as number[], links: [] as number[] };
    for (let round = 0; round < 20; round++) {
      const worker = new Worker(script, { workerData: { midLoad: round % 2 === 0 }, env: process.env });
      const message = await new Promise<{ loading?: boolean; programs?: number[]; maps?: number[]; links?: number[] }>((resolve, reject) => {
        worker.on('error', reject);
        worker.on('message', resolve);
      });
      if (!message.loading) {
        made.programs.push(...message.programs!);
        made.maps.push(...message.maps!);
        made.links.push(...message.links!);
      }
      await worker.terminate();
    }
    expect(made.links).toHaveLength(10);
    expect(await eventually(noneOf(ids.links, made.links))).toBe(true);
    expect(await eventually(noneOf(ids.programs, made.programs))).toBe(true);
    expect(await eventually(noneOf(ids.maps, made.maps))).toBe(true);
    expect(fdCount()).toBe(before);
  });
});

describe('exceptions thrown by user code', () => {
  let obj: BpfObject;
  beforeEach(async () => {
    obj = BpfObject.open(fixture('events'));
    obj.program('on_getuid').autoload = false;
    obj.program('on_sys_enter').autoload = false;
    await obj.load();
    obj.map('target').set(0, process.pid);
  });
  afterEach(() => obj.close());

  test('a throw in a for await body ends that loop and closes its reader; the next reader gets the next events', async () => {
    using links = obj.attach();
    void links;
    const before = fdCount();
    const seq = (data: Buffer) => Number(data.readBigUInt64LE(8));
    getpriority(3);
    const reader = obj.map('events').ringBuffer({ decode: seq });
    await expect(
      (async () => {
        for await (const s of reader) throw new Error(`boom at ${s}`);
      })(),
    ).rejects.toThrow('boom at 1');
    expect(reader.closed).toBe(true);
    expect(fdCount()).toBe(before);

    const batches = obj.map('events').ringBuffer({ decode: seq });
    getpriority(2);
    await expect(
      (async () => {
        for await (const batch of batches.batches()) batch.visit(() => {
          throw new Error('visit boom');
        });
      })(),
    ).rejects.toThrow('visit boom');
    expect(batches.closed).toBe(true);

    getpriority(2);
    const next = obj.map('events').ringBuffer({ decode: seq });
    const got: number[] = [];
    for await (const s of next) if (got.push(s) === 2) break;
    expect(got).toEqual([6, 7]);
    expect(fdCount()).toBe(before);
  });

  test('uncaught throws in callbacks and event handlers around a reader do not stop it', async () => {
    const script = writeScript(
      'throwing-handlers.js',
      `const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
const { EventEmitter } = require('events');
let uncaught = 0;
let caught = 0;
process.on('uncaughtException', () => uncaught++);
(async () => {
  const o = BpfObject.open(${JSON.stringify(fixture('events'))});
  o.program('on_getuid').autoload = false;
  o.program('on_sys_enter').autoload = false;
  await o.load();
  o.map('target').set(0, process.pid);
  o.attach();
  const bus = new EventEmitter();
  bus.on('event', () => { throw new Error('handler'); });
  const controller = new AbortController();
  controller.signal.addEventListener('abort', () => { throw new Error('abort listener'); });
  const reader = o.map('events').ringBuffer({ decode: (d) => Number(d.readBigUInt64LE(8)), signal: controller.signal });
  const seen = [];
  const trigger = setInterval(() => require('os').getPriority(0), 5);
  try {
    for await (const seq of reader) {
      seen.push(seq);
      setImmediate(() => { throw new Error('callback'); });
      try { bus.emit('event', seq); } catch { caught++; }
      process.nextTick(() => bus.emit('event', seq));
      if (seen.length === 20) controller.abort();
    }
  } catch (e) {
    console.log(JSON.stringify({ seen: seen.length, ordered: seen.every((s, i) => s === i + 1), ended: e.name, closed: reader.closed }));
  }
  clearInterval(trigger);
  await new Promise((r) => setImmediate(r));
  console.log(JSON.stringify({ uncaught, caught }));
  o.close();
})();`,
    );
    const r = await runNode(script);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [loop, after] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(loop).toEqual({ seen: 20, ordered: true, ended: 'AbortError', closed: true });
    // Per record: a throwing setImmediate callback and a throwing handler from nextTick
    // (uncaught), and a throwing handler called in the loop body (caught there); and the
    // throwing abort listener.
    expect(after.caught).toBe(20);
    expect(after.uncaught).toBe(20 + 20 + 1);
  });
});
