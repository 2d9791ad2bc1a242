#!/usr/bin/env node
// opensnoop: trace every openat() on the system, as bcc's opensnoop does, with a CO-RE
// object (opensnoop.bpf.c): who opened what, and the file descriptor or the error.
//
//   node dist/examples/opensnoop/opensnoop.js [-p PID] [-n NAME] [-x] [-T] [-U] [-d SECONDS]
import { BpfObject } from 'ebpf';
import { Tool, columns, untilInterrupted } from '../common/tool';

const tool: Tool = new Tool(
  'opensnoop',
  `usage: opensnoop [-h] [-p PID] [-n NAME] [-x] [-T] [-U] [-d SECONDS]

Trace openat() syscalls.

  -p, --pid PID           trace this process only
  -n, --name NAME         only print processes whose command name contains NAME
  -x, --failed            only print failed opens
  -T, --timestamp         include a timestamp column (seconds since start)
  -U, --print-uid         include a UID column
  -d, --duration SECONDS  stop after this many seconds (default: at Ctrl-C)
      --object PATH       the compiled opensnoop.bpf.o (default: the package's build)
  -h, --help              show this help`,
);

/** struct event of opensnoop.bpf.c, decoded from the object's BTF. */
interface OpenEvent {
  time_ns: bigint;
  pid: number;
  tid: number;
  uid: number;
  ret: number;
  flags: number;
  comm: string;
  path: string;
}

async function main(): Promise<void> {
  const { values } = tool.parse({
    options: {
      pid: { type: 'string', short: 'p' },
      name: { type: 'string', short: 'n' },
      failed: { type: 'boolean', short: 'x' },
      timestamp: { type: 'boolean', short: 'T' },
      'print-uid': { type: 'boolean', short: 'U' },
      duration: { type: 'string', short: 'd' },
      object: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const pid = tool.integer('--pid', values.pid, 0, 1, 0x3fffffff);
  const duration = values.duration === undefined ? undefined : tool.integer('--duration', values.duration, 0, 1, 86400);

  using obj = BpfObject.open(tool.objectPath(values.object));
  obj.globals.set('targ_tgid', pid);
  obj.globals.set('targ_failed', values.failed ?? false);
  await obj.load();
  using links = obj.attach();
  void links;

  const signal = untilInterrupted(duration);
  const events = obj.map('events').ringBuffer<OpenEvent>({ type: 'event' });
  signal.addEventListener('abort', () => events.close()); // ends the for await below
  const startNs = process.hrtime.bigint(); // CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns
  const head: string[] = [];
  if (values.timestamp) head.push('TIME(s)'.padEnd(12));
  if (values['print-uid']) head.push('UID'.padEnd(6));
  process.stdout.write(`${[...head, columns(['PID', 'COMM', 'FD', 'ERR', 'PATH'], [-7, 16, -4, -3, 0])].join(' ')}\n`);

  for await (const ev of events) {
    if (values.name !== undefined && !ev.comm.includes(values.name)) continue;
    const fd = ev.ret >= 0 ? ev.ret : -1;
    const err = ev.ret >= 0 ? 0 : -ev.ret;
    const row: string[] = [];
    if (values.timestamp) row.push((Number(ev.time_ns - startNs) / 1e9).toFixed(6).padEnd(12));
    if (values['print-uid']) row.push(String(ev.uid).padEnd(6));
    row.push(columns([ev.pid, ev.comm, fd, err, ev.path], [-7, 16, -4, -3, 0]));
    process.stdout.write(`${row.join(' ')}\n`);
  }
  const dropped = events.stats.dropped;
  if (dropped) process.stderr.write(`opensnoop: ${dropped} events lost (the ring buffer was full)\n`);
}

tool.run(main);
