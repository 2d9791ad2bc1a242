import { Worker } from 'node:worker_threads';
import { BpfObject } from '../lib';
import { DIST_INDEX, bpfFdKinds, fdCount, fixture, getpriority, runNode, writeScript } from './helpers/kernel';

describe('resource lifetimes', () => {
  // Each detached tracepoint waits for an RCU grace period in the kernel (~50 ms here), so
  // the cycles attach one program: the kernel, not the package, sets the pace.
  const cycle = async (file: string) => {
    const obj = BpfObject.open(file);
    obj.program('on_getpriority').autoload = false;
    obj.program('on_sys_enter').autoload = false;
    await obj.load();
    const links = obj.attach();
    obj.close();
    return links.length;
  };

  test('1,000 open/load/attach/close cycles leave the fd count unchanged', async () => {
    const file = fixture('events');
    // Warm up once: the first load probes kernel features.
    await cycle(file);
    const before = fdCount();
    const kindsBefore = bpfFdKinds();
    for (let i = 0; i < 1000; i++) expect(await cycle(file)).toBe(1);
    expect(fdCount()).toBe(before);
    expect(bpfFdKinds()).toEqual(kindsBefore);
  }, 300_000);

  test('a reader that is closed releases its epoll fd and ring mappings', async () => {
    using obj = BpfObject.open(fixture('events'));
    await obj.load();
    const before = fdCount();
    for (let i = 0; i < 200; i++) {
      const reader = obj.map('events').ringBuffer();
      const pending = reader.next(); // starts polling on the loop
      reader.close();
      await expect(pending).resolves.toEqual({ value: undefined, done: true });
    }
    expect(fdCount()).toBe(before);
  });

  test('objects, links and readers dropped without close() are freed by the garbage collector', async () => {
    const script = writeScript(
      'gc.js',
      `const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
const fs = require('fs');
const fds = () => fs.readdirSync('/proc/self/fd').length;
void process.stderr; // opened before counting: the collector's warnings go there
(async () => {
  { const o = BpfObject.open(${JSON.stringify(fixture('events'))}); await o.load(); o.attach().close(); o.close(); }
  const before = fds();
  const drop = async () => {
    const o = BpfObject.open(${JSON.stringify(fixture('events'))});
    await o.load();
    o.attach();
    o.map('events').ringBuffer(); // never started: nothing keeps it
  };
  for (let i = 0; i < 50; i++) await drop();
  const during = fds();
  for (let i = 0; i < 10; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
  console.log(JSON.stringify({ before, during, after: fds() }));
})();`,
    );
    const r = await runNode(script, [], { nodeArgs: ['--expose-gc'] });
    // Each dropped link says it was detached by the collector (one per attached program).
    const warnings = r.stderr.split('\n').filter((l) => l.includes('EbpfWarning'));
    expect(warnings.length).toBeGreaterThanOrEqual(50);
    expect(warnings[0]).toMatch(/Link\(\w+ -> .+\) was garbage-collected without close\(\): the program has been detached/);
    expect(r.stderr.split('\n').filter((l) => l && !l.includes('EbpfWarning') && !l.includes('--trace-warnings'))).toEqual([]);
    const { before, during, after } = JSON.parse(r.stdout) as Record<string, number>;
    expect(during).toBeGreaterThan(before + 50 * 5);
    expect(after).toBe(before);
  });

  test('a process that exits with live links, readers and objects exits cleanly', async () => {
    const script = writeScript(
      'exit.js',
      `const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
(async () => {
  const o = BpfObject.open(${JSON.stringify(fixture('events'))});
  await o.load();
  o.map('target').set(0, process.pid);
  o.attach();
  const reader = o.map('events').ringBuffer();
  reader.next().then(() => { console.log('event'); process.exit(0); });
  require('os').getPriority(0);
})();`,
    );
    const r = await runNode(script);
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(r.stdout.trim()).toBe('event');
  });

  test('worker_threads load, attach and read, and terminate with everything open', async () => {
    const script = writeScript(
      'worker.js',
      `const { parentPort, workerData } = require('worker_threads');
const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
(async () => {
  const o = BpfObject.open(${JSON.stringify(fixture('events'))});
  await o.load();
  o.map('target').set(0, workerData.pid);
  o.attach();
  const reader = o.map('events').ringBuffer();
  parentPort.postMessage('ready');
  const first = await reader.next();
  parentPort.postMessage(first.value.readUInt32LE(4));
  await new Promise(() => {}); // stay busy with the reader open until terminated
})();`,
    );
    const before = fdCount();
    for (let round = 0; round < 5; round++) {
      const worker = new Worker(script, { workerData: { pid: process.pid }, env: process.env });
      const messages: unknown[] = [];
      await new Promise<void>((resolve, reject) => {
        worker.on('error', reject);
        worker.on('message', (m) => {
          messages.push(m);
          if (m === 'ready') getpriority(1);
          else resolve();
        });
      });
      expect(messages).toEqual(['ready', process.pid]);
      await worker.terminate();
    }
    // Give the kernel a moment to tear down perf events of detached links.
    await new Promise((r) => setTimeout(r, 50));
    expect(fdCount()).toBe(before);
  });
});
