import type { NativeLinkHandle, NativeProgramHandle } from '../typings/native';
import { bpfError } from './errors';
import { Link } from './link';
import type { ObjectContext } from './resource';

/** One BPF program of a BpfObject. */
export class Program {
  readonly #handle: NativeProgramHandle;
  readonly #owner: ObjectContext;
  /** The program's function name in the C source. */
  readonly name: string;

  /** @internal Programs come from BpfObject.programs / program(name). */
  constructor(handle: NativeProgramHandle, owner: ObjectContext) {
    this.#handle = handle;
    this.#owner = owner;
    this.name = handle.name;
  }

  /** Its ELF section, the SEC() of the C source, e.g. "tracepoint/syscalls/sys_enter_execve". */
  get section(): string {
    this.#owner.assertUsable('program.section');
    return this.#handle.section;
  }

  /** libbpf's name of its program type, e.g. "tracepoint", "xdp". */
  get type(): string {
    this.#owner.assertUsable('program.type');
    return this.#handle.type;
  }

  /** Its file descriptor once loaded. */
  get fd(): number {
    this.#owner.assertLoaded('program.fd');
    const fd = this.#handle.fd;
    if (fd < 0) throw bpfError('program.fd', 'EBADF', `program '${this.name}' was not loaded (its autoload is false)`);
    return fd;
  }

  /** Whether load() loads it (default true). Settable before load only. */
  get autoload(): boolean {
    this.#owner.assertUsable('program.autoload');
    return this.#handle.autoload;
  }

  set autoload(value: boolean) {
    this.#owner.assertNotLoaded('program.autoload', `autoload of program '${this.name}'`);
    if (typeof value !== 'boolean') throw new TypeError('autoload must be a boolean');
    this.#handle.autoload = value;
  }

  /** Whether BpfObject.attach() attaches it (its SEC() says where, and it is loaded). */
  get autoattach(): boolean {
    this.#owner.assertUsable('program.autoattach');
    return this.#handle.autoattach;
  }

  /** Attaches where its SEC() says (e.g. SEC("tracepoint/syscalls/sys_enter_execve")). */
  attach(): Link {
    return this.#link('attach', () => this.#handle.attach(), `SEC("${this.section}")`);
  }

  /** Attaches a tracepoint program to /sys/kernel/tracing/events/<category>/<name>. */
  attachTracepoint(category: string, name: string): Link {
    return this.#link('attachTracepoint', () => this.#handle.attachTracepoint(category, name), `tracepoint ${category}/${name}`);
  }

  /** Attaches a raw tracepoint program to the raw tracepoint `name` (e.g. "sys_enter"). */
  attachRawTracepoint(name: string): Link {
    return this.#link('attachRawTracepoint', () => this.#handle.attachRawTracepoint(name), `raw_tracepoint ${name}`);
  }

  #link(operation: string, attach: () => NativeLinkHandle, target: string): Link {
    this.#owner.assertLoaded(operation);
    return new Link(attach(), this.#owner, this.name, target);
  }

  toString(): string {
    return `Program(${this.name})`;
  }
}
