// The networking attach calls, for real: a socket filter on a UDP socket over loopback,
// sk_lookup steering connections in a network namespace the test makes, a netfilter hook in
// that namespace, tc through clsact (and tcx) and XDP replacing a program that iproute2
// attached, on a veth pair between two namespaces of our own (198.18.0.0/15 addresses),
// cgroup programs given their attach type in a cgroup v2 directory of our own. Everything
// is named after this process's pid and removed afterwards.
import { execFileSync, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { BpfObject } from '../lib';
import { DIST_INDEX, type VethPair, createVethPair, fixture, removeVethPair, runNode, writeScript } from './helpers/kernel';

// The slots of `counts` in test/fixtures/bpf/attach_net.bpf.c.
const SLOT = { sockSeen: 0, sockDropped: 1, sockAll: 2, lookups: 3, steered: 4, nfSeen: 5, nfDropped: 6, tc: 7, tcOther: 8, xdp: 9, xdpOther: 10, cgroupSkb: 11, sockCreate: 12 };
const countsOf = (obj: BpfObject) => [...obj.map<number, bigint>('counts').values()].map(Number);
const tag = `${process.pid % 100000}`;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

// What every script run in a namespace starts with: the library, and UDP helpers.
const PRELUDE = `const { BpfObject, BpfMap } = require(${JSON.stringify(DIST_INDEX)});
const dgram = require('dgram');
const net = require('net');
const { execFileSync } = require('child_process');
const FIXTURE = ${JSON.stringify(fixture('attach_net'))};
const counts = (obj) => [...obj.map('counts').values()].map(Number);
// A UDP socket on addr:port that keeps what it receives; waitFor(n) resolves once it has n.
const receiver = (port, addr = '127.0.0.1') => new Promise((resolve) => {
  const sock = dgram.createSocket('udp4');
  const got = [];
  const waiters = [];
  sock.on('message', (m) => { got.push(m.toString()); for (const w of waiters.splice(0)) w(); });
  const waitFor = (n) => new Promise((res) => { const check = () => (got.length >= n ? res() : waiters.push(check)); check(); });
  sock.bind(port, addr, () => resolve({ sock, got, waitFor }));
});
// Sends each message, one after the other, from one socket.
const send = async (port, messages, addr = '127.0.0.1') => {
  const sock = dgram.createSocket('udp4');
  for (const m of messages) await new Promise((res, rej) => sock.send(m, port, addr, (e) => (e ? rej(e) : res())));
  sock.close();
};
`;

/**
 * Runs `body` (an async function body returning a JSON-able value) with node inside `ns`:
 * through `ip netns exec` (which mounts the namespace's own /sys, for interface names), or
 * with `keepSys`, through nsenter (the host's /sys, where bpffs and our pins are).
 */
async function inNetns<T>(ns: string, body: string, options: { keepSys?: boolean } = {}): Promise<T> {
  const script = writeScript(
    'net.js',
    `${PRELUDE}(async () => {\n${body}\n})().then((out) => console.log(JSON.stringify(out)), (e) => console.log(JSON.stringify({ error: e.stack }))).then(() => process.exit());\n`,
  );
  const wrapper = options.keepSys ? ['nsenter', `--net=/var/run/netns/${ns}`] : ['ip', 'netns', 'exec', ns];
  const r = await runNode(script, [], { wrapper });
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout) as T & { error?: string };
  expect(out.error).toBeUndefined();
  return out;
}

