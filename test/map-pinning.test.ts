import * as fs from 'node:fs';
import * as path from 'node:path';
import { BpfMap, BpfObject, u32 } from '../lib';
import { fixture } from './helpers/kernel';

// A pin root of our own under bpffs, removed with everything in it afterwards.
const root = fs.mkdtempSync('/sys/fs/bpf/ebpf-test-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('pinning', () => {
  test('LIBBPF_PIN_BY_NAME maps are pinned under pinRoot and reused by the next load', async () => {
    {
      using obj = BpfObject.open(fixture('pinned'), { pinRoot: root });
      await obj.load();
      const kept = obj.map<number, bigint>('kept');
      expect(kept.pinPath).toBe(path.join(root, 'kept'));
      kept.set(1, 42n);
      expect(obj.map('plain').pinPath).toBeNull();
    }
    expect(fs.existsSync(path.join(root, 'kept'))).toBe(true); // survives close()
    {
      using again = BpfObject.open(fixture('pinned'), { pinRoot: root });
      await again.load();
      expect(again.map('kept').get(1)).toBe(42n); // the same kernel map
      again.map('kept').unpin();
    }
    expect(fs.existsSync(path.join(root, 'kept'))).toBe(false);
  });

  test('pin(), openPinned() outside any object, unpin()', async () => {
    const pin = path.join(root, 'plain');
    {
      using obj = BpfObject.open(fixture('pinned'), { pinRoot: root });
      await obj.load();
      obj.map('plain').set(2, 7);
      obj.map('plain').pin(pin);
      obj.map('kept').unpin();
    }
    const raw = BpfMap.openPinned(pin);
    expect([raw.type, raw.keySize, raw.valueSize, raw.maxEntries, raw.name]).toEqual(['array', 4, 4, 4, 'plain']);
    expect(raw.get(Buffer.from([2, 0, 0, 0]))!.readUInt32LE(0)).toBe(7);
    const typed = raw.withCodecs(u32, u32);
    expect([...typed.entries()]).toEqual([
      [0, 0],
      [1, 0],
      [2, 7],
      [3, 0],
    ]);
    typed.set(3, 9);
    expect(() => {
      raw.maxEntries = 8;
    }).toThrow(/cannot change: the map exists in the kernel already/);
    raw.unpin(pin);
    expect(fs.existsSync(pin)).toBe(false);
    expect(typed.get(3)).toBe(9); // still open
    raw.close();
    expect(() => raw.get(Buffer.alloc(4))).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(() => BpfMap.openPinned(path.join(root, 'nothing'))).toThrow(expect.objectContaining({ code: 'ENOENT', operation: 'openPinned' }));
  });

  test('after unpin(), pin() puts the map somewhere else; pinPath follows', async () => {
    const [first, second] = [path.join(root, 'moved-a'), path.join(root, 'moved-b')];
    using obj = BpfObject.open(fixture('pinned'), { pinRoot: root });
    await obj.load();
    const plain = obj.map<number, number>('plain');
    plain.set(1, 11);
    plain.pin(first);
    expect(plain.pinPath).toBe(first);
    plain.unpin();
    expect([fs.existsSync(first), plain.pinPath]).toEqual([false, null]);
    plain.pin(second);
    expect(plain.pinPath).toBe(second);
    using again = BpfMap.openPinned(second).withCodecs(u32, u32);
    expect(again.get(1)).toBe(11); // the same kernel map, under its new path
    plain.unpin();
    expect(fs.existsSync(second)).toBe(false);
    obj.map('kept').unpin();
  });
});
