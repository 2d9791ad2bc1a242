#!/usr/bin/env node
// hello: "Hello, World!" in the kernel's trace pipe on every clone(), read back and
// printed as TIME(s) COMMAND PID MESSAGE (bcc's hello_fields, the CO-RE way).
//
//   node dist/examples/hello/hello.js [--object PATH]
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { BpfObject, LinkGroup, tracePipe } from 'ebpf';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { object: { type: 'string' } } });
  const objectPath = values.object ?? path.resolve(__dirname, '../../../build-bpf/hello.bpf.o');
  using obj = BpfObject.open(objectPath);
  await obj.load();

  // A kprobe where the kernel has them; the syscall tracepoints otherwise.
  let links: LinkGroup | undefined;
  let how: string;
  try {
    links = attachAll(obj, ['kprobe_clone', 'kprobe_clone3']);
    how = 'kprobes (ksyscall/clone, ksyscall/clone3)';
  } catch (e) {
    links = attachAll(obj, ['tracepoint_clone', 'tracepoint_clone3']);
    const why = /no kprobes/.test((e as Error).message) ? 'this kernel has no kprobes' : (e as Error).message.split('\n')[0];
    how = `the syscalls/sys_enter_clone and sys_enter_clone3 tracepoints (${why})`;
  }
  using attached = links;
  void attached;

  const pipe = tracePipe();
  const stop = (): void => pipe.close();
  process.on('SIGINT', stop); // on, not once: a second Ctrl-C while it stops is not a kill
  process.on('SIGTERM', stop);
  process.stdout.write(`Tracing clone() with ${how}. Ctrl-C to end.\n`);
  process.stdout.write(`${'TIME(s)'.padEnd(18)} ${'COMMAND'.padEnd(16)} ${'PID'.padEnd(6)} MESSAGE\n`);
  for await (const line of pipe) {
    if (line.event !== 'bpf_trace_printk') continue;
    process.stdout.write(`${line.timestamp.toFixed(6).padEnd(18)} ${line.task.padEnd(16)} ${String(line.pid).padEnd(6)} ${line.message}\n`);
  }
}

/** Attaches the named programs, or none of them. */
function attachAll(obj: BpfObject, names: string[]): LinkGroup {
  const links = [];
  try {
    for (const name of names) links.push(obj.program(name).attach());
  } catch (e) {
    for (const link of links) link.close();
    throw e;
  }
  return LinkGroup.of(links);
}

main().catch((e: unknown) => {
  process.stderr.write(`hello: ${(e as Error).message}\n`);
  process.exit(1);
});
