import * as fs from 'node:fs';
import type { NativeMapHandle, NativeObjectHandle } from '../typings/native';
import { Btf } from './btf/btf';
import { type Codec, CodecFactory } from './btf/codec';
import { native } from './binding';
import { type CompileOptions, compileSource } from './compile';
import { BpfError, VerifierError, bpfError, capabilitiesToLoad, withCapabilities } from './errors';
import { features, probe } from './features';
import { Link, LinkGroup } from './link';
import { Globals } from './globals';
import { BpfMap } from './map/map';
import { NO_NETFILTER_LINKS, Program } from './program';
import { type Closable, type ObjectContext, listNames } from './resource';

export interface OpenOptions {
  /** The object's name (default: from the file name; for bytes, libbpf's default). */
  name?: string;
  /** Directory where maps with LIBBPF_PIN_BY_NAME are pinned and reused (default /sys/fs/bpf). */
  pinRoot?: string;
  /** BTF of the target kernel for CO-RE relocations, when /sys/kernel/btf/vmlinux is missing. */
  btfPath?: string;
  /**
   * A bpffs mount with BPF token delegation (`delegate_cmds`, `delegate_maps`,
   * `delegate_progs`, `delegate_attachs`; Linux 6.9+) to load through: a process that is
   * privileged only in its user namespace then loads what the mount delegates. Default:
   * the LIBBPF_BPF_TOKEN_PATH environment variable, else /sys/fs/bpf when it is such a
   * mount; `''` uses no token at all.
   */
  tokenPath?: string;
  /** How maps, globals and records show enums: as numbers (default) or enumerator names. */
  enums?: 'numbers' | 'names';
  /**
   * How maps, globals and records show 64-bit integers (and pointers, 64-bit enums):
   * as bigints (default), or as numbers, exact up to 2^53 and rounded to the nearest
   * double beyond it. Numbers cost far less to make: the choice for counters, pids,
   * sequence numbers and nanosecond timestamps, which stay below 2^53 (104 days of
   * CLOCK_MONOTONIC nanoseconds, 285 years of microseconds).
   */
  int64?: 'bigint' | 'number';
}

/**
 * A BPF object file (`.bpf.o`, CO-RE): its programs and maps. `open()` only parses it;
 * `await load()` creates the maps and loads the programs (the verifier runs off the JS
 * thread); `attach()` attaches every program where its SEC() says; `close()` closes
 * readers, then links, then the object.
 */
export class BpfObject implements Disposable {
  readonly #handle: NativeObjectHandle;
  readonly #programs: Map<string, Program>;
  readonly #maps: Map<string, BpfMap>;
  readonly #links = new Set<Closable>();
  readonly #readers = new Set<Closable>();
  readonly #context: ObjectContext;
  readonly #btf: Btf | undefined;
  readonly #codecs: CodecFactory | undefined;
  /** The object's global variables (.rodata, .data, .bss...), typed by BTF. */
  readonly globals: Globals;
  #loading = false;
  #loaded = false;
  #closed = false;

