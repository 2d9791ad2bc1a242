// Fast paths for maps whose keys or values are plain integers (u32, u64, a BTF int...): a
// typed array over the key or value buffer reads and writes them with no DataView call,
// and a check made for each kind lets through exactly the values the codec would store
// unchanged. Anything else (a bigint for a 32-bit key, a number for a 64-bit value, a
// value out of range) goes to the codec, which converts it or throws its usual error.
import { endianness } from 'node:os';
import type { IntLayout } from '../btf/codec';

export type IntArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** Whether the value fits the layout as is: then `array[i] = value` stores what the codec would. */
export type IntFits = (value: unknown) => boolean;

// The codecs are little-endian; typed arrays use the host's order.
const LITTLE = endianness() === 'LE';

/**
 * A typed array of `length` integers of `layout` at `byteOffset` of `buffer`, or undefined
 * when the host is big-endian or the offset is not aligned to the integer's size.
 */
export function intArray(layout: IntLayout | undefined, buffer: ArrayBufferLike, byteOffset: number, length: number): IntArray | undefined {
  if (!layout || !LITTLE || byteOffset % layout.size !== 0) return undefined;
  switch (layout.size) {
    case 1:
      return layout.signed ? new Int8Array(buffer, byteOffset, length) : new Uint8Array(buffer, byteOffset, length);
    case 2:
      return layout.signed ? new Int16Array(buffer, byteOffset, length) : new Uint16Array(buffer, byteOffset, length);
    case 4:
      return layout.signed ? new Int32Array(buffer, byteOffset, length) : new Uint32Array(buffer, byteOffset, length);
    case 8:
      return layout.signed ? new BigInt64Array(buffer, byteOffset, length) : new BigUint64Array(buffer, byteOffset, length);
  }
}

/** The check of values `array[i] = value` stores exactly, for integers of `layout`. */
export function intFits(layout: IntLayout): IntFits {
  switch (layout.size) {
    case 1:
      return layout.signed ? (v) => typeof v === 'number' && (v << 24) >> 24 === v : (v) => typeof v === 'number' && (v & 0xff) === v;
    case 2:
      return layout.signed ? (v) => typeof v === 'number' && (v << 16) >> 16 === v : (v) => typeof v === 'number' && (v & 0xffff) === v;
    case 4:
      return layout.signed ? (v) => typeof v === 'number' && (v | 0) === v : (v) => typeof v === 'number' && v >>> 0 === v;
    case 8:
      return layout.signed ? (v) => typeof v === 'bigint' && BigInt.asIntN(64, v) === v : (v) => typeof v === 'bigint' && BigInt.asUintN(64, v) === v;
  }
}
