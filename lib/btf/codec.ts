// Codecs: plain JS values <-> the bytes of a C type. Built once per BTF type (closures, no
// reflection per value), or by hand for maps without BTF (u32, struct({...}), cstring(n)).
//
//   integers up to 32 bits -> number; 64 bits -> bigint (number, with { int64: 'number' });
//   bool -> boolean
//   char[N] -> string (up to the first NUL; encoding pads with NULs)
//   unsigned 8-bit arrays -> Uint8Array; other arrays -> arrays
//   struct / union -> plain objects (anonymous members' fields flattened in)
//   enum -> number (or its enumerator's name, with { enums: 'names' }); pointer -> bigint
// The host is little-endian (x86-64); bitfields follow its layout.
import { BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, type Btf, type BtfType } from './btf';
import { compileFunction } from '../codegen';

export interface Codec<T = unknown> {
  /** Bytes of one value. */
  readonly size: number;
  /** A C-like name, for messages. */
  readonly name: string;
  decode(view: DataView, offset: number): T;
  /** `path` names the value in error messages ("value.comm"). */
  encode(value: T, view: DataView, offset: number, path?: string): void;
}

export interface CodecOptions {
  /** Enums as numbers (default) or as their enumerators' names. */
  enums?: 'numbers' | 'names';
  /**
   * 64-bit integers (and pointers, 64-bit enums, bitfields of 64-bit integers) as bigints
   * (default), or as numbers: exact up to 2^53 (Number.MAX_SAFE_INTEGER), rounded to the
   * nearest double beyond it. Numbers are several times cheaper to make than bigints.
   */
  int64?: 'bigint' | 'number';
}

const LE = true;

/** The bytes of `value` under `codec` (a new Buffer). */
export function encodeValue<T>(codec: Codec<T>, value: T, path = 'value'): Buffer {
  const out = Buffer.alloc(codec.size);
  codec.encode(value, new DataView(out.buffer, out.byteOffset, out.byteLength), 0, path);
  return out;
}

/** The value in `bytes` (at least codec.size of them) under `codec`. */
export function decodeValue<T>(codec: Codec<T>, bytes: Uint8Array, offset = 0): T {
  if (bytes.byteLength - offset < codec.size) {
    throw new RangeError(`${codec.name} needs ${codec.size} bytes, got ${bytes.byteLength - offset}`);
  }
  return codec.decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset);
}

function typeError(path: string, expected: string, value: unknown): TypeError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'bigint' ? `${value}n` : String(value);
  return new TypeError(`${path}: expected ${expected}, got ${shown}`);
}

// --- integers ---------------------------------------------------------------------

/** Size and sign of the codecs intCodec made (not of copies or wrappers of them). */
const intLayouts = new WeakMap<Codec, IntLayout>();

/** A plain integer codec's layout: 1, 2, 4 or 8 bytes, signed or not. */
export interface IntLayout {
  readonly size: 1 | 2 | 4 | 8;
  readonly signed: boolean;
}

/**
 * @internal The layout of a codec made here for a plain integer (u32, u64, a BTF int, enum
 * as numbers, pointer), which reads and writes exactly as a typed array of its kind does
 * in the host's byte order; undefined for any other codec, copies and wrappers included.
 */
export function intLayoutOf(codec: Codec<unknown>): IntLayout | undefined {
  return intLayouts.get(codec);
}

function registerInt<T extends Codec<number | bigint>>(codec: T, size: number, signed: boolean): T {
  if (size === 1 || size === 2 || size === 4 || size === 8) intLayouts.set(codec, { size, signed });
  return codec;
}

/** The DataView reads of the bool and float codecs made here (integers: by their layout). */
const otherScalarReads = new WeakMap<Codec, string>();

/**
 * What a struct's compiled decoder reads a scalar field with, in place of a call to the
 * field's codec: a DataView read, `@` standing for the field's offset (codecs made here
 * for integers, bool and floats; never copies or wrappers of them).
 */
