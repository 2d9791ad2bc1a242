// A short, seeded, fixed-size run of the fuzz harness (fuzz/): mutated objects through
// open/load, random C shapes through the codecs, wrong arguments through the public API.
// Each case runs in a child process (dist/fuzz/child.js), so a crash is a finding with its
// seed and index, not a dead test run. `npm run fuzz` runs the long version.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type FuzzOptions, type Target, fuzzTarget } from '../fuzz/run';
import { ROOT, hasCommand } from './helpers/kernel';

const SEED = 20261125;
const BUDGET: Record<Target, number> = { elf: 400, codec: 15, api: 300 };

function options(target: Target): FuzzOptions {
  return { seed: SEED, targets: [target], cases: BUDGET[target], seconds: 0, batch: 200, caseTimeout: 60, loadRate: 0.3 };
}

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'fuzz', 'child.js'))) throw new Error('dist/fuzz/child.js is missing: run npm run build:ts');
});

describe.each(['elf', 'api'] as Target[])('fuzz target %s', (target) => {
  test(`${BUDGET[target]} seeded cases end in success or a typed error`, async () => {
    const report = await fuzzTarget(options(target), target);
    expect(report.findings.map((f) => `case ${f.index} (${f.kind}): ${f.message} [${f.what}]`)).toEqual([]);
    expect(report.cases).toBe(BUDGET[target]);
    // The cases reached past the first check: some objects opened (and loaded), some calls succeeded.
    const outcomes = Object.keys(report.outcomes).join(' ');
    expect(outcomes).toMatch(target === 'elf' ? /loaded/ : / ok/);
    expect(outcomes).toMatch(/BpfError|TypeError/);
  });
});

(hasCommand('clang-19') && hasCommand('cc') ? test : test.skip)(`fuzz target codec: ${BUDGET.codec} random C shapes round-trip and match the host layout`, async () => {
  const report = await fuzzTarget(options('codec'), 'codec');
  expect(report.findings.map((f) => `case ${f.index} (${f.kind}): ${f.message} [${f.what}]`)).toEqual([]);
  expect(report.outcomes).toEqual({ ok: BUDGET.codec });
});
