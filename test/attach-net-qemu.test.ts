// tc through clsact where the kernel has no tcx, and the errors for what an older kernel
// lacks: test/qemu/guest-net.js on Debian 12's own kernel (6.1) under QEMU, through
// scripts/qemu/run.sh, against the same build.
import { runInGuest } from './helpers/kernel';

interface GuestResult {
  kernel: string;
  features: { tcx: boolean };
  tcxError?: string;
  withoutModules?: string;
  target?: string;
  info?: { id: number; type: string; programId: number };
  qdiscWith?: string;
  qdiscAfter?: string;
  during?: number[];
  after?: number[];
  netfilter?: string;
  fatal?: string;
}

const TC = 7; // the tc_count slot of test/fixtures/bpf/attach_net.bpf.c

test('on a kernel without tcx, attachTc() uses a clsact qdisc and removes it; missing netfilter hooks are named', async () => {
  const result = await runInGuest<GuestResult>('test/qemu/guest-net.js');
  expect(result.fatal).toBeUndefined();
  expect(result.kernel).toMatch(/^6\.1\./);
  expect(result.features.tcx).toBe(false);
  // Before the modules are loaded, the error says what is missing.
  expect(result.withoutModules).toMatch(/attachTc: .*this kernel has no clsact qdisc or no BPF classifier \(CONFIG_NET_SCH_INGRESS and CONFIG_NET_CLS_BPF/);
  expect(result.target).toBe('tc clsact egress lo');
  expect(result.info).toMatchObject({ id: 0, type: 'tc' });
  expect(result.qdiscWith).toMatch(/qdisc clsact/);
  expect(result.during![TC]).toBeGreaterThanOrEqual(3);
  expect(result.qdiscAfter).not.toMatch(/clsact/);
  expect(result.after![TC]).toBe(result.during![TC]);
  expect(result.tcxError).toMatch(/this kernel has no tcx links \(Linux 6\.6 and later\): use api: 'clsact'/);
  expect(result.netfilter).toMatch(/program 'nf_count' \(SEC\("netfilter"\)\) cannot load here: this kernel has no BPF netfilter hooks \(Linux 6\.4 and later, built with CONFIG_NETFILTER_BPF_LINK\)/);
}, 600_000);
