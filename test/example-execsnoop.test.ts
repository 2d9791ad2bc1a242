import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from './helpers/kernel';

const TOOL = path.join(ROOT, 'dist', 'examples', 'execsnoop', 'execsnoop.js');

/** Runs execsnoop with `args`, runs `trigger` once its header is out, and returns its lines. */
async function execsnoop(args: string[], trigger: () => void, until: (lines: string[]) => boolean): Promise<{ lines: string[]; code: number | null }> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [TOOL, ...args], { env: process.env });
  let out = '';
  let err = '';
  let triggered = false;
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ lines: string[]; code: number | null }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGINT'), 15000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n').filter(Boolean);
      if (!triggered && lines.length >= 1) {
        triggered = true;
        trigger();
      }
      if (triggered && until(lines.slice(1)) && !child.killed) child.kill('SIGINT'); // once
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ lines: out.split('\n').filter(Boolean), code });
    });
  });
  const result = await done;
  expect(err).toBe('');
  return result;
}

const run = (cmd: string, args: string[] = [], opts: { uid?: number } = {}) => spawnSync(cmd, args, { stdio: 'ignore', ...opts });

describe('examples/execsnoop', () => {
  test('prints a line for /bin/true, with pid, ppid and return value', async () => {
    let child = 0;
    const { lines, code } = await execsnoop(
      [],
      () => {
        child = run('/bin/true').pid ?? 0;
      },
      (l) => l.some((x) => /^true\s/.test(x)),
    );
    expect(code).toBe(0); // SIGINT ends it cleanly
    expect(lines[0]).toMatch(/^PCOMM\s+PID\s+PPID\s+RET ARGS$/);
    const row = lines.find((l) => /^true\s/.test(l))!;
    const [comm, pid, ppid, ret, ...args] = row.split(/\s+/);
    expect([comm, Number(pid), Number(ppid), ret, args.join(' ')]).toEqual(['true', child, process.pid, '0', '/bin/true']);
  });

  test('-x adds failed execs with their error, which are hidden by default', async () => {
    const missing = '/nonexistent/ebpf-test-binary';
    const trigger = () => {
      run(missing);
      run('/bin/echo', ['marker-x']);
    };
    const seen = (l: string[]) => l.some((x) => x.includes('marker-x'));
    const plain = await execsnoop([], trigger, seen);
    expect(plain.lines.some((l) => l.includes(missing))).toBe(false);
    const withFails = await execsnoop(['-x'], trigger, seen);
    const failed = withFails.lines.find((l) => l.includes(missing))!;
    expect(failed.split(/\s+/)[3]).toBe('-2'); // -ENOENT
  });

  test('-u traces one user only; -U prints the UID column', async () => {
    const { lines } = await execsnoop(
      ['-u', '65534', '-U'],
      () => {
        run('/bin/echo', ['as-root']);
        run('/bin/echo', ['as-nobody'], { uid: 65534 });
      },
      (l) => l.some((x) => x.includes('as-nobody')),
    );
    expect(lines[0]).toMatch(/^UID\s+PCOMM/);
    expect(lines.some((l) => l.includes('as-root'))).toBe(false);
    expect(lines.find((l) => l.includes('as-nobody'))).toMatch(/^65534\s+echo\s/);
  });

  test('-n filters by regular expression; -t adds a timestamp; -q quotes', async () => {
    const { lines } = await execsnoop(
      ['-n', 'keep-me', '-t', '-q'],
      () => {
        run('/bin/echo', ['drop-me']);
        run('/bin/echo', ['keep-me', 'two words']);
      },
      (l) => l.some((x) => x.includes('keep-me')),
    );
    expect(lines[0]).toMatch(/^TIME\(s\)\s+PCOMM/);
    expect(lines.some((l) => l.includes('drop-me'))).toBe(false);
    const row = lines.find((l) => l.includes('keep-me'))!;
    expect(row).toMatch(/^\d+\.\d{3}\s+echo\s+\d+\s+\d+\s+0 "\/bin\/echo" "keep-me" "two words"$/);
  });

  test('--max-args cuts the argument list and marks it with ...', async () => {
    const { lines } = await execsnoop(
      ['--max-args', '3'],
      () => run('/bin/echo', ['a1', 'a2', 'a3', 'a4', 'maxargs-marker']),
      (l) => l.some((x) => x.startsWith('echo')),
    );
    expect(lines.find((l) => l.startsWith('echo'))).toMatch(/ 0 \/bin\/echo a1 a2 \.\.\.$/);
  });

  test('bad flags print the usage and exit with 2', () => {
    const r = spawnSync(process.execPath, [TOOL, '--max-args', '0'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--max-args must be 1 to 60');
    expect(r.stderr).toContain('usage: execsnoop');
  });
});
