#!/usr/bin/env node
// biolatency: block device I/O latency as a histogram of log2 buckets, as bcc's biolatency
// prints it, from the block_rq_issue and block_rq_complete tracepoints (biolatency.bpf.c).
//
//   node dist/examples/biolatency/biolatency.js [-m] [-T] [-d DISK] [INTERVAL [COUNT]]
import * as fs from 'node:fs';
import { BpfObject } from 'ebpf';
import { Tool, everyInterval, untilInterrupted } from '../common/tool';

const tool: Tool = new Tool(
  'biolatency',
  `usage: biolatency [-h] [-m] [-T] [-d DISK] [INTERVAL [COUNT]]

Summarize block device I/O latency (from issue to the device to completion) as a
histogram, every INTERVAL seconds (default 1) and at Ctrl-C; stop after COUNT histograms.

  -m, --milliseconds  buckets in milliseconds (default: microseconds)
  -T, --timestamp     print the time above each histogram
  -d, --disk DISK     trace this disk only (e.g. vda, sda)
      --object PATH   the compiled biolatency.bpf.o (default: the package's build)
  -h, --help          show this help`,
);

const BUCKETS = 32; // biolatency.bpf.c
const BAR = 40;

/** Bucket k holds [2^k, 2^(k+1)); bucket 0 also 0. Prints up to the last non-empty one. */
function renderHistogram(counts: readonly number[], unit: string): string {
  let top = counts.length - 1;
  while (top > 0 && counts[top] === 0) top--;
  const max = Math.max(...counts, 1);
  const lines = [`${unit.padStart(10)}${' '.repeat(15)}: count    distribution`];
  for (let k = 0; k <= top; k++) {
    const low = k === 0 ? 0 : 2 ** k;
    const high = 2 ** (k + 1) - 1;
    const bar = '*'.repeat(Math.round((counts[k] * BAR) / max)).padEnd(BAR);
    lines.push(`${String(low).padStart(10)} -> ${String(high).padEnd(10)} : ${String(counts[k]).padEnd(8)} |${bar}|`);
  }
  return `${lines.join('\n')}\n`;
}

/** The kernel's dev_t (MKDEV: major << 20 | minor) of a disk, from /sys/block/<disk>/dev. */
function diskDevT(disk: string): number {
  let text: string;
  try {
    text = fs.readFileSync(`/sys/block/${disk.replace(/^\/dev\//, '').replace(/\//g, '')}/dev`, 'utf8');
  } catch {
    tool.fail(`no disk '${disk}' (see /sys/block)`);
  }
  const [major, minor] = text.trim().split(':').map(Number);
  return ((major << 20) | minor) >>> 0;
}

async function main(): Promise<void> {
  const { values, positionals } = tool.parse({
    options: {
      milliseconds: { type: 'boolean', short: 'm' },
      timestamp: { type: 'boolean', short: 'T' },
      disk: { type: 'string', short: 'd' },
      object: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (positionals.length > 2) tool.fail('too many arguments');
  const interval = tool.integer('INTERVAL', positionals[0], 1, 1, 86400);
  const count = positionals[1] === undefined ? undefined : tool.integer('COUNT', positionals[1], 0, 1, 1e9);
  const unit = values.milliseconds ? 'msecs' : 'usecs';

  using obj = BpfObject.open(tool.objectPath(values.object));
  obj.globals.set('targ_ms', values.milliseconds ?? false);
  obj.globals.set('targ_dev', values.disk === undefined ? 0 : diskDevT(values.disk));
  await obj.load();
  using links = obj.attach();
  const hist = obj.map<number, bigint>('hist');

  /** The counts of every bucket so far, summed over the CPUs. */
  const read = (): number[] => Array.from({ length: BUCKETS }, (_, k) => Number(hist.sumPerCpu(k)));
  let last = read();
  /** Prints the I/O since the last histogram. */
  const print = (): void => {
    const now = read();
    const delta = now.map((n, k) => n - last[k]);
    last = now;
    if (values.timestamp) process.stdout.write(`${new Date().toTimeString().slice(0, 8)}\n`);
    const total = delta.reduce((a, b) => a + b, 0);
    process.stdout.write(total ? renderHistogram(delta, unit) : '(no block I/O)\n');
    process.stdout.write('\n');
  };

  process.stdout.write(`Tracing block device I/O${values.disk ? ` on ${values.disk}` : ''}... Ctrl-C to end.\n\n`);
  await everyInterval(interval, untilInterrupted(), print, { count });
  links.close(); // detach, then print what came since the last histogram
  if (count === undefined) print();
}

tool.run(main);
