#!/usr/bin/env node
// uprobe-malloc: calls to a function of a shared library (libc's malloc by default) by
// process, counted by a uprobe (uprobe-malloc.bpf.c); the top processes every interval.
//
//   node dist/examples/uprobe-malloc/uprobe-malloc.js [-f NAME] [-l LIB] [-p PID] [-i SECONDS] [-t TOP]
import * as fs from 'node:fs';
import { BpfObject } from 'ebpf';
import { Tool, columns, everyInterval, untilInterrupted } from '../common/tool';

const tool: Tool = new Tool(
  'uprobe-malloc',
  `usage: uprobe-malloc [-h] [-f NAME] [-l LIB] [-p PID] [-i SECONDS] [-t TOP]

Count the calls to a function of a shared library, by process: the processes that called
it most in each interval, and the totals at Ctrl-C.

  -f, --function NAME     the function (default malloc)
  -l, --library LIB       the library: a name the dynamic linker would find (default
                          libc.so.6) or a path
  -p, --pid PID           count this process only
  -i, --interval SECONDS  seconds between reports (default 1)
  -t, --top N             processes per report (default 10)
      --object PATH       the compiled uprobe-malloc.bpf.o (default: the package's build)
  -h, --help              show this help`,
);

const WIDTHS = [-7, 16, -12];

/** struct calls of uprobe-malloc.bpf.c. */
interface Calls {
  count: bigint;
  comm: string;
}

async function main(): Promise<void> {
  const { values } = tool.parse({
    options: {
      function: { type: 'string', short: 'f', default: 'malloc' },
      library: { type: 'string', short: 'l', default: 'libc.so.6' },
      pid: { type: 'string', short: 'p' },
      interval: { type: 'string', short: 'i' },
      top: { type: 'string', short: 't' },
      object: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const pid = tool.integer('--pid', values.pid, 0, 1, 0x3fffffff);
  const interval = tool.integer('--interval', values.interval, 1, 1, 3600);
  const top = tool.integer('--top', values.top, 10, 1, 10000);

  using obj = BpfObject.open(tool.objectPath(values.object));
  obj.globals.set('targ_tgid', pid);
  await obj.load();
  // libbpf finds a library given by name as the dynamic linker would (ld.so.cache, /lib...).
  // With -p the kernel fires the uprobe in that process only (targ_tgid filters as well).
  using link = obj.program('count_call').attachUprobe({ binary: values.library, symbol: values.function, pid: pid || undefined });
  const calls = obj.map<number, Calls>('calls');

  const what = `${values.library}:${values.function}()`;
  process.stdout.write(`Counting calls to ${what}${pid ? ` by process ${pid}` : ''}. Ctrl-C to end.\n`);
  const last = new Map<number, bigint>();
  const totals = new Map<number, { comm: string; count: bigint }>();
  const table = (title: string, rows: [number, string, bigint][]): void => {
    rows.sort((a, b) => (b[2] > a[2] ? 1 : b[2] < a[2] ? -1 : a[0] - b[0]));
    const lines = [title, columns(['PID', 'COMM', 'CALLS'], WIDTHS), ...rows.slice(0, top).map((r) => columns([r[0], r[1], String(r[2])], WIDTHS))];
    process.stdout.write(`${lines.join('\n')}\n\n`);
  };
  /** Adds the calls since the last look to the totals; forgets processes that are gone. */
  const collect = (): [number, string, bigint][] => {
    const fresh: [number, string, bigint][] = [];
    const gone: number[] = [];
    for (const [tgid, c] of calls) {
      const delta = c.count - (last.get(tgid) ?? 0n);
      last.set(tgid, c.count);
      const total = totals.get(tgid) ?? { comm: c.comm, count: 0n };
      total.count += delta;
      totals.set(tgid, total);
      if (delta > 0n) fresh.push([tgid, c.comm, delta]);
      if (!fs.existsSync(`/proc/${tgid}`)) gone.push(tgid);
    }
    // After the walk: deleting the key a walk stands on would restart it.
    for (const tgid of gone) {
      calls.delete(tgid);
      last.delete(tgid);
    }
    return fresh;
  };

  await everyInterval(interval, untilInterrupted(), () => table(new Date().toTimeString().slice(0, 8), collect()));
  link.close(); // detach now; `using` would at the end of main
  collect();
  table(`TOTAL calls to ${what}`, [...totals].map(([tgid, t]) => [tgid, t.comm, t.count]));
}

tool.run(main);
