/**
 * ClusterState over the datastore's watch caches: one per resource kind the
 * peering and announcement rules read, and one over the IPAM blocks. Blocks
 * are turned into BlockViews as they arrive, so a recompute never re-parses
 * every block.
 */
import { type Kind, type RemoteClusterState, type ResourceOf, decodeRemoteClusterState } from '@terrace/api';
import { type Keys, type WatchCache, WatchCache as Cache, resourceWatchCache } from '@terrace/datastore';
import { affinityNode, allocationsOf, decodeBlock, fenceWatchCache, ipOf } from '@terrace/ipam';
import type { Etcd3 } from 'etcd3';
import type { BlockView } from './announce.js';
import type { Logger } from '@terrace/log';
import type { ClusterState } from './sources.js';

export function blockViewOf(key: string, text: string): BlockView {
  const b = decodeBlock(key, text);
  return {
    cidr: b.cidr,
    affinity: affinityNode(b.affinity),
    allocations: allocationsOf(b).map(({ ordinal, alloc }) => ({ address: ipOf(b, ordinal), node: alloc.node })),
  };
}

export type ClosableClusterState = ClusterState & { close(): Promise<void> };

/** Opens the caches and resolves once every one has listed. */
export async function openClusterState(etcd: Etcd3, keys: Keys, log: Logger): Promise<ClosableClusterState> {
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of listeners) l();
  };
  const caches: WatchCache<unknown>[] = [];
  const watch = <T>(what: string, c: WatchCache<T>): WatchCache<T> => {
    c.on('change', notify);
    c.on('resync', (reason) => log.log(reason === 'initial list' ? 'debug' : 'info', 're-listing', { what, reason }));
    c.on('unavailable', (e) => log.warn('etcd unavailable; retrying', { what, error: e.message }));
    c.on('invalid', ({ key, error }) => log.warn('ignoring a stored value', { key, error: error.message }));
    caches.push(c as WatchCache<unknown>);
    return c;
  };
  const resources = <K extends Kind>(kind: K): WatchCache<ResourceOf<K>> => watch(kind, resourceWatchCache(etcd, keys, kind));
  const nodes = resources('Node');
  const peers = resources('BGPPeer');
  const configs = resources('BGPConfiguration');
  const pools = resources('IPPool');
  const filters = resources('BGPFilter');
  const remotes = resources('RemoteCluster');
  const remoteStates = watch(
    'remote cluster states',
    new Cache<RemoteClusterState>(etcd, { prefix: keys.remoteStatePrefix(), decode: (kv) => decodeRemoteClusterState(kv.key.toString(), kv.value.toString()) }),
  );
  const blocks = watch(
    'ipam blocks',
    new Cache<BlockView>(etcd, { prefix: keys.blockPrefix(), decode: (kv) => blockViewOf(kv.key.toString(), kv.value.toString()) }),
  );
  // The multi-cluster fence, for the allocator (no read of it per ADD); it changes rarely, so
  // the recompute its change notifies costs nothing worth a separate path.
  const fence = fenceWatchCache(etcd, keys);
  watch('multi-cluster fence', fence.cache);
  for (const c of caches) c.start();
  try {
    await Promise.all(caches.map((c) => c.waitSynced()));
  } catch (e) {
    await Promise.all(caches.map((c) => c.close()));
    throw e;
  }
  return {
    nodes: () => nodes.values(),
    bgpPeers: () => peers.values(),
    bgpConfigurations: () => configs.values(),
    pools: () => pools.values(),
    bgpFilters: () => filters.values(),
    blocks: () => blocks.values(),
    fence: () => fence.fence(),
    remoteClusters: () => remotes.values(),
    remoteStates: () => remoteStates.values(),
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    async close() {
      listeners.clear();
      await Promise.all(caches.map((c) => c.close()));
    },
  };
}