describe('socket filters', () => {
  let obj: BpfObject;
  const sockets: (dgram.Socket | net.Socket | net.Server)[] = [];
  const udp = async (): Promise<dgram.Socket> => {
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    await new Promise<void>((res) => s.bind(0, '127.0.0.1', res));
    return s;
  };
  beforeEach(async () => {
    obj = BpfObject.open(fixture('attach_net'));
    await obj.load();
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) {
      if (s instanceof net.Socket) s.destroy();
      else s.close();
    }
    obj.close();
  });

  /** Sends `messages` to `to`, then waits until `to` has received the last one. */
  async function exchange(to: dgram.Socket, messages: string[]): Promise<void> {
    const from = await udp();
    const last = messages[messages.length - 1];
    const arrived = new Promise<void>((res) => to.on('message', (m) => m.toString() === last && res()));
    for (const m of messages) await new Promise((res) => from.send(m, to.address().port, '127.0.0.1', res));
    await arrived;
  }

  test('count and drop datagrams on a UDP socket; replace the filter; detach', async () => {
    const receiver = await udp();
    const got: string[] = [];
    receiver.on('message', (m) => got.push(m.toString()));
    const link = obj.program('sock_filter').attachSocketFilter(receiver);
    expect(link.info).toEqual({ id: 0, type: 'socket_filter', programId: obj.program('sock_filter').info.id });
    expect(link.target).toMatch(/^socket fd \d+$/);

    await exchange(receiver, ['a1', 'D2', 'a3', 'end1']);
    expect(got).toEqual(['a1', 'a3', 'end1']); // 'D2' dropped by the program
    expect(countsOf(obj).slice(SLOT.sockSeen, SLOT.sockAll + 1)).toEqual([4, 1, 0]);

    link.update(obj.program('sock_keep_all')); // SO_ATTACH_BPF again: an atomic swap
    expect(link.info.programId).toBe(obj.program('sock_keep_all').info.id);
    await exchange(receiver, ['D4', 'end2']);
    expect(got.slice(3)).toEqual(['D4', 'end2']);
    expect(countsOf(obj).slice(SLOT.sockSeen, SLOT.sockAll + 1)).toEqual([4, 1, 2]);

    link.close();
    expect(link.closed).toBe(true);
    await exchange(receiver, ['D5', 'end3']);
    expect(got.slice(5)).toEqual(['D5', 'end3']);
    expect(countsOf(obj).slice(SLOT.sockSeen, SLOT.sockAll + 1)).toEqual([4, 1, 2]); // detached: not run
  });

  test('a TCP socket (net.Socket) sees what its peer sends', async () => {
    const server = net.createServer((c) => c.end('hello from the server'));
    sockets.push(server);
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    sockets.push(client);
    await new Promise((res) => client.on('connect', res));
    using link = obj.program('sock_keep_all').attachSocketFilter(client);
    void link;
    const text = await new Promise<string>((res) => {
      let data = '';
      client.on('data', (d: Buffer) => (data += d.toString()));
      client.on('end', () => res(data));
    });
    expect(text).toBe('hello from the server');
    expect(countsOf(obj)[SLOT.sockAll]).toBeGreaterThanOrEqual(1);
  });

  test('closing the object detaches its socket filters', async () => {
    const receiver = await udp();
    const link = obj.program('sock_filter').attachSocketFilter(receiver);
    obj.close();
    expect(link.closed).toBe(true);
    const got: string[] = [];
    receiver.on('message', (m) => got.push(m.toString()));
    await exchange(receiver, ['D1', 'end']);
    expect(got).toEqual(['D1', 'end']); // the filter would have dropped 'D1'
  });

  test('a socket closed before its link: closing the link is harmless', async () => {
    const s = await udp();
    const link = obj.program('sock_filter').attachSocketFilter(s);
    s.close();
    sockets.splice(sockets.indexOf(s), 1);
    expect(() => link.close()).not.toThrow();
    expect(link.closed).toBe(true);
  });

  test('bad sockets and wrong programs are clear errors', async () => {
    const prog = obj.program('sock_filter');
    const closed = await udp();
    closed.close();
    sockets.splice(sockets.indexOf(closed), 1);
    expect(() => prog.attachSocketFilter(closed)).toThrow(/socket has no file descriptor: it is closed, or not bound/);
    const unbound = dgram.createSocket('udp4');
    sockets.push(unbound);
    expect(() => prog.attachSocketFilter(unbound)).toThrow(/socket has no file descriptor/);
    expect(() => prog.attachSocketFilter(-1)).toThrow(/socket must be a file descriptor/);
    expect(() => prog.attachSocketFilter(1 << 30)).toThrow(expect.objectContaining({ code: 'EBADF', operation: 'attachSocketFilter' }));
    const file = fs.openSync(__filename, 'r');
    try {
      expect(() => prog.attachSocketFilter(file)).toThrow(expect.objectContaining({ code: 'ENOTSOCK' }));
    } finally {
      fs.closeSync(file);
    }
    const s = await udp();
    expect(() => obj.program('xdp_count').attachSocketFilter(s)).toThrow(/program 'xdp_count' is of type xdp, and SO_ATTACH_BPF takes programs of type socket_filter/);
    using link = prog.attachSocketFilter(s);
    expect(() => link.fd).toThrow(/socket_filter attachment is not a BPF link: it has no fd and cannot be pinned/);
    expect(() => link.pin('/sys/fs/bpf/unused')).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
  });
});

