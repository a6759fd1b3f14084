/**
 * What each node agent publishes about itself at keys.status(node): its BGP
 * sessions and route counts. The record is bound to the agent's lease, so it
 * disappears with the agent; `updatedAt` tells readers how fresh it is.
 * Written by the agent, read by `terracectl node status` from any host.
 */

/** Why a session exists, as `terracectl node status` shows it (Calico's wording). */
export type PeerType = 'node-to-node mesh' | 'global' | 'node specific' | 'remote cluster';

export const PEER_TYPES: readonly PeerType[] = ['node-to-node mesh', 'global', 'node specific', 'remote cluster'];

/** BGP finite-state-machine states (RFC 4271), plus Unknown before the speaker reports. */
export type PeerState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established' | 'Unknown';

/** BGP's well-known TCP port (RFC 4271): a peer's port unless it names another; status shows a port only when it differs. */
export const BGP_PORT = 179;

export interface PeerStatusRecord {
  /** The peer's address (no port). */
  address: string;
  /** The peer's TCP port when it is not BGP_PORT. */
  port?: number;
  type: PeerType;
  /** Where the peer came from: `node/<name>` for the mesh, `bgppeer/<name>` otherwise. */
  source: string;
  asNumber: number;
  state: PeerState;
  /** RFC 3339 time of the last state change, when the speaker knows it. */
  since?: string;
  /** Free text: the last error, or what the session is waiting for. */
  info: string;
  /** Prefixes received from / advertised to this peer. */
  received: number;
  advertised: number;
  /** BFD on this session: `on` (BIRD), `up`/`down`/`init`/`admin down` (GoBGP: the agent's session), or why it is not running; absent when not asked for. */
  bfd?: string;
}

export interface NodeStatus {
  node: string;
  /** The node's BGP speaker (`gobgp` or `bird`); absent in records of older agents. */
  backend?: string;
  /** RFC 3339 time this record was written; readers flag it stale when old. */
  updatedAt: string;
  asNumber: number;
  routerId: string;
  /** The node's BGP addresses (no prefix length). */
  addresses: string[];
  peers: PeerStatusRecord[];
  prefixes: {
    /** Distinct best-path prefixes learned from all peers. */
    received: number;
    /** Prefixes this node originates (affine blocks and borrowed addresses). */
    advertised: number;
    /** Routes of our protocol the agent wants in the kernel (learned + blackholes). */
    installed: number;
  };
  /** The originated prefixes themselves, for humans (sorted). */
  advertisedPrefixes: string[];
  /**
   * Addresses of this node's running pods that IPAM gives to another node (or
   * to none): taken while the node was cut off from etcd. Absent when none.
   */
  addressConflicts?: { address: string; dev: string; holder?: string; holderPod?: string }[];
  /**
   * The check of the agent's own best-path selection (its BMP station's RIB)
   * against gobgpd's; absent from agents that do not check. `diverged` stays
   * once any prefix differed: those prefixes follow gobgpd, but the mirror of
   * gobgpd's rules is wrong somewhere.
   */
  ribCheck?: {
    state: 'unchecked' | 'ok' | 'diverged';
    /** Distinct prefixes found to differ since the agent started. */
    diverged: number;
    /** The first, e.g. `198.19.99.0/24: station says 198.18.0.99, gobgpd says no route`. */
    example?: string;
    /** RFC 3339: the last completed comparison. */
    checkedAt?: string;
  };
  /**
   * natOutgoing's nftables table (`inet terrace-nat`): `installed` when it is
   * in the kernel as the pools want (false when no pool has natOutgoing),
   * `error` the last failure in one line (retried), `repaired` how often it
   * was found changed outside Terrace and rewritten. Absent from older agents.
   */
  nat?: { installed: boolean; error?: string; repaired: number };
}

/** A status older than this is shown as stale. */
export const NODE_STATUS_STALE_MS = 30_000;

/**
 * What the acting terrace-controller reports after every reconcile pass, at
 * keys.controllerStatus(). Not lease-bound: the last report stays readable
 * when no controller runs (`lastPass` then shows how old it is). Written by
 * the controller, read by `terracectl controller status`.
 */
/** `held`: the grace period is over but live agents still learn the node's routes (or could not be asked): not freed. */
export type ControllerNodeState = 'alive' | 'grace' | 'released' | 'held';

export interface ControllerNodeStatus {
  node: string;
  state: ControllerNodeState;
  /** RFC 3339: when this leader first saw the node's liveness key gone (grace and released). */
  goneSince?: string;
  /** Seconds left before the node's addresses are released (grace only). */
  graceRemainingSeconds?: number;
  /** Why the release is held (held only), e.g. `198.19.5.0/26 still announced, learned by node-2 via 198.18.1.1`. */
  heldReason?: string;
  /** Addresses and blocks the node still holds in IPAM, as last read. */
  addresses: number;
  blocks: number;
}

export interface ControllerStatus {
  /** The identity of the controller that wrote this (the leader). */
  leader: string;
  /** RFC 3339: when it became leader. */
  leaderSince: string;
  /** RFC 3339: when the last pass finished. */
  lastPass: string;
  passes: number;
  lastPassMs: number;
  graceSeconds: number;
  intervalSeconds: number;
  nodes: ControllerNodeStatus[];
  /** Totals since this controller became leader. */
  totals: { nodesReleased: number; blocksReleased: number; addressesFreed: number; poolsCreated: number };
  /** The most recent errors (newest last), at most a handful. */
  errors: { time: string; message: string }[];
  /** Remote clusters as of the last remote round (absent when there is none); details in their state docs. */
  remotes?: { remotes: number; connected: number; overlaps: number; held: number };
}
