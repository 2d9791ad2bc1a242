#!/usr/bin/env node
// hello-inline: bcc's hello world with the C inline. The program is compiled with clang the
// first time (then taken from the cache), prints "Hello, World!" with bpf_printk() on every
// clone(), and the lines are read back from the kernel's trace pipe.
//
//   node dist/examples/hello-inline/hello-inline.js
import { bpf, tracePipe } from 'ebpf';

async function main(): Promise<void> {
  // The syscall tracepoint: this works without kprobes (bcc's version uses a kprobe).
  using obj = bpf`
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>

    char LICENSE[] SEC("license") = "GPL";

    SEC("tracepoint/syscalls/sys_enter_clone")
    int hello(void *ctx)
    {
      bpf_printk("Hello, World!");
      return 0;
    }
  `;
  await obj.load();
  using links = obj.attach();
  void links;

  const pipe = tracePipe();
  const stop = (): void => pipe.close();
  process.on('SIGINT', stop); // on, not once: a second Ctrl-C while it stops is not a kill
  process.on('SIGTERM', stop);
  process.stdout.write('Tracing clone() with the syscalls/sys_enter_clone tracepoint. Ctrl-C to end.\n');
  for await (const line of pipe) {
    if (line.event !== 'bpf_trace_printk') continue;
    process.stdout.write(`${line.task}-${line.pid} [${String(line.cpu).padStart(3, '0')}] ${line.timestamp.toFixed(6)}: ${line.message}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`hello-inline: ${(e as Error).message}\n`);
  process.exit(1);
});
