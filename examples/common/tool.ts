// What the example tools share: flags and usage, the path of their compiled object,
// Ctrl-C, and a tick every interval until then.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** One command-line tool: its name (also its object's, build-bpf/<name>.bpf.o) and usage text. */
export class Tool {
  constructor(
    readonly name: string,
    readonly usage: string,
  ) {}

  /** Prints the message and the usage on stderr and exits with 2 (a bad command line). */
  fail(message: string): never {
    process.stderr.write(`${this.name}: ${message}\n${this.usage}\n`);
    process.exit(2);
  }

  /** Parses the command line; -h/--help prints the usage and exits, a bad flag fails. */
  parse<const T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
    let parsed: ReturnType<typeof parseArgs<T>>;
    try {
      parsed = parseArgs(config);
    } catch (e) {
      this.fail((e as Error).message);
    }
    if ((parsed.values as { help?: boolean }).help) {
      process.stdout.write(`${this.usage}\n`);
      process.exit(0);
    }
    return parsed;
  }

  /** A flag's value as an integer in [min, max], or the default when absent; anything else fails. */
  integer(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) this.fail(`${flag} must be an integer from ${min} to ${max}, got '${value}'`);
    return n;
  }

  /** The compiled object: `override`, or build-bpf/<name>.bpf.o of this checkout. */
  objectPath(override?: string): string {
    return override ?? path.resolve(__dirname, '../../../build-bpf', `${this.name}.bpf.o`);
  }

  /**
   * Runs the tool's main; an error is printed as "<name>: message" with exit code 1. When
   * main is done, nothing of BPF may still be open (links, programs, maps): the tool
   * checks, and says so with exit code 1 if something is.
   */
  run(main: () => Promise<void>): void {
    main().then(
      () => {
        const left = openBpfFds();
        if (left.length === 0) return;
        process.stderr.write(`${this.name}: still open after detaching and closing: ${left.join(', ')}\n`);
        process.exitCode = 1;
      },
      (e: unknown) => {
        process.stderr.write(`${this.name}: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  }
}

/** This process's open BPF file descriptors, by kind: e.g. ["1 bpf_link", "2 bpf-map"]. */
function openBpfFds(): string[] {
  const kinds = new Map<string, number>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let target = '';
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory's own fd, closed by now
    }
    const kind = /^anon_inode:\[?(bpf[-_a-z]*)\]?$/.exec(target)?.[1];
    if (kind) kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return [...kinds].map(([kind, n]) => `${n} ${kind}`);
}

/** A signal aborted on the first SIGINT (Ctrl-C) or SIGTERM, or after `seconds` when given. */
export function untilInterrupted(seconds?: number): AbortSignal {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.on('SIGINT', stop); // on, not once: a second Ctrl-C while it stops is not a kill
  process.on('SIGTERM', stop);
  if (seconds !== undefined) setTimeout(stop, seconds * 1000).unref();
  return controller.signal;
}

/** Resolves after `seconds`, or at once when `signal` aborts; true when it was the time that came. */
export function sleep(seconds: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const done = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', done);
      resolve(true);
    }, seconds * 1000);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Calls `tick` every `seconds` until `signal` aborts, or `count` times. */
export async function everyInterval(seconds: number, signal: AbortSignal, tick: () => void, options: { count?: number } = {}): Promise<void> {
  for (let n = 0; options.count === undefined || n < options.count; n++) {
    if (!(await sleep(seconds, signal))) return;
    tick();
  }
}

/** Pads a row of cells to the widths given (negative: right-aligned), joined by a space. */
export function columns(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => (widths[i] < 0 ? String(c).padStart(-widths[i]) : String(c).padEnd(widths[i]))).join(' ').trimEnd();
}
