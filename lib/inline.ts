// The bpf`...` tagged template: inline BPF C, compiled and opened (BpfObject.compile).
import type { CompileOptions } from './compile';
import { BpfObject, type OpenOptions } from './object';

/** What may be interpolated into inline C: written as C literals' text. */
export type InlineValue = string | number | bigint | boolean;

function render(strings: TemplateStringsArray, values: readonly InlineValue[]): string {
  let text = strings[0];
  values.forEach((value, i) => {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new RangeError(`bpf\`...\`: value \${${i}} is ${value}, which C cannot spell`);
    }
    if (!['string', 'number', 'bigint', 'boolean'].includes(typeof value)) {
      throw new TypeError(`bpf\`...\`: value \${${i}} must be a string, number, bigint or boolean, got ${value === null ? 'null' : typeof value}`);
    }
    text += (typeof value === 'boolean' ? Number(value) : value).toString() + strings[i + 1];
  });
  return text;
}

/** A template tag that compiles with these options. */
export type BpfTag = (strings: TemplateStringsArray, ...values: InlineValue[]) => BpfObject;

/**
 * Inline BPF C as a tagged template: compiles the text with clang (see BpfObject.compile)
 * and returns the opened object. `${...}` values are written into the C text (booleans
 * as 1 or 0). Call it with options first to pass compiler or open options.
 *
 * ```ts
 * using obj = bpf`
 *   #include "vmlinux.h"
 *   #include <bpf/bpf_helpers.h>
 *   char LICENSE[] SEC("license") = "GPL";
 *   SEC("tracepoint/syscalls/sys_enter_clone")
 *   int hello(void *ctx) { bpf_printk("Hello, World! from ${process.pid}"); return 0; }`;
 * using obj2 = bpf({ cflags: ['-DLIMIT=8'] })`...`;
 * ```
 */
export function bpf(strings: TemplateStringsArray, ...values: InlineValue[]): BpfObject;
export function bpf(options: CompileOptions & OpenOptions): BpfTag;
export function bpf(first: TemplateStringsArray | (CompileOptions & OpenOptions), ...values: InlineValue[]): BpfObject | BpfTag {
  if (Array.isArray(first) && 'raw' in first) return BpfObject.compile(render(first as TemplateStringsArray, values));
  if (typeof first !== 'object' || first === null) throw new TypeError('bpf takes a template (bpf`...`) or options (bpf({ cflags })`...`)');
  const options = first as CompileOptions & OpenOptions;
  return (strings, ...rest) => BpfObject.compile(render(strings, rest), options);
}
