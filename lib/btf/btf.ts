// BTF types as the addon describes them (src-native/btf.cc), with lookups.
import type { NativeBtfType } from '../../typings/native';
import { native } from '../binding';

/** The kernel's BTF_KIND_* numbers. */
export const BtfKind = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

export type BtfKindName = Lowercase<keyof typeof BtfKind>;

const KIND_NAMES = new Map<number, BtfKindName>(Object.entries(BtfKind).map(([k, v]) => [v, k.toLowerCase() as BtfKindName]));

/** INT encoding bits. */
export const BTF_INT_SIGNED = 1;
export const BTF_INT_CHAR = 2;
export const BTF_INT_BOOL = 4;

/** A struct or union member; `bitSize` is non-zero for bitfields. */
export type BtfMember = NonNullable<NativeBtfType['members']>[number];

export type BtfEnumValue = NonNullable<NativeBtfType['values']>[number];

/**
 * One BTF type, as the addon describes it (typings/native.d.ts) with its id and the kind's
 * name. Which fields are set depends on `kind`; `type` is the type this one refers to
 * (pointers, typedefs, modifiers, arrays' elements, vars).
 */
export interface BtfType extends Omit<NativeBtfType, 'kind'> {
  id: number;
  kind: BtfKindName;
}

const MODIFIERS = new Set<BtfKindName>(['typedef', 'volatile', 'const', 'restrict', 'type_tag']);

/** The types of one BTF blob: an object's, or the kernel's (`Btf.kernel()`). */
export class Btf {
  readonly #types: (BtfType | null)[];
  #byName: Map<string, BtfType[]> | undefined;

  /** @internal */
  constructor(raw: (NativeBtfType | null)[]) {
    this.#types = raw.map((t, id) => (t ? { ...t, id, kind: KIND_NAMES.get(t.kind) ?? ('unknown' as BtfKindName) } : null));
  }

  static #kernel = new Map<string, Btf>();

  /** The running kernel's BTF (/sys/kernel/btf/vmlinux), or another BTF file; parsed once. */
  static kernel(path = '/sys/kernel/btf/vmlinux'): Btf {
    let btf = Btf.#kernel.get(path);
    if (!btf) {
      btf = new Btf(native.btfTypes(path));
      Btf.#kernel.set(path, btf);
    }
    return btf;
  }

  /** Number of type ids, including 0 (void). */
  get count(): number {
    return this.#types.length;
  }

  /** The type with this id; 0 (void) and unknown ids are a RangeError. */
  type(id: number): BtfType {
    const t = this.#types[id];
    if (!t) throw new RangeError(`no BTF type with id ${id}`);
    return t;
  }

  /** Every type named `name` (of `kind`, when given). */
  byName(name: string, kind?: BtfKindName): BtfType[] {
    if (!this.#byName) {
      this.#byName = new Map();
      for (const t of this.#types) {
        if (!t || !t.name) continue;
        const list = this.#byName.get(t.name);
        if (list) list.push(t);
        else this.#byName.set(t.name, [t]);
      }
    }
    const all = this.#byName.get(name) ?? [];
    return kind ? all.filter((t) => t.kind === kind) : all;
  }

  /** The one type named `name` that can hold a value (struct, union, enum, typedef, int...). */
  find(name: string, kind?: BtfKindName): BtfType | undefined {
    return this.byName(name, kind).find((t) => t.kind !== 'fwd' && t.kind !== 'func' && t.kind !== 'var');
  }

  /** The type under typedefs and const/volatile/restrict/type_tag modifiers. */
  resolve(id: number): BtfType {
    let t = this.type(id);
    for (let hops = 0; MODIFIERS.has(t.kind); hops++) {
      if (hops > 64 || t.type === undefined) throw new RangeError(`BTF type ${id} does not resolve`);
      if (t.type === 0) throw new TypeError(`BTF type ${id} (${t.name || t.kind}) resolves to void`);
      t = this.type(t.type);
    }
    return t;
  }

  /** Size in bytes of a value of type `id`. */
  sizeOf(id: number): number {
    const t = this.resolve(id);
    switch (t.kind) {
      case 'ptr':
        return 8;
      case 'array':
        return (t.length ?? 0) * this.sizeOf(t.type as number);
      default:
        if (t.size === undefined) throw new TypeError(`BTF type ${id} (${t.kind} ${t.name}) has no size`);
        return t.size;
    }
  }

  /** A C-like name for messages: "struct event", "__u32", "char[16]". */
  describe(id: number): string {
    if (id === 0) return 'void';
    const t = this.type(id);
    switch (t.kind) {
      case 'struct':
      case 'union':
      case 'enum':
      case 'enum64':
        return `${t.kind === 'enum64' ? 'enum' : t.kind} ${t.name || '(anonymous)'}`;
      case 'ptr':
        return `${this.describe(t.type as number)} *`;
      case 'array':
        return `${this.describe(t.type as number)}[${t.length}]`;
      case 'const':
      case 'volatile':
      case 'restrict':
        return `${t.kind} ${this.describe(t.type as number)}`;
      case 'type_tag':
        return this.describe(t.type as number);
      default:
        return t.name || t.kind;
    }
  }
}
