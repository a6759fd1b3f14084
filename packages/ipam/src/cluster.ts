/**
 * What the allocator reads but never writes: pools, the IPAMConfig and node
 * labels (resources stored as JSON, fully defaulted), plus node liveness.
 * Pools and node labels come from a watch when the caller has one (the
 * agent), otherwise from reads reused for a short TTL. Either may lag etcd a
 * little: a block claim reads pools afresh and pins the pool's revision in
 * its transaction, so a stale pool can never be claimed from, and a pool a
 * request names but the view lacks is read from etcd before NotFound.
 * The multi-cluster fence (fence.ts) travels with the pools: from the
 * watch, or read in the same request as the pools. A fence that lags is
 * safe too: every address-handing transaction compares its revision.
 */
import {
  type Cidr,
  type IPAMConfigSpec,
  type IPFamily,
  type IPPool,
  type Selector,
  type TerraceNode,
  TerraceError,
  cidrContainsCidr,
  monotonicMs,
  parseCidr,
  parseSelector,
  poolUid,
  resourceRef,
} from '@terrace/api';
import type { Keys } from '@terrace/datastore';
import { getOp, prefixOp, readAll } from '@terrace/datastore';
import type { Etcd3 } from 'etcd3';
import { type FenceView, type RawFence, type WatchedFence, parseFence } from './fence.js';
import { readKey, toKV } from './kv.js';

export interface PoolView {
  name: string;
  cidr: Cidr;
  blockSize: number;
  disabled: boolean;
  manual: boolean;
  nodeSelector: string;
  selector: Selector;
  /** The pool resource's mod revision, compared when claiming a block from it. */
  modRevision: string;
  /** poolUid() of the pool: the multi-cluster fence clears a pool by name and this uid. */
  uid: string;
}

export const DEFAULT_IPAM_CONFIG: IPAMConfigSpec = { strictAffinity: false, maxBlocksPerHost: 20, autoAllocateBlocks: true };

export function toPoolView(pool: IPPool, modRevision: string): PoolView {
  const ref = resourceRef('IPPool', pool.metadata.name);
  let selector: Selector;
  try {
    selector = parseSelector(pool.spec.nodeSelector ?? '');
  } catch (e) {
    throw new TerraceError('Invalid', `${ref}: spec.nodeSelector ${(e as Error).message}`, { resource: ref, field: 'spec.nodeSelector' });
  }
  return {
    name: pool.metadata.name,
    cidr: parseCidr(pool.spec.cidr),
    blockSize: pool.spec.blockSize,
    disabled: pool.spec.disabled === true,
    manual: pool.spec.assignmentMode === 'Manual',
    nodeSelector: pool.spec.nodeSelector ?? '',
    selector,
    modRevision,
    uid: poolUid(pool),
  };
}

/**
 * The pools a request may use, in the order to try them: the named ones in
 * the order given, otherwise every Automatic pool by name. Disabled pools
 * and pools whose selector does not match the node are left out.
 */
