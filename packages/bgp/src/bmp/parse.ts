/**
 * A strict parser for the BMP stream (RFC 7854) gobgpd writes to the station,
 * and for the BGP UPDATEs (RFC 4271, 4760) its route-monitoring messages carry.
 *
 * Speed matters more here than anywhere else in the agent: a full table
 * arrives as a burst of UPDATEs while the kernel is being written. So IPv4
 * a message lying inside one chunk is parsed in place (no copy), and each
 * prefix costs one short string, its packed bytes (PackedPrefix), which is
 * the value and the key all the way to netlink.
 *
 * Anything malformed throws TerraceError('Invalid', '<field>: <reason>'):
 * a byte stream that broke its framing cannot be trusted past that point, so
 * the caller drops the connection and gobgpd sends everything again.
 */
import { TerraceError, formatIP, ipAddr, readAddr, readPrefix, type IPAddr, type IPFamily, type PackedAddr } from '@terrace/api';
import type { BgpUpdate, BmpMessage, BmpPeer, Nlri, PathAttrs } from './types.js';

const BMP_VERSION = 3;
const BMP_COMMON_HEADER = 6;
const BMP_PEER_HEADER = 42;
/** Far above any real message (a BGP message is at most 65535 bytes); a larger length means lost framing. */
const BMP_MAX_LENGTH = 1 << 20;
const BGP_HEADER = 19;
const BGP_UPDATE = 2;

const FLAG_V6 = 0x80;
const FLAG_POST_POLICY = 0x40;
const FLAG_TWO_BYTE_AS = 0x20;
const ATTR_EXTENDED_LENGTH = 0x10;

const ATTR_NAMES: Record<number, string> = {
  1: 'ORIGIN',
  2: 'AS_PATH',
  3: 'NEXT_HOP',
  4: 'MULTI_EXIT_DISC',
  5: 'LOCAL_PREF',
  9: 'ORIGINATOR_ID',
  10: 'CLUSTER_LIST',
  14: 'MP_REACH_NLRI',
  15: 'MP_UNREACH_NLRI',
};

function invalid(field: string, reason: string): TerraceError {
  return new TerraceError('Invalid', `${field}: ${reason}`, { field });
}

function attrField(type: number): string {
  return `bgp.attr ${ATTR_NAMES[type] ?? 'type'} (${type})`;
}

/** Splits a TCP byte stream into BMP messages and parses each. */
export class BmpReader {
  /** Bytes of an incomplete message, oldest first. */
  private parts: Buffer[] = [];
  private partsLen = 0;
  /** How many bytes `parts` must reach before a message can complete. */
  private need = BMP_COMMON_HEADER;
  private readonly peers = new PeerCache();
  private broken: TerraceError | undefined;

  /** Bytes buffered for an incomplete message. */
  get pending(): number {
    return this.partsLen;
  }

  /**
   * Feeds bytes from the TCP stream (any chunking); returns the complete
   * messages they finish, in order. A chunk that ends inside a message is
   * kept by reference until the message completes, so do not reuse it (a
   * socket's 'data' chunks are never reused). An UPDATE that cannot be read
   * inside a well-framed message comes out as an 'unreadable' message. A
   * throw means the stream itself has lost its framing: every later call
   * throws the same error.
   */
  push(chunk: Buffer): BmpMessage[] {
    if (this.broken) throw this.broken;
    const out: BmpMessage[] = [];
    let data = chunk;
    if (this.partsLen > 0) {
      this.parts.push(chunk);
      this.partsLen += chunk.length;
      // Copy only once the message the parts start is complete (or its header is).
      if (this.partsLen < this.need) return out;
      data = Buffer.concat(this.parts, this.partsLen);
      this.parts = [];
      this.partsLen = 0;
    }
    let off = 0;
    try {
      while (data.length - off >= BMP_COMMON_HEADER) {
        const len = messageLength(data, off);
        if (data.length - off < len) break;
        out.push(this.parseMessage(data, off, off + len));
        off += len;
      }
      if (off < data.length) {
        const rest = data.length - off;
        this.checkVersionOf(data.subarray(off));
        this.need = rest >= BMP_COMMON_HEADER ? messageLength(data, off) : BMP_COMMON_HEADER;
        // A view would pin the whole chunk; the tail is at most one message, so copy it.
        this.parts.push(Buffer.from(data.subarray(off)));
        this.partsLen = rest;
      }
    } catch (e) {
      if (e instanceof TerraceError) this.broken = e;
      throw e;
    }
    return out;
  }

  private checkVersionOf(b: Buffer): void {
    if (b.length > 0 && b[0] !== BMP_VERSION) {
      this.broken = invalid('bmp.version', `${b[0]}, want ${BMP_VERSION}`);
      throw this.broken;
    }
  }