function scalarRead(codec: Codec): string | undefined {
  const layout = intLayouts.get(codec);
  if (layout === undefined) return otherScalarReads.get(codec);
  const kind = `${layout.signed ? 'Int' : 'Uint'}${layout.size * 8}`;
  return layout.size === 8 ? `getBig${kind}(@, true)` : layout.size === 1 ? `get${kind}(@)` : `get${kind}(@, true)`;
}

function intCodec(name: string, size: number, signed: boolean, int64: 'bigint' | 'number' = 'bigint'): Codec<number | bigint> {
  if (size === 8 && int64 === 'number') return int64Number(name, signed);
  switch (size) {
    case 1:
    case 2:
    case 4: {
      const bits = size * 8;
      const min = signed ? -(2 ** (bits - 1)) : 0;
      const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
      const get = (v: DataView, o: number): number =>
        size === 1 ? (signed ? v.getInt8(o) : v.getUint8(o)) : size === 2 ? (signed ? v.getInt16(o, LE) : v.getUint16(o, LE)) : signed ? v.getInt32(o, LE) : v.getUint32(o, LE);
      const set = (v: DataView, o: number, x: number): void => {
        if (size === 1) v.setUint8(o, x & 0xff);
        else if (size === 2) v.setUint16(o, x & 0xffff, LE);
        else v.setUint32(o, x >>> 0, LE);
      };
      return registerInt({
        size,
        name,
        decode: get,
        encode(value, view, offset, path = 'value') {
          const n = typeof value === 'bigint' ? Number(value) : value;
          if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
            throw typeError(path, `an integer from ${min} to ${max} (${name})`, value);
          }
          set(view, offset, n);
        },
      }, size, signed);
    }
    case 8:
    case 16: {
      const bits = BigInt(size * 8);
      const min = signed ? -(1n << (bits - 1n)) : 0n;
      const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
      return registerInt({
        size,
        name,
        decode(view, offset) {
          if (size === 8) return signed ? view.getBigInt64(offset, LE) : view.getBigUint64(offset, LE);
          const lo = view.getBigUint64(offset, LE);
          const hi = view.getBigUint64(offset + 8, LE);
          const u = (hi << 64n) | lo;
          return signed ? BigInt.asIntN(128, u) : u;
        },
        encode(value, view, offset, path = 'value') {
          const n = wideInteger(value, path, name, min, max, Number.isSafeInteger, 'a bigint (or safe integer)');
          const u = BigInt.asUintN(size * 8, n);
          view.setBigUint64(offset, BigInt.asUintN(64, u), LE);
          if (size === 16) view.setBigUint64(offset + 8, u >> 64n, LE);
        },
      }, size, signed);
    }
    default:
      throw new TypeError(`${name}: ${size}-byte integers are not supported`);
  }
}

/**
 * `value` as a bigint from min to max, for a 64- or 128-bit integer: a bigint, or a number
 * that `numbers` lets through (safe integers only, or any integer); else a TypeError.
 */
function wideInteger(value: unknown, path: string, name: string, min: bigint, max: bigint, numbers: (n: number) => boolean, expected: string): bigint {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && numbers(value)) n = BigInt(value);
  else throw typeError(path, `${expected} for ${name}`, value);
  if (n < min || n > max) throw typeError(path, `a value from ${min} to ${max} (${name})`, value);
  return n;
}

/** A 64-bit integer read as the nearest number (exact up to 2^53): two 32-bit reads, no bigint. */
function int64Number(name: string, signed: boolean): Codec<number> {
  const min = signed ? -(2n ** 63n) : 0n;
  const max = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
  const high = signed ? 'getInt32' : 'getUint32';
  const codec: Codec<number> = {
    size: 8,
    name,
    // hi * 2^32 is exact; the one addition rounds as Number(bigint) does.
    decode: signed
      ? (view, offset) => view.getInt32(offset + 4, LE) * 4294967296 + view.getUint32(offset, LE)
      : (view, offset) => view.getUint32(offset + 4, LE) * 4294967296 + view.getUint32(offset, LE),
    encode(value, view, offset, path = 'value') {
      const n = wideInteger(value, path, name, min, max, Number.isInteger, 'an integer (number or bigint)');
      view.setBigUint64(offset, BigInt.asUintN(64, n), LE);
    },
  };
  otherScalarReads.set(codec, `${high}(@ + 4, true) * 4294967296 + view.getUint32(@, true)`);
  return codec;
}

