// examples/xdp-counter on one end of a veth pair between two network namespaces of the
// test's own: known numbers of UDP datagrams (IPv4 and IPv6) and one TCP SYN cross it.
import { spawnSync } from 'node:child_process';
import { VethPair } from './helpers/netns';
import { expectToolError, startTool } from './helpers/tool';

const net = new VethPair('xc');
beforeAll(() => net.create());
afterAll(() => net.remove());

/** The row starting with `label`, as numbers by column name. */
function row(out: string, label: string): Record<string, number> {
  const lines = out.split('\n');
  const names = lines.find((l) => l.startsWith('TIME'))!.trim().split(/\s+/).slice(1);
  const cells = lines.find((l) => l.startsWith(`${label} `))!.trim().split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, cells[i]]));
}

describe('examples/xdp-counter', () => {
  test('counts the packets by protocol, live every second, and the totals at Ctrl-C', async () => {
    const tool = startTool('xdp-counter', [net.ifA], { wrapper: VethPair.in(net.nsA) });
    await tool.waitFor((out) => out.includes('NOT_IP\n'));
    net.sendUdp(net.nsB, net.addrA, 9, 7);
    net.sendUdp(net.nsB, net.addr6A, 9, 4);
    net.connectTcp(net.nsB, net.addrA, 9); // refused: one SYN in, one RST out
    // A per-second line that has seen the datagrams shows the tool is live.
    await tool.waitFor((out) => out.split('\n').some((l) => /^\d\d:\d\d:\d\d /.test(l) && row(out, l.slice(0, 8)).IPV4_UDP > 0));
    const xdpShown = () => spawnSync('ip', ['-n', net.nsA, 'link', 'show', net.ifA], { encoding: 'utf8' }).stdout;
    expect(xdpShown()).toMatch(/xdp/); // attached while it runs
    const r = await tool.stop();
    // Exit code 0 and no stderr: the tool found no BPF link, program or map still open.
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^Counting packets on ${net.ifA} \\(XDP\\) every 1 s\\. Ctrl-C to end\\.\n`));
    const packets = row(r.stdout, 'PACKETS');
    expect(packets.IPV4_UDP).toBe(7);
    expect(packets.IPV6_UDP).toBe(4);
    expect(packets.IPV4_TCP).toBe(1);
    expect(packets.NOT_IP).toBeGreaterThanOrEqual(1); // ARP
    expect(packets.IPV6_ICMP).toBeGreaterThanOrEqual(1); // neighbour discovery
    // Each datagram: 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + 1 byte of payload.
    expect(row(r.stdout, 'BYTES').IPV4_UDP).toBe(7 * 43);
    // The per-second lines add up to the totals.
    const live = r.stdout.split('\n').filter((l) => /^\d\d:\d\d:\d\d /.test(l)).map((l) => Number(l.trim().split(/\s+/)[2]));
    expect(live.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(7);
    expect(r.stdout.trimEnd().endsWith(`Detached from ${net.ifA}.`)).toBe(true);
    expect(xdpShown()).not.toMatch(/xdp/); // nothing left on the interface
  });

  test('an unknown interface is a clear error; bad flags exit with 2', () => {
    expectToolError('xdp-counter', ['nosuch0'], 1, "attachXdp: no network interface 'nosuch0'");
    expectToolError('xdp-counter', ['-m', 'turbo', 'lo'], 2, "--mode must be skb or driver, got 'turbo'");
    expectToolError('xdp-counter', ['-i', '0', 'lo'], 2, "--interval must be an integer from 1 to 3600, got '0'");
  });
});
