/**
 * Leader election through etcd (etcd3's election: every candidate holds a
 * lease-bound key under keys.leaderElectionPrefix(); the oldest key leads).
 *
 * Being elected once is not enough to act: the election lease can run out
 * (etcd unreachable, the lease revoked by hand) long before etcd3 notices
 * (it reports a lost lease only after twice the TTL). So leadership here is
 * a claim with an end: after each confirmation (our key is still the
 * oldest, and its lease has N seconds left, read after the moment we
 * started asking) we may act until then. A watchdog re-confirms several
 * times per TTL; `isLeader()` turns false by itself when a confirmation is
 * overdue, so the controller stops acting at once, even with etcd silent.
 * No other candidate can be elected before our key is gone, which cannot
 * happen before our lease's TTL has run out.
 *
 * The observer (election.observe()) tells us when the leadership may have
 * changed; who leads is then read again from etcd (the oldest candidate
 * key), because etcd3 1.1's observer, started while candidates are being
 * created, can settle on the newest key instead of the oldest. A follower
 * also re-reads it every TTL, for the logs. While elected, a leader other
 * than us prompts an immediate re-confirmation, never a loss by itself.
 * Any campaign error ends leadership and starts a new campaign after a
 * backoff; so does a failed confirmation.
 */
import { EventEmitter } from 'node:events';
import { monotonicMs } from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import type { Campaign, Election, ElectionObserver, Etcd3 } from 'etcd3';
import type { Logger } from '@terrace/log';

export const ELECTION_NAME = 'controller';

export interface LeaderElectionOptions {
  etcd: Etcd3;
  keys: Keys;
  identity: string;
  /** Election lease TTL in seconds (at least 1). */
  ttlSeconds: number;
  log: Logger;
  /** First delay before campaigning again after an error, ms; doubles up to 10 s. Default 500. */
  retryMs?: number;
}

export interface LeaderEvents {
  elected: [];
  /** Leadership ended; the reason is for logs. */
  lost: [string];
  /** The observer saw a new leader (undefined: none). */
  leader: [string | undefined];
}

/** Our election key with the create revision a fenced write compares. */
export interface Fence {
  key: string;
  createRevision: string;
}

export class LeaderElection extends EventEmitter<LeaderEvents> {
  private readonly election: Election;
  /** Where the candidates' keys live (the election's namespace). */
  readonly candidatesPrefix: string;
  private campaign: Campaign | undefined;
  private elected = false;
  private validUntil = 0;
  private fenceKey: Fence | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private observer: ElectionObserver | undefined;
  private observeTimer: NodeJS.Timeout | undefined;
  private leaderPoll: NodeJS.Timeout | undefined;
  private retryMs: number;
  private stopped = false;
  private checking: Promise<void> | undefined;
  private currentLeader: string | undefined;

  constructor(private readonly opts: LeaderElectionOptions) {
    super();
    this.election = opts.etcd.namespace(opts.keys.leaderElectionPrefix()).election(ELECTION_NAME, Math.max(1, Math.round(opts.ttlSeconds)));
    this.candidatesPrefix = `${opts.keys.leaderElectionPrefix()}election/${ELECTION_NAME}/`;
    this.retryMs = opts.retryMs ?? 500;
  }

  start(): void {
    this.campaignNow();
    void this.observe();
    this.leaderPoll = setInterval(() => {
      if (!this.elected) void this.refreshLeader();
    }, this.opts.ttlSeconds * 1000);
  }

  /** True while elected and the last confirmation still covers this moment. */
  isLeader(): boolean {
    return this.elected && monotonicMs() < this.validUntil;
  }

  /** The leader as the observer last saw it. */
  leader(): string | undefined {
    return this.currentLeader;
  }

  /** Our election key while we lead: a write can compare its create revision to be fenced. */
  fence(): Fence | undefined {
    return this.isLeader() ? this.fenceKey : undefined;
  }