const boolCodec: Codec<boolean> = {
  size: 1,
  name: 'bool',
  decode: (view, offset) => view.getUint8(offset) !== 0,
  encode(value, view, offset, path = 'value') {
    if (typeof value !== 'boolean' && value !== 0 && value !== 1) throw typeError(path, 'a boolean', value);
    view.setUint8(offset, value ? 1 : 0);
  },
};
otherScalarReads.set(boolCodec, 'getUint8(@) !== 0');

function floatCodec(size: number, name: string): Codec<number> {
  if (size !== 4 && size !== 8) throw new TypeError(`${name}: ${size}-byte floats are not supported`);
  const codec: Codec<number> = {
    size,
    name,
    decode: (view, offset) => (size === 4 ? view.getFloat32(offset, LE) : view.getFloat64(offset, LE)),
    encode(value, view, offset, path = 'value') {
      if (typeof value !== 'number') throw typeError(path, 'a number', value);
      if (size === 4) view.setFloat32(offset, value, LE);
      else view.setFloat64(offset, value, LE);
    },
  };
  otherScalarReads.set(codec, `getFloat${size * 8}(@, true)`);
  return codec;
}

// --- explicit codecs, for maps without BTF --------------------------------------------

export const u8 = intCodec('__u8', 1, false) as Codec<number>;
export const u16 = intCodec('__u16', 2, false) as Codec<number>;
export const u32 = intCodec('__u32', 4, false) as Codec<number>;
export const u64 = intCodec('__u64', 8, false) as Codec<bigint>;
export const i8 = intCodec('__s8', 1, true) as Codec<number>;
export const i16 = intCodec('__s16', 2, true) as Codec<number>;
export const i32 = intCodec('__s32', 4, true) as Codec<number>;
export const i64 = intCodec('__s64', 8, true) as Codec<bigint>;
/** `__u64` / `__s64` read as the nearest number (exact up to 2^53), as with `int64: 'number'`. */
export const u64AsNumber = int64Number('__u64', false);
export const i64AsNumber = int64Number('__s64', true);
export const f32 = floatCodec(4, 'float');
export const f64 = floatCodec(8, 'double');
export const bool = boolCodec;

/** `char[n]` as a string: up to the first NUL; encoding pads with NULs and refuses longer text. */
export function cstring(n: number): Codec<string> {
  return {
    size: n,
    name: `char[${n}]`,
    decode(view, offset) {
      const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, n);
      const end = bytes.indexOf(0);
      return Buffer.from(bytes.buffer, bytes.byteOffset, end < 0 ? n : end).toString('utf8');
    },
    encode(value, view, offset, path = 'value') {
      if (typeof value !== 'string') throw typeError(path, `a string (char[${n}])`, value);
      const bytes = Buffer.from(value, 'utf8');
      if (bytes.length > n) throw new TypeError(`${path}: ${bytes.length} bytes of text do not fit char[${n}]`);
      const target = new Uint8Array(view.buffer, view.byteOffset + offset, n);
      target.fill(0);
      target.set(bytes);
    },
  };
}

/** `n` raw bytes, as a Buffer (a copy). */
export function bytes(n: number): Codec<Buffer> {
  return {
    size: n,
    name: `__u8[${n}]`,
    decode: (view, offset) => Buffer.from(new Uint8Array(view.buffer, view.byteOffset + offset, n)),
    encode(value, view, offset, path = 'value') {
      if (!(value instanceof Uint8Array) || value.byteLength !== n) throw typeError(path, `${n} bytes`, value instanceof Uint8Array ? `${value.byteLength} bytes` : value);
      new Uint8Array(view.buffer, view.byteOffset + offset, n).set(value);
    },
  };
}

