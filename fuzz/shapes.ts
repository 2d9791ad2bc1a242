// Random C declarations (structs, unions, arrays, enums, bitfields, anonymous members,
// typedefs, packed layouts), random values of them, and the C statements that set the same
// values: the codec fuzzer compiles the declarations with clang -target bpf -g for BTF and
// with the host compiler for the reference layout.
import type { Rng } from './random';

interface IntType {
  c: string;
  size: number;
  signed: boolean;
}

const INTS: IntType[] = [
  { c: 'unsigned char', size: 1, signed: false },
  { c: 'signed char', size: 1, signed: true },
  { c: 'unsigned short', size: 2, signed: false },
  { c: 'short', size: 2, signed: true },
  { c: 'unsigned int', size: 4, signed: false },
  { c: 'int', size: 4, signed: true },
  { c: 'unsigned long long', size: 8, signed: false },
  { c: 'long long', size: 8, signed: true },
];

export type Shape =
  | { k: 'int'; t: IntType }
  | { k: 'bool' }
  | { k: 'float'; size: 4 | 8 }
  | { k: 'ptr' }
  | { k: 'enum'; name: string; values: { name: string; value: bigint }[]; size: 4 | 8; signed: boolean }
  | { k: 'chars'; n: number }
  | { k: 'bytes'; n: number }
  | { k: 'array'; elem: Shape; n: number }
  | { k: 'record'; union: boolean; name: string | null; fields: Field[]; packed: boolean; typedef: string | null };

export interface Field {
  /** null: an anonymous struct/union member (its fields belong to the parent) or an unnamed bitfield. */
  name: string | null;
  shape: Shape;
  bits?: number;
  qualifier: string;
}

export interface Declarations {
  /** C source of every type, in dependency order. */
  source: string;
  /** The named structs/unions to test (a global variable of each keeps it in BTF). */
  roots: (Shape & { k: 'record' })[];
}

export function generateDeclarations(rng: Rng, prefix: string): Declarations {
  const decls: string[] = [];
  const named: (Shape & { k: 'record' })[] = [];
  const enums: (Shape & { k: 'enum' })[] = [];
  let counter = 0;
  const fresh = (what: string) => `${prefix}_${what}${counter++}`;

  const makeEnum = (): Shape & { k: 'enum' } => {
    const wide = rng.chance(0.25);
    const signed = rng.chance(0.3);
    const name = fresh('e');
    const count = rng.range(1, 5);
    const values: { name: string; value: bigint }[] = [];
    for (let i = 0; i < count; i++) {
      let value = wide ? rng.bits(rng.chance(0.5) ? 40 : 63) : rng.bits(31);
      if (signed && rng.chance(0.5)) value = -value;
      if (wide && i === 0) value = (1n << 33n) + BigInt(rng.below(1000));
      values.push({ name: `${name.toUpperCase()}_${i}`, value });
    }
    const e = { k: 'enum' as const, name, values, size: (wide ? 8 : 4) as 4 | 8, signed: values.some((v) => v.value < 0n) };
    decls.push(`enum ${name} { ${values.map((v) => `${v.name} = ${cLiteral(v.value, wide || v.value < 0n ? 'LL' : '')}`).join(', ')} };`);
    enums.push(e);
    return e;
  };

  const leaf = (depth: number): Shape => {
    const r = rng.below(100);
    if (r < 35) return { k: 'int', t: rng.pick(INTS) };
    if (r < 40) return { k: 'bool' };
    if (r < 47) return { k: 'float', size: rng.pick([4, 8] as const) };
    if (r < 51) return { k: 'ptr' };
    if (r < 58) return enums.length > 0 && rng.chance(0.5) ? rng.pick(enums) : makeEnum();
    if (r < 66) return { k: 'chars', n: rng.range(1, 24) };
    if (r < 72) return { k: 'bytes', n: rng.range(1, 12) };
    if (r < 82 && depth < 3) return { k: 'array', elem: rng.chance(0.3) ? { k: 'chars', n: rng.range(1, 6) } : leaf(depth + 1), n: rng.range(1, 4) };
    if (depth < 3 && named.length > 0 && rng.chance(0.5)) return rng.pick(named);
    if (depth < 3) return record(depth + 1, false);
    return { k: 'int', t: rng.pick(INTS) };
  };

  // Member names are unique in the whole file: anonymous members' fields join their parent's.
  const member = (what: string) => `${what}${counter++}`;
  const record = (depth: number, top: boolean, anonymous = false): Shape & { k: 'record' } => {
    const union = !top && rng.chance(0.25);
    const fields: Field[] = [];
    const count = rng.range(1, top ? 7 : 4);
    for (let i = 0; i < count; i++) {
      const qualifier = rng.chance(0.1) ? rng.pick(['const ', 'volatile ', 'const volatile ']) : '';
      if (!union && rng.chance(0.2)) {
        // a run of bitfields
        const t = rng.pick(INTS.filter((x) => x.size >= 1));
        const run = rng.range(1, 4);
        for (let j = 0; j < run; j++) {
          const bits = rng.range(1, t.size * 8);
          if (rng.chance(0.1)) fields.push({ name: null, shape: { k: 'int', t }, bits: rng.range(0, Math.min(bits, 7)), qualifier: '' });
          else fields.push({ name: member('b'), shape: { k: 'int', t }, bits, qualifier: '' });
        }
        continue;
      }
      if (depth < 3 && rng.chance(0.1)) {
        fields.push({ name: null, shape: record(depth + 1, false, true), qualifier: '' }); // anonymous member
        continue;
      }
      fields.push({ name: member('f'), shape: leaf(depth), qualifier });
    }
    // At least one named member: a struct of unnamed bitfields alone has size 0 (a GNU
    // extension), which is no value at all.
    if (!fields.some((f) => f.name !== null)) fields.push({ name: member('f'), shape: { k: 'int', t: rng.pick(INTS) }, qualifier: '' });
    const shape = { k: 'record' as const, union, name: !anonymous && (top || rng.chance(0.5)) ? fresh(union ? 'u' : 's') : null, fields, packed: rng.chance(0.1), typedef: null as string | null };
    if (shape.name) {
      decls.push(`${declareRecord(shape, '')};`);
      if (rng.chance(0.3)) {
        shape.typedef = `${shape.name}_t`;
        decls.push(`typedef ${union ? 'union' : 'struct'} ${shape.name} ${shape.typedef};`);
      }
      named.push(shape);
    }
    return shape;
  };

  const roots: (Shape & { k: 'record' })[] = [];
  const n = rng.range(1, 3);
  for (let i = 0; i < n; i++) {
    const r = record(0, true);
    roots.push(r);
  }
  return { source: decls.join('\n'), roots };
}

