#!/usr/bin/env node
// xdp-counter: packets arriving on a network interface, by IP version and protocol, counted
// by an XDP program (xdp-counter.bpf.c) in a per-CPU array and printed every interval.
//
//   node dist/examples/xdp-counter/xdp-counter.js [-m skb|driver] [-i SECONDS] IFACE
import { BpfObject } from 'ebpf';
import { Tool, columns, everyInterval, untilInterrupted } from '../common/tool';

const tool: Tool = new Tool(
  'xdp-counter',
  `usage: xdp-counter [-h] [-m MODE] [-i SECONDS] IFACE

Count the packets arriving on IFACE by protocol (XDP), every interval; Ctrl-C prints the
totals and detaches.

  -m, --mode MODE         XDP mode: skb (generic) or driver (native); default: the best there is
  -i, --interval SECONDS  seconds between lines (default 1)
      --object PATH       the compiled xdp-counter.bpf.o (default: the package's build)
  -h, --help              show this help`,
);

/** The slots of the `counts` map, in order (xdp-counter.bpf.c). */
const SLOTS = ['IPV4_TCP', 'IPV4_UDP', 'IPV4_ICMP', 'IPV4_OTHER', 'IPV6_TCP', 'IPV6_UDP', 'IPV6_ICMP', 'IPV6_OTHER', 'NOT_IP'];
/** TIME (or PACKETS, BYTES) left-aligned, then each count right-aligned under its slot's name. */
const WIDTHS = [11, ...SLOTS.map((s) => -s.length)];

interface Counter {
  packets: bigint;
  bytes: bigint;
}

async function main(): Promise<void> {
  const { values, positionals } = tool.parse({
    options: {
      mode: { type: 'string', short: 'm' },
      interval: { type: 'string', short: 'i' },
      object: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) tool.fail('give one interface');
  const iface = positionals[0];
  const mode = values.mode;
  if (mode !== undefined && mode !== 'skb' && mode !== 'driver') tool.fail(`--mode must be skb or driver, got '${mode}'`);
  const interval = tool.integer('--interval', values.interval, 1, 1, 3600);

  using obj = BpfObject.open(tool.objectPath(values.object));
  await obj.load();
  using link = obj.program('xdp_count').attachXdp(iface, { mode });
  void link;
  const counts = obj.map<number, Counter>('counts');

  /** Packets and bytes of every slot, summed over the CPUs. */
  const read = (): Counter[] =>
    SLOTS.map((_, slot) =>
      (counts.getPerCpu(slot) ?? []).reduce((sum, c) => ({ packets: sum.packets + c.packets, bytes: sum.bytes + c.bytes }), { packets: 0n, bytes: 0n }),
    );

  process.stdout.write(`Counting packets on ${iface} (XDP${mode ? `, ${mode} mode` : ''}) every ${interval} s. Ctrl-C to end.\n`);
  process.stdout.write(`${columns(['TIME', ...SLOTS], WIDTHS)}\n`);
  let last = read();
  await everyInterval(interval, untilInterrupted(), () => {
    const now = read();
    const time = new Date().toTimeString().slice(0, 8);
    process.stdout.write(`${columns([time, ...now.map((c, i) => String(c.packets - last[i].packets))], WIDTHS)}\n`);
    last = now;
  });
  link.close(); // detach now; `using` would at the end of main
  const total = read();
  process.stdout.write(`${columns(['PACKETS', ...total.map((c) => String(c.packets))], WIDTHS)}\n`);
  process.stdout.write(`${columns(['BYTES', ...total.map((c) => String(c.bytes))], WIDTHS)}\n`);
  process.stdout.write(`Detached from ${iface}.\n`);
}

tool.run(main);