/** An array of `length` elements. */
export function array<T>(element: Codec<T>, length: number): Codec<T[]> {
  return {
    size: element.size * length,
    name: `${element.name}[${length}]`,
    decode(view, offset) {
      const out = new Array<T>(length);
      for (let i = 0; i < length; i++) out[i] = element.decode(view, offset + i * element.size);
      return out;
    },
    encode(value, view, offset, path = 'value') {
      if (!Array.isArray(value) || value.length > length) throw typeError(path, `an array of at most ${length} ${element.name}`, Array.isArray(value) ? `${value.length} elements` : value);
      new Uint8Array(view.buffer, view.byteOffset + offset, element.size * length).fill(0);
      for (let i = 0; i < value.length; i++) element.encode(value[i], view, offset + i * element.size, `${path}[${i}]`);
    },
  };
}

/** A C struct of these fields, in order, with C's alignment (each field aligned to its size, up to 8). */
export function struct<T extends Record<string, unknown>>(fields: { [K in keyof T]: Codec<T[K]> }): Codec<T> {
  let offset = 0;
  let align = 1;
  const layout: { name: string; codec: Codec; offset: number }[] = [];
  for (const [name, codec] of Object.entries(fields) as [string, Codec][]) {
    const a = Math.min(8, alignmentOf(codec));
    offset = Math.ceil(offset / a) * a;
    layout.push({ name, codec, offset });
    offset += codec.size;
    align = Math.max(align, a);
  }
  const size = Math.ceil(offset / align) * align;
  return objectCodec('struct', size, layout.map((f) => ({ ...f, bitSize: 0, bitOffset: 0, signed: false, bigBits: false }))) as Codec<T>;
}

function alignmentOf(codec: Codec): number {
  const a = (codec as { align?: number }).align;
  if (a) return a;
  const size = codec.size;
  return size >= 8 ? 8 : size >= 4 ? 4 : size >= 2 ? 2 : 1;
}

// --- structs and unions ---------------------------------------------------------------------

interface Field {
  name: string;
  codec: Codec;
  offset: number; // bytes (for bitfields: of the first byte holding bits)
  bitSize: number;
  bitOffset: number; // bit within that first byte
  signed: boolean;
  /** A bitfield that reads as a bigint (one of a 64-bit integer, unless int64 is 'number'). */
  bigBits: boolean;
  /** Index of the member it belongs to: the fields of an anonymous struct inside a union
   * are one member of the union, set together. */
  member?: number;
}

/**
 * A struct's or union's decoder, compiled once per type: one object literal with every
 * field (one hidden class for all the records of a type), each scalar field read by the
 * DataView call of its kind in the literal itself, other fields by their own codec, and
 * bitfields by readBits. Field names go in as JSON strings.
 */
function compileDecode(fields: Field[]): (view: DataView, offset: number) => Record<string, unknown> {
  // Field by field: for a field named __proto__ (in an object literal that name would set
  // the prototype), and where the process refuses code generation from strings.
  const byField = (view: DataView, offset: number) => {
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      out[f.name] = f.bitSize ? readBits(view, offset + f.offset, f.bitOffset, f.bitSize, f.signed, f.bigBits) : f.codec.decode(view, offset + f.offset);
    }
    return out;
  };
  if (fields.some((f) => f.name === '__proto__')) return byField;
  const members = fields.map((f, i) => {
    const name = JSON.stringify(f.name);
    if (f.bitSize) return `${name}: readBits(view, offset + ${f.offset}, ${f.bitOffset}, ${f.bitSize}, ${f.signed}, ${f.bigBits})`;
    const read = scalarRead(f.codec);
    if (read !== undefined) return `${name}: view.${read.replaceAll('@', `offset + ${f.offset}`)}`;
    return `${name}: codecs[${i}].decode(view, offset + ${f.offset})`;
  });
  const factory = compileFunction<(codecs: Codec[], bits: typeof readBits) => (view: DataView, offset: number) => Record<string, unknown>>(
    ['codecs', 'readBits'],
    `"use strict"; return function decode(view, offset) { return { ${members.join(', ')} }; };`,
  );
  if (!factory) return byField;
  return factory(
    fields.map((f) => f.codec),
    readBits,
  );
}