function cLiteral(v: bigint, suffix: string): string {
  if (v === -(1n << 63n)) return '(-9223372036854775807LL - 1)';
  return v < 0n ? `(${v}${suffix || ''})` : `${v}${suffix ? `U${suffix}` : 'U'}`;
}

/** The C text of a type used as a member (a named record by name, an anonymous one inline). */
function typeName(shape: Shape): string {
  switch (shape.k) {
    case 'int':
      return shape.t.c;
    case 'bool':
      return '_Bool';
    case 'float':
      return shape.size === 4 ? 'float' : 'double';
    case 'ptr':
      return 'void *';
    case 'enum':
      return `enum ${shape.name}`;
    case 'chars':
      return 'char';
    case 'bytes':
      return 'unsigned char';
    case 'array':
      return typeName(shape.elem);
    case 'record':
      if (shape.typedef) return shape.typedef;
      return shape.name ? `${shape.union ? 'union' : 'struct'} ${shape.name}` : declareRecord(shape, '');
  }
}

function dims(shape: Shape): string {
  if (shape.k === 'chars' || shape.k === 'bytes') return `[${shape.n}]`;
  if (shape.k === 'array') return `[${shape.n}]${dims(shape.elem)}`;
  return '';
}

function declareRecord(shape: Shape & { k: 'record' }, _indent: string): string {
  const members = shape.fields.map((f) => {
    if (f.bits !== undefined) return `${f.shape.k === 'int' ? f.shape.t.c : 'int'} ${f.name ?? ''} : ${f.bits};`;
    if (f.name === null) return `${declareRecord(f.shape as Shape & { k: 'record' }, '')};`;
    return `${f.qualifier}${typeName(f.shape)} ${f.name}${dims(f.shape)};`;
  });
  return `${shape.union ? 'union' : 'struct'}${shape.name ? ` ${shape.name}` : ''} { ${members.join(' ')} }${shape.packed ? ' __attribute__((packed))' : ''}`;
}

/** The C declaration of a global of the root type (keeps the type in the object's BTF). */
export function rootType(shape: Shape & { k: 'record' }): string {
  return shape.typedef ?? `${shape.union ? 'union' : 'struct'} ${shape.name}`;
}

// --- values ---------------------------------------------------------------------------

export interface Assignment {
  path: string; // C lvalue under the root variable
  c: string; // statement(s), with $ standing for the lvalue
}

