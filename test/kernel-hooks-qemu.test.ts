// kprobes, kretprobes, ksyscall, fentry/fexit and BPF LSM: our machines' kernel has none of
// them, so this test boots Debian 12's own kernel (which has them all) under QEMU with
// scripts/qemu/run.sh and runs test/qemu/guest-hooks.js there, against the same build.
import { runInGuest } from './helpers/kernel';

interface GuestResult {
  kernel: string;
  attached: Record<string, string>;
  errors: Record<string, string>;
  hits: number[];
  hello: string[];
  features: Record<string, unknown>;
  fatal?: string;
}

test('kprobe, kretprobe, ksyscall, fentry, fexit and LSM programs attach and fire on a kernel that has them', async () => {
  const result = await runInGuest<GuestResult>('test/qemu/guest-hooks.js');
  expect(result.fatal).toBeUndefined();
  expect(result.kernel).toMatch(/^6\.1\./);
  expect(result.errors).toEqual({});
  // There, features() reports what this kernel lacks.
  expect(result.features).toMatchObject({ btf: true, kprobes: true, uprobes: true, fentry: true, bpfLsm: true, ringbuf: true });
  expect(result.attached).toEqual({
    on_kprobe: 'perf_event',
    on_kretprobe: 'perf_event',
    on_ksyscall: 'perf_event',
    on_fentry: 'tracing',
    on_fexit: 'tracing',
    on_file_open: 'tracing',
  });
  // 5 getpriority() calls: kprobe, kretprobe, ksyscall, fentry, fexit; 3 opens: LSM file_open.
  expect(result.hits.slice(0, 6)).toEqual([5, 5, 5, 5, 5, 3]);
  // The hello example takes the kprobe path there.
  expect(result.hello[0]).toBe('Tracing clone() with kprobes (ksyscall/clone, ksyscall/clone3). Ctrl-C to end.');
  expect(result.hello.find((l) => l.includes('Hello, World!'))).toMatch(/\s\d+\s+Hello, World!$/);
}, 600_000);