function objectCodec(kind: 'struct' | 'union', size: number, fields: Field[], name: string = kind): Codec<Record<string, unknown>> {
  const names = new Set(fields.map((f) => f.name));
  const codec: Codec<Record<string, unknown>> & { align?: number } = {
    size,
    name,
    decode: compileDecode(fields),
    encode(value, view, offset, path = 'value') {
      if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
        throw typeError(path, `an object (${name})`, value);
      }
      for (const key of Object.keys(value)) {
        if (!names.has(key)) throw new TypeError(`${path}: ${name} has no field '${key}' (it has: ${[...names].join(', ')})`);
      }
      if (kind === 'union') {
        const given = fields.filter((f) => value[f.name] !== undefined);
        if (new Set(given.map((f) => f.member ?? f.name)).size > 1) {
          throw new TypeError(`${path}: set one member of ${name}, not ${given.map((f) => f.name).join(' and ')}`);
        }
      }
      new Uint8Array(view.buffer, view.byteOffset + offset, size).fill(0); // padding and missing fields: zero
      for (const f of fields) {
        const v = value[f.name];
        if (v === undefined) continue;
        if (f.bitSize) writeBits(view, offset + f.offset, f.bitOffset, f.bitSize, v, `${path}.${f.name}`);
        else f.codec.encode(v, view, offset + f.offset, `${path}.${f.name}`);
      }
    },
  };
  return codec;
}

function readBits(view: DataView, byte: number, bit: number, bits: number, signed: boolean, big: boolean): number | bigint {
  const span = Math.ceil((bit + bits) / 8);
  let raw = 0n;
  for (let i = span - 1; i >= 0; i--) raw = (raw << 8n) | BigInt(view.getUint8(byte + i));
  let v = (raw >> BigInt(bit)) & ((1n << BigInt(bits)) - 1n);
  if (signed) v = BigInt.asIntN(bits, v);
  return big ? v : Number(v);
}

function writeBits(view: DataView, byte: number, bit: number, bits: number, value: unknown, path: string): void {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
  else if (typeof value === 'boolean') n = value ? 1n : 0n;
  else throw typeError(path, `an integer (${bits}-bit field)`, value);
  if (n < -(1n << BigInt(bits - 1)) || n >= 1n << BigInt(bits)) throw typeError(path, `a value that fits ${bits} bits`, value);
  const span = Math.ceil((bit + bits) / 8);
  let raw = 0n;
  for (let i = span - 1; i >= 0; i--) raw = (raw << 8n) | BigInt(view.getUint8(byte + i));
  const mask = ((1n << BigInt(bits)) - 1n) << BigInt(bit);
  raw = (raw & ~mask) | ((BigInt.asUintN(bits, n) << BigInt(bit)) & mask);
  for (let i = 0; i < span; i++) {
    view.setUint8(byte + i, Number(raw & 0xffn));
    raw >>= 8n;
  }
}

// --- from BTF ----------------------------------------------------------------------

/** Builds (and caches, per BTF and options) codecs for the types of one BTF. */
export class CodecFactory {
  readonly btf: Btf;
  readonly #options: CodecOptions;
  readonly #cache = new Map<number, Codec>();

  constructor(btf: Btf, options: CodecOptions = {}) {
    this.btf = btf;
    this.#options = options;
  }

  /** The codec of BTF type `id`. */
  codec(id: number): Codec {
    let codec = this.#cache.get(id);
    if (!codec) {
      codec = this.#build(id);
      this.#cache.set(id, codec);
    }
    return codec;
  }

  /** The codec of the type named `name` (e.g. "event" for struct event). */
  named(name: string): Codec {
    const t = this.btf.find(name, 'struct') ?? this.btf.find(name);
    if (!t) throw new TypeError(`no type named '${name}' in this BTF`);
    return this.codec(t.id);
  }

