// npm run bench [-- --quick] [--records N] [--repeats R] [--live N] [--npm-bpf DIR] [--json]   (BENCH_TRACE=1: each sample on stderr)
// bash scripts/bench-bcc.sh [run.js options]: the same under QEMU on Debian's kernel, with bcc's Python consumer
//
// Consumer-only throughput (fill a ring with BPF_PROG_TEST_RUN, then drain), a live
// producer (a tracepoint on getppid() called in a loop by a child process: end-to-end
// rate, latency, loss and consumer CPU) and map operations, for this package and for a C
// program using libbpf directly on the same bench.bpf.o, in one run; then the
// alternatives that run here (bpftrace -f json read by Node; bcc's Python ring buffer consumer
// where bcc can compile; the npm `bpf` package for map
// operations, from --npm-bpf DIR). The one-at-a-time map reference is the C loop of the
// baseline run in this process (bench/map-loop.c, a Node-API module the bench builds).
// Prints tables of medians and ratios (BENCHMARKS.md).
// Every case also records the process's CPU time: on a shared machine, records per
// CPU-second are steadier than records per wall-clock second.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import * as readline from 'node:readline';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { BpfObject, RawMap, type RecordBatch, type RingBufferOptions } from 'ebpf';
import { median, sumInPlace } from './in-place';

const ROOT = path.resolve(__dirname, '..', '..');
const OBJECT = path.join(ROOT, 'build-bpf', 'bench.bpf.o');
const BASELINE = path.join(ROOT, 'build-bpf', 'baseline');
const SIZES = [8, 64, 256, 1024];
const RING_BYTES = 256 * 1024 * 1024;
/** The perf map's ring on each CPU (pageCount 8192 of 4 KiB), and one 64-byte sample in it
 * (perf_event_header, the u32 size, the data, padded to 8 bytes). */
const PERF_RING_BYTES = 8192 * 4096;
const PERF_SAMPLE_BYTES = 80;
const MAP_OPS = 200_000;
/** batchSize of the fill cases: a drain of a pre-filled ring takes this many records per
 * turn of the event loop (ring_64_batch_8192 shows what a smaller one costs). */
const FILL_BATCH = 32768;

interface Sample {
  case: string;
  seconds: number;
  /** CPU time of the consumer process (user + system), seconds. */
  cpu: number;
  count: number;
  bytes: number;
  /** Live cases: records the producer made, those the BPF side could not reserve (or the
   * tool reported lost), and latency percentiles in nanoseconds. */
  produced?: number;
  dropped?: number;
  p50?: number;
  p99?: number;
}

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    records: { type: 'string' },
    repeats: { type: 'string' },
    json: { type: 'boolean' },
    live: { type: 'string' },
    'npm-bpf': { type: 'string' },
  },
});
const quick = args.quick ?? false;
const RECORDS = Number(args.records ?? (quick ? 20_000 : 1_000_000));
const REPEATS = Number(args.repeats ?? (quick ? 1 : 5));
const LIVE_CALLS = Number(args.live ?? (quick ? 20_000 : 1_000_000));

/** Whether `out` is missing or older than bench/<source>. */
function isStale(out: string, source: string): boolean {
  return !fs.existsSync(out) || fs.statSync(out).mtimeMs <= fs.statSync(path.join(ROOT, 'bench', source)).mtimeMs;
}

/**
 * Compiles bench/<source> into `out` against the same static libbpf as the addon, when
 * `out` is older than its source; `flags` come before the source (a module's -shared).
 */
function buildWithLibbpf(source: string, out: string, flags: string[] = []): void {
  const file = path.join(ROOT, 'bench', source);
  if (!isStale(out, source)) return;
  const prefix = path.join(ROOT, 'deps', 'libbpf', 'install');
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', ...flags, '-I', path.join(prefix, 'include'), '-o', out, file, path.join(prefix, 'lib', 'libbpf.a'), '-lelf', '-lz', '-lzstd'], {
    stdio: 'inherit',
  });
}

/** Builds the C baseline, when it is stale. */
function buildBaseline(): void {
  buildWithLibbpf('baseline.c', BASELINE);
}

