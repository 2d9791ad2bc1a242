import type { NativeMapHandle } from '../typings/native';
import type { Btf } from './btf/btf';
import { type Codec, type CodecFactory, intLayoutOf } from './btf/codec';
import { bpfError } from './errors';
import { type IntArray, intArray } from './map/ints';
import { listNames } from './resource';

/** Globals typed at compile time (generated skeletons: `ebpf gen types`). */
export interface TypedGlobals<G> {
  get<N extends keyof G & string>(name: N): G[N];
  set<N extends keyof G & string>(name: N, value: G[N]): TypedGlobals<G>;
  has(name: string): boolean;
  keys(): IterableIterator<string>;
  describe(): GlobalInfo[];
}

/** Where one global variable lives. */
export interface GlobalInfo {
  name: string;
  /** Its section: ".rodata", ".data", ".bss", ".data.custom"... */
  section: string;
  /** C-like type name, e.g. "__u32", "struct inner", "char[8]". */
  type: string;
  offset: number;
  size: number;
  /** .rodata variables: settable before load only (the kernel freezes them). */
  readonly: boolean;
}

/** One global, found once: `get()` and `set()` skip the lookup by name (the fast path). */
export interface GlobalAccessor<T> {
  readonly name: string;
  /** The current value, read in place (after load: from the mmapped map, no syscall). */
  get(): T;
  /** Sets it, as `globals.set(name, value)` does. */
  set(value: T): void;
}

interface Variable extends GlobalInfo {
  map: NativeMapHandle;
  codec: Codec;
}

/**
 * A view over a section's memory (the mmapped map after load), made on first use; for a
 * loaded section that libbpf did not map (only static variables in it), a fresh copy read
 * from the map on every use.
 */
class SectionView {
  #view: DataView | undefined;
  readonly #map: NativeMapHandle;

  constructor(map: NativeMapHandle) {
    this.#map = map;
  }

  /** Whether `view` (from get()) is over the section's memory itself, not a copy. */
  isLive(view: DataView): boolean {
    return view === this.#view;
  }

  get(): DataView {
    if (!this.#view || this.#view.buffer.byteLength === 0) {
      // detached (byteLength 0) when the object loads (libbpf remaps it) and when it closes
      const buffer = this.#map.dataBuffer();
      if (buffer === null) {
        const copy = this.#map.lookup(Buffer.alloc(this.#map.keySize));
        if (!copy) throw bpfError('globals.get', 'ENOENT', `section map '${this.#map.name}' has no element`);
        return new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
      }
      this.#view = new DataView(buffer);
    }
    return this.#view;
  }
}

/**
 * The object's global variables (`.rodata`, `.data`, `.bss` and custom `.data.*` /
 * `.rodata.*` sections), by name, typed by BTF. Before load, `set` changes their initial
 * values (for `.rodata`, what the verifier sees as constants); after load, `.data` and
 * `.bss` are read and written in place through the mmapped map, with no syscall.
 */
export class Globals implements Iterable<[string, unknown]> {
  readonly #variables = new Map<string, Variable & { view: SectionView }>();
  readonly #assertUsable: (operation: string) => void;

  /** @internal Made by BpfObject. */
  constructor(btf: Btf | undefined, codecs: CodecFactory | undefined, maps: NativeMapHandle[], assertUsable: (operation: string) => void) {
    this.#assertUsable = assertUsable;
    if (!btf || !codecs) return;
    for (const map of maps) {
      const id = map.btfValueTypeId;
      if (!id) continue;
      const sec = btf.type(id);
      if (sec.kind !== 'datasec') continue;
      const section = sec.name;
      const view = new SectionView(map);
      for (const v of sec.vars ?? []) {
        const variable = btf.type(v.type);
        if (variable.kind !== 'var' || !variable.name) continue;
        let codec: Codec;
        try {
          codec = codecs.codec(variable.type as number);
        } catch {
          continue; // a type we cannot encode (e.g. a function pointer table): not listed
        }
        this.#variables.set(variable.name, {
          name: variable.name,
          section,
          type: btf.describe(variable.type as number),
          offset: v.offset,
          size: v.size,
          readonly: section.startsWith('.rodata'),
          map,
          codec,
          view,
        });
      }
    }
  }

  #find(name: string, operation: string): Variable & { view: SectionView } {
    this.#assertUsable(operation);
    const v = this.#variables.get(name);
    if (!v) throw bpfError(operation, 'ENOENT', `no global variable '${name}'; ${listNames(this.#variables.keys())}`);
    return v;
  }

  /** The variable's current value, read in place (after load: from the kernel map itself). */
  get(name: string): unknown {
    const v = this.#find(name, 'globals.get');
    return v.codec.decode(v.view.get(), v.offset);
  }

  /** Sets the variable: before load for `.rodata`, any time for `.data` / `.bss`. */
  set(name: string, value: unknown): this {
    const v = this.#find(name, 'globals.set');
    const bytes = Buffer.alloc(v.size);
    v.codec.encode(value, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, name);
    v.map.writeData(v.offset, bytes);
    return this;
  }

  /**
   * An accessor for one variable, for reads in a loop: the name is looked up once. A
   * closed object makes `get()` throw a BpfError, as `globals.get` does.
   */
  accessor<T = unknown>(name: string): GlobalAccessor<T> {
    const v = this.#find(name, 'globals.accessor');
    const { codec, offset, view } = v;
    const assertUsable = this.#assertUsable;
    const set = (value: T) => {
      this.set(name, value);
    };
    const layout = intLayoutOf(codec);
    if (!layout) {
      return {
        name,
        get: () => {
          assertUsable('globals.get');
          return codec.decode(view.get(), offset) as T;
        },
        set,
      };
    }
    // A plain integer: a one-element typed array over the variable in the section's memory,
    // made again when its buffer is detached (at load: libbpf remaps the section; at close).
    // A detached array has length 0, so the check that gets a new one is also the one that
    // finds the object closed or loading (assertUsable). Unaligned variables and sections
    // read through a copy (not mapped) go through the codec every time.
    let array: IntArray | undefined;
    const slow = (): T => {
      assertUsable('globals.get');
      const data = view.get();
      array = view.isLive(data) ? intArray(layout, data.buffer, data.byteOffset + offset, 1) : undefined;
      return array ? (array[0] as T) : (codec.decode(data, offset) as T);
    };
    return {
      name,
      get: () => (array !== undefined && array.length !== 0 ? (array[0] as T) : slow()),
      set,
    };
  }

  has(name: string): boolean {
    return this.#variables.has(name);
  }

  /** Every variable's name. */
  keys(): IterableIterator<string> {
    return this.#variables.keys();
  }

  /** Where and what each variable is. */
  describe(): GlobalInfo[] {
    return [...this.#variables.values()].map(({ name, section, type, offset, size, readonly }) => ({ name, section, type, offset, size, readonly }));
  }

  *entries(): IterableIterator<[string, unknown]> {
    for (const name of this.#variables.keys()) yield [name, this.get(name)];
  }

  [Symbol.iterator](): IterableIterator<[string, unknown]> {
    return this.entries();
  }
}