describe('sk_lookup, netfilter and privileges in a network namespace of our own', () => {
  const ns = `ebpf-nl-${tag}`;
  const nsPath = `/var/run/netns/${ns}`;

  beforeAll(() => {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  });

  afterAll(() => {
    spawnSync('ip', ['netns', 'del', ns]);
    expect(fs.existsSync(nsPath)).toBe(false);
  });

  test('sk_lookup attached by the namespace path steers connections for a port to a socket in a SOCKMAP', async () => {
    using obj = BpfObject.open(fixture('attach_net'));
    obj.globals.set('steer_port', 7007);
    await obj.load();
    const pin = `/sys/fs/bpf/ebpf-net-${process.pid}-steer`;
    obj.map('steer_to').pin(pin);
    try {
      // Inside the namespace: a server on 7008 goes into the SOCKMAP, then a client connects to 7007.
      const connect = `
const server = net.createServer((c) => c.end());
await new Promise((res) => server.listen(7008, '127.0.0.1', res));
BpfMap.openPinned(${JSON.stringify(pin)}).set(Buffer.alloc(4), Buffer.from(new BigUint64Array([BigInt(server._handle.fd)]).buffer));
const result = await new Promise((res) => {
  const c = net.connect(7007, '127.0.0.1');
  c.on('connect', () => { c.destroy(); res('connected'); });
  c.on('error', (e) => res(e.code));
});
server.close();
return { result };`;
      const link = obj.program('steer').attachSkLookup(nsPath);
      expect(link.info.type).toBe('netns');
      expect(link.target).toBe(`sk_lookup ${nsPath}`);
      const steered = await inNetns<{ result: string }>(ns, connect, { keepSys: true });
      const during = countsOf(obj);
      expect(steered.result).toBe('connected'); // nothing listens on 7007: only the program got it there
      expect(during[SLOT.steered]).toBeGreaterThanOrEqual(1);
      expect(during[SLOT.lookups]).toBeGreaterThanOrEqual(during[SLOT.steered]);

      link.close();
      const plain = await inNetns<{ result: string }>(ns, connect, { keepSys: true });
      expect(plain.result).toBe('ECONNREFUSED');
      expect(countsOf(obj)).toEqual(during); // detached: no more lookups seen
    } finally {
      fs.rmSync(pin, { force: true });
    }
  });

  test('sk_lookup errors: missing namespace, not a namespace, wrong program', async () => {
    using obj = BpfObject.open(fixture('attach_net'));
    await obj.load();
    const missing = `/var/run/netns/ebpf-none-${process.pid}`;
    expect(() => obj.program('steer').attachSkLookup(missing)).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining(`no network namespace at ${missing}`) }));
    expect(() => obj.program('steer').attachSkLookup('/proc/self/ns/mnt')).toThrow(/\/proc\/self\/ns\/mnt is not a network namespace/);
    expect(() => obj.program('steer').attachSkLookup(__filename)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => obj.program('tc_count').attachSkLookup(nsPath)).toThrow(/is of type sched_cls, and sk_lookup takes programs of type sk_lookup/);
    using unloaded = BpfObject.open(fixture('attach_net'));
    expect(() => unloaded.program('steer').attachSkLookup(nsPath)).toThrow(expect.objectContaining({ operation: 'attachSkLookup', message: expect.stringContaining('is not loaded; await load() first') }));
  });

  test('netfilter: count IPv4 packets at input and drop one port; detach', async () => {
    const out = await inNetns<{ info: { type: string }; during: number[]; after: number[]; dropped: string[]; kept: string[]; defrag: string }>(
      ns,
      `
const obj = BpfObject.open(FIXTURE);
obj.globals.set('drop_port', 7101);
await obj.load();
const keep = await receiver(7100);
const drop = await receiver(7101);
const link = obj.program('nf_count').attachNetfilter({ protocolFamily: 'ipv4', hook: 'input', priority: 10 });
const info = link.info;
await send(7101, ['D1', 'D2']);
await send(7100, ['k1', 'k2', 'k3']);
await keep.waitFor(3);
const during = counts(obj);
link.close();
await send(7101, ['d3', 'd4']);
await drop.waitFor(2);
const after = counts(obj);
const defragLink = obj.program('nf_count').attachNetfilter({ protocolFamily: 'ipv6', hook: 'prerouting', priority: -100, defrag: true });
const defrag = defragLink.info.type;
defragLink.close();
keep.sock.close();
drop.sock.close();
obj.close();
return { info, during, after, dropped: drop.got, kept: keep.got, defrag };`,
    );
    expect(out.info.type).toBe('netfilter');
    expect(out.during[SLOT.nfDropped]).toBe(2);
    expect(out.during[SLOT.nfSeen]).toBeGreaterThanOrEqual(5);
    expect(out.kept).toEqual(['k1', 'k2', 'k3']);
    expect(out.dropped).toEqual(['d3', 'd4']); // D1 and D2 never arrived; after detach, all do
    expect(out.after).toEqual(out.during);
    expect(out.defrag).toBe('netfilter');
  });

  test('without CAP_NET_ADMIN, netlink attachments say it is missing', async () => {
    // Loaded as root; then setuid() to nobody drops every capability, the program fds stay.
    const out = await inNetns<{ xdp: { code: string; message: string }; tc: { code: string; message: string } }>(
      ns,
      `
const obj = BpfObject.open(FIXTURE);
await obj.load();
process.setgid(65534);
process.setuid(65534);
const failure = (attach) => { try { attach().close(); return { code: 'attached' }; } catch (e) { return { code: e.code, message: e.message }; } };
const xdp = failure(() => obj.program('xdp_count').attachXdp('lo', { replace: true }));
const tc = failure(() => obj.program('tc_count').attachTc('lo', { api: 'clsact' }));
return { xdp, tc };`,
    );
    for (const failure of [out.xdp, out.tc]) {
      expect(failure.code).toBe('EPERM');
      expect(failure.message).toMatch(/missing CAP_NET_ADMIN: attach(Xdp|Tc) needs CAP_NET_ADMIN/);
    }
  });

  test('netfilter errors: bad family, hook or priority, wrong program', async () => {
    using obj = BpfObject.open(fixture('attach_net'));
    await obj.load();
    const nf = obj.program('nf_count');
    expect(() => nf.attachNetfilter({ protocolFamily: 'ipx' as 'ipv4', hook: 'input', priority: 0 })).toThrow(/protocolFamily must be 'ipv4' or 'ipv6', got 'ipx'/);
    expect(() => nf.attachNetfilter({ protocolFamily: 'ipv4', hook: 'sideways' as 'input', priority: 0 })).toThrow(/hook must be 'prerouting', 'input', 'forward', 'output' or 'postrouting', got 'sideways'/);
    expect(() => nf.attachNetfilter({ protocolFamily: 'ipv4', hook: 'input', priority: 1.5 })).toThrow(/priority must be a 32-bit integer/);
    expect(() => obj.program('steer').attachNetfilter({ protocolFamily: 'ipv4', hook: 'input', priority: 0 })).toThrow(/is of type sk_lookup, and a netfilter hook takes programs of type netfilter/);
  });
});

