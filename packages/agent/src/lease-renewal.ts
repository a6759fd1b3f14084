/**
 * Keeps one etcd lease alive, with etcd as the only judge of its loss.
 *
 * etcd3's automatic keepalive calls a lease lost by itself when it opens its
 * keepalive stream again (after any break, such as an etcd restart) more
 * than two TTLs after its last renewal on the *wall clock*: a clock stepped
 * forward followed by a one-second etcd restart cost a node its lease while
 * etcd still held it. Here a renewal goes out every third of the TTL on a
 * Node timer (monotonic clock) over one long-lived keepalive stream, as
 * etcd3 does it (a fresh stream per renewal cost about four times the CPU);
 * the lease is lost only when etcd answers TTL 0 (expired, revoked or
 * unknown). A stream that errs, ends, or leaves a renewal unanswered for a
 * whole TTL (etcd hung, the connection silently gone) is dropped and opened
 * again at the next turn.
 */
import { monotonicMs } from '@terrace/api';
import type { Logger } from '@terrace/log';
import { type Etcd3, EtcdLeaseInvalidError, type IDuplexStream, type ILeaseKeepAliveRequest, type ILeaseKeepAliveResponse } from 'etcd3';

type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

export interface LeaseRenewalOptions {
  etcd: Etcd3;
  /** The lease's id (decimal). */
  id: string;
  ttlSeconds: number;
  /** etcd answered that the lease is gone; renewals have stopped. */
  onLost: (err: Error) => void;
  log: Logger;
  /** For log lines. */
  what: string;
}

export class LeaseRenewal {
  private timer: NodeJS.Timeout | undefined;
  private stream: KeepAliveStream | undefined;
  private opening = false;
  /** Monotonic time of the oldest renewal not answered yet. */
  private waitingSince: number | undefined;
  private stopped = false;

  constructor(private readonly opts: LeaseRenewalOptions) {}

  start(): void {
    const ttlMs = this.opts.ttlSeconds * 1000;
    this.timer = setInterval(() => this.turn(ttlMs), ttlMs / 3);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.drop();
  }

  private turn(ttlMs: number): void {
    if (this.stopped) return;
    if (this.waitingSince !== undefined && monotonicMs() - this.waitingSince > ttlMs) {
      this.opts.log.debug('lease renewal unanswered for a TTL; opening the stream again', { what: this.opts.what });
      this.drop();
    }
    const s = this.stream;
    if (!s) {
      void this.open();
      return;
    }
    this.waitingSince ??= monotonicMs();
    try {
      s.write({ ID: this.opts.id });
    } catch (e) {
      this.failed(s, e as Error);
    }
  }

  private async open(): Promise<void> {
    if (this.opening) return;
    this.opening = true;
    try {
      const s = await this.opts.etcd.leaseClient.leaseKeepAlive();
      if (this.stopped) return void s.end();
      this.stream = s;
      s.on('data', (res) => {
        if (this.stream !== s) return;
        if (res.TTL === '0') {
          this.stop();
          this.opts.onLost(new EtcdLeaseInvalidError(res.ID));
          return;
        }
        this.waitingSince = undefined;
      });
      s.on('error', (e) => this.failed(s, e));
      s.on('end', () => this.failed(s, new Error('keepalive stream ended')));
      this.waitingSince = monotonicMs();
      s.write({ ID: this.opts.id });
    } catch (e) {
      this.opts.log.debug('cannot open a lease keepalive stream; trying again', { what: this.opts.what, error: (e as Error).message });
    } finally {
      this.opening = false;
    }
  }

  private failed(s: KeepAliveStream, e: Error): void {
    if (this.stream !== s) return;
    this.opts.log.debug('lease keepalive stream failed; opening it again', { what: this.opts.what, error: e.message });
    this.drop();
  }

  private drop(): void {
    const s = this.stream;
    this.stream = undefined;
    this.waitingSince = undefined;
    if (!s) return;
    // end(), not cancel(): etcd3 takes a cancelled stream's error for a failed host.
    try {
      s.end();
    } catch {
      // already closed
    }
  }
}
