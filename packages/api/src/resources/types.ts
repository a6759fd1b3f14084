/**
 * The Terrace resource model (apiVersion terrace.dev/v1). Field names and
 * meanings follow Calico's projectcalico.org/v3 where Calico has the field.
 * These are the *stored* shapes: after decoding and validation, ASNs are
 * plain numbers and CIDRs are in canonical form.
 */
export const API_GROUP = 'terrace.dev';
export const API_VERSION = 'terrace.dev/v1';
export const CALICO_API_VERSION = 'projectcalico.org/v3';

export const KINDS = ['IPPool', 'BGPPeer', 'BGPConfiguration', 'BGPFilter', 'Node', 'IPAMConfig', 'RemoteCluster'] as const;
export type Kind = (typeof KINDS)[number];

export interface ObjectMeta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The etcd mod revision of the stored object; set by the datastore. */
  resourceVersion?: string;
  /** Set by the datastore on create, never changed. */
  uid?: string;
  /** RFC 3339, set by the datastore on create. */
  creationTimestamp?: string;
}

export type AllowedUse = 'Workload' | 'Tunnel' | 'LoadBalancer';
export type AssignmentMode = 'Automatic' | 'Manual';

export interface IPPoolSpec {
  cidr: string;
  /** Prefix length of the blocks the pool is cut into; default 26 (IPv4) / 122 (IPv6). */
  blockSize: number;
  /** Which nodes may claim blocks from this pool; default all(). */
  nodeSelector: string;
  disabled: boolean;
  disableBGPExport: boolean;
  natOutgoing: boolean;
  allowedUses: AllowedUse[];
  assignmentMode: AssignmentMode;
  /** Always Never: Terrace is overlay-free. Kept so Calico manifests round-trip. */
  ipipMode: 'Never';
  vxlanMode: 'Never';
}

export interface BGPPassword {
  secretKeyRef?: { name: string; key: string };
}

export type NextHopMode = 'Auto' | 'Self' | 'Keep';

export interface BGPPeerSpec {
  /** `ip` or `ip:port`; absent when peerSelector is used. */
  peerIP?: string;
  asNumber?: number;
  /** Applies to this node only. */
  node?: string;
  /** Applies to the nodes this selects. Absent with `node` absent: all nodes (a global peer). */
  nodeSelector?: string;
  /** Peer with the nodes this selects instead of with peerIP. */
  peerSelector?: string;
  password?: BGPPassword;
  /** Graceful restart time, Go duration (default 120s; "0s" turns graceful restart off). */
  maxRestartTime?: string;
  /** Go duration, e.g. "30s". */
  keepaliveTime?: string;
  nextHopMode?: NextHopMode;
  /** Max hops for GTSM (1–255). */
  ttlSecurity?: number;
  sourceAddress?: 'UseNodeIP' | 'None';
  /** Terrace extension: BFD on this session (BIRD nodes run it; GoBGP nodes report that they cannot). */
  bfd?: BFDSpec;
  /** BGPFilter names, applied in order (first matching rule wins), before the default policy. */
  filters?: string[];
}

/** Terrace extension: Bidirectional Forwarding Detection for a BGP session. */
export interface BFDSpec {
  /** Go duration, e.g. "300ms": the transmit and receive interval (default 300ms). */
  interval?: string;
  /** Missed packets before the session is declared down (default 3). */
  multiplier?: number;
}

export interface Community {
  name: string;
  /** `aa:nn` or large `aa:nn:mm`. */
  value: string;
}

export interface PrefixAdvertisement {
  cidr: string;
  /** Community names (from `communities`) or literal values. */
  communities: string[];
}

export interface BGPConfigurationSpec {
  nodeToNodeMeshEnabled?: boolean;
  asNumber?: number;
  listenPort?: number;
  /** Terrace extension: keepalive for node-to-node mesh sessions (Go duration). */
  keepaliveTime?: string;
  logSeverityScreen?: string;
  communities?: Community[];
  prefixAdvertisements?: PrefixAdvertisement[];
  serviceClusterIPs?: { cidr: string }[];
  serviceExternalIPs?: { cidr: string }[];
  serviceLoadBalancerIPs?: { cidr: string }[];
  /** Terrace extension: BFD on node-to-node mesh sessions between nodes that can run it. */
  nodeToNodeMeshBFD?: BFDSpec;
  /** TCP MD5 password of every node-to-node mesh session (default configuration only). */
  nodeMeshPassword?: BGPPassword;
  /** Graceful restart time of mesh sessions (Go duration; default 120s, "0s" turns graceful restart off). */
  nodeMeshMaxRestartTime?: string;
}

export type BGPFilterAction = 'Accept' | 'Reject';
export type BGPFilterMatchOperator = 'Equal' | 'NotEqual' | 'In' | 'NotIn';
export const BGP_FILTER_ACTIONS: readonly BGPFilterAction[] = ['Accept', 'Reject'];
export const BGP_FILTER_OPERATORS: readonly BGPFilterMatchOperator[] = ['Equal', 'NotEqual', 'In', 'NotIn'];

