// What kernels before 6.6 do for tc (no tcx links: attachTc() falls back to a clsact
// qdisc) and what kernels before 6.4 say for netfilter programs. This machine's kernel has
// both, so here the tests are skipped, naming why; the kernel matrix (scripts/test-vm.sh)
// runs this file on Debian 12's own 6.1 kernel under QEMU, where they run for real.
import { execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BpfObject, Btf, features } from '../lib';
import { ROOT, fixture, onlyWith } from './helpers/kernel';

const TC = 7; // the tc_count slot of test/fixtures/bpf/attach_net.bpf.c
const f = features();
const withoutTcx = onlyWith(!f.tcx, 'has tcx links: the clsact fallback is for kernels before 6.6 (attachTc({ api: "clsact" }) is tested in attach-net)');
const netfilterLinks = Btf.kernel().find('bpf_nf_link', 'struct') !== undefined;
const withoutNetfilter = onlyWith(!netfilterLinks, 'has BPF netfilter links: their absence is an error of kernels before 6.4');


const qdiscs = () => execFileSync('tc', ['qdisc', 'show', 'dev', 'lo'], { encoding: 'utf8' });

async function sendThree(): Promise<void> {
  const s = dgram.createSocket('udp4');
  for (let i = 0; i < 3; i++) await new Promise((resolve) => s.send('x', 9, '127.0.0.1', resolve));
  s.close();
}

/** This kernel's module file, from the kernel packages scripts/qemu/run.sh unpacked. */
function kernelModule(name: string): string | undefined {
  const base = path.join(ROOT, 'deps', 'qemu');
  for (const kernel of fs.existsSync(base) ? fs.readdirSync(base) : []) {
    const dir = path.join(base, kernel, 'kernel', 'lib', 'modules', os.release(), 'kernel', 'net', 'sched');
    for (const file of [`${name}.ko`, `${name}.ko.xz`]) if (fs.existsSync(path.join(dir, file))) return path.join(dir, file);
  }
  return undefined;
}

withoutTcx('without tcx, attachTc() uses a clsact qdisc, counts, and removes what it made', async () => {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  using obj = BpfObject.open(fixture('attach_net'));
  obj.program('nf_count').autoload = false;
  await obj.load();
  const counts = () => [...obj.map<number, bigint>('counts').values()].map(Number);
  const loaded = fs.readFileSync('/proc/modules', 'utf8');
  if (!/^sch_ingress /m.test(loaded) || !/^cls_bpf /m.test(loaded)) {
    // The guest's qdisc and classifier are modules: first the error that says so.
    expect(() => obj.program('tc_count').attachTc('lo')).toThrow(/this kernel has no clsact qdisc or no BPF classifier \(CONFIG_NET_SCH_INGRESS and CONFIG_NET_CLS_BPF/);
    for (const m of ['sch_ingress', 'cls_bpf']) {
      const file = kernelModule(m);
      if (file) execFileSync('insmod', [file]);
    }
  }
  expect(() => obj.program('tc_count').attachTc('lo', { api: 'tcx' })).toThrow(/this kernel has no tcx links \(Linux 6\.6 and later\): use api: 'clsact'/);
  const link = obj.program('tc_count').attachTc('lo', { direction: 'egress' });
  expect(link.target).toBe('tc clsact egress lo');
  expect(link.info).toMatchObject({ id: 0, type: 'tc' });
  expect(qdiscs()).toMatch(/qdisc clsact/);
  await sendThree();
  const during = counts()[TC];
  expect(during).toBeGreaterThanOrEqual(3);
  link.close();
  expect(qdiscs()).not.toMatch(/clsact/);
  await sendThree();
  expect(counts()[TC]).toBe(during);
});

withoutNetfilter('without netfilter links, loading a netfilter program names the kernel option', async () => {
  using obj = BpfObject.open(fixture('attach_net'));
  for (const p of obj.programs) p.autoload = p.name === 'nf_count';
  await expect(obj.load()).rejects.toThrow(
    /program 'nf_count' \(SEC\("netfilter"\)\) cannot load here: this kernel has no BPF netfilter hooks \(Linux 6\.4 and later, built with CONFIG_NETFILTER_BPF_LINK\)/,
  );
});
