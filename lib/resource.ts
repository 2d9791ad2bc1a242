import type { CodecFactory } from './btf/codec';
import type { BpfMap } from './map/map';

// What BpfObject, Program, BpfMap, Link and the readers share: the object that owns them
// tracks what they opened, so closing it closes readers, then links, then itself.

export interface Closable {
  close(): void;
}

/** The part of a BpfObject that its programs and maps see. */
export interface ObjectContext {
  readonly name: string;
  readonly loaded: boolean;
  readonly closed: boolean;
  /** The object's map of that name, if it has one. */
  findMap(name: string): BpfMap | undefined;
  /** Codecs for the object's BTF types, when it has BTF. */
  codecs(): CodecFactory | undefined;
  /** A map opened from a pin, with no object. */
  readonly standalone?: boolean;
  closeStandalone?(): void;
  /** Throws a BpfError when the object is closed or loading. */
  assertUsable(operation: string): void;
  /** Throws a BpfError unless the object is loaded (and usable). */
  assertLoaded(operation: string): void;
  /** Throws a BpfError once the object is loaded (open-time settings). */
  assertNotLoaded(operation: string, what: string): void;
  trackLink(link: Closable): void;
  untrackLink(link: Closable): void;
  trackReader(reader: Closable): void;
  untrackReader(reader: Closable): void;
}

/** The names that exist, for "unknown name" messages. */
export function listNames(names: Iterable<string>): string {
  const all = [...names];
  return all.length === 0 ? 'it has none' : `it has: ${all.map((n) => `'${n}'`).join(', ')}`;
}
