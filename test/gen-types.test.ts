import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type BpfMap, generateTypes } from '../lib';
import { ROOT, fixture, getpriority } from './helpers/kernel';

const DIR = path.join(__dirname, '.generated');
const GENERATED = path.join(DIR, 'types.gen.ts');
const NUMBERS = path.join(DIR, 'types-number.gen.ts');

beforeAll(() => {
  fs.mkdirSync(DIR, { recursive: true });
  fs.writeFileSync(GENERATED, generateTypes(fixture('types'), { importFrom: '../../lib' }));
  fs.writeFileSync(NUMBERS, generateTypes(fixture('types'), { importFrom: '../../lib', int64: 'number' }));
});
afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));

describe('ebpf gen types', () => {
  test('output is deterministic and stable', () => {
    const text = generateTypes(fixture('types'));
    expect(generateTypes(fixture('types'))).toBe(text);
    expect(text).toMatchSnapshot();
  });

  test('the CLI writes the same file', () => {
    const out = path.join(DIR, 'cli.ts');
    execFileSync(process.execPath, [path.join(ROOT, 'dist', 'lib', 'cli.js'), 'gen', 'types', fixture('types'), '-o', out]);
    expect(fs.readFileSync(out, 'utf8')).toBe(generateTypes(fixture('types')));
    execFileSync(process.execPath, [path.join(ROOT, 'dist', 'lib', 'cli.js'), 'gen', 'types', fixture('types'), '--int64', 'number', '-o', out]);
    expect(fs.readFileSync(out, 'utf8')).toBe(generateTypes(fixture('types'), { int64: 'number' }));
    const bad = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'lib', 'cli.js'), 'gen', 'types', fixture('types'), '--int64', 'double'], { encoding: 'utf8' });
    expect([bad.status, bad.stderr]).toEqual([1, 'ebpf: --int64 must be bigint or number, got double\n']);
  });

  test("with int64: 'number', exactly the 64-bit integers change type, and open() opens that way", () => {
    const big = generateTypes(fixture('types'));
    const expected = big
      .replace(/\bbigint\b/g, 'number')
      .replace(/^( {2}\w+: \d+)n,$/gm, '$1,') // 64-bit enumerators
      .replace('`await load()`). */', "`await load()`), with 64-bit integers as numbers (int64: 'number'). */")
      .replace('options?: OpenOptions)', "options?: Omit<OpenOptions, 'int64'>)")
      .replace('BpfObject.open(source, options)', "BpfObject.open(source, { ...options, int64: 'number' })");
    expect(expected).not.toBe(big);
    expect(generateTypes(fixture('types'), { int64: 'number' })).toBe(expected);
    expect(() => generateTypes(fixture('types'), { int64: 'float' as 'number' })).toThrow(new TypeError("int64 must be 'bigint' or 'number', got float"));
  });

  test('generated types compile with tsc --strict against real usage, and catch misuse', () => {
    fs.writeFileSync(
      path.join(DIR, 'usage.ts'),
      `import { open, color, type record, type inner } from './types.gen';
export async function use(): Promise<bigint> {
  using skel = open('types.bpf.o');
  skel.globals.set('multiplier', 5).set('greeting', 'hey');
  await skel.load();
  const r: record | undefined = skel.maps.records.get(1);
  const name: string | undefined = r?.name;
  skel.maps.colors.set(0, color.BLUE);
  const perCpu: bigint[] | undefined = skel.maps.per_cpu_by_inner.get({ a: 1, b: 2, tag: 'x' } satisfies inner);
  void name; void perCpu;
  // @ts-expect-error multiplier is a number
  skel.globals.set('multiplier', 'five');
  // @ts-expect-error no such map
  void skel.maps.nope;
  // @ts-expect-error keys of records are numbers
  skel.maps.records.get('1');
  return skel.globals.get('counter');
}
`,
    );
    fs.writeFileSync(
      path.join(DIR, 'usage-number.ts'),
      `import { open, wide } from './types-number.gen';
export async function use(): Promise<number> {
  using skel = open('types.bpf.o', { enums: 'numbers' });
  await skel.load();
  skel.maps.big_hash.set(1, 2 ** 40);
  const w: number = wide.WIDE_BIG;
  void w;
  // @ts-expect-error the skeleton sets int64 itself
  open('types.bpf.o', { int64: 'bigint' });
  // @ts-expect-error counter is a number here
  const c: bigint = skel.globals.get('counter');
  void c;
  return skel.globals.get('counter');
}
`,
    );
    const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
    const args = ['--ignoreConfig', '--noEmit', '--strict', '--target', 'ES2022', '--lib', 'ES2023,esnext.disposable', '--module', 'node16', '--moduleResolution', 'node16', '--types', 'node', '--skipLibCheck', path.join(DIR, 'usage.ts'), path.join(DIR, 'usage-number.ts')];
    let output = '';
    try {
      execFileSync(tsc, args, { encoding: 'utf8', cwd: ROOT });
    } catch (e) {
      output = (e as { stdout: string }).stdout;
    }
    expect(output).toBe('');
  }, 60_000);

  test('the skeleton works at run time', async () => {
    // The generated module, typed here by what this test uses (tsc checks it above).
    type Skeleton = Disposable & {
      globals: { set(name: string, value: unknown): Skeleton['globals']; get(name: string): unknown };
      maps: { records: BpfMap<number, { name: string }> };
      load(): Promise<void>;
      attach(): Disposable;
    };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const gen = require(GENERATED) as { open(source: string): Skeleton };
    using skel = gen.open(fixture('types'));
    skel.globals.set('target_tgid', process.pid).set('multiplier', 2);
    await skel.load();
    using links = skel.attach();
    void links;
    getpriority(2);
    expect(skel.globals.get('counter')).toBe(4n);
    skel.maps.records.set(9, { name: 'skel' });
    expect(skel.maps.records.get(9)?.name).toBe('skel');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const numbers = require(NUMBERS) as { open(source: string, options?: object): Skeleton };
    using other = numbers.open(fixture('types'), { int64: 'bigint' }); // its own int64 wins
    other.globals.set('target_tgid', process.pid).set('multiplier', 3);
    await other.load();
    using otherLinks = other.attach();
    void otherLinks;
    getpriority(2);
    expect(other.globals.get('counter')).toBe(6);
  });
});
