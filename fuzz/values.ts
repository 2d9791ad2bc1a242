// Wrong arguments: every JS type, the numbers and strings that break conversions (NaN,
// negative, huge, fractional, lone surrogates, NUL, very long), and buffers that are the
// wrong size, shared, detached, or out of bounds of a shrunk resizable ArrayBuffer.
import type { Rng } from './random';

function detachedView(): Uint8Array {
  const buffer = new ArrayBuffer(8);
  const view = new Uint8Array(buffer);
  structuredClone(buffer, { transfer: [buffer] });
  return view;
}

function detachedBuffer(): ArrayBuffer {
  const buffer = new ArrayBuffer(8);
  structuredClone(buffer, { transfer: [buffer] });
  return buffer;
}

/** A plain file of this process that no call may remove (unpin() once could: see RELIABILITY.md). */
export function victimPath(): string {
  return `/tmp/ebpf-fuzz-${process.pid}/victim`;
}

type ResizableOptions = { maxByteLength: number };
type Resizable = ArrayBuffer & { resize(n: number): void };

/** A fixed-length view whose resizable buffer shrank under it (out of bounds). */
function shrunkView(size: number): Uint8Array {
  const buffer = new (ArrayBuffer as unknown as new (n: number, o: ResizableOptions) => Resizable)(size, { maxByteLength: size * 2 + 64 });
  const view = new Uint8Array(buffer, 0, size);
  buffer.resize(0);
  return view;
}

/** A view that follows its resizable buffer's length. */
function trackingView(size: number): Uint8Array {
  const buffer = new (ArrayBuffer as unknown as new (n: number, o: ResizableOptions) => Resizable)(size, { maxByteLength: size * 2 + 64 });
  return new Uint8Array(buffer);
}

const throwingProxy = () =>
  new Proxy(
    {},
    {
      get() {
        throw new TypeError('fuzz: a property getter that throws');
      },
    },
  );

const MAKERS: (() => unknown)[] = [
  () => undefined,
  () => null,
  () => Number.NaN,
  () => -0,
  () => -1,
  () => 0,
  () => 1,
  () => 1.5,
  () => 2 ** 31,
  () => 2 ** 32,
  () => 2 ** 32 - 1,
  () => 2 ** 53,
  () => -(2 ** 53),
  () => Number.POSITIVE_INFINITY,
  () => Number.NEGATIVE_INFINITY,
  () => Number.MAX_VALUE,
  () => Number.MIN_VALUE,
  () => 0n,
  () => -1n,
  () => 1n << 64n,
  () => (1n << 64n) - 1n,
  () => -(1n << 63n) - 1n,
  () => '',
  () => 'x',
  () => '\0',
  () => 'a\0b',
  () => '\uD800',
  () => '\uDFFF\uD800x',
  () => 'é\u{1F600}',
  () => 'x'.repeat(70000),
  () => victimPath(),
  () => 'victim',
  () => '/sys/fs/bpf',
  () => '%s%s%n',
  () => true,
  () => false,
  () => Symbol('fuzz'),
  () => () => 1,
  () => ({}),
  () => [],
  () => [1, 2, 3],
  () => ({ length: -1 }),
  () => new Array(3),
  () => Object.create(null),
  () => new Date(0),
  () => /x/,
  () => new Map([[1, 2]]),
  () => Buffer.alloc(0),
  () => Buffer.alloc(1),
  () => Buffer.alloc(3),
  () => Buffer.alloc(4),
  () => Buffer.alloc(8),
  () => Buffer.alloc(16),
  () => Buffer.alloc(65536, 0xff),
  () => new Uint8Array(8).subarray(3),
  () => new Float64Array(1),
  () => new Uint16Array(2),
  () => new DataView(new ArrayBuffer(8)),
  () => new ArrayBuffer(4),
  () => new Uint8Array(new SharedArrayBuffer(4)),
  () => new Uint8Array(new SharedArrayBuffer(8)),
  () => new DataView(new SharedArrayBuffer(8)),
  () => detachedView(),
  () => detachedBuffer(),
  () => shrunkView(4),
  () => shrunkView(8),
  () => trackingView(4),
  () => trackingView(8),
  () => throwingProxy(),
  () => ({ valueOf: () => 4, toString: () => 'x' }),
];

export function evilValue(rng: Rng): unknown {
  return rng.pick(MAKERS)();
}

/** `valid()` most of the time, a wrong value otherwise. */
export function arg<T>(rng: Rng, valid: () => T, wrong = 0.35): T | unknown {
  return rng.chance(wrong) ? evilValue(rng) : valid();
}

/** An options object: each key given, left out, or wrong. */
export function options(rng: Rng, fields: Record<string, () => unknown>): unknown {
  if (rng.chance(0.1)) return evilValue(rng);
  const out: Record<string, unknown> = {};
  for (const [key, valid] of Object.entries(fields)) {
    if (rng.chance(0.4)) continue;
    out[key] = arg(rng, valid, 0.3);
  }
  return out;
}
