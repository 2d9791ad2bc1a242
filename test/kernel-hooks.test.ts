// kprobes, kretprobes, ksyscall, kprobe.multi, fentry/fexit/fmod_ret and BPF LSM, on the
// running kernel where it has them. Our machines' kernel has none of them: there each test
// is skipped with the reason, the errors for the missing hooks are tested instead, and
// scripts/test-vm.sh (`npm run test:vm`, part of `npm test`) runs this file inside QEMU on
// Debian's own kernels (6.1 and 6.12), which have them.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BpfError, BpfObject, features } from '../lib';
import { ROOT, fixture, getpriority, onlyWith } from './helpers/kernel';

const f = features();
const withKprobes = onlyWith(f.kprobes, 'has no kprobes (CONFIG_KPROBES)');
const withKprobeMulti = onlyWith(f.kprobes && f.kprobeMulti, 'has no kprobe.multi links (CONFIG_FPROBE)');
const withTrampolines = onlyWith(f.fentry, 'has no BPF trampolines (fentry/fexit/fmod_ret)');
const withLsm = onlyWith(f.bpfLsm, 'has no BPF LSM in its active LSMs');

let obj: BpfObject;
const hits = () => [...obj.map<number, bigint>('hits').values()].map(Number);

beforeEach(async () => {
  obj = BpfObject.open(fixture('kernel_hooks'));
  obj.globals.set('target_tgid', process.pid);
  // Load what this kernel can load: trampoline and LSM programs need those features.
  if (!f.fentry) for (const name of ['on_fentry', 'on_fexit', 'deny_file_open']) obj.program(name).autoload = false;
  if (!f.bpfLsm) obj.program('on_file_open').autoload = false;
  await obj.load();
});
afterEach(() => obj.close());

withKprobes('kprobe and kretprobe on a kernel function, with a cookie; detached, they stop', () => {
  const entry = obj.program('on_kprobe').attachKprobe('__x64_sys_getpriority', { cookie: 0xfeedn });
  const exit = obj.program('on_kretprobe').attachKprobe('__x64_sys_getpriority', { retprobe: true });
  expect(entry.info.type).toBe('perf_event');
  expect(entry.target).toBe('kprobe __x64_sys_getpriority');
  getpriority(5);
  expect(hits().slice(0, 2)).toEqual([5, 5]);
  expect(obj.globals.get('kprobe_cookie')).toBe(0xfeedn);
  entry.close();
  exit.close();
  getpriority(5);
  expect(hits().slice(0, 2)).toEqual([5, 5]);
  expect(() => obj.program('on_kprobe').attachKprobe('ebpf_no_such_kernel_function')).toThrow(expect.objectContaining({ operation: 'attachKprobe' }));
});

withKprobes('ksyscall by the syscall name, whatever the kernel calls its function', () => {
  using link = obj.program('on_ksyscall').attachKsyscall('getpriority');
  void link;
  getpriority(4);
  expect(hits()[2]).toBe(4);
});

withKprobes('the SEC() names the target: attach() and BpfObject.attach()', () => {
  using link = obj.program('on_ksyscall').attach();
  expect(link.target).toBe('SEC("ksyscall/getpriority")');
  getpriority(3);
  expect(hits()[2]).toBe(3);
});

