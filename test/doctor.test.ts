// preflight() and `ebpf doctor` on this machine: as root, as a user without capabilities,
// and with tracefs and bpffs unmounted in a mount namespace of the test's own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type PreflightCheck, type PreflightReport, features, formatPreflight, preflight, probe } from '../lib';
import { ROOT, hasCommand, runNode } from './helpers/kernel';

const CLI = path.join(ROOT, 'dist', 'lib', 'cli.js');

const byId = (report: PreflightReport): Map<string, PreflightCheck> => new Map(report.checks.map((c) => [c.id, c]));

const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'];

async function doctor(args: string[], wrapper?: string[]) {
  const r = await runNode(CLI, ['doctor', ...args], { wrapper });
  expect(r.stderr).toBe('');
  return r;
}

describe('preflight()', () => {
  test('on this machine, as root: kprobes missing with CONFIG_KPROBES, tracepoints and BTF present', () => {
    const report = preflight();
    const checks = byId(report);
    expect(checks.size).toBe(report.checks.length); // ids are unique

    expect(checks.get('btf')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^\/sys\/kernel\/btf\/vmlinux \(\d+\.\d MiB\)$/) });
    expect(checks.get('attach.tracepoint')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^\d+ categories, syscalls\/ among them$/) });
    for (const cap of ['CAP_BPF', 'CAP_PERFMON', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']) expect(checks.get(`cap.${cap}`)?.status).toBe('ok');
    expect(checks.get('tracefs')).toMatchObject({ status: 'ok', detail: 'mounted at /sys/kernel/tracing' });
    expect(checks.get('bpffs')).toMatchObject({ status: 'ok', detail: 'mounted at /sys/fs/bpf' });

    // The attach kinds agree with features() (itself checked against real loads in features.test.ts).
    const have = features();
    const attachKinds: [string, boolean][] = [
      ['kprobe', have.kprobes],
      ['uprobe', have.uprobes],
      ['fentry', have.fentry],
      ['lsm', have.bpfLsm],
      ['tcx', have.tcx],
    ];
    for (const [id, present] of attachKinds) expect([id, checks.get(`attach.${id}`)?.status]).toEqual([id, present ? 'ok' : 'warn']);
    expect(checks.get('map.ringbuf')?.status).toBe(have.ringbuf ? 'ok' : 'warn');
    expect(checks.get('program.xdp')?.status).toBe(probe.programType('xdp') ? 'ok' : 'warn');
    expect(checks.get('program.lsm')?.status).toBe(probe.programType('lsm') ? 'ok' : 'warn');
    // This kernel has no kprobes: the fix names the option, and the way round it.
    expect(checks.get('attach.kprobe')).toEqual({
      id: 'attach.kprobe',
      group: 'attach',
      title: 'kprobes',
      status: 'warn',
      detail: 'missing: kprobe, kretprobe and ksyscall programs',
      fix: 'a kernel with CONFIG_KPROBES=y and CONFIG_KPROBE_EVENTS=y; meanwhile attach to a tracepoint (syscalls/sys_enter_*) instead',
    });

    // Every check that is not ok says what to do; ok ones do not.
    for (const c of report.checks) expect([c.id, c.status === 'ok' ? c.fix : typeof c.fix]).toEqual([c.id, c.status === 'ok' ? undefined : 'string']);
    expect(report.counts.ok + report.counts.warn + report.counts.fail).toBe(report.checks.length);
    expect(report.ok).toBe(report.counts.fail === 0);
    expect(report.ok).toBe(true);
  });
});