function runBaseline(): Sample[] {
  return parseSamples(
    execFileSync(BASELINE, [OBJECT, String(RECORDS), String(REPEATS), String(LIVE_CALLS)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  );
}

/** bench/map-loop.c: the C map loops as a Node-API module, run in this process. */
interface MapLoop {
  updateLoop(fd: number, ops: number): void;
  lookupLoop(fd: number, ops: number): number;
  updateOne(fd: number, key: number): void;
}

const MAP_LOOP = path.join(ROOT, 'build-bpf', 'map-loop.node');

/**
 * Builds bench/map-loop.c (when stale) against Node's own headers, and loads it; the
 * reason it is not measured instead, where those headers are not installed.
 */
function loadMapLoop(): MapLoop | string {
  if (isStale(MAP_LOOP, 'map-loop.c')) {
    const headers = [path.join(path.dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'].find((dir) =>
      fs.existsSync(path.join(dir, 'node_api.h')),
    );
    if (!headers) return "the C map loop in this process: Node's headers (node_api.h) are not installed";
    buildWithLibbpf('map-loop.c', MAP_LOOP, ['-shared', '-fPIC', '-I', headers]);
  }
  return require(MAP_LOOP) as MapLoop;
}

/** The C baseline's output: one JSON sample a line. */
function parseSamples(out: string): Sample[] {
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Sample);
}

/** C samples taken during the Node cases (the dump of the Node side's own map, and the
 * map loops run in this process). */
const sameMapC: Sample[] = [];

interface Time {
  seconds: number;
  cpu: number;
}

/**
 * Starts the clocks; the function returned stops them: wall-clock and CPU seconds. Drain
 * cases stop them at the last record, before the loop's exit closes the reader: the C side
 * times its consume call, not the freeing of its reader.
 */
function clocks(): () => Time {
  const t = process.hrtime.bigint();
  const c = process.cpuUsage();
  return () => {
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    const u = process.cpuUsage(c);
    return { seconds, cpu: (u.user + u.system) / 1e6 };
  };
}

/**
 * Untimed rounds before a drain case's timed repeats (bench/baseline.c has the same rule):
 * enough fills for the consumer to have read every page of its buffer once, and one more.
 * A reader's first pass over a fresh mapping of the buffer is not its steady state: on
 * some of our machines (a guest whose hypervisor builds its page tables on first use) the
 * first read of each page costs microseconds, and a drain that crosses pages it has not
 * read yet ran at a tenth of its later rate, C and Node alike. The rounds also let V8
 * optimize the case's code before it is timed. A daemon's reader is long past both.
 */
function warmFills(bytesPerFill: number, bufferBytes: number): number {
  return Math.min(32, Math.ceil(bufferBytes / bytesPerFill) + 1);
}

/**
 * One reader for every repeat, as a daemon keeps one and as the C side does: `warm`
 * untimed rounds (warmFills), then each repeat fills the buffer and drains its `n` records
 * through batches(); the clock runs from the end of the fill to the last record (not the
 * reader's set-up or close). A fill may be asynchronous (another process's); `started`
 * runs right after the clock starts.
 */
async function drainRepeats<T>(
  reader: { batches(): AsyncGenerator<RecordBatch<T>> },
  fillOnce: () => unknown,
  n: number,
  warm: number,
  onBatch: (batch: RecordBatch<T>) => void,
  started?: () => void,
): Promise<Time[]> {
  const times: Time[] = [];
  let rounds = 0;
  // A synchronous fill goes on without a turn of the microtask queue.
  let filled = fillOnce();
  if (filled instanceof Promise) await filled;
  let seen = 0;
  let t = clocks();
  started?.();
  for await (const batch of reader.batches()) {
    onBatch(batch);
    seen += batch.length;
    if (seen < n) continue;
    const time = t();
    if (seen !== n) throw new Error(`bench: ${seen} records drained, ${n} filled`);
    if (++rounds > warm) times.push(time);
    if (times.length === REPEATS) break;
    batch.release(); // its ring space is needed by the next fill
    filled = fillOnce();
    if (filled instanceof Promise) await filled;
    seen = 0;
    t = clocks();
    started?.();
  }
  return times;
}

const recordsFor = (size: number) => Math.min(RECORDS, Math.floor(RING_BYTES / (size + 8)) - 1);

async function nodeCases(loop: MapLoop | undefined): Promise<Sample[]> {
  const samples: Sample[] = [];
  const record = (name: string, time: { seconds: number; cpu: number }, count: number, bytes = 0) => {
    if (process.env.BENCH_TRACE) console.error(name, (count / time.seconds / 1e6).toFixed(2));
    samples.push({ case: name, ...time, count, bytes });
  };
  using obj = BpfObject.open(OBJECT);
  await obj.load();
  const packet = Buffer.alloc(64);
  const fill = (prog: string, n: number) => obj.program(prog).testRun({ data: packet, repeat: n });
  let checksum = 0n;

  // batches(), fields read in place (the fast path): each ring filled with n records of
  // `size` bytes, drained in batches of up to `batchSize`.
  const drainInPlace = async (name: string, size: number, batchSize: number): Promise<void> => {
    const n = recordsFor(size);
    using reader = obj.map('ring').ringBuffer({ batchSize, highWaterMark: 1 << 22 });
    let sum = 0;
    const times = await drainRepeats(reader, () => fill(`fill_${size}`, n), n, warmFills(n * (size + 8), RING_BYTES), (batch) => {
      sum = (sum + sumInPlace(batch)) | 0;
    });
    for (const time of times) record(name, time, n, n * size);
    checksum += BigInt(sum);
  };
  for (const size of SIZES) await drainInPlace(`ring_${size}`, size, FILL_BATCH);
  await drainInPlace('ring_64_batch_8192', 64, 8192);
  // The same 64-byte records read through batch.visit(): a callback per record.
  {
    const n = recordsFor(64);
    using reader = obj.map('ring').ringBuffer({ batchSize: FILL_BATCH, highWaterMark: 1 << 22 });
    let sum = 0;
    const times = await drainRepeats(reader, () => fill('fill_64', n), n, warmFills(n * 72, RING_BYTES), (batch) =>
      batch.visit((view, offset) => {
        sum = (sum + view.getUint32(offset, true)) | 0;
      }),
    );
    for (const time of times) record('ring_64_visit', time, n, n * 64);
    checksum += BigInt(sum);
  }
  // 64-byte records decoded to objects, and one record per `for await` step.
  const n64 = recordsFor(64);
  // Each: the ring filled with n64 records, drained through batches() of decoded objects.
  // Every case keeps the last 1024 objects it made (as a consumer does something with
  // them): an object that goes nowhere may be optimized away, which no daemon sees. Each
  // case has a loop of its own, as each reader of a daemon has its handler: V8 keeps type
  // feedback per function, and one loop shared by every case would measure a call site
  // that sees every decoder.
  type Fill = { seq: bigint | number; tail: number };
  const kept = new Array<Fill>(1024);
  let k = 0;
  let sum = 0; // the number cases' seq (below 2^53 for these counts)
  const drainDecoded = async <T extends Fill>(name: string, source: BpfObject, options: RingBufferOptions<T> & { type?: string }, onBatch: (batch: RecordBatch<T>) => void): Promise<void> => {
    using reader = source.map('ring').ringBuffer<T>({ batchSize: FILL_BATCH, highWaterMark: 1 << 22, ...options });
    const times = await drainRepeats(reader, () => source.program('fill_64').testRun({ data: packet, repeat: n64 }), n64, warmFills(n64 * 72, RING_BYTES), onBatch);
    for (const time of times) record(name, time, n64);
  };
  type Big = { seq: bigint; tail: number };
  type Num = { seq: number; tail: number };
  await drainDecoded<Big>('ring_64_decoded', obj, { decode: (data) => ({ seq: data.readBigUInt64LE(0), tail: data.readUInt32LE(60) }) }, (batch) => {
    for (const rec of batch) {
      kept[k++ & 1023] = rec;
      checksum += rec.seq;
    }
  });
  // The same objects, decoded in place (decodeView: one DataView per batch), and by BTF type.
  await drainDecoded<Big>('ring_64_decoded_view', obj, { decodeView: (view, offset) => ({ seq: view.getBigUint64(offset, true), tail: view.getUint32(offset + 60, true) }) }, (batch) => {
    for (const rec of batch) {
      kept[k++ & 1023] = rec;
      checksum += rec.seq;
    }
  });
  // The same decodeView with the consumer comparing each `seq` instead of adding it to a
  // bigint sum. A bigint add allocates its result (7–9 ns a record on these guests),
  // the consumer's arithmetic rather than the decoding: the C consumer's sum is one add.
  let zeros = 0;
  await drainDecoded<Big>('ring_64_decoded_view_compare', obj, { decodeView: (view, offset) => ({ seq: view.getBigUint64(offset, true), tail: view.getUint32(offset + 60, true) }) }, (batch) => {
    for (const rec of batch) {
      kept[k++ & 1023] = rec;
      if (rec.seq === 0n) zeros++;
    }
  });
  await drainDecoded<Big>('ring_64_typed', obj, { type: 'fill_head' }, (batch) => {
    for (const rec of batch) {
      kept[k++ & 1023] = rec;
      checksum += rec.seq;
    }
  });
  // The same objects with `seq` a number: a decodeView of two 32-bit reads, and the BTF
  // decoder of an object opened with int64: 'number' (its own ring, filled by its programs).
  await drainDecoded<Num>(
    'ring_64_decoded_view_number',
    obj,
    { decodeView: (view, offset) => ({ seq: view.getUint32(offset + 4, true) * 4294967296 + view.getUint32(offset, true), tail: view.getUint32(offset + 60, true) }) },
    (batch) => {
      for (const rec of batch) {
        kept[k++ & 1023] = rec;
        sum += rec.seq;
      }
    },
  );
  {
    using numbers = BpfObject.open(OBJECT, { int64: 'number' });
    await numbers.load();
    await drainDecoded<Num>('ring_64_typed_number', numbers, { type: 'fill_head' }, (batch) => {
      for (const rec of batch) {
        kept[k++ & 1023] = rec;
        sum += rec.seq;
      }
    });
  }
  // The JavaScript ceiling for the same objects: a hand loop over batch.offset(i) making
  // each { seq, tail } (seq a number), kept as above.
  await drainDecoded<Num>('ring_64_hand_objects', obj, {}, (batch) => {
    const slab = batch.slab;
    const view = new DataView(slab.buffer, slab.byteOffset, slab.byteLength);
    for (let i = 0; i < batch.length; i++) {
      const offset = batch.offset(i);
      const rec = { seq: view.getUint32(offset + 4, true) * 4294967296 + view.getUint32(offset, true), tail: view.getUint32(offset + 60, true) };
      kept[k++ & 1023] = rec;
      sum += rec.seq;
    }
  });
  // The same with `seq` a bigint, summed as the decodeView case sums it: the ceiling of
  // that case (the target row), with no library code per record.
  const slabView = (batch: RecordBatch<Big>): DataView => new DataView(batch.slab.buffer, batch.slab.byteOffset, batch.slab.byteLength);
  const bigAt = (view: DataView, offset: number): Big => ({ seq: view.getBigUint64(offset, true), tail: view.getUint32(offset + 60, true) });
  await drainDecoded<Big>('ring_64_hand_objects_big', obj, {}, (batch) => {
    const view = slabView(batch);
    for (let i = 0; i < batch.length; i++) {
      const rec = bigAt(view, batch.offset(i));
      kept[k++ & 1023] = rec;
      checksum += rec.seq;
    }
  });
  // And comparing `seq`, as the decodeView case above that does.
  await drainDecoded<Big>('ring_64_hand_objects_big_compare', obj, {}, (batch) => {
    const view = slabView(batch);
    for (let i = 0; i < batch.length; i++) {
      const rec = bigAt(view, batch.offset(i));
      kept[k++ & 1023] = rec;
      if (rec.seq === 0n) zeros++;
    }
  });
  checksum += BigInt(sum + zeros);
  const nAwait = Math.min(n64, quick ? RECORDS : 300_000);
  {
    using reader = obj.map('ring').ringBuffer({ batchSize: 8192, highWaterMark: 1 << 20 });
    const warm = warmFills(nAwait * 72, RING_BYTES);
    let rounds = 0;
    fill('fill_64', nAwait);
    let seen = 0;
    let t = clocks();
    for await (const rec of reader) {
      checksum += BigInt(rec[0]);
      if (++seen < nAwait) continue;
      const time = t();
      if (++rounds > warm) record('ring_64_for_await', time, seen);
      if (rounds === warm + REPEATS) break;
      fill('fill_64', nAwait); // records taken one by one hold no ring space
      seen = 0;
      t = clocks();
    }
  }
  // The V8 ceiling for per-item async iteration, in the same run (a first round untimed,
  // as the reader's warm rounds are).
  for (let r = 0; r <= REPEATS; r++) {
    async function* items(n: number) {
      for (let i = 0; i < n; i++) yield i;
    }
    let seen = 0;
    const t = clocks();
    for await (const i of items(nAwait)) seen += i & 1 ? 1 : 1;
    const time = t();
    if (r > 0) record('async_generator', time, seen);
  }
  // Perf buffer, 64-byte samples.
  const nPerf = Math.min(RECORDS, 400_000); // 80 bytes of ring each: 8192 pages per CPU hold them
  {
    using reader = obj.map('perf').perfBuffer({ pageCount: 8192, batchSize: FILL_BATCH, highWaterMark: 1 << 22 });
    let sum = 0;
    const times = await drainRepeats(reader, () => fill('perf_64', nPerf), nPerf, warmFills(nPerf * PERF_SAMPLE_BYTES, PERF_RING_BYTES), (batch) => {
      sum = (sum + sumInPlace(batch)) | 0;
    });
    for (const time of times) record('perf_64', time, nPerf, nPerf * 64);
    checksum += BigInt(sum);
  }
  // The same drain after a fill by another process (`baseline fill-fd`, given the
  // program's fd), the reader paused meanwhile and the event loop idle, not blocked in a
  // syscall for the whole fill: the clock starts at resume().
  {
    using reader = obj.map('perf').perfBuffer({ pageCount: 8192, batchSize: FILL_BATCH, highWaterMark: 1 << 22 });
    const fd = obj.program('perf_64').fd;
    const fillElsewhere = async () => {
      reader.pause();
      const child = spawn(BASELINE, ['fill-fd', '3', String(nPerf)], { stdio: ['ignore', 'ignore', 'inherit', fd] });
      const [code] = (await once(child, 'exit')) as [number | null];
      if (code !== 0) throw new Error(`bench: baseline fill-fd exited with ${code}`);
    };
    let sum = 0;
    const times = await drainRepeats(reader, fillElsewhere, nPerf, warmFills(nPerf * PERF_SAMPLE_BYTES, PERF_RING_BYTES), (batch) => {
      sum = (sum + sumInPlace(batch)) | 0;
    }, () => reader.resume());
    for (const time of times) record('perf_64_elsewhere', time, nPerf, nPerf * 64);
    checksum += BigInt(sum);
  }
  // Hash map operations, typed (number keys, bigint values). Each loop sums into a local,
  // added to checksum after the clock stops, as the C side sums into a local: checksum is
  // captured by a drain callback above, so it lives in a context slot, and `checksum += x`
  // in the loop was a context load and store with a write barrier per operation, a cost of
  // the bench (about 3 ns of the ~12 ns of a global read), not of the operation measured.
  const table = obj.map<number, bigint>('table');
  const mapOpsOnce = (): void => {
    let t = clocks();
    for (let k = 0; k < MAP_OPS; k++) table.set(k, BigInt(k));
    record('map_update', t(), MAP_OPS);
    let sum = 0n;
    t = clocks();
    for (let k = 0; k < MAP_OPS; k++) sum += table.get(k) ?? 0n;
    record('map_lookup', t(), MAP_OPS);
    checksum += sum;
  };
  // One dump of each kind: tuples (entries), columns (batches), the next-key walk.
  const dumpOnce = (): void => {
    let sum = 0n;
    let t = clocks();
    let count = 0;
    for (const [, v] of table.entries({ batchSize: 4096 })) {
      sum += v;
      count++;
    }
    record('map_dump_batch', t(), count);
    // The same dump as columns: batches() reads value(i) from the reused buffers, no tuple.
    t = clocks();
    count = 0;
    for (const batch of table.batches({ batchSize: 4096 })) {
      for (let i = 0; i < batch.length; i++) sum += batch.value(i);
      count += batch.length;
    }
    record('map_dump_columns', t(), count);
    t = clocks();
    count = 0;
    const raw: RawMap = table.raw;
    for (const [, v] of raw.entries()) {
      sum += BigInt(v[0]);
      count++;
    }
    record('map_dump_next_key', t(), count);
    checksum += sum;
  };
  // The one-at-a-time reference: bench/map-loop.c, the C loops of the baseline loaded into
  // this process, over this map's fd, in turn with each repeat (and one Node-API call per
  // update, the least any binding does). A syscall's rate moves by a fifth and more between
  // runs, boots, and even the phases of one run on these guests (C's updates in its own
  // process at 374 k/s over this map after the ring cases and at 520 k/s over its own
  // earlier, in one run), so the ratio is taken from passes of the same process a second
  // apart. The C baseline's own loops stay as an informative row.
  const fd = table.fd;
  const recordC = (name: string, time: Time, count: number): void => {
    sameMapC.push({ case: name, seconds: time.seconds, cpu: time.cpu, count, bytes: 0 });
  };
  for (let r = 0; r < REPEATS; r++) {
    if (loop) {
      let t = clocks();
      loop.updateLoop(fd, MAP_OPS);
      recordC('map_update_inproc', t(), MAP_OPS);
      t = clocks();
      const sum = loop.lookupLoop(fd, MAP_OPS);
      recordC('map_lookup_inproc', t(), MAP_OPS);
      checksum += BigInt(sum);
      t = clocks();
      for (let k = 0; k < MAP_OPS; k++) loop.updateOne(fd, k);
      recordC('map_update_one_call', t(), MAP_OPS);
    }
    mapOpsOnce();
  }
  // The dumps, against the C loop's over the same kernel map (pinned for a child process),
  // in turn each repeat. A hash map's dump rate depends on where the kernel put its
  // elements, which differs between two maps filled the same way (measured: the C side's
  // own map dumped at 3.8 and at 5.8 M/s in two runs); the same map takes that out.
  const pin = `/sys/fs/bpf/ebpf-bench-${process.pid}-table`;
  table.pin(pin);
  try {
    for (let r = 0; r < REPEATS; r++) {
      sameMapC.push(...parseSamples(execFileSync(BASELINE, ['dump', pin, '1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })));
      dumpOnce();
    }
  } finally {
    table.unpin();
  }
  // A .bss global read in place (mmapped), against a lookup syscall.
  const reads = quick ? 100_000 : 2_000_000;
  const sequence = obj.globals.accessor<bigint>('sequence');
  for (let r = 0; r < REPEATS; r++) {
    let sum = 0n;
    let t = clocks();
    for (let i = 0; i < reads; i++) sum += sequence.get();
    record('global_mmap', t(), reads);
    t = clocks();
    for (let i = 0; i < reads; i++) sum += obj.globals.get('sequence') as bigint;
    record('global_by_name', t(), reads);
    checksum += sum;
  }
  for (let r = 0; r < REPEATS; r++) samples.push(await liveNode(obj, 1));
  for (let r = 0; r < REPEATS; r++) samples.push(await liveNode(obj, LIVE_BURST));
  if (checksum === -1n) console.log(checksum);
  return samples;
}

/**
 * Records per getppid() of the bursting live producer (bench.bpf.c's LIVE_BURST, the
 * program on_getppid_burst): above what any consumer takes on our machines, so that the
 * burst rows compare consumers by what they read, not by how fast the producer makes
 * syscalls (one record per call is below what ebpf takes where syscalls are slow).
 */
const LIVE_BURST = 16;

/**
 * The live producer: `baseline produce N` waits for a byte on stdin, then calls getppid()
 * N times, for LIVE_CALLS records in all at `burst` records a call (rounded down to whole
 * bursts): the child, and the records to expect.
 */
async function startProducer(burst: number): Promise<{ child: ChildProcess & { pid: number }; records: number }> {
  const calls = Math.floor(LIVE_CALLS / burst);
  const child = spawn(BASELINE, ['produce', String(calls)], { stdio: ['pipe', 'ignore', 'inherit'] });
  await once(child, 'spawn');
  return { child: child as ChildProcess & { pid: number }, records: calls * burst };
}

/** Latency percentiles (ns) of the first `n` values. */
function percentiles(values: Float64Array, n: number): { p50: number; p99: number } {
  const sorted = values.subarray(0, n).sort();
  return { p50: sorted[Math.floor(n / 2)] ?? 0, p99: sorted[Math.floor((n * 99) / 100)] ?? 0 };
}

/**
 * End to end: each getppid() of the producer writes `burst` records carrying
 * bpf_ktime_get_ns() (CLOCK_MONOTONIC), read here with batches(); a record's latency is
 * its batch's receipt (process.hrtime.bigint(), CLOCK_MONOTONIC too) minus that time.
 * LIVE_CALLS records in all (case live), or as near as whole bursts come (live_burst).
 */
async function liveNode(obj: BpfObject, burst: number): Promise<Sample> {
  const { child, records } = await startProducer(burst);
  const exited = once(child, 'exit');
  obj.globals.set('live_tgid', child.pid);
  using link = obj.program(burst === 1 ? 'on_getppid' : 'on_getppid_burst').attach();
  using reader = obj.map('live').ringBuffer({ batchSize: 8192, highWaterMark: 1 << 16 });
  const droppedBefore = reader.stats.dropped;
  const latency = new Float64Array(records);
  let seen = 0;
  // Ends the loop if records stop coming once the producer is done (none should be missing).
  void exited.then(() => setTimeout(() => reader.close(), 1000).unref());
  const t = clocks();
  child.stdin?.end('g');
  for await (const batch of reader.batches()) {
    const now = Number(process.hrtime.bigint());
    batch.visit((view, offset) => {
      const ktime = view.getUint32(offset, true) + view.getUint32(offset + 4, true) * 2 ** 32;
      if (seen < records) latency[seen] = now - ktime;
      seen++;
    });
    if (seen + reader.stats.dropped - droppedBefore >= records) break;
  }
  const time = t();
  const dropped = reader.stats.dropped - droppedBefore;
  obj.globals.set('live_tgid', 0);
  link.close();
  await exited;
  return { case: burst === 1 ? 'live' : 'live_burst', ...time, count: seen, bytes: seen * 64, produced: records, dropped, ...percentiles(latency, Math.min(seen, records)) };
}

/**
 * bcc's Python ring buffer consumer (bench/bcc_consumer.py) on the same 64-byte fill, when
 * python3-bpfcc is installed and bcc can compile for this kernel (it needs the running
 * kernel's headers: the QEMU harness has them, scripts/bench-bcc.sh). Samples, or why not.
 */
function bccCases(): Sample[] | string {
  // Debian's python3, which python3-bpfcc installs for (another python3 may come first on PATH).
  const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  try {
    execFileSync(python, ['-c', 'import bcc'], { stdio: 'ignore' });
  } catch {
    return 'bcc: not installed (Debian package python3-bpfcc)';
  }
  // bcc compiles its C text at run time against the running kernel's headers: the build tree
  // under /lib/modules, or the kheaders archive the kernel may carry. Without either it cannot
  // start, so say so instead of letting it fail.
  const release = os.release();
  const noHeaders = `bcc: cannot compile here, no headers for kernel ${release} (bash scripts/bench-bcc.sh runs it under QEMU on Debian's kernel)`;
  if (!fs.existsSync(`/lib/modules/${release}/build`) && !fs.existsSync('/sys/kernel/kheaders.tar.xz')) return noHeaders;
  const script = path.join(ROOT, 'bench', 'bcc_consumer.py');
  try {
    return parseSamples(execFileSync(python, [script, BASELINE, String(RECORDS), String(REPEATS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? '');
    if (/kernel headers/i.test(stderr)) return noHeaders;
    // clang's own errors come first in bcc's output, the Python traceback last: keep both.
    const lines = stderr.trim().split('\n');
    const errors = lines.filter((l) => /error:/.test(l)).slice(0, 5);
    const detail = [...errors, ...lines.slice(-1)].join(' / ');
    // A compile failure is bcc's trouble with this kernel's headers: report it with the other
    // alternatives. Anything else is a fault in the consumer script and stops the bench.
    if (/Failed to compile BPF module/.test(stderr)) return `bcc: cannot compile for kernel ${release}: ${detail}`;
    throw new Error(`bench: bcc_consumer.py failed: ${detail}`);
  }
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The alternative for a Node user without this package: `bpftrace -B line -f json`
 * printing `burst` lines per getppid() of the producer (nsecs is bpf_ktime_get_ns()),
 * parsed here. bpftrace is stopped (SIGINT) a second after the producer is done, if lines
 * are still missing then (lost events are counted from its lost_events messages); its
 * time runs to the last line it delivered, so that wait is not counted against it.
 */
async function liveBpftrace(burst: number): Promise<Sample | undefined> {
  const { child, records } = await startProducer(burst);
  const exited = once(child, 'exit');
  const print = 'printf("%llu\\n", nsecs);';
  const action = burst === 1 ? print : `unroll(${burst}) { ${print} }`;
  const program = `tracepoint:syscalls:sys_enter_getppid /pid == ${child.pid}/ { ${action} }`;
  const tracer = spawn('bpftrace', ['-B', 'line', '-f', 'json', '-e', program], { stdio: ['ignore', 'pipe', 'ignore'] });
  const lines = readline.createInterface({ input: tracer.stdout as NodeJS.ReadableStream });
  const latency = new Float64Array(records);
  let seen = 0;
  let lost = 0;
  let t: (() => { seconds: number; cpu: number }) | undefined;
  let started = 0; // ns, CLOCK_MONOTONIC
  let last = 0; // the last line's receipt
  let time = { seconds: 0, cpu: 0 };
  const done = new Promise<void>((resolve) => {
    const finish = () => {
      if (t && time.seconds === 0) {
        time = t();
        if (last > started) time.seconds = Math.min(time.seconds, (last - started) / 1e9);
      }
      resolve();
    };
    // bpftrace prints what it has when it stops: a second after the producer is done, stop it.
    void exited.then(() => setTimeout(() => tracer.kill('SIGINT'), 1000).unref());
    lines.on('line', (line) => {
      const now = Number(process.hrtime.bigint());
      if (!line.startsWith('{')) return;
      const message = JSON.parse(line) as { type: string; data: unknown };
      if (message.type === 'attached_probes') {
        // bpftrace says so a little before its probes fire (measured: the first records are
        // missed without a pause): start the producer half a second later.
        setTimeout(() => {
          t = clocks();
          started = Number(process.hrtime.bigint());
          child.stdin?.end('g');
        }, 500);
      } else if (message.type === 'printf') {
        if (seen < records) latency[seen] = now - Number.parseInt(String(message.data), 10);
        seen++;
        last = now;
      } else if (message.type === 'lost_events') {
        lost += Number((message.data as { events?: number }).events ?? 0);
      }
      if (seen + lost >= records) finish();
    });
    lines.on('close', finish);
  });
  await done;
  if (tracer.exitCode === null) tracer.kill('SIGINT');
  await Promise.race([once(tracer, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
  if (tracer.exitCode === null && tracer.signalCode === null) tracer.kill('SIGKILL');
  await exited;
  if (!t) return undefined;
  return { case: burst === 1 ? 'live_bpftrace' : 'live_bpftrace_burst', ...time, count: seen, bytes: 0, produced: records, dropped: records - seen, ...percentiles(latency, Math.min(seen, records)) };
}

interface NpmBpf {
  createMap(desc: { type: number; keySize: number; valueSize: number; maxEntries: number }): unknown;
  MapType: { HASH: number };
  RawMap: new (ref: unknown) => { set(k: Buffer, v: Buffer): void; get(k: Buffer): Buffer | undefined };
}

/** The npm `bpf` package (raw map operations only), from a directory where it is installed. */
function npmBpfCases(dir: string): Sample[] {
  const samples: Sample[] = [];
  const bpf = require(require.resolve('bpf', { paths: [dir] })) as NpmBpf;
  const map = new bpf.RawMap(bpf.createMap({ type: bpf.MapType.HASH, keySize: 4, valueSize: 8, maxEntries: MAP_OPS }));
  const key = Buffer.alloc(4);
  const value = Buffer.alloc(8);
  let checksum = 0n;
  for (let r = 0; r < REPEATS; r++) {
    let t = clocks();
    for (let k = 0; k < MAP_OPS; k++) {
      key.writeUInt32LE(k);
      value.writeBigUInt64LE(BigInt(k));
      map.set(key, value);
    }
    samples.push({ case: 'npm_bpf_update', ...t(), count: MAP_OPS, bytes: 0 });
    t = clocks();
    for (let k = 0; k < MAP_OPS; k++) {
      key.writeUInt32LE(k);
      checksum += map.get(key)?.readBigUInt64LE(0) ?? 0n;
    }
    samples.push({ case: 'npm_bpf_lookup', ...t(), count: MAP_OPS, bytes: 0 });
  }
  if (checksum === -1n) console.log(checksum);
  return samples;
}

interface Row {
  case: string;
  node?: Rate;
  c?: Rate;
  target: string;
}

interface Rate {
  /** records (or operations) per wall-clock second: median and best over the repeats */
  median: number;
  best: number;
  /** records per CPU-second of the consumer, median */
  perCpu: number;
  mbps: number;
  /** share of the wall-clock time the consumer spent on a CPU, median */
  cpuShare: number;
  samples: Sample[];
}

function rates(samples: Sample[]): Map<string, Rate> {
  const by = new Map<string, Sample[]>();
  for (const s of samples) by.set(s.case, [...(by.get(s.case) ?? []), s]);
  const out = new Map<string, Rate>();
  for (const [name, list] of by) {
    const r = list.map((s) => s.count / s.seconds);
    const m = median(r);
    const bytesPerRecord = list[0].count ? list[0].bytes / list[0].count : 0;
    out.set(name, {
      median: m,
      best: Math.max(...r),
      perCpu: median(list.map((s) => s.count / Math.max(s.cpu, 1e-9))),
      mbps: (m * bytesPerRecord) / 1e6,
      cpuShare: median(list.map((s) => s.cpu / s.seconds)),
      samples: list,
    });
  }
  return out;
}

async function main(): Promise<void> {
  if (!fs.existsSync(OBJECT)) throw new Error(`${OBJECT} is missing: run npm run build:bpf`);
  buildBaseline();
  const mapLoop = loadMapLoop(); // built before anything is timed
  const cSamples = runBaseline();
  const nodeSamples = await nodeCases(typeof mapLoop === 'string' ? undefined : mapLoop);
  const c = rates([...cSamples, ...sameMapC]);
  const alternatives: string[] = [];
  if (hasCommand('bpftrace')) {
    for (const burst of [1, LIVE_BURST]) {
      for (let r = 0; r < REPEATS; r++) {
        const sample = await liveBpftrace(burst);
        if (sample) nodeSamples.push(sample);
      }
    }
  } else {
    alternatives.push('bpftrace: not installed (Debian package bpftrace)');
  }
  if (typeof mapLoop === 'string') alternatives.push(mapLoop);
  const bcc = bccCases();
  if (typeof bcc === 'string') alternatives.push(bcc);
  else nodeSamples.push(...bcc);
  if (args['npm-bpf']) nodeSamples.push(...npmBpfCases(args['npm-bpf']));
  else alternatives.push('npm bpf: not measured (pass --npm-bpf DIR, a directory where `npm install --no-save bpf` ran)');
  const node = rates(nodeSamples);
  const m = (map: Map<string, Rate>, k: string) => map.get(k);
  const rows: Row[] = [];
  const row = (name: string, a: Rate | undefined, b: Rate | undefined, target = '') => rows.push({ case: name, node: a, c: b, target });
  for (const size of SIZES) row(`ring ${size} B, batches() read in place`, m(node, `ring_${size}`), m(c, `ring_${size}`), size === 64 ? '≥ 50% of C' : '');
  row('ring 64 B, batches() read in place, batchSize 8192', m(node, 'ring_64_batch_8192'), m(c, 'ring_64'));
  row('ring 64 B, batches() read in place with visit()', m(node, 'ring_64_visit'), m(c, 'ring_64'));
  for (const size of SIZES) {
    row(`(C only) own mmap consumer ${size} B vs ring_buffer__consume`, m(c, `ring_own_${size}`), m(c, `ring_${size}`), 'informs the design');
  }
  row('ring 64 B, batches() decoded to objects (decodeView, in place)', m(node, 'ring_64_decoded_view'), m(c, 'ring_64'), '≥ 15% of C');
  row('ring 64 B, batches() decoded to objects (decode, a Buffer per record)', m(node, 'ring_64_decoded'), m(c, 'ring_64'));
  row('ring 64 B, batches() decoded by BTF type (struct fill_head)', m(node, 'ring_64_typed'), m(c, 'ring_64'));
  row('ring 64 B, decoded to objects, u64 as a number (decodeView)', m(node, 'ring_64_decoded_view_number'), m(c, 'ring_64'), '≥ 15% of C');
  row("ring 64 B, decoded by BTF type, int64: 'number'", m(node, 'ring_64_typed_number'), m(c, 'ring_64'));
  row('ring 64 B, a hand loop making the same objects (u64 as a number)', m(node, 'ring_64_hand_objects'), m(c, 'ring_64'), 'informs the design');
  row('ring 64 B, a hand loop making the same objects (seq a bigint)', m(node, 'ring_64_hand_objects_big'), m(c, 'ring_64'), 'informs the design');
  row('ring 64 B, decodeView (seq a bigint) vs that hand loop', m(node, 'ring_64_decoded_view'), m(node, 'ring_64_hand_objects_big'));
  row('ring 64 B, decodeView (seq a bigint), the consumer comparing seq, no bigint sum', m(node, 'ring_64_decoded_view_compare'), m(c, 'ring_64'), 'informs the design');
  row('ring 64 B, a hand loop (seq a bigint) comparing seq, no bigint sum', m(node, 'ring_64_hand_objects_big_compare'), m(c, 'ring_64'), 'informs the design');
  row("ring 64 B, decoded by BTF type, int64: 'number', vs the hand loop (number)", m(node, 'ring_64_typed_number'), m(node, 'ring_64_hand_objects'));
  row('ring 64 B, for await per record (vs bare async generator)', m(node, 'ring_64_for_await'), m(node, 'async_generator'), '≥ 60% of the generator');
  row('perf 64 B, batches() read in place', m(node, 'perf_64'), m(c, 'perf_64'), '≥ 50% of C');
  row('perf 64 B, batches() read in place vs C perf_buffer__poll', m(node, 'perf_64'), m(c, 'perf_64_poll'));
  row('perf 64 B, batches() in place, filled by another process', m(node, 'perf_64_elsewhere'), m(c, 'perf_64_elsewhere'));
  row('(C only) perf_buffer__poll vs perf_buffer__consume', m(c, 'perf_64_poll'), m(c, 'perf_64'), 'informs the design');
  row('hash map update, one at a time (vs the C loop in this process, in turn)', m(node, 'map_update'), m(c, 'map_update_inproc'), '≥ 75% of C');
  row('hash map lookup, one at a time (vs the C loop in this process, in turn)', m(node, 'map_lookup'), m(c, 'map_lookup_inproc'), '≥ 75% of C');
  row('hash map update, one at a time, vs the C baseline in its own run', m(node, 'map_update'), m(c, 'map_update'));
  row('hash map lookup, one at a time, vs the C baseline in its own run', m(node, 'map_lookup'), m(c, 'map_lookup'));
  row('(reference) one bare Node-API call per hash map update vs the C loop in this process', m(c, 'map_update_one_call'), m(c, 'map_update_inproc'), 'informs the design');
  row('hash map update: ebpf vs one bare Node-API call per update', m(node, 'map_update'), m(c, 'map_update_one_call'));
  row(`map dump of ${MAP_OPS / 1000}k, batch, tuples (entries({ batchSize }))`, m(node, 'map_dump_batch'), m(c, 'map_dump_same'));
  row(`map dump of ${MAP_OPS / 1000}k, batch columns (batches())`, m(node, 'map_dump_columns'), m(c, 'map_dump_same'), '≥ 90% of C');
  row('(C only) dump of its own map vs of the same map as ebpf', m(c, 'map_dump_batch'), m(c, 'map_dump_same'), 'informs the design');
  row('map dump, batch vs our get_next_key loop', m(node, 'map_dump_batch'), m(node, 'map_dump_next_key'), '≥ 4×');
  row('.bss global read (mmapped, accessor) vs lookup syscall', m(node, 'global_mmap'), m(node, 'map_lookup'), '≥ 50×');
  row('.bss global read by name (globals.get) vs lookup syscall', m(node, 'global_by_name'), m(node, 'map_lookup'));
  row('live getppid() tracepoint, end to end (vs C)', m(node, 'live'), m(c, 'live'), '');
  row('live: ebpf vs bpftrace -f json read by Node', m(node, 'live'), m(node, 'live_bpftrace'), '');
  row(`live, ${LIVE_BURST} records per getppid(), end to end (vs C)`, m(node, 'live_burst'), m(c, 'live_burst'), '');
  row(`live, ${LIVE_BURST} records per getppid(): ebpf vs bpftrace -f json read by Node`, m(node, 'live_burst'), m(node, 'live_bpftrace_burst'), '≥ 10×');
  row("ring 64 B: ebpf batches() in place vs bcc's Python consumer", m(node, 'ring_64'), m(node, 'bcc_ring_64'), '≥ 10×');
  row("ring 64 B: ebpf decoded to objects (decodeView) vs bcc's Python consumer", m(node, 'ring_64_decoded_view'), m(node, 'bcc_ring_64'), '');
  row('hash map update: ebpf vs npm bpf', m(node, 'map_update'), m(node, 'npm_bpf_update'), '');
  row('hash map lookup: ebpf vs npm bpf', m(node, 'map_lookup'), m(node, 'npm_bpf_lookup'), '');

  if (args.json) {
    const plain = (map: Map<string, Rate>) => Object.fromEntries(map);
    console.log(JSON.stringify({ records: RECORDS, repeats: REPEATS, liveCalls: LIVE_CALLS, rows, node: plain(node), c: plain(c), alternatives }, null, 2));
    return;
  }
  const fmt = (v?: number) => (v === undefined ? '-' : v >= 1e6 ? `${(v / 1e6).toFixed(2)} M/s` : `${(v / 1e3).toFixed(1)} k/s`);
  const ratio = (a?: number, b?: number) => {
    if (a === undefined || b === undefined || b === 0) return '-';
    const r = a / b;
    return r >= 10 ? `${r.toFixed(0)}×` : `${(r * 100).toFixed(0)}%`;
  };
  console.log(
    `ebpf bench: ${RECORDS} records per fill, ${LIVE_CALLS} live calls, ${REPEATS} repeats (medians); ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? ''}, Linux ${os.release()}, Node ${process.version}`,
  );
  console.log('| case | ebpf (best) | reference (best) | ratio | ratio per CPU-second | target |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    if (!r.node && !r.c) continue;
    const both = (x?: Rate) => (x ? `${fmt(x.median)} (${fmt(x.best)})` : '-');
    console.log(`| ${r.case} | ${both(r.node)} | ${both(r.c)} | ${ratio(r.node?.median, r.c?.median)} | ${ratio(r.node?.perCpu, r.c?.perCpu)} | ${r.target} |`);
  }
  console.log('\nRing buffer, batches() read in place, by record size (medians):');
  console.log('| size | ebpf records/s | ebpf MB/s | ebpf records per CPU-s | C records/s | C MB/s |');
  console.log('|---|---|---|---|---|---|');
  for (const size of SIZES) {
    const a = node.get(`ring_${size}`);
    const b = c.get(`ring_${size}`);
    console.log(`| ${size} B | ${fmt(a?.median)} | ${a?.mbps.toFixed(0) ?? '-'} | ${fmt(a?.perCpu)} | ${fmt(b?.median)} | ${b?.mbps.toFixed(0) ?? '-'} |`);
  }
  console.log(`\nLive producer (getppid() in a child, one 64 B record per call, or ${LIVE_BURST} (burst); medians over repeats):`);
  console.log('| consumer | records/s | received / produced | dropped or lost | latency p50 | latency p99 | consumer CPU |');
  console.log('|---|---|---|---|---|---|---|');
  const us = (ns?: number) => (ns === undefined ? '-' : `${(ns / 1e3).toFixed(0)} µs`);
  for (const [name, rate] of [
    ['ebpf batches()', node.get('live')],
    ['C libbpf ring_buffer__poll', c.get('live')],
    ['bpftrace -f json read by Node', node.get('live_bpftrace')],
    ['ebpf batches(), burst', node.get('live_burst')],
    ['C libbpf ring_buffer__poll, burst', c.get('live_burst')],
    ['bpftrace -f json read by Node, burst', node.get('live_bpftrace_burst')],
  ] as const) {
    if (!rate) continue;
    const mid = (f: (s: Sample) => number) => median(rate.samples.map(f));
    console.log(
      `| ${name} | ${fmt(rate.median)} | ${mid((s) => s.count)} / ${mid((s) => s.produced ?? 0)} | ${mid((s) => s.dropped ?? 0)} | ${us(mid((s) => s.p50 ?? 0))} | ${us(mid((s) => s.p99 ?? 0))} | ${(rate.cpuShare * 100).toFixed(0)}% of one CPU |`,
    );
  }
  if (alternatives.length) console.log(`\nNot measured: ${alternatives.join('; ')}`);
}

main().catch((e: unknown) => {
  console.error(`bench: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
