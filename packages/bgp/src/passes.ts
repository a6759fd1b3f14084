/**
 * The reconcile loop both speakers run: one pass at a time, concurrent
 * callers sharing the next pass (a burst of changes costs at most one extra
 * pass), and a failed pass retried in the background with doubling backoff.
 */
export interface PassLoopOptions {
  /** One pass: bring the daemon to the desired state; throws to be retried. */
  apply: () => Promise<void>;
  /** Every failed pass's error. */
  report: (e: Error) => void;
  /** First retry delay after a failed pass (default 200 ms), doubling up to maxRetryMs (default 5 s). */
  minRetryMs?: number;
  maxRetryMs?: number;
}

export class PassLoop {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private synced = false;
  private retryMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: PassLoopOptions) {
    this.retryMs = opts.minRetryMs ?? 200;
  }

  /** Runs a pass; concurrent callers share the next one. Rejects if that pass failed (it is then retried). */
  run(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.queued) return this.queued;
    if (!this.running) {
      this.running = this.pass().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    const queued = this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.run();
      });
    this.queued = queued;
    return queued;
  }

  /** A pass now: a retry waiting out its backoff runs at once, and the backoff starts again from the minimum. */
  now(): void {
    if (this.stopped) return;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    this.retryMs = this.opts.minRetryMs ?? 200;
    void this.run().catch(() => undefined);
  }

  /** True once the last pass succeeded and none is waiting. */
  inSync(): boolean {
    return this.synced && !this.queued;
  }

  /** No more passes; resolves once the running one is over. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<void> {
    this.synced = false;
    try {
      await this.opts.apply();
      this.synced = true;
      this.retryMs = this.opts.minRetryMs ?? 200;
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.opts.report(err);
      this.scheduleRetry();
      throw err;
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, this.opts.maxRetryMs ?? 5000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.run().catch(() => undefined);
    }, delay);
  }
}
