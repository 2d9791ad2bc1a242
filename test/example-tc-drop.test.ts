// examples/tc-drop on one end of a veth pair between two network namespaces of the test's
// own: datagrams to a dropped port never arrive and are counted; to another port they do.
import { VethPair } from './helpers/netns';
import { expectToolError, startTool } from './helpers/tool';

const net = new VethPair('td');
beforeAll(() => net.create());
afterAll(() => net.remove());

const DROPPED = 7001;
const KEPT = 7002;

describe('examples/tc-drop', () => {
  test('drops UDP to the given port only, counts it, and detaches at Ctrl-C', async () => {
    const tool = startTool('tc-drop', [net.ifA, String(DROPPED)], { wrapper: VethPair.in(net.nsA) });
    await tool.waitFor((out) => out.includes('DROPPED\n'));
    // The receiver listens on both ports; it reports once the 4 datagrams to KEPT are in,
    // which were sent after the 5 to DROPPED (a veth keeps the order).
    const receiver = net.receiveUdp(net.nsA, net.addrA, [DROPPED, KEPT], { port: KEPT, count: 4 });
    await receiver.ready;
    net.sendUdp(net.nsB, net.addrA, DROPPED, 5);
    net.sendUdp(net.nsB, net.addrA, KEPT, 4);
    expect(await receiver.counts).toEqual({ [DROPPED]: 0, [KEPT]: 4 });
    // A live report of the drops comes within the interval.
    await tool.waitFor((out) => new RegExp(`^\\d\\d:\\d\\d:\\d\\d +${DROPPED} +5$`, 'm').test(out));
    const r = await tool.stop();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`Dropping TCP and UDP to port ${DROPPED} on ${net.ifA} (tcx ingress). Ctrl-C to end.\n`);
    expect(r.stdout).toMatch(new RegExp(`^TOTAL +${DROPPED} +5$`, 'm'));
    expect(r.stdout.trimEnd().endsWith(`Detached from ${net.ifA}.`)).toBe(true);
    // Without the tool, the port is open again.
    const again = net.receiveUdp(net.nsA, net.addrA, [DROPPED], { port: DROPPED, count: 2 });
    await again.ready;
    net.sendUdp(net.nsB, net.addrA, DROPPED, 2);
    expect(await again.counts).toEqual({ [DROPPED]: 2 });
  });

  test('bad ports and a missing interface are clear errors', () => {
    expectToolError('tc-drop', ['lo'], 2, 'give an interface and at least one port');
    expectToolError('tc-drop', ['lo', '70000'], 2, "PORT must be an integer from 1 to 65535, got '70000'");
    expectToolError('tc-drop', ['nosuch0', '80'], 1, "attachTc: no network interface 'nosuch0'");
  });
});
