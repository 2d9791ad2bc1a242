import * as fs from 'node:fs';
import type { NativeFdWatcher } from '../../typings/native';
import { native } from '../binding';
import { TRACEFS_ACCESS_HINT, TRACEFS_PATHS, bpfError, tracefsRoot } from '../errors';
import { Wakeups, closingIterator } from './wakeups';

/** One line of the kernel's trace pipe, e.g. what bpf_printk() wrote. */
export interface TraceLine {
  /** The task's command name. */
  task: string;
  pid: number;
  cpu: number;
  /** irqs-off / need-resched / hardirq-softirq / preempt-depth flags, e.g. "d..31". */
  flags: string;
  /** Seconds, on the trace clock. */
  timestamp: number;
  /** The trace event, e.g. "bpf_trace_printk". */
  event: string;
  /** What the event printed, e.g. "Hello, World!". */
  message: string;
  /** The whole line. */
  raw: string;
}

export interface TracePipeOptions {
  /** Aborting ends the iteration with the signal's reason (an AbortError). */
  signal?: AbortSignal;
  /** Lines queued in JS before reading pauses (default 4096). */
  highWaterMark?: number;
}

const LINE = /^\s*(.*?)-(\d+)\s+(?:\(\s*(?:\d+|-+)\)\s+)?\[(\d+)\]\s+(?:(\S{4,5})\s+)?(\d+\.\d+):\s+(?:([\w:.-]+):\s?)?(.*)$/;

/** Parses one trace_pipe line; lines of other shapes keep their text in `message`. */
export function parseTraceLine(raw: string): TraceLine {
  const m = LINE.exec(raw);
  if (!m) return { task: '', pid: 0, cpu: 0, flags: '', timestamp: 0, event: '', message: raw, raw };
  return {
    task: m[1],
    pid: Number(m[2]),
    cpu: Number(m[3]),
    flags: m[4] ?? '',
    timestamp: Number(m[5]),
    event: m[6] ?? '',
    message: m[7],
    raw,
  };
}

/**
 * The lines of /sys/kernel/tracing/trace_pipe as an async iterable: what bpf_printk()
 * writes, parsed. Reading consumes them (the pipe has one reader, system-wide). The fd is
 * non-blocking and watched on the event loop: no thread waits on it.
 */
export class TracePipe implements AsyncIterable<TraceLine>, Disposable {
  #fd: number;
  readonly #watcher: NativeFdWatcher;
  readonly #onReadable: (error: Error | null) => void;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;
  readonly #highWaterMark: number;
  readonly #buffer = Buffer.alloc(64 * 1024);
  #partial = '';
  #lines: TraceLine[] = [];
  readonly #wakeups = new Wakeups();
  #watching = false;
  #error: unknown = undefined;

  constructor(options: TracePipeOptions = {}) {
    options.signal?.throwIfAborted();
    this.#highWaterMark = options.highWaterMark ?? 4096;
    const root = TRACEFS_PATHS.find((p) => fs.existsSync(`${p}/trace_pipe`)) ?? tracefsRoot();
    if (!root) {
      throw bpfError('tracePipe', 'ENOENT', 'tracefs is not mounted: mount it with "mount -t tracefs tracefs /sys/kernel/tracing"');
    }
    try {
      this.#fd = fs.openSync(`${root}/trace_pipe`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
      const hint = code === 'EACCES' || code === 'EPERM' ? `: ${TRACEFS_ACCESS_HINT}` : '';
      throw bpfError('tracePipe', code as 'EACCES', `cannot open ${root}/trace_pipe: ${(e as Error).message}${hint}`);
    }
    this.#onReadable = (error) => this.#read(error);
    this.#watcher = new native.FdWatcher(this.#fd, this.#onReadable);
    this.#signal = options.signal;
    this.#onAbort = () => this.#fail(this.#signal?.reason ?? new Error('aborted'));
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  #read(error: Error | null): void {
    if (error) {
      this.#fail(error);
      return;
    }
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(this.#fd, this.#buffer, 0, this.#buffer.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
        this.#fail(e);
        return;
      }
      if (n === 0) break;
      const text = this.#partial + this.#buffer.toString('utf8', 0, n);
      const parts = text.split('\n');
      this.#partial = parts.pop() ?? '';
      for (const line of parts) if (line) this.#lines.push(parseTraceLine(line));
      if (this.#lines.length >= this.#highWaterMark) break;
    }
    if (this.#lines.length >= this.#highWaterMark) this.#pause();
    this.#wakeups.wakeAll();
  }


  #pause(): void {
    if (this.#watching) {
      this.#watcher.stop();
      this.#watching = false;
    }
  }

  /** The next line; `done` once closed. */
  async next(): Promise<IteratorResult<TraceLine>> {
    for (;;) {
      if (this.#error !== undefined) {
        const error = this.#error;
        this.#error = undefined;
        throw error;
      }
      if (this.#lines.length > 0) return { value: this.#lines.shift() as TraceLine, done: false };
      if (this.closed) return { value: undefined, done: true };
      const woken = this.#wakeups.wait();
      if (!this.#watching) {
        this.#watcher.start();
        this.#watching = true;
      }
      await woken;
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<TraceLine> {
    return closingIterator(() => this.next(), () => this.close());
  }

  #fail(error: unknown): void {
    if (this.closed) return;
    this.#error = error;
    this.close();
  }

  /** Stops reading and closes the pipe; pending iterations end. */
  close(): void {
    if (this.closed) return;
    this.#watcher.close(); // before the fd it watches
    fs.closeSync(this.#fd);
    this.#fd = -1;
    this.#watching = false;
    this.#lines = [];
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#wakeups.wakeAll();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The kernel's trace pipe, parsed: `for await (const line of tracePipe()) ...`. */
export function tracePipe(options: TracePipeOptions = {}): TracePipe {
  return new TracePipe(options);
}
