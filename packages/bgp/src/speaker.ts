/**
 * The one interface every BGP backend implements. Callers hand over the whole
 * desired state (global settings, the full peer set, the full set of
 * announcements); the backend works out what to add, change and remove, and
 * keeps retrying until the daemon matches, also after the daemon restarts.
 * Learned best paths come back as a stream of per-prefix next-hop sets.
 */
import type { Cidr, IPAddr, PackedAddr, PackedPrefix } from '@terrace/api';
import type { PeerPolicy } from './policy.js';

export type Asn = number;

export interface GlobalConfig {
  asn: Asn;
  /** Dotted-quad BGP identifier (an IPv4 address, also on IPv6-only nodes). */
  routerId: string;
  /** TCP port to listen on; -1 disables listening (default 179). */
  listenPort?: number;
  /** Addresses to listen on (default: all). */
  listenAddresses?: readonly string[];
  /**
   * Select several equal best paths per prefix (ECMP). Default true: learned
   * events then carry every equal next hop, not just one.
   */
  multipath?: boolean;
}

/** Which configuration produced a peer; reported back by peerStatus(). */
export type PeerType = 'node-to-node mesh' | 'global' | 'node specific' | (string & {});

export interface PeerConfig {
  address: IPAddr;
  /** Remote TCP port (default 179). */
  port?: number;
  asn: Asn;
  /** TCP MD5 password. */
  password?: string;
  /** Seconds (default 30; hold defaults to 3 × keepalive). */
  keepaliveTime?: number;
  holdTime?: number;
  /** Seconds between connection attempts (default 5). */
  connectRetry?: number;
  /** GTSM: accept only packets with TTL ≥ 256 − hops. */
  ttlSecurity?: number;
  /** eBGP multihop TTL (mutually exclusive with ttlSecurity). */
  ebgpMultihop?: number;
  /** Graceful restart with this restart time in seconds (off when absent). */
  gracefulRestart?: { restartTime: number };
  /** Free text shown by peerStatus (e.g. the BGPPeer name). */
  description?: string;
  type?: PeerType;
  /** Local address to source the session from. */
  localAddress?: IPAddr;
  /** Do not initiate the connection; wait for the peer. */
  passive?: boolean;
  /**
   * Bidirectional Forwarding Detection for this session: the session goes
   * down (and its routes with it) after `multiplier` missed packets sent
   * every `intervalMs` (defaults 300 ms × 3, FRR's), instead of after the
   * hold time. Off when absent. BIRD runs it itself; with GoBGP the agent
   * runs it and disables the BGP peer while it is down (gobgp/bfd.ts).
   */
  bfd?: { intervalMs?: number; multiplier?: number };
  /**
   * We act as a route reflector towards this iBGP peer (it is our client):
   * routes from other iBGP peers are passed on to it with their next hop
   * unchanged, and its routes to every iBGP peer. Off when absent.
   */
  routeReflectorClient?: boolean;
  /** The cluster id (dotted quad) of a route reflector client session; default our router id. */
  routeReflectorClusterId?: string;
  /**
   * The next hop of the routes sent to this peer: `self` always our session
   * address, `keep` never rewritten (also towards eBGP peers), `auto` (or
   * absent) the protocol's rule: kept on iBGP, our address on eBGP.
   */
  nextHopMode?: NextHopMode;
  /**
   * What this session may import and export (policy.ts): import rules then
   * reject; export rules over what we originate, then as without a policy.
   * Absent: import everything (the agent always sets it).
   */
  policy?: PeerPolicy;
}

export type NextHopMode = 'auto' | 'self' | 'keep';

export interface Announcement {
  prefix: Cidr;
  /**
   * The node's own address (a peer that cannot reach the next hop never
   * selects the route), or the unspecified address (0.0.0.0, ::): each
   * session's local address, as the agent asks for on a node whose address
   * is on its loopback.
   */
  nextHop: IPAddr;
  /** Standard communities `aa:nn` and large communities `aa:nn:mm`, in any order. */
  communities?: readonly string[];
}

