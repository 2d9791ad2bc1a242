// Mutations of real BPF object files (ELF64, little-endian): bit flips, interesting bytes,
// ELF/section header and symbol table fields, relocations, BTF headers and type records,
// string tables, truncation, insertion and deletion, and splices of two objects.
import type { Rng } from './random';

interface Section {
  index: number;
  header: number; // offset of its section header
  name: string;
  type: number;
  offset: number;
  size: number;
  entsize: number;
}

const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHT_REL = 9;
const SHDR_SIZE = 64;

/** The sections of an ELF64 LE image, or [] when its headers are out of bounds. */
export function sections(elf: Buffer): Section[] {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) return [];
  const shoff = Number(elf.readBigUInt64LE(40));
  const shnum = elf.readUInt16LE(60);
  const shstrndx = elf.readUInt16LE(62);
  if (shoff + shnum * SHDR_SIZE > elf.length) return [];
  const out: Section[] = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * SHDR_SIZE;
    out.push({
      index: i,
      header: h,
      name: '',
      type: elf.readUInt32LE(h + 4),
      offset: Number(elf.readBigUInt64LE(h + 24)),
      size: Number(elf.readBigUInt64LE(h + 32)),
      entsize: Number(elf.readBigUInt64LE(h + 56)),
    });
  }
  const strtab = out[shstrndx];
  if (strtab && strtab.offset + strtab.size <= elf.length) {
    for (const s of out) {
      const at = strtab.offset + elf.readUInt32LE(s.header);
      if (at < elf.length) s.name = elf.toString('latin1', at, Math.min(elf.indexOf(0, at), at + 256) >>> 0);
    }
  }
  return out.filter((s) => s.offset + s.size <= elf.length || s.type === 8 /* NOBITS */);
}

/** Values that tend to find off-by-one and overflow bugs, for a field of `bytes` bytes. */
function interesting(rng: Rng, bytes: number): bigint {
  const max = (1n << BigInt(bytes * 8)) - 1n;
  const choices = [0n, 1n, 2n, 7n, 8n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, max, max - 1n, (max >> 1n) + 1n];
  const v = rng.chance(0.7) ? rng.pick(choices) : rng.bits(bytes * 8);
  return BigInt.asUintN(bytes * 8, v);
}

function writeField(elf: Buffer, offset: number, bytes: number, value: bigint): void {
  if (offset < 0 || offset + bytes > elf.length) return;
  if (bytes === 1) elf.writeUInt8(Number(value & 0xffn), offset);
  else if (bytes === 2) elf.writeUInt16LE(Number(value & 0xffffn), offset);
  else if (bytes === 4) elf.writeUInt32LE(Number(value & 0xffffffffn), offset);
  else elf.writeBigUInt64LE(BigInt.asUintN(64, value), offset);
}

/** A field inside a structure at `base`: [offset, width] pairs to pick from. */
function corruptStruct(rng: Rng, elf: Buffer, base: number, fields: [number, number][]): string {
  const [at, width] = rng.pick(fields);
  const value = interesting(rng, width);
  writeField(elf, base + at, width, rng.chance(0.3) ? BigInt.asUintN(width * 8, value + BigInt(rng.range(-2, 2))) : value);
  return `+${at}/${width}=${value}`;
}

const EHDR_FIELDS: [number, number][] = [[4, 1], [5, 1], [16, 2], [18, 2], [20, 4], [40, 8], [52, 2], [58, 2], [60, 2], [62, 2]];
const SHDR_FIELDS: [number, number][] = [[0, 4], [4, 4], [8, 8], [24, 8], [32, 8], [40, 4], [44, 4], [48, 8], [56, 8]];
const SYM_FIELDS: [number, number][] = [[0, 4], [4, 1], [5, 1], [6, 2], [8, 8], [16, 8]];
const REL_FIELDS: [number, number][] = [[0, 8], [8, 4], [12, 4]];
const BTF_HEADER_FIELDS: [number, number][] = [[2, 1], [3, 1], [4, 4], [8, 4], [12, 4], [16, 4], [20, 4]];

/** Byte length of the record that follows a btf_type of this kind and vlen. */
function btfExtra(kind: number, vlen: number): number {
  switch (kind) {
    case 1: // INT
    case 14: // VAR
    case 17: // DECL_TAG
      return 4;
    case 3: // ARRAY
      return 12;
    case 4: // STRUCT
    case 5: // UNION
    case 15: // DATASEC
    case 19: // ENUM64
      return vlen * 12;
    case 6: // ENUM
    case 13: // FUNC_PROTO
      return vlen * 8;
    default:
      return 0;
  }
}

