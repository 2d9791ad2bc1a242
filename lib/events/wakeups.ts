// What the event readers (RingBuffer, PerfBuffer, TracePipe) share on the consumer side.

/** Consumers waiting for something to change (data, the end, an error), woken all at once. */
export class Wakeups {
  #waiting: (() => void)[] = [];

  /** Resolves at the next wakeAll(). */
  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  wakeAll(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const wake of waiting) wake();
  }
}

/** An async iterator over `next` whose early end (`break`, `return`) closes the source. */
export function closingIterator<T>(next: () => Promise<IteratorResult<T>>, close: () => void): AsyncIterator<T> {
  return {
    next,
    return: (value?: unknown) => {
      close();
      return Promise.resolve({ value: value as T, done: true });
    },
  };
}