/** A random value of `shape` (what the codec should accept and give back), and the C to set it. */
export function randomValue(rng: Rng, shape: Shape, path: string, out: Assignment[]): unknown {
  switch (shape.k) {
    case 'int':
      return intValue(rng, shape.t.size * 8, shape.t.signed, shape.t.size === 8, path, out);
    case 'bool': {
      const v = rng.chance(0.5);
      out.push({ path, c: `$ = ${v ? 1 : 0};` });
      return v;
    }
    case 'float': {
      let v = rng.pick([0, -0, 1, -1.5, 0.25, rng.float() * 1e6 - 5e5, (rng.float() - 0.5) * 1e-3, 3.4e38, -1e300]);
      if (shape.size === 4) v = Math.fround(v);
      if (!Number.isFinite(v)) v = 0;
      out.push({ path, c: `$ = ${Object.is(v, -0) ? '-0.0' : v.toPrecision(17)};` });
      return v;
    }
    case 'ptr': {
      const v = rng.bits(64);
      out.push({ path, c: `$ = (void *)0x${v.toString(16)}ULL;` });
      return v;
    }
    case 'enum': {
      const e = rng.pick(shape.values);
      out.push({ path, c: `$ = ${e.name};` });
      return shape.size === 8 ? e.value : Number(e.value);
    }
    case 'chars': {
      const len = rng.below(shape.n + 1);
      let s = '';
      for (let i = 0; i < len; i++) s += String.fromCharCode(rng.range(0x20, 0x7e));
      const escaped = [...s].map((ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
      out.push({ path, c: `memcpy($, "${escaped}", ${len});` });
      return s;
    }
    case 'bytes': {
      const v = Uint8Array.from(rng.bytes(shape.n));
      v.forEach((b, i) => out.push({ path: `${path}[${i}]`, c: `$ = ${b};` }));
      return v;
    }
    case 'array':
      return Array.from({ length: shape.n }, (_, i) => randomValue(rng, shape.elem, `${path}[${i}]`, out));
    case 'record': {
      const value: Record<string, unknown> = {};
      fillRecord(rng, shape, path, value, out);
      return value;
    }
  }
}

function intValue(rng: Rng, bits: number, signed: boolean, big: boolean, path: string, out: Assignment[]): number | bigint {
  const edge = rng.chance(0.3);
  let u = edge ? rng.pick([0n, 1n, (1n << BigInt(bits)) - 1n, 1n << BigInt(bits - 1), (1n << BigInt(bits - 1)) - 1n]) : rng.bits(bits);
  u = BigInt.asUintN(bits, u);
  const v = signed ? BigInt.asIntN(bits, u) : u;
  out.push({ path, c: `$ = ${cLiteral(v, bits > 32 ? 'LL' : '')};` });
  return big ? v : Number(v);
}

/** Sets every field (one member of a union), flattening anonymous members into `value`. */
function fillRecord(rng: Rng, shape: Shape & { k: 'record' }, path: string, value: Record<string, unknown>, out: Assignment[]): void {
  const members = shape.union ? [rng.pick(shape.fields.filter((f) => f.name !== null || f.bits === undefined))].filter(Boolean) : shape.fields;
  for (const f of members) {
    if (f.name === null) {
      if (f.bits === undefined) fillRecord(rng, f.shape as Shape & { k: 'record' }, path, value, out);
      continue;
    }
    const at = `${path}.${f.name}`;
    if (f.bits !== undefined && f.shape.k === 'int') {
      const t = f.shape.t;
      value[f.name] = intValue(rng, f.bits, t.signed, t.size === 8, at, out);
    } else {
      value[f.name] = randomValue(rng, f.shape, at, out);
    }
  }
}

/** The C program printing, per value, sizeof and the bytes of the root variable set to it. */
export function hostProgram(decls: Declarations, values: { root: number; assignments: Assignment[] }[]): string {
  const body = values
    .map(({ root, assignments }) => {
      const t = rootType(decls.roots[root]);
      const sets = assignments.map((a) => a.c.split('$').join(`v.${a.path.replace(/^\./, '')}`)).join('\n    ');
      return `  {\n    ${t} v;\n    memset(&v, 0, sizeof(v));\n    ${sets}\n    dump(&v, sizeof(v));\n  }`;
    })
    .join('\n');
  return `#include <stdio.h>\n#include <string.h>\n${decls.source}\nstatic void dump(const void *p, size_t n) {\n  printf("%zu ", n);\n  for (size_t i = 0; i < n; i++) printf("%02x", ((const unsigned char *)p)[i]);\n  printf("\\n");\n}\nint main(void) {\n${body}\n  return 0;\n}\n`;
}

/** The BPF-side source: the declarations and one global of each root type. */
export function bpfProgram(decls: Declarations): string {
  return `${decls.source}\n${decls.roots.map((r, i) => `${rootType(r)} root${i};`).join('\n')}\n`;
}
