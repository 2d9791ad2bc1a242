// The fuzz driver: runs each target's cases in child processes, a batch per child, so that
// a crash (a signal, a sanitizer abort) or a hang is caught and reported with the seed and
// the case index that reproduces it, and the run goes on after it.
//
//   npm run fuzz                                   every target, default budget
//   npm run fuzz -- --seconds 600 --seed 7         a longer run
//   npm run fuzz -- --target elf --seed 7 --case 1234   one case again (prints what it did)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot, removePrivatePaths } from './context';

export const TARGET_NAMES = ['elf', 'codec', 'api'] as const;
export type Target = (typeof TARGET_NAMES)[number];

export interface FuzzOptions {
  seed: number;
  targets: readonly Target[];
  /** Cases per target (an upper bound when `seconds` is set). */
  cases: number;
  /** Wall-clock budget per target, in seconds (0: none). */
  seconds: number;
  /** Cases per child process. */
  batch: number;
  /** Seconds without progress before a case counts as hung. */
  caseTimeout: number;
  /** Fraction of mutated objects also loaded into the kernel. */
  loadRate: number;
  /** Print every outcome kind in the summary, not the 8 most frequent. */
  verbose?: boolean;
  /** Only this case index (reproduction). */
  only?: number;
  log?: (line: string) => void;
}

export interface FuzzFinding {
  target: Target;
  seed: number;
  index: number;
  kind: 'error' | 'crash' | 'hang';
  message: string;
  what: string;
}

export interface TargetReport {
  target: Target;
  cases: number;
  outcomes: Record<string, number>;
  findings: FuzzFinding[];
  seconds: number;
}

interface BatchResult {
  finished: number[];
  outcomes: string[];
  findings: FuzzFinding[];
  /** The case that was running when the child died or hung, if it did. */
  died?: number;
}

