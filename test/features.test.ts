// features() checked against what actually happens when we try (on this kernel; the QEMU
// matrix, scripts/test-vm.sh, runs it again on kernels that have kprobes, fentry and BPF LSM).
import { BpfError, BpfObject, enableStats, features, probe } from '../lib';
import { fixture } from './helpers/kernel';

test('features() agrees with loading and attaching for real', async () => {
  const f = features();
  expect(f.kernel).toMatch(/^\d+\.\d+/);
  expect(f.btf && f.tracefs && f.bpffs).toBe(true);

  // fentry / fexit / LSM programs: they load (and attach) exactly when features() says so.
  const all = BpfObject.open(fixture('kernel_hooks'));
  const loaded = await all.load().then(
    () => true,
    (e: unknown) => e,
  );
  if (f.fentry && f.bpfLsm) {
    expect(loaded).toBe(true);
  } else {
    expect(loaded).toBeInstanceOf(BpfError);
    expect((loaded as Error).message).toMatch(f.fentry ? /"bpf" is not among the active LSMs/ : /this kernel has no BPF trampolines/);
  }
  all.close();

  using obj = BpfObject.open(fixture('kernel_hooks'));
  obj.globals.set('target_tgid', process.pid);
  if (!f.fentry) for (const name of ['on_fentry', 'on_fexit', 'deny_file_open']) obj.program(name).autoload = false;
  if (!f.bpfLsm) obj.program('on_file_open').autoload = false;
  await obj.load();
  const kprobe = (() => {
    try {
      return obj.program('on_kprobe').attachKprobe('__x64_sys_getpriority');
    } catch (e) {
      return e as Error;
    }
  })();
  if (f.kprobes) {
    expect(kprobe).not.toBeInstanceOf(Error);
  } else {
    expect(kprobe).toBeInstanceOf(BpfError);
    expect((kprobe as Error).message).toContain('this kernel has no kprobes (CONFIG_KPROBES is not set)');
  }
});

test('probes through libbpf', () => {
  expect(probe.programType('xdp')).toBe(true);
  expect(probe.programType('tracepoint')).toBe(true);
  expect(probe.mapType('ringbuf')).toBe(features().ringbuf);
  expect(probe.mapType('bloom_filter')).toBe(true);
  expect(probe.helper('xdp', 1)).toBe(true); // bpf_map_lookup_elem
  expect(probe.helper('socket_filter', 65)).toBe(false); // bpf_perf_event_read_value: tracing only
  expect(() => probe.programType('no_such_type')).toThrow(/unknown program type 'no_such_type'/);
  expect(() => probe.mapType('nope')).toThrow(/unknown map type 'nope'/);
});

test('program info, and run statistics while enableStats() is in effect', async () => {
  using obj = BpfObject.open(fixture('attach'));
  await obj.load();
  const prog = obj.program('xdp_count');
  const before = prog.info;
  expect(before.id).toBeGreaterThan(0);
  expect(before.tag).toMatch(/^[0-9a-f]{16}$/);
  expect(before.xlatedSize).toBeGreaterThan(0);
  {
    using stats = enableStats();
    void stats;
    prog.testRun({ data: Buffer.alloc(64), repeat: 100 });
  }
  const after = prog.info;
  expect(after.runCount - before.runCount).toBe(100n);
  expect(after.runTimeNs).toBeGreaterThan(before.runTimeNs);
  prog.testRun({ data: Buffer.alloc(64), repeat: 10 }); // statistics are off again
  expect(prog.info.runCount).toBe(after.runCount);
});
