import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { BpfObject, type TraceLine, parseTraceLine, tracePipe } from '../lib';
import { DIST_INDEX, ROOT, fixture, runNode, writeScript } from './helpers/kernel';

const spawnShell = () => spawnSync('sh', ['-c', 'true & wait'], { stdio: 'ignore' });

describe('tracePipe', () => {
  test('parses trace_pipe lines as the kernel writes them', () => {
    expect(parseTraceLine('            bash-14264   [001] ...21  3708.385034: bpf_trace_printk: Hello, World!')).toEqual({
      task: 'bash',
      pid: 14264,
      cpu: 1,
      flags: '...21',
      timestamp: 3708.385034,
      event: 'bpf_trace_printk',
      message: 'Hello, World!',
      raw: '            bash-14264   [001] ...21  3708.385034: bpf_trace_printk: Hello, World!',
    });
    // Task names with dashes and spaces, a tgid column, no flags column.
    const line = parseTraceLine(' kworker/u4:1-mm-42     (     42) [000]  12.500000: bpf_trace_printk: x: y');
    expect([line.task, line.pid, line.cpu, line.flags, line.message]).toEqual(['kworker/u4:1-mm', 42, 0, '', 'x: y']);
    expect(parseTraceLine('CPU:1 [LOST 3 EVENTS]').message).toBe('CPU:1 [LOST 3 EVENTS]');
  });

  test('bpf_printk output arrives through for await, with the task and pid', async () => {
    using obj = BpfObject.open(fixture('hello'));
    await obj.load();
    using a = obj.program('tracepoint_clone').attach();
    using b = obj.program('tracepoint_clone3').attach();
    void a;
    void b;
    const pipe = tracePipe();
    const children: number[] = [];
    setTimeout(() => {
      for (let i = 0; i < 3; i++) children.push(spawnShell().pid ?? 0);
    }, 20);
    const seen: TraceLine[] = [];
    for await (const line of pipe) {
      if (line.event === 'bpf_trace_printk' && line.message === 'Hello, World!') seen.push(line);
      // Each `sh -c 'true & wait'` clones once (its background job); the spawning clones too.
      if (children.length === 3 && seen.some((l) => l.pid === children[2])) break;
    }
    expect(pipe.closed).toBe(true);
    const shells = seen.filter((l) => children.includes(l.pid));
    expect(new Set(shells.map((l) => l.pid))).toEqual(new Set(children));
    expect(shells.every((l) => l.task === 'sh' && l.cpu >= 0 && l.timestamp > 0)).toBe(true);
  });

  test('close() and an AbortSignal end a pending iteration', async () => {
    const pipe = tracePipe();
    const pending = pipe.next();
    pipe.close();
    await expect(pending).resolves.toEqual({ value: undefined, done: true });
    const controller = new AbortController();
    const aborted = tracePipe({ signal: controller.signal });
    const waiting = aborted.next();
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    expect(aborted.closed).toBe(true);
  });

  test('without tracefs mounted, tracePipe() says how to mount it', async () => {
    const script = writeScript(
      'pipe.js',
      `const { tracePipe } = require(${JSON.stringify(DIST_INDEX)});
try { tracePipe(); console.log('opened'); } catch (e) { console.log(e.name, e.code, e.message); }`,
    );
    const r = await runNode(script, [], {
      wrapper: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'umount /sys/kernel/tracing && exec "$0" "$@"'],
    });
    expect(r.stdout.trim()).toBe('BpfError ENOENT tracePipe: tracefs is not mounted: mount it with "mount -t tracefs tracefs /sys/kernel/tracing"');
  });
});

describe('examples/hello', () => {
  test('prints Hello, World! when a process is spawned, and says how it traces', async () => {
    const tool = path.join(ROOT, 'dist', 'examples', 'hello', 'hello.js');
    const child = spawn(process.execPath, [tool], { env: process.env });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGINT'), 15000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('MESSAGE\n') && !out.includes('Hello')) spawnShell();
        if (out.includes('Hello, World!') && !child.killed) child.kill('SIGINT'); // once
      });
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(err).toBe('');
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^Tracing clone\(\) with (kprobes|the syscalls\/sys_enter_clone and sys_enter_clone3 tracepoints \(this kernel has no kprobes\))\. Ctrl-C to end\.$/);
    expect(lines[1]).toMatch(/^TIME\(s\)\s+COMMAND\s+PID\s+MESSAGE$/);
    expect(lines.find((l) => l.includes('Hello, World!'))).toMatch(/^\d+\.\d{6}\s+\S+\s+\d+\s+Hello, World!$/);
  });
});
