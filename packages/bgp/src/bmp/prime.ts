/**
 * Start-up priming of the station's hot path. V8 runs a function in its
 * interpreter until it has been called often enough to be compiled, so an
 * agent's first full table, the one that matters after a node restarts, is
 * read and selected several times slower than any table after it. Running a
 * synthetic feed through a scratch reader and Adj-RIB-In while the agent
 * starts, before gobgpd's feed does, moves that cost out of the first
 * convergence. Nothing here touches the station, a socket or the kernel.
 *
 * The feed has the shapes a real one has, not just the commonest: V8
 * compiles a function with what it saw run, and a branch it never saw run
 * (a first next hop, a prefix shorter than /32, a second path, IPv6) throws
 * the compiled code out when a real feed takes it.
 */
import type { LearnedEvent } from '../speaker.js';
import { BmpReader } from './parse.js';
import { AdjRibIn } from './rib.js';

/** Prefixes per UPDATE, as gobgpd packs a dump with one set of attributes (under 4,096 bytes). */
const PER_UPDATE = 800;
const PER_V6_UPDATE = 400;
/** Chunks as a socket delivers them, so messages straddle chunk boundaries. */
const CHUNK = 4096;
/** Our side: iBGP peers share this AS. */
const LOCAL_AS = 64497;
/** An eBGP peer (a top-of-rack router) and two iBGP peers (other nodes); addresses from the benchmarking range (RFC 2544). */
const ROUTER = { address: [198, 18, 255, 1], asn: 64496 };
const NODE_B = { address: [198, 18, 255, 2], asn: LOCAL_AS };
const NODE_C = { address: [198, 18, 255, 3], asn: LOCAL_AS };
type Peer = typeof ROUTER;
/** The router's /32s start at 198.18.128.0; the nodes' /26 blocks at 198.19.0.0; IPv6 /64s in 2001:db8::/32. */
const FIRST_HOST = (((198 << 24) >>> 0) + (18 << 16) + (128 << 8)) >>> 0;
const FIRST_BLOCK = (((198 << 24) >>> 0) + (19 << 16)) >>> 0;
const V6_NEXT_HOP = Buffer.from('20010db8ffff00000000000000000001', 'hex');
/** The router withdraws this many of its /32s at the end, and node C goes down. */
const WITHDRAWN = 100;

function bmpMessage(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head[0] = 3;
  head.writeUInt32BE(6 + body.length, 1);
  head[5] = type;
  return Buffer.concat([head, body]);
}

/** A per-peer header: global instance, IPv4 peer, pre-policy, 4-byte ASNs. */
function perPeerHeader(p: Peer): Buffer {
  const h = Buffer.alloc(42);
  Buffer.from(p.address).copy(h, 22);
  h.writeUInt32BE(p.asn, 26);
  Buffer.from(p.address).copy(h, 30);
  return h;
}

function tlv(type: number, value: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(value.length, 2);
  return Buffer.concat([h, value]);
}

/** A path attribute, with the extended length when the value needs it. */
function attr(flags: number, type: number, value: Buffer): Buffer {
  if (value.length > 255) {
    const h = Buffer.from([flags | 0x10, type, 0, 0]);
    h.writeUInt16BE(value.length, 2);
    return Buffer.concat([h, value]);
  }
  return Buffer.concat([Buffer.from([flags, type, value.length]), value]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** IPv4 NLRI: `count` prefixes of length `len`, `step` addresses apart, from `first`. */
function v4Nlri(first: number, count: number, len: number, step: number): Buffer {
  const b = Buffer.alloc(count * 5);
  for (let i = 0; i < count; i++) {
    b[i * 5] = len;
    b.writeUInt32BE((first + i * step) >>> 0, i * 5 + 1);
  }
  return b;
}

/** Route monitoring of one UPDATE from `peer`. */
function routeMonitoring(peer: Peer, withdrawn: Buffer, attrs: Buffer[], nlri: Buffer): Buffer {
  const a = Buffer.concat(attrs);
  const head = Buffer.alloc(21);
  head.fill(0xff, 0, 16);
  head.writeUInt16BE(19 + 2 + withdrawn.length + 2 + a.length + nlri.length, 16);
  head[18] = 2; // UPDATE
  head.writeUInt16BE(withdrawn.length, 19);
  const attrLen = Buffer.alloc(2);
  attrLen.writeUInt16BE(a.length);
  return bmpMessage(0, Buffer.concat([perPeerHeader(peer), head, withdrawn, attrLen, a, nlri]));
}

const ORIGIN_IGP = attr(0x40, 1, Buffer.from([0]));
const asPath = (asns: number[]): Buffer => attr(0x40, 2, asns.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([2, asns.length]), ...asns.map(u32)]));
const nextHop = (a: readonly number[]): Buffer => attr(0x40, 3, Buffer.from(a));

