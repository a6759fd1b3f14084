/**
 * rtnetlink messages for route sync: routes (as canonical forms) encoded as
 * the RTM_NEWROUTE / RTM_DELROUTE requests `ip route add|replace|del` sends
 * for the same arguments (except that an IPv6 delete always names its
 * metric, so it cannot remove another metric's route), the kernel's answers
 * decoded, and the reading side: dump requests for links and for our
 * protocol's routes, and routes decoded from dump answers and from the
 * kernel's announcements alike (decodeRoutes).
 *
 * Why not `ip -batch`: ip sends one request per route and waits for its
 * acknowledgement (three system calls a route, and an acknowledgement
 * echoing the request). Many requests in one datagram, with only the last one
 * asking for an acknowledgement (the kernel reports every failure anyway),
 * cut the kernel time of installing 100,000 routes by about two thirds
 * (docs/BENCHMARKS.md). The kernel handles the requests of a datagram in
 * order and carries on after a failing one.
 *
 * Pure functions over bytes; the process that talks to the kernel is in
 * relay.ts. Netlink is in host byte order.
 */
import { endianness } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import { formatIP, parseIP, TerraceError, type IPFamily } from '@terrace/api';
import type { HopText, RouteCanon } from './canon.js';
import { defaultMetric, keyOf, pooledHop, pooledSingle, sortHops } from './canon.js';
import type { KernelEvent } from './plan.js';
import type { RouteKind } from './route.js';
import { MAIN_TABLE, ROUTE_PROTOCOL } from './constants.js';

const LE = endianness() === 'LE';

// linux/netlink.h
export const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP_INTR = 0x10;
const NLM_F_DUMP = 0x300;
export const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
/** On an NLMSG_ERROR: extended-ack attributes follow the echoed header. */
const NLM_F_ACK_TLVS = 0x200;
/** On an NLMSG_ERROR: the request was not echoed beyond its header (NETLINK_CAP_ACK). */
const NLM_F_CAPPED = 0x100;
const NLMSGERR_ATTR_MSG = 1;
// linux/rtnetlink.h
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const RTM_GETROUTE = 26;
const RTN_UNSPEC = 0;
const RTN_TYPE = { unicast: 1, blackhole: 6, unreachable: 7, prohibit: 8 } as const;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_SCOPE_NOWHERE = 255;
const RTNH_F_ONLINK = 4;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_MULTIPATH = 9;
const RTA_TABLE = 15;
const RTA_VIA = 18;
const IFLA_IFNAME = 3;
const AF_INET = 2;
const AF_INET6 = 10;

const NLMSG_HDRLEN = 16;
const RTMSG_LEN = 12;
const IFINFOMSG_LEN = 16;

export type RouteOp = 'add' | 'replace' | 'del';

const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Appends netlink messages to a growing buffer. Messages are written in
 * place; `msgStart` / `msgEnd` bracket each one.
 */
export class MessageWriter {
  buf: Buffer;
  len = 0;
  private start = 0;

  constructor(size = 65536) {
    this.buf = Buffer.alloc(size);
  }

