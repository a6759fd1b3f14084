/**
 * The controller's Prometheus metrics: leadership, reconcile passes (duration
 * and age), the cluster's IPAM in Calico kube-controllers' names
 * (ipam-metrics.ts), garbage-collection reclamations, remote-cluster sync lag
 * and overlaps, etcd requests and the process. Fed by the controller's
 * events ('elected', 'lost', 'pass'); only the leader reports IPAM and remote
 * clusters, so that two controllers never double a sum.
 */
import { isTerraceError, monotonicMs } from '@terrace/api';
import { type Keys, type ResourceStore, prefixOp, readAll } from '@terrace/datastore';
import { type BlockRecord, decodeBlock } from '@terrace/ipam';
import { LATENCY_BUCKETS, etcdRequestMetrics, type Logger } from '@terrace/log';
import type { Etcd3 } from 'etcd3';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Controller, PassResult } from './controller.js';
import { type IpamSamples, type PoolNodeCounts, ipamSamples, splitPoolNodeKey } from './ipam-metrics.js';
import { ReclaimSeries } from './reclaim-series.js';
import { registerRemoteClusterMetrics } from './remote-metrics.js';

type PoolNodeGauge = Gauge<'ippool' | 'node'>;

function setAll(g: PoolNodeGauge, counts: PoolNodeCounts): void {
  g.reset();
  for (const [k, n] of counts) g.set(splitPoolNodeKey(k), n);
}

export class ControllerMetrics {
  readonly registry = new Registry();
  /** Records one etcd call (the connect() observer). */
  readonly etcd;
  private readonly passSeconds;
  private readonly passErrors;
  private readonly inUse: PoolNodeGauge;
  private readonly borrowed: PoolNodeGauge;
  private readonly blocks: PoolNodeGauge;
  private readonly candidates: PoolNodeGauge;
  private readonly poolSize;
  private readonly reclaimed: ReclaimSeries;
  /** When the last pass ended, on the monotonic clock: the age must not jump with the wall clock. */
  private lastPassEnd = 0;
  private last: IpamSamples | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly c: { controller: Controller; etcd: Etcd3; keys: Keys; store: ResourceStore; log: Logger; identity: string },
  ) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ controller: c.identity });
    collectDefaultMetrics({ register: this.registry });
    this.etcd = etcdRequestMetrics(this.registry);
    this.passSeconds = new Histogram({ name: 'terrace_controller_pass_seconds', help: 'Duration of a reconcile pass (read, plan, release, status)', labelNames: ['kind'], buckets: LATENCY_BUCKETS.concat([10, 30]), registers });
    this.passErrors = new Counter({ name: 'terrace_controller_pass_errors_total', help: 'Steps of reconcile passes that failed', registers });
    const lastPassEnd = (): number => this.lastPassEnd;
    const leading = (): boolean => c.controller.isLeader();
    new Gauge({
      name: 'terrace_controller_is_leader',
      help: 'This controller leads (1) or stands by (0)',
      registers,
      collect() {
        this.set(leading() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'terrace_controller_last_pass_age_seconds',
      help: 'Seconds since the leader\'s last reconcile pass finished (absent on a standby)',
      registers,
      collect() {
        this.reset();
        if (leading() && lastPassEnd() > 0) this.set((monotonicMs() - lastPassEnd()) / 1000);
      },
    });
    const pn = (name: string, help: string): PoolNodeGauge => new Gauge({ name, help, labelNames: ['ippool', 'node'], registers });
    this.inUse = pn('ipam_allocations_in_use', 'IP allocations in use, by pool and the node the address is used on');
    this.borrowed = pn('ipam_allocations_borrowed', 'IP allocations in use from a block affine to another node');
    this.blocks = pn('ipam_blocks', 'IPAM blocks, by pool and affine node');
    this.candidates = pn('ipam_allocations_gc_candidates', 'Allocations of nodes in their grace period: freed when it ends unless the node returns');
    this.poolSize = new Gauge({ name: 'ipam_ippool_size', help: 'Addresses in the IP pool\'s CIDR', labelNames: ['ippool'], registers });
    // Pruned at scrape time: a controller that lost the lead runs no pass but still holds series.
    const prune = (): void => this.reclaimed.prune();
    this.reclaimed = new ReclaimSeries(new Counter({
      name: 'ipam_allocations_gc_reclamations',
      help: 'Allocations the controller freed (dead nodes after their grace period); a node\'s series go an hour after its last release',
      labelNames: ['ippool', 'node'],
      registers,
      collect: prune,
    }));
    // Remote state moves between passes: read at scrape time.
    registerRemoteClusterMetrics(this.registry, () => c.controller.remotes.states());
    c.controller.on('lost', () => this.lostLead());
    c.controller.on('pass', (r) => this.passed(r));
  }

  private lostLead(): void {
    for (const g of [this.inUse, this.borrowed, this.blocks, this.candidates]) g.reset();
    this.poolSize.reset();
    this.last = undefined;
  }

  private passed(r: PassResult): void {
    // Emitted as the pass ends.
    this.lastPassEnd = monotonicMs();
    this.passSeconds.observe({ kind: r.kind }, r.durationMs / 1000);
    if (r.errors.length > 0) this.passErrors.inc(r.errors.length);
    for (const n of r.nodes) if (n.released) this.reclaim(n.node, n.addresses);
    const grace = new Set((r.plan?.nodes ?? []).filter((n) => n.state === 'grace').map((n) => n.node));
    this.refreshing ??= this.refresh(grace, r.blocks).finally(() => {
      this.refreshing = undefined;
    });
  }

  /** Freed addresses by pool, as the last sample before the release saw the node's allocations. */
  private reclaim(node: string, count: number): void {
    let left = count;
    for (const [k, n] of this.last?.inUse ?? []) {
      const { ippool, node: at } = splitPoolNodeKey(k);
      if (at !== node || left <= 0) continue;
      const take = Math.min(n, left);
      this.reclaimed.inc(ippool, node, take);
      left -= take;
    }
    if (left > 0) this.reclaimed.inc('', node, left);
  }

  /** Samples IPAM from the pass's blocks when it gave them (it released nothing), else reads them again. */
  private async refresh(grace: ReadonlySet<string>, passBlocks: readonly BlockRecord[] | undefined): Promise<void> {
    const { log } = this.c;
    try {
      const [{ items: pools }, blocks] = await Promise.all([this.c.store.list('IPPool'), passBlocks ?? this.readBlocks()]);
      if (!this.c.controller.isLeader()) return;
      const s = ipamSamples(pools, blocks, grace);
      setAll(this.inUse, s.inUse);
      setAll(this.borrowed, s.borrowed);
      setAll(this.blocks, s.blocks);
      setAll(this.candidates, s.gcCandidates);
      this.poolSize.reset();
      for (const [pool, n] of s.poolSize) this.poolSize.set({ ippool: pool }, n);
      this.last = s;
    } catch (e) {
      log.debug('IPAM metrics not refreshed', { error: isTerraceError(e) ? e.message : String(e) });
    }
  }

  private async readBlocks(): Promise<BlockRecord[]> {
    const { results } = await readAll(this.c.etcd, [prefixOp(this.c.keys.blockPrefix())]);
    const blocks: BlockRecord[] = [];
    for (const kv of results[0] ?? []) {
      try {
        blocks.push(decodeBlock(kv.key.toString(), kv.value.toString()));
      } catch {
        // Reported by the pass (read cluster state); left out here.
      }
    }
    return blocks;
  }

  /** Waits for a refresh in flight (tests). */
  settled(): Promise<void> {
    return this.refreshing ?? Promise.resolve();
  }
}
