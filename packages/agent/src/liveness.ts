/**
 * The node's liveness key (keys.alive(node)), bound to an etcd lease that the
 * agent keeps alive. When the agent dies the lease expires and the key goes,
 * which starts the controller's grace period for the node. Other lease-bound
 * records (the node status) are written through put() so that they go too.
 *
 * A lease can be lost while the agent lives (etcd unreachable for longer
 * than the TTL, or an operator revoked it): a new lease is granted, with
 * backoff, the alive key is written again, and `renewed` is emitted so that
 * owners of other lease-bound keys write theirs again.
 *
 * Only etcd says that a lease is lost. The lease is renewed here, not by
 * etcd3's automatic keepalive: that one calls the lease lost by itself when
 * it opens its keepalive stream again (after any break, such as an etcd
 * restart) more than two TTLs after its last renewal *on the wall clock*,
 * so a clock stepped forward followed by a one-second etcd restart cost the
 * node its lease (and, had the new grant been slow, its liveness key) while
 * etcd still held it. Here one renewal is sent every third of the TTL on a
 * timer (monotonic), each with its own deadline; the lease is lost when etcd
 * answers that it has expired or does not know it, never because time
 * seemed to pass.
 */
import { EventEmitter } from 'node:events';
import { type Etcd3, EtcdLeaseInvalidError, type Lease } from 'etcd3';
import type { Logger } from '@terrace/log';

export interface LivenessEvents {
  renewed: [];
}

export interface LivenessOptions {
  etcd: Etcd3;
  key: string;
  ttlSeconds: number;
  /** The alive key's value (written on every new lease). */
  value: () => string;
  log: Logger;
  /** Retry delays after a failed grant, ms (default 500 → 5000). */
  minRetryMs?: number;
  maxRetryMs?: number;
}

export class Liveness extends EventEmitter<LivenessEvents> {
  private lease: Lease | undefined;
  private granting: Promise<void> | undefined;
  private stopped = false;
  private retryMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private renewing = false;

  constructor(private readonly opts: LivenessOptions) {
    super();
    this.retryMs = opts.minRetryMs ?? 500;
  }

  /** Grants the first lease and writes the alive key; rejects if etcd refuses. */
  async start(): Promise<void> {
    await this.grant();
  }

  /** The lease's id (decimal), while there is one. */
  leaseId(): Promise<string> | undefined {
    return this.lease?.grant();
  }

  /** Writes a key bound to the current lease (a no-op while there is none; `renewed` follows). */
  async put(key: string, value: string): Promise<void> {
    const lease = this.lease;
    if (!lease || this.stopped) return;
    await lease.put(key).value(value).exec();
  }

  private grant(): Promise<void> {
    this.granting ??= (async () => {
      const { etcd, key, ttlSeconds } = this.opts;
      const lease = etcd.lease(ttlSeconds, { autoKeepAlive: false });
      lease.on('lost', (err) => this.lost(lease, err));
      try {
        await lease.grant();
        await lease.put(key).value(this.opts.value()).exec();
      } catch (e) {
        lease.release();
        throw e;
      }
      if (this.stopped) {
        await lease.revoke().catch(() => undefined);
        return;
      }
      this.lease = lease;
      this.retryMs = this.opts.minRetryMs ?? 500;
      this.renewEvery(lease);
    })().finally(() => {
      this.granting = undefined;
    });
    return this.granting;
  }

  /** etcd says `lease` is gone (expired, revoked): a new one, at once. */
  private lost(lease: Lease, err: Error): void {
    if (this.lease !== lease || this.stopped) return;
    this.opts.log.warn('liveness lease lost; granting a new one', { key: this.opts.key, error: err.message });
    this.lease = undefined;
    this.stopRenewing();
    this.scheduleRegrant(0);
  }

  /** Renews `lease` every third of the TTL, one renewal at a time. */
  private renewEvery(lease: Lease): void {
    this.stopRenewing();
    const everyMs = (this.opts.ttlSeconds * 1000) / 3;
    this.renewTimer = setInterval(() => {
      if (this.renewing || this.lease !== lease || this.stopped) return;
      this.renewing = true;
      // The deadline ends a renewal that etcd leaves unanswered, so the next one can go out
      // (grpc turns it into a timeout at once: the wall clock is read only for that instant).
      lease
        .keepaliveOnce({ deadline: Date.now() + everyMs })
        .catch((e: unknown) => {
          // etcd answered that the lease has expired: lost. Anything else (unreachable, no answer) waits for the next turn.
          if (e instanceof EtcdLeaseInvalidError) this.lost(lease, e);
          else this.opts.log.debug('liveness lease renewal failed; trying again', { key: this.opts.key, error: (e as Error).message });
        })
        .finally(() => {
          this.renewing = false;
        });
    }, everyMs);
  }

  private stopRenewing(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  private scheduleRegrant(delay: number): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.grant().then(
        () => {
          if (!this.stopped) this.emit('renewed');
        },
        (e: unknown) => {
          this.opts.log.warn('cannot grant a liveness lease; retrying', { key: this.opts.key, error: (e as Error).message, retryMs: this.retryMs });
          const next = this.retryMs;
          this.retryMs = Math.min(this.retryMs * 2, this.opts.maxRetryMs ?? 5000);
          this.scheduleRegrant(next);
        },
      );
    }, delay);
  }

  /**
   * Revokes the lease, so the alive key and everything bound to it go at once
   * (a clean shutdown is not a node failure).
   */
  async stop(opts: { revoke?: boolean } = {}): Promise<void> {
    this.stopped = true;
    this.stopRenewing();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.granting?.catch(() => undefined);
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    if (opts.revoke ?? true) await lease.revoke().catch(() => lease.release());
    else lease.release();
  }
}