  /** Bytes written so far (a view, valid until the next write). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  reset(): void {
    this.len = 0;
  }

  /** Makes sure n more bytes fit without growing the buffer. */
  reserve(n: number): void {
    this.room(n);
  }

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }

  u16(v: number): void {
    this.room(2);
    if (LE) this.buf.writeUInt16LE(v, this.len);
    else this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
  }

  u32(v: number): void {
    this.room(4);
    if (LE) this.buf.writeUInt32LE(v >>> 0, this.len);
    else this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }

  raw(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  pad(): void {
    const to = align4(this.len);
    this.room(to - this.len);
    while (this.len < to) this.buf[this.len++] = 0;
  }

  /** Starts a message; its length is filled in by msgEnd. */
  msgStart(type: number, flags: number, seq: number): void {
    this.pad();
    this.start = this.len;
    this.u32(0);
    this.u16(type);
    this.u16(flags);
    this.u32(seq);
    this.u32(0); // port id: the kernel fills in ours
  }

  msgEnd(): void {
    this.set32(this.start, this.len - this.start);
    this.pad();
  }

  /**
   * Starts a message of exactly n bytes (a multiple of 4) that the caller
   * fills in whole, header included; returns its offset in `buf`.
   */
  fixedMsg(n: number): number {
    this.pad();
    this.room(n);
    this.start = this.len;
    this.len += n;
    return this.start;
  }

  /** Sets the flags of the last message started. */
  setFlags(flags: number): void {
    if (LE) this.buf.writeUInt16LE(flags, this.start + 6);
    else this.buf.writeUInt16BE(flags, this.start + 6);
  }

  /** The flags of the last message started. */
  flags(): number {
    return LE ? this.buf.readUInt16LE(this.start + 6) : this.buf.readUInt16BE(this.start + 6);
  }

  set32(at: number, v: number): void {
    if (LE) this.buf.writeUInt32LE(v >>> 0, at);
    else this.buf.writeUInt32BE(v >>> 0, at);
  }

  set16(at: number, v: number): void {
    if (LE) this.buf.writeUInt16LE(v, at);
    else this.buf.writeUInt16BE(v, at);
  }

  /** An attribute with a payload. */
  attr(type: number, payload: Uint8Array): void {
    this.pad();
    this.u16(4 + payload.length);
    this.u16(type);
    this.raw(payload);
    this.pad();
  }

  attr32(type: number, v: number): void {
    this.pad();
    this.u16(8);
    this.u16(type);
    this.u32(v);
  }

  /** Opens a nested attribute; returns its offset for nestEnd. */
  nestStart(type: number): number {
    this.pad();
    const at = this.len;
    this.u16(0);
    this.u16(type);
    return at;
  }

  nestEnd(at: number): void {
    this.set16(at, this.len - at);
    this.pad();
  }
}

// Address text → bytes. Destinations are written straight into the message
// (one per route, never repeated); other addresses (gateways, sources, IPv6)
// are few and remembered.
const addrCache = new Map<string, Uint8Array>();

/**
 * Writes the dotted quad text[0, end) into buf at `at`; false (with bytes
 * possibly written) when it is not one.
 */
function putV4(buf: Buffer, at: number, text: string, end: number): boolean {
  let part = 0;
  let v = 0;
  let digits = 0;
  for (let i = 0; i < end; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 46) {
      if (digits === 0 || part > 2) return false;
      buf[at + part++] = v;
      v = 0;
      digits = 0;
    } else if (ch >= 48 && ch <= 57 && digits < 3) {
      v = v * 10 + ch - 48;
      digits++;
      if (v > 255) return false;
    } else {
      return false;
    }
  }
  if (digits === 0 || part !== 3) return false;
  buf[at + 3] = v;
  return true;
}