/** One rule of a BGPFilter (Calico's BGPFilterRuleV4/V6): every condition set must hold. */
export interface BGPFilterRule {
  action: BGPFilterAction;
  /** With `cidr`: how the route's prefix is compared to it. */
  matchOperator?: BGPFilterMatchOperator;
  /** Of the rule list's family, canonical. */
  cidr?: string;
  /** The route's prefix length must lie within these bounds (each optional). */
  prefixLength?: { min?: number; max?: number };
  /** Export rules only: `RemotePeers` (routes learned from peers). */
  source?: 'RemotePeers';
  /** Export rules only: a route's interface (Calico matches the name as a pattern). */
  interface?: string;
}

export interface BGPFilterSpec {
  exportV4?: BGPFilterRule[];
  importV4?: BGPFilterRule[];
  exportV6?: BGPFilterRule[];
  importV6?: BGPFilterRule[];
}

export interface NodeBGPSpec {
  /** The node's BGP address with its subnet length, e.g. 198.18.0.11/24 (Calico form). */
  ipv4Address?: string;
  ipv6Address?: string;
  asNumber?: number;
  routeReflectorClusterID?: string;
  /** Terrace extension: the node's BGP speaker, overriding the agent's --bgp-backend (read at agent start). */
  backend?: BgpBackend;
}

export type BgpBackend = 'gobgp' | 'bird';
export const BGP_BACKENDS: readonly BgpBackend[] = ['gobgp', 'bird'];
/**
 * The label an agent sets on its Node to the backend it runs, so that
 * selectors and other nodes can tell (BFD on the mesh only between nodes
 * that run it).
 */
export const BGP_BACKEND_LABEL = 'terrace.dev/bgp-backend';

export interface NodeSpec {
  bgp?: NodeBGPSpec;
}

export interface IPAMConfigSpec {
  strictAffinity: boolean;
  maxBlocksPerHost: number;
  autoAllocateBlocks: boolean;
}

/** Where a secret is read from: `<secrets dir>/<name>/<key>` (a Kubernetes secret mounted as a volume). */
export interface SecretKeyRef {
  name: string;
  key: string;
}

/** How the controller reaches a remote cluster's etcd. Credentials are named, never stored. */
export interface RemoteEtcdSpec {
  /** http(s) URLs; etcd's client port 2379 is added when none is given. */
  endpoints: string[];
  /** TLS files on the controller's host (paths, not contents). */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** The etcd user and its password, read by the controller from its secrets directory. */
  usernameSecretRef?: SecretKeyRef;
  passwordSecretRef?: SecretKeyRef;
}

/**
 * Another Terrace cluster whose pools, blocks and nodes this cluster reads
 * (read-only) to refuse overlapping pools and to route to its pods.
 */
export interface RemoteClusterSpec {
  /** The remote's cluster name: its keys live under /terrace/v1/<clusterName>/ (default metadata.name). */
  clusterName: string;
  etcd: RemoteEtcdSpec;
  /** Local nodes that peer with the remote's gateways over eBGP; absent: none (sync and guards only). */
  gatewayNodeSelector?: string;
  /** Which of the remote's Nodes are its gateways (default all()). */
  remoteGatewaySelector: string;
  /** How long without contact before the cached view is reported stale (Go duration, default 30s). */
  staleAfter: string;
}

interface ResourceBase<K extends Kind, S> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
}

export type IPPool = ResourceBase<'IPPool', IPPoolSpec>;
export type BGPPeer = ResourceBase<'BGPPeer', BGPPeerSpec>;
export type BGPConfiguration = ResourceBase<'BGPConfiguration', BGPConfigurationSpec>;
export type BGPFilter = ResourceBase<'BGPFilter', BGPFilterSpec>;
export type TerraceNode = ResourceBase<'Node', NodeSpec>;
export type IPAMConfig = ResourceBase<'IPAMConfig', IPAMConfigSpec>;
export type RemoteCluster = ResourceBase<'RemoteCluster', RemoteClusterSpec>;

export type Resource = IPPool | BGPPeer | BGPConfiguration | BGPFilter | TerraceNode | IPAMConfig | RemoteCluster;
export type ResourceOf<K extends Kind> = Extract<Resource, { kind: K }>;

/** The plural used in etcd keys and by `terracectl get`. */
export const KIND_PLURAL: Record<Kind, string> = {
  IPPool: 'ippools',
  BGPPeer: 'bgppeers',
  BGPConfiguration: 'bgpconfigurations',
  BGPFilter: 'bgpfilters',
  Node: 'nodes',
  IPAMConfig: 'ipamconfigs',
  RemoteCluster: 'remoteclusters',
};

/** `ippool/pool-a`: how messages name a resource. */
export function resourceRef(kind: Kind, name: string): string {
  return `${kind.toLowerCase()}/${name}`;
}
