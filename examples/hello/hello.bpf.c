// Hello, World!: a line in the kernel's trace pipe for every clone() (and clone3()).
//
// With kprobes, the ksyscall programs fire on the syscall functions themselves; kernels
// built without kprobes still have the syscall tracepoints. hello.ts attaches whichever
// the kernel has.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("ksyscall/clone")
int kprobe_clone(void *ctx)
{
	bpf_printk("Hello, World!");
	return 0;
}

SEC("ksyscall/clone3")
int kprobe_clone3(void *ctx)
{
	bpf_printk("Hello, World!");
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone")
int tracepoint_clone(void *ctx)
{
	bpf_printk("Hello, World!");
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone3")
int tracepoint_clone3(void *ctx)
{
	bpf_printk("Hello, World!");
	return 0;
}