describe('tc (clsact and tcx) and XDP replace on a veth pair between namespaces of our own', () => {
  let pair: VethPair;
  let nsA: string;
  let ifA: string;
  // Sends n datagrams from namespace B to A's address (A's ingress), run from a script in A.
  const fromB = (n: number) =>
    `execFileSync('ip', ['netns', 'exec', ${JSON.stringify(pair.nsB)}, process.execPath, '-e', ` +
    `"const s = require('dgram').createSocket('udp4'); let k = 0; const go = () => s.send('x', 9, '${pair.addrA}', () => (++k < ${n} ? go() : s.close())); go();"]);`;

  beforeAll(() => {
    pair = createVethPair('en', 1);
    ({ nsA, ifA } = pair);
  });

  afterAll(() => {
    expect(removeVethPair(pair)).toBe(true);
  });

  test('tc through clsact: a qdisc we make is removed with our last filter, one that was there is kept; update; tcx by default', async () => {
    const out = await inNetns<Record<string, string | number[] | { id: number; type: string }>>(
      nsA,
      `
const tc = (...args) => execFileSync('tc', [...args], { encoding: 'utf8' });
const obj = BpfObject.open(FIXTURE);
await obj.load();
const egress = obj.program('tc_count').attachTc(${JSON.stringify(ifA)}, { api: 'clsact', direction: 'egress' });
const qdiscWith = tc('qdisc', 'show', 'dev', ${JSON.stringify(ifA)});
const filterWith = tc('filter', 'show', 'dev', ${JSON.stringify(ifA)}, 'egress');
await send(9, Array(5).fill('x'), ${JSON.stringify(pair.addrB)});
const first = counts(obj);
egress.update(obj.program('tc_other'));
await send(9, Array(3).fill('x'), ${JSON.stringify(pair.addrB)});
const second = counts(obj);
const info = egress.info;
egress.close();
const qdiscAfter = tc('qdisc', 'show', 'dev', ${JSON.stringify(ifA)});
await send(9, Array(2).fill('x'), ${JSON.stringify(pair.addrB)});
const third = counts(obj);

tc('qdisc', 'add', 'dev', ${JSON.stringify(ifA)}, 'clsact');
const ingress = obj.program('tc_count').attachTc(${JSON.stringify(ifA)}, { direction: 'ingress', priority: 7 });
${fromB(4)}
const fourth = counts(obj);
const ingressFilters = tc('filter', 'show', 'dev', ${JSON.stringify(ifA)}, 'ingress');
ingress.close();
const ingressAfter = tc('filter', 'show', 'dev', ${JSON.stringify(ifA)}, 'ingress');
const qdiscKept = tc('qdisc', 'show', 'dev', ${JSON.stringify(ifA)});
tc('qdisc', 'del', 'dev', ${JSON.stringify(ifA)}, 'clsact');

// Two filters of ours on a qdisc we made: the qdisc goes with the last one.
const first_of_two = obj.program('tc_count').attachTc(${JSON.stringify(ifA)}, { api: 'clsact', direction: 'egress' });
const second_of_two = obj.program('tc_other').attachTc(${JSON.stringify(ifA)}, { direction: 'ingress', priority: 9 });
first_of_two.close();
const sharedAfterFirst = tc('qdisc', 'show', 'dev', ${JSON.stringify(ifA)}) + tc('filter', 'show', 'dev', ${JSON.stringify(ifA)}, 'ingress');
second_of_two.close();
const sharedAfterBoth = tc('qdisc', 'show', 'dev', ${JSON.stringify(ifA)});

const tcx = obj.program('tc_count').attachTc(${JSON.stringify(ifA)});
const tcxType = tcx.info.type;
tcx.close();
obj.close();
return { qdiscWith, filterWith, first, second, info, qdiscAfter, third, fourth, ingressFilters, ingressAfter, qdiscKept, sharedAfterFirst, sharedAfterBoth, tcxType };`,
    );
    const n = (k: string) => out[k] as number[];
    expect(out.qdiscWith).toMatch(/qdisc clsact/);
    expect(out.filterWith).toMatch(/tc_count.*direct-action/);
    expect(n('first')[SLOT.tc]).toBeGreaterThanOrEqual(5); // 5 datagrams (and ARP) out
    expect(n('second')[SLOT.tc]).toBe(n('first')[SLOT.tc]); // replaced: the old program saw nothing more
    expect(n('second')[SLOT.tcOther]).toBeGreaterThanOrEqual(3);
    expect(out.info).toEqual(expect.objectContaining({ id: 0, type: 'tc' }));
    expect(out.qdiscAfter).not.toMatch(/clsact/); // we made it, we removed it
    expect(n('third').slice(SLOT.tc, SLOT.tcOther + 1)).toEqual(n('second').slice(SLOT.tc, SLOT.tcOther + 1));
    expect(n('fourth')[SLOT.tc]).toBeGreaterThanOrEqual(n('third')[SLOT.tc] + 4); // 4 datagrams in
    expect(out.ingressFilters).toMatch(/pref 7 bpf.*tc_count/);
    expect(out.ingressAfter).not.toMatch(/tc_count/);
    expect(out.qdiscKept).toMatch(/qdisc clsact/); // not ours: kept
    expect(out.sharedAfterFirst).toMatch(/qdisc clsact[\s\S]*pref 9 bpf.*tc_other/); // still in use by our other filter
    expect(out.sharedAfterBoth).not.toMatch(/clsact/);
    expect(out.tcxType).toBe('tcx');
  });

  test('XDP with replace: takes over a program iproute2 attached; closing leaves one put there since', async () => {
    const out = await inNetns<Record<string, string | number | number[] | null | { id: number; type: string; programId: number }>>(
      nsA,
      `
const IF = ${JSON.stringify(ifA)};
const xdpOn = () => /prog\\/xdp id (\\d+) name (\\S+)/.exec(execFileSync('ip', ['-d', 'link', 'show', 'dev', IF], { encoding: 'utf8' }));
const ipAttach = (...extra) => execFileSync('ip', [...extra, 'link', 'set', 'dev', IF, 'xdp', 'obj', FIXTURE, 'sec', 'xdp']);
const obj = BpfObject.open(FIXTURE);
await obj.load();
ipAttach(); // another tool: its own copy of xdp_count, through netlink
const theirs = Number(xdpOn()[1]);
let busy = null;
try { obj.program('xdp_other').attachXdp(IF); } catch (e) { busy = e.message; }
const link = obj.program('xdp_other').attachXdp(IF, { replace: true });
const ours = Number(xdpOn()[1]);
${fromB(4)}
const first = counts(obj);
link.update(obj.program('xdp_count'));
const updated = Number(xdpOn()[1]);
${fromB(3)}
const second = counts(obj);
const info = link.info;
link.close();
const afterClose = xdpOn();
${fromB(2)}
const third = counts(obj);

// Someone replaces ours: closing our link leaves theirs.
const second_link = obj.program('xdp_other').attachXdp(IF, { replace: true });
ipAttach('-force');
const stranger = Number(xdpOn()[1]);
second_link.close();
const kept = Number(xdpOn()[1]);
execFileSync('ip', ['link', 'set', 'dev', IF, 'xdp', 'off']);

// A program held by a BPF link cannot be replaced through netlink.
const held = obj.program('xdp_count').attachXdp(IF);
let linkBusy = null;
try { obj.program('xdp_other').attachXdp(IF, { replace: true }); } catch (e) { linkBusy = e.message; }
held.close();
const ids = { xdp_count: obj.program('xdp_count').info.id, xdp_other: obj.program('xdp_other').info.id };
obj.close();
return { theirs, busy, ours, first, updated, second, info, afterClose, third, stranger, kept, linkBusy, ids };`,
    );
    const n = (k: string) => out[k] as number[];
    const ids = out.ids as unknown as { xdp_count: number; xdp_other: number };
    expect(out.theirs).toBeGreaterThan(0);
    expect(out.theirs).not.toBe(ids.xdp_count); // iproute2 loaded its own copy
    expect(out.busy).toMatch(new RegExp(`already has an XDP program \\(id ${String(out.theirs)}\\): if another tool attached it through netlink, pass replace: true`));
    expect(out.ours).toBe(ids.xdp_other);
    expect(n('first')[SLOT.xdpOther]).toBeGreaterThanOrEqual(4);
    expect(out.updated).toBe(ids.xdp_count);
    expect(n('second')[SLOT.xdpOther]).toBe(n('first')[SLOT.xdpOther]);
    expect(n('second')[SLOT.xdp]).toBeGreaterThanOrEqual(3);
    expect(out.info).toEqual({ id: 0, type: 'xdp', programId: ids.xdp_count });
    expect(out.afterClose).toBeNull(); // detached; the replaced program is not restored
    expect(n('third').slice(SLOT.xdp, SLOT.xdpOther + 1)).toEqual(n('second').slice(SLOT.xdp, SLOT.xdpOther + 1));
    expect(out.stranger).not.toBe(ids.xdp_other);
    expect(out.kept).toBe(out.stranger);
    expect(out.linkBusy).toMatch(/held by a BPF link, which only its owner can replace/);
  });

  test('tc and XDP errors: bad interface, bad options, wrong program', async () => {
    using obj = BpfObject.open(fixture('attach_net'));
    await obj.load();
    const tc = obj.program('tc_count');
    expect(() => tc.attachTc(`nosuch${tag}`, { api: 'clsact' })).toThrow(new RegExp(`no network interface 'nosuch${tag}'`));
    expect(() => tc.attachTc(1 << 30, { api: 'clsact' })).toThrow(expect.objectContaining({ code: 'ENODEV', operation: 'attachTc' }));
    expect(() => tc.attachTc('lo', { api: 'tcx', priority: 3 })).toThrow(/priority is for the clsact API: tcx links have no priorities/);
    expect(() => tc.attachTc('lo', { priority: 0 })).toThrow(/priority must be an integer from 1 to 65535, got 0/);
    expect(() => tc.attachTc('lo', { api: 'bpf' as 'tcx' })).toThrow(/api must be 'tcx' or 'clsact', got bpf/);
    expect(() => obj.program('xdp_count').attachTc('lo', { api: 'clsact' })).toThrow(/is of type xdp, and tc takes programs of type sched_cls/);
    expect(() => obj.program('xdp_count').attachXdp(`nosuch${tag}`, { replace: true })).toThrow(new RegExp(`no network interface 'nosuch${tag}'`));
    expect(() => obj.program('xdp_count').attachXdp(1 << 30, { replace: true })).toThrow(expect.objectContaining({ code: 'ENODEV', operation: 'attachXdp' }));
    expect(() => obj.program('xdp_count').attachXdp('lo', { replace: 'yes' as unknown as boolean })).toThrow(/replace must be a boolean/);
    expect(() => tc.attachXdp('lo', { replace: true })).toThrow(/is of type sched_cls, and XDP takes programs of type xdp/);
  });
});

