// The soak (bench/soak.ts, `npm run soak`) in its short form: 25 seconds of open / load /
// attach / read / close churn beside a long-lived reader under a flood, then the verdict.
import * as path from 'node:path';
import { LIMITS, type SoakResult, runSoak, summary, verdict } from '../bench/soak';
import { ROOT, runNode } from './helpers/kernel';

let result: SoakResult;
const rows: string[] = [];

beforeAll(async () => {
  result = await runSoak({ durationMs: 25_000, sampleMs: 2_500, log: (line) => rows.push(line) });
  // The table and figures go to the test output, as `npm run soak` prints them.
  console.log(`${rows.join('\n')}\n${summary(result)}`);
}, 120_000);

test('a 25-second soak: the verdict is ok, with nothing left behind', () => {
  expect(result.failures).toEqual([]);
  expect(result.ok).toBe(true);
  expect(result.errors).toEqual([]);
  expect(result.fdsAfter).toBe(result.fdsBefore);
  expect(result.fdsNew).toEqual([]);
  expect(result.leftover).toEqual({ programs: [], maps: [], links: [] });
});

test('the figures are sane: every cycle made kernel objects, every record arrived once, in order', () => {
  expect(result.cycles).toBeGreaterThanOrEqual(5);
  // Each cycle loads one program with its maps and attaches one link (plus warm-up and flood).
  expect(result.made.programs).toBeGreaterThanOrEqual(result.cycles);
  expect(result.made.links).toBeGreaterThanOrEqual(result.cycles);
  expect(result.made.maps).toBeGreaterThanOrEqual(5 * result.cycles);
  expect(result.produced).toBeGreaterThan(0);
  expect(result.received + result.dropped).toBe(result.produced);
  expect(result.received).toBeGreaterThan(0);
  expect(result.outOfOrder).toBe(0);
  // Samples: in time order, counters that only grow, and while running the long-lived
  // flood object is in the kernel (its 3 programs) and open in this process.
  const { samples } = result;
  expect(samples.length).toBeGreaterThanOrEqual(5);
  for (let i = 1; i < samples.length; i++) {
    expect(samples[i].t).toBeGreaterThanOrEqual(samples[i - 1].t);
    expect(samples[i].cycles).toBeGreaterThanOrEqual(samples[i - 1].cycles);
    expect(samples[i].records).toBeGreaterThanOrEqual(samples[i - 1].records);
  }
  for (const s of samples) {
    expect(s.ours.programs).toBeGreaterThanOrEqual(3);
    expect(s.bpfFds.programs).toBeGreaterThanOrEqual(3);
    expect(s.system.programs).toBeGreaterThanOrEqual(s.ours.programs);
    expect(s.rssMiB).toBeGreaterThan(s.heapUsedMiB);
  }
  expect(samples[samples.length - 1].records).toBe(result.received);
  expect(result.heapAtEndMiB - result.heapAfterWarmupMiB).toBeLessThanOrEqual(LIMITS.heapGrowthMiB);
});

test('the verdict fails on growth: fds, kernel objects, heap, RSS, lost records', () => {
  expect(verdict({ ...result, fdsAfter: result.fdsBefore + 1, fdsNew: ['99 -> anon_inode:bpf-map'] })).toEqual([
    `fds: ${result.fdsBefore} before, ${result.fdsBefore + 1} after (new: 99 -> anon_inode:bpf-map)`,
  ]);
  expect(verdict({ ...result, leftover: { programs: [7], maps: [], links: [9] } })).toEqual(['kernel objects left: programs 7, maps , links 9']);
  expect(verdict({ ...result, heapAtEndMiB: result.heapAfterWarmupMiB + LIMITS.heapGrowthMiB + 1 })).toHaveLength(1);
  expect(verdict({ ...result, rssJudged: true, rssSlopeMiBPerMin: 60, rssGrowthMiB: LIMITS.rssGrowthMiB + 1 })).toHaveLength(1);
  expect(verdict({ ...result, rssJudged: true, rssSlopeMiBPerMin: 60, rssGrowthMiB: LIMITS.rssGrowthMiB - 1 })).toEqual([]);
  expect(verdict({ ...result, rssJudged: false, rssSlopeMiBPerMin: 60, rssGrowthMiB: LIMITS.rssGrowthMiB + 1 })).toEqual([]);
  expect(verdict({ ...result, received: result.received - 1 })).toHaveLength(1);
});

test('npm run soak: the table, the summary, the exit code; bad flags are refused', async () => {
  const script = path.join(ROOT, 'dist', 'bench', 'soak.js');
  const r = await runNode(script, ['--duration', '3', '--sample', '1'], { timeoutMs: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^\s*t\(s\)\s+cycles\s+records\s+fds/);
  expect(lines.filter((l) => /^\s*\d+(\.\d+)?\s+\d+\s+\d+\s+\d+\s/.test(l)).length).toBeGreaterThanOrEqual(3);
  expect(r.stdout).toMatch(/^soak: .* churn cycles/m);
  expect(lines[lines.length - 1]).toBe('verdict: ok');
  const bad = await runNode(script, ['--duration', 'soon']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/--duration must be a positive number of seconds, got soon/);
});
