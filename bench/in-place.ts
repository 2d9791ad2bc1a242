// What the bench's scripts share: the in-place read every drain case times, and the median.
import type { RecordBatch } from 'ebpf';

/**
 * The first 4 bytes of every record of a batch, summed, read in place through `batch.slab`
 * and `batch.offset(i)` into a local (the C side reads each record's first 8 bytes into
 * a sum in its callback).
 */
export function sumInPlace(batch: RecordBatch<unknown>): number {
  const slab = batch.slab;
  const view = new DataView(slab.buffer, slab.byteOffset, slab.byteLength);
  let sum = 0;
  for (let i = 0; i < batch.length; i++) sum = (sum + view.getUint32(batch.offset(i), true)) | 0;
  return sum;
}

/** The median of repeated measurements (the upper one of an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
