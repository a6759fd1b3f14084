/**
 * RemoteSync: the cached, read-only view of one remote cluster. It lists the
 * remote's pools, nodes, default BGPConfiguration and block keys, then
 * watches those prefixes from the list revision (WatchCache: whenever a
 * watch cannot be trusted any more it lists afresh and replaces the cache,
 * so a delete missed while the remote was away disappears too). Block
 * bodies are never kept, only their keys (for the count).
 *
 * Watch streams have no deadline (they live for hours), so a remote that
 * hangs would look healthy forever; a probe (one read with the client's
 * deadline) every probeMs records contact. The view is Connected and
 * lastSynced moves only while every cache is watching (listed, no re-list
 * under way): a cache stuck re-listing leaves the view stale even though
 * the remote answers the probe. Every remote call has a deadline: a remote
 * that is slow or stopped never blocks the controller, it only makes this
 * view stale.
 *
 * Until every cache has listed once the view is UNKNOWN, not empty:
 * synced() says which, and the manager keeps the last stored view of the
 * remote meanwhile (an empty pool list would lift fences).
 */
import { EventEmitter } from 'node:events';
import {
  GATEWAY_IPV4_ANNOTATION,
  GATEWAY_IPV6_ANNOTATION,
  type BGPConfiguration,
  type RemoteCluster,
  type RemoteClusterState,
  type RemoteConnection,
  type RemoteGateway,
  type RemotePool,
  type TerraceNode,
  TerraceError,
  parseDuration,
  parseSelector,
  tryParseCidr,
} from '@terrace/api';
import { Keys, WatchCache, createClient, endpointsOf, mapEtcdError, prefixOp, readAll } from '@terrace/datastore';
import type { Logger } from '@terrace/log';
import type { Etcd3, IKeyValue } from 'etcd3';
import { isAuthProblem, remoteConnection } from './connection.js';

/** The AS of a remote node when neither the node nor the remote's default BGPConfiguration sets one. */
export const DEFAULT_REMOTE_AS = 64512;

export interface RemoteSyncOptions {
  resource: RemoteCluster;
  secretsDir: string | undefined;
  log: Logger;
  /** Bound on every remote call, ms. Default 2000. */
  timeoutMs?: number;
  /** Period of the contact probe, ms. Default min(5000, staleAfter / 3). */
  probeMs?: number;
  /** First and longest delay between failed lists (jittered, doubling). Defaults 200 and 5000. */
  retryMs?: number;
  maxRetryMs?: number;
}

export interface RemoteSyncEvents {
  /** The view changed (pools, nodes, blocks, gateways, connection, error). */
  change: [];
}

/** The view's contents without overlaps (the fence planner adds those). */
export type RemoteView = Omit<RemoteClusterState, 'overlaps'>;

function decodeJson<T>(kv: IKeyValue): T {
  return JSON.parse(kv.value.toString()) as T;
}

/** A remote pool as cached: one that cannot be used (not JSON, no CIDR) is kept with its problem, so it is reported until it is fixed or deleted. */
type CachedPool = RemotePool & { problem?: string };

/** Decodes a remote IPPool; never throws (a bad remote record is the remote's problem, reported, not ours). */
export function decodeRemotePool(kv: IKeyValue): CachedPool {
  const key = kv.key.toString();
  let p: { metadata?: { name?: unknown }; spec?: { cidr?: unknown; disabled?: unknown } };
  try {
    p = decodeJson(kv);
  } catch {
    return { name: key, cidr: '', disabled: false, problem: `${key} is not JSON` };
  }
  const name = typeof p?.metadata?.name === 'string' ? p.metadata.name : key;
  const cidr = p?.spec?.cidr;
  if (typeof cidr !== 'string' || !tryParseCidr(cidr, false)) {
    return { name, cidr: '', disabled: false, problem: `pool ${name}: spec.cidr ${JSON.stringify(cidr)} is not a CIDR` };
  }
  return { name, cidr, disabled: p.spec?.disabled === true };
}

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The usable pools (sorted) and the problems of the others. */
function usablePools(cached: readonly CachedPool[]): { pools: RemotePool[]; problems: string[] } {
  const pools: RemotePool[] = [];
  const problems: string[] = [];
  for (const p of cached) {
    if (p.problem !== undefined) problems.push(p.problem);
    else pools.push({ name: p.name, cidr: p.cidr, disabled: p.disabled });
  }
  return { pools: pools.sort(byName), problems: problems.sort() };
}

function addressOf(withLength: string | undefined): string | undefined {
  return withLength?.split('/')[0] || undefined;
}

