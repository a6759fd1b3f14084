/**
 * What a kernel route is, to Terrace: a destination, what to do with packets
 * for it (forward through one or more next hops, or drop them), and where it
 * lives (table, metric). Route sync programs and compares these.
 *
 * Addresses are the route path's packed values (@terrace/api packed.ts), as
 * the BGP feed delivers them. The constructors below also take a Cidr or
 * IPAddr: where configuration (pod addresses, blocks) enters the route
 * path, it is packed once, there.
 */
import { packCidr, packIP, type Cidr, type IPAddr, type PackedAddr, type PackedPrefix } from '@terrace/api';
import { attrsOf, canonMatches, canonOf, identityKey, replaceArgs } from './canon.js';

/** A destination as a constructor takes it: packed, or a Cidr to pack. */
export type PrefixInput = PackedPrefix | Cidr;
/** An address as a constructor takes it: packed, or an IPAddr to pack. */
export type AddrInput = PackedAddr | IPAddr;

function packedPrefix(p: PrefixInput): PackedPrefix {
  return typeof p === 'string' ? p : packCidr(p);
}

function packedAddr(a: AddrInput): PackedAddr {
  return typeof a === 'string' ? a : packIP(a);
}

/** Where a unicast route sends packets: a gateway, a device, or both. */
export interface NextHop {
  /** Gateway address. Without one the destination is on-link through `dev`. */
  readonly via?: PackedAddr;
  /** Outgoing interface. The kernel picks it from the gateway when absent. */
  readonly dev?: string;
  /** Share of traffic in a multipath route, 1–256; default 1. Ignored with one next hop. */
  readonly weight?: number;
  /** Treat the gateway as on-link even though no local address covers it. */
  readonly onlink?: boolean;
}

/** A next hop as a constructor takes it. */
export interface NextHopInput extends Omit<NextHop, 'via'> {
  readonly via?: AddrInput;
}

interface RouteCommon {
  /** Destination prefix, IPv4 or IPv6. */
  readonly dst: PackedPrefix;
  /** Routing table id; default the main table (254). */
  readonly table?: number;
  /** Route priority; default 0 for IPv4 and 1024 for IPv6, as the kernel does. */
  readonly metric?: number;
  /** Preferred source address for traffic this host originates along the route. */
  readonly src?: PackedAddr;
}

/**
 * Forward through next hops. One next hop is a plain route (`via G`, or
 * `dev vethX scope link` for a device route); several are one multipath
 * (ECMP) route.
 */
export interface UnicastRoute extends RouteCommon {
  readonly kind: 'unicast';
  readonly nextHops: readonly NextHop[];
}

/** Drop packets: silently (`blackhole`) or with an ICMP error. */
export interface RejectRoute extends RouteCommon {
  readonly kind: 'blackhole' | 'unreachable' | 'prohibit';
}

export type Route = UnicastRoute | RejectRoute;
export type RouteKind = Route['kind'];

/** The identity of a route: two routes with the same id are one kernel route. */
export interface RouteId {
  readonly dst: PrefixInput;
  readonly table?: number;
  readonly metric?: number;
}

export interface RouteOptions {
  readonly table?: number;
  readonly metric?: number;
  readonly src?: AddrInput;
}

function common(dst: PrefixInput, opts: RouteOptions): { dst: PackedPrefix; table?: number; metric?: number; src?: PackedAddr } {
  const r: { dst: PackedPrefix; table?: number; metric?: number; src?: PackedAddr } = { dst: packedPrefix(dst) };
  if (opts.table !== undefined) r.table = opts.table;
  if (opts.metric !== undefined) r.metric = opts.metric;
  if (opts.src !== undefined) r.src = packedAddr(opts.src);
  return r;
}

function packedHop(h: NextHopInput): NextHop {
  return h.via === undefined || typeof h.via === 'string' ? (h as NextHop) : { ...h, via: packIP(h.via) };
}

/** A route via one gateway, or one multipath route via several. Packed next hops are kept as given (not copied). */
export function unicastRoute(dst: PrefixInput, nextHops: NextHopInput | readonly NextHopInput[], opts: RouteOptions = {}): UnicastRoute {
  const given = Array.isArray(nextHops) ? (nextHops as readonly NextHopInput[]) : [nextHops as NextHopInput];
  const hops = given.every((h) => h.via === undefined || typeof h.via === 'string') ? (given as readonly NextHop[]) : given.map(packedHop);
  return Object.assign(common(dst, opts), { kind: 'unicast' as const, nextHops: hops });
}

/** A device route (`dst dev DEV scope link`), e.g. a pod's /32 through its veth. */
export function deviceRoute(dst: PrefixInput, dev: string, opts: RouteOptions = {}): UnicastRoute {
  return Object.assign(common(dst, opts), { kind: 'unicast' as const, nextHops: [{ dev }] });
}

/** A route that silently drops what matches it (unallocated addresses of an owned block). */
export function blackholeRoute(dst: PrefixInput, opts: RouteOptions = {}): RejectRoute {
  return Object.assign(common(dst, opts), { kind: 'blackhole' as const });
}

/**
 * The route's identity as a string: destination, plus table and metric when
 * they are not the defaults. Throws a TerraceError when the route is invalid.
 */
export function routeKey(r: Route): string {
  return canonOf(r).key;
}

/** The identity key of a route id, or of a bare destination (main table, default metric). */
export function routeIdKey(id: RouteId | PrefixInput): string {
  if (typeof id === 'string') return identityKey(id);
  return 'dst' in id ? identityKey(packedPrefix(id.dst), id.table, id.metric) : identityKey(packCidr(id));
}

/**
 * The route's attributes (kind, source, next hops) in a canonical form:
 * equal strings mean the same forwarding, whatever order next hops came in.
 */
export function routeAttrs(r: Route): string {
  return attrsOf(canonOf(r));
}

/**
 * True when the kernel route `have` already does what `want` asks: same
 * identity and attributes, where a next hop of `want` that names no device
 * matches whatever device the kernel resolved its gateway to.
 */
export function routeSatisfies(want: Route, have: Route): boolean {
  const w = canonOf(want);
  const h = canonOf(have);
  return w.key === h.key && canonMatches(w, h);
}

/** The route as `ip route` arguments (for logs and messages). */
export function formatRoute(r: Route): string {
  return replaceArgs(canonOf(r));
}