/** The address's bytes, network order; throws on text that is not an address. */
export function addrBytes(text: string): Uint8Array {
  let b = addrCache.get(text);
  if (b === undefined) {
    const a = parseIP(text);
    const n = a.family === 4 ? 4 : 16;
    b = new Uint8Array(n);
    let v = a.value;
    for (let i = n - 1; i >= 0; i--) {
      b[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    if (addrCache.size >= 1024) addrCache.clear();
    addrCache.set(text, b);
  }
  return b;
}

/** The prefix length of a destination's text (`addr/len`, or a bare host address). */
function dstLength(c: RouteCanon, slash: number): number {
  if (slash < 0) return c.family === 4 ? 32 : 128;
  let n = 0;
  for (let i = slash + 1; i < c.dst.length; i++) n = n * 10 + c.dst.charCodeAt(i) - 48;
  return n;
}

/** An IPv4 destination, parsed before its message is started. */
const scratch4 = Buffer.alloc(4);

/** Appends RTA_DST with the destination's address (IPv4: the one in scratch4). */
function putDst(w: MessageWriter, c: RouteCanon, slash: number): void {
  const end = slash < 0 ? c.dst.length : slash;
  if (c.family === 4) {
    w.pad();
    w.u16(8);
    w.u16(RTA_DST);
    w.raw(scratch4);
    return;
  }
  w.attr(RTA_DST, addrBytes(end === c.dst.length ? c.dst : c.dst.slice(0, end)));
}

/** Interface name → index, in the routes' namespace; a name not in it is absent. */
export type IfIndexes = ReadonlyMap<string, number>;

/** The device names a route's next hops use. */
export function devicesOf(c: RouteCanon): string[] {
  const out: string[] = [];
  for (const h of c.hops) if (h.dev !== undefined) out.push(h.dev);
  return out;
}

/** Thrown while encoding a route whose device is not in the namespace. */
export class NoSuchDevice extends Error {
  constructor(readonly dev: string) {
    super(`Cannot find device "${dev}"`);
  }
}

function familyOf(text: string): IPFamily {
  return text.includes(':') ? 6 : 4;
}

function gateway(w: MessageWriter, family: IPFamily, via: string): void {
  const b = addrBytes(via);
  if (familyOf(via) === family) {
    w.attr(RTA_GATEWAY, b);
    return;
  }
  // A gateway of the other family (an IPv4 route via an IPv6 link-local): RTA_VIA.
  const v = new Uint8Array(2 + b.length);
  const af = b.length === 4 ? AF_INET : AF_INET6;
  v[LE ? 0 : 1] = af;
  v.set(b, 2);
  w.attr(RTA_VIA, v);
}

function ifindex(h: HopText, links: IfIndexes): number {
  if (h.dev === undefined) return 0;
  const i = links.get(h.dev);
  if (i === undefined) throw new NoSuchDevice(h.dev);
  return i;
}

/**
 * Appends the request for one route change: what `ip route add|replace|del`
 * sends for the arguments canon.ts renders (our protocol; table and metric
 * only when not the defaults; for a delete, the identity alone). Throws
 * NoSuchDevice when a next hop's device is not in `links`.
 */
export function encodeRoute(w: MessageWriter, op: RouteOp, c: RouteCanon, seq: number, links: IfIndexes, ack: boolean): void {
  if (op !== 'del' && encodeV4Via(w, op, c, seq, ack)) return;
  encodeRouteGeneric(w, op, c, seq, links, ack);
}

/** The length of the one form encodeV4Via writes: nlmsghdr, rtmsg, RTA_DST and RTA_GATEWAY. */
const V4_VIA_LEN = NLMSG_HDRLEN + RTMSG_LEN + 8 + 8;

/**
 * The change a BGP feed is made of: an IPv4 route via one IPv4 gateway, main
 * table, default metric. Written in one go, the same bytes as
 * encodeRouteGeneric (a property test holds them equal) at a fraction of the
 * cost. False, with nothing written, for any other route or a destination
 * that does not parse (the generic path then says why).
 */
function encodeV4Via(w: MessageWriter, op: 'add' | 'replace', c: RouteCanon, seq: number, ack: boolean): boolean {
  if (c.family !== 4 || c.kind !== 'unicast' || c.table !== MAIN_TABLE || c.metric !== 0 || c.src !== undefined || c.hops.length !== 1) return false;
  const h = c.hops[0] as HopText;
  if (h.via === undefined || h.dev !== undefined || h.onlink || familyOf(h.via) !== 4) return false;
  const slash = c.dst.indexOf('/');
  if (!putV4(scratch4, 0, c.dst, slash < 0 ? c.dst.length : slash)) return false;
  const gw = addrBytes(h.via);
  const at = w.fixedMsg(V4_VIA_LEN);
  const b = w.buf;
  let flags = NLM_F_REQUEST | NLM_F_CREATE | (op === 'add' ? NLM_F_EXCL : NLM_F_REPLACE);
  if (ack) flags |= NLM_F_ACK;
  w.set32(at, V4_VIA_LEN);
  w.set16(at + 4, RTM_NEWROUTE);
  w.set16(at + 6, flags);
  w.set32(at + 8, seq);
  w.set32(at + 12, 0); // port id: the kernel fills in ours
  // struct rtmsg
  const r = at + NLMSG_HDRLEN;
  b[r] = AF_INET;
  b[r + 1] = dstLength(c, slash);
  b[r + 2] = 0; // src_len
  b[r + 3] = 0; // tos
  b[r + 4] = MAIN_TABLE;
  b[r + 5] = ROUTE_PROTOCOL;
  b[r + 6] = RT_SCOPE_UNIVERSE;
  b[r + 7] = RTN_TYPE.unicast;
  w.set32(r + 8, 0); // rtm_flags
  const a = r + RTMSG_LEN;
  w.set16(a, 8);
  w.set16(a + 2, RTA_DST);
  b.set(scratch4, a + 4);
  w.set16(a + 8, 8);
  w.set16(a + 10, RTA_GATEWAY);
  b.set(gw, a + 12);
  return true;
}

/** Every form of route change; encodeRoute's path for all but the commonest. Exported for tests. */
export function encodeRouteGeneric(w: MessageWriter, op: RouteOp, c: RouteCanon, seq: number, links: IfIndexes, ack: boolean): void {
  const del = op === 'del';
  // Devices first: a missing one must leave nothing half-written. (Most
  // routes name none: no array for them.)
  let indexes: number[] | undefined;
  if (!del && c.hops.some((h) => h.dev !== undefined)) indexes = c.hops.map((h) => ifindex(h, links));
  let flags = NLM_F_REQUEST | (ack ? NLM_F_ACK : 0);
  if (op === 'add') flags |= NLM_F_CREATE | NLM_F_EXCL;
  else if (op === 'replace') flags |= NLM_F_CREATE | NLM_F_REPLACE;
  const slash = c.dst.indexOf('/');
  const hops = c.hops;
  const single = !del && hops.length === 1 ? (hops[0] as HopText) : undefined;
  // Scope as ip sets it: IPv6 routes are always universe (the kernel
  // ignores it there); an IPv4 device route is link, a delete matches any.
  let scope = RT_SCOPE_UNIVERSE;
  let type: number = RTN_TYPE[c.kind];
  if (del) {
    type = RTN_UNSPEC;
    if (c.family === 4) scope = RT_SCOPE_NOWHERE;
  } else if (c.family === 4 && single !== undefined && single.via === undefined) {
    scope = RT_SCOPE_LINK;
  }
  // The destination is checked before anything is written.
  const dstLen = dstLength(c, slash);
  if (c.family === 4 && !putV4(scratch4, 0, c.dst, slash < 0 ? c.dst.length : slash)) {
    throw new TerraceError('Invalid', `route ${c.dst}: not an IPv4 destination`, { field: 'dst' });
  }
  // Room for the whole message: header, rtmsg, up to five attributes of 20 bytes, next hops.
  w.reserve(NLMSG_HDRLEN + RTMSG_LEN + 100 + hops.length * 40);
  w.msgStart(del ? RTM_DELROUTE : RTM_NEWROUTE, flags, seq);
  // struct rtmsg
  w.u8(c.family === 4 ? AF_INET : AF_INET6);
  w.u8(dstLen);
  w.u8(0); // src_len
  w.u8(0); // tos
  w.u8(c.table < 256 ? c.table : 0);
  w.u8(ROUTE_PROTOCOL);
  w.u8(scope);
  w.u8(type);
  w.u32(single?.onlink === true ? RTNH_F_ONLINK : 0);
  if (c.table >= 256) w.attr32(RTA_TABLE, c.table);
  putDst(w, c, slash);
  // A delete without a metric removes whichever route of the prefix comes
  // first: IPv6 deletes always name theirs (its default, 1024, is a real
  // value). IPv4's default, 0, means "any" to the kernel as it does to ip;
  // a route of ours at metric 0 sorts first, so only drift can make that
  // remove another of our routes, and the next resync puts it back.
  if (c.metric !== defaultMetric(c.family) || (del && c.family === 6)) w.attr32(RTA_PRIORITY, c.metric);
  if (!del) {
    if (c.src !== undefined) w.attr(RTA_PREFSRC, addrBytes(c.src));
    if (single !== undefined) {
      if (single.via !== undefined) gateway(w, c.family, single.via);
      if (single.dev !== undefined) w.attr32(RTA_OIF, indexes?.[0] ?? 0);
    } else if (hops.length > 1) {
      const mp = w.nestStart(RTA_MULTIPATH);
      hops.forEach((h, i) => {
        // struct rtnexthop, then the hop's own attributes
        const at = w.len;
        w.u16(0);
        w.u8(h.onlink ? RTNH_F_ONLINK : 0);
        w.u8(h.weight - 1);
        w.u32(indexes?.[i] ?? 0);
        if (h.via !== undefined) gateway(w, c.family, h.via);
        w.set16(at, w.len - at);
      });
      w.nestEnd(mp);
    }
  }
  w.msgEnd();
}

/** Appends a request for the index of the interface called `name`. */
export function encodeGetLink(w: MessageWriter, name: string, seq: number, ack: boolean): void {
  w.msgStart(RTM_GETLINK, NLM_F_REQUEST | (ack ? NLM_F_ACK : 0), seq);
  // struct ifinfomsg, all zero: look the link up by name
  for (let i = 0; i < IFINFOMSG_LEN; i++) w.u8(0);
  const b = Buffer.from(name + '\0', 'utf8');
  w.attr(IFLA_IFNAME, b);
  w.msgEnd();
}

/**
 * Appends a dump request for the routes of our protocol of one family, every
 * table. The kernel filters the dump by rtm_protocol when the socket has
 * NETLINK_GET_STRICT_CHK set (the relay sets it); decodeRoutes filters again,
 * so a kernel that does not still gives the right answer, only slower.
 */
export function encodeGetRoutes(w: MessageWriter, family: IPFamily, seq: number): void {
  w.msgStart(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  // struct rtmsg: all zero (every table) but family and protocol
  w.u8(family === 4 ? AF_INET : AF_INET6);
  w.u8(0);
  w.u8(0);
  w.u8(0);
  w.u8(0); // table: all
  w.u8(ROUTE_PROTOCOL);
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
    if (len < NLMSG_HDRLEN) break;
    if ((r16(b, at + 6) & NLM_F_DUMP_INTR) !== 0) return true;
    at += align4(len);
  }
  return false;
}

/** The first error a dump's answers carry (NLMSG_ERROR, or NLMSG_DONE with one), as an errno; 0 when none. */
export function dumpError(b: Buffer): number {
  for (let at = 0; at + NLMSG_HDRLEN <= b.length; ) {
    const len = r32(b, at);
    if (len < NLMSG_HDRLEN) break;
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
          if (alen < 4) break;
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

function v4Text(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function addrText(b: Buffer, at: number, n: number): string {
  if (n === 4) return v4Text(b, at);
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(b[at + i] as number);
  return formatIP({ family: 6, value: v });
}

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
  let dst: string | undefined;
  let metric = 0;
  let src: string | undefined;
  let via: string | undefined;
  let oif = 0;
  let mpAt = -1;
  let mpEnd = -1;
  const end = at + len;
  for (let p = r + RTMSG_LEN; p + 4 <= end; ) {
    const l = r16(b, p);
    if (l < 4 || p + l > end) break;
    const t = r16(b, p + 2) & 0x3fff;
    const v = p + 4;
    switch (t) {
      case RTA_DST:
        dst = addrText(b, v, alen);
        break;
      case RTA_OIF:
        oif = r32(b, v);
        break;
      case RTA_GATEWAY:
        via = addrText(b, v, l - 4 === 4 ? 4 : 16);
        break;
      case RTA_VIA: {
        const vaf = r16(b, v);
        via = addrText(b, v + 2, vaf === AF_INET ? 4 : 16);
        break;
      }
      case RTA_PRIORITY:
        metric = r32(b, v);
        break;
      case RTA_PREFSRC:
        src = addrText(b, v, alen);
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
  const full = family === 4 ? 32 : 128;
  const base = dst ?? (family === 4 ? '0.0.0.0' : '::');
  const dstText = dstLen === full ? base : `${base}/${dstLen}`;
  let hops: readonly HopText[] = [];
  if (kind === 'unicast' && modelled) {
    if (mpAt >= 0) {
      const list: HopText[] = [];
      for (let p = mpAt; p + 8 <= mpEnd; ) {
        const hl = r16(b, p);
        if (hl < 8) break;
        const hflags = b[p + 2] as number;
        const weight = (b[p + 3] as number) + 1;
        const idx = ri32(b, p + 4);
        let hvia: string | undefined;
        for (let q = p + 8; q + 4 <= p + hl; ) {
          const l = r16(b, q);
          if (l < 4) break;
          const t = r16(b, q + 2) & 0x3fff;
          if (t === RTA_GATEWAY) hvia = addrText(b, q + 4, l - 4 === 4 ? 4 : 16);
          else if (t === RTA_VIA) hvia = addrText(b, q + 6, r16(b, q + 4) === AF_INET ? 4 : 16);
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
  return { key: keyOf(dstText, family, table, metric), kind, family, dst: dstText, table, metric, src, hops };
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

/** One message of an answer, as far as route sync cares. */
export type Answer =
  | { readonly kind: 'error'; readonly seq: number; readonly errno: number; readonly message: string | undefined }
  | { readonly kind: 'link'; readonly seq: number; readonly index: number }
  | { readonly kind: 'other'; readonly seq: number; readonly type: number };

function r16(b: Buffer, at: number): number {
  return LE ? b.readUInt16LE(at) : b.readUInt16BE(at);
}

function r32(b: Buffer, at: number): number {
  return LE ? b.readUInt32LE(at) : b.readUInt32BE(at);
}

function ri32(b: Buffer, at: number): number {
  return LE ? b.readInt32LE(at) : b.readInt32BE(at);
}

/** The extended-ack message of an NLMSG_ERROR, when the kernel gave one. */
function extAckMessage(b: Buffer, at: number, end: number, flags: number): string | undefined {
  if ((flags & NLM_F_ACK_TLVS) === 0) return undefined;
  // error code, then the echoed request: its header alone when capped
  const echoed = (flags & NLM_F_CAPPED) !== 0 ? NLMSG_HDRLEN : r32(b, at + NLMSG_HDRLEN + 4);
  let p = at + NLMSG_HDRLEN + 4 + align4(echoed);
  while (p + 4 <= end) {
    const len = r16(b, p);
    const type = r16(b, p + 2);
    if (len < 4) break;
    if (type === NLMSGERR_ATTR_MSG) {
      let stop = p + len;
      while (stop > p + 4 && b[stop - 1] === 0) stop--;
      return b.toString('utf8', p + 4, stop);
    }
    p += align4(len);
  }
  return undefined;
}

/** Decodes a stream of netlink messages (the answers to one frame). */
export function decodeAnswers(b: Buffer): Answer[] {
  const out: Answer[] = [];
  let at = 0;
  while (at + NLMSG_HDRLEN <= b.length) {
    const len = r32(b, at);
    if (len < NLMSG_HDRLEN || at + len > b.length) throw new Error(`netlink: a message of ${len} bytes at ${at} overruns the ${b.length} received`);
    const type = r16(b, at + 4);
    const flags = r16(b, at + 6);
    const seq = r32(b, at + 8);
    if (type === NLMSG_ERROR) {
      const errno = -ri32(b, at + NLMSG_HDRLEN) || 0;
      out.push({ kind: 'error', seq, errno, message: extAckMessage(b, at, at + len, flags) });
    } else if (type === RTM_NEWLINK && len >= NLMSG_HDRLEN + IFINFOMSG_LEN) {
      out.push({ kind: 'link', seq, index: ri32(b, at + NLMSG_HDRLEN + 4) });
    } else {
      out.push({ kind: 'other', seq, type });
    }
    at += align4(len);
  }
  return out;
}

const errnoNames = getSystemErrorMap();

/** `ESRCH`, for an errno number. */
export function errnoCode(errno: number): string {
  return errnoNames.get(-errno)?.[0] ?? `E${errno}`;
}

/** What the kernel said, as one line: `ESRCH (no such process)`, with its own words when it gave some. */
export function errnoText(errno: number, message?: string): string {
  const e = errnoNames.get(-errno);
  const base = e === undefined ? `errno ${errno}` : `${e[0]} (${e[1]})`;
  return message === undefined || message === '' ? base : `${base}: ${message}`;
}
