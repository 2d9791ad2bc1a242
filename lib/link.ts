import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import type { NativeLinkHandle } from '../typings/native';
import { native } from './binding';
import { bpfError } from './errors';
import type { Closable, ObjectContext } from './resource';
import { type LinkInfo, bySystemId, checkId } from './system';

/** What a link reports its life to: its object, or nothing for a link opened by id. */
type LinkOwner = Pick<ObjectContext, 'trackLink' | 'untrackLink'>;
const NO_OWNER: LinkOwner = { trackLink: () => undefined, untrackLink: () => undefined };

// A link dropped without close() is detached when it is garbage-collected (or when the
// process exits): say so, since the program stopped running at a moment nobody chose.
const dropped = new FinalizationRegistry<string>((what) => {
  process.emitWarning(`${what} was garbage-collected without close(): the program has been detached`, {
    type: 'EbpfWarning',
    code: 'EBPF_LINK_NOT_CLOSED',
  });
});

/** One attachment of a program to a kernel hook. Closing it detaches the program. */
export class Link implements Disposable {
  readonly #handle: NativeLinkHandle;
  readonly #owner: LinkOwner;
  /** Opened by id: detach() detaches it in the kernel, whoever holds it. */
  readonly #byId: boolean;
  /** Where openPinned() found it: unpin()'s default path. */
  #pinnedAt: string | undefined;
  /** The program's name. */
  readonly program: string;
  /** Where it is attached, e.g. "tracepoint syscalls/sys_enter_execve". */
  readonly target: string;

  /**
   * The link with kernel id `id`, made by any process (see listLinks()): its info, pin(),
   * update(), detach(). Closing it drops this process's reference only: the link stays
   * while its maker holds it or a pin does; detach() takes the program off its hook
   * regardless (link types with BPF_LINK_DETACH: XDP, tcx, cgroup, netns, netfilter...).
   * Unknown id: BpfError ENOENT. Needs CAP_SYS_ADMIN.
   */
  static fromId(id: number): Link {
    checkId(id, 'Link.fromId');
    return bySystemId(() => Link.#standalone(native.openLinkById(id)));
  }

  /**
   * The link pinned at `path` in bpffs (by `link.pin()`, bpftool or another program): its
   * info, update(), unpin(), detach(). As for fromId(), closing it drops this process's
   * reference only (the pin keeps the program attached); detach() takes the program off its
   * hook. A path that holds a map or a program is a BpfError EINVAL.
   */
  static openPinned(path: string): Link {
    if (typeof path !== 'string' || !path) throw new TypeError('Link.openPinned needs the pin path');
    const link = Link.#standalone(native.openPinnedLink(path));
    link.#pinnedAt = path;
    return link;
  }

  /** A Link over a handle with no object: its program named from the kernel when it can be. */
  static #standalone(handle: NativeLinkHandle): Link {
    try {
      const info = handle.info();
      let program = `program id ${info.programId}`;
      try {
        program = native.programInfoById(info.programId).name;
      } catch {
        // without CAP_SYS_ADMIN, the program id is enough
      }
      return new Link(handle, NO_OWNER, program, info.target || info.type, true);
    } catch (e) {
      handle.destroy();
      throw e;
    }
  }

  /** @internal Links are made by Program.attach*(), Link.fromId() and Link.openPinned(). */
  constructor(handle: NativeLinkHandle, owner: LinkOwner, program: string, target: string, byId = false) {
    this.#byId = byId;
    this.#handle = handle;
    this.#owner = owner;
    this.program = program;
    this.target = target;
    owner.trackLink(this);
    dropped.register(this, `Link(${program} -> ${target})`, this);
  }

  get closed(): boolean {
    return this.#handle.closed;
  }

  /**
   * The link's file descriptor. Attachments that are not BPF links (socket filters, clsact
   * tc filters, XDP set through netlink) have none: a BpfError with code EOPNOTSUPP.
   */
  get fd(): number {
    if (this.#handle.closed) throw bpfError('link.fd', 'EBADF', `the link of program '${this.program}' is closed`);
    return this.#handle.fd;
  }

  /**
   * The kernel's view: link id, type (e.g. "xdp", "tcx", "perf_event"), program id, target.
   * For attachments that are not BPF links the id is 0 and the type "socket_filter", "tc" or
   * "xdp".
   */
  get info(): LinkInfo {
    return this.#handle.info();
  }

  /** Pins the link in bpffs: the program stays attached after this process exits, until unpinned. */
  pin(path: string): void {
    this.#handle.pin(path);
  }

  /** Removes the link's pin (at `path`, or where it was pinned). */
  unpin(path?: string): void {
    this.#handle.unpin(path ?? this.#pinnedAt);
  }

  /**
   * Atomically replaces the attached program (XDP, tcx, cgroup and other BPF links; socket
   * filters, clsact tc filters and XDP set through netlink too).
   */
  update(program: { fd: number; name: string }): void {
    this.#handle.update(program.fd);
  }

  /** For iterator links: runs the iterator once and returns all it printed. */
  async read(): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.stream()) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  /**
   * For iterator links: runs the iterator once, as a Readable of its output (read off the
   * main thread, chunk by chunk, for iterators that print a lot).
   */
  stream(): Readable {
    const fd = this.#handle.openIter();
    return fs.createReadStream('', { fd, autoClose: true, highWaterMark: 64 * 1024 });
  }

  /**
   * Detaches the program and frees the link (the same as close()). For a link from
   * fromId(), takes the program off its hook first (BPF_LINK_DETACH), whoever holds it.
   */
  detach(): void {
    if (this.#byId && !this.#handle.closed) this.#handle.forceDetach();
    this.close();
  }

  /** Detaches the program and frees the link. Idempotent. */
  close(): void {
    if (this.#handle.closed) return;
    dropped.unregister(this);
    this.#handle.destroy();
    this.#owner.untrackLink(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    return `Link(${this.program} -> ${this.target}${this.closed ? ', closed' : ''})`;
  }
}

/** The links made by BpfObject.attach(): iterable, and closed together. */
export class LinkGroup implements Disposable, Iterable<Link>, Closable {
  readonly links: readonly Link[];
  /** Programs that were not attached because their SEC() does not say where to. */
  readonly skipped: readonly string[];

  /** @internal */
  constructor(links: Link[], skipped: string[]) {
    this.links = links;
    this.skipped = skipped;
  }

  /** A group of links made elsewhere, closed together. */
  static of(links: Iterable<Link>): LinkGroup {
    return new LinkGroup([...links], []);
  }

  get length(): number {
    return this.links.length;
  }

  [Symbol.iterator](): Iterator<Link> {
    return this.links[Symbol.iterator]();
  }

  /** Detaches every link (in reverse order of attachment). */
  close(): void {
    for (let i = this.links.length - 1; i >= 0; i--) this.links[i].close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
