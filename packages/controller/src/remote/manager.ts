/**
 * RemoteClusters: while this controller leads, one RemoteSync per
 * RemoteCluster, and the two kinds of record they feed in the local etcd:
 * each remote's state doc and the cluster's fence.
 *
 * Rounds are driven by events, not by the pass interval: a change in any
 * remote's view, in the local pools, in the RemoteClusters or in the fence
 * (an operator deleted it) schedules a round after a short debounce, and a refresh timer schedules one anyway
 * (so `stale` and lastSynced move without any change). Rounds run one at a
 * time. A round reads the fence as stored, makes a fresh read of every
 * remote when a local pool awaits admission, plans (fence.ts), and writes:
 * state docs when they changed (or on refresh), the fence with a compare on
 * its mod revision and on our election key, so a deposed leader or a
 * concurrent writer never overwrites a newer fence. After every await a
 * round checks that this leadership is still the one it started under, and
 * stop() waits for the round before it closes the syncs, so a round never
 * plans from closed syncs.
 *
 * A remote whose sync has not listed yet (just started: new leader, edited
 * RemoteCluster) is unknown, not empty: its pools are taken from its stored
 * state doc and the fence's entries for it, and its doc keeps the stored
 * pools and gateways. A fence that is missing or unreadable while state docs
 * exist was lost, not never written: every local pool goes through admission
 * again instead of being cleared unchecked.
 *
 * Nothing here runs inside the controller's pass queue: a slow or hung
 * remote delays only the next round, never the pass.
 */
import {
  type ClusterFence,
  type IPPool,
  type RemoteCluster,
  type RemoteClusterState,
  type RemoteOverlap,
  TerraceError,
  decodeClusterFence,
  decodeRemoteClusterState,
  poolUid,
} from '@terrace/api';
import { type Keys, WatchCache, deleteOp, getOp, modEquals, prefixOp, putOp, readAll, resourceWatchCache, txn } from '@terrace/datastore';
import type { Logger } from '@terrace/log';
import type { Etcd3, ICompare, IRequestOp } from 'etcd3';
import type { Fence } from '../leader.js';
import { type FreshRead, type LocalPoolView, type RemotePoolsView, lastKnownPools, planFence, poolsAwaitingAdmission, sameFence } from './fence.js';
import { RemoteSync, type RemoteSyncOptions } from './sync.js';

export interface RemoteClustersOptions {
  etcd: Etcd3;
  keys: Keys;
  log: Logger;
  /** Where `<secret name>/<key>` files for remote credentials live. */
  secretsDir: string | undefined;
  /** Our election key while we lead (fenced writes), undefined otherwise. */
  leaderFence: () => Fence | undefined;
  /** Debounce of change-driven rounds, ms. Default 100. */
  debounceMs?: number;
  /** Period of the refresh round (state docs rewritten), ms. Default 5000. */
  refreshMs?: number;
  /** Options handed to every RemoteSync (timeouts, probe period, backoff). */
  sync?: Partial<Omit<RemoteSyncOptions, 'resource' | 'secretsDir' | 'log'>>;
  /** Told of each pool newly held and each overlap newly found (the controller's recent events). */
  onEvent?: (kind: 'pool held' | 'overlap found', subject: string, message: string) => void;
}

/** A short summary for the controller's status record. */
export interface RemoteSummary {
  remotes: number;
  connected: number;
  overlaps: number;
  held: number;
}

export class RemoteClusters {
  private syncs = new Map<string, { sync: RemoteSync; spec: string }>();
  private remotesCache: WatchCache<RemoteCluster> | undefined;
  private poolsCache: WatchCache<IPPool> | undefined;
  /** The fence key alone: deleting or overwriting it starts a round at once. */
  private fenceCache: WatchCache<true> | undefined;
  /** The revision of our last fence write (its own watch event needs no round). */
  private fenceWrittenAt = '';
  /** Bumped by stop(): a round from an earlier start() must not write. */
  private epoch = 0;
  /** When this leadership first saw each pool uid (admission needs reads started after it). */
  private seen = new Map<string, number>();
  private written = new Map<string, string>();
  private lastOverlaps = new Set<string>();
  private running = false;
  private debounce: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private round: Promise<void> = Promise.resolve();
  private again = false;
  private inRound = false;
  private forceWrite = false;
  private summaryNow: RemoteSummary = { remotes: 0, connected: 0, overlaps: 0, held: 0 };

  constructor(private readonly opts: RemoteClustersOptions) {}

