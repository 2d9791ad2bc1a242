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
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ebpf-test-${process.pid}-`));
  fs.chmodSync(dir, 0o755); // readable by the unprivileged users some tests run as
  scriptDirs.push(dir);
  const file = path.join(dir, name);
  fs.writeFileSync(file, source);
  return file;
}

afterAll(() => {
  for (const dir of scriptDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * `test` where the running kernel has a feature; otherwise a skipped test whose name says
 * what this kernel lacks (those run in the QEMU kernel matrix, scripts/test-vm.sh).
 */
export function onlyWith(has: boolean, missing: string): (name: string, fn: () => unknown, timeout?: number) => void {
  if (has) return (name, fn, timeout) => test(name, fn as () => Promise<unknown>, timeout);
  return (name, fn) => test.skip(`${name} [skipped: this kernel (${os.release()}) ${missing}]`, fn as () => void);
}

/** A veth pair between two network namespaces of our own, each end up with its address. */
export interface VethPair {
  nsA: string;
  nsB: string;
  ifA: string;
  ifB: string;
  /** 198.18.<subnet>.1, on ifA in nsA. */
  addrA: string;
  /** 198.18.<subnet>.2, on ifB in nsB. */
  addrB: string;
}

const ipCommand = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

/**
 * Makes two network namespaces and a veth pair between them, named from `name` (at most 3
 * characters) and this process's pid, addressed in 198.18.<subnet>.0/24, loopback up too.
 * Remove them with removeVethPair() in afterAll.
 */
export function createVethPair(name: string, subnet: number): VethPair {
  const tag = `${process.pid % 100000}`;
  const pair: VethPair = {
    nsA: `ebpf-${name}a-${tag}`,
    nsB: `ebpf-${name}b-${tag}`,
    ifA: `${name}a${tag}`,
    ifB: `${name}b${tag}`,
    addrA: `198.18.${subnet}.1`,
    addrB: `198.18.${subnet}.2`,
  };
  ipCommand('netns', 'add', pair.nsA);
  ipCommand('netns', 'add', pair.nsB);
  ipCommand('link', 'add', pair.ifA, 'netns', pair.nsA, 'type', 'veth', 'peer', 'name', pair.ifB, 'netns', pair.nsB);
  ipCommand('-n', pair.nsA, 'addr', 'add', `${pair.addrA}/24`, 'dev', pair.ifA);
  ipCommand('-n', pair.nsB, 'addr', 'add', `${pair.addrB}/24`, 'dev', pair.ifB);
  for (const [ns, dev] of [
    [pair.nsA, pair.ifA],
    [pair.nsB, pair.ifB],
  ]) {
    ipCommand('-n', ns, 'link', 'set', dev, 'up');
    ipCommand('-n', ns, 'link', 'set', 'lo', 'up');
  }
  return pair;
}

/**
 * Deletes both namespaces (and so the veth pair, its qdiscs and whatever was attached to
 * it); returns whether they are gone.
 */
export function removeVethPair(pair: VethPair): boolean {
  for (const ns of [pair.nsA, pair.nsB]) spawnSync('ip', ['netns', 'del', ns]);
  return ![pair.nsA, pair.nsB].some((ns) => fs.existsSync(`/var/run/netns/${ns}`));
}

/** Polls `check` until it holds, for what the kernel does after an RCU grace period or in a
 * worker (freeing ids, tearing down perf events); no duration is asserted. */
export async function eventually(check: () => boolean, tries = 300): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

/** This process's main thread's CPU mask (taskset's hex, commas taken out) and the CPUs in it. */
function allowedCpus(): { mask: string; cpus: number[] } {
  const shown = execFileSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' });
  const mask = /mask: ([0-9a-f,]+)\s*$/.exec(shown)?.[1].replace(/,/g, '');
  if (!mask) throw new Error(`taskset printed no mask: ${shown}`);
  const bits = BigInt(`0x${mask}`);
  const cpus: number[] = [];
  for (let cpu = 0; bits >> BigInt(cpu) !== 0n; cpu++) if (((bits >> BigInt(cpu)) & 1n) === 1n) cpus.push(cpu);
  return { mask, cpus };
}

/** How many CPUs this process's main thread may run on. */
export function usableCpuCount(): number {
  return allowedCpus().cpus.length;
}

/**
 * Keeps this process's main thread (the one JavaScript and BPF_PROG_TEST_RUN run on) on
 * one CPU, the lowest it may use (or the `nth` lowest), until the returned function puts
 * its old mask back. test_run writes perf samples on the CPU it runs on, and the
 * scheduler may move the thread between calls (or within one long call): tests that
 * count or order the samples of one per-CPU ring need them all on one CPU.
 */
export function pinToOneCpu(nth = 0): { cpu: number; restore: () => void } {
  const pid = String(process.pid); // the main thread's tid is the pid
  const { mask, cpus } = allowedCpus();
  const cpu = cpus[nth];
  if (cpu === undefined) throw new Error(`this process may use ${cpus.length} CPUs, not ${nth + 1}`);
  execFileSync('taskset', ['-p', '-c', String(cpu), pid], { stdio: 'ignore' });
  return { cpu, restore: () => execFileSync('taskset', ['-p', mask, pid], { stdio: 'ignore' }) };
}
