#!/usr/bin/env node
// tc-drop: drop the TCP and UDP packets to some ports on an interface, with a tc program
// (tc-drop.bpf.c) on a tcx hook, and count what it dropped.
//
//   node dist/examples/tc-drop/tc-drop.js [-e] [-i SECONDS] IFACE PORT...
import { BpfObject } from 'ebpf';
import { Tool, columns, everyInterval, untilInterrupted } from '../common/tool';

const tool: Tool = new Tool(
  'tc-drop',
  `usage: tc-drop [-h] [-e] [-i SECONDS] IFACE PORT...

Drop TCP and UDP packets to the given destination ports on IFACE (tcx), printing the
packets dropped per port every interval when there are new ones; Ctrl-C prints the
totals and detaches.

  -e, --egress            drop on the way out (default: on the way in)
  -i, --interval SECONDS  seconds between reports (default 1)
      --object PATH       the compiled tc-drop.bpf.o (default: the package's build)
  -h, --help              show this help`,
);

const WIDTHS = [8, -6, -10];

async function main(): Promise<void> {
  const { values, positionals } = tool.parse({
    options: {
      egress: { type: 'boolean', short: 'e' },
      interval: { type: 'string', short: 'i' },
      object: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  const [iface, ...portArgs] = positionals;
  if (iface === undefined || portArgs.length === 0) tool.fail('give an interface and at least one port');
  const ports = portArgs.map((p) => tool.integer('PORT', p, 0, 1, 65535));
  const interval = tool.integer('--interval', values.interval, 1, 1, 3600);
  const direction = values.egress ? 'egress' : 'ingress';

  using obj = BpfObject.open(tool.objectPath(values.object));
  await obj.load();
  const dropped = obj.map<number, bigint>('ports');
  for (const port of ports) dropped.set(port, 0n);
  using link = obj.program('tc_drop').attachTc(iface, { direction });

  process.stdout.write(`Dropping TCP and UDP to port${ports.length > 1 ? 's' : ''} ${ports.join(', ')} on ${iface} (tcx ${direction}). Ctrl-C to end.\n`);
  process.stdout.write(`${columns(['TIME', 'PORT', 'DROPPED'], WIDTHS)}\n`);
  const last = new Map(ports.map((p) => [p, 0n]));
  const report = (label: string, all: boolean): void => {
    for (const port of ports) {
      const n = dropped.get(port) ?? 0n;
      if (all || n !== last.get(port)) process.stdout.write(`${columns([label, port, String(n)], WIDTHS)}\n`);
      last.set(port, n);
    }
  };
  await everyInterval(interval, untilInterrupted(), () => report(new Date().toTimeString().slice(0, 8), false));
  link.close(); // detach now; `using` would at the end of main
  report('TOTAL', true);
  process.stdout.write(`Detached from ${iface}.\n`);
}

tool.run(main);
