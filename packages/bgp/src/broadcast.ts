/**
 * Fan-out of event batches to any number of async-iterator subscribers. Each
 * subscriber has its own unbounded queue (a slow consumer delays only
 * itself); iteration ends when the broadcast closes or the consumer breaks.
 */
export class Broadcast<T> {
  private readonly subs = new Set<Subscriber<T>>();
  private closed = false;

  publish(item: T): void {
    for (const s of this.subs) s.push(item);
  }

  close(): void {
    this.closed = true;
    for (const s of this.subs) s.end();
    this.subs.clear();
  }

  get subscribers(): number {
    return this.subs.size;
  }

  /** Subscribes; `initial` items (if any) are delivered first. */
  subscribe(initial: readonly T[] = []): AsyncIterable<T> {
    const sub = new Subscriber<T>(() => this.subs.delete(sub));
    for (const i of initial) sub.push(i);
    if (this.closed) sub.end();
    else this.subs.add(sub);
    return sub;
  }
}

class Subscriber<T> implements AsyncIterable<T> {
  private queue: T[] = [];
  private head = 0;
  private done = false;
  private wake: (() => void) | undefined;

  constructor(private readonly detach: () => void) {}

  push(item: T): void {
    if (this.done) return;
    this.queue.push(item);
    this.wake?.();
  }

  end(): void {
    this.done = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        if (this.head < this.queue.length) {
          const item = this.queue[this.head] as T;
          this.head += 1;
          if (this.head > 1024 && this.head * 2 > this.queue.length) {
            this.queue = this.queue.slice(this.head);
            this.head = 0;
          }
          yield item;
          continue;
        }
        if (this.done) return;
        await new Promise<void>((r) => {
          this.wake = r;
        });
        this.wake = undefined;
      }
    } finally {
      this.done = true;
      this.detach();
    }
  }
}