  private parseMessage(buf: Buffer, start: number, end: number): BmpMessage {
    const type = buf[start + 5]!;
    const body = start + BMP_COMMON_HEADER;
    switch (type) {
      case 0: {
        requireLength(end - start, BMP_COMMON_HEADER + BMP_PEER_HEADER + BGP_HEADER, 'route monitoring');
        const flags = buf[body + 1]!;
        const peer = this.peers.get(buf, body);
        const postPolicy = (flags & FLAG_POST_POLICY) !== 0;
        let update: BgpUpdate;
        try {
          update = parseUpdateAt(buf, body + BMP_PEER_HEADER, end, (flags & FLAG_TWO_BYTE_AS) === 0);
        } catch (e) {
          // The BMP length still frames the stream: only this UPDATE is lost.
          // But no BGP message at all where one should start (marker, length)
          // is no UPDATE gobgpd forwarded: the stream itself is damaged.
          if (e instanceof TerraceError && !FRAMING_FIELDS.has(e.field ?? '')) return { type: 'unreadable', peer, postPolicy, error: e };
          throw e;
        }
        return { type: 'route-monitoring', peer, postPolicy, update };
      }
      case 2:
        requireLength(end - start, BMP_COMMON_HEADER + BMP_PEER_HEADER + 1, 'peer down');
        return { type: 'peer-down', peer: this.peers.get(buf, body), reason: buf[body + BMP_PEER_HEADER]! };
      case 3:
        requireLength(end - start, BMP_COMMON_HEADER + BMP_PEER_HEADER, 'peer up');
        return { type: 'peer-up', peer: this.peers.get(buf, body) };
      case 4:
        return { type: 'initiation' };
      case 5:
        return { type: 'termination' };
      default:
        // Statistics (1), route mirroring (6) and types defined later: framing is intact, content unused.
        return { type: 'other', code: type };
    }
  }
}

/** Reads and checks the common header at `off` (at least 6 bytes there); returns the message length. */
function messageLength(buf: Buffer, off: number): number {
  if (buf[off] !== BMP_VERSION) throw invalid('bmp.version', `${buf[off]}, want ${BMP_VERSION}`);
  const len = buf.readUInt32BE(off + 1);
  if (len < BMP_COMMON_HEADER) throw invalid('bmp.length', `${len} is shorter than the ${BMP_COMMON_HEADER}-byte common header`);
  if (len > BMP_MAX_LENGTH) throw invalid('bmp.length', `${len} exceeds ${BMP_MAX_LENGTH}`);
  return len;
}

/** Errors in an UPDATE's BGP header that mean the stream, not the UPDATE, is damaged. */
const FRAMING_FIELDS = new Set(['bgp.marker', 'bgp.length']);

function requireLength(len: number, min: number, what: string): void {
  if (len < min) throw invalid('bmp.length', `${len} is too short for a ${what} message (at least ${min})`);
}

/**
 * BmpPeer objects keyed by the per-peer header bytes that define them, so a
 * dump of many one-prefix messages does not format the same address each time.
 */
class PeerCache {
  private lastBytes = Buffer.alloc(25);
  private last: BmpPeer | undefined;

  /** The peer of the per-peer header at `off`. */
  get(buf: Buffer, off: number): BmpPeer {
    // V flag, address, AS and BGP id: bytes 1 and 10..33 of the per-peer header.
    const v6 = (buf[off + 1]! & FLAG_V6) !== 0 ? 1 : 0;
    if (this.last !== undefined && this.lastBytes[0] === v6 && this.sameBytes(buf, off + 10)) return this.last;
    this.lastBytes[0] = v6;
    buf.copy(this.lastBytes, 1, off + 10, off + 34);
    const address: IPAddr = v6 ? ipAddr(6, readV6(buf, off + 10)) : ipAddr(4, BigInt(buf.readUInt32BE(off + 22)));
    this.last = { key: formatIP(address), address, asn: buf.readUInt32BE(off + 26), bgpId: buf.readUInt32BE(off + 30) };
    return this.last;
  }

  /** A plain loop: Buffer.compare with offsets costs more than 24 byte reads. */
  private sameBytes(buf: Buffer, off: number): boolean {
    const last = this.lastBytes;
    for (let i = 0; i < 24; i++) if (buf[off + i] !== last[i + 1]) return false;
    return true;
  }
}

function readV6(buf: Buffer, off: number): bigint {
  return (buf.readBigUInt64BE(off) << 64n) | buf.readBigUInt64BE(off + 8);
}

/** Parses one BGP UPDATE message (with its 19-byte header). */
export function parseBgpUpdate(body: Buffer, fourByteAs: boolean): BgpUpdate {
  return parseUpdateAt(body, 0, body.length, fourByteAs);
}

