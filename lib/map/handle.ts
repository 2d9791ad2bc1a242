// A map's native handle with its fixed properties read once: reading them from the addon
// is an N-API call each time, and map operations need them on every call.
import type { NativeMapHandle } from '../../typings/native';

export function cacheMapHandle(h: NativeMapHandle): NativeMapHandle {
  const fixed = {
    name: h.name,
    type: h.type,
    keySize: h.keySize,
    valueSize: h.valueSize,
    valueBytes: h.valueBytes,
    perCpu: h.perCpu,
    btfKeyTypeId: h.btfKeyTypeId,
    btfValueTypeId: h.btfValueTypeId,
  };
  return {
    ...fixed,
    get maxEntries() {
      return h.maxEntries;
    },
    set maxEntries(value: number) {
      h.maxEntries = value;
    },
    get fd() {
      return h.fd;
    },
    get pinPath() {
      return h.pinPath;
    },
    lookup: h.lookup.bind(h),
    lookupInto: h.lookupInto.bind(h),
    bindBuffers: h.bindBuffers.bind(h),
    update: h.update.bind(h),
    delete: h.delete.bind(h),
    nextKey: h.nextKey.bind(h),
    dataBuffer: h.dataBuffer.bind(h),
    writeData: h.writeData.bind(h),
    lookupBatch: h.lookupBatch.bind(h),
    lookupBatchInto: h.lookupBatchInto.bind(h),
    updateBatch: h.updateBatch.bind(h),
    deleteBatch: h.deleteBatch.bind(h),
    push: h.push.bind(h),
    pop: h.pop.bind(h),
    peek: h.peek.bind(h) as NativeMapHandle['peek'],
    freeze: h.freeze.bind(h),
    pin: h.pin.bind(h),
    unpin: h.unpin.bind(h),
    close: h.close.bind(h),
    info: h.info.bind(h),
  };
}
