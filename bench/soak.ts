// npm run soak [-- --duration SECONDS] [--sample SECONDS] [--rate RECORDS_PER_S] [--json]
//
// A bounded soak of the package's life cycle (RELIABILITY.md, "Soak"). For --duration
// (default 180 s), at once, on one event loop:
//   - churn: open events.bpf.o, load it, attach its tracepoint, make it report a few
//     syscalls, read them with `for await` and from a map, close it; and open, read and
//     close a perf buffer reader of a long-lived object;
//   - a long-lived ring buffer reader under a steady flood (flood.bpf.o's XDP program run
//     with BPF_PROG_TEST_RUN --rate times a second), checking that every record arrives
//     once, in order.
// Every --sample seconds it records this process's fds, RSS, V8 heap, and the kernel's
// programs, maps and links (those the soak made, and the system's totals), prints a table,
// and ends with a verdict: exit code 1 when something grew (the criteria are in verdict()).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BpfObject, listLinks, listMaps, listPrograms } from 'ebpf';

export interface SoakOptions {
  /** How long the loops run, in ms. */
  durationMs: number;
  /** Sampling period, in ms (default: a twentieth of the duration, from 1 s to 10 s). */
  sampleMs?: number;
  /** Records a second into the long-lived reader's ring (default 50,000). */
  rate?: number;
  /** Where each sample's table row goes as it is taken (default: nowhere). */
  log?: (line: string) => void;
}

export interface KernelCounts {
  programs: number;
  maps: number;
  links: number;
}

export interface SoakSample {
  /** Seconds since the start. */
  t: number;
  /** Churn cycles done so far. */
  cycles: number;
  /** Records the long-lived reader received so far. */
  records: number;
  /** Open fds of this process, and those that are BPF programs, maps and links. */
  fds: number;
  bpfFds: KernelCounts;
  rssMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
  /** Kernel objects the soak made that the kernel still has. */
  ours: KernelCounts;
  /** All the kernel's programs, maps and links (other processes' too). */
  system: KernelCounts;
}

export interface SoakResult {
  ok: boolean;
  /** Why the verdict is a failure (empty when ok). */
  failures: string[];
  samples: SoakSample[];
  durationS: number;
  /** Churn cycles (object open → load → attach → read → close), and their errors. */
  cycles: number;
  errors: string[];
  /** The long-lived reader: records produced, received, lost by the BPF side (ring full). */
  produced: number;
  received: number;
  dropped: number;
  /** Records that came out of order or twice (must be 0). */
  outOfOrder: number;
  /** fds before the loops (after a warm-up cycle) and after everything was closed. */
  fdsBefore: number;
  fdsAfter: number;
  /** fds open at the end that were not at the start (or are something else now). */
  fdsNew: string[];
  /** Ids of kernel objects the soak made, and those still in the kernel at the end. */
  made: KernelCounts;
  leftover: { programs: number[]; maps: number[]; links: number[] };
  /** Least-squares RSS slope over the samples after warm-up, and the growth it means over them. */
  rssSlopeMiBPerMin: number;
  rssGrowthMiB: number;
  /**
   * Whether RSS is judged: not under AddressSanitizer (scripts/asan.sh preloads it), whose
   * quarantine keeps freed memory for a while, so RSS climbs by design.
   */
  rssJudged: boolean;
  /** V8 heap in use after a full GC: after warm-up and at the end. */
  heapAfterWarmupMiB: number;
  heapAtEndMiB: number;
}

const MiB = 1024 * 1024;
const PACKET = Buffer.alloc(64);

/** The package root: the nearest directory above this file with build-bpf/ (dist/bench or bench/). */
function packageRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'build-bpf'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no build-bpf/ above ${__dirname}: run npm run build:bpf`);
  }
}

function objectPath(name: string): string {
  const file = path.join(packageRoot(), 'build-bpf', `${name}.bpf.o`);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm run build:bpf`);
  return file;
}

/** A full garbage collection, with or without --expose-gc. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** This process's fds and what they are ("anon_inode:bpf-map", "pipe:[1234]", a path...). */
function openFds(): Map<string, string> {
  const out = new Map<string, string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      out.set(fd, fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // the fd of readdir itself
    }
  }
  return out;
}

function bpfFds(): { total: number; kinds: KernelCounts } {
  const kinds = { programs: 0, maps: 0, links: 0 };
  const fds = openFds();
  for (const target of fds.values()) {
    if (target === 'anon_inode:bpf-prog') kinds.programs++;
    else if (target === 'anon_inode:bpf-map') kinds.maps++;
    else if (target === 'anon_inode:bpf_link') kinds.links++;
  }
  return { total: fds.size, kinds };
}

