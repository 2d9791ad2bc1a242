// Target "elf": BpfObject.open() over a mutated fixture object, then everything that reads
// what it parsed (programs, maps, globals, BTF and codecs), and for some cases load(),
// map reads, global writes, readers, test runs and attach().
import { BpfObject, type BpfMap, CodecFactory } from '../lib';
import type { CaseContext } from './context';
import { mutate } from './elf';
import { Finding, failed, step, stepAsync } from './outcome';
import type { Rng } from './random';

/** Keeps a mutated object's maps small enough to create in the kernel (a shared machine). */
function fitsForLoad(maps: readonly BpfMap[]): boolean {
  for (const map of maps) {
    const r = step('map sizes', () => {
      const { type, keySize, valueSize, maxEntries } = map;
      if (type === 'ringbuf' || type === 'user_ringbuf') {
        if (maxEntries > 1 << 20) map.maxEntries = 1 << 16;
        return true;
      }
      if (keySize > 4096 || valueSize > 1 << 16) return false;
      const per = keySize + valueSize + 64;
      if (maxEntries * per > 1 << 24) map.maxEntries = Math.max(1, Math.floor((1 << 24) / per));
      return true;
    });
    if (r !== true) return false;
  }
  return true;
}

function touchBtf(rng: Rng, obj: BpfObject): void {
  const btf = obj.btf;
  if (!btf) return;
  const codecs = new CodecFactory(btf);
  for (let i = 0; i < 40 && btf.count > 1; i++) {
    const id = rng.range(1, btf.count - 1);
    step('btf.describe', () => btf.describe(id));
    step('btf.sizeOf', () => btf.sizeOf(id));
    const codec = step('codec', () => codecs.codec(id));
    if (failed(codec) || !(codec.size >= 0 && codec.size <= 1 << 16)) continue;
    const bytes = rng.bytes(codec.size);
    const value = step('codec.decode', () => codec.decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.length), 0));
    if (failed(value)) continue;
    step('codec.encode', () => codec.encode(value, new DataView(new ArrayBuffer(codec.size)), 0, 'value'));
  }
}

function inspect(obj: BpfObject): void {
  step('programs', () => {
    for (const p of obj.programs) {
      step('program.section', () => p.section);
      step('program.type', () => p.type);
      step('program.autoload', () => p.autoload);
      step('program.autoattach', () => p.autoattach);
    }
  });
  step('maps', () => {
    for (const m of obj.maps) {
      step('map.props', () => [m.type, m.keySize, m.valueSize, m.maxEntries, m.perCpu, m.btfTypeIds, m.pinPath]);
    }
  });
  step('globals', () => {
    for (const info of obj.globals.describe()) {
      const value = step('globals.get', () => obj.globals.get(info.name));
      if (!failed(value)) step('globals.set', () => obj.globals.set(info.name, value));
    }
  });
}

function afterLoad(rng: Rng, obj: BpfObject): void {
  for (const map of obj.maps) {
    step('map.read', () => {
      if (map.type === 'ringbuf') {
        const reader = map.ringBuffer();
        step('ringBuffer.drain', () => reader.drain());
        reader.close();
        return;
      }
      if (map.type === 'perf_event_array') {
        const reader = map.perfBuffer({ pageCount: 1 });
        step('perfBuffer.drain', () => reader.drain());
        reader.close();
        return;
      }
      let n = 0;
      for (const [key, value] of map.entries()) {
        step('map.set', () => map.set(key, value));
        if (++n >= 4) break;
      }
      if (map.keySize > 0 && map.keySize <= 4096) step('map.get', () => map.raw.get(Buffer.alloc(map.keySize)));
    });
  }
  for (const info of obj.globals.describe()) {
    const value = step('globals.get', () => obj.globals.get(info.name));
    if (!failed(value)) step('globals.set', () => obj.globals.set(info.name, value));
  }
  for (const program of obj.programs) {
    if (['socket_filter', 'xdp', 'sched_cls'].includes(String(step('type', () => program.type)))) {
      step('testRun', () => program.testRun({ data: rng.bytes(rng.range(14, 128)) }));
    }
  }
  const links = step('attach', () => obj.attach());
  if (!failed(links)) links.close();
}

export async function elfCase(rng: Rng, ctx: CaseContext): Promise<string> {
  const base = rng.pick(ctx.fixtures);
  const { elf, what } = mutate(
    rng,
    base.bytes,
    ctx.fixtures.map((f) => f.bytes),
  );
  ctx.describe(`${base.name}: ${what.join('; ')}`);
  const opened = step('open', () => BpfObject.open(elf, { pinRoot: ctx.pinRoot }));
  if (failed(opened)) return `open ${opened.error}`;
  const obj = opened;
  try {
    inspect(obj);
    touchBtf(rng, obj);
    if (!rng.chance(ctx.loadRate) || !fitsForLoad(step('maps', () => obj.maps) as BpfMap[])) return 'opened';
    const loaded = await stepAsync('load', () => obj.load());
    if (failed(loaded)) return `load ${loaded.error}`;
    afterLoad(rng, obj);
    return 'loaded';
  } finally {
    step('close', () => obj.close());
    if (!obj.closed) throw new Finding('close', new Error('the object is not closed after close()'));
  }
}
