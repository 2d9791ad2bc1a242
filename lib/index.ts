export { BpfObject, type OpenOptions } from './object';
export { Program } from './program';
export { BpfMap, type UpdateFlag } from './map/map';
export { type BytesInput } from './map/bytes';
export { Link, LinkGroup } from './link';
export { RingBuffer, type RingBufferOptions, type RingBufferRecord, type RingBufferStats } from './events/ring-buffer';
export { BpfError, VerifierError } from './errors';
export { libbpfVersion, vmlinuxHeader } from './system';
