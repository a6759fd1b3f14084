/**
 * rtnetlink messages for route sync: routes (as canonical forms) encoded as
 * the RTM_NEWROUTE / RTM_DELROUTE requests `ip route add|replace|del` sends
 * for the same arguments (except that an IPv6 delete always names its
 * metric, so it cannot remove another metric's route), the kernel's answers
 * decoded. Reading the kernel (dump requests, and routes decoded from dump
 * answers and announcements) is in routemsg.ts.
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
import { getSystemErrorMap } from 'node:util';
import { addrFamily, prefixFamily, prefixLength, writeAddr, writePrefixAddr, type IPFamily, type PackedAddr, type PackedPrefix } from '@terrace/api';
import type { CanonHop, RouteCanon } from './canon.js';
import { defaultMetric } from './canon.js';
import { MAIN_TABLE, ROUTE_PROTOCOL } from './constants.js';
import { AF_INET, AF_INET6, IFINFOMSG_LEN, IFLA_IFNAME, LE, NLMSGERR_ATTR_MSG, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, RTA_DST, RTA_GATEWAY, RTA_MULTIPATH, RTA_OIF, RTA_PREFSRC, RTA_PRIORITY, RTA_TABLE, RTA_VIA, RTMSG_LEN, RTM_DELROUTE, RTM_GETLINK, RTM_NEWLINK, RTM_NEWROUTE, RTNH_F_ONLINK, RTN_TYPE, RTN_UNSPEC, RT_SCOPE_LINK, RT_SCOPE_NOWHERE, RT_SCOPE_UNIVERSE, align4 } from './rtnl.js';
export { NLMSG_ERROR, NLM_F_ACK } from './rtnl.js';

export type RouteOp = 'add' | 'replace' | 'del';

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

/** Appends an attribute holding the prefix's full address (4 or 16 bytes), straight from its packed value. */
function putDst(w: MessageWriter, dst: PackedPrefix): void {
  const n = prefixFamily(dst) === 4 ? 4 : 16;
  w.pad();
  w.u16(4 + n);
  w.u16(RTA_DST);
  w.reserve(n);
  w.len += writePrefixAddr(dst, w.buf, w.len);
}

/** Appends an attribute holding an address, straight from its packed value. */
function putAddr(w: MessageWriter, type: number, a: PackedAddr): void {
  const n = a.length - 1;
  w.pad();
  w.u16(4 + n);
  w.u16(type);
  w.reserve(n);
  w.len += writeAddr(a, w.buf, w.len);
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

function gateway(w: MessageWriter, family: IPFamily, via: PackedAddr): void {
  if (addrFamily(via) === family) {
    putAddr(w, RTA_GATEWAY, via);
    return;
  }
  // A gateway of the other family (an IPv4 route via an IPv6 link-local): RTA_VIA.
  const n = via.length - 1;
  const v = new Uint8Array(2 + n);
  v[LE ? 0 : 1] = n === 4 ? AF_INET : AF_INET6;
  writeAddr(via, v, 2);
  w.attr(RTA_VIA, v);
}

function ifindex(h: CanonHop, links: IfIndexes): number {
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
 * cost: destination and gateway are copied from their packed values, as the
 * BGP feed delivered them. False, with nothing written, for any other route.
 */
function encodeV4Via(w: MessageWriter, op: 'add' | 'replace', c: RouteCanon, seq: number, ack: boolean): boolean {
  if (c.family !== 4 || c.kind !== 'unicast' || c.table !== MAIN_TABLE || c.metric !== 0 || c.src !== undefined || c.hops.length !== 1) return false;
  const h = c.hops[0] as CanonHop;
  const via = h.via;
  if (via === undefined || h.dev !== undefined || h.onlink || addrFamily(via) !== 4) return false;
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
  b[r + 1] = prefixLength(c.dst);
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
  writePrefixAddr(c.dst, b, a + 4);
  w.set16(a + 8, 8);
  w.set16(a + 10, RTA_GATEWAY);
  writeAddr(via, b, a + 12);
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
  const hops = c.hops;
  const single = !del && hops.length === 1 ? (hops[0] as CanonHop) : undefined;
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
  // Room for the whole message: header, rtmsg, up to five attributes of 20 bytes, next hops.
  w.reserve(NLMSG_HDRLEN + RTMSG_LEN + 100 + hops.length * 40);
  w.msgStart(del ? RTM_DELROUTE : RTM_NEWROUTE, flags, seq);
  // struct rtmsg
  w.u8(c.family === 4 ? AF_INET : AF_INET6);
  w.u8(prefixLength(c.dst));
  w.u8(0); // src_len
  w.u8(0); // tos
  w.u8(c.table < 256 ? c.table : 0);
  w.u8(ROUTE_PROTOCOL);
  w.u8(scope);
  w.u8(type);
  w.u32(single?.onlink === true ? RTNH_F_ONLINK : 0);
  if (c.table >= 256) w.attr32(RTA_TABLE, c.table);
  putDst(w, c.dst);
  // A delete without a metric removes whichever route of the prefix comes
  // first: IPv6 deletes always name theirs (its default, 1024, is a real
  // value). IPv4's default, 0, means "any" to the kernel as it does to ip;
  // a route of ours at metric 0 sorts first, so only drift can make that
  // remove another of our routes, and the next resync puts it back.
  if (c.metric !== defaultMetric(c.family) || (del && c.family === 6)) w.attr32(RTA_PRIORITY, c.metric);
  if (!del) {
    if (c.src !== undefined) putAddr(w, RTA_PREFSRC, c.src);
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
  const echoed = (flags & NLM_F_CAPPED) !== 0 ? NLMSG_HDRLEN : at + NLMSG_HDRLEN + 8 <= end ? r32(b, at + NLMSG_HDRLEN + 4) : 0;
  // An echoed length past the message would send the search outside it (align4 of a huge length even wraps negative).
  if (echoed < NLMSG_HDRLEN || echoed > end - at) return undefined;
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
      // Read as 0 the errno would turn a damaged error into an acknowledgement.
      if (len < NLMSG_HDRLEN + 4) throw new Error(`netlink: an error message of ${len} bytes at ${at} has no error code`);
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