function childScript(): string {
  const file = path.join(packageRoot(__dirname), 'dist', 'fuzz', 'child.js');
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm run build:ts`);
  return file;
}

/** Network namespaces keep attachments made by cases (XDP, tc on ifindex 1...) off the host's interfaces. */
function wrapper(): string[] {
  return fs.existsSync('/usr/bin/unshare') && process.getuid?.() === 0 ? ['/usr/bin/unshare', '--net', '--'] : [];
}

function runBatch(options: FuzzOptions, target: Target, from: number, count: number): Promise<BatchResult> {
  return new Promise((resolve, reject) => {
    const request = JSON.stringify({ target, seed: options.seed, from, count, loadRate: options.loadRate });
    const argv = [...wrapper(), process.execPath, childScript(), request];
    const env = { ...process.env, EBPF_FUZZ_PRIVATE_NET: argv[0] === process.execPath ? '0' : '1' };
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
    const result: BatchResult = { finished: [], outcomes: [], findings: [] };
    const what = new Map<number, string>();
    let running = -1;
    let ended = false;
    let hung = false;
    let stderr = '';
    let pending = '';
    let timer: NodeJS.Timeout;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, options.caseTimeout * 1000);
    };
    arm();
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        arm();
        if (line === 'end') {
          ended = true;
          continue;
        }
        const [kind, index, text = ''] = line.split('\t');
        const i = Number(index);
        if (kind === 'start') running = i;
        else if (kind === 'what') what.set(i, text);
        else if (kind === 'done') {
          result.finished.push(i);
          result.outcomes.push(text);
          running = -1;
        } else if (kind === 'finding') {
          result.findings.push({ target, seed: options.seed, index: i, kind: 'error', message: text, what: what.get(i) ?? '' });
          if (i >= 0) result.finished.push(i);
          running = -1;
        }
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-8000);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (child.pid !== undefined) removePrivatePaths(child.pid);
      // A child that dies before its first case (the addon does not load, the harness
      // throws) is the harness's failure, not a finding of the cases: stop.
      if (!ended && running < 0 && result.finished.length === 0 && result.findings.every((f) => f.index < 0)) {
        reject(new Error(`the fuzz child failed before its first case: ${result.findings.map((f) => f.message).join('; ')}\n${stderr}`));
        return;
      }
      if (!ended || code !== 0) {
        const index = running >= 0 ? running : from + result.finished.length;
        const kind = hung ? 'hang' : 'crash';
        const how = hung ? `no progress for ${options.caseTimeout} s` : signal ? `killed by ${signal}` : `exit code ${code}`;
        const tail = stderr.trim().split('\n').slice(-12).join('\n    ');
        result.findings.push({ target, seed: options.seed, index, kind, message: `${how}${tail ? `\n    ${tail}` : ''}`, what: what.get(index) ?? '' });
        result.died = index;
      }
      resolve(result);
    });
  });
}

export async function fuzzTarget(options: FuzzOptions, target: Target): Promise<TargetReport> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const report: TargetReport = { target, cases: 0, outcomes: {}, findings: [], seconds: 0 };
  let next = options.only ?? 0;
  const end = options.only !== undefined ? options.only + 1 : options.cases;
  while (next < end) {
    if (options.seconds > 0 && (Date.now() - started) / 1000 >= options.seconds) break;
    const count = Math.min(options.batch, end - next);
    const batch = await runBatch(options, target, next, count);
    report.cases += batch.finished.length + (batch.died !== undefined ? 1 : 0);
    for (const outcome of batch.outcomes) {
      // a case may report several outcomes (one per call), comma-separated
      for (const part of outcome.split(',')) {
        const key = part.trim().split(' ').slice(0, 3).join(' ');
        report.outcomes[key] = (report.outcomes[key] ?? 0) + 1;
      }
    }
    for (const f of batch.findings) {
      report.findings.push(f);
      log(`FINDING ${f.target} seed ${f.seed} case ${f.index} (${f.kind}): ${f.message}${f.what ? `\n    input: ${f.what}` : ''}`);
    }
    next = batch.died !== undefined ? batch.died + 1 : next + count;
    if (batch.died === undefined && batch.finished.length < count) next = end; // the child ran out of cases without a crash
  }
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

export async function fuzz(options: FuzzOptions): Promise<TargetReport[]> {
  const reports: TargetReport[] = [];
  for (const target of options.targets) reports.push(await fuzzTarget(options, target));
  return reports;
}

function parseArgs(argv: string[]): FuzzOptions {
  const options: FuzzOptions = { seed: Date.now() % 1000000, targets: TARGET_NAMES, cases: 1e9, seconds: 60, batch: 200, caseTimeout: 60, loadRate: 0.3 };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return v;
    };
    const number = () => {
      const n = Number(value());
      if (!Number.isFinite(n) || n < 0) throw new Error(`${argv[i - 1]} needs a non-negative number`);
      return n;
    };
    switch (argv[i]) {
      case '--seed':
        options.seed = number();
        break;
      case '--target':
        options.targets = value().split(',').map((t) => {
          if (!(TARGET_NAMES as readonly string[]).includes(t)) throw new Error(`unknown target ${t} (${TARGET_NAMES.join(', ')})`);
          return t as Target;
        });
        break;
      case '--cases':
        options.cases = number();
        break;
      case '--seconds':
        options.seconds = number();
        break;
      case '--batch':
        options.batch = Math.max(1, number());
        break;
      case '--case':
        options.only = number();
        options.seconds = 0;
        break;
      case '--verbose':
        options.verbose = true;
        break;
      case '--load-rate':
        options.loadRate = number();
        break;
      default:
        throw new Error(`unknown option ${argv[i]} (--seed N --target elf,codec,api --cases N --seconds N --batch N --case I --load-rate F)`);
    }
  }
  return options;
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  options.log = (line) => console.log(line);
  const budget = options.only !== undefined ? `case ${options.only}` : options.seconds > 0 ? `${options.seconds} s per target` : `${options.cases} cases per target`;
  console.log(`fuzz: seed ${options.seed}, targets ${options.targets.join(', ')}, ${budget}, ${options.batch} cases per child`);
  const reports = await fuzz(options);
  let findings = 0;
  for (const r of reports) {
    findings += r.findings.length;
    const outcomes = Object.entries(r.outcomes)
      .sort((a, b) => b[1] - a[1])
      .slice(0, options.verbose ? 1000 : 8)
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ');
    console.log(`${r.target}: ${r.cases} cases in ${r.seconds.toFixed(1)} s, ${r.findings.length} findings (${outcomes})`);
  }
  console.log(`fuzz: ${reports.reduce((n, r) => n + r.cases, 0)} cases, ${findings} findings, seed ${options.seed}`);
  if (findings > 0) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error((e as Error).message);
    process.exitCode = 2;
  });
}
