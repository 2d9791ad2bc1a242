// npm run bench [-- --quick] [--records N] [--repeats R] [--json]
//
// Consumer-only throughput (fill a ring with BPF_PROG_TEST_RUN, then drain) and map
// operations, for this package and for a C program using libbpf directly on the same
// bench.bpf.o, in one run. Prints a table of medians and ratios (bench/BENCHMARKS.md).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { BpfObject, RawMap } from 'ebpf';

const ROOT = path.resolve(__dirname, '..', '..');
const OBJECT = path.join(ROOT, 'build-bpf', 'bench.bpf.o');
const BASELINE = path.join(ROOT, 'build-bpf', 'baseline');
const SIZES = [8, 64, 256, 1024];
const RING_BYTES = 256 * 1024 * 1024;
const MAP_OPS = 200_000;

interface Sample {
  case: string;
  seconds: number;
  count: number;
  bytes: number;
}

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    records: { type: 'string' },
    repeats: { type: 'string' },
    json: { type: 'boolean' },
  },
});
const quick = args.quick ?? false;
const RECORDS = Number(args.records ?? (quick ? 20_000 : 1_000_000));
const REPEATS = Number(args.repeats ?? (quick ? 1 : 5));

/** Builds the C baseline against the same static libbpf as the addon, when it is stale. */
function buildBaseline(): void {
  const source = path.join(ROOT, 'bench', 'baseline.c');
  if (fs.existsSync(BASELINE) && fs.statSync(BASELINE).mtimeMs > fs.statSync(source).mtimeMs) return;
  const prefix = path.join(ROOT, 'deps', 'libbpf', 'install');
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-I', path.join(prefix, 'include'), '-o', BASELINE, source, path.join(prefix, 'lib', 'libbpf.a'), '-lelf', '-lz', '-lzstd'], {
    stdio: 'inherit',
  });
}

