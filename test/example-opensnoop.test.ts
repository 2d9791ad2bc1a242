// examples/opensnoop against opens this test makes: a file of its own (unique path), and
// one that does not exist.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runNode } from './helpers/kernel';
import { expectToolError, startTool, toolPath } from './helpers/tool';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-opensnoop-${process.pid}-`));
const file = path.join(dir, 'present');
const missing = path.join(dir, 'missing');
fs.writeFileSync(file, 'x');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** opensnoop's row: PID COMM FD ERR PATH. */
const row = (pid: number, comm: string, fd: number, err: number, p: string) =>
  `${String(pid).padStart(7)} ${comm.padEnd(16)} ${String(fd).padStart(4)} ${String(err).padStart(3)} ${p}`;
const HEADER = '    PID COMM               FD ERR PATH';
const cat = (p: string) => spawnSync('cat', [p], { stdio: 'ignore' }).pid ?? 0;
const lines = (out: string) => out.split('\n').filter(Boolean);

describe('examples/opensnoop', () => {
  test('prints the exact line of an open, and the failed one with its errno; Ctrl-C ends it with 0', async () => {
    const tool = startTool('opensnoop', []);
    await tool.waitFor((out) => out.includes('PATH\n'));
    const ok = cat(file);
    const bad = cat(missing);
    await tool.waitFor((out) => out.includes(` ${missing}\n`));
    const r = await tool.stop();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const out = lines(r.stdout);
    expect(out[0]).toBe(HEADER);
    expect(out).toContain(row(ok, 'cat', 3, 0, file));
    expect(out).toContain(row(bad, 'cat', -1, 2, missing)); // ENOENT
  });

  test('-x prints failed opens only', async () => {
    const tool = startTool('opensnoop', ['-x']);
    await tool.waitFor((out) => out.includes('PATH\n'));
    cat(file);
    const bad = cat(missing);
    await tool.waitFor((out) => out.includes(` ${missing}\n`));
    const r = await tool.stop();
    expect(r.code).toBe(0);
    const out = lines(r.stdout).slice(1);
    expect(out).toContain(row(bad, 'cat', -1, 2, missing));
    expect(out.some((l) => l.endsWith(` ${file}`))).toBe(false);
    expect(out.every((l) => / -1 +\d+ /.test(l))).toBe(true);
  });

  test('-p traces one process only', async () => {
    // The process exists (waiting on its stdin) before opensnoop starts, then opens.
    const target = spawn('sh', ['-c', `read go; cat ${missing} 2>/dev/null; exec cat ${file}`], { stdio: ['pipe', 'ignore', 'ignore'] });
    const pid = target.pid!;
    try {
      const tool = startTool('opensnoop', ['-p', String(pid)]);
      await tool.waitFor((out) => out.includes('PATH\n'));
      cat(file); // another process: not shown
      target.stdin.end('go\n');
      await tool.waitFor((out) => out.includes(` ${file}\n`));
      const r = await tool.stop();
      expect(r.code).toBe(0);
      const out = lines(r.stdout).slice(1);
      expect(out).toContain(row(pid, 'cat', 3, 0, file)); // the same pid after exec
      expect(out.every((l) => l.trimStart().startsWith(`${pid} `))).toBe(true);
    } finally {
      target.kill('SIGKILL');
    }
  });

  test('-n keeps the commands whose name contains NAME', async () => {
    const tool = startTool('opensnoop', ['-n', 'cat']);
    await tool.waitFor((out) => out.includes('PATH\n'));
    spawnSync('head', ['-c1', file], { stdio: 'ignore' });
    const ok = cat(file);
    await tool.waitFor((out) => out.includes(` ${file}\n`));
    const r = await tool.stop();
    const out = lines(r.stdout).slice(1);
    expect(out).toContain(row(ok, 'cat', 3, 0, file));
    expect(out.every((l) => l.split(/\s+/)[2].includes('cat'))).toBe(true);
  });

  test('-d ends it by itself after the duration', async () => {
    // Opens from this process all along; opensnoop sees those made while it runs.
    const timer = setInterval(() => fs.closeSync(fs.openSync(file, 'r')), 50);
    try {
      const r = await runNode(toolPath('opensnoop'), ['-d', '1', '-p', String(process.pid)]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      const out = lines(r.stdout);
      expect(out[0]).toBe(HEADER);
      expect(out.length).toBeGreaterThan(1);
      expect(out.slice(1).every((l) => l.trimStart().startsWith(`${process.pid} `) && l.endsWith(` ${file}`))).toBe(true);
    } finally {
      clearInterval(timer);
    }
  });

  test('bad flags print the usage and exit with 2; -h prints it and exits with 0', () => {
    expectToolError('opensnoop', ['-p', 'me'], 2, "--pid must be an integer from 1 to 1073741823, got 'me'");
    expectToolError('opensnoop', ['--bogus'], 2, "Unknown option '--bogus'");
    const help = spawnSync(process.execPath, [toolPath('opensnoop'), '-h'], { encoding: 'utf8' });
    expect([help.status, help.stdout.split('\n')[0]]).toEqual([0, 'usage: opensnoop [-h] [-p PID] [-n NAME] [-x] [-T] [-U] [-d SECONDS]']);
  });
});
