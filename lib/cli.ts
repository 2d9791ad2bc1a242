#!/usr/bin/env node
// The `ebpf` command:
//   ebpf gen types <object.bpf.o> [-o out.ts] [--import-from ebpf] [--int64 bigint|number]
//   ebpf vmlinux [btf-path] [-o vmlinux.h]
//   ebpf doctor [--json]
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { formatPreflight, preflight } from './doctor';
import { generateTypes } from './gen/types';
import { vmlinuxHeader } from './system';

const USAGE = `usage:
  ebpf gen types <object.bpf.o> [-o out.ts] [--import-from MODULE] [--int64 bigint|number]
      TypeScript types for the object's maps, globals and record types, and a typed open()
      (--int64 number: 64-bit integers as numbers, and open() opens with int64: 'number')
  ebpf vmlinux [BTF_PATH] [-o vmlinux.h]
      C declarations of the kernel's types (/sys/kernel/btf/vmlinux by default)
  ebpf doctor [--json]
      what this machine and process can do with BPF, and how to fix what is missing;
      exits with 1 when a check fails`;

function write(text: string, out: string | undefined): void {
  if (out) fs.writeFileSync(out, text);
  else process.stdout.write(text);
}

function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      'import-from': { type: 'string' },
      int64: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const [command, sub, ...rest] = positionals;
  if (command === 'gen' && sub === 'types' && rest.length === 1) {
    const int64 = values.int64;
    if (int64 !== undefined && int64 !== 'bigint' && int64 !== 'number') throw new TypeError(`--int64 must be bigint or number, got ${int64}`);
    write(generateTypes(rest[0], { importFrom: values['import-from'], int64 }), values.output);
    return 0;
  }
  if (command === 'vmlinux' && (sub === undefined || rest.length === 0)) {
    write(vmlinuxHeader(sub), values.output);
    return 0;
  }
  if (command === 'doctor' && sub === undefined) {
    const report = preflight();
    write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatPreflight(report), values.output);
    return report.ok ? 0 : 1;
  }
  process.stderr.write(`ebpf: unknown command: ${positionals.join(' ')}\n${USAGE}\n`);
  return 2;
}

// A reader that stops early (ebpf vmlinux | head) is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(process.exitCode ?? 0);
});

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`ebpf: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
