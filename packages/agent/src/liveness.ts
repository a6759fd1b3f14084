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
 * Only etcd says that a lease is lost: the lease is renewed by
 * LeaseRenewal (lease-renewal.ts) on the monotonic clock, not by etcd3's
 * automatic keepalive, which judges loss on the wall clock.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3, Lease } from 'etcd3';
import { LeaseRenewal } from './lease-renewal.js';
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
  private renewal: LeaseRenewal | undefined;

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
      let id: string;
      try {
        id = await lease.grant();
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
      this.renewEvery(lease, id);
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

  /** Keeps `lease` alive until etcd says it is gone. */
  private renewEvery(lease: Lease, id: string): void {
    this.stopRenewing();
    this.renewal = new LeaseRenewal({ etcd: this.opts.etcd, id, ttlSeconds: this.opts.ttlSeconds, log: this.opts.log, what: this.opts.key, onLost: (err) => this.lost(lease, err) });
    this.renewal.start();
  }

  private stopRenewing(): void {
    this.renewal?.stop();
    this.renewal = undefined;
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
