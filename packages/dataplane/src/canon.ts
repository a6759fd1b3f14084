/**
 * Canonical forms of a route: its identity key and its attributes, next
 * hops in a canonical order. Destination, source and gateways are the route
 * path's packed values (@terrace/api packed.ts): the BMP parser's bytes,
 * written into netlink as they are; text only for `ip` lines and messages.
 *
 * Desired routes and kernel routes (decoded from netlink dumps and
 * announcements, routemsg.ts decodeRoutes) both become a RouteCanon, so the
 * two sides compare as strings field by field; devices are named, not
 * numbered, as callers name them (a kernel route's interface index is named
 * through the link dump that comes with every read, kept current by link
 * announcements).
 */
import {
  addrFamily,
  formatAddr,
  formatPrefix,
  isHostPrefix,
  prefixFamily,
  TerraceError,
  type IPFamily,
  type PackedAddr,
  type PackedPrefix,
} from '@terrace/api';
import {
  DEFAULT_METRIC_V4,
  DEFAULT_METRIC_V6,
  MAIN_TABLE,
  MAX_IFNAME_LENGTH,
  MAX_NEXT_HOPS,
  ROUTE_PROTOCOL,
} from './constants.js';
import type { NextHop, Route, RouteKind } from './route.js';

/** A next hop, canonical. */
export interface CanonHop {
  readonly via: PackedAddr | undefined;
  readonly dev: string | undefined;
  /** 1–256; only meaningful with several next hops. */
  readonly weight: number;
  readonly onlink: boolean;
}

/** A route, canonical, with its identity key. */
export interface RouteCanon {
  /**
   * Identity: the destination itself (the same string as the BGP feed's key
   * for it), with table and metric appended when not the defaults.
   */
  readonly key: string;
  readonly kind: RouteKind;
  readonly family: IPFamily;
  readonly dst: PackedPrefix;
  readonly table: number;
  /** The effective metric (the family default when the route named none). */
  readonly metric: number;
  readonly src: PackedAddr | undefined;
  /** In canonical order (by gateway, then device); empty for reject routes. */
  readonly hops: readonly CanonHop[];
}

export function defaultMetric(family: IPFamily): number {
  return family === 4 ? DEFAULT_METRIC_V4 : DEFAULT_METRIC_V6;
}

/**
 * The metric the kernel gives a route: the family default when none is
 * named, and for IPv6 also when 0 is (the kernel installs it at 1024).
 */
export function effectiveMetric(family: IPFamily, metric: number | undefined): number {
  if (metric === undefined || (metric === 0 && family === 6)) return defaultMetric(family);
  return metric;
}

/**
 * A packed prefix's length is fixed by its own first two bytes, so anything
 * appended to it makes a key no bare prefix can equal.
 */
export function keyOf(dst: PackedPrefix, family: IPFamily, table: number, metric: number): string {
  if (table === MAIN_TABLE && metric === defaultMetric(family)) return dst;
  return `${dst} table ${table} metric ${metric}`;
}

/** The identity key of a destination in a table with a metric (defaults: main, family default). */
export function identityKey(dst: PackedPrefix, table?: number, metric?: number): string {
  const family = prefixFamily(dst);
  return keyOf(dst, family, table ?? MAIN_TABLE, effectiveMetric(family, metric));
}

/** A route's identity as text, for messages: what its key says, in `ip route` words. */
export function identityText(c: RouteCanon): string {
  const dst = dstText(c.dst);
  if (c.table === MAIN_TABLE && c.metric === defaultMetric(c.family)) return dst;
  return `${dst} table ${c.table} metric ${c.metric}`;
}

/** The destination as the kernel prints it: `addr/len`, a host route as its bare address. */
export function dstText(dst: PackedPrefix): string {
  const s = formatPrefix(dst);
  return isHostPrefix(dst) ? s.slice(0, s.lastIndexOf('/')) : s;
}

function compareHops(a: CanonHop, b: CanonHop): number {
  const av = a.via ?? '';
  const bv = b.via ?? '';
  if (av !== bv) return av < bv ? -1 : 1;
  const ad = a.dev ?? '';
  const bd = b.dev ?? '';
  return ad < bd ? -1 : ad > bd ? 1 : 0;
}

/** Next hops in canonical order (a copy when there is more than one). */
export function sortHops(hops: readonly CanonHop[]): readonly CanonHop[] {
  return hops.length > 1 ? [...hops].sort(compareHops) : hops;
}

/**
 * True when the kernel route `have` already does what `want` asks (same key
 * assumed): same kind, source and next hops, where a gateway next hop of
 * `want` that names no device matches whatever device the kernel resolved the
 * gateway to. Weights count only with several next hops, as in the kernel.
 */
