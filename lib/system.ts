import { native } from './binding';

/** The version of the libbpf the addon is linked with, e.g. "v1.5". */
export function libbpfVersion(): string {
  return native.libbpfVersion();
}

/**
 * The C declarations of every type in a BTF file, the kernel's by default: what BPF
 * programs include as vmlinux.h (the same as `bpftool btf dump file ... format c`).
 */
export function vmlinuxHeader(btfPath?: string): string {
  return native.vmlinuxHeader(btfPath);
}
