import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type BpfMap, generateTypes } from '../lib';
import { ROOT, fixture, getpriority } from './helpers/kernel';

const DIR = path.join(__dirname, '.generated');
const GENERATED = path.join(DIR, 'types.gen.ts');

beforeAll(() => {
  fs.mkdirSync(DIR, { recursive: true });
  fs.writeFileSync(GENERATED, generateTypes(fixture('types'), { importFrom: '../../lib' }));
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
    const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
    const args = ['--ignoreConfig', '--noEmit', '--strict', '--target', 'ES2022', '--lib', 'ES2023,esnext.disposable', '--module', 'node16', '--moduleResolution', 'node16', '--types', 'node', '--skipLibCheck', path.join(DIR, 'usage.ts')];
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
  });
});