/** Parses the BGP UPDATE in buf[start, end), which must be exactly one message. */
function parseUpdateAt(buf: Buffer, start: number, end: number, fourByteAs: boolean): BgpUpdate {
  if (end - start < BGP_HEADER + 4) throw invalid('bgp.length', `${end - start} bytes is too short for an UPDATE`);
  for (let i = start; i < start + 16; i += 4) {
    if (buf.readUInt32BE(i) !== 0xffffffff) throw invalid('bgp.marker', 'not all ones');
  }
  const len = buf.readUInt16BE(start + 16);
  if (len !== end - start) throw invalid('bgp.length', `${len}, but the BMP message carries ${end - start} bytes`);
  const type = buf[start + 18]!;
  if (type !== BGP_UPDATE) throw invalid('bgp.type', `${type}, want ${BGP_UPDATE} (UPDATE)`);

  let p = start + BGP_HEADER;
  const withdrawnLen = buf.readUInt16BE(p);
  p += 2;
  if (p + withdrawnLen + 2 > end) throw invalid('bgp.withdrawnRoutesLength', `${withdrawnLen} overruns the message`);
  const withdrawn: Nlri[] = [];
  readPrefixes(4, buf, p, p + withdrawnLen, withdrawn, 'bgp.withdrawnRoutes');
  p += withdrawnLen;
  const attrLen = buf.readUInt16BE(p);
  p += 2;
  if (p + attrLen > end) throw invalid('bgp.totalPathAttributeLength', `${attrLen} overruns the message`);
  const attrEnd = p + attrLen;

  const announced: Nlri[] = [];
  // The NLRI field first, so MP_REACH prefixes can be told apart from it below.
  readPrefixes(4, buf, attrEnd, end, announced, 'bgp.nlri');
  const v4Nlri = announced.length;

  const a = new AttrReader(fourByteAs);
  let attrCount = 0;
  let emptyV6Unreach = false;
  while (p < attrEnd) {
    if (attrEnd - p < 3) throw invalid('bgp.attr', `header overruns the path attributes (${attrEnd - p} bytes left)`);
    const flags = buf[p]!;
    const attrType = buf[p + 1]!;
    const extended = (flags & ATTR_EXTENDED_LENGTH) !== 0;
    if (extended && attrEnd - p < 4) throw invalid(attrField(attrType), 'extended length overruns the path attributes');
    const valueLen = extended ? buf.readUInt16BE(p + 2) : buf[p + 2]!;
    const v = p + (extended ? 4 : 3);
    if (v + valueLen > attrEnd) {
      throw invalid(attrField(attrType), `length ${valueLen} overruns the path attributes (${attrEnd - v} bytes left)`);
    }
    attrCount++;
    if (attrType === 15) {
      const before = withdrawn.length;
      const family = a.mpUnreach(buf, v, v + valueLen, withdrawn);
      emptyV6Unreach = family === 6 && withdrawn.length === before;
    } else {
      a.read(attrType, buf, v, v + valueLen, announced);
    }
    p = v + valueLen;
  }

  if (v4Nlri > 0 && announced.length > v4Nlri && a.mpNextHop !== undefined && a.mpNextHop.charCodeAt(0) !== 4) {
    // One PathAttrs holds one next hop; no speaker we peer with mixes families in one UPDATE.
    throw invalid('bgp.nlri', 'IPv4 NLRI next to IPv6 MP_REACH_NLRI in one UPDATE is not supported');
  }

  let endOfRib: IPFamily | undefined;
  if (withdrawnLen === 0 && attrLen === 0 && attrEnd === end) endOfRib = 4;
  else if (withdrawnLen === 0 && attrEnd === end && attrCount === 1 && emptyV6Unreach) endOfRib = 6;

  const attrs = announced.length > 0 ? a.result(announced.length > v4Nlri) : undefined;
  return { withdrawn, announced, attrs, endOfRib };
}

/** Collects the path attributes of one UPDATE. */
class AttrReader {
  origin = 2;
  nextHop: PackedAddr | undefined;
  mpNextHop: PackedAddr | undefined;
  asPathLen = 0;
  firstAs = 0;
  asns: number[] = [];
  localPref: number | undefined;
  med: number | undefined;
  originatorId: number | undefined;
  clusterList: number[] = [];

  constructor(private readonly fourByteAs: boolean) {}

