/**
 * ipam_allocations_gc_reclamations{ippool,node}: one series per released
 * node and pool. Released nodes do not come back under the same name in an
 * autoscaled cluster, so kept forever the series would grow without end.
 * A node's series are dropped once it has released nothing for `keepMs`
 * (an hour): long after any alert's rate() window has seen the increase.
 */
import type { Counter } from 'prom-client';

export const RECLAIM_SERIES_KEEP_MS = 3_600_000;

export class ReclaimSeries {
  /** node → when it last released something, and the pools it has series in. */
  private readonly nodes = new Map<string, { at: number; pools: Set<string> }>();

  constructor(
    private readonly counter: Counter<'ippool' | 'node'>,
    private readonly keepMs = RECLAIM_SERIES_KEEP_MS,
    private readonly now: () => number = Date.now,
  ) {}

  inc(ippool: string, node: string, n: number): void {
    this.counter.inc({ ippool, node }, n);
    const rec = this.nodes.get(node) ?? { at: 0, pools: new Set<string>() };
    rec.at = this.now();
    rec.pools.add(ippool);
    this.nodes.set(node, rec);
  }

  /** Drops the series of nodes that released nothing for keepMs. */
  prune(): void {
    const now = this.now();
    for (const [node, rec] of this.nodes) {
      if (now - rec.at < this.keepMs) continue;
      for (const ippool of rec.pools) this.counter.remove({ ippool, node });
      this.nodes.delete(node);
    }
  }
}