  /** Re-confirms now (e.g. after a fenced write failed); loses leadership if it cannot. */
  check(): Promise<void> {
    this.checking ??= this.confirmOrLose().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  /**
   * Stops campaigning. With `resign` (the default) the election key is
   * deleted so that another candidate takes over at once; without it the
   * key lives until its lease expires (close the etcd client to stop the
   * keepalives), as after a crash.
   */
  async stop(opts: { resign?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [this.watchdog, this.retryTimer, this.observeTimer, this.leaderPoll]) if (t) clearTimeout(t);
    this.end('stopping');
    const c = this.campaign;
    this.campaign = undefined;
    await this.observer?.cancel().catch(() => undefined);
    if (c && (opts.resign ?? true)) await c.resign().catch(() => undefined);
  }

  private campaignNow(): void {
    if (this.stopped) return;
    const c = this.election.campaign(this.opts.identity);
    this.campaign = c;
    c.on('elected', () => {
      if (this.campaign === c) void this.onElected(c);
    });
    c.on('error', (e: Error) => {
      if (this.campaign === c) this.restart(`election campaign failed: ${e.message}`);
    });
  }

  private async onElected(c: Campaign): Promise<void> {
    let ok = false;
    try {
      ok = await this.confirm(c);
    } catch (e) {
      this.opts.log.warn('elected, but could not confirm the leadership', { error: (e as Error).message });
    }
    if (this.campaign !== c || this.stopped) return;
    if (!ok) {
      this.restart('elected, but the leadership could not be confirmed');
      return;
    }
    this.elected = true;
    this.retryMs = this.opts.retryMs ?? 500;
    const every = Math.max(200, Math.floor((this.opts.ttlSeconds * 1000) / 4));
    this.watchdog = setInterval(() => void this.check(), every);
    this.opts.log.info('elected leader', { validForMs: Math.round(this.validUntil - monotonicMs()) });
    this.emit('elected');
  }

  /**
   * Reads whether our key is still the oldest candidate and how long its
   * lease has left; on success extends validUntil. Throws when etcd does
   * not answer (leadership then stands until validUntil).
   */
  private async confirm(c: Campaign): Promise<boolean> {
    const asked = monotonicMs();
    const key = await c.getCampaignKey();
    const res = await this.opts.etcd.getAll().prefix(this.candidatesPrefix).sort('Create', 'Ascend').limit(1).exec();
    const first = res.kvs[0];
    if (!first || first.key.toString() !== key) return false;
    const ttl = await this.opts.etcd.leaseClient.leaseTimeToLive({ ID: first.lease });
    const left = Number(ttl.TTL);
    if (!(left > 0)) return false;
    // The lease lasts at least `left` seconds from when etcd answered, which is after `asked`.
    this.validUntil = Math.max(this.validUntil, asked + left * 1000);
    this.fenceKey = { key, createRevision: first.create_revision };
    return true;
  }

  private async confirmOrLose(): Promise<void> {
    const c = this.campaign;
    if (!this.elected || !c) return;
    let ok: boolean | undefined;
    try {
      ok = await this.confirm(c);
    } catch (e) {
      this.opts.log.debug('leadership confirmation failed', { error: (e as Error).message });
    }
    if (this.campaign !== c || !this.elected) return;
    if (ok === false) this.restart('another candidate holds the leadership, or our election key is gone');
    else if (ok === undefined && monotonicMs() >= this.validUntil) this.restart('could not confirm the leadership before the election lease ran out');
  }

  /** Leaves leadership (if held) and campaigns again after a backoff. */
  private restart(reason: string): void {
    this.end(reason);
    const c = this.campaign;
    this.campaign = undefined;
    // Deleting our key lets the next candidate in; if etcd is unreachable the lease expires instead.
    void c?.resign().catch(() => undefined);
    if (this.stopped) return;
    this.opts.log.warn('campaigning again', { reason, retryMs: this.retryMs });
    const delay = this.retryMs;
    this.retryMs = Math.min(10_000, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.campaignNow();
    }, delay);
  }

  private end(reason: string): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
    const was = this.elected;
    this.elected = false;
    this.validUntil = 0;
    this.fenceKey = undefined;
    if (was) {
      this.opts.log.warn('leadership lost', { reason });
      this.emit('lost', reason);
    }
  }

  private async observe(): Promise<void> {
    if (this.stopped) return;
    try {
      const obs = await this.election.observe();
      if (this.stopped) {
        await obs.cancel();
        return;
      }
      this.observer = obs;
      void this.refreshLeader();
      obs.on('change', () => void this.refreshLeader());
      obs.on('error', (e) => {
        this.opts.log.debug('election observer failed; observing again', { error: e.message });
        void obs.cancel().catch(() => undefined);
        this.observeLater();
      });
    } catch (e) {
      this.opts.log.debug('cannot observe the election yet', { error: (e as Error).message });
      this.observeLater();
    }
  }

  private observeLater(): void {
    if (this.stopped) return;
    this.observeTimer = setTimeout(() => void this.observe(), 1000);
  }

  private async refreshLeader(): Promise<void> {
    let v: string | undefined;
    try {
      v = await this.election.leader();
    } catch {
      return; // etcd unreachable: the next change or poll tries again
    }
    if (this.stopped || v === this.currentLeader) return;
    this.currentLeader = v;
    this.emit('leader', v);
    // Only the confirmation decides whether we still lead.
    if (this.elected && v !== this.opts.identity) void this.check();
  }
}