/** Ids of the kernel objects the soak made. */
class Made {
  readonly programs = new Set<number>();
  readonly maps = new Set<number>();
  readonly links = new Set<number>();

  addObject(obj: BpfObject): void {
    for (const p of obj.programs) if (p.autoload) this.programs.add(p.info.id);
    for (const m of obj.maps) this.maps.add(m.info.id);
  }

  /** Which of them the kernel still lists. */
  present(): { programs: number[]; maps: number[]; links: number[]; system: KernelCounts } {
    const programs = listPrograms().map((p) => p.id);
    const maps = listMaps().map((m) => m.id);
    const links = listLinks().map((l) => l.id);
    return {
      programs: programs.filter((id) => this.programs.has(id)),
      maps: maps.filter((id) => this.maps.has(id)),
      links: links.filter((id) => this.links.has(id)),
      system: { programs: programs.length, maps: maps.length, links: links.length },
    };
  }
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/** One churn cycle: open, load, attach, read through a ring buffer and a map, close. */
async function churnCycle(file: string, made: Made, flood: BpfObject): Promise<void> {
  const obj = BpfObject.open(file);
  try {
    obj.program('on_getuid').autoload = false;
    obj.program('on_sys_enter').autoload = false;
    await obj.load();
    made.addObject(obj);
    obj.map('target').set(0, process.pid);
    const links = obj.attach();
    for (const link of links) made.links.add(link.info.id);
    for (let i = 0; i < 5; i++) os.getPriority(0);
    let seen = 0;
    // struct event { u32 pid; u32 tgid; u64 seq; char comm[16]; }
    for await (const tgid of obj.map('events').ringBuffer({ decode: (data) => data.readUInt32LE(4) })) {
      if (tgid !== process.pid) throw new Error('an event of another process');
      if (++seen === 5) break;
    }
    const count = obj.map<number, bigint>('counts').get(process.pid);
    if (count !== 5n) throw new Error(`counts[pid] is ${count}, expected 5`);
  } finally {
    obj.close();
  }
  // A short-lived perf buffer reader on the long-lived object: per-CPU perf events and mmaps.
  const perf = flood.map('perf').perfBuffer();
  try {
    flood.program('to_perf').testRun({ data: PACKET, repeat: 100 });
    let got = 0;
    for await (const record of perf) {
      void record;
      if (++got === 100) break;
    }
  } finally {
    perf.close();
  }
}

/** Runs the soak and returns its figures and verdict. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const durationMs = options.durationMs;
  const sampleMs = options.sampleMs ?? Math.min(10_000, Math.max(1000, Math.round(durationMs / 20)));
  const rate = options.rate ?? 50_000;
  const log = options.log ?? (() => undefined);
  const eventsFile = objectPath('events');
  const floodFile = objectPath('flood');
  const made = new Made();
  const errors: string[] = [];
  log(tableHeader()); // before the baseline: the first write may open fds of Node's own

  // Warm-up outside the measurement: the first load probes kernel features, and the first
  // reader and worker thread allocate for good.
  {
    const warmFlood = BpfObject.open(floodFile);
    await warmFlood.load();
    made.addObject(warmFlood);
    await churnCycle(eventsFile, made, warmFlood);
    warmFlood.close();
  }
  collectGarbage();
  const fdsAtStart = openFds();
  const fdsBefore = fdsAtStart.size;

  const start = Date.now();
  const elapsed = () => (Date.now() - start) / 1000;
  let stopping = false;

  // The long-lived reader and its flood.
  const flood = BpfObject.open(floodFile);
  await flood.load();
  made.addObject(flood);
  // Every 100 ms, what the rate asks for since the last tick (at most a fifth of the ring).
  // Few large runs: each BPF_PROG_TEST_RUN of an XDP program costs the kernel about 30 ms
  // here whatever its repeat count (it switches the XDP dispatcher), on this thread.
  let produced = 0;
  let lastTick = Date.now();
  const producer = setInterval(() => {
    const now = Date.now();
    const n = Math.min(50_000, Math.max(1, Math.round((rate * (now - lastTick)) / 1000)));
    lastTick = now;
    flood.program('to_big').testRun({ data: PACKET, repeat: n });
    produced += n;
  }, 100);
  // Large batches: the churn's synchronous detaches (an RCU grace period each) hold the
  // event loop, and the reader drains one batch per turn of the loop.
  const reader = flood.map('big').ringBuffer({ decode: (data) => Number(data.readBigUInt64LE(0)), batchSize: 8192 });
  let received = 0;
  let outOfOrder = 0;
  let expected = 0;
  const consuming = (async () => {
    for await (const seq of reader) {
      if (seq < expected) outOfOrder++;
      expected = seq + 1; // a gap is a record the BPF side dropped (counted in stats.dropped)
      received++;
    }
  })();

  // The churn.
  let cycles = 0;
  const churning = (async () => {
    while (!stopping) {
      try {
        await churnCycle(eventsFile, made, flood);
        cycles++;
      } catch (e) {
        errors.push((e as Error).message);
        if (errors.length > 10) stopping = true;
      }
    }
  })();

  // Sampling.
  const samples: SoakSample[] = [];
  const sample = () => {
    const mem = process.memoryUsage();
    const fds = bpfFds();
    const present = made.present();
    const row: SoakSample = {
      t: round(elapsed()),
      cycles,
      records: received,
      fds: fds.total,
      bpfFds: fds.kinds,
      rssMiB: round(mem.rss / MiB),
      heapUsedMiB: round(mem.heapUsed / MiB),
      externalMiB: round(mem.external / MiB),
      ours: { programs: present.programs.length, maps: present.maps.length, links: present.links.length },
      system: present.system,
    };
    samples.push(row);
    log(tableRow(row));
  };
  sample();
  let heapAfterWarmupMiB = 0;
  const warmupS = durationMs / 3000;
  let warmedUp = false;
  const sampler = setInterval(() => {
    if (!warmedUp && elapsed() >= warmupS) {
      warmedUp = true;
      collectGarbage();
      heapAfterWarmupMiB = round(process.memoryUsage().heapUsed / MiB, 2);
    }
    sample();
  }, sampleMs);

  await new Promise((r) => setTimeout(r, durationMs));
  stopping = true;
  clearInterval(producer);
  clearInterval(sampler);
  await churning;
  // Let the reader catch up with what was produced (no assertion on how long it takes).
  const dropped = () => reader.stats.dropped;
  for (let i = 0; i < 500 && received + dropped() < produced; i++) await new Promise((r) => setTimeout(r, 10));
  const droppedTotal = dropped();
  sample();
  reader.close();
  await consuming;
  flood.close();

  // Afterwards: everything closed, garbage collected, the kernel's deferred frees done.
  collectGarbage();
  const heapAtEndMiB = round(process.memoryUsage().heapUsed / MiB, 2);
  let left = made.present();
  for (let i = 0; i < 300 && left.programs.length + left.maps.length + left.links.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
    left = made.present();
  }
  const fdsAtEnd = openFds();
  const fdsAfter = fdsAtEnd.size;
  const fdsNew = [...fdsAtEnd].filter(([fd, target]) => fdsAtStart.get(fd) !== target).map(([fd, target]) => `${fd} -> ${target}`);

  const after = samples.filter((s) => s.t >= warmupS);
  const rssSlopePerS = slope(after.map((s) => [s.t, s.rssMiB]));
  const windowS = after.length > 1 ? after[after.length - 1].t - after[0].t : 0;
  const result: SoakResult = {
    ok: false,
    failures: [],
    samples,
    durationS: round(elapsed()),
    cycles,
    errors,
    produced,
    received,
    dropped: droppedTotal,
    outOfOrder,
    fdsBefore,
    fdsAfter,
    fdsNew,
    made: { programs: made.programs.size, maps: made.maps.size, links: made.links.size },
    leftover: { programs: left.programs, maps: left.maps, links: left.links },
    rssSlopeMiBPerMin: round(rssSlopePerS * 60, 2),
    rssGrowthMiB: round(rssSlopePerS * windowS, 2),
    rssJudged: !(process.env.LD_PRELOAD ?? '').includes('libasan'),
    heapAfterWarmupMiB,
    heapAtEndMiB,
  };
  result.failures = verdict(result);
  result.ok = result.failures.length === 0;
  return result;
}

/** Limits of the verdict (RELIABILITY.md explains them). */
export const LIMITS = {
  /** RSS may grow this much over the samples after warm-up... */
  rssGrowthMiB: 32,
  /** ...or at most this fast: a failure needs both. */
  rssSlopeMiBPerMin: 4,
  /** V8 heap after a full GC, end against after warm-up. */
  heapGrowthMiB: 8,
};

/**
 * The criteria: no churn errors; the long-lived reader got every record the BPF side
 * did not drop, once and in order; fds back to the count before the loops; none of the
 * kernel programs, maps and links the soak made left in the kernel; the V8 heap after a
 * full GC within LIMITS.heapGrowthMiB of its size after warm-up; RSS after warm-up not
 * growing both by more than LIMITS.rssGrowthMiB and faster than LIMITS.rssSlopeMiBPerMin
 * (short runs cannot see slow growth; long ones must not show a steady slope), except
 * under AddressSanitizer (rssJudged).
 */
export function verdict(r: SoakResult): string[] {
  const failures: string[] = [];
  if (r.errors.length > 0) failures.push(`churn errors: ${r.errors.slice(0, 3).join('; ')}`);
  if (r.cycles === 0) failures.push('no churn cycle completed');
  if (r.received + r.dropped !== r.produced) failures.push(`reader: ${r.produced} produced, ${r.received} received, ${r.dropped} dropped`);
  if (r.outOfOrder > 0) failures.push(`reader: ${r.outOfOrder} records out of order or twice`);
  if (r.fdsAfter !== r.fdsBefore) failures.push(`fds: ${r.fdsBefore} before, ${r.fdsAfter} after (new: ${r.fdsNew.join(', ')})`);
  const left = r.leftover.programs.length + r.leftover.maps.length + r.leftover.links.length;
  if (left > 0) failures.push(`kernel objects left: programs ${r.leftover.programs}, maps ${r.leftover.maps}, links ${r.leftover.links}`);
  if (r.heapAtEndMiB - r.heapAfterWarmupMiB > LIMITS.heapGrowthMiB) {
    failures.push(`V8 heap after GC grew from ${r.heapAfterWarmupMiB} to ${r.heapAtEndMiB} MiB`);
  }
  if (r.rssJudged && r.rssGrowthMiB > LIMITS.rssGrowthMiB && r.rssSlopeMiBPerMin > LIMITS.rssSlopeMiBPerMin) {
    failures.push(`RSS grows ${r.rssSlopeMiBPerMin} MiB/min after warm-up (${r.rssGrowthMiB} MiB over the window)`);
  }
  return failures;
}

const COLUMNS: [string, number][] = [
  ['t(s)', 6],
  ['cycles', 7],
  ['records', 10],
  ['fds', 5],
  ['bpf p/m/l', 10],
  ['rss MiB', 8],
  ['heap MiB', 9],
  ['ext MiB', 8],
  ['ours p/m/l', 11],
  ['system p/m/l', 13],
];

function tableHeader(): string {
  return COLUMNS.map(([name, width]) => name.padStart(width)).join(' ');
}

function tableRow(s: SoakSample): string {
  const triple = (c: KernelCounts) => `${c.programs}/${c.maps}/${c.links}`;
  const cells = [s.t, s.cycles, s.records, s.fds, triple(s.bpfFds), s.rssMiB, s.heapUsedMiB, s.externalMiB, triple(s.ours), triple(s.system)];
  return cells.map((c, i) => String(c).padStart(COLUMNS[i][1])).join(' ');
}

/** The closing summary: figures and verdict. */
export function summary(r: SoakResult): string {
  return [
    `soak: ${r.durationS} s, ${r.cycles} churn cycles, ${r.received} records read, ${Math.round(r.received / r.durationS)}/s (${r.produced} produced, ${r.dropped} dropped by the BPF side, ${r.outOfOrder} out of order)`,
    `fds: ${r.fdsBefore} before, ${r.fdsAfter} after; kernel objects made: ${r.made.programs} programs, ${r.made.maps} maps, ${r.made.links} links; left: ${r.leftover.programs.length + r.leftover.maps.length + r.leftover.links.length}`,
    `RSS after warm-up: ${r.rssSlopeMiBPerMin} MiB/min (${r.rssGrowthMiB} MiB over the window${r.rssJudged ? '' : '; not judged under AddressSanitizer'}); V8 heap after GC: ${r.heapAfterWarmupMiB} → ${r.heapAtEndMiB} MiB`,
    r.ok ? 'verdict: ok' : `verdict: FAILED\n  ${r.failures.join('\n  ')}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      duration: { type: 'string' },
      sample: { type: 'string' },
      rate: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const durationS = Number(args.duration ?? 180);
  const sampleS = args.sample === undefined ? undefined : Number(args.sample);
  const rate = args.rate === undefined ? undefined : Number(args.rate);
  if (!(durationS > 0)) throw new RangeError(`--duration must be a positive number of seconds, got ${args.duration}`);
  if (sampleS !== undefined && !(sampleS > 0)) throw new RangeError(`--sample must be a positive number of seconds, got ${args.sample}`);
  if (rate !== undefined && !(rate > 0)) throw new RangeError(`--rate must be a positive number of records a second, got ${args.rate}`);
  const result = await runSoak({
    durationMs: durationS * 1000,
    sampleMs: sampleS === undefined ? undefined : sampleS * 1000,
    rate,
    log: args.json ? undefined : (line) => console.log(line),
  });
  console.log(args.json ? JSON.stringify(result, null, 2) : summary(result));
  process.exitCode = result.ok ? 0 : 1;
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 2;
  });
}