withKprobeMulti('kprobe.multi by pattern and by symbols with cookies, and kretprobe.multi', () => {
  const byPattern = obj.program('on_kprobe_multi').attachKprobeMulti({ pattern: '__x64_sys_getprio*' });
  expect(byPattern.info.type).toBe('kprobe_multi');
  getpriority(4);
  expect(hits()[6]).toBe(4);
  byPattern.close();
  using bySymbols = obj.program('on_kprobe_multi').attachKprobeMulti({ symbols: ['__x64_sys_getpriority', '__x64_sys_getppid'], cookies: [1n, 2n] });
  using ret = obj.program('on_kretprobe_multi').attachKprobeMulti({ symbols: ['__x64_sys_getpriority'], retprobe: true });
  expect(bySymbols.target).toBe('kprobe.multi __x64_sys_getpriority and 1 more');
  void ret;
  getpriority(3);
  process.ppid; // getppid() is read once at start-up: call it through a child's view instead
  spawnSync('true');
  const h = hits();
  expect([h[6], h[7], h[10]]).toEqual([4, 3, 3]);
  expect(() => obj.program('on_kprobe_multi').attachKprobeMulti({ symbols: ['ebpf_no_such_kernel_function'] })).toThrow(
    expect.objectContaining({ operation: 'attachKprobeMulti' }),
  );
});

withTrampolines('fentry and fexit on the syscall function', () => {
  using entry = obj.program('on_fentry').attachTrace();
  using exit = obj.program('on_fexit').attachTrace();
  expect(entry.info.type).toBe('tracing');
  void exit;
  getpriority(6);
  expect(hits().slice(3, 5)).toEqual([6, 6]);
});

withTrampolines('fmod_ret on security_file_open makes opening one file name fail with EPERM', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-fmodret-${process.pid}-`));
  const denied = path.join(dir, 'ebpf-deny-me');
  const allowed = path.join(dir, 'ebpf-allow-me');
  fs.writeFileSync(denied, 'x');
  fs.writeFileSync(allowed, 'x');
  try {
    using link = obj.program('deny_file_open').attachTrace();
    void link;
    obj.globals.set('deny_opens', 1);
    expect(() => fs.readFileSync(denied)).toThrow(expect.objectContaining({ code: 'EPERM' }));
    expect(fs.readFileSync(allowed, 'utf8')).toBe('x');
    obj.globals.set('deny_opens', 0);
    expect(fs.readFileSync(denied, 'utf8')).toBe('x');
    expect(hits()[11]).toBe(1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

withLsm('an LSM program on file_open sees this process open files', () => {
  using link = obj.program('on_file_open').attachLsm();
  expect(link.info.type).toBe('tracing');
  for (let i = 0; i < 3; i++) fs.closeSync(fs.openSync('/proc/self/status', 'r'));
  expect(hits()[5]).toBeGreaterThanOrEqual(3);
});

withKprobes('examples/hello takes the kprobe path and prints Hello, World! on clone()', async () => {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'examples', 'hello', 'hello.js')]);
  let out = '';
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGINT'), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('MESSAGE\n') && !out.includes('Hello')) spawnSync('sh', ['-c', 'true & wait']);
      if (out.includes('Hello, World!') && !child.killed) child.kill('SIGINT'); // once
    });
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  expect(code).toBe(0);
  const lines = out.split('\n');
  expect(lines[0]).toBe('Tracing clone() with kprobes (ksyscall/clone, ksyscall/clone3). Ctrl-C to end.');
  expect(lines.find((l) => l.includes('Hello, World!'))).toMatch(/^\d+\.\d{6}\s+\S+\s+\d+\s+Hello, World!$/);
}, 90_000);

// Where a hook is missing, attaching it says which kernel feature is missing.
const withoutKprobes = onlyWith(!f.kprobes, 'has kprobes: the missing-kprobes errors cannot happen');
withoutKprobes('without kprobes: kprobe, ksyscall and kprobe.multi attach errors name CONFIG_KPROBES', () => {
  const expectMissing = (attach: () => unknown) => {
    let error: unknown;
    try {
      attach();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BpfError);
    expect((error as Error).message).toMatch(/CONFIG_KPROBES/);
  };
  expectMissing(() => obj.program('on_kprobe').attachKprobe('__x64_sys_getpriority'));
  expectMissing(() => obj.program('on_ksyscall').attachKsyscall('getpriority'));
  expectMissing(() => obj.program('on_kprobe_multi').attachKprobeMulti({ pattern: '__x64_sys_getprio*' }));
});