export function eligiblePools(pools: PoolView[], family: IPFamily, labels: Record<string, string>, named?: string[]): PoolView[] {
  let list: PoolView[];
  if (named && named.length > 0) {
    list = named.map((n) => {
      const p = pools.find((x) => x.name === n);
      if (!p) throw new TerraceError('NotFound', `${resourceRef('IPPool', n)} does not exist`, { resource: resourceRef('IPPool', n) });
      return p;
    });
  } else {
    list = pools.filter((p) => !p.manual).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  return list.filter((p) => p.cidr.family === family && !p.disabled && p.selector.matches(labels));
}

/** The pool a block lies in, if any. */
export function poolOfBlock(pools: PoolView[], block: Cidr): PoolView | undefined {
  return pools.find((p) => cidrContainsCidr(p.cidr, block));
}

interface Cached<T> {
  at: number;
  value: Promise<T>;
}

/**
 * Pools and nodes kept current by someone else's etcd watch (the agent's
 * cluster state), each item with metadata.resourceVersion = its mod revision.
 * May lag etcd by a little: see ClusterView.
 */
export interface WatchedResources {
  pools(): IPPool[];
  nodes(): TerraceNode[];
  /** The multi-cluster fence key (see fenceWatchCache); absent: it is read, and the read reused for the TTL. */
  fence?(): WatchedFence;
}

/** Pools and the fence, read in one request at one revision. */
interface PoolsRead {
  pools: PoolView[];
  fence: WatchedFence;
}

export class ClusterView {
  private poolsCache: Cached<PoolsRead> | undefined;
  /** The fence read alone (only with a watch that lacks it). */
  private fenceCache: Cached<WatchedFence> | undefined;
  /** The fence a failed transaction read back, newer than the watch or cached read until they catch up. */
  private fenceReadBack: WatchedFence | undefined;
  private parsedFence: FenceView | undefined;
  private configCache: Cached<IPAMConfigSpec> | undefined;
  private readonly labelsCache = new Map<string, Cached<Record<string, string> | undefined>>();
  /** PoolViews of watched pools by name, rebuilt only when a pool's revision moves. */
  private readonly watchedViews = new Map<string, PoolView>();

  constructor(
    private readonly etcd: Etcd3,
    private readonly keys: Keys,
    /** How long a read is reused; 0 reads every time. */
    private readonly ttlMs: number,
    /** When given, pools and node labels come from it instead of reads (no round trip per ADD). */
    private readonly watched?: WatchedResources,
  ) {}

  private fresh<T>(c: Cached<T> | undefined): c is Cached<T> {
    return c !== undefined && monotonicMs() - c.at < this.ttlMs;
  }

  /** Forget everything read (after a conflict that suggests it is stale). */
  invalidate(): void {
    this.poolsCache = undefined;
    this.fenceCache = undefined;
    this.configCache = undefined;
    this.labelsCache.clear();
  }

  /**
   * Every pool. `fresh` reads etcd now (a block claim, which compares the
   * pool's revision). A pool in `named` that this view lacks may just be
   * newer than the view (a watch or a cached read lags): it is read from
   * etcd before anyone is told it does not exist.
   */
  async pools(opts: { fresh?: boolean; named?: string[] } = {}): Promise<PoolView[]> {
    if (opts.fresh) this.poolsCache = undefined;
    const list = opts.fresh || !this.watched ? (await this.readPools()).pools : this.watchedPools(this.watched);
    const missing = (opts.named ?? []).filter((n) => !list.some((p) => p.name === n));
    if (missing.length === 0) return list;
    const found = await Promise.all(missing.map((n) => readKey(this.etcd, this.keys.resource('IPPool', n))));
    const more = found.flatMap((kv) => (kv ? [toPoolView(JSON.parse(kv.text) as IPPool, kv.mod)] : []));
    if (more.length > 0) this.poolsCache = undefined;
    return [...list, ...more];
  }

  private readPools(): Promise<PoolsRead> {
    if (!this.fresh(this.poolsCache)) {
      // One request for both: without a fence doc an ADD costs what it did before the fence existed.
      const value = readAll(this.etcd, [prefixOp(this.keys.resourcePrefix('IPPool')), getOp(this.keys.fence())]).then(({ revision, results }) => {
        const f = results[1]?.[0];
        return {
          pools: (results[0] ?? []).map(toKV).map((kv) => toPoolView(JSON.parse(kv.text) as IPPool, kv.mod)),
          fence: { value: f ? rawOf(toKV(f)) : undefined, revision },
        };
      });
      value.catch(() => (this.poolsCache = undefined));
      this.poolsCache = { at: monotonicMs(), value };
    }
    return this.poolsCache.value;
  }

  /**
   * The multi-cluster fence the next decision is made on: from the watch,
   * or the cached read, unless a failed transaction read back a newer one.
   */
  async fence(): Promise<FenceView> {
    let base: WatchedFence;
    if (this.watched?.fence) base = this.watched.fence();
    else if (this.watched) base = await this.readFenceAlone();
    else base = (await this.readPools()).fence;
    const back = this.fenceReadBack;
    if (back && BigInt(back.revision) > BigInt(base.revision)) base = back;
    else this.fenceReadBack = undefined;
    const p = this.parsedFence;
    if (p && p.modRevision === (base.value?.modRevision ?? '0')) return p;
    this.parsedFence = parseFence(this.keys.fence(), base.value, base.revision);
    return this.parsedFence;
  }

  /** A fence read back by a transaction that failed (at etcd revision `revision`): used until the watch or read catches up. */
  noteFence(fence: WatchedFence): void {
    if (!this.fenceReadBack || BigInt(fence.revision) > BigInt(this.fenceReadBack.revision)) this.fenceReadBack = fence;
  }

  private readFenceAlone(): Promise<WatchedFence> {
    if (!this.fresh(this.fenceCache)) {
      const value = readAll(this.etcd, [getOp(this.keys.fence())]).then(({ revision, results }) => {
        const f = results[0]?.[0];
        return { value: f ? rawOf(toKV(f)) : undefined, revision };
      });
      value.catch(() => (this.fenceCache = undefined));
      this.fenceCache = { at: monotonicMs(), value };
    }
    return this.fenceCache.value;
  }

  private watchedPools(w: WatchedResources): PoolView[] {
    const out: PoolView[] = [];
    const names = new Set<string>();
    for (const pool of w.pools()) {
      const rev = pool.metadata.resourceVersion ?? '0';
      let v = this.watchedViews.get(pool.metadata.name);
      if (!v || v.modRevision !== rev) {
        v = toPoolView(pool, rev);
        this.watchedViews.set(pool.metadata.name, v);
      }
      out.push(v);
      names.add(pool.metadata.name);
    }
    for (const n of this.watchedViews.keys()) if (!names.has(n)) this.watchedViews.delete(n);
    return out;
  }

  config(): Promise<IPAMConfigSpec> {
    if (!this.fresh(this.configCache)) {
      const value = readKey(this.etcd, this.keys.resource('IPAMConfig', 'default')).then((kv) =>
        kv ? { ...DEFAULT_IPAM_CONFIG, ...(JSON.parse(kv.text) as { spec: Partial<IPAMConfigSpec> }).spec } : DEFAULT_IPAM_CONFIG,
      );
      value.catch(() => (this.configCache = undefined));
      this.configCache = { at: monotonicMs(), value };
    }
    return this.configCache.value;
  }

  /** The node's labels, or undefined when no Node resource is registered (a node the watch lacks is read from etcd). */
  nodeLabels(node: string): Promise<Record<string, string> | undefined> {
    const seen = this.watched?.nodes().find((n) => n.metadata.name === node);
    if (seen) return Promise.resolve(seen.metadata.labels ?? {});
    const c = this.labelsCache.get(node);
    if (this.fresh(c)) return c.value;
    const value = readKey(this.etcd, this.keys.resource('Node', node)).then((kv) =>
      kv ? ((JSON.parse(kv.text) as TerraceNode).metadata.labels ?? {}) : undefined,
    );
    value.catch(() => this.labelsCache.delete(node));
    this.labelsCache.set(node, { at: monotonicMs(), value });
    return value;
  }
}

function rawOf(kv: { text: string; mod: string }): RawFence {
  return { text: kv.text, modRevision: kv.mod };
}