function runBaseline(): Sample[] {
  const out = execFileSync(BASELINE, [OBJECT, String(RECORDS), String(REPEATS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Sample);
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
const recordsFor = (size: number) => Math.min(RECORDS, Math.floor(RING_BYTES / (size + 8)) - 1);

async function nodeCases(): Promise<Sample[]> {
  const samples: Sample[] = [];
  const record = (name: string, seconds: number, count: number, bytes = 0) => samples.push({ case: name, seconds, count, bytes });
  using obj = BpfObject.open(OBJECT);
  await obj.load();
  const packet = Buffer.alloc(64);
  const fill = (prog: string, n: number) => obj.program(prog).testRun({ data: packet, repeat: n });
  let checksum = 0n;

  for (const size of SIZES) {
    const n = recordsFor(size);
    // batches(), fields read in place: the fast path.
    for (let r = 0; r < REPEATS; r++) {
      fill(`fill_${size}`, n);
      using reader = obj.map('ring').ringBuffer({ batchSize: 8192, highWaterMark: 1 << 20 });
      let seen = 0;
      let sum = 0;
      const t = now();
      for await (const batch of reader.batches()) {
        batch.visit((view, offset) => {
          sum += view.getUint32(offset, true);
        });
        seen += batch.length;
        if (seen >= n) break;
      }
      record(`ring_${size}`, now() - t, seen, seen * size);
      checksum += BigInt(sum);
    }
  }
  // 64-byte records decoded to objects, and one record per `for await` step.
  const n64 = recordsFor(64);
  for (let r = 0; r < REPEATS; r++) {
    fill('fill_64', n64);
    using reader = obj.map('ring').ringBuffer({
      batchSize: 8192,
      highWaterMark: 1 << 20,
      decode: (data) => ({ seq: data.readBigUInt64LE(0), tail: data.readUInt32LE(60) }),
    });
    let seen = 0;
    const t = now();
    for await (const batch of reader.batches()) {
      for (const rec of batch) checksum += rec.seq;
      seen += batch.length;
      if (seen >= n64) break;
    }
    record('ring_64_decoded', now() - t, seen);
  }
  const nAwait = Math.min(n64, quick ? RECORDS : 300_000);
  for (let r = 0; r < REPEATS; r++) {
    fill('fill_64', nAwait);
    using reader = obj.map('ring').ringBuffer({ batchSize: 8192, highWaterMark: 1 << 20 });
    let seen = 0;
    const t = now();
    for await (const rec of reader) {
      checksum += BigInt(rec[0]);
      if (++seen >= nAwait) break;
    }
    record('ring_64_for_await', now() - t, seen);
  }
  // The V8 ceiling for per-item async iteration, in the same run.
  for (let r = 0; r < REPEATS; r++) {
    async function* items(n: number) {
      for (let i = 0; i < n; i++) yield i;
    }
    let seen = 0;
    const t = now();
    for await (const i of items(nAwait)) seen += i & 1 ? 1 : 1;
    record('async_generator', now() - t, seen);
  }
  // Perf buffer, 64-byte samples.
  const nPerf = Math.min(RECORDS, 40_000);
  for (let r = 0; r < REPEATS; r++) {
    using reader = obj.map('perf').perfBuffer({ pageCount: 1024, batchSize: 8192, highWaterMark: 1 << 20 });
    fill('perf_64', nPerf);
    let seen = 0;
    const t = now();
    for await (const batch of reader.batches()) {
      batch.visit((view, offset) => {
        checksum += BigInt(view.getUint32(offset, true));
      });
      seen += batch.length;
      if (seen >= nPerf) break;
    }
    record('perf_64', now() - t, seen, seen * 64);
  }
  // Hash map operations, typed (number keys, bigint values).
  const table = obj.map<number, bigint>('table');
  for (let r = 0; r < REPEATS; r++) {
    let t = now();
    for (let k = 0; k < MAP_OPS; k++) table.set(k, BigInt(k));
    record('map_update', now() - t, MAP_OPS);
    t = now();
    for (let k = 0; k < MAP_OPS; k++) checksum += table.get(k) ?? 0n;
    record('map_lookup', now() - t, MAP_OPS);
  }
  for (let r = 0; r < REPEATS; r++) {
    let t = now();
    let count = 0;
    for (const [, v] of table.entries({ batchSize: 4096 })) {
      checksum += v;
      count++;
    }
    record('map_dump_batch', now() - t, count);
    t = now();
    count = 0;
    const raw: RawMap = table.raw;
    for (const [, v] of raw.entries()) {
      checksum += BigInt(v[0]);
      count++;
    }
    record('map_dump_next_key', now() - t, count);
  }
  // A .bss global read in place (mmapped), against a lookup syscall.
  const reads = quick ? 100_000 : 2_000_000;
  for (let r = 0; r < REPEATS; r++) {
    const t = now();
    for (let i = 0; i < reads; i++) checksum += obj.globals.get('sequence') as bigint;
    record('global_mmap', now() - t, reads);
  }
  if (checksum === -1n) console.log(checksum);
  return samples;
}

interface Row {
  case: string;
  node?: number;
  c?: number;
  ratio?: number;
  target: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** records (or operations) per second, median over repeats. */
function rates(samples: Sample[]): Map<string, { median: number; best: number; mbps: number }> {
  const by = new Map<string, Sample[]>();
  for (const s of samples) by.set(s.case, [...(by.get(s.case) ?? []), s]);
  const out = new Map<string, { median: number; best: number; mbps: number }>();
  for (const [name, list] of by) {
    const r = list.map((s) => s.count / s.seconds);
    const m = median(r);
    const bytesPerRecord = list[0].count ? list[0].bytes / list[0].count : 0;
    out.set(name, { median: m, best: Math.max(...r), mbps: (m * bytesPerRecord) / 1e6 });
  }
  return out;
}

async function main(): Promise<void> {
  if (!fs.existsSync(OBJECT)) throw new Error(`${OBJECT} is missing: run npm run build:bpf`);
  buildBaseline();
  const c = rates(runBaseline());
  const node = rates(await nodeCases());
  const m = (map: Map<string, { median: number }>, k: string) => map.get(k)?.median;
  const rows: Row[] = [];
  for (const size of SIZES) {
    rows.push({ case: `ring ${size} B, batches() read in place`, node: m(node, `ring_${size}`), c: m(c, `ring_${size}`), target: size === 64 ? '≥ 50% of C' : '' });
  }
  for (const size of SIZES) {
    rows.push({ case: `(C only) own mmap consumer ${size} B vs ring_buffer__consume`, node: m(c, `ring_own_${size}`), c: m(c, `ring_${size}`), target: 'informs the design' });
  }
  rows.push({ case: 'ring 64 B, batches() decoded to objects', node: m(node, 'ring_64_decoded'), c: m(c, 'ring_64'), target: '≥ 15% of C' });
  rows.push({ case: 'ring 64 B, for await per record (vs bare async generator)', node: m(node, 'ring_64_for_await'), c: m(node, 'async_generator'), target: '≥ 60% of the generator' });
  rows.push({ case: 'perf 64 B, batches() read in place', node: m(node, 'perf_64'), c: m(c, 'perf_64'), target: '≥ 50% of C' });
  rows.push({ case: 'hash map update, one at a time', node: m(node, 'map_update'), c: m(c, 'map_update'), target: '≥ 75% of C' });
  rows.push({ case: 'hash map lookup, one at a time', node: m(node, 'map_lookup'), c: m(c, 'map_lookup'), target: '≥ 75% of C' });
  rows.push({ case: `map dump of ${MAP_OPS / 1000}k, batch`, node: m(node, 'map_dump_batch'), c: m(c, 'map_dump_batch'), target: '≥ 90% of C' });
  rows.push({ case: 'map dump, batch vs our get_next_key loop', node: m(node, 'map_dump_batch'), c: m(node, 'map_dump_next_key'), target: '≥ 4×' });
  rows.push({ case: '.bss global read (mmapped) vs lookup syscall', node: m(node, 'global_mmap'), c: m(node, 'map_lookup'), target: '≥ 50×' });
  for (const row of rows) if (row.node && row.c) row.ratio = row.node / row.c;

  if (args.json) {
    console.log(JSON.stringify({ records: RECORDS, repeats: REPEATS, rows, node: Object.fromEntries(node), c: Object.fromEntries(c) }, null, 2));
    return;
  }
  const fmt = (v?: number) => (v === undefined ? '-' : v >= 1e6 ? `${(v / 1e6).toFixed(2)} M/s` : `${(v / 1e3).toFixed(1)} k/s`);
  console.log(`ebpf bench: ${RECORDS} records per fill, ${REPEATS} repeats (medians); ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? ''}, Linux ${os.release()}, Node ${process.version}`);
  console.log('| case | ebpf | reference | ratio | target |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    const ratio = r.ratio === undefined ? '-' : r.ratio >= 10 ? `${r.ratio.toFixed(0)}×` : `${(r.ratio * 100).toFixed(0)}%`;
    console.log(`| ${r.case} | ${fmt(r.node)} | ${fmt(r.c)} | ${ratio} | ${r.target} |`);
  }
  console.log(`\nMB/s (ebpf, batches in place): ${SIZES.map((s) => `${s} B: ${node.get(`ring_${s}`)?.mbps.toFixed(0)}`).join(', ')}`);
}

main().catch((e: unknown) => {
  console.error(`bench: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