/**
 * What gobgpd sends for three peers' tables, sized by `prefixes` (the
 * router's /32s; a sixteenth as many /26 blocks and IPv6 /64s):
 * - the router (eBGP): /32s, each UPDATE via a next hop of its own, with a MED;
 * - nodes B and C (iBGP): the same /26 blocks with equal attributes, so each
 *   block gets both as an ECMP set;
 * - the router: /64s over MP_REACH_NLRI;
 * - then the router withdraws its first 100 /32s and node C goes down.
 * The Peer Up messages omit the OPENs RFC 7854 puts there: the station does
 * not read them.
 */
export function syntheticFeed(prefixes: number): Buffer {
  const parts = [bmpMessage(4, Buffer.concat([tlv(1, Buffer.from('terrace-agent priming')), tlv(2, Buffer.from('prime'))]))];
  for (const p of [ROUTER, NODE_B, NODE_C]) parts.push(bmpMessage(3, Buffer.concat([perPeerHeader(p), Buffer.alloc(20)])));
  for (let i = 0; i < prefixes; i += PER_UPDATE) {
    const hop = [198, 18, 254, 1 + ((i / PER_UPDATE) % 250)];
    const attrs = [ORIGIN_IGP, asPath([ROUTER.asn]), nextHop(hop), attr(0x80, 4, u32(i % 7))];
    parts.push(routeMonitoring(ROUTER, Buffer.alloc(0), attrs, v4Nlri(FIRST_HOST + i, Math.min(PER_UPDATE, prefixes - i), 32, 1)));
  }
  const blocks = Math.max(1, prefixes >> 4);
  for (const node of [NODE_B, NODE_C]) {
    const attrs = [ORIGIN_IGP, asPath([]), nextHop(node.address), attr(0x80, 4, u32(0)), attr(0x40, 5, u32(100))];
    for (let i = 0; i < blocks; i += PER_UPDATE) {
      parts.push(routeMonitoring(node, Buffer.alloc(0), attrs, v4Nlri(FIRST_BLOCK + i * 64, Math.min(PER_UPDATE, blocks - i), 26, 64)));
    }
  }
  for (let i = 0; i < blocks; i += PER_V6_UPDATE) {
    const count = Math.min(PER_V6_UPDATE, blocks - i);
    const nlri = Buffer.alloc(count * 9);
    for (let j = 0; j < count; j++) {
      // 2001:db8:<i+j>::/64
      nlri[j * 9] = 64;
      nlri.writeUInt32BE(0x20010db8, j * 9 + 1);
      nlri.writeUInt16BE(i + j, j * 9 + 5);
    }
    const mpReach = attr(0x80, 14, Buffer.concat([Buffer.from([0, 2, 1, 16]), V6_NEXT_HOP, Buffer.from([0]), nlri]));
    parts.push(routeMonitoring(ROUTER, Buffer.alloc(0), [ORIGIN_IGP, asPath([ROUTER.asn]), mpReach], Buffer.alloc(0)));
  }
  parts.push(routeMonitoring(ROUTER, v4Nlri(FIRST_HOST, Math.min(WITHDRAWN, prefixes), 32, 1), [], Buffer.alloc(0)));
  parts.push(bmpMessage(2, Buffer.concat([perPeerHeader(NODE_C), Buffer.from([4])])));
  return Buffer.concat(parts);
}

/**
 * Reads `feed` (from syntheticFeed) with a fresh reader into a fresh
 * Adj-RIB-In, as the station does with a live one, and returns the events
 * the RIB produced, in order.
 */
export function primeBmpPath(feed: Buffer): LearnedEvent[] {
  const reader = new BmpReader();
  const rib = new AdjRibIn({ localAsn: LOCAL_AS, routerId: 1 });
  const events: LearnedEvent[] = [];
  const add = (evs: LearnedEvent[]): void => {
    for (const e of evs) events.push(e);
  };
  for (let at = 0; at < feed.length; at += CHUNK) {
    for (const m of reader.push(feed.subarray(at, at + CHUNK))) {
      if (m.type === 'route-monitoring') add(rib.update(m.peer, m.update));
      else if (m.type === 'peer-down') add(rib.peerDown(m.peer.key));
    }
  }
  return events;
}