  /** The RemoteClusters being synced now (none unless leading). */
  active(): string[] {
    return [...this.syncs.keys()].sort();
  }

  summary(): RemoteSummary {
    return { ...this.summaryNow };
  }

  /** The state docs of the last round (metrics: sync lag, overlaps); empty unless leading. */
  states(): RemoteClusterState[] {
    return this.running ? [...this.statesNow] : [];
  }
  private statesNow: RemoteClusterState[] = [];

  /** Starts watching RemoteClusters and local pools (on election). */
  start(): void {
    if (this.running) return;
    this.running = true;
    const { etcd, keys } = this.opts;
    this.remotesCache = resourceWatchCache(etcd, keys, 'RemoteCluster');
    this.poolsCache = resourceWatchCache(etcd, keys, 'IPPool');
    this.remotesCache.on('change', () => this.schedule());
    this.remotesCache.on('synced', () => this.schedule());
    this.poolsCache.on('change', () => this.schedule());
    this.poolsCache.on('synced', () => this.schedule());
    const fenceKey = keys.fence();
    this.fenceCache = new WatchCache<true>(etcd, { prefix: fenceKey, decode: (kv) => (kv.key.toString() === fenceKey ? true : undefined) });
    this.fenceCache.on('change', (c) => {
      if (c.revision !== this.fenceWrittenAt) this.schedule();
    });
    this.remotesCache.start();
    this.poolsCache.start();
    this.fenceCache.start();
    this.refreshTimer = setInterval(() => {
      this.forceWrite = true;
      this.schedule(0);
    }, this.opts.refreshMs ?? 5000);
  }

  /** Stops every sync (on losing leadership or shutdown). Records stay for the next leader. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.epoch++;
    if (this.debounce) clearTimeout(this.debounce);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.debounce = undefined;
    // Taken now, so a start() while this stop() waits gets caches and syncs of its own.
    const caches = [this.remotesCache, this.poolsCache, this.fenceCache];
    this.remotesCache = undefined;
    this.poolsCache = undefined;
    this.fenceCache = undefined;
    const syncs = [...this.syncs.values()].map((s) => s.sync);
    this.syncs = new Map();
    this.seen = new Map();
    this.written = new Map();
    this.lastOverlaps = new Set();
    // The round in flight sees the new epoch at its next step and gives up; it must not see closed syncs.
    await this.round;
    await Promise.all([...caches.map((c) => c?.close()), ...syncs.map((s) => s.close())]);
  }

  private schedule(delay = this.opts.debounceMs ?? 100): void {
    if (!this.running) return;
    if (this.inRound) {
      this.again = true;
      return;
    }
    if (this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.inRound = true;
      this.round = this.runRound()
        .catch((e: unknown) => {
          this.opts.log.warn('remote cluster round failed', { error: (e as Error).message });
        })
        .finally(() => {
          this.inRound = false;
          if (this.again) {
            this.again = false;
            this.schedule();
          }
        });
    }, delay);
  }

  /** Starts, restarts (spec or uid changed) and stops syncs to match the RemoteClusters. */
  private reconcileSyncs(remotes: readonly RemoteCluster[]): void {
    const want = new Map(remotes.map((r) => [r.metadata.name, r]));
    for (const [name, s] of this.syncs) {
      const r = want.get(name);
      if (r && JSON.stringify([r.metadata.uid, r.spec]) === s.spec) continue;
      this.syncs.delete(name);
      void s.sync.close();
      this.written.delete(name);
    }
    for (const [name, r] of want) {
      if (this.syncs.has(name)) continue;
      const sync = new RemoteSync({ ...this.opts.sync, resource: r, secretsDir: this.opts.secretsDir, log: this.opts.log });
      sync.on('change', () => this.schedule());
      this.syncs.set(name, { sync, spec: JSON.stringify([r.metadata.uid, r.spec]) });
      sync.start();
      this.opts.log.info('remote cluster sync started', { remote: name, clusterName: r.spec.clusterName });
    }
  }

