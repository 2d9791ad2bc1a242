#!/usr/bin/env node
// execsnoop: trace every execve() on the system, as bcc's execsnoop does, with a CO-RE
// object (execsnoop.bpf.c) instead of C compiled at run time.
//
//   node dist/examples/execsnoop/execsnoop.js [-x] [-T | -t] [-U] [-u UID] [-n REGEX]
//                                            [-l REGEX] [-q] [--max-args N]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { BpfObject } from 'ebpf';

const USAGE = `usage: execsnoop [-h] [-x] [-T | -t] [-U] [-u UID] [-n NAME] [-l LINE] [-q] [--max-args N]

Trace exec() syscalls.

  -x, --fails         include failed exec()s
  -T, --time          include a time column (HH:MM:SS)
  -t, --timestamp     include a timestamp column (seconds since start)
  -U, --print-uid     include a UID column
  -u, --uid UID       trace this UID only (a number or a user name)
  -n, --name NAME     only print commands matching this regular expression
  -l, --line LINE     only print commands where an argument matches this regular expression
  -q, --quote         quote arguments in double quotes
      --max-args N    most arguments read and printed (1-60, default 20)
      --object PATH   the compiled execsnoop.bpf.o (default: the package's build)
  -h, --help          show this help`;

// struct event of execsnoop.h, as laid out by clang for the BPF target.
const EVENT = { timeNs: 0, pid: 8, ppid: 12, uid: 16, retval: 20, argsCount: 24, argsSize: 28, comm: 32, args: 48 };
const COMM_LEN = 16;
const ARGS_LIMIT = 60;

interface ExecEvent {
  timeNs: bigint;
  pid: number;
  ppid: number;
  uid: number;
  retval: number;
  argsCount: number;
  comm: string;
  args: string[];
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end < 0 ? bytes.length : end);
}

function decode(data: Buffer): ExecEvent {
  const size = data.readUInt32LE(EVENT.argsSize);
  const argBytes = data.subarray(EVENT.args, EVENT.args + size);
  const args = argBytes.length === 0 ? [] : argBytes.toString('utf8').replace(/\0$/, '').split('\0');
  return {
    timeNs: data.readBigUInt64LE(EVENT.timeNs),
    pid: data.readUInt32LE(EVENT.pid),
    ppid: data.readUInt32LE(EVENT.ppid),
    uid: data.readUInt32LE(EVENT.uid),
    retval: data.readInt32LE(EVENT.retval),
    argsCount: data.readUInt32LE(EVENT.argsCount),
    comm: cString(data.subarray(EVENT.comm, EVENT.comm + COMM_LEN)),
    args,
  };
}

function uidOf(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const entry = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === value);
  if (!entry) throw new Error(`no such user: ${value}`);
  return Number(entry[2]);
}

function fail(message: string): never {
  process.stderr.write(`execsnoop: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        fails: { type: 'boolean', short: 'x' },
        time: { type: 'boolean', short: 'T' },
        timestamp: { type: 'boolean', short: 't' },
        'print-uid': { type: 'boolean', short: 'U' },
        uid: { type: 'string', short: 'u' },
        name: { type: 'string', short: 'n' },
        line: { type: 'string', short: 'l' },
        quote: { type: 'boolean', short: 'q' },
        'max-args': { type: 'string', default: '20' },
        object: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const maxArgs = Number(parsed['max-args']);
  if (!Number.isInteger(maxArgs) || maxArgs < 1 || maxArgs > ARGS_LIMIT) fail(`--max-args must be 1 to ${ARGS_LIMIT}`);
  let uid: number | undefined;
  let name: RegExp | undefined;
  let line: RegExp | undefined;
  try {
    uid = parsed.uid === undefined ? undefined : uidOf(parsed.uid);
    name = parsed.name === undefined ? undefined : new RegExp(parsed.name);
    line = parsed.line === undefined ? undefined : new RegExp(parsed.line);
  } catch (e) {
    fail((e as Error).message);
  }

  const objectPath = parsed.object ?? path.resolve(__dirname, '../../../build-bpf/execsnoop.bpf.o');
  using obj = BpfObject.open(objectPath);
  await obj.load();
  // struct config, encoded from the object's BTF.
  obj.map('settings').set(0, { filter_uid: uid === undefined ? 0 : 1, uid: uid ?? 0, max_args: maxArgs });
  using links = obj.attach();
  void links;

  const stop = (): void => obj.close();
  process.on('SIGINT', stop); // on, not once: a second Ctrl-C while it stops is not a kill
  process.on('SIGTERM', stop);

  const startNs = process.hrtime.bigint(); // CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns
  const columns: string[] = [];
  if (parsed.time) columns.push('TIME    ');
  if (parsed.timestamp) columns.push('TIME(s) ');
  if (parsed['print-uid']) columns.push('UID  ');
  process.stdout.write(`${columns.join(' ')}${columns.length ? ' ' : ''}${'PCOMM'.padEnd(16)} ${'PID'.padEnd(7)} ${'PPID'.padEnd(7)} RET ARGS\n`);

  for await (const ev of obj.map('events').ringBuffer({ decode })) {
    if (ev.retval !== 0 && !parsed.fails) continue;
    const args = parsed.quote ? ev.args.map((a) => `"${a.replace(/"/g, '\\"')}"`) : ev.args;
    let text = args.join(' ');
    if (ev.argsCount > ev.args.length) text += ' ...';
    if (name && !name.test(`${ev.comm} ${text}`)) continue;
    if (line && !ev.args.some((a) => line.test(a))) continue;
    const prefix: string[] = [];
    if (parsed.time) prefix.push(new Date().toTimeString().slice(0, 8));
    if (parsed.timestamp) prefix.push((Number(ev.timeNs - startNs) / 1e9).toFixed(3).padEnd(8));
    if (parsed['print-uid']) prefix.push(String(ev.uid).padEnd(5));
    const row = `${ev.comm.padEnd(16)} ${String(ev.pid).padEnd(7)} ${String(ev.ppid).padEnd(7)} ${String(ev.retval).padStart(3)} ${text}`;
    process.stdout.write(`${prefix.join(' ')}${prefix.length ? ' ' : ''}${row}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`execsnoop: ${(e as Error).message}\n`);
  process.exit(1);
});
