// An A/B of the decoded ring path between two builds of lib/, for a machine too noisy for
// figures a day apart to compare (BENCHMARKS.md, "Decoded batches").
//
//   node dist/bench/decoded-ab.js --path view|type|hand[-number] [--others N] [--lib DIR] [--tag NAME]
//
// DIR is a compiled lib/ (default: this checkout's dist/lib). One process drains 1,000,000
// 64-byte records of bench.bpf.o's ring 7 times (batchSize 32,768), summing each record's
// `seq` bigint, keeping the last 1024 objects, and prints the median and best rate. With
// `--others N` (0 to 4), N other readers with decoders of other shapes drain a fill each
// first, as in a daemon with several kinds of events. Paths: `view`, a decodeView making
// `{ seq, tail }` (the bench's); `type`, the compiled decoder of struct fill_head; `hand`,
// a loop over batch.offset(i) that makes the same objects itself. With `-number` (view-number,
// type-number, hand-number), `seq` is a number: two 32-bit reads in the decodeView and the
// hand loop, and the object opened with `int64: 'number'` for the type. Run builds in turn, in
// separate processes, several times each:
//
//   git archive <commit> lib typings tsconfig.json tsconfig.build.json package.json | tar -x -C /tmp/old
//   (cd /tmp/old && ln -s $PWD/node_modules . && cp -r prebuilds . && npx tsc -p tsconfig.build.json)
//   for k in 1 2 3 4 5; do for p in view type; do
//     node dist/bench/decoded-ab.js --path $p --lib /tmp/old/dist/lib --tag old
//     node dist/bench/decoded-ab.js --path $p --tag new
//   done; done
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type * as Ebpf from 'ebpf';

const ROOT = path.resolve(__dirname, '..', '..');
const OBJECT = path.join(ROOT, 'build-bpf', 'bench.bpf.o');
const RECORDS = 1_000_000;
const REPEATS = 7;
const BATCH = 32768;

const { values: args } = parseArgs({
  options: { path: { type: 'string' }, lib: { type: 'string' }, tag: { type: 'string' }, others: { type: 'string' } },
});
const which = args.path ?? 'view';
const PATHS = ['view', 'type', 'hand'].flatMap((p) => [p, `${p}-number`]);
if (!PATHS.includes(which)) throw new TypeError(`--path must be one of ${PATHS.join(', ')}, got ${which}`);
const numbers = which.endsWith('-number');
const OTHERS = Number(args.others ?? 0);
if (!Number.isInteger(OTHERS) || OTHERS < 0 || OTHERS > 4) throw new TypeError(`--others must be 0 to 4, got ${args.others}`);
const base = which.replace('-number', '');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { BpfObject } = require(path.resolve(args.lib ?? path.join(ROOT, 'dist', 'lib'))) as typeof Ebpf;

interface Fill {
  seq: bigint | number;
  tail: number;
}

// Every path keeps the last 1024 objects it made, as the bench does (an object that goes
// nowhere can be optimized away).
const kept = new Array<object>(1024);
let k = 0;

async function main(): Promise<void> {
  using obj = BpfObject.open(OBJECT, numbers ? { int64: 'number' } : {});
  await obj.load();
  const packet = Buffer.alloc(64);
  const fill = () => obj.program('fill_64').testRun({ data: packet, repeat: RECORDS });
  const seq64 = (view: DataView, offset: number): bigint | number =>
    numbers ? view.getUint32(offset + 4, true) * 4294967296 + view.getUint32(offset, true) : view.getBigUint64(offset, true);
  const options =
    base === 'view'
      ? { decodeView: (view: DataView, offset: number): Fill => ({ seq: seq64(view, offset), tail: view.getUint32(offset + 60, true) }) }
      : base === 'type'
        ? { type: 'fill_head' }
        : {};
  // Other readers' decoders first, one fill each (a daemon with several kinds of events):
  // code that every reader of the process shares has then seen them all.
  const others: ((view: DataView, offset: number) => object)[] = [
    (view, offset) => ({ a: view.getBigUint64(offset, true) }),
    (view, offset) => ({ b: view.getUint32(offset, true), c: view.getUint8(offset + 8) }),
    (view, offset) => ({ d: view.getUint16(offset, true), e: 0, f: view.getUint32(offset + 4, true) }),
    (view, offset) => ({ g: view.getFloat64(offset, true) }),
  ];
  for (const decodeView of others.slice(0, OTHERS)) {
    using other = obj.map('ring').ringBuffer<object>({ batchSize: BATCH, highWaterMark: 1 << 22, decodeView });
    fill();
    let got = 0;
    for await (const batch of other.batches()) {
      for (const rec of batch) kept[got++ & 1023] = rec;
      if (got >= RECORDS) break;
    }
  }
  using reader = obj.map('ring').ringBuffer<Fill>({ batchSize: BATCH, highWaterMark: 1 << 22, ...options });
  let checksum = 0n;
  let sum = 0; // number paths: below 2^53 for these counts
  const rates: number[] = [];
  fill();
  let seen = 0;
  let start = process.hrtime.bigint();
  for await (const batch of reader.batches()) {
    if (base === 'hand') {
      const slab = batch.slab;
      const view = new DataView(slab.buffer, slab.byteOffset, slab.byteLength);
      for (let i = 0; i < batch.length; i++) {
        const offset = batch.offset(i);
        const rec: Fill = { seq: seq64(view, offset), tail: view.getUint32(offset + 60, true) };
        kept[k++ & 1023] = rec;
        if (numbers) sum += rec.seq as number;
        else checksum += rec.seq as bigint;
      }
    } else if (numbers) {
      for (const rec of batch) {
        kept[k++ & 1023] = rec;
        sum += rec.seq as number;
      }
    } else {
      for (const rec of batch) {
        kept[k++ & 1023] = rec;
        checksum += rec.seq as bigint;
      }
    }
    seen += batch.length;
    if (seen < RECORDS) continue;
    rates.push(RECORDS / (Number(process.hrtime.bigint() - start) / 1e9) / 1e6);
    if (seen !== RECORDS) throw new Error(`${seen} records drained, ${RECORDS} filled`);
    if (rates.length === REPEATS) break;
    batch.release();
    fill();
    seen = 0;
    start = process.hrtime.bigint();
  }
  // The fills number their records 0, 1, 2... on from one fill to the next (a fresh
  // object): the sum shows every record was decoded, once.
  if (numbers) checksum = BigInt(sum);
  const skipped = BigInt(RECORDS * OTHERS); // the other readers' records
  const total = BigInt(RECORDS * REPEATS) + skipped;
  const expected = (total * (total - 1n)) / 2n - (skipped * (skipped - 1n)) / 2n;
  if (checksum !== expected) throw new Error(`checksum ${checksum}, expected ${expected}`);
  rates.sort((a, b) => a - b);
  console.log(`${args.tag ?? 'this'} ${which}${OTHERS ? ` after ${OTHERS} other decoders` : ''}: median ${rates[REPEATS >> 1].toFixed(1)} M/s, best ${rates[REPEATS - 1].toFixed(1)} M/s`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
