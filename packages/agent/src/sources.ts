/**
 * What the reconciler reads: the cluster's resources and IPAM blocks, kept
 * current by etcd watch caches (list, then watch; re-list after compaction).
 */
import type { BGPConfiguration, BGPFilter, BGPPeer, IPPool, RemoteCluster, RemoteClusterState, TerraceNode } from '@terrace/api';
import type { WatchedFence } from '@terrace/ipam';
import type { BlockView } from './announce.js';

export interface ClusterState {
  nodes(): TerraceNode[];
  bgpPeers(): BGPPeer[];
  bgpConfigurations(): BGPConfiguration[];
  pools(): IPPool[];
  /** BGPFilters (absent: none exist, as for a state that does not watch them). */
  bgpFilters?(): BGPFilter[];
  blocks(): BlockView[];
  /** The multi-cluster fence key, for the allocator (absent: the allocator reads it). */
  fence?(): WatchedFence;
  /** RemoteClusters and the controller's state docs for them (absent: none, as for a state that does not watch them). */
  remoteClusters?(): RemoteCluster[];
  remoteStates?(): RemoteClusterState[];
  /** Calls `fn` after any change; returns the unsubscribe function. */
  onChange(fn: () => void): () => void;
}
