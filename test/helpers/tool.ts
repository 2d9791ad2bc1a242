// Running an example tool (dist/examples/<name>/<name>.js) as a child process: wait for
// lines of its output while the test makes activity, then end it with Ctrl-C (SIGINT).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from './kernel';

/** The compiled example tool `name`. */
export const toolPath = (name: string): string => path.join(ROOT, 'dist', 'examples', name, `${name}.js`);

export interface ToolRun {
  /** The tool's pid (of the wrapper, when there is one). */
  readonly pid: number;
  /** Its standard output so far. */
  stdout(): string;
  /** Resolves with the output once `until(stdout)` holds; rejects when the tool ends first or after timeoutMs. */
  waitFor(until: (stdout: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves when the tool has ended by itself. */
  exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Sends `signal` (SIGINT: Ctrl-C) and resolves when the tool has ended. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Starts tool `name` with `args` (through `wrapper`, e.g. ip netns exec NS). */
export function startTool(name: string, args: string[], options: { wrapper?: string[] } = {}): ToolRun {
  const argv = [...(options.wrapper ?? []), process.execPath, toolPath(name), ...args];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const wake = (): void => waiters.forEach((w) => w());
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    wake();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      resolve({ code, signal });
      wake();
    }),
  );
  // Never leave a tool behind when a test fails.
  const guard = setTimeout(() => child.kill('SIGKILL'), 60000);
  ended.then(() => clearTimeout(guard));
  return {
    pid: child.pid ?? 0,
    stdout: () => stdout,
    waitFor(until, timeoutMs = 20000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`${name}: timed out waiting for output; stdout:\n${stdout}\nstderr:\n${stderr}`)), timeoutMs);
        const check = (): void => {
          if (until(stdout)) finish();
          else if (child.exitCode !== null || child.signalCode !== null) finish(new Error(`${name} ended first (${child.exitCode ?? child.signalCode}); stdout:\n${stdout}\nstderr:\n${stderr}`));
        };
        const finish = (error?: Error): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve(stdout);
        };
        waiters.add(check);
        check();
      });
    },
    async exit() {
      const end = await ended;
      return { ...end, stdout, stderr };
    },
    async stop(signal = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const end = await ended;
      return { ...end, stdout, stderr };
    },
  };
}

/** The lines of `text` with their columns split on runs of spaces. */
export function rows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => l.trim().split(/\s+/));
}

/** Runs tool `name` to its end and expects it to fail: exit `status` (2: a bad command line, with the usage) and `message` on stderr. */
export function expectToolError(name: string, args: string[], status: 1 | 2, message: string): void {
  const r = spawnSync(process.execPath, [toolPath(name), ...args], { encoding: 'utf8' });
  expect(r.stderr).toContain(`${name}: ${message}`);
  if (status === 2) expect(r.stderr).toContain(`usage: ${name}`);
  expect(r.status).toBe(status);
}

const buildDirs: string[] = [];

/** Compiles C `source` with the host's cc into an executable called `name` (removed after the file's tests). */
export function compileC(name: string, source: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-example-${process.pid}-`));
  buildDirs.push(dir);
  fs.writeFileSync(path.join(dir, `${name}.c`), source);
  execFileSync('cc', ['-O0', '-o', path.join(dir, name), path.join(dir, `${name}.c`)]);
  return path.join(dir, name);
}

afterAll(() => {
  for (const dir of buildDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});
