// What counts as a clean end of a fuzz case: success, or one of the typed errors the API
// promises (BpfError with errno/code, TypeError, RangeError). Anything else is a finding.
import { BpfError } from '../lib';

export class Finding extends Error {
  constructor(
    readonly step: string,
    override readonly cause: unknown,
  ) {
    super(`${step}: ${describeError(cause)}`);
    this.name = 'Finding';
  }
}

export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}: ${e.message.split('\n')[0]}`;
  return `non-error thrown: ${String(e)}`;
}

/** Whether `e` is an error the API is allowed to throw. */
export function isTyped(e: unknown): boolean {
  if (e instanceof BpfError) return typeof e.errno === 'number' && e.errno > 0 && typeof e.code === 'string' && e.code.length > 0;
  return e instanceof TypeError || e instanceof RangeError;
}

/** Short label of a typed error, for outcome counts. */
export function label(e: unknown): string {
  if (e instanceof BpfError) return `BpfError ${e.code}`;
  return (e as Error).constructor.name;
}

/** Runs `fn`; a typed error is returned as its label, anything else becomes a Finding. */
export function step<T>(name: string, fn: () => T): T | { error: string } {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Finding) throw e;
    if (!isTyped(e)) throw new Finding(name, e);
    return { error: label(e) };
  }
}

export async function stepAsync<T>(name: string, fn: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Finding) throw e;
    if (!isTyped(e)) throw new Finding(name, e);
    return { error: label(e) };
  }
}

export function failed(v: unknown): v is { error: string } {
  return typeof v === 'object' && v !== null && 'error' in v && Object.keys(v).length === 1;
}
