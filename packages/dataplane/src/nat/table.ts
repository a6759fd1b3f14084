/**
 * Keeps Terrace's nftables table (plan.ts) equal to the desired one: read the
 * table, compare, and replace it whole in one transaction only when it
 * differs; remove it when no pool wants NAT. Every other table is left alone.
 *
 * Runs on every change of the desired pools and every `resyncIntervalMs`
 * (default DEFAULT_RESYNC_INTERVAL_MS, as route sync), so a table someone
 * deleted or altered is repaired within one interval. A failure is one line
 * in the log (once per distinct message) and in status(), and is retried
 * with a doubling delay up to the resync interval.
 *
 * close() leaves the table in place, like routes: pods keep their NAT while
 * the agent restarts, and the next agent compares and takes over.
 */
import { DEFAULT_RESYNC_INTERVAL_MS } from '../constants.js';
import type { RouteSyncLogger } from '../sync.js';
import { type NftOptions, applyNft, isNftMissing, readNatTable } from './nft.js';
import { NAT_TABLE, NAT_TABLE_FAMILY, type NatPlan, type NatPool, describeNatPools, natTransaction, planNat } from './plan.js';

export interface NatTableOptions extends NftOptions {
  logger: RouteSyncLogger;
  /** How often the kernel's table is re-read and repaired (ms; 0: only on changes). */
  resyncIntervalMs?: number;
  /** The first retry delay after a failure (ms, default 1000). */
  retryMs?: number;
}

export interface NatTableStatus {
  /** The table is in the kernel as desired (false also when no pool wants NAT). */
  installed: boolean;
  /** The last pass's failure, one line; absent when it succeeded. */
  error?: string;
  /** Times the table was found changed outside Terrace and rewritten. */
  repaired: number;
}

/** JSON with sorted keys: nft lists an object's keys in its own order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );
}

export type NatPassResult = 'unchanged' | 'written' | 'repaired' | 'removed';

export class NatTable {
  private desired: { plan: NatPlan; text: string; pools: string } | undefined;
  /** The canonical table last written or found equal: a difference later means someone changed it. */
  private confirmed: string | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private pending = false;
  private closed = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private lastError: string | undefined;
  private st: NatTableStatus = { installed: false, repaired: 0 };

  constructor(private readonly opts: NatTableOptions) {
    this.retryDelay = opts.retryMs ?? 1000;
    const every = opts.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS;
    if (every > 0) {
      this.resyncTimer = setInterval(() => void this.sync().catch(() => undefined), every);
      this.resyncTimer.unref();
    }
  }

  /** The whole desired set of pools; applied at once, and kept applied. Nothing is touched before the first call. */
  set(pools: readonly NatPool[]): Promise<NatPassResult> {
    const plan = planNat(pools);
    this.desired = { plan, text: canonical(plan ?? null), pools: describeNatPools(pools) };
    return this.sync();
  }

  status(): NatTableStatus {
    return { ...this.st };
  }

  /**
   * One pass, serialised with any other; calls that arrive while one runs
   * share the next pass. Rejects with the pass's error (also retried).
   */
  sync(): Promise<NatPassResult> {
    if (this.closed || !this.desired) return Promise.resolve('unchanged');
    if (this.pending) return this.running as Promise<NatPassResult>;
    this.pending = true;
    const pass = this.running.catch(() => undefined).then(() => {
      this.pending = false;
      return this.pass();
    });
    this.running = pass;
    return pass;
  }

  private async pass(): Promise<NatPassResult> {
    const want = this.desired;
    if (this.closed || !want) return 'unchanged';
    try {
      const result = await this.compareAndApply(want);
      this.succeeded(want);
      return result;
    } catch (e) {
      this.failed((e as Error).message);
      throw e;
    }
  }

  private async compareAndApply(want: { plan: NatPlan; text: string; pools: string }): Promise<NatPassResult> {
    const { logger } = this.opts;
    const table = `${NAT_TABLE_FAMILY} ${NAT_TABLE}`;
    let actual;
    try {
      actual = await readNatTable(this.opts);
    } catch (e) {
      // A host without nftables has no table of ours to remove, and needs none until a pool wants NAT.
      if (want.plan === undefined && isNftMissing(e)) return 'unchanged';
      throw e;
    }
    if (want.plan === undefined) {
      if (actual === undefined) return 'unchanged';
      await applyNft(this.opts, { nftables: [{ delete: { table: { family: NAT_TABLE_FAMILY, name: NAT_TABLE } } }] });
      logger.info(`nat: no pool has natOutgoing; table ${table} removed`);
      return 'removed';
    }
    const actualText = actual === undefined ? undefined : canonical(actual);
    if (actualText === want.text) return 'unchanged';
    await applyNft(this.opts, natTransaction(want.plan));
    // Our own last table, changed or gone without a change of pools: someone else did it.
    if (this.confirmed === want.text) {
      this.st.repaired += 1;
      logger.warn(`nat: table ${table} was ${actual === undefined ? 'deleted' : 'changed'} outside Terrace; rewritten`, { pools: want.pools });
      return 'repaired';
    }
    logger.info(`nat: table ${table} written`, { pools: want.pools });
    return 'written';
  }

  private succeeded(want: { plan: NatPlan; text: string }): void {
    this.confirmed = want.text;
    this.st = { installed: want.plan !== undefined, repaired: this.st.repaired };
    if (this.lastError !== undefined) this.opts.logger.info('nat: table in sync again');
    this.lastError = undefined;
    this.retryDelay = this.opts.retryMs ?? 1000;
  }

  private failed(message: string): void {
    const line = message.split('\n')[0] ?? message;
    if (line !== this.lastError) this.opts.logger.error('nat: cannot update the table; retrying', { error: line });
    this.lastError = line;
    this.st = { installed: false, error: line, repaired: this.st.repaired };
    if (this.closed || this.retryTimer) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(delay * 2, Math.max(this.opts.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS, this.opts.retryMs ?? 1000));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.sync().catch(() => undefined);
    }, delay);
    this.retryTimer.unref();
  }

  /** Stops resyncing; the table stays in the kernel (see the module comment). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.running.catch(() => undefined);
  }
}
