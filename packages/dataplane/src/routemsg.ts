/**
 * Reading the kernel's routes: the dump requests route sync sends (the
 * links, and each family's routes of our protocol), and routes and links
 * decoded from netlink messages, dump answers and announcements alike, into
 * the canonical forms route sync compares (canon.ts). Devices are named
 * through an index → name map that link messages keep current. Pure
 * functions over bytes; netlink is in host byte order.
 */
import { readAddr, readPrefix, type IPFamily, type PackedAddr, type PackedPrefix } from '@terrace/api';
import { defaultMetric, keyOf, pooledHop, pooledSingle, sortHops, type CanonHop, type RouteCanon } from './canon.js';
import { ROUTE_PROTOCOL } from './constants.js';
import type { MessageWriter } from './netlink.js';
import type { KernelEvent } from './plan.js';
import type { RouteKind } from './route.js';
import { AF_INET, AF_INET6, IFINFOMSG_LEN, IFLA_IFNAME, LE, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, RTA_DST, RTA_GATEWAY, RTA_MULTIPATH, RTA_OIF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE, RTA_VIA, RTMSG_LEN, RTM_DELLINK, RTM_DELROUTE, RTM_GETLINK, RTM_GETROUTE, RTM_NEWLINK, RTM_NEWROUTE, RTNH_F_ONLINK, align4 } from './rtnl.js';

const r16 = (b: Buffer, at: number): number => (LE ? b.readUInt16LE(at) : b.readUInt16BE(at));
const r32 = (b: Buffer, at: number): number => (LE ? b.readUInt32LE(at) : b.readUInt32BE(at));
const ri32 = (b: Buffer, at: number): number => (LE ? b.readInt32LE(at) : b.readInt32BE(at));

/**
 * Appends a dump request for the routes of our protocol (or of `protocol`;
 * 0: every protocol) of one family, every table. The kernel filters the dump
 * by rtm_protocol when the socket has NETLINK_GET_STRICT_CHK set (the relay
 * sets it); decodeRoutes filters again, so a kernel that does not still gives
 * the right answer, only slower.
 */