export function canonMatches(want: RouteCanon, have: RouteCanon): boolean {
  if (want.kind !== have.kind || want.src !== have.src) return false;
  const wh = want.hops;
  const hh = have.hops;
  if (wh.length !== hh.length) return false;
  const multi = wh.length > 1;
  for (let i = 0; i < wh.length; i++) {
    const w = wh[i] as CanonHop;
    const h = hh[i] as CanonHop;
    if (w.via !== h.via || w.onlink !== h.onlink) return false;
    if (w.dev !== undefined && w.dev !== h.dev) return false;
    if (multi && w.weight !== h.weight) return false;
  }
  return true;
}

const KIND_CODE: Record<RouteKind, string> = { unicast: 'u', blackhole: 'b', unreachable: 'n', prohibit: 'p' };

/**
 * The attributes as one string (kind, source, next hops in canonical order):
 * equal strings mean the same forwarding. Gateway devices are included as
 * given; see canonMatches for the comparison sync uses.
 */
export function attrsOf(c: RouteCanon): string {
  const multi = c.hops.length > 1;
  let s = KIND_CODE[c.kind];
  if (c.src !== undefined) s += ` src=${c.src}`;
  // Packed values: fixed length per family, so the string stays unambiguous.
  c.hops.forEach((h, i) => {
    s += i === 0 ? ' ' : ',';
    if (h.via !== undefined) s += h.via;
    if (h.dev !== undefined) s += '%' + h.dev;
    if (multi && h.weight !== 1) s += '*' + h.weight;
    if (h.onlink) s += '!';
  });
  return s;
}

function viaArgs(family: IPFamily, via: PackedAddr): string {
  // A gateway of the other family (an IPv4 route via an IPv6 link-local, say)
  // must be marked, or ip reads it as the route's own family.
  const viaIsV6 = addrFamily(via) === 6;
  const text = formatAddr(via);
  if (viaIsV6 === (family === 6)) return ` via ${text}`;
  return viaIsV6 ? ` via inet6 ${text}` : ` via inet ${text}`;
}

function hopArgs(family: IPFamily, h: CanonHop): string {
  let s = h.via === undefined ? '' : viaArgs(family, h.via);
  if (h.dev !== undefined) s += ` dev ${h.dev}`;
  if (h.onlink) s += ' onlink';
  return s;
}

const PROTO_ARGS = ` proto ${ROUTE_PROTOCOL}`;

// Rendered arguments of a pooled next hop, per family of the route (a gateway
// of the other family is written differently). Cleared with the pool.
const hopArgsCache: [Map<CanonHop, string>, Map<CanonHop, string>] = [new Map(), new Map()];

function singleHopArgs(family: IPFamily, h: CanonHop): string {
  const cache = hopArgsCache[family === 4 ? 0 : 1];
  let s = cache.get(h);
  if (s === undefined) {
    s = hopArgs(family, h);
    cache.set(h, s);
  }
  return s;
}

function where(c: RouteCanon): string {
  if (c.table === MAIN_TABLE && c.metric === defaultMetric(c.family)) return PROTO_ARGS;
  let s = PROTO_ARGS;
  if (c.table !== MAIN_TABLE) s += ` table ${c.table}`;
  if (c.metric !== defaultMetric(c.family)) s += ` metric ${c.metric}`;
  return s;
}

/** Arguments for `route add` / `route replace` (after those two words). */
export function replaceArgs(c: RouteCanon): string {
  const dst = dstText(c.dst);
  let s = (c.kind === 'unicast' ? dst : `${c.kind} ${dst}`) + where(c);
  if (c.src !== undefined) s += ` src ${formatAddr(c.src)}`;
  const hops = c.hops;
  if (hops.length === 1) return s + singleHopArgs(c.family, hops[0] as CanonHop);
  for (const h of hops) s += ` nexthop${hopArgs(c.family, h)}${h.weight === 1 ? '' : ` weight ${h.weight}`}`;
  return s;
}

/** Arguments for `route del`: the identity and our protocol, so only our route can match. */
export function deleteArgs(c: RouteCanon): string {
  return dstText(c.dst) + where(c);
}

// Linux refuses '/' and whitespace; ':' would read as an alias; '.' and '..' are taken.
const IFNAME = /^[^\s/:]+$/;

function invalid(dst: PackedPrefix, field: string, reason: string): TerraceError {
  return new TerraceError('Invalid', `route ${formatPrefix(dst)}: ${field} ${reason}`, { field });
}

/** For a route written as a literal with an IPAddr or Cidr (plain JavaScript callers). */
const NOT_PACKED = 'is not a packed value: build routes with unicastRoute, deviceRoute or blackholeRoute, which pack a Cidr or IPAddr';

