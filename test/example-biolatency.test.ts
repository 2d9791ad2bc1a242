// examples/biolatency against block I/O this test makes: O_DIRECT writes, each synced, to
// a file of its own on the disk that holds the temporary directory.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expectToolError, startTool } from './helpers/tool';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-biolatency-${process.pid}-`));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The whole disk (e.g. vda) under the file system of `dir`, or why there is none. */
function diskOf(p: string): { disk?: string; why?: string } {
  const dev = fs.statSync(p).dev;
  const majmin = `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`;
  const sys = `/sys/dev/block/${majmin}`;
  if (!fs.existsSync(sys)) return { why: `${p} is on ${majmin}, not a block device (tmpfs, overlay or network file system)` };
  const real = fs.realpathSync(sys);
  const disk = fs.existsSync(path.join(real, 'partition')) ? path.basename(path.dirname(real)) : path.basename(real);
  return { disk };
}
const { disk, why } = diskOf(dir);

/** `n` writes of 4 KiB with O_DIRECT, then fsync: at least n requests reach the disk. */
function directWrites(n: number): void {
  execFileSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'data')}`, 'bs=4k', `count=${n}`, 'oflag=direct', 'conv=fsync'], { stdio: 'ignore' });
}

/** Every histogram in the output: bucket lines summed by bucket low bound, and their total. */
function histograms(out: string): { buckets: Map<number, number>; total: number }[] {
  return out
    .split(/\n\n/)
    .filter((block) => /usecs|msecs/.test(block))
    .map((block) => {
      const buckets = new Map<number, number>();
      for (const m of block.matchAll(/^ +(\d+) -> (\d+) +: (\d+) +\|(\**) *\|$/gm)) buckets.set(Number(m[1]), Number(m[3]));
      return { buckets, total: [...buckets.values()].reduce((a, b) => a + b, 0) };
    });
}

/** A test that needs block I/O: skipped, saying why, where the temporary directory has no disk. */
const withDisk = (name: string, fn: () => Promise<void>) => (disk ? test(name, fn) : test.skip(`${name} (skipped: no block device I/O path here: ${why})`, fn));

describe('examples/biolatency', () => {
  withDisk('a histogram of real block I/O, every interval and at Ctrl-C', async () => {
    const tool = startTool('biolatency', ['-d', disk!]);
    await tool.waitFor((out) => out.includes('Ctrl-C to end.\n\n'));
    directWrites(64);
    // The writes are complete: the next histogram (within a second) or the one at exit has them.
    await tool.waitFor((out) => histograms(out).length >= 1);
    const r = await tool.stop();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.startsWith(`Tracing block device I/O on ${disk}... Ctrl-C to end.\n\n`)).toBe(true);
    const all = histograms(r.stdout);
    expect(all.reduce((sum, h) => sum + h.total, 0)).toBeGreaterThanOrEqual(64);
    for (const h of all) {
      // log2 buckets from 0 -> 1, 2 -> 3, ... with the largest count drawn full width.
      expect([...h.buckets.keys()].slice(0, 3)).toEqual([0, 2, 4]);
    }
    expect(r.stdout).toMatch(/\|\*{40}\|/);
  });

  withDisk('INTERVAL COUNT ends by itself after COUNT histograms; -m counts in milliseconds', async () => {
    const tool = startTool('biolatency', ['-m', '-T', '-d', disk!, '1', '2']);
    await tool.waitFor((out) => out.includes('Ctrl-C to end.\n\n'));
    directWrites(16);
    const r = await tool.exit();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const stamps = r.stdout.match(/^\d\d:\d\d:\d\d$/gm) ?? [];
    expect(stamps).toHaveLength(2);
    expect(r.stdout).toContain('     msecs               : count    distribution');
    expect(r.stdout).not.toContain('usecs');
    expect(histograms(r.stdout).reduce((sum, h) => sum + h.total, 0)).toBeGreaterThanOrEqual(16);
  });

  test('an unknown disk is a clear error', () => {
    expectToolError('biolatency', ['-d', 'nosuchdisk'], 2, "no disk 'nosuchdisk' (see /sys/block)");
    expectToolError('biolatency', ['1', '2', '3'], 2, 'too many arguments');
  });
});