export function encodeGetRoutes(w: MessageWriter, family: IPFamily, seq: number, protocol: number = ROUTE_PROTOCOL): void {
  w.msgStart(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  // struct rtmsg: all zero (every table) but family and protocol
  w.u8(family === 4 ? AF_INET : AF_INET6);
  w.u8(0);
  w.u8(0);
  w.u8(0);
  w.u8(0); // table: all
  w.u8(protocol);
  w.u8(0);
  w.u8(0);
  w.u32(0);
  w.msgEnd();
}

/** Appends a dump request for every interface (index and name). */
export function encodeGetLinks(w: MessageWriter, seq: number): void {
  w.msgStart(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq);
  for (let i = 0; i < IFINFOMSG_LEN; i++) w.u8(0);
  w.msgEnd();
}

/** True when a dump's answers say it was interrupted by changes (NLM_F_DUMP_INTR): it must be read again. */
export function dumpInterrupted(b: Buffer): boolean {
  for (let at = 0; at + NLMSG_HDRLEN <= b.length; ) {
    const len = r32(b, at);
    // Past the bytes received, align4 of a huge length wraps negative and the walk would never end.
    if (len < NLMSG_HDRLEN || at + len > b.length) break;
    if ((r16(b, at + 6) & NLM_F_DUMP_INTR) !== 0) return true;
    at += align4(len);
  }
  return false;
}

/** The first error a dump's answers carry (NLMSG_ERROR, or NLMSG_DONE with one), as an errno; 0 when none. */
export function dumpError(b: Buffer): number {
  for (let at = 0; at + NLMSG_HDRLEN <= b.length; ) {
    const len = r32(b, at);
    // A message overrunning what was received is reported by decodeRoutes; here it ends the search.
    if (len < NLMSG_HDRLEN || at + len > b.length) break;
    const type = r16(b, at + 4);
    if ((type === NLMSG_ERROR || type === NLMSG_DONE) && len >= NLMSG_HDRLEN + 4) {
      const e = -ri32(b, at + NLMSG_HDRLEN);
      if (e > 0) return e;
    }
    at += align4(len);
  }
  return 0;
}

/** Interface index → name. */
export type IfNames = Map<number, string>;

/**
 * Applies link messages (RTM_NEWLINK / RTM_DELLINK, from a dump or from
 * notifications) to an index → name map; other messages are skipped.
 */
export function applyLinks(b: Buffer, names: IfNames, from = 0, to = b.length): void {
  for (let at = from; at + NLMSG_HDRLEN <= to; ) {
    const len = r32(b, at);
    if (len < NLMSG_HDRLEN || at + len > to) break;
    const type = r16(b, at + 4);
    if ((type === RTM_NEWLINK || type === RTM_DELLINK) && len >= NLMSG_HDRLEN + IFINFOMSG_LEN) {
      const index = ri32(b, at + NLMSG_HDRLEN + 4);
      if (type === RTM_DELLINK) names.delete(index);
      else {
        for (let p = at + NLMSG_HDRLEN + IFINFOMSG_LEN; p + 4 <= at + len; ) {
          const alen = r16(b, p);
          if (alen < 4 || p + alen > at + len) break;
          if ((r16(b, p + 2) & 0x3fff) === IFLA_IFNAME) {
            let end = p + alen;
            while (end > p + 4 && b[end - 1] === 0) end--;
            names.set(index, b.toString('utf8', p + 4, end));
            break;
          }
          p += align4(alen);
        }
      }
    }
    at += align4(len);
  }
}

const KIND_OF_TYPE: Record<number, RouteKind | undefined> = { 1: 'unicast', 6: 'blackhole', 7: 'unreachable', 8: 'prohibit' };

const ZERO = Buffer.alloc(16);

/** A next hop naming an interface index the names map lacks; the caller re-reads links. */
export class UnknownIfIndex extends Error {
  constructor(readonly index: number) {
    super(`unknown interface index ${index}`);
  }
}

/**
 * Decodes one RTM_NEWROUTE / RTM_DELROUTE message at `at` (length `len`)
 * into a canonical form, device indexes named through `names`; undefined for
 * a route that is not IPv4 or IPv6, or of the local table (the kernel's own).
 * Routes of types Terrace does not install (throw, local, nexthop objects)
 * come back as unicast routes without next hops: their identity can be
 * deleted and they never match a wanted route. Throws UnknownIfIndex.
 */
function decodeRoute(b: Buffer, at: number, len: number, names: IfNames, lenient: boolean): RouteCanon | undefined {
  const r = at + NLMSG_HDRLEN;
  const af = b[r];
  if (af !== AF_INET && af !== AF_INET6) return undefined;
  const family: IPFamily = af === AF_INET ? 4 : 6;
  const alen = family === 4 ? 4 : 16;
  const dstLen = b[r + 1] as number;
  let table = b[r + 4] as number;
  const type = b[r + 7] as number;
  const rflags = r32(b, r + 8);
  let kind = KIND_OF_TYPE[type];
  const modelled = kind !== undefined;
  if (kind === undefined) kind = 'unicast';
  let dstAt = -1;
  let metric = 0;
  let src: PackedAddr | undefined;
  let via: PackedAddr | undefined;
  let oif = 0;
  let mpAt = -1;
  let mpEnd = -1;
  const end = at + len;
  for (let p = r + RTMSG_LEN; p + 4 <= end; ) {
    const l = r16(b, p);
    if (l < 4 || p + l > end) break;
    const t = r16(b, p + 2) & 0x3fff;
    const v = p + 4;
    requirePayload(b, v, t, l - 4, family, dstLen, at);
    switch (t) {
      case RTA_DST:
        dstAt = v;
        break;
      case RTA_OIF:
        oif = r32(b, v);
        break;
      case RTA_GATEWAY:
        via = readAddr(l - 4 === 4 ? 4 : 6, b, v);
        break;
      case RTA_VIA: {
        const vaf = r16(b, v);
        via = readAddr(vaf === AF_INET ? 4 : 6, b, v + 2);
        break;
      }
      case RTA_PRIORITY:
        metric = r32(b, v);
        break;
      case RTA_PREFSRC:
        src = readAddr(family, b, v);
        break;
      case RTA_TABLE:
        table = r32(b, v);
        break;
      case RTA_MULTIPATH:
        mpAt = v;
        mpEnd = p + l;
        break;
    }
    p += align4(l);
  }
  if (table === 255) return undefined; // RT_TABLE_LOCAL: the kernel's own routes
  if (dstLen > alen * 8) return undefined;
  // Packed from the message's bytes: the same value the BGP feed gave for it.
  const dst: PackedPrefix = dstAt < 0 ? readPrefix(family, dstLen, ZERO, 0) : readPrefix(family, dstLen, b, dstAt);
  let hops: readonly CanonHop[] = [];
  if (kind === 'unicast' && modelled) {
    if (mpAt >= 0) {
      const list: CanonHop[] = [];
      for (let p = mpAt; p + 8 <= mpEnd; ) {
        const hl = r16(b, p);
        if (hl < 8 || p + hl > mpEnd) throw new Error(`netlink: a next hop of ${hl} bytes in the route at ${at} overruns its list`);
        const hflags = b[p + 2] as number;
        const weight = (b[p + 3] as number) + 1;
        const idx = ri32(b, p + 4);
        let hvia: PackedAddr | undefined;
        for (let q = p + 8; q + 4 <= p + hl; ) {
          const l = r16(b, q);
          if (l < 4 || q + l > p + hl) throw new Error(`netlink: an attribute of ${l} bytes in a next hop of the route at ${at} overruns it`);
          const t = r16(b, q + 2) & 0x3fff;
          requirePayload(b, q + 4, t, l - 4, family, 0, at);
          if (t === RTA_GATEWAY) hvia = readAddr(l - 4 === 4 ? 4 : 6, b, q + 4);
          else if (t === RTA_VIA) hvia = readAddr(r16(b, q + 4) === AF_INET ? 4 : 6, b, q + 6);
          q += align4(l);
        }
        list.push(pooledHop(hvia, devName(idx, names, lenient), weight, (hflags & RTNH_F_ONLINK) !== 0));
        p += align4(hl);
      }
      hops = sortHops(list);
    } else if (via !== undefined || oif !== 0) {
      hops = pooledSingle(pooledHop(via, devName(oif, names, lenient), 1, (rflags & RTNH_F_ONLINK) !== 0));
    }
  }
  if (family === 6 && metric === 0) metric = defaultMetric(6);
  return { key: keyOf(dst, family, table, metric), kind, family, dst, table, metric, src, hops };
}

/**
 * Checks that a route attribute holds the bytes its type is read as: the
 * kernel never sends less, but a damaged message must not make the decoder
 * read past the attribute (or past the bytes received).
 */
function requirePayload(b: Buffer, v: number, type: number, len: number, family: IPFamily, dstLen: number, at: number): void {
  let need = 0;
  switch (type) {
    case RTA_DST:
      need = (dstLen + 7) >> 3;
      break;
    case RTA_OIF:
    case RTA_PRIORITY:
    case RTA_TABLE:
      need = 4;
      break;
    case RTA_GATEWAY:
      need = len === 4 ? 4 : 16;
      break;
    case RTA_VIA:
      // the address family, then the address
      need = len < 2 ? 2 : 2 + (r16(b, v) === AF_INET ? 4 : 16);
      break;
    case RTA_PREFSRC:
      need = family === 4 ? 4 : 16;
      break;
  }
  if (len < need) throw new Error(`netlink: attribute ${type} of the route at ${at} holds ${len} bytes, fewer than the ${need} it needs`);
}

function devName(index: number, names: IfNames, lenient: boolean): string | undefined {
  if (index === 0) return undefined;
  const n = names.get(index);
  if (n === undefined && !lenient) throw new UnknownIfIndex(index);
  return n;
}

/**
 * The routes in a stream of netlink messages (dump answers or
 * announcements), each with whether it is of our protocol; `oursOnly` skips
 * the others. With `trackLinks`, link messages update `names` on the way, in
 * the kernel's order (a route announced before its device went away is
 * still named). Other messages are skipped. A removal naming a device that
 * is gone decodes without it (its identity is what counts); anything else
 * naming an unknown device throws UnknownIfIndex.
 */
export function decodeRoutes(b: Buffer, names: IfNames, oursOnly: boolean, out: KernelEvent[] = [], trackLinks = false): KernelEvent[] {
  const from = 0;
  const to = b.length;
  for (let at = from; at + NLMSG_HDRLEN <= to; ) {
    const len = r32(b, at);
    if (len < NLMSG_HDRLEN || at + len > to) throw new Error(`netlink: a message of ${len} bytes at ${at} overruns the ${to} received`);
    const type = r16(b, at + 4);
    if (trackLinks && (type === RTM_NEWLINK || type === RTM_DELLINK)) applyLinks(b, names, at, at + len);
    else if ((type === RTM_NEWROUTE || type === RTM_DELROUTE) && len >= NLMSG_HDRLEN + RTMSG_LEN) {
      const ours = b[at + NLMSG_HDRLEN + 5] === ROUTE_PROTOCOL;
      if (ours || !oursOnly) {
        const route = decodeRoute(b, at, len, names, type === RTM_DELROUTE);
        if (route !== undefined) out.push({ op: type === RTM_NEWROUTE ? 'new' : 'del', ours, route });
      }
    }
    at += align4(len);
  }
  return out;
}

/** A route of any protocol, with the protocol number that installed it. */
export interface AnyRoute {
  readonly route: RouteCanon;
  readonly protocol: number;
}

/**
 * Every route in a dump's answers, whatever its protocol (for reports, not
 * for route sync). Devices that went away meanwhile are left unnamed.
 */
export function decodeAnyRoutes(b: Buffer, names: IfNames): AnyRoute[] {
  const out: AnyRoute[] = [];
  for (let at = 0; at + NLMSG_HDRLEN <= b.length; ) {
    const len = r32(b, at);
    if (len < NLMSG_HDRLEN || at + len > b.length) throw new Error(`netlink: a message of ${len} bytes at ${at} overruns the ${b.length} received`);
    if (r16(b, at + 4) === RTM_NEWROUTE && len >= NLMSG_HDRLEN + RTMSG_LEN) {
      const route = decodeRoute(b, at, len, names, true);
      if (route !== undefined) out.push({ route, protocol: b[at + NLMSG_HDRLEN + 5] as number });
    }
    at += align4(len);
  }
  return out;
}
