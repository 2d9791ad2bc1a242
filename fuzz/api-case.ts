// Target "api": a fixture object in a random state (opened, loading, loaded, closed), then
// a random sequence of public calls on it, its programs, maps, links, readers and globals,
// and the package's free functions, each with arguments that are right, slightly wrong or
// of the wrong kind entirely.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BpfMap,
  BpfObject,
  Btf,
  type Codec,
  CodecFactory,
  LinkGroup,
  PerfBuffer,
  RingBuffer,
  array,
  bytes,
  cstring,
  decodeValue,
  encodeValue,
  features,
  generateTypes,
  libbpfVersion,
  parseTraceLine,
  probe,
  struct,
  u32,
  u64,
  vmlinuxHeader,
  type Link,
  type Program,
} from '../lib';
import type { CaseContext } from './context';
import { Finding, isTyped, label } from './outcome';
import type { Rng } from './random';
import { arg, evilValue, options, victimPath } from './values';

const API_FIXTURES = ['maps.bpf.o', 'types.bpf.o', 'events.bpf.o', 'attach.bpf.o', 'pinned.bpf.o', 'flood.bpf.o'];
const TRACEPOINTS = [['syscalls', 'sys_enter_getpriority'], ['syscalls', 'sys_enter_getuid'], ['sched', 'sched_switch'], ['nope', 'nope']];

interface Env {
  rng: Rng;
  ctx: CaseContext;
  obj: BpfObject;
  programs: Program[];
  maps: BpfMap[];
  links: Link[];
  readers: { close(): void }[];
  objects: BpfObject[];
}

type Op = (env: Env) => unknown;

const pick = <T>(env: Env, list: readonly T[]): T | undefined => (list.length > 0 ? env.rng.pick(list) : undefined);

/** A key or value for `codec`: what it decodes from zeros or random bytes, raw bytes, or a number. */
function dataFor(env: Env, codec: Codec, size: number): unknown {
  const { rng } = env;
  const r = rng.below(4);
  if (r === 0) return rng.bytes(size);
  if (r === 1) return rng.below(16);
  try {
    return decodeValue(codec, r === 2 ? Buffer.alloc(codec.size) : rng.bytes(codec.size));
  } catch {
    return rng.bytes(size);
  }
}

function keyOf(env: Env, map: BpfMap): unknown {
  return arg(env.rng, () => dataFor(env, map.codecs.key, Math.max(0, safe(() => map.keySize, 4))));
}

