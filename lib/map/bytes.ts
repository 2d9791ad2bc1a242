// Keys and values at the byte level: Buffers and Uint8Arrays as they are, numbers and
// bigints in the host byte order (what the kernel and the BPF program see).
import { endianness } from 'node:os';

const LITTLE = endianness() === 'LE';

/** A key or value: bytes, or a number/bigint for 4- and 8-byte keys and values. */
export type BytesInput = Uint8Array | number | bigint;

function sizeError(what: string, size: number, got: string): TypeError {
  return new TypeError(`${what} must be ${size} bytes, got ${got}`);
}

/** Encodes `input` as exactly `size` bytes, or throws a TypeError naming the expected size. */
export function toBytes(input: BytesInput, size: number, what: string): Uint8Array {
  if (input instanceof Uint8Array) {
    if (input.byteLength !== size) throw sizeError(what, size, `${input.byteLength}`);
    return input;
  }
  if (typeof input === 'number') {
    if (!Number.isInteger(input)) throw new TypeError(`${what} must be an integer, got ${input}`);
    if (size === 4) {
      if (input < -0x80000000 || input > 0xffffffff) throw new RangeError(`${what} ${input} does not fit in 4 bytes`);
      const out = Buffer.alloc(4);
      if (input < 0) out.writeInt32LE(input);
      else out.writeUInt32LE(input);
      return LITTLE ? out : out.reverse();
    }
    if (size === 8) {
      if (!Number.isSafeInteger(input)) throw new RangeError(`${what} ${input} is not a safe integer; pass a bigint`);
      return toBytes(BigInt(input), 8, what);
    }
    throw sizeError(what, size, `a number (numbers encode 4- and 8-byte ${what}s only)`);
  }
  if (typeof input === 'bigint') {
    if (size !== 8 && size !== 4) throw sizeError(what, size, `a bigint (bigints encode 4- and 8-byte ${what}s only)`);
    const bits = BigInt(size * 8);
    if (input < -(1n << (bits - 1n)) || input >= 1n << bits) throw new RangeError(`${what} ${input} does not fit in ${size} bytes`);
    const out = Buffer.alloc(size);
    const unsigned = BigInt.asUintN(size * 8, input);
    if (size === 8) {
      if (LITTLE) out.writeBigUInt64LE(unsigned);
      else out.writeBigUInt64BE(unsigned);
    } else if (LITTLE) out.writeUInt32LE(Number(unsigned));
    else out.writeUInt32BE(Number(unsigned));
    return out;
  }
  throw new TypeError(`${what} must be a Buffer, Uint8Array, number or bigint`);
}

/** Reads a 4-byte value as an unsigned number, an 8-byte value as an unsigned bigint. */
export function fromBytes(bytes: Uint8Array): number | bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength === 4) return view.getUint32(0, LITTLE);
  if (bytes.byteLength === 8) return view.getBigUint64(0, LITTLE);
  throw new TypeError(`only 4- and 8-byte values read as numbers, this one has ${bytes.byteLength} bytes`);
}