/** The remote's gateways: its Nodes that match the selector, their peering addresses and AS. */
export function remoteGateways(nodes: readonly TerraceNode[], selector: string, defaultAs: number): RemoteGateway[] {
  const sel = parseSelector(selector);
  const out: RemoteGateway[] = [];
  for (const n of nodes) {
    if (!sel.matches(n.metadata.labels ?? {})) continue;
    const ann = n.metadata.annotations ?? {};
    const addresses = [ann[GATEWAY_IPV4_ANNOTATION] ?? addressOf(n.spec.bgp?.ipv4Address), ann[GATEWAY_IPV6_ANNOTATION] ?? addressOf(n.spec.bgp?.ipv6Address)].filter(
      (a): a is string => a !== undefined && a !== '',
    );
    if (addresses.length === 0) continue;
    out.push({ name: n.metadata.name, addresses, asNumber: n.spec.bgp?.asNumber ?? defaultAs });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export class RemoteSync extends EventEmitter<RemoteSyncEvents> {
  readonly name: string;
  readonly uid: string;
  private readonly remoteKeys: Keys;
  private readonly staleAfterMs: number;
  private client: Etcd3 | undefined;
  private caches: {
    pools: WatchCache<CachedPool>;
    nodes: WatchCache<TerraceNode>;
    config: WatchCache<BGPConfiguration>;
    blocks: WatchCache<true>;
  } | undefined;
  private connection: RemoteConnection = 'Connecting';
  private error: string | undefined;
  private lastContact: number | undefined;
  private lastSynced: number | undefined;
  private readonly startedAt = Date.now();
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private closed = false;
  /** Caches re-listing now (listed before, watch not trusted until the list succeeds). */
  private listing = new Set<string>();
  /** Set when fresh reads start failing: since when the remote has been unusable for admission (frozen, for held reasons). */
  private freshFailingSince: number | undefined;

  constructor(private readonly opts: RemoteSyncOptions) {
    super();
    const rc = opts.resource;
    this.name = rc.metadata.name;
    this.uid = rc.metadata.uid ?? '';
    this.remoteKeys = new Keys(rc.spec.clusterName);
    this.staleAfterMs = parseDuration(rc.spec.staleAfter, 'spec.staleAfter');
  }

  start(): void {
    const probeMs = this.opts.probeMs ?? Math.max(200, Math.min(5000, Math.floor(this.staleAfterMs / 3)));
    this.probeTimer = setInterval(() => void this.probe(), probeMs);
    this.open();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.probeTimer) clearInterval(this.probeTimer);
    const caches = this.caches;
    this.caches = undefined;
    if (caches) await Promise.all(Object.values(caches).map((c) => c.close()));
    this.client?.close();
    this.client = undefined;
  }

  /** Builds the client and the caches; a bad secret leaves the sync unconnected and retried by the probe. */
  private open(): void {
    if (this.closed || this.client) return;
    let client: Etcd3;
    try {
      client = createClient(remoteConnection(this.opts.resource, this.opts.secretsDir), { timeoutMs: this.opts.timeoutMs ?? 2000 });
    } catch (e) {
      this.fail(e);
      return;
    }
    this.client = client;
    const k = this.remoteKeys;
    const retry = { retryMs: this.opts.retryMs ?? 200, maxRetryMs: this.opts.maxRetryMs ?? 5000 };
    const configKey = k.resource('BGPConfiguration', 'default');
    this.caches = {
      pools: new WatchCache<CachedPool>(client, { ...retry, prefix: k.resourcePrefix('IPPool'), decode: decodeRemotePool }),
      nodes: new WatchCache<TerraceNode>(client, { ...retry, prefix: k.resourcePrefix('Node'), decode: (kv) => decodeJson<TerraceNode>(kv) }),
      config: new WatchCache<BGPConfiguration>(client, {
        ...retry,
        prefix: configKey,
        decode: (kv) => (kv.key.toString() === configKey ? decodeJson<BGPConfiguration>(kv) : undefined),
      }),
      // Only the keys matter (the count): listed keys-only, event bodies dropped at once.
      blocks: new WatchCache<true>(client, { ...retry, prefix: k.blockPrefix(), keysOnly: true, decode: () => true }),
    };
    for (const [what, cache] of Object.entries(this.caches) as [string, WatchCache<unknown>][]) {
      cache.on('change', () => this.touched());
      cache.on('resync', () => {
        if (cache.synced) this.listing.add(what);
      });
      cache.on('synced', () => {
        this.listing.delete(what);
        this.touched();
      });
      cache.on('unavailable', (e) => this.fail(e));
      cache.on('invalid', ({ key, error }) => this.opts.log.warn('remote cluster record left out', { remote: this.name, key, error: error.message }));
      cache.start();
    }
  }

  /** Every cache has listed once since this sync started: the view reflects the remote (until then it is unknown, not empty). */
  synced(): boolean {
    this.assertOpen();
    return this.caches !== undefined && Object.values(this.caches).every((c: WatchCache<unknown>) => c.synced);
  }

  /** Every cache listed and watching (none re-listing): the view is current. */
  private watching(): boolean {
    return this.synced() && this.listing.size === 0;
  }

  private assertOpen(): void {
    if (this.closed) throw new TerraceError('Internal', `remote cluster ${this.name}: the sync is closed; its view is no longer current`);
  }

  /** Something arrived from the remote: it is in contact; the view is synced only while every cache watches. */
  private touched(): void {
    if (this.closed) return;
    this.lastContact = Date.now();
    if (this.watching()) {
      this.lastSynced = this.lastContact;
      if (this.connection !== 'Connected') this.opts.log.info('remote cluster synced', { remote: this.name });
      this.connection = 'Connected';
      this.error = undefined;
    }
    this.emit('change');
  }

  private fail(e: unknown): void {
    if (this.closed) return;
    const err = mapEtcdError(e, this.client ? endpointsOf(this.client) : this.opts.resource.spec.etcd.endpoints);
    const message = err.message.split('\n')[0] ?? err.message;
    const connection: RemoteConnection = isAuthProblem(message) ? 'Unauthorized' : 'Unreachable';
    if (connection !== this.connection || message !== this.error) {
      this.opts.log.warn('remote cluster not reachable', { remote: this.name, connection, error: message });
      this.connection = connection;
      this.error = message;
      this.emit('change');
    }
  }

  private async probe(): Promise<void> {
    if (this.closed || this.probing) return;
    if (!this.client) {
      this.open();
      this.emit('change'); // staleness moves even without contact
      return;
    }
    this.probing = true;
    try {
      await this.client.get(this.remoteKeys.resource('BGPConfiguration', 'default')).exec();
      if (!this.closed) this.touched();
    } catch (e) {
      this.fail(e);
      this.emit('change');
    } finally {
      this.probing = false;
    }
  }

  /** One linearizable read of the remote's pools (for admission), bounded by the client's deadline. */
  async freshPools(): Promise<RemotePool[]> {
    this.assertOpen();
    const failing = (): void => {
      this.freshFailingSince ??= this.connection !== 'Connected' || this.isStale() ? (this.lastContact ?? this.startedAt) : Date.now();
    };
    if (!this.client) {
      failing();
      throw new Error(this.error ?? 'not connected');
    }
    try {
      const { results } = await readAll(this.client, [prefixOp(this.remoteKeys.resourcePrefix('IPPool'))]);
      this.freshFailingSince = undefined;
      return usablePools((results[0] ?? []).map(decodeRemotePool)).pools;
    } catch (e) {
      failing();
      this.fail(e);
      throw e;
    }
  }

  /** The usable pools in the cache (pools with a problem are reported in the view's error instead). */
  pools(): RemotePool[] {
    this.assertOpen();
    return usablePools(this.caches?.pools.values() ?? []).pools;
  }

  /**
   * Since when this sync has had no contact or its fresh reads fail (for held
   * reasons), or undefined when all is well. Stable across rounds, so a held
   * reason does not change (and rewrite the fence) every round.
   */
  unreachableSince(now = Date.now()): string | undefined {
    // While fresh reads fail the time is frozen: the probe may keep moving lastContact meanwhile.
    if (this.freshFailingSince !== undefined) return new Date(this.freshFailingSince).toISOString();
    if (this.connection === 'Connected' && !this.isStale(now)) return undefined;
    return new Date(this.lastContact ?? this.startedAt).toISOString();
  }

  /** The view has not matched the remote (every cache watching) for longer than staleAfter. */
  isStale(now = Date.now()): boolean {
    return now - (this.lastSynced ?? this.startedAt) > this.staleAfterMs;
  }

  view(now = Date.now()): RemoteView {
    this.assertOpen();
    const c = this.caches;
    const defaultAs = c?.config.values()[0]?.spec.asNumber ?? DEFAULT_REMOTE_AS;
    const nodes = c?.nodes.values() ?? [];
    const revs = c ? Object.values(c).map((x: WatchCache<unknown>) => BigInt(x.revision)) : [0n];
    const out: RemoteView = {
      name: this.name,
      uid: this.uid,
      clusterName: this.opts.resource.spec.clusterName,
      connection: this.connection,
      stale: this.isStale(now),
      revision: revs.reduce((a, b) => (b > a ? b : a), 0n).toString(),
      pools: this.pools(),
      blocks: c?.blocks.size ?? 0,
      nodes: nodes.length,
      asNumber: defaultAs,
      gateways: remoteGateways(nodes, this.opts.resource.spec.remoteGatewaySelector, defaultAs),
    };
    const problems = usablePools(c?.pools.values() ?? []).problems;
    const errors = [...(this.error !== undefined ? [this.error] : []), ...problems.map((p) => `${p} (left out)`)];
    if (errors.length > 0) out.error = errors.join('; ');
    if (this.lastSynced !== undefined) out.lastSynced = new Date(this.lastSynced).toISOString();
    return out;
  }
}
