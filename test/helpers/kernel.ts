// Test helpers: fixture paths, triggering syscalls the fixtures trace, fd counting.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';

export const ROOT = path.resolve(__dirname, '..', '..');
export const BPF_DIR = path.join(ROOT, 'build-bpf');

/** A compiled fixture or example object: build-bpf/<name>.bpf.o. */
export function fixture(name: string): string {
  const file = path.join(BPF_DIR, `${name}.bpf.o`);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm run build:bpf`);
  return file;
}

/** Calls getpriority() n times from this process (os.getPriority() is a direct syscall). */
export function getpriority(n: number): void {
  for (let i = 0; i < n; i++) os.getPriority(0);
}

/** Calls getuid() n times from this process. */
export function getuid(n: number): void {
  for (let i = 0; i < n; i++) process.getuid?.();
}

/** Open file descriptors of this process. */
export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** BPF programs, maps, links and perf events this process holds open, by fd kind. */
export function bpfFdKinds(): { progs: number; maps: number; links: number; perf: number } {
  const out = { progs: 0, maps: 0, links: 0, perf: 0 };
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target === 'anon_inode:bpf-prog') out.progs++;
    else if (target === 'anon_inode:bpf-map') out.maps++;
    else if (target === 'anon_inode:bpf_link') out.links++;
    else if (target === 'anon_inode:[perf_event]') out.perf++;
  }
  return out;
}

/** Runs a JS file with node (the same EBPF_NATIVE build), resolving with its output and exit code. */
export function runNode(
  script: string,
  args: string[] = [],
  options: { nodeArgs?: string[]; timeoutMs?: number; env?: NodeJS.ProcessEnv; wrapper?: string[] } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const argv = [...(options.nodeArgs ?? []), script, ...args];
    const [cmd, ...cmdArgs] = options.wrapper ? [...options.wrapper, process.execPath, ...argv] : [process.execPath, ...argv];
    const child = spawn(cmd, cmdArgs, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The compiled library (dist/), for scripts run in child processes. */
export const DIST_INDEX = path.join(ROOT, 'dist', 'lib', 'index.js');

/** Whether a command exists on PATH. */
export function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const scriptDirs: string[] = [];

/** Writes a throwaway script for a child process and returns its path (removed after the file's tests). */
export function writeScript(name: string, source: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ebpf-test-'));
  fs.chmodSync(dir, 0o755); // readable by the unprivileged users some tests run as
  scriptDirs.push(dir);
  const file = path.join(dir, name);
  fs.writeFileSync(file, source);
  return file;
}

afterAll(() => {
  for (const dir of scriptDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** Polls `check` until it holds, for what the kernel does after an RCU grace period or in a
 * worker (freeing ids, tearing down perf events); no duration is asserted. */
export async function eventually(check: () => boolean, tries = 300): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

/**
 * Two network namespaces of this process (names with its pid) joined by a veth pair, each
 * end up with its address (198.18.0.0/15), `lo` up; `remove()` deletes both namespaces and
 * with them the pair and whatever was attached to it. `short` (2 letters) tells the users
 * apart in interface names (at most 15 characters).
 */
export function netnsVethPair(short: string, addresses: [string, string]) {
  const tag = `${process.pid % 100000}`;
  const pair = { nsA: `ebpf-${short}a-${tag}`, nsB: `ebpf-${short}b-${tag}`, ifA: `${short}a${tag}`, ifB: `${short}b${tag}` };
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  ip('netns', 'add', pair.nsA);
  ip('netns', 'add', pair.nsB);
  ip('link', 'add', pair.ifA, 'netns', pair.nsA, 'type', 'veth', 'peer', 'name', pair.ifB, 'netns', pair.nsB);
  for (const [ns, dev, address] of [
    [pair.nsA, pair.ifA, addresses[0]],
    [pair.nsB, pair.ifB, addresses[1]],
  ]) {
    ip('-n', ns, 'addr', 'add', address, 'dev', dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  const remove = (): string[] => {
    for (const ns of [pair.nsA, pair.nsB]) spawnSync('ip', ['netns', 'del', ns]);
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    return [pair.nsA, pair.nsB].filter((ns) => left.includes(ns));
  };
  return { ...pair, remove };
}
