// Attach types this kernel has, for real: XDP and tcx on a veth pair between two network
// namespaces the test makes (198.18.0.0/15 addresses, removed afterwards), uprobes on a
// binary the test compiles, a task iterator, and a cgroup egress program.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BpfObject } from '../lib';
import { DIST_INDEX, fixture, netnsVethPair, runNode, writeScript } from './helpers/kernel';

const hitsOf = (obj: BpfObject) => [...obj.map<number, bigint>('hits').values()].map(Number);

describe('XDP and tcx in network namespaces of our own', () => {
  let net: ReturnType<typeof netnsVethPair>;
  let nsA = '';
  let nsB = '';
  let ifA = '';

  beforeAll(() => {
    net = netnsVethPair('ev', ['198.18.0.1/24', '198.18.0.2/24']);
    ({ nsA, nsB, ifA } = net);
  });

  afterAll(() => {
    // Deleting the namespaces deletes the veth pair and detaches what was on it.
    expect(net.remove()).toEqual([]);
  });

  test('count packets at XDP ingress and tcx egress; update the XDP program in place; info', async () => {
    const send = (from: string, to: string, n: number) =>
      `require('child_process').execFileSync('ip', ['netns', 'exec', ${JSON.stringify(from)}, process.execPath, '-e', ` +
      `"const s = require('dgram').createSocket('udp4'); let k = 0; const go = () => s.send('x', 9, '${to}', () => (++k < ${n} ? go() : s.close())); go();"])`;
    const script = writeScript(
      'net.js',
      `const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
(async () => {
  const obj = BpfObject.open(${JSON.stringify(fixture('attach'))});
  await obj.load();
  const hits = () => [...obj.map('hits').values()].map(Number);
  const xdp = obj.program('xdp_count').attachXdp(${JSON.stringify(ifA)});
  const tc = obj.program('tc_count').attachTc(${JSON.stringify(ifA)}, { direction: 'egress' });
  ${send(nsB, '198.18.0.1', 5)};
  ${send(nsA, '198.18.0.2', 5)};
  const first = hits();
  xdp.update(obj.program('xdp_count_other'));
  ${send(nsB, '198.18.0.1', 3)};
  const second = hits();
  console.log(JSON.stringify({ first, second, xdp: xdp.info, tc: tc.info }));
  obj.close();
})().catch((e) => { console.log(JSON.stringify({ error: e.message })); });`,
    );
    const r = await runNode(script, [], { wrapper: ['ip', 'netns', 'exec', nsA] });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { first: number[]; second: number[]; xdp: { type: string }; tc: { type: string }; error?: string };
    expect(out.error).toBeUndefined();
    expect(out.first[0]).toBeGreaterThanOrEqual(5); // 5 datagrams (and ARP) in at XDP
    expect(out.first[2]).toBeGreaterThanOrEqual(5); // 5 datagrams (and ARP) out at tcx egress
    expect(out.second[0]).toBe(out.first[0]); // replaced: the old program saw nothing more
    expect(out.second[1]).toBeGreaterThanOrEqual(3);
    expect([out.xdp.type, out.tc.type]).toEqual(['xdp', 'tcx']);
  });

  test('an unknown interface is a clear error', async () => {
    using obj = BpfObject.open(fixture('attach'));
    await obj.load();
    expect(() => obj.program('xdp_count').attachXdp('no-such-if0')).toThrow(/no network interface 'no-such-if0'/);
    expect(() => obj.program('xdp_count').attachXdp(1, { mode: 'turbo' as 'skb' })).toThrow(TypeError);
  });
});