  private async runRound(): Promise<void> {
    const remotes = this.remotesCache;
    const pools = this.poolsCache;
    if (!this.running || !remotes?.synced || !pools?.synced) return;
    const fence = this.opts.leaderFence();
    if (!fence) return;
    const epoch = this.epoch;
    // Still the leadership (and the start()) this round began under: checked after every await.
    const current = (): boolean => {
      const f = this.opts.leaderFence();
      return this.running && this.epoch === epoch && f?.key === fence.key && f.createRevision === fence.createRevision;
    };
    this.reconcileSyncs(remotes.values());
    const force = this.forceWrite;
    this.forceWrite = false;

    const now0 = Date.now();
    const local: LocalPoolView[] = pools.values().map((p) => {
      const uid = poolUid(p);
      const seenKey = `${p.metadata.name} ${uid}`;
      if (!this.seen.has(seenKey)) this.seen.set(seenKey, now0);
      return { name: p.metadata.name, uid, cidr: p.spec.cidr, seenAt: this.seen.get(seenKey) as number };
    });

    const { etcd, keys } = this.opts;
    const stored = await readAll(etcd, [getOp(keys.fence()), prefixOp(keys.remoteStatePrefix())]);
    if (!current()) return;
    const storedDocs = this.decodeStateDocs(stored.results[1] ?? []);
    const fenceKv = stored.results[0]?.[0];
    const previous = this.previousFence(fenceKv?.key.toString() ?? keys.fence(), fenceKv?.value.toString(), (stored.results[1] ?? []).length > 0);
    const fenceRev = fenceKv?.mod_revision ?? '0';

    const syncs = [...this.syncs.values()].map((s) => s.sync);
    const fresh = poolsAwaitingAdmission(local, previous).length > 0 ? await this.freshReads(syncs) : [];
    if (!current()) return;
    const now = Date.now();
    const known = new Map(syncs.map((s) => [s.name, s.synced()]));
    const views: RemotePoolsView[] = syncs.map((s) =>
      known.get(s.name) ? { remote: s.name, pools: s.pools() } : { remote: s.name, pools: lastKnownPools(s.name, storedDocs.get(s.name), previous) },
    );
    const plan = planFence({ now, local, remotes: views, previous, fresh });

    const ops: IRequestOp[] = [];
    const compares: ICompare[] = [{ key: Buffer.from(fence.key), target: 'Create', result: 'Equal', create_revision: fence.createRevision }];
    // State docs: one per sync; docs of RemoteClusters that are gone are deleted.
    const docs = new Map<string, RemoteClusterState>();
    for (const s of syncs) {
      const view = s.view(now);
      const last = storedDocs.get(s.name);
      // Not listed yet: keep what the stored doc knows of the remote, with this sync's identity and connection.
      const body = known.get(s.name) || !last ? view : { ...last, name: view.name, uid: view.uid, clusterName: view.clusterName, connection: view.connection, stale: view.stale, error: view.error };
      if (body.error === undefined) delete body.error;
      docs.set(s.name, { ...body, overlaps: plan.overlaps.get(s.name) ?? [] });
    }
    const stateWrites: IRequestOp[] = [];
    for (const kv of stored.results[1] ?? []) {
      const name = kv.key.toString().slice(keys.remoteStatePrefix().length);
      if (!docs.has(name)) {
        stateWrites.push(deleteOp(kv.key.toString()));
        this.written.delete(name);
      }
    }
    for (const [name, doc] of docs) {
      const text = JSON.stringify(doc);
      const comparable = JSON.stringify({ ...doc, lastSynced: '' });
      if (!force && this.written.get(name) === comparable) continue;
      stateWrites.push(putOp(keys.remoteState(name), text));
      this.written.set(name, comparable);
    }
    ops.push(...stateWrites);
    let fenceChanged = false;
    if (!sameFence(previous, plan.fence)) {
      fenceChanged = true;
      compares.push(modEquals(keys.fence(), fenceRev));
      ops.push(plan.fence ? putOp(keys.fence(), JSON.stringify(plan.fence)) : deleteOp(keys.fence()));
    }
    if (ops.length > 0) {
      if (!current()) return;
      const res = await txn(etcd, compares, ops);
      if (fenceChanged && res.succeeded) this.fenceWrittenAt = res.header.revision;
      if (!res.succeeded) {
        // Someone moved the fence (or we lost the lead): forget what we wrote and look again.
        this.written.clear();
        if (this.opts.leaderFence()) this.again = true;
        return;
      }
      if (fenceChanged) this.logFence(previous, plan.fence);
    }
    this.logOverlaps(docs);
    this.statesNow = [...docs.values()];
    this.summaryNow = {
      remotes: syncs.length,
      connected: syncs.filter((s) => s.view(now).connection === 'Connected').length,
      overlaps: [...docs.values()].reduce((n, d) => n + d.overlaps.length, 0),
      held: plan.fence?.held.length ?? 0,
    };
  }