function checkUint32(dst: PackedPrefix, field: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min || v > 0xffffffff) throw invalid(dst, field, `${v} must be an integer from ${min} to 4294967295`);
}

/**
 * Next hops are shared between the routes that have the same one (thousands
 * of routes via a few gateways, typically): fewer long-lived objects, less
 * garbage-collector work. Bounded: cleared when it grows past POOL_LIMIT.
 */
const POOL_LIMIT = 10_000;
const hopPool = new Map<string, CanonHop>();
const singlePool = new Map<CanonHop, readonly CanonHop[]>();
let lastHop: CanonHop | undefined;

/** A shared next hop with these fields. */
export function pooledHop(via: PackedAddr | undefined, dev: string | undefined, weight: number, onlink: boolean): CanonHop {
  const last = lastHop;
  if (last !== undefined && last.via === via && last.dev === dev && last.weight === weight && last.onlink === onlink) return last;
  const id = `${via ?? ''}%${dev ?? ''}%${weight}${onlink ? '!' : ''}`;
  let h = hopPool.get(id);
  if (h === undefined) {
    if (hopPool.size >= POOL_LIMIT) {
      hopPool.clear();
      singlePool.clear();
      hopArgsCache[0].clear();
      hopArgsCache[1].clear();
    }
    h = { via, dev, weight, onlink };
    hopPool.set(id, h);
  }
  lastHop = h;
  return h;
}

/** A shared one-element next-hop list. */
export function pooledSingle(h: CanonHop): readonly CanonHop[] {
  let a = singlePool.get(h);
  if (a === undefined) {
    a = [h];
    singlePool.set(h, a);
  }
  return a;
}

function canonHop(dst: PackedPrefix, i: number, h: NextHop): CanonHop {
  const field = `nextHops[${i}]`;
  if (h.via === undefined && h.dev === undefined) throw invalid(dst, field, 'needs a gateway (via), a device (dev) or both');
  if (h.via !== undefined && typeof h.via !== 'string') throw invalid(dst, `${field}.via`, NOT_PACKED);
  if (h.dev !== undefined && (h.dev.length > MAX_IFNAME_LENGTH || !IFNAME.test(h.dev) || h.dev === '.' || h.dev === '..')) {
    throw invalid(dst, `${field}.dev`, `${JSON.stringify(h.dev)} is not a valid interface name`);
  }
  const weight = h.weight ?? 1;
  if (!Number.isInteger(weight) || weight < 1 || weight > 256) throw invalid(dst, `${field}.weight`, `${weight} must be an integer from 1 to 256`);
  return pooledHop(h.via, h.dev, weight, h.onlink === true);
}

/**
 * The canonical form of a route; validates it on the way and throws a
 * TerraceError naming the bad field. Not cached: callers that keep routes
 * (route sync) keep their canonical forms instead.
 */
export function canonOf(r: Route): RouteCanon {
  const dst = r.dst;
  if (typeof dst !== 'string') throw new TerraceError('Invalid', `route: dst ${NOT_PACKED}`, { field: 'dst' });
  if (r.src !== undefined && typeof r.src !== 'string') throw invalid(dst, 'src', NOT_PACKED);
  if (r.table !== undefined) checkUint32(r.dst, 'table', r.table, 1);
  if (r.metric !== undefined) checkUint32(r.dst, 'metric', r.metric, 0);
  const family = prefixFamily(dst);
  if (r.src !== undefined && addrFamily(r.src) !== family) throw invalid(r.dst, 'src', `${formatAddr(r.src)} is not of the destination's family`);
  let hops: readonly CanonHop[] = [];
  if (r.kind === 'unicast') {
    const n = r.nextHops.length;
    if (n === 0) throw invalid(r.dst, 'nextHops', 'is empty; a unicast route needs at least one next hop');
    if (n > MAX_NEXT_HOPS) throw invalid(r.dst, 'nextHops', `has ${n} entries; at most ${MAX_NEXT_HOPS}`);
    hops = n === 1 ? pooledSingle(canonHop(r.dst, 0, r.nextHops[0] as NextHop)) : sortHops(r.nextHops.map((h, i) => canonHop(r.dst, i, h)));
  } else if (KIND_CODE[r.kind] === undefined) {
    throw invalid(r.dst, 'kind', `${JSON.stringify(r.kind)} is not one of unicast, blackhole, unreachable, prohibit`);
  }
  const table = r.table ?? MAIN_TABLE;
  const metric = effectiveMetric(family, r.metric);
  return {
    key: keyOf(dst, family, table, metric),
    kind: r.kind,
    family,
    dst,
    table,
    metric,
    src: r.src,
    hops,
  };
}