  #build(id: number): Codec {
    const btf = this.btf;
    const t = btf.resolve(id);
    const name = btf.describe(id);
    switch (t.kind) {
      case 'int': {
        if ((t.encoding ?? 0) & BTF_INT_BOOL) return boolCodec;
        const signed = ((t.encoding ?? 0) & BTF_INT_SIGNED) !== 0;
        return intCodec(name, t.size as number, signed, this.#options.int64);
      }
      case 'float':
        return floatCodec(t.size as number, name);
      case 'ptr':
        return intCodec(name, 8, false, this.#options.int64);
      case 'enum':
      case 'enum64':
        return this.#enumCodec(t, name);
      case 'array':
        return this.#arrayCodec(t, name);
      case 'struct':
      case 'union':
        return this.#objectCodec(t, name);
      default:
        throw new TypeError(`cannot encode or decode ${name} (BTF ${t.kind})`);
    }
  }

  #enumCodec(t: BtfType, name: string): Codec {
    const base = intCodec(name, t.size as number, t.signed ?? false, this.#options.int64);
    if (this.#options.enums !== 'names') return base;
    const byValue = new Map<string, string>();
    const byName = new Map<string, number | bigint>();
    for (const v of t.values ?? []) {
      byValue.set(String(v.value), v.name);
      byName.set(v.name, v.value);
    }
    return {
      size: base.size,
      name,
      decode(view, offset) {
        const raw = base.decode(view, offset);
        return byValue.get(String(raw)) ?? raw;
      },
      encode(value, view, offset, path = 'value') {
        if (typeof value === 'string') {
          const v = byName.get(value);
          if (v === undefined) throw new TypeError(`${path}: ${name} has no enumerator '${value}' (it has: ${[...byName.keys()].join(', ')})`);
          base.encode(v, view, offset, path);
        } else {
          base.encode(value as number, view, offset, path);
        }
      },
    };
  }

  #arrayCodec(t: BtfType, name: string): Codec {
    const length = t.length ?? 0;
    const element = this.btf.resolve(t.type as number);
    if (element.kind === 'int' && element.size === 1) {
      const isChar = ((element.encoding ?? 0) & BTF_INT_CHAR) !== 0 || element.name === 'char';
      if (isChar) return { ...cstring(length), name };
      // bool[N] stays an array of booleans (the BOOL encoding), as bool does alone
      if (!((element.encoding ?? 0) & (BTF_INT_SIGNED | BTF_INT_BOOL))) {
        return {
          size: length,
          name,
          decode: (view, offset) => new Uint8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + length)),
          encode(value, view, offset, path = 'value') {
            const src = value instanceof Uint8Array ? value : Array.isArray(value) ? Uint8Array.from(value as number[]) : null;
            if (!src || src.length > length) throw typeError(path, `at most ${length} bytes (${name})`, value);
            const target = new Uint8Array(view.buffer, view.byteOffset + offset, length);
            target.fill(0);
            target.set(src);
          },
        };
      }
    }
    return { ...array(this.codec(t.type as number), length), name };
  }

  #objectCodec(t: BtfType, name: string): Codec {
    const fields: Field[] = [];
    const collect = (type: BtfType, base: number, group?: number) => {
      (type.members ?? []).forEach((m, index) => {
        const member = this.btf.resolve(m.type);
        const at = group ?? index;
        if (!m.name && (member.kind === 'struct' || member.kind === 'union')) {
          // Anonymous struct/union: its fields belong to the enclosing object, as in C.
          collect(member, base + m.bitOffset / 8, at);
          return;
        }
        const signed = member.kind === 'int' && ((member.encoding ?? 0) & BTF_INT_SIGNED) !== 0;
        if (m.bitSize) {
          const bigBits = (member.size ?? 0) >= 8 && this.#options.int64 !== 'number';
          fields.push({ name: m.name, codec: this.codec(m.type), offset: base + Math.floor(m.bitOffset / 8), bitSize: m.bitSize, bitOffset: m.bitOffset % 8, signed, bigBits, member: at });
        } else {
          fields.push({ name: m.name, codec: this.codec(m.type), offset: base + m.bitOffset / 8, bitSize: 0, bitOffset: 0, signed, bigBits: false, member: at });
        }
      });
    };
    collect(t, 0);
    return objectCodec(t.kind as 'struct' | 'union', t.size as number, fields, name);
  }
}