/**
 * A change to what the speaker has learned for one prefix. `set` replaces
 * every next hop known for the prefix (several when multipath selected
 * several equal best paths); `withdraw` removes the prefix. Our own
 * announcements never appear here. Prefix and next hops are the route
 * path's packed values (@terrace/api packed.ts), also its map keys, carried
 * unchanged into the kernel. Events that share a next-hop set may share its
 * array: treat `nextHops` as immutable.
 */
export type LearnedEvent =
  | { kind: 'set'; prefix: PackedPrefix; nextHops: readonly PackedAddr[] }
  | { kind: 'withdraw'; prefix: PackedPrefix };

/** A prefix's learned next hops, in learnedSnapshot(). */
export interface LearnedHops {
  readonly nextHops: readonly PackedAddr[];
}

export type SessionState = 'idle' | 'connect' | 'active' | 'opensent' | 'openconfirm' | 'established' | 'unknown';

export interface PeerStatus {
  address: string;
  asn: Asn;
  type: PeerType | undefined;
  description: string;
  state: SessionState;
  /** When the session last went up (established) or down, if known. */
  since: Date | undefined;
  prefixesReceived: number;
  prefixesAccepted: number;
  prefixesAdvertised: number;
  /**
   * UPDATEs received from / sent to the peer, when the backend counts them:
   * GoBGP counts BGP UPDATE messages; BIRD counts route updates (import
   * updates received, export updates accepted), summed over channels.
   */
  updatesReceived?: number;
  updatesSent?: number;
  /** Short text for an operator, e.g. `Established` or `Active: connection refused`. */
  info: string;
  /** BFD on this session: `on` (BIRD), `up`/`down`/`init`/`admin down` (GoBGP: the agent's session), or why it is not running; absent when not asked for. */
  bfd?: string;
}

/**
 * How the backend's own selection compares with its daemon's best paths, for
 * backends that select themselves (GoBGP: the BMP station's RIB).
 */
export interface RibCheckStatus {
  /** `diverged` once any prefix was found to differ, for the speaker's lifetime. */
  state: 'unchecked' | 'ok' | 'diverged';
  /** The last completed comparison. */
  checkedAt: Date | undefined;
  /** Distinct prefixes found to differ (and then following the daemon) so far. */
  diverged: number;
  /** The first one, e.g. `198.19.99.0/24: station says 198.18.0.99, gobgpd says no route`. */
  example: string | undefined;
}

/** The BGP daemons Terrace can drive. */
export type SpeakerBackend = 'gobgp' | 'bird';

export interface BgpSpeaker {
  readonly backend: SpeakerBackend;
  /**
   * Who writes learned routes to the kernel: false, the agent does (route
   * sync, our protocol 201) from the learned() stream; true, the daemon does
   * itself (BIRD's kernel protocol, `proto bird`), and learned() only reports.
   */
  readonly writesKernelRoutes: boolean;
  /** Whether PeerConfig.bfd is acted on (both backends now); a backend without BFD would say so in peerStatus. */
  readonly supportsBfd: boolean;
  /** The supervised daemon's current PID; undefined for a sidecar or while it is down. */
  readonly daemonPid: number | undefined;
  /** Starts (or restarts) BGP with these global settings. */
  start(global: GlobalConfig): Promise<void>;
  /** The whole desired peer set; returns once applied, retries in the background on failure. */
  setPeers(peers: readonly PeerConfig[]): Promise<void>;
  /** The whole desired announced set; returns once applied, retries in the background on failure. */
  setAnnouncements(paths: readonly Announcement[]): Promise<void>;
  /**
   * Learned best paths: batches of events, in order. A new subscriber first
   * gets `set` events for everything currently known, then changes.
   * Iteration ends when the speaker stops.
   */
  learned(): AsyncIterable<readonly LearnedEvent[]>;
  /** Current prefixes → next hops (what a fresh subscriber would be told first). */
  learnedSnapshot(): ReadonlyMap<PackedPrefix, LearnedHops>;
  peerStatus(): Promise<PeerStatus[]>;
  /** The check of our selection against the daemon's, where the backend has one. */
  ribCheck?(): RibCheckStatus;
  /** True once the daemon matches the desired state (peers and paths applied). */
  inSync(): boolean;
  stop(): Promise<void>;
}