function valueOf(env: Env, map: BpfMap): unknown {
  return arg(env.rng, () => dataFor(env, map.codecs.value, Math.max(0, safe(() => map.valueSize, 4))));
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

function pinPath(env: Env): unknown {
  return arg(env.rng, () => path.join(env.ctx.pinRoot, `p${env.rng.below(4)}`));
}

/** Interfaces: real ones only inside the private network namespace the driver runs us in. */
function iface(env: Env): unknown {
  return arg(env.rng, () => env.rng.pick<unknown>(env.ctx.privateNet ? ['lo', 1, 2, 'nope0', 0] : ['nope0', 0]));
}

function track(env: Env, link: unknown): unknown {
  if (link && typeof link === 'object' && 'close' in link) env.links.push(link as Link);
  return link;
}

const PROGRAM_OPS: Record<string, (env: Env, p: Program) => unknown> = {
  props: (_e, p) => [p.name, p.section, p.type, p.autoattach, p.autoload, String(p)],
  fd: (_e, p) => p.fd,
  info: (_e, p) => p.info,
  setAutoload: (e, p) => {
    (p as { autoload: unknown }).autoload = arg(e.rng, () => e.rng.chance(0.5));
  },
  attach: (e, p) => track(e, p.attach()),
  attachTracepoint: (e, p) => {
    const [c, n] = e.rng.pick(TRACEPOINTS);
    return track(e, p.attachTracepoint(arg(e.rng, () => c) as string, arg(e.rng, () => n) as string));
  },
  attachRawTracepoint: (e, p) => track(e, p.attachRawTracepoint(arg(e.rng, () => e.rng.pick(['sys_enter', 'nope'])) as string)),
  testRun: (e, p) => {
    const opts = options(e.rng, { data: () => e.rng.bytes(e.rng.range(0, 200)), ctx: () => e.rng.bytes(e.rng.range(0, 64)), repeat: () => e.rng.range(0, 3) });
    // A valid but huge repeat only takes long (documented: testRun is synchronous): keep it short.
    const o = opts as { repeat?: unknown } | null;
    if (o && typeof o === 'object' && typeof o.repeat === 'number' && o.repeat > 1000) o.repeat = 1000;
    return p.testRun(opts as never);
  },
  attachXdp: (e, p) => track(e, p.attachXdp(iface(e) as string, options(e.rng, { mode: () => e.rng.pick(['skb', 'driver', 'hw', 'x']) }) as never)),
  attachTc: (e, p) => track(e, p.attachTc(iface(e) as string, options(e.rng, { direction: () => e.rng.pick(['ingress', 'egress', 'x']) }) as never)),
  attachUprobe: (e, p) =>
    track(
      e,
      p.attachUprobe(
        options(e.rng, {
          binary: () => e.rng.pick([e.ctx.uprobeBinary, '/nonexistent', e.ctx.tmp]),
          symbol: () => e.rng.pick(['main', 'nope', '']),
          offset: () => e.rng.pick([0, 1, 0x1000]),
          pid: () => e.rng.pick([-1, 0, process.pid, 1 << 30]),
          retprobe: () => e.rng.chance(0.5),
          cookie: () => e.rng.bits(64),
        }) as never,
      ),
    ),
  attachIter: (e, p) => track(e, p.attachIter()),
  attachCgroup: (e, p) => track(e, p.attachCgroup(arg(e.rng, () => e.ctx.cgroup ?? '/nonexistent-cgroup') as string)),
  attachKprobe: (e, p) => track(e, p.attachKprobe(arg(e.rng, () => 'do_nanosleep') as string, options(e.rng, { retprobe: () => true, offset: () => 0, cookie: () => 1n }) as never)),
  attachKsyscall: (e, p) => track(e, p.attachKsyscall(arg(e.rng, () => 'getpriority') as string, options(e.rng, { retprobe: () => true }) as never)),
  attachTrace: (e, p) => track(e, p.attachTrace()),
  attachLsm: (e, p) => track(e, p.attachLsm()),
  attachPerfEvent: (e, p) =>
    track(
      e,
      p.attachPerfEvent(
        options(e.rng, {
          type: () => e.rng.pick([1, 0, 99]),
          config: () => 0,
          samplePeriod: () => e.rng.pick([0, 100000]),
          sampleFreq: () => e.rng.pick([0, 10]),
          pid: () => e.rng.pick([-1, process.pid]),
          cpu: () => e.rng.pick([0, 1, -1, 4096]),
        }) as never,
      ),
    ),
};

const MAP_OPS: Record<string, (env: Env, m: BpfMap) => unknown> = {
  props: (_e, m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.perCpu, m.btfTypeIds, m.pinPath, String(m)],
  fd: (_e, m) => m.fd,
  get: (e, m) => m.get(keyOf(e, m)),
  set: (e, m) => m.set(keyOf(e, m), valueOf(e, m), arg(e.rng, () => e.rng.pick(['any', 'noexist', 'exist'])) as never),
  has: (e, m) => m.has(keyOf(e, m)),
  delete: (e, m) => m.delete(keyOf(e, m)),
  keys: (_e, m) => [...m.keys()].slice(0, 8),
  entries: (e, m) => {
    let n = 0;
    for (const entry of m.entries(options(e.rng, { batchSize: () => e.rng.range(1, 64) }) as never)) if (++n > 8 || !entry) break;
  },
  clear: (_e, m) => m.clear(),
  getMany: (e, m) => m.getMany(arg(e.rng, () => [keyOf(e, m), keyOf(e, m)]) as never),
  setMany: (e, m) => m.setMany(arg(e.rng, () => [[keyOf(e, m), valueOf(e, m)]]) as never, arg(e.rng, () => 'any') as never),
  deleteMany: (e, m) => m.deleteMany(arg(e.rng, () => [keyOf(e, m), keyOf(e, m)]) as never),
  push: (e, m) => m.push(valueOf(e, m), arg(e.rng, () => 'any') as never),
  pop: (_e, m) => m.pop(),
  peek: (_e, m) => m.peek(),
  add: (e, m) => m.add(valueOf(e, m)),
  mayContain: (e, m) => m.mayContain(valueOf(e, m)),
  pin: (e, m) => m.pin(pinPath(e) as string),
  unpin: (e, m) => m.unpin(pinPath(e) as string),
  freeze: (_e, m) => m.freeze(),
  setMaxEntries: (e, m) => {
    (m as { maxEntries: unknown }).maxEntries = arg(e.rng, () => e.rng.pick([1, 16, 4096, 0]));
  },
  withCodecs: (e, m) => m.withCodecs(arg(e.rng, () => e.rng.pick([u32, u64, cstring(4)])) as Codec, arg(e.rng, () => e.rng.pick([u32, u64, bytes(8)])) as Codec),
  getPerCpu: (e, m) => m.getPerCpu(keyOf(e, m)),
  sumPerCpu: (e, m) => m.sumPerCpu(keyOf(e, m)),
  rawGet: (e, m) => m.raw.get(keyOf(e, m) as never),
  rawSet: (e, m) => m.raw.set(keyOf(e, m) as never, valueOf(e, m) as never, arg(e.rng, () => 0) as never),
  rawDelete: (e, m) => m.raw.delete(keyOf(e, m) as never),
  rawNumber: (e, m) => m.raw.getNumber(keyOf(e, m) as never),
  rawPerCpu: (e, m) => m.raw.getPerCpu(keyOf(e, m) as never),
  ringBuffer: (e, m) => {
    const reader = m.ringBuffer(options(e.rng, { batchSize: () => e.rng.range(1, 1024), highWaterMark: () => e.rng.range(1, 64), type: () => e.rng.pick(['event', 'nope']) }) as never);
    e.readers.push(reader);
    readerOps(e, reader);
  },
  perfBuffer: (e, m) => {
    const reader = m.perfBuffer(options(e.rng, { pageCount: () => e.rng.pick([1, 2, 3, 8]), wakeupEvents: () => e.rng.range(0, 4), includeLost: () => true }) as never);
    e.readers.push(reader);
    readerOps(e, reader);
  },
  multiRing: (e) => {
    const maps = e.maps.filter((x) => safe(() => x.type, '') === 'ringbuf');
    const reader = new RingBuffer(arg(e.rng, () => (e.rng.chance(0.8) ? maps : [...maps, ...maps])) as never, options(e.rng, { batchSize: () => 4 }) as never);
    e.readers.push(reader);
    readerOps(e, reader);
  },
  perfDirect: (e, m) => {
    const reader = new PerfBuffer(arg(e.rng, () => m) as never, options(e.rng, { pageCount: () => 1 }) as never);
    e.readers.push(reader);
  },
  openPinned: (e) => {
    const pinned = BpfMap.openPinned(pinPath(e) as string);
    MAP_OPS[e.rng.pick(['get', 'set', 'keys', 'props', 'delete'])](e, pinned as BpfMap);
    pinned.close();
    return pinned.get(Buffer.alloc(4) as never); // closed: EBADF
  },
};

function readerOps(env: Env, reader: RingBuffer<unknown> | PerfBuffer<unknown>): void {
  const { rng } = env;
  for (let i = rng.range(0, 3); i > 0; i--) {
    const r = rng.below(4);
    if (r === 0) reader.drain(arg(rng, () => rng.range(1, 8)) as number);
    else if (r === 1) void reader.stats;
    else if (r === 2) reader.close();
    else void reader.queued;
  }
}

const OBJECT_OPS: Record<string, Op> = {
  program: (e) => e.obj.program(arg(e.rng, () => pick(e, e.programs)?.name ?? 'x') as string),
  map: (e) => e.obj.map(arg(e.rng, () => pick(e, e.maps)?.name ?? 'x') as string),
  lists: (e) => [e.obj.programs, e.obj.maps, e.obj.btf, e.obj.name, e.obj.loaded, String(e.obj)],
  load: (e) => e.obj.load(),
  attach: (e) => {
    const group = e.obj.attach();
    e.links.push(...group.links);
    return group.skipped;
  },
  close: (e) => e.obj.close(),
  globalsGet: (e) => e.obj.globals.get(arg(e.rng, () => pick(e, [...e.obj.globals.keys()]) ?? 'x') as string),
  globalsSet: (e) => {
    const name = pick(e, [...e.obj.globals.keys()]) ?? 'x';
    const current = safe(() => e.obj.globals.get(name), 0);
    return e.obj.globals.set(arg(e.rng, () => name) as string, arg(e.rng, () => current));
  },
  globalsAll: (e) => [e.obj.globals.describe(), [...e.obj.globals], e.obj.globals.has(evilValue(e.rng) as string)],
  program_op: (e) => {
    const p = pick(e, e.programs);
    if (p) return e.rng.pick(Object.values(PROGRAM_OPS))(e, p);
  },
  map_op: (e) => {
    const m = pick(e, e.maps);
    if (m) return e.rng.pick(Object.values(MAP_OPS))(e, m);
  },
  link_op: (e) => {
    const link = pick(e, e.links);
    if (!link) return;
    const r = e.rng.below(7);
    if (r === 0) return [link.fd, link.info, link.closed, String(link)];
    if (r === 1) return link.pin(pinPath(e) as string);
    if (r === 2) return link.unpin(arg(e.rng, () => undefined) as string);
    if (r === 3) return link.update(arg(e.rng, () => pick(e, e.programs)) as Program);
    if (r === 4) return link.read();
    if (r === 5) return LinkGroup.of(arg(e.rng, () => [link]) as Link[]).close();
    return link.close();
  },
  open: (e) => {
    const fixture = e.rng.pick(e.ctx.fixtures);
    const obj = BpfObject.open(
      arg(e.rng, () => (e.rng.chance(0.5) ? fixture.path : fixture.bytes)) as string,
      options(e.rng, { name: () => 'fz', pinRoot: () => e.ctx.pinRoot, btfPath: () => '/sys/kernel/btf/vmlinux', enums: () => 'names' }) as never,
    );
    e.objects.push(obj);
  },
  codecs: (e) => {
    const n = arg(e.rng, () => e.rng.range(0, 16)) as number;
    const codec = e.rng.pick<() => Codec>([() => cstring(n), () => bytes(n), () => array(u32, n), () => struct(arg(e.rng, () => ({ a: u32, b: cstring(3) })) as never)])();
    const value = evilValue(e.rng);
    const encoded = encodeValue(codec, value);
    return decodeValue(codec, arg(e.rng, () => encoded) as Uint8Array, arg(e.rng, () => 0) as number);
  },
  btf: (e) => {
    const btf = e.obj.btf ?? Btf.kernel();
    const id = arg(e.rng, () => e.rng.below(btf.count + 2)) as number;
    const factory = new CodecFactory(btf, options(e.rng, { enums: () => 'names' }) as never);
    return [btf.type(id), btf.resolve(id), btf.describe(id), btf.sizeOf(id), btf.byName(evilValue(e.rng) as string), factory.codec(id), factory.named(arg(e.rng, () => 'event') as string)];
  },
  system: (e) => {
    const r = e.rng.below(8);
    if (r === 0) return libbpfVersion();
    if (r === 1) return vmlinuxHeader(arg(e.rng, () => e.rng.pick(e.ctx.fixtures).path, 0.7) as string);
    if (r === 2) return Btf.kernel(arg(e.rng, () => e.rng.pick(e.ctx.fixtures).path, 0.7) as string);
    if (r === 3) return generateTypes(arg(e.rng, () => e.rng.pick(e.ctx.fixtures).path) as string, options(e.rng, { name: () => 'x' }) as never);
    if (r === 4) return [probe.programType(arg(e.rng, () => 'xdp') as string), probe.mapType(arg(e.rng, () => 'hash') as string)];
    if (r === 5) return probe.helper(arg(e.rng, () => 'xdp') as string, arg(e.rng, () => e.rng.below(300)) as number);
    if (r === 6) return parseTraceLine(arg(e.rng, () => '  node-1 [000] d..31 12.5: bpf_trace_printk: hi') as string);
    return features();
  },
};

const OP_NAMES = Object.keys(OBJECT_OPS);
const WEIGHTS: Record<string, number> = { program_op: 6, map_op: 10, link_op: 2, load: 1, close: 1, open: 1 };

function chooseOp(rng: Rng): string {
  const total = OP_NAMES.reduce((n, k) => n + (WEIGHTS[k] ?? 1), 0);
  let r = rng.below(total);
  for (const k of OP_NAMES) {
    r -= WEIGHTS[k] ?? 1;
    if (r < 0) return k;
  }
  return OP_NAMES[0];
}

/** Runs one call; a returned promise is awaited. Typed errors are outcomes, anything else a finding. */
async function call(name: string, fn: () => unknown): Promise<string> {
  try {
    const result = fn();
    if (result instanceof Promise) await result;
    return 'ok';
  } catch (e) {
    if (isTyped(e)) return label(e);
    throw new Finding(name, e);
  }
}

export async function apiCase(rng: Rng, ctx: CaseContext): Promise<string> {
  fs.writeFileSync(victimPath(), 'must survive\n');
  const fixture = ctx.fixtures.find((f) => f.name === rng.pick(API_FIXTURES)) ?? ctx.fixtures[0];
  const obj = BpfObject.open(fixture.path, { pinRoot: ctx.pinRoot });
  const env: Env = { rng, ctx, obj, programs: [...obj.programs], maps: [...obj.maps], links: [], readers: [], objects: [] };
  const state = rng.below(10);
  let loading: Promise<unknown> | undefined;
  if (state < 6) await obj.load().catch(() => undefined);
  else if (state < 8) loading = obj.load().catch(() => undefined);
  else if (state === 8) obj.close();
  const ops = rng.range(1, 10);
  const trail: string[] = [];
  const outcomes: string[] = [];
  ctx.describe(`${fixture.name}, state ${['opened', 'loaded', 'loading', 'closed'][state < 6 ? 1 : state < 8 ? 2 : state === 8 ? 3 : 0]}`);
  try {
    for (let i = 0; i < ops; i++) {
      const name = chooseOp(rng);
      trail.push(name);
      ctx.describe(`${fixture.name}, state ${state}: ${trail.join(' ')}`);
      outcomes.push(`${name} ${await call(name, () => OBJECT_OPS[name](env))}`);
    }
    if (loading) await loading;
  } finally {
    for (const reader of env.readers) await call('reader.close', () => reader.close());
    for (const link of env.links) await call('link.close', () => link.close());
    for (const o of env.objects) await call('object.close', () => o.close());
    await call('close', () => obj.close());
    if (loading) await loading;
    if (!obj.closed) throw new Finding('close', new Error('the object is not closed after close()'));
    for (const f of fs.readdirSync(ctx.pinRoot)) fs.rmSync(path.join(ctx.pinRoot, f), { recursive: true, force: true });
  }
  if (!fs.existsSync(victimPath())) throw new Finding('files', new Error(`${victimPath()} was removed by a call (an unpin outside bpffs?)`));
  return outcomes.join(',');
}