/** Offsets of every type record in a .BTF section, with each record's length (index: type id - 1). */
export function btfTypes(elf: Buffer, btf: Section): { at: number; length: number; kind: number }[] {
  const base = btf.offset;
  if (btf.size < 24 || elf.readUInt16LE(base) !== 0xeb9f) return [];
  const hdrLen = elf.readUInt32LE(base + 4);
  const typeOff = elf.readUInt32LE(base + 8);
  const typeLen = elf.readUInt32LE(base + 12);
  const start = base + hdrLen + typeOff;
  const end = Math.min(start + typeLen, base + btf.size);
  const out: { at: number; length: number; kind: number }[] = [];
  for (let at = start; at + 12 <= end && out.length < 100000; ) {
    const info = elf.readUInt32LE(at + 4);
    const kind = (info >>> 24) & 0x1f;
    const length = 12 + btfExtra(kind, info & 0xffff);
    out.push({ at, length, kind });
    at += length;
  }
  return out;
}

type Mutator = (rng: Rng, elf: Buffer, others: Buffer[]) => { elf: Buffer; what: string };

const same = (elf: Buffer, what: string) => ({ elf, what });

const MUTATORS: Record<string, Mutator> = {
  bitflip(rng, elf) {
    const n = rng.range(1, 8);
    for (let i = 0; i < n; i++) {
      const at = rng.below(elf.length);
      elf[at] ^= 1 << rng.below(8);
    }
    return same(elf, `bitflip x${n}`);
  },
  bytes(rng, elf) {
    const width = rng.pick([1, 2, 4, 8]);
    const at = rng.below(Math.max(1, elf.length - width));
    writeField(elf, at, width, interesting(rng, width));
    return same(elf, `bytes @${at}/${width}`);
  },
  ehdr(rng, elf) {
    return same(elf, `ehdr ${corruptStruct(rng, elf, 0, EHDR_FIELDS)}`);
  },
  shdr(rng, elf) {
    const list = sections(elf);
    if (list.length === 0) return MUTATORS.bitflip(rng, elf, []);
    const s = rng.pick(list);
    return same(elf, `shdr ${s.index}(${s.name}) ${corruptStruct(rng, elf, s.header, SHDR_FIELDS)}`);
  },
  symbol(rng, elf) {
    const symtab = sections(elf).find((s) => s.type === SHT_SYMTAB && s.size >= 24);
    if (!symtab) return MUTATORS.bytes(rng, elf, []);
    const i = rng.below(Math.floor(symtab.size / 24));
    return same(elf, `symbol ${i} ${corruptStruct(rng, elf, symtab.offset + i * 24, SYM_FIELDS)}`);
  },
  reloc(rng, elf) {
    const rels = sections(elf).filter((s) => s.type === SHT_REL && s.size >= 16);
    if (rels.length === 0) return MUTATORS.bytes(rng, elf, []);
    const s = rng.pick(rels);
    const i = rng.below(Math.floor(s.size / 16));
    return same(elf, `reloc ${s.name}[${i}] ${corruptStruct(rng, elf, s.offset + i * 16, REL_FIELDS)}`);
  },
  btfHeader(rng, elf) {
    const btf = sections(elf).find((s) => s.name === '.BTF' || s.name === '.BTF.ext');
    if (!btf || btf.size < 24) return MUTATORS.bytes(rng, elf, []);
    return same(elf, `${btf.name} header ${corruptStruct(rng, elf, btf.offset, BTF_HEADER_FIELDS)}`);
  },
  btfType(rng, elf) {
    const btf = sections(elf).find((s) => s.name === '.BTF');
    const types = btf ? btfTypes(elf, btf) : [];
    if (types.length === 0) return MUTATORS.bytes(rng, elf, []);
    const pick = rng.below(types.length);
    const t = types[pick];
    const id = pick + 1;
    const field = rng.below(5);
    if (field === 0) {
      // kind, vlen or kind_flag of info
      const info = elf.readUInt32LE(t.at + 4);
      const choice = rng.below(3);
      const next = choice === 0 ? (info & ~(0x1f << 24)) | (rng.below(32) << 24) : choice === 1 ? (info & ~0xffff) | rng.pick([0, 1, 2, 0xffff, rng.below(0x10000)]) : info ^ 0x80000000;
      elf.writeUInt32LE(next >>> 0, t.at + 4);
      return same(elf, `btf type ${id} info ${info.toString(16)} -> ${(next >>> 0).toString(16)}`);
    }
    if (field === 1) {
      // size or type: self (cycles), void, its neighbours, out of range
      const value = rng.pick([id, 0, id - 1, id + 1, types.length, types.length + 1, 0xffffffff, rng.below(types.length + 2)]);
      elf.writeUInt32LE(value >>> 0, t.at + 8);
      return same(elf, `btf type ${id} size/type -> ${value}`);
    }
    if (field === 2) {
      elf.writeUInt32LE(Number(interesting(rng, 4)), t.at);
      return same(elf, `btf type ${id} name_off`);
    }
    if (t.length > 12) {
      // inside its members / array / enumerators / var secinfos
      const at = t.at + 12 + 4 * rng.below((t.length - 12) / 4);
      const value = rng.chance(0.5) ? rng.pick([id, 0, 1, types.length + 5, 0xffffffff, 0x80000000]) : Number(interesting(rng, 4));
      elf.writeUInt32LE(value >>> 0, at);
      return same(elf, `btf type ${id} record +${at - t.at} -> ${value}`);
    }
    return MUTATORS.bitflip(rng, elf, []);
  },
  strings(rng, elf) {
    const tables = sections(elf).filter((s) => s.type === SHT_STRTAB || s.name === '.BTF');
    if (tables.length === 0) return MUTATORS.bytes(rng, elf, []);
    const s = rng.pick(tables);
    const at = s.offset + rng.below(Math.max(1, s.size));
    const n = rng.range(1, 16);
    const fill = rng.pick([0x00, 0x2f, 0x2e, 0xff, 0x41, -1]);
    for (let i = 0; i < n && at + i < s.offset + s.size; i++) elf[at + i] = fill < 0 ? rng.below(256) : fill;
    return same(elf, `strings ${s.name} @${at - s.offset} x${n}`);
  },
  truncate(rng, elf) {
    const length = rng.chance(0.5) ? rng.below(elf.length) : elf.length - rng.range(1, 64);
    return { elf: elf.subarray(0, Math.max(0, length)), what: `truncate ${length}` };
  },
  insert(rng, elf) {
    const at = rng.below(elf.length);
    const n = rng.range(1, 64);
    return { elf: Buffer.concat([elf.subarray(0, at), rng.bytes(n), elf.subarray(at)]), what: `insert ${n} @${at}` };
  },
  remove(rng, elf) {
    const at = rng.below(elf.length);
    const n = rng.range(1, 64);
    return { elf: Buffer.concat([elf.subarray(0, at), elf.subarray(at + n)]), what: `remove ${n} @${at}` };
  },
  splice(rng, elf, others) {
    const other = rng.pick(others);
    const cut = rng.below(Math.min(elf.length, other.length));
    return { elf: Buffer.concat([elf.subarray(0, cut), other.subarray(cut)]), what: `splice @${cut}` };
  },
  section(rng, elf, others) {
    // A section's bytes replaced by those of the same-named section of another object.
    const mine = sections(elf).filter((s) => s.size > 0 && s.type !== 8);
    if (mine.length === 0) return MUTATORS.splice(rng, elf, others);
    const s = rng.pick(mine);
    const other = rng.pick(others);
    const candidates = sections(other).filter((t) => t.type !== 8);
    const theirs = candidates.find((t) => t.name === s.name) ?? (candidates.length > 0 ? rng.pick(candidates) : undefined);
    if (!theirs) return MUTATORS.bitflip(rng, elf, others);
    const n = Math.min(s.size, theirs.size);
    other.copy(elf, s.offset, theirs.offset, theirs.offset + n);
    return same(elf, `section ${s.name} <- ${theirs.name} (${n} bytes)`);
  },
};

export const MUTATOR_NAMES = Object.keys(MUTATORS);

/** One to three mutations of a copy of `base`; `what` says which, for the report. */
export function mutate(rng: Rng, base: Buffer, others: Buffer[]): { elf: Buffer; what: string[] } {
  let elf: Buffer = Buffer.from(base);
  const what: string[] = [];
  const n = rng.chance(0.6) ? 1 : rng.range(2, 3);
  for (let i = 0; i < n && elf.length > 0; i++) {
    const name = rng.pick(MUTATOR_NAMES);
    const result = MUTATORS[name](rng, elf, others);
    elf = result.elf;
    what.push(result.what);
  }
  return { elf, what };
}
