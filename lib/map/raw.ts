import type { NativeMapHandle } from '../../typings/native';
import type { ObjectContext } from '../resource';
import { type BytesInput, fromBytes, toBytes } from './bytes';

/** Flags of map updates: BPF_ANY, BPF_NOEXIST, BPF_EXIST (or a number, e.g. with BPF_F_LOCK). */
export type UpdateFlag = 'any' | 'noexist' | 'exist' | number;

const UPDATE_FLAGS: Record<string, number> = { any: 0, noexist: 1, exist: 2 };

/** Flags of map updates as the syscall takes them. */
export function updateFlags(flags: UpdateFlag): number {
  const value = typeof flags === 'number' ? flags : UPDATE_FLAGS[flags];
  if (value === undefined) throw new TypeError(`unknown update flag '${String(flags)}' (any, noexist, exist)`);
  return value;
}

/**
 * A map at the byte level (`map.raw`): keys and values are Buffers, and numbers or bigints
 * are accepted for 4- and 8-byte keys and values. It follows JS Map: get, set, has,
 * delete, keys, values, entries, iteration, clear.
 */
export class RawMap implements Iterable<[Buffer, Buffer]> {
  readonly #handle: NativeMapHandle;
  readonly #owner: ObjectContext;
  readonly name: string;

  /** @internal Made by BpfMap. */
  constructor(handle: NativeMapHandle, owner: ObjectContext) {
    this.#handle = handle;
    this.#owner = owner;
    this.name = handle.name;
  }

  #key(key: BytesInput, operation: string): Uint8Array {
    this.#owner.assertLoaded(operation);
    return toBytes(key, this.#handle.keySize, 'key');
  }

  /** The value stored under `key` (for per-CPU maps: every CPU's slot, concatenated), or undefined. */
  get(key: BytesInput): Buffer | undefined {
    return this.#handle.lookup(this.#key(key, 'map.get'));
  }

  /** The value under `key` read as a number (4 bytes) or bigint (8 bytes), or undefined. */
  getNumber(key: BytesInput): number | bigint | undefined {
    const value = this.get(key);
    return value === undefined ? undefined : fromBytes(value);
  }

  /** For per-CPU maps: one value per possible CPU, or undefined. */
  getPerCpu(key: BytesInput): Buffer[] | undefined {
    if (!this.#handle.perCpu) throw new TypeError(`map '${this.name}' (${this.#handle.type}) is not a per-CPU map`);
    const all = this.get(key);
    return all === undefined ? undefined : splitPerCpu(all, this.#handle.valueSize);
  }

  /** Stores `value` under `key`. Per-CPU maps take every CPU's slot (see getPerCpu), or one value for all. */
  set(key: BytesInput, value: BytesInput, flags: UpdateFlag = 'any'): this {
    const k = this.#key(key, 'map.set');
    const flagValue = updateFlags(flags);
    let bytes: Uint8Array;
    if (this.#handle.perCpu && !(value instanceof Uint8Array && value.byteLength === this.#handle.valueBytes)) {
      bytes = replicatePerCpu(toBytes(value, this.#handle.valueSize, 'value'), this.#handle.valueSize, this.#handle.valueBytes);
    } else {
      bytes = toBytes(value, this.#handle.valueBytes, 'value');
    }
    this.#handle.update(k, bytes, flagValue);
    return this;
  }

  has(key: BytesInput): boolean {
    return this.get(key) !== undefined;
  }

  /** Removes `key`; false when it was not there. Array maps cannot delete (EINVAL). */
  delete(key: BytesInput): boolean {
    return this.#handle.delete(this.#key(key, 'map.delete'));
  }

  /** Every key, in the kernel's order. */
  *keys(): IterableIterator<Buffer> {
    this.#owner.assertLoaded('map.keys');
    let key = this.#handle.nextKey(null);
    while (key !== undefined) {
      yield key;
      this.#owner.assertLoaded('map.keys');
      key = this.#handle.nextKey(key);
    }
  }

  *values(): IterableIterator<Buffer> {
    for (const [, value] of this.entries()) yield value;
  }

  /** Every [key, value] pair; keys deleted while iterating are skipped. */
  *entries(): IterableIterator<[Buffer, Buffer]> {
    for (const key of this.keys()) {
      const value = this.#handle.lookup(key);
      if (value !== undefined) yield [key, value];
    }
  }

  [Symbol.iterator](): IterableIterator<[Buffer, Buffer]> {
    return this.entries();
  }

  /** Removes every key; array maps, whose entries always exist, are zeroed instead. */
  clear(): void {
    this.#owner.assertLoaded('map.clear');
    const zero = Buffer.alloc(this.#handle.valueBytes);
    const arrayLike = this.#handle.type.endsWith('array');
    for (const key of [...this.keys()]) {
      if (arrayLike) this.#handle.update(key, zero, 0);
      else this.#handle.delete(key);
    }
  }
}

/** Per-CPU values: one 8-byte aligned slot per possible CPU. */
export function splitPerCpu(all: Buffer, valueSize: number): Buffer[] {
  const slot = Math.ceil(valueSize / 8) * 8;
  const out: Buffer[] = [];
  for (let offset = 0; offset < all.length; offset += slot) out.push(all.subarray(offset, offset + valueSize));
  return out;
}

/** One value in every CPU's slot. */
export function replicatePerCpu(one: Uint8Array, valueSize: number, valueBytes: number): Buffer {
  const slot = Math.ceil(valueSize / 8) * 8;
  const out = Buffer.alloc(valueBytes);
  for (let offset = 0; offset < out.length; offset += slot) out.set(one, offset);
  return out;
}
