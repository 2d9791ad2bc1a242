import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { btfTypes, sections } from '../fuzz/elf';
import { BpfError, BpfObject, VerifierError } from '../lib';
import { DIST_INDEX, fixture, hasCommand, runNode, writeScript } from './helpers/kernel';

const BTF_KIND_ARRAY = 3;
const BTF_KIND_STRUCT = 4;
const BTF_KIND_UNION = 5;
const BTF_KIND_FUNC = 12;

interface BtfTypeAt {
  /** Where the type starts in the image (name_off, info, then size or type). */
  at: number;
  kind: number;
  type: number;
  members: { name: string; type: number }[];
}

/** The BTF types of an ELF image (fuzz/elf's walk), index = type id (0: void), with their structs' members. */
function btfTypesOf(elf: Buffer): BtfTypeAt[] {
  const btf = sections(elf).find((s) => s.name === '.BTF');
  if (!btf) throw new Error('no .BTF section');
  // The header: magic, version, flags, hdr_len, type_off, type_len, str_off, str_len.
  const strings = btf.offset + elf.readUInt32LE(btf.offset + 4) + elf.readUInt32LE(btf.offset + 16);
  const name = (off: number) => elf.toString('latin1', strings + off, elf.indexOf(0, strings + off));
  const members = (at: number, kind: number) =>
    kind === BTF_KIND_STRUCT || kind === BTF_KIND_UNION
      ? Array.from({ length: elf.readUInt32LE(at + 4) & 0xffff }, (_, i) => ({ name: name(elf.readUInt32LE(at + 12 + 12 * i)), type: elf.readUInt32LE(at + 16 + 12 * i) }))
      : [];
  return [{ at: -1, kind: 0, type: 0, members: [] }, ...btfTypes(elf, btf).map(({ at, kind }) => ({ at, kind, type: elf.readUInt32LE(at + 8), members: members(at, kind) }))];
}