describe('cgroup programs given their attach type', () => {
  /** Where cgroup v2 is mounted, from /proc/mounts. */
  const cgroup2 = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[2] === 'cgroup2')?.[1];
  const dir = cgroup2 && path.join(cgroup2, `ebpf-net-${process.pid}`);
  // A shell moves itself into the cgroup, then runs node with `js`.
  const inCgroup = (js: string) => execFileSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec "$0" -e "${js}"`, process.execPath]);
  const sendThree = "const s = require('dgram').createSocket('udp4'); let k = 0; const go = () => s.send('x', 9, '127.0.0.1', () => (++k < 3 ? go() : s.close())); go();";

  beforeAll(() => {
    if (!dir) throw new Error('cgroup2 is not mounted (see /proc/mounts)');
    fs.mkdirSync(dir);
  });
  afterAll(() => {
    if (dir) fs.rmdirSync(dir);
  });

  test('SEC("cgroup/skb") attached as cgroup_inet_egress counts what the cgroup sends; sock_create as its SEC says; detach', async () => {
    using obj = BpfObject.open(fixture('attach_net'));
    await obj.load();
    const egress = obj.program('cgroup_skb_count').attachCgroup(dir!, { attachType: 'cgroup_inet_egress' });
    const create = obj.program('sock_create_count').attachCgroup(dir!);
    expect(egress.target).toBe(`cgroup ${dir} as cgroup_inet_egress`);
    expect([egress.info.type, create.info.type]).toEqual(['cgroup', 'cgroup']);
    inCgroup(sendThree);
    const during = countsOf(obj);
    expect(during[SLOT.cgroupSkb]).toBeGreaterThanOrEqual(3);
    expect(during[SLOT.sockCreate]).toBeGreaterThanOrEqual(1);
    egress.close();
    create.close();
    inCgroup(sendThree);
    expect(countsOf(obj)).toEqual(during);
  });

  test('attach type errors: unknown name, one the program type refuses, missing cgroup', async () => {
    using obj = BpfObject.open(fixture('attach_net'));
    await obj.load();
    expect(() => obj.program('cgroup_skb_count').attachCgroup(dir!, { attachType: 'sideways' })).toThrow(/attachType: unknown attach type 'sideways'/);
    expect(() => obj.program('sock_create_count').attachCgroup(dir!, { attachType: 'cgroup_inet_ingress' })).toThrow(
      /a cgroup_sock program loaded for cgroup_inet_sock_create cannot attach as cgroup_inet_ingress/,
    );
    expect(() => obj.program('cgroup_skb_count').attachCgroup(`${dir!}-missing`, { attachType: 'cgroup_inet_egress' })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
