/**
 * Conversions between our speaker types and GoBGP's API messages. Pure
 * functions; the only GoBGP-specific knowledge of how a peer, a path and a
 * learned best path are spelled on the wire lives here.
 */
import { create, fromBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { anyPack, type Any } from '@bufbuild/protobuf/wkt';
import { formatCidr, formatIP, ipAddr, parseCidr, parseIP, TerraceError } from '@terrace/api';
import {
  CommunitiesAttributeSchema,
  IPAddressPrefixSchema,
  LargeCommunitiesAttributeSchema,
  MpReachNLRIAttributeSchema,
  NextHopAttributeSchema,
  OriginAttributeSchema,
} from '../gen/attribute_pb.js';
import {
  Family_Afi,
  Family_Safi,
  type FamilySchema,
  type GlobalSchema,
  type Path,
  type Peer,
  type PathSchema,
  type PeerSchema,
} from '../gen/gobgp_pb.js';
import type { Announcement, GlobalConfig, PeerConfig } from '../speaker.js';

type Init<S extends Parameters<typeof create>[0]> = MessageInitShape<S>;

export function familyOf(v: 4 | 6): Init<typeof FamilySchema> {
  return { afi: v === 4 ? Family_Afi.IP : Family_Afi.IP6, safi: Family_Safi.UNICAST };
}

export function toApiGlobal(g: GlobalConfig): Init<typeof GlobalSchema> {
  return {
    asn: g.asn,
    routerId: g.routerId,
    listenPort: g.listenPort ?? 179,
    listenAddresses: [...(g.listenAddresses ?? [])],
    useMultiplePaths: g.multipath ?? true,
  };
}

/**
 * `restarting`: gobgpd was restarted under us and this peer is added to the
 * new daemon. With graceful restart on, the OPEN then says so (restart state
 * and forwarding-state bits, RFC 4724): the node kept forwarding (the kernel
 * routes stayed), so the peer keeps our routes until our End-of-RIB, and
 * gobgpd defers its own updates until the peers have sent their tables.
 */
export function toApiPeer(p: PeerConfig, opts: { restarting?: boolean } = {}): Init<typeof PeerSchema> {
  if (p.ttlSecurity !== undefined && p.ebgpMultihop !== undefined) {
    throw new TerraceError('Invalid', `bgp peer ${formatIP(p.address)}: ttlSecurity and ebgpMultihop are mutually exclusive`, {
      field: 'ttlSecurity',
    });
  }
  const keepalive = p.keepaliveTime ?? 30;
  const hold = p.holdTime ?? keepalive * 3;
  const gr = p.gracefulRestart;
  return {
    conf: {
      neighborAddress: formatIP(p.address),
      peerAsn: p.asn,
      authPassword: p.password ?? '',
      description: p.description ?? '',
    },
    timers: {
      config: {
        keepaliveInterval: BigInt(keepalive),
        holdTime: BigInt(hold),
        connectRetry: BigInt(p.connectRetry ?? 5),
      },
    },
    transport: {
      remotePort: p.port ?? 179,
      localAddress: p.localAddress ? formatIP(p.localAddress) : '',
      passiveMode: p.passive ?? false,
    },
    // GTSM: our packets leave with TTL 255; accept only TTL >= 256 - hops.
    ttlSecurity: p.ttlSecurity !== undefined ? { enabled: true, ttlMin: 256 - p.ttlSecurity } : undefined,
    ebgpMultihop: p.ebgpMultihop !== undefined ? { enabled: true, multihopTtl: p.ebgpMultihop } : undefined,
    gracefulRestart: gr
      ? {
          enabled: true,
          restartTime: gr.restartTime,
          ...(opts.restarting ? { localRestarting: true, deferralTime: gr.restartTime } : {}),
        }
      : undefined,
    routeReflector: routeReflectorOf(p),
    // Both unicast families on every session (MP-BGP); the peer's OPEN decides what is used.
    afiSafis: ([4, 6] as const).map((v) => ({
      config: { family: familyOf(v), enabled: true },
      mpGracefulRestart: gr ? { config: { enabled: true } } : undefined,
    })),
  };
}

const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** A client session's route reflector settings; gobgpd uses its router id when the cluster id is empty. */
function routeReflectorOf(p: PeerConfig): Init<typeof PeerSchema>['routeReflector'] {
  const where = `bgp peer ${formatIP(p.address)}`;
  const id = p.routeReflectorClusterId;
  if (!p.routeReflectorClient) {
    if (id !== undefined) throw new TerraceError('Invalid', `${where}: routeReflectorClusterId is set but routeReflectorClient is not`, { field: 'routeReflectorClusterId' });
    return undefined;
  }
  if (id !== undefined && !DOTTED_QUAD.test(id)) {
    throw new TerraceError('Invalid', `${where}: routeReflectorClusterId ${JSON.stringify(id)} is not a dotted-quad cluster id`, { field: 'routeReflectorClusterId' });
  }
  return { routeReflectorClient: true, routeReflectorClusterId: id ?? '' };
}

/**
 * Whether a peer as gobgpd lists it already has the configuration `p` asks
 * for, on every field toApiPeer sets. Used when adopting a running daemon,
 * whose peers we did not configure in this process.
 */
export function peerConfigMatches(p: PeerConfig, listed: Peer | undefined): boolean {
  if (!listed) return false;
  const want = toApiPeer(p);
  const t = listed.timers?.config;
  const tr = listed.transport;
  const sameTtl = (want.ttlSecurity?.enabled ?? false) === (listed.ttlSecurity?.enabled ?? false) && (want.ttlSecurity?.ttlMin ?? 0) === (listed.ttlSecurity?.ttlMin ?? 0);
  const sameHop = (want.ebgpMultihop?.enabled ?? false) === (listed.ebgpMultihop?.enabled ?? false) && (want.ebgpMultihop?.multihopTtl ?? 0) === (listed.ebgpMultihop?.multihopTtl ?? 0);
  const sameGr = (want.gracefulRestart?.enabled ?? false) === (listed.gracefulRestart?.enabled ?? false) && (want.gracefulRestart?.restartTime ?? 0) === (listed.gracefulRestart?.restartTime ?? 0);
  return (
    listed.conf?.peerAsn === want.conf?.peerAsn &&
    (listed.conf?.authPassword ?? '') === (want.conf?.authPassword ?? '') &&
    (listed.conf?.description ?? '') === (want.conf?.description ?? '') &&
    t?.keepaliveInterval === want.timers?.config?.keepaliveInterval &&
    t?.holdTime === want.timers?.config?.holdTime &&
    (tr?.remotePort ?? 179) === (want.transport?.remotePort ?? 179) &&
    (tr?.passiveMode ?? false) === (want.transport?.passiveMode ?? false) &&
    // gobgpd reports the session's actual local address once it is up.
    (!want.transport?.localAddress || tr?.localAddress === want.transport.localAddress) &&
    sameTtl &&
    sameHop &&
    sameGr &&
    !routeReflectorChanged(p, listed)
  );
}

/** Whether gobgpd lists a peer with other route reflector settings than `p` asks for. */
export function routeReflectorChanged(p: PeerConfig, listed: Peer | undefined): boolean {
  if (!listed) return false;
  const want = routeReflectorOf(p);
  const has = listed.routeReflector;
  if ((want?.routeReflectorClient ?? false) !== (has?.routeReflectorClient ?? false)) return true;
  // gobgpd lists the cluster id it uses (its router id when we left it empty).
  return !!want?.routeReflectorClusterId && has?.routeReflectorClusterId !== want.routeReflectorClusterId;
}

/** A stable key for a peer's configuration: equal keys need no UpdatePeer. */
export function peerKey(p: PeerConfig): string {
  return JSON.stringify(toApiPeer(p), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

const COMMUNITY = /^(\d{1,5}):(\d{1,5})$/;
const LARGE_COMMUNITY = /^(\d{1,10}):(\d{1,10}):(\d{1,10})$/;

export function parseCommunity(s: string): number {
  const m = COMMUNITY.exec(s);
  const hi = m ? Number(m[1]) : NaN;
  const lo = m ? Number(m[2]) : NaN;
  if (!(hi <= 0xffff && lo <= 0xffff)) {
    throw new TerraceError('Invalid', `bgp community "${s}": expected aa:nn with both parts 0-65535`, { field: 'communities' });
  }
  return hi * 0x10000 + lo;
}

export interface LargeCommunity {
  globalAdmin: number;
  localData1: number;
  localData2: number;
}

/** A large community `aa:nn:mm` (RFC 8092), each part 0-4294967295. */
export function parseLargeCommunity(s: string): LargeCommunity {
  const m = LARGE_COMMUNITY.exec(s);
  const parts = m ? m.slice(1).map(Number) : [];
  if (parts.length !== 3 || parts.some((x) => x > 0xffffffff)) {
    throw new TerraceError('Invalid', `bgp large community "${s}": expected aa:nn:mm with each part 0-4294967295`, { field: 'communities' });
  }
  const [globalAdmin, localData1, localData2] = parts as [number, number, number];
  return { globalAdmin, localData1, localData2 };
}

/** Splits community values into the standard (RFC 1997) and large (RFC 8092) attributes' contents. */
function splitCommunities(values: readonly string[]): { standard: number[]; large: LargeCommunity[] } {
  const standard: number[] = [];
  const large: LargeCommunity[] = [];
  for (const v of new Set(values)) {
    if (LARGE_COMMUNITY.test(v)) large.push(parseLargeCommunity(v));
    else standard.push(parseCommunity(v));
  }
  return { standard, large };
}

export function toApiPath(a: Announcement, withdraw = false): Init<typeof PathSchema> {
  const fam = a.prefix.family;
  if (a.nextHop.family !== fam) {
    throw new TerraceError('Invalid', `announcement ${formatCidr(a.prefix)}: next hop ${formatIP(a.nextHop)} is not IPv${fam}`, {
      field: 'nextHop',
    });
  }
  const nlri = anyPack(
    IPAddressPrefixSchema,
    create(IPAddressPrefixSchema, { prefix: formatIP(ipAddr(fam, a.prefix.base)), prefixLen: a.prefix.prefix }),
  );
  const pattrs: Any[] = [anyPack(OriginAttributeSchema, create(OriginAttributeSchema, { origin: 0 }))];
  if (fam === 4) {
    pattrs.push(anyPack(NextHopAttributeSchema, create(NextHopAttributeSchema, { nextHop: formatIP(a.nextHop) })));
  } else {
    // IPv6 unicast travels in MP_REACH_NLRI, which carries the next hop and the NLRI.
    pattrs.push(
      anyPack(
        MpReachNLRIAttributeSchema,
        create(MpReachNLRIAttributeSchema, { family: familyOf(6), nextHops: [formatIP(a.nextHop)], nlris: [nlri] }),
      ),
    );
  }
  const { standard, large } = splitCommunities(a.communities ?? []);
  if (standard.length > 0) {
    pattrs.push(anyPack(CommunitiesAttributeSchema, create(CommunitiesAttributeSchema, { communities: standard })));
  }
  if (large.length > 0) {
    pattrs.push(anyPack(LargeCommunitiesAttributeSchema, create(LargeCommunitiesAttributeSchema, { communities: large })));
  }
  return { family: familyOf(fam), nlri, pattrs, isWithdraw: withdraw };
}

/**
 * A key for an announcement: equal keys mean the same path in the daemon.
 * ownPathKey() spells a path gobgpd lists the same way.
 */
export function announcementKey(a: Announcement): string {
  const { standard, large } = splitCommunities(a.communities ?? []);
  return pathKey(formatCidr(a.prefix), formatIP(a.nextHop), standard, large);
}

/** Communities in one canonical spelling (numbers, sorted), whatever order or form they were given in. */
function pathKey(prefix: string, nextHop: string, standard: readonly number[], large: readonly LargeCommunity[]): string {
  const l = large.map((c) => `${c.globalAdmin}:${c.localData1}:${c.localData2}`).sort();
  return `${prefix} ${nextHop} ${[...standard].sort((x, y) => x - y).join(',')} ${l.join(',')}`;
}

/**
 * The announcementKey of a path gobgpd lists, with its prefix as formatCidr
 * prints it; undefined for a path that is not IP unicast.
 */
export function ownPathKey(p: Path): { prefix: string; key: string } | undefined {
  const raw = fromApiPath(p);
  if (!raw) return undefined;
  let communities: number[] = [];
  let large: LargeCommunity[] = [];
  for (const a of p.pattrs) {
    if (a.typeUrl === T_COMMUNITIES) communities = fromBinary(CommunitiesAttributeSchema, a.value).communities;
    if (a.typeUrl === T_LARGE_COMMUNITIES) large = fromBinary(LargeCommunitiesAttributeSchema, a.value).communities;
  }
  const prefix = formatCidr(parseCidr(raw.prefix));
  return { prefix, key: pathKey(prefix, formatIP(parseIP(raw.nextHop)), communities, large) };
}

/** What we need from one path of a best-path event. */
export interface RawBestPath {
  /** `addr/len` as GoBGP prints it. */
  prefix: string;
  nextHop: string;
  withdraw: boolean;
  /** Originated by this speaker (AddPath), not learned from a peer. */
  local: boolean;
}

const T_PREFIX = `type.googleapis.com/${IPAddressPrefixSchema.typeName}`;
const T_NEXTHOP = `type.googleapis.com/${NextHopAttributeSchema.typeName}`;
const T_MPREACH = `type.googleapis.com/${MpReachNLRIAttributeSchema.typeName}`;
const T_COMMUNITIES = `type.googleapis.com/${CommunitiesAttributeSchema.typeName}`;
const T_LARGE_COMMUNITIES = `type.googleapis.com/${LargeCommunitiesAttributeSchema.typeName}`;

/**
 * Reads prefix and next hop from a path. Only the attributes we need are
 * decoded (by type URL), which matters when 100,000 paths arrive at once.
 */
export function fromApiPath(p: Path): RawBestPath | undefined {
  if (!p.nlri || p.nlri.typeUrl !== T_PREFIX) return undefined;
  const n = fromBinary(IPAddressPrefixSchema, p.nlri.value);
  let nextHop = '';
  for (const a of p.pattrs) {
    if (a.typeUrl === T_NEXTHOP) {
      nextHop = fromBinary(NextHopAttributeSchema, a.value).nextHop;
      break;
    }
    if (a.typeUrl === T_MPREACH) {
      nextHop = fromBinary(MpReachNLRIAttributeSchema, a.value).nextHops[0] ?? '';
      break;
    }
  }
  return {
    prefix: `${n.prefix}/${n.prefixLen}`,
    nextHop,
    withdraw: p.isWithdraw,
    local: p.neighborIp === '<nil>' || p.neighborIp === '',
  };
}
