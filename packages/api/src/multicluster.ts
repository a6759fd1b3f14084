/**
 * The records multi-cluster support keeps in the local etcd, written only by
 * the acting controller and read by everyone else (agents, the allocator,
 * terracectl, pool writes). Remote etcds are only ever read.
 *
 *   multicluster/remotes/<RemoteCluster name>   RemoteClusterState: the cached view of one remote
 *   multicluster/fence                          ClusterFence: what the allocator must not hand out
 *
 * Without RemoteClusters neither record exists and nothing is gated.
 */

/** Node annotations a gateway may carry: the address remote gateways peer with (default its BGP address). */
export const GATEWAY_IPV4_ANNOTATION = 'terrace.dev/gateway-ipv4';
export const GATEWAY_IPV6_ANNOTATION = 'terrace.dev/gateway-ipv6';

export type RemoteConnection = 'Connecting' | 'Connected' | 'Unreachable' | 'Unauthorized';

export interface RemotePool {
  name: string;
  cidr: string;
  disabled: boolean;
}

export interface RemoteGateway {
  /** The remote Node's name. */
  name: string;
  /** Addresses to peer with (gateway annotations, else the node's BGP addresses), IPv4 first. */
  addresses: string[];
  /** The node's AS (spec.bgp.asNumber, else the remote's default BGPConfiguration, else 64512). */
  asNumber: number;
}

export interface RemoteOverlap {
  /** The local pool and the remote pool that overlap, and the range fenced (the smaller of the two). */
  pool: string;
  cidr: string;
  remotePool: string;
  remoteCidr: string;
  fenced: string;
  /** RFC 3339: when this controller first saw it. */
  since: string;
}

/** One remote cluster as this cluster last saw it. */
export interface RemoteClusterState {
  /** The RemoteCluster resource's name and uid (a re-created resource starts a new record). */
  name: string;
  uid: string;
  clusterName: string;
  connection: RemoteConnection;
  /** The view has not matched the remote (every cache watching) for longer than the RemoteCluster's staleAfter. */
  stale: boolean;
  /** The last error, one line (never a credential). */
  error?: string;
  /** The remote etcd revision the cache reflects ("0" before the first sync). */
  revision: string;
  /** RFC 3339: when the cache last matched the remote (every cache listed and watching, in contact). */
  lastSynced?: string;
  pools: RemotePool[];
  /** Blocks known in the remote's IPAM, and its Node count. */
  blocks: number;
  nodes: number;
  /** The remote's default AS. */
  asNumber: number;
  gateways: RemoteGateway[];
  overlaps: RemoteOverlap[];
}

/** A range the allocator must not hand new addresses out of. */
export interface FencedRange {
  cidr: string;
  pool: string;
  remote: string;
  remotePool: string;
  remoteCidr: string;
  since: string;
}

/**
 * What the allocator must not hand out while RemoteClusters exist. A pool is
 * usable only when `cleared` holds its name with its uid: pools that existed
 * when the first RemoteCluster appeared are cleared at once; a pool created
 * later is cleared once the controller has checked it against a fresh read of
 * every remote (so two clusters creating overlapping pools at the same moment
 * cannot both use them). `held` says why a pool is not cleared yet.
 */
export interface ClusterFence {
  cleared: Record<string, string>;
  held: { pool: string; reason: string }[];
  fenced: FencedRange[];
  /** RFC 3339, when the controller last wrote it. */
  updated: string;
}

/**
 * The uid a pool is cleared under in the ClusterFence: its metadata.uid, or
 * '' for a pool stored without one. The controller that writes `cleared` and
 * every allocator that reads it must agree, so both call this.
 */
export function poolUid(pool: { metadata: { uid?: string } }): string {
  return pool.metadata.uid ?? '';
}