  /** The stored state docs by RemoteCluster name; an unreadable one counts as absent (it is rewritten). */
  private decodeStateDocs(kvs: readonly { key: Buffer; value: Buffer }[]): Map<string, RemoteClusterState> {
    const out = new Map<string, RemoteClusterState>();
    const prefix = this.opts.keys.remoteStatePrefix();
    for (const kv of kvs) {
      const key = kv.key.toString();
      try {
        out.set(key.slice(prefix.length), decodeRemoteClusterState(key, kv.value.toString()));
      } catch (e) {
        this.opts.log.warn('remote cluster state doc unreadable; rewriting it', { key, error: (e as Error).message });
      }
    }
    return out;
  }

  /**
   * The fence the plan starts from. Missing or unreadable while state docs
   * exist means it was lost (deleted, corrupted), not never written: start
   * from "nothing cleared", so every pool is checked afresh before use.
   */
  private previousFence(key: string, text: string | undefined, stateDocsExist: boolean): ClusterFence | undefined {
    if (text !== undefined) {
      try {
        return decodeClusterFence(key, text);
      } catch (e) {
        this.opts.log.warn('cluster fence unreadable; every pool is checked against the remotes again', { key, error: (e as Error).message });
        return { cleared: {}, held: [], fenced: [], updated: '' };
      }
    }
    if (!stateDocsExist) return undefined;
    this.opts.log.warn('cluster fence missing while remote cluster state exists; every pool is checked against the remotes again', { key });
    return { cleared: {}, held: [], fenced: [], updated: '' };
  }

  /** One fresh read per remote, all at once, each bounded by its client's deadline. */
  private async freshReads(syncs: readonly RemoteSync[]): Promise<FreshRead[]> {
    return Promise.all(
      syncs.map(async (s): Promise<FreshRead> => {
        const startedAt = Date.now();
        try {
          return { remote: s.name, startedAt, ok: true, pools: await s.freshPools() };
        } catch (e) {
          const since = s.unreachableSince() ?? new Date(startedAt).toISOString();
          const why = e instanceof TerraceError ? e.message : (e as Error).message;
          return { remote: s.name, startedAt, ok: false, error: `unreachable since ${since} (${why})` };
        }
      }),
    );
  }

  private logFence(before: ClusterFence | undefined, after: ClusterFence | undefined): void {
    const wasHeld = new Set((before?.held ?? []).map((h) => h.pool));
    for (const h of after?.held ?? []) {
      if (wasHeld.has(h.pool)) continue;
      this.opts.log.warn('pool held: not usable until cleared', { pool: h.pool, reason: h.reason });
      this.opts.onEvent?.('pool held', h.pool, `pool ${h.pool} held: ${h.reason}`);
    }
    for (const [pool] of Object.entries(after?.cleared ?? {})) {
      if (before && before.cleared[pool] === undefined) this.opts.log.info('pool cleared against every remote cluster', { pool });
    }
    if (!after && before) this.opts.log.info('no remote cluster left: fence removed');
  }

  private logOverlaps(docs: Map<string, RemoteClusterState>): void {
    const now = new Set<string>();
    const describe = new Map<string, RemoteOverlap & { remote: string }>();
    for (const d of docs.values()) {
      for (const o of d.overlaps) {
        const id = `${d.name} ${o.pool} ${o.remotePool} ${o.remoteCidr}`;
        now.add(id);
        describe.set(id, { ...o, remote: d.name });
      }
    }
    for (const id of now) {
      if (this.lastOverlaps.has(id)) continue;
      const o = describe.get(id) as RemoteOverlap & { remote: string };
      this.opts.log.warn('pool overlaps a remote cluster\'s pool; range fenced', {
        pool: o.pool, cidr: o.cidr, remote: o.remote, remotePool: o.remotePool, remoteCidr: o.remoteCidr, fenced: o.fenced,
      });
      this.opts.onEvent?.('overlap found', o.pool, `pool ${o.pool} (${o.cidr}) overlaps ${o.remote}/${o.remotePool} (${o.remoteCidr}); ${o.fenced} fenced`);
    }
    for (const id of this.lastOverlaps) {
      if (!now.has(id)) {
        const [remote, pool, remotePool] = id.split(' ');
        this.opts.log.warn('overlap with a remote cluster\'s pool resolved; range no longer fenced', { pool, remote, remotePool });
      }
    }
    this.lastOverlaps = now;
  }
}