describe('ebpf doctor', () => {
  test('--json: the same report as preflight(), exit code 0', async () => {
    const r = await doctor(['--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as PreflightReport;
    const here = preflight();
    expect(report.checks.map((c) => [c.id, c.status])).toEqual(here.checks.map((c) => [c.id, c.status]));
    expect(byId(report).get('attach.kprobe')?.fix).toContain('CONFIG_KPROBES');
    expect(byId(report).get('attach.tracepoint')?.status).toBe('ok');
    expect(byId(report).get('btf')?.status).toBe('ok');
    expect(report.ok).toBe(true);
  });

  test('plain text: one line per check, grouped, fixes under their checks, and a summary', async () => {
    const r = await doctor([]);
    expect(r.code).toBe(0);
    const report = preflight();
    expect(r.stdout).toBe(formatPreflight(report));
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^ebpf doctor: Linux \S+, libbpf v\d+\.\d+, Node v\d+/);
    for (const group of ['kernel', 'privileges', 'filesystems', 'limits', 'attach', 'program types', 'map types']) expect(lines).toContain(`${group}:`);
    const kprobe = lines.findIndex((l) => /^ {2}WARN {2}kprobes +missing: kprobe, kretprobe and ksyscall programs$/.test(l));
    expect(kprobe).toBeGreaterThan(0);
    expect(lines[kprobe + 1]).toMatch(/^ {8}\s+fix: a kernel with CONFIG_KPROBES=y/);
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}ok {4}tracepoints +\d+ categories, syscalls\/ among them$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}ok {4}BTF +\/sys\/kernel\/btf\/vmlinux/));
    const { ok, warn, fail } = report.counts;
    expect(lines.at(-2)).toBe(`${ok} ok, ${warn} warning${warn === 1 ? '' : 's'}, ${fail} failed`);
  });

  test('as a user without capabilities: the missing capabilities, how to grant them, and exit code 1', async () => {
    const r = await doctor(['--json'], nobody);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as PreflightReport;
    const checks = byId(report);
    expect(report.ok).toBe(false);
    expect(checks.get('cap.CAP_BPF')).toMatchObject({
      status: 'fail',
      detail: 'missing from the effective set; needed for creating maps and loading any program',
      fix: expect.stringContaining('grant CAP_BPF: AmbientCapabilities=CAP_BPF'),
    });
    for (const cap of ['CAP_PERFMON', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']) {
      expect(checks.get(`cap.${cap}`)).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^missing from the effective set/), fix: expect.stringContaining(`grant ${cap}`) });
    }
    const unprivileged = fs.readFileSync('/proc/sys/kernel/unprivileged_bpf_disabled', 'utf8').trim();
    expect(checks.get('unprivileged_bpf')?.status).toBe(unprivileged === '0' ? 'ok' : 'fail');
    // Nothing could be probed, and it says so rather than calling types unsupported.
    expect(checks.get('program.*')).toMatchObject({ status: 'warn', detail: 'not probed: probing needs CAP_BPF, which this process lacks' });
    expect(checks.get('map.*')).toMatchObject({ status: 'warn', detail: 'not probed: probing needs CAP_BPF, which this process lacks' });
    expect(checks.get('attach.fentry')?.detail).toBe('not probed: probing needs CAP_BPF and CAP_PERFMON, which this process lacks');
    // What needs no privilege is still found.
    expect(checks.get('btf')?.status).toBe('ok');
    expect(checks.get('attach.kprobe')?.fix).toContain('CONFIG_KPROBES');

    const text = await doctor([], nobody);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^ {2}FAIL {2}CAP_BPF +missing from the effective set/m);
    expect(text.stdout).toMatch(/\n\d+ ok, \d+ warnings, [1-9]\d* failed: BPF programs cannot be loaded here until the failures are fixed\n$/);
  });

  (hasCommand('unshare') ? test : test.skip)('without tracefs and bpffs mounted: the mount commands', async () => {
    // A private mount namespace: the unmounts are this child's alone.
    const r = await doctor(['--json'], ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'umount /sys/kernel/tracing && umount /sys/fs/bpf && exec "$0" "$@"']);
    const checks = byId(JSON.parse(r.stdout) as PreflightReport);
    expect(checks.get('tracefs')).toMatchObject({ status: 'warn', fix: 'mount -t tracefs tracefs /sys/kernel/tracing' });
    expect(checks.get('bpffs')).toMatchObject({ status: 'warn', fix: 'mount -t bpf bpf /sys/fs/bpf' });
    expect(checks.get('attach.tracepoint')).toMatchObject({ status: 'warn', detail: 'cannot tell: tracefs is not mounted' });
    expect(r.code).toBe(0); // missing mounts are warnings: what needs them fails, with the same hint
  });
});