  read(type: number, buf: Buffer, v: number, end: number, announced: Nlri[]): void {
    const len = end - v;
    switch (type) {
      case 1:
        this.requireLen(type, len, 1);
        if (buf[v]! > 2) throw invalid(attrField(type), `value ${buf[v]} is not 0, 1 or 2`);
        this.origin = buf[v]!;
        break;
      case 2:
        this.asPath(buf, v, end);
        break;
      case 3:
        this.requireLen(type, len, 4);
        this.nextHop = readAddr(4, buf, v);
        break;
      case 4:
        this.requireLen(type, len, 4);
        this.med = buf.readUInt32BE(v);
        break;
      case 5:
        this.requireLen(type, len, 4);
        this.localPref = buf.readUInt32BE(v);
        break;
      case 9:
        this.requireLen(type, len, 4);
        this.originatorId = buf.readUInt32BE(v);
        break;
      case 10:
        if (len % 4 !== 0) throw invalid(attrField(type), `length ${len} is not a multiple of 4`);
        for (let i = v; i < end; i += 4) this.clusterList.push(buf.readUInt32BE(i));
        break;
      case 14:
        this.mpReach(buf, v, end, announced);
        break;
      default:
        // Communities, AS4_PATH, AGGREGATOR...: not needed for the decision or the route.
        break;
    }
  }

  private requireLen(type: number, len: number, want: number): void {
    if (len !== want) throw invalid(attrField(type), `length ${len}, want ${want}`);
  }

  private asPath(buf: Buffer, v: number, end: number): void {
    const asSize = this.fourByteAs ? 4 : 2;
    const field = attrField(2);
    while (v < end) {
      if (end - v < 2) throw invalid(field, 'segment header overruns the attribute');
      const segType = buf[v]!;
      const count = buf[v + 1]!;
      if (segType < 1 || segType > 4) throw invalid(field, `segment type ${segType} is not 1..4`);
      v += 2;
      if (v + count * asSize > end) {
        throw invalid(field, `segment of ${count} ${asSize}-byte ASNs overruns the attribute (${asSize === 2 ? 'A flag set' : 'A flag clear'})`);
      }
      const confed = segType >= 3;
      if (!confed && count > 0) {
        if (this.asPathLen === 0) this.firstAs = asSize === 4 ? buf.readUInt32BE(v) : buf.readUInt16BE(v);
        this.asPathLen += segType === 2 ? count : 1;
      }
      for (let i = 0; i < count; i++, v += asSize) this.asns.push(asSize === 4 ? buf.readUInt32BE(v) : buf.readUInt16BE(v));
    }
  }

  private mpReach(buf: Buffer, v: number, end: number, announced: Nlri[]): void {
    const field = attrField(14);
    if (end - v < 5) throw invalid(field, `length ${end - v} is too short`);
    const family = unicastFamily(buf.readUInt16BE(v), buf[v + 2]!);
    const nhLen = buf[v + 3]!;
    const nh = v + 4;
    if (nh + nhLen + 1 > end) throw invalid(field, `next hop length ${nhLen} overruns the attribute`);
    if (family === undefined) return;
    if (nhLen === 4 && family === 4) this.mpNextHop = readAddr(4, buf, nh);
    // 32 bytes: global then link-local; the global one is the route's gateway.
    else if (nhLen === 16 || nhLen === 32) this.mpNextHop = readAddr(6, buf, nh);
    else throw invalid(field, `next hop length ${nhLen} is not valid for IPv${family}`);
    readPrefixes(family, buf, nh + nhLen + 1, end, announced, field);
  }

  /** Reads MP_UNREACH_NLRI; returns the family when it is a unicast one we use. */
  mpUnreach(buf: Buffer, v: number, end: number, withdrawn: Nlri[]): IPFamily | undefined {
    if (end - v < 3) throw invalid(attrField(15), `length ${end - v} is too short`);
    const family = unicastFamily(buf.readUInt16BE(v), buf[v + 2]!);
    if (family !== undefined) readPrefixes(family, buf, v + 3, end, withdrawn, attrField(15));
    return family;
  }

  result(hasMpPrefixes: boolean): PathAttrs {
    return {
      nextHop: hasMpPrefixes ? this.mpNextHop : this.nextHop,
      origin: this.origin,
      asPathLen: this.asPathLen,
      firstAs: this.firstAs,
      asns: this.asns,
      localPref: this.localPref,
      med: this.med,
      originatorId: this.originatorId,
      clusterList: this.clusterList,
    };
  }
}

function unicastFamily(afi: number, safi: number): IPFamily | undefined {
  if (safi !== 1) return undefined;
  return afi === 1 ? 4 : afi === 2 ? 6 : undefined;
}

/** Reads (length, prefix bytes) pairs from buf[p, end) into `out`, clearing host bits. */
function readPrefixes(family: IPFamily, buf: Buffer, p: number, end: number, out: Nlri[], field: string): void {
  const max = family === 4 ? 32 : 128;
  while (p < end) {
    const len = buf[p]!;
    if (len > max) throw invalid(field, `prefix length ${len} > ${max}`);
    const n = (len + 7) >> 3;
    if (p + 1 + n > end) throw invalid(field, `prefix /${len} overruns its field`);
    // Junk host bits are cleared, as the kernel expects a network address.
    out.push(readPrefix(family, len, buf, p + 1));
    p += 1 + n;
  }
}