/** Each image, from its bytes and from a file, makes open() throw a BpfError like `fields`. */
function expectOpenToThrow(images: Buffer[], fields: Record<string, unknown>): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ebpf-corrupt-'));
  try {
    for (const image of images) {
      const file = path.join(dir, 'corrupt.bpf.o');
      fs.writeFileSync(file, image);
      for (const input of [image, file]) {
        expect(() => BpfObject.open(input)).toThrow(expect.objectContaining({ name: 'BpfError', operation: 'open', ...fields }));
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('typed errors', () => {
  test('a program the verifier rejects: VerifierError with the verifier log', async () => {
    using obj = BpfObject.open(fixture('verifier_reject'));
    const error = await obj.load().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(VerifierError);
    expect(error).toBeInstanceOf(BpfError);
    const v = error as VerifierError;
    expect(v.operation).toBe('load');
    expect(v.code).toBe('EACCES');
    expect(v.program).toBe('unchecked_lookup');
    expect(v.log).toContain("invalid mem access 'map_value_or_null'");
    expect(v.message).toContain("the verifier rejected program 'unchecked_lookup'");
    expect(v.message).toContain("R0 invalid mem access 'map_value_or_null'");
    expect(obj.loaded).toBe(false);
  });

  test('the rest of a rejected object loads once the bad program is left out', async () => {
    using obj = BpfObject.open(fixture('verifier_reject'));
    obj.program('unchecked_lookup').autoload = false;
    await obj.load();
    expect(obj.program('fine').fd).toBeGreaterThan(2);
  });

  test('a corrupt, truncated or empty ELF is a BpfError, never a crash', () => {
    const good = fs.readFileSync(fixture('events'));
    const cases: [string, Uint8Array][] = [
      ['text', Buffer.from('not an ELF file at all')],
      ['truncated header', good.subarray(0, 40)],
      ['truncated half', good.subarray(0, good.length >> 1)],
      ['empty', new Uint8Array(0)],
    ];
    // Deterministic mutations of the section header table and of random bytes.
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let i = 0; i < 40; i++) {
      const copy = Buffer.from(good);
      for (let j = 0; j < 8; j++) copy[rand() % copy.length] = rand() & 0xff;
      cases.push([`mutation ${i}`, copy]);
    }
    let rejected = 0;
    for (const [, bytes] of cases) {
      try {
        BpfObject.open(bytes).close();
      } catch (e) {
        expect(e).toBeInstanceOf(BpfError);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThanOrEqual(4); // the four hand-made cases at least
    expect(() => BpfObject.open(Buffer.from('garbage'))).toThrow(expect.objectContaining({ code: 'LIBBPF_ERRNO__FORMAT', operation: 'open' }));
  });

  test('an empty .BTF section is a BpfError (found by the ELF fuzzer under UBSan)', () => {
    // libbpf copies the section before it checks its size: a null source of length 0
    // (scripts/ubsan.supp). The header check then rejects it; the object needs its BTF
    // for its .maps section, so open() fails, with the errno libbpf gives.
    const elf = Buffer.from(fs.readFileSync(fixture('privileges')));
    const btf = sections(elf).find((s) => s.name === '.BTF');
    expect(btf).toBeDefined();
    elf.writeBigUInt64LE(0n, btf!.header + 32); // sh_size
    expect(() => BpfObject.open(elf)).toThrow(expect.objectContaining({ name: 'BpfError', code: 'EINVAL', operation: 'open' }));
  });

  test('BTF that names a type past its last, or a name past its strings, is a BpfError, never a crash', () => {
    // libbpf 1.5 rejects both when it opens the object; a system libbpf 1.1 (source builds,
    // the install fallback) followed them and crashed, so the addon checks first there.
    const good = Buffer.from(fs.readFileSync(fixture('events')));
    const func = btfTypesOf(good).find((t) => t.kind === BTF_KIND_FUNC);
    expect(func).toBeDefined();
    const pastTypes = Buffer.from(good);
    pastTypes.writeUInt32LE(0x7fffff00, func!.at + 8); // the FUNC's type: no such type
    const pastStrings = Buffer.from(good);
    pastStrings.writeUInt32LE(0x7ffffff0, func!.at); // the FUNC's name: past the strings
    expectOpenToThrow([pastTypes, pastStrings], { code: 'EINVAL' });
    BpfObject.open(good).close();
  });

  test('a map whose values are larger than the kernel allows is a BpfError at open, not a huge buffer', () => {
    // `__uint(value_size, 4)` of a perf event array is BTF: a member value_size, a pointer
    // to an array of 4 elements (the same type as its key_size's). 8 MiB keys and values are
    // more than any map holds (found by mutating fixtures: a 2.7 GB per-CPU value was a
    // RangeError from Buffer.alloc).
    const good = Buffer.from(fs.readFileSync(fixture('flood')));
    const types = btfTypesOf(good);
    const valueSize = types.flatMap((t) => t.members).find((m) => m.name === 'value_size');
    expect(valueSize).toBeDefined();
    const array = types[types[valueSize!.type].type];
    expect(array.kind).toBe(BTF_KIND_ARRAY);
    expect(good.readUInt32LE(array.at + 20)).toBe(4); // btf_array: type, index_type, nelems
    const huge = Buffer.from(good);
    huge.writeUInt32LE(8 << 20, array.at + 20);
    expectOpenToThrow([huge], { code: 'E2BIG', message: expect.stringMatching(/map 'perf': its (keys|values) are 8388608 bytes, more than the kernel allows/) });
  });

  test('a missing file names the file', () => {
    expect(() => BpfObject.open('/nonexistent/x.bpf.o')).toThrow(expect.objectContaining({ code: 'ENOENT', operation: 'open' }));
    expect(() => BpfObject.open('/nonexistent/x.bpf.o')).toThrow(/no such file: \/nonexistent\/x\.bpf\.o/);
    expect(() => BpfObject.open(42 as unknown as string)).toThrow(TypeError);
  });

  test('unknown program and map names list the names that exist', () => {
    using obj = BpfObject.open(fixture('events'));
    expect(() => obj.program('nope')).toThrow(
      "program: object 'events' has no program 'nope'; it has: 'on_getpriority', 'on_getuid', 'on_sys_enter'",
    );
    expect(() => obj.map('nope')).toThrow(/has no map 'nope'; it has: 'counts', 'events', 'uid_events', 'raw_hits', 'target'/);
    expect(() => obj.map('nope')).toThrow(expect.objectContaining({ code: 'ENOENT', operation: 'map' }));
  });

  test('an unknown tracepoint says so', async () => {
    using obj = BpfObject.open(fixture('events'));
    await obj.load();
    expect(() => obj.program('on_getuid').attachTracepoint('syscalls', 'sys_enter_no_such_call')).toThrow(
      /the kernel has no tracepoint syscalls\/sys_enter_no_such_call/,
    );
  });
});

describe('use after close', () => {
  test('every call on a closed object, its programs, maps and links is a BpfError', async () => {
    const obj = BpfObject.open(fixture('events'));
    await obj.load();
    const map = obj.map('counts');
    const prog = obj.program('on_getuid');
    const link = prog.attach();
    const reader = obj.map('events').ringBuffer();
    obj.close();
    obj.close(); // idempotent
    const closed = expect.objectContaining({ code: 'EBADF' });
    expect(() => obj.map('counts')).toThrow(closed);
    expect(() => obj.programs).toThrow(closed);
    expect(() => map.get(1)).toThrow(closed);
    expect(() => map.set(1, 1n)).toThrow(closed);
    expect(() => [...map.keys()]).toThrow(closed);
    expect(() => map.keySize).toThrow(closed);
    expect(() => prog.fd).toThrow(closed);
    expect(() => prog.attach()).toThrow(closed);
    expect(() => link.fd).toThrow(closed);
    expect(() => reader.drain()).toThrow(closed);
    expect(() => obj.map('events').ringBuffer()).toThrow(closed);
    await expect(obj.load()).rejects.toMatchObject({ code: 'EBADF' });
    link.close(); // closing twice is fine
    reader.close();
    expect(() => map.get(1)).toThrow(/object 'events' is closed/);
  });

  test('closing while load() is in flight rejects the load and leaves nothing behind', async () => {
    const obj = BpfObject.open(fixture('events'));
    const loading = obj.load();
    obj.close();
    await expect(loading).rejects.toMatchObject({ code: 'ECANCELED', operation: 'load' });
    expect(obj.closed).toBe(true);
  });
});

describe('privileges and mounts (child processes)', () => {
  const script = writeScript(
    'attach.js',
    `const { BpfObject } = require(${JSON.stringify(DIST_INDEX)});
(async () => {
  const obj = BpfObject.open(${JSON.stringify(fixture('events'))});
  try { await obj.load(); obj.attach(); console.log('OK'); }
  catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, operation: e.operation, message: e.message })); }
  finally { obj.close(); }
})();`,
  );

  const asNobody = (caps: string[]) => [
    'setpriv',
    '--reuid=65534',
    '--regid=65534',
    '--clear-groups',
    `--inh-caps=-all${caps.map((c) => `,+${c}`).join('')}`,
    `--ambient-caps=-all${caps.map((c) => `,+${c}`).join('')}`,
  ];

  const run = async (wrapper: string[]) => {
    const r = await runNode(script, [], { wrapper });
    expect(r.stderr).toBe('');
    return r.stdout.trim() === 'OK' ? 'OK' : (JSON.parse(r.stdout) as { code: string; operation: string; message: string });
  };

  test('without capabilities, load says which are missing', async () => {
    const r = await run(asNobody([]));
    expect(r).toMatchObject({ code: 'EPERM', operation: 'load' });
    expect((r as { message: string }).message).toContain('missing CAP_BPF, CAP_PERFMON: loading this object needs CAP_BPF and CAP_PERFMON');
  });

  test('with CAP_BPF only, a tracing object says CAP_PERFMON is missing', async () => {
    const r = await run(asNobody(['bpf']));
    expect(r).toMatchObject({ code: 'EPERM', operation: 'load' });
    expect((r as { message: string }).message).toContain('missing CAP_PERFMON');
  });

  (hasCommand('unshare') ? test : test.skip)('without tracefs mounted, attaching a tracepoint says to mount it', async () => {
    const r = await run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'umount /sys/kernel/tracing && exec "$0" "$@"']);
    expect(r).toMatchObject({ code: 'ENOENT', operation: 'attach' });
    expect((r as { message: string }).message).toContain('tracefs is not mounted: mount it with "mount -t tracefs tracefs /sys/kernel/tracing"');
  });
});
