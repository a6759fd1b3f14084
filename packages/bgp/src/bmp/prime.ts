/**
 * Start-up priming of the station's hot path. V8 runs a function in its
 * interpreter until it has been called often enough to be compiled, so an
 * agent's first full table, the one that matters after a node restarts, is
 * read and selected several times slower than any table after it. Running a
 * synthetic feed through a scratch reader and Adj-RIB-In while the agent
 * starts, before any peer is up, moves that cost out of the first
 * convergence. Nothing here touches the station, a socket or the kernel.
 */
import type { LearnedEvent } from '../speaker.js';
import { BmpReader } from './parse.js';
import { AdjRibIn } from './rib.js';

/** Prefixes per UPDATE, as gobgpd packs a dump of /32s with one set of attributes. */
const PER_UPDATE = 800;
/** Chunks as a socket delivers them, so messages also straddle chunk boundaries. */
const CHUNK = 16384;
/** The synthetic peer: an address and AS from ranges reserved for documentation and benchmarks. */
const PEER_ADDRESS = [198, 18, 255, 1] as const;
const PEER_AS = 64496;
const LOCAL_AS = 64497;
/** The first synthetic prefix, 198.18.128.0 (the benchmarking range, RFC 2544). */
const FIRST = (((198 << 24) >>> 0) + (18 << 16) + (128 << 8)) >>> 0;

function bmpMessage(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head[0] = 3;
  head.writeUInt32BE(6 + body.length, 1);
  head[5] = type;
  return Buffer.concat([head, body]);
}

/** A per-peer header: global instance, IPv4 peer, pre-policy, 4-byte ASNs. */
function perPeerHeader(): Buffer {
  const h = Buffer.alloc(42);
  Buffer.from(PEER_ADDRESS).copy(h, 22);
  h.writeUInt32BE(PEER_AS, 26);
  Buffer.from(PEER_ADDRESS).copy(h, 30);
  return h;
}

/**
 * Route monitoring of one UPDATE announcing `count` /32s from FIRST + `from`
 * via 198.18.255.`hop`. Each UPDATE has a next hop of its own, so the code
 * that meets a next hop for the first time runs too: a branch V8 compiled
 * without ever seeing it run is thrown out (deoptimised) when a real feed
 * takes it.
 */
function routeMonitoring(from: number, count: number, hop: number): Buffer {
  const attrs = Buffer.from([
    ...[0x40, 1, 1, 0], // ORIGIN IGP
    ...[0x40, 2, 6, 2, 1, 0, 0, PEER_AS >> 8, PEER_AS & 0xff], // AS_PATH: AS_SEQUENCE of PEER_AS
    ...[0x40, 3, 4, PEER_ADDRESS[0], PEER_ADDRESS[1], PEER_ADDRESS[2], hop], // NEXT_HOP
  ]);
  const nlri = Buffer.alloc(count * 5);
  for (let i = 0; i < count; i++) {
    nlri[i * 5] = 32;
    nlri.writeUInt32BE((FIRST + from + i) >>> 0, i * 5 + 1);
  }
  const head = Buffer.alloc(23);
  head.fill(0xff, 0, 16);
  head.writeUInt16BE(23 + attrs.length + nlri.length, 16);
  head[18] = 2; // UPDATE
  head.writeUInt16BE(0, 19); // no withdrawn routes
  head.writeUInt16BE(attrs.length, 21);
  return bmpMessage(0, Buffer.concat([perPeerHeader(), head, attrs, nlri]));
}

/** Initiation, Peer Up and `prefixes` /32s in UPDATEs of PER_UPDATE: what gobgpd sends for one peer's table. */
export function syntheticFeed(prefixes: number): Buffer {
  const parts = [bmpMessage(4, Buffer.from([0, 2, 0, 5, ...Buffer.from('prime')])), bmpMessage(3, Buffer.concat([perPeerHeader(), Buffer.alloc(20)]))];
  for (let i = 0; i < prefixes; i += PER_UPDATE) parts.push(routeMonitoring(i, Math.min(PER_UPDATE, prefixes - i), 1 + ((i / PER_UPDATE) % 250)));
  return Buffer.concat(parts);
}

/**
 * Reads `feed` (from syntheticFeed) with a fresh reader into a fresh
 * Adj-RIB-In, as the station does with a live one, and returns the events
 * the RIB produced: one 'set' per prefix.
 */
export function primeBmpPath(feed: Buffer): LearnedEvent[] {
  const reader = new BmpReader();
  const rib = new AdjRibIn({ localAsn: LOCAL_AS, routerId: 1 });
  const events: LearnedEvent[] = [];
  for (let at = 0; at < feed.length; at += CHUNK) {
    for (const m of reader.push(feed.subarray(at, at + CHUNK))) {
      if (m.type !== 'route-monitoring') continue;
      for (const e of rib.update(m.peer, m.update)) events.push(e);
    }
  }
  return events;
}