  private constructor(handle: NativeObjectHandle, options: OpenOptions) {
    this.#handle = handle;
    const self = this;
    this.#context = {
      get name() {
        return self.name;
      },
      get loaded() {
        return self.loaded;
      },
      get closed() {
        return self.closed;
      },
      findMap: (name) => this.#maps.get(name),
      codecs: () => this.#codecs,
      assertUsable: (operation) => this.#assertUsable(operation),
      assertLoaded: (operation) => {
        this.#assertUsable(operation);
        if (!this.#loaded) throw bpfError(operation, 'EBADF', `object '${this.name}' is not loaded; await load() first`);
      },
      assertNotLoaded: (operation, what) => {
        this.#assertUsable(operation);
        if (this.#loaded) throw bpfError(operation, 'EBUSY', `${what} can only be set before load()`);
      },
      trackLink: (link) => this.#links.add(link),
      untrackLink: (link) => this.#links.delete(link),
      trackReader: (reader) => this.#readers.add(reader),
      untrackReader: (reader) => this.#readers.delete(reader),
    };
    const rawBtf = handle.btf();
    this.#btf = rawBtf ? new Btf(rawBtf) : undefined;
    this.#codecs = this.#btf ? new CodecFactory(this.#btf, { enums: options.enums, int64: options.int64 }) : undefined;
    this.#programs = new Map(handle.programs().map((p) => [p.name, new Program(p, this.#context)]));
    const maps = handle.maps();
    this.#maps = new Map(maps.map((m) => [m.name, new BpfMap(m, this.#context, this.#mapCodecs(m))]));
    this.globals = new Globals(this.#btf, this.#codecs, maps, (operation) => this.#assertUsable(operation));
  }

  /** Parses a BPF object from a file path or its bytes. No kernel work happens until load(). */
  static open(source: string | Uint8Array, options: OpenOptions = {}): BpfObject {
    if (typeof source === 'string') {
      // libbpf says only "No such file or directory": say which file.
      if (!fs.existsSync(source)) throw bpfError('open', 'ENOENT', `no such file: ${source}`);
    } else if (!(source instanceof Uint8Array)) {
      throw new TypeError('BpfObject.open() takes a file path or the object bytes (Uint8Array)');
    }
    if (options.tokenPath !== undefined) {
      if (typeof options.tokenPath !== 'string') throw new TypeError(`options.tokenPath must be a string, got ${typeof options.tokenPath}`);
      if (options.tokenPath !== '' && !fs.existsSync(options.tokenPath)) throw bpfError('open', 'ENOENT', `options.tokenPath: no such directory: ${options.tokenPath}`);
    }
    if (options.enums !== undefined && options.enums !== 'numbers' && options.enums !== 'names') {
      throw new TypeError(`options.enums must be 'numbers' or 'names', got ${String(options.enums)}`);
    }
    if (options.int64 !== undefined && options.int64 !== 'bigint' && options.int64 !== 'number') {
      throw new TypeError(`options.int64 must be 'bigint' or 'number', got ${String(options.int64)}`);
    }
    const { enums: _enums, int64: _int64, ...nativeOptions } = options;
    const handle = new native.ObjectHandle(source, nativeOptions);
    try {
      return new BpfObject(handle, options);
    } catch (e) {
      handle.close(); // what the object's views refused (a corrupt map, types) goes with it now
      throw e;
    }
  }

  /**
   * Compiles BPF C source with clang, bcc-style, and opens the result (not loaded yet).
   * vmlinux.h (the running kernel's types) and libbpf's BPF headers (bpf/bpf_helpers.h,
   * bpf/bpf_tracing.h, bpf/bpf_core_read.h...) are on the include path. The object is
   * cached by the content of the source, flags, clang and headers, so compiling the same
   * text again runs no clang. clang runs synchronously. Rejected source throws a
   * CompileError with clang's diagnostics and the offending lines.
   *
   * ```ts
   * using obj = BpfObject.compile(`#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n...`);
   * await obj.load();
   * ```
   */
  static compile(source: string, options: CompileOptions & OpenOptions = {}): BpfObject {
    const { cflags: _cflags, includeDirs: _includeDirs, cacheDir: _cacheDir, ...openOptions } = options;
    return BpfObject.open(compileSource(source, options), { ...openOptions, name: options.name ?? 'inline' });
  }

  /** Codecs from the map's BTF key and value types; bytes for what has none (or cannot be encoded). */
  #mapCodecs(map: NativeMapHandle): { key?: Codec; value?: Codec } {
    const codecs = this.#codecs;
    if (!codecs) return {};
    const codecOf = (id: number): Codec | undefined => {
      if (!id) return undefined;
      try {
        return codecs.codec(id);
      } catch {
        return undefined;
      }
    };
    return { key: codecOf(map.btfKeyTypeId), value: codecOf(map.btfValueTypeId) };
  }

  /** The object's BTF (its types), when it has BTF. */
  get btf(): Btf | undefined {
    return this.#btf;
  }

  #assertUsable(operation: string): void {
    if (this.#closed) throw bpfError(operation, 'EBADF', `object '${this.name}' is closed`);
    if (this.#loading) throw bpfError(operation, 'EBUSY', `object '${this.name}' is loading; await load() first`);
  }

  /** The object's name (from its file name, or OpenOptions.name). */
  get name(): string {
    return this.#handle.name;
  }

  get loaded(): boolean {
    return !this.#closed && this.#loaded;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Every program, in ELF order. */
  get programs(): readonly Program[] {
    this.#assertUsable('programs');
    return [...this.#programs.values()];
  }

  /** Every map, in ELF order (including .rodata/.data/.bss maps). */
  get maps(): readonly BpfMap[] {
    this.#assertUsable('maps');
    return [...this.#maps.values()];
  }

  /** The program named `name` (its C function name); a BpfError lists the names there are. */
  program(name: string): Program {
    this.#assertUsable('program');
    const program = this.#programs.get(name);
    if (!program) throw bpfError('program', 'ENOENT', `object '${this.name}' has no program '${name}'; ${listNames(this.#programs.keys())}`);
    return program;
  }

  /**
   * The map named `name`; a BpfError lists the names there are. Its keys and values are
   * typed by the map's BTF at run time; `K` and `V` type them at compile time (see
   * `ebpf gen types`).
   */
  map<K = unknown, V = unknown>(name: string): BpfMap<K, V> {
    this.#assertUsable('map');
    const map = this.#maps.get(name);
    if (!map) throw bpfError('map', 'ENOENT', `object '${this.name}' has no map '${name}'; ${listNames(this.#maps.keys())}`);
    return map as BpfMap<K, V>;
  }

  /**
   * Creates the maps and loads the programs into the kernel. The verifier runs on a worker
   * thread. A rejected program throws a VerifierError whose `log` is the verifier's log.
   */
  async load(): Promise<void> {
    this.#assertUsable('load');
    if (this.#loaded) throw bpfError('load', 'EALREADY', `object '${this.name}' is already loaded`);
    const types = [...this.#programs.values()].filter((p) => p.autoload).map((p) => p.type);
    const pending = this.#handle.load();
    this.#loading = true;
    let failure: unknown;
    try {
      await pending;
      this.#loaded = true;
    } catch (e) {
      failure = e ?? new Error('load failed');
    } finally {
      this.#loading = false;
    }
    if (failure !== undefined) throw this.#missingFeature(failure) ?? withCapabilities(failure, capabilitiesToLoad(types));
  }

  /**
   * Attaches every loaded program whose SEC() says where (tracepoint/..., raw_tracepoint/...,
   * ...). Programs that need a target (xdp, bare kprobe, ...) are skipped and listed in
   * `skipped`. If one attachment fails, those already made are detached and the error thrown.
   */
  attach(): LinkGroup {
    this.#assertUsable('attach');
    if (!this.#loaded) throw bpfError('attach', 'EBADF', `object '${this.name}' is not loaded; await load() first`);
    const links: Link[] = [];
    const skipped: string[] = [];
    try {
      for (const program of this.#programs.values()) {
        if (!program.autoload) continue;
        if (!program.autoattach) {
          skipped.push(program.name);
          continue;
        }
        try {
          links.push(program.attach());
        } catch (e) {
          // SEC("xdp"), SEC("kprobe") and the like say what, not where.
          if ((e as { code?: string }).code === 'EOPNOTSUPP') skipped.push(program.name);
          else throw e;
        }
      }
    } catch (e) {
      for (const link of links) link.close();
      throw e;
    }
    return new LinkGroup(links, skipped);
  }

  /** A load refused because the kernel lacks what the failing program's SEC() needs, said so. */
  #missingFeature(e: unknown): BpfError | undefined {
    if (!(e instanceof BpfError) || e instanceof VerifierError) return undefined;
    const name = /prog '([^']+)': BPF program load failed/.exec(e.libbpfLog)?.[1];
    const program = name ? this.#programs.get(name) : undefined;
    if (!program) return undefined;
    const section = program.section;
    const have = features();
    let why: string | undefined;
    if (/^(fentry|fexit|fmod_ret)(\.s)?\//.test(section) && !have.fentry) {
      why = 'this kernel has no BPF trampolines (fentry/fexit need CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS)';
    } else if (/^lsm(\.s)?\//.test(section) && !have.bpfLsm) {
      why = '"bpf" is not among the active LSMs (CONFIG_BPF_LSM, and boot with lsm=...,bpf)';
    } else if (program.type === 'netfilter' && !probe.programType('netfilter')) {
      why = NO_NETFILTER_LINKS;
    }
    if (!why) return undefined;
    const message = `load: program '${name}' (SEC("${section}")) cannot load here: ${why}; leave it out with program.autoload = false`;
    return new BpfError(`${message}\n  libbpf: ${e.libbpfLog.split('\n').join('\n  libbpf: ')}`, {
      errno: e.errno,
      code: e.code,
      operation: 'load',
      libbpfLog: e.libbpfLog,
    });
  }

  /** Closes the object's readers, then its links, then the object (its programs and maps). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const reader of [...this.#readers]) reader.close();
    this.#readers.clear();
    for (const link of [...this.#links]) link.close();
    this.#links.clear();
    this.#handle.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    return `BpfObject(${this.name}${this.#closed ? ', closed' : this.loaded ? ', loaded' : ''})`;
  }
}