describe('uprobes, iterators, cgroups, pinned links', () => {
  let obj: BpfObject;
  beforeEach(async () => {
    obj = BpfObject.open(fixture('attach'));
    await obj.load();
  });
  afterEach(() => obj.close());

  test('uprobe and uretprobe on a function of a binary, by symbol', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ebpf-uprobe-'));
    try {
      const bin = path.join(dir, 'target');
      fs.writeFileSync(
        path.join(dir, 'target.c'),
        '#include <stdlib.h>\n__attribute__((noinline)) int ebpf_target(int x) { return x * 2; }\n' +
          'int main(int argc, char **argv) { int s = 0; for (int i = 0; i < atoi(argv[1]); i++) s += ebpf_target(i); return s == -1; }\n',
      );
      execFileSync('cc', ['-O1', '-o', bin, path.join(dir, 'target.c')]);
      using entry = obj.program('uprobe_hit').attachUprobe({ binary: bin, symbol: 'ebpf_target' });
      using exit = obj.program('uretprobe_hit').attachUprobe({ binary: bin, symbol: 'ebpf_target', retprobe: true });
      expect(entry.target).toBe(`uprobe ${bin}:ebpf_target`);
      void exit;
      execFileSync(bin, ['7']);
      expect(hitsOf(obj).slice(3, 5)).toEqual([7, 7]);
      expect(() => obj.program('uprobe_hit').attachUprobe({ binary: bin, symbol: 'no_such_function' })).toThrow(expect.objectContaining({ operation: 'attachUprobe' }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a task iterator lists this process', async () => {
    using it = obj.program('list_processes').attachIter();
    const text = await it.read();
    const mine = text.split('\n').find((l) => l.startsWith(`${process.pid} `));
    expect(mine).toBeDefined();
    expect(it.info.type).toBe('iter');
  });

  test('cgroup skb egress counts what a process in the cgroup sends', () => {
    const cgroup = fs.mkdtempSync('/sys/fs/cgroup/unified/ebpf-test-');
    try {
      using link = obj.program('cgroup_egress').attachCgroup(cgroup);
      void link;
      // A shell moves itself into the cgroup, then sends one datagram on loopback.
      execFileSync('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec "$0" -e "const s = require('dgram').createSocket('udp4'); s.send('x', 9, '127.0.0.1', () => s.close())"`, process.execPath]);
      expect(hitsOf(obj)[5]).toBeGreaterThanOrEqual(1);
    } finally {
      fs.rmdirSync(cgroup);
    }
  });

  test('a pinned link outlives its object until unpinned', async () => {
    const dir = fs.mkdtempSync('/sys/fs/bpf/ebpf-link-');
    try {
      const pin = path.join(dir, 'iter');
      const link = obj.program('list_processes').attachIter();
      link.pin(pin);
      const id = link.info.id;
      obj.close();
      expect(fs.existsSync(pin)).toBe(true);
      // The kernel still has the link: bpffs shows it.
      expect(fs.readFileSync(pin, 'utf8')).toContain(`${process.pid} `); // reading a pinned iterator runs it
      expect(id).toBeGreaterThan(0);
      fs.unlinkSync(pin);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('perf_event programs sample the CPU clock on every CPU', async () => {
  using obj = BpfObject.open(fixture('attach'));
  await obj.load();
  // PERF_TYPE_SOFTWARE (1), PERF_COUNT_SW_CPU_CLOCK (0), 1000 samples a second per CPU.
  using links = obj.program('on_cpu_clock').attachPerfEventAllCpus({ type: 1, config: 0, sampleFreq: 1000 });
  expect(links.length).toBe(os.cpus().length);
  expect(links.links[0].info.type).toBe('perf_event');
  const end = Date.now() + 200;
  while (Date.now() < end); // keep one CPU busy
  expect(hitsOf(obj)[6]).toBeGreaterThan(20);
  expect(() => obj.program('on_cpu_clock').attachPerfEvent({ type: 1, config: 0, cpu: 0 })).toThrow(/one of samplePeriod and sampleFreq/);
  expect(() => obj.program('on_cpu_clock').attachPerfEvent({ type: 1, config: 0, sampleFreq: 10, cpu: 4096 })).toThrow(expect.objectContaining({ operation: 'attachPerfEvent' }));
});
