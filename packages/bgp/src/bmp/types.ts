/**
 * What the agent's BMP station (RFC 7854) reads from its own gobgpd: the raw
 * BGP UPDATEs each peer sent (pre-policy Adj-RIB-In route monitoring), peer
 * up and down. gobgpd forwards a received UPDATE as it came, many prefixes per
 * message, without the per-prefix work its other feeds cost; the station keeps
 * every peer's paths and runs the decision process itself (rib.ts).
 */
import type { IPAddr, IPFamily, PackedAddr, PackedPrefix, TerraceError } from '@terrace/api';

/** The peer a BMP per-peer header names. */
export interface BmpPeer {
  /** The peer address as formatIP prints it: the key for everything per peer. */
  readonly key: string;
  readonly address: IPAddr;
  readonly asn: number;
  /** BGP identifier, as an unsigned 32-bit number. */
  readonly bgpId: number;
}

/** One prefix of an UPDATE, as read from the wire (host bits cleared): the route path's value and key. */
export type Nlri = PackedPrefix;

/** The attributes of an UPDATE that the decision process and the kernel route need. */
export interface PathAttrs {
  /** NEXT_HOP (IPv4) or the global next hop of MP_REACH_NLRI (IPv6). */
  readonly nextHop: PackedAddr | undefined;
  /** ORIGIN: 0 IGP, 1 EGP, 2 INCOMPLETE (2 when absent). */
  readonly origin: number;
  /** AS_PATH length as BGP counts it: each AS of a sequence, 1 per set, 0 for confederation segments. */
  readonly asPathLen: number;
  /** First AS of the first non-confederation segment, 0 if none (MED comparability). */
  readonly firstAs: number;
  /** Every AS number in AS_PATH (loop detection). */
  readonly asns: readonly number[];
  readonly localPref: number | undefined;
  readonly med: number | undefined;
  /** ORIGINATOR_ID (RFC 4456), unsigned 32-bit, if present. */
  readonly originatorId: number | undefined;
  /** CLUSTER_LIST (RFC 4456), unsigned 32-bit ids. */
  readonly clusterList: readonly number[];
}

export interface BgpUpdate {
  /** Withdrawn prefixes: IPv4 withdrawn routes and MP_UNREACH_NLRI. */
  readonly withdrawn: readonly Nlri[];
  /** Announced prefixes: IPv4 NLRI and MP_REACH_NLRI, all with `attrs`. */
  readonly announced: readonly Nlri[];
  readonly attrs: PathAttrs | undefined;
  /** Set when the UPDATE is an End-of-RIB marker (RFC 4724) for this family. */
  readonly endOfRib: IPFamily | undefined;
}

export type BmpMessage =
  | { readonly type: 'route-monitoring'; readonly peer: BmpPeer; readonly postPolicy: boolean; readonly update: BgpUpdate }
  /**
   * A route-monitoring message whose BMP framing is intact but whose BGP
   * UPDATE cannot be read: skipped, so the messages after it still count.
   */
  | { readonly type: 'unreadable'; readonly peer: BmpPeer; readonly postPolicy: boolean; readonly error: TerraceError }
  | { readonly type: 'peer-up'; readonly peer: BmpPeer }
  | { readonly type: 'peer-down'; readonly peer: BmpPeer; readonly reason: number }
  | { readonly type: 'initiation' }
  | { readonly type: 'termination' }
  | { readonly type: 'other'; readonly code: number };
