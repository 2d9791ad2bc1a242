// Target "codec": random C declarations compiled with clang -target bpf -g; codecs built
// from the object's BTF must round-trip random values, encode them byte for byte as the
// host C compiler lays them out, and meet wrong values and random bytes with typed errors.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BpfObject, type Codec, CodecFactory, decodeValue, encodeValue } from '../lib';
import type { CaseContext } from './context';
import { Finding, failed, step } from './outcome';
import type { Rng } from './random';
import { type Assignment, bpfProgram, generateDeclarations, hostProgram, randomValue } from './shapes';
import { evilValue } from './values';

const CLANG = ['clang-19', 'clang'].find((c) => {
  try {
    execFileSync(c, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

/** Whether `got` (a decoded value) holds `want` (what was encoded): unions and anonymous
 * unions decode every member, so only the members given are compared. */
export function holds(want: unknown, got: unknown): boolean {
  if (want instanceof Uint8Array) return got instanceof Uint8Array && Buffer.from(want).equals(Buffer.from(got));
  // unsigned 8-bit arrays decode as bytes, however they were given
  if (Array.isArray(want) && got instanceof Uint8Array) return holds(Uint8Array.from(want as number[]), got);
  if (Array.isArray(want)) return Array.isArray(got) && want.length === got.length && want.every((w, i) => holds(w, got[i]));
  if (typeof want === 'object' && want !== null) {
    if (typeof got !== 'object' || got === null) return false;
    return Object.entries(want).every(([k, w]) => holds(w, (got as Record<string, unknown>)[k]));
  }
  return Object.is(want, got);
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `bytes:${Buffer.from(x).toString('hex')}` : x));
}

/** A copy of `value` with one leaf (or the whole) replaced by a wrong value. */
function spoil(rng: Rng, value: unknown): unknown {
  if (rng.chance(0.2) || value === null || typeof value !== 'object' || value instanceof Uint8Array) return evilValue(rng);
  if (Array.isArray(value)) {
    const copy = [...value];
    if (copy.length > 0 && rng.chance(0.8)) copy[rng.below(copy.length)] = spoil(rng, copy[rng.below(copy.length)]);
    else copy.push(evilValue(rng));
    return copy;
  }
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  if (keys.length > 0 && rng.chance(0.85)) {
    const k = rng.pick(keys);
    copy[k] = spoil(rng, copy[k]);
  } else {
    copy[rng.pick(['nope', '__proto__', 'constructor', ''])] = evilValue(rng);
  }
  return copy;
}

export async function codecCase(rng: Rng, ctx: CaseContext): Promise<string> {
  if (!CLANG) throw new Error('clang is needed for the codec target');
  const decls = generateDeclarations(rng, `t`);
  const dir = path.join(ctx.tmp, 'codec');
  fs.mkdirSync(dir, { recursive: true });
  const bpfSource = path.join(dir, 'shapes.bpf.c');
  const object = path.join(dir, 'shapes.bpf.o');
  fs.writeFileSync(bpfSource, bpfProgram(decls));
  ctx.describe(decls.source.replace(/\n/g, ' '));
  execFileSync(CLANG, ['-target', 'bpf', '-g', '-O2', '-w', '-c', bpfSource, '-o', object], { stdio: ['ignore', 'ignore', 'pipe'] });

  using obj = BpfObject.open(object);
  const factory = new CodecFactory(obj.btf!);
  const hostValues: { root: number; assignments: Assignment[]; bytes: string; codec: Codec }[] = [];
  let values = 0;
  for (let r = 0; r < decls.roots.length; r++) {
    const root = decls.roots[r];
    const codec = factory.named(root.name!);
    for (let v = 0; v < 6; v++) {
      const assignments: Assignment[] = [];
      const value = randomValue(rng, root, '', assignments);
      let bytes: Buffer;
      let back: unknown;
      try {
        bytes = encodeValue(codec, value);
        back = decodeValue(codec, bytes);
      } catch (e) {
        throw new Finding(`round trip of ${root.name} = ${show(value)}`, e);
      }
      if (!holds(value, back)) throw new Finding(`round trip of ${root.name}`, new Error(`encoded ${show(value)}, decoded ${show(back)}`));
      values++;
      if (v < 2) hostValues.push({ root: r, assignments, bytes: bytes.toString('hex'), codec });
      // A wrong value is a TypeError or RangeError naming where, never anything else.
      const spoiled = spoil(rng, value);
      step(`encode of a wrong ${root.name}`, () => encodeValue(codec, spoiled));
    }
    // Random bytes decode to something that encodes again.
    const raw = rng.bytes(codec.size);
    const decoded = step(`decode of random bytes as ${root.name}`, () => decodeValue(codec, raw));
    if (!failed(decoded)) step(`encode of decoded random bytes as ${root.name}`, () => encodeValue(codec, decoded));
  }

  // The host compiler's layout of the same values, byte for byte.
  const hostSource = path.join(dir, 'host.c');
  const host = path.join(dir, 'host');
  fs.writeFileSync(hostSource, hostProgram(decls, hostValues).replace(/\b(const|volatile) /g, ''));
  execFileSync('cc', ['-O0', '-w', '-o', host, hostSource], { stdio: ['ignore', 'ignore', 'pipe'] });
  const lines = execFileSync(host, { encoding: 'utf8' }).trim().split('\n');
  hostValues.forEach((h, i) => {
    const [size, hex] = lines[i].split(' ');
    if (Number(size) !== h.codec.size) throw new Finding(`layout of ${h.codec.name}`, new Error(`codec size ${h.codec.size}, C sizeof ${size}`));
    if (hex !== h.bytes) throw new Finding(`layout of ${h.codec.name}`, new Error(`codec bytes ${h.bytes}, C bytes ${hex}`));
  });
  return values > 0 ? 'ok' : 'empty';
}
