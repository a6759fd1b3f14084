import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { TerraceError, cidr as makeCidr, formatCidr, formatIP, formatPrefix, packCidr, packIP, parseCidr, parseIP, unpackPrefix, type IPFamily, type PackedPrefix } from '@terrace/api';
import { BmpReader, parseBgpUpdate } from '../src/bmp/parse.js';
import type { BmpMessage } from '../src/bmp/types.js';
import { attr, bgpUpdate, cat, ipBytes, prefix, prefixes, u16, u32, u8, type PeerOpts } from './bmp-bytes.js';

// ---- messages assembled field by field (bmp-bytes.ts) ----

function asPath(segments: Array<[number, number[]]>, asSize: 2 | 4 = 4): Buffer {
  return attr(2, cat(...segments.map(([t, asns]) => cat(u8(t), u8(asns.length), ...asns.map((a) => (asSize === 4 ? u32(a) : u16(a)))))));
}

function mpReach(afi: number, safi: number, nextHops: string[], nlri: Buffer): Buffer {
  const nh = cat(...nextHops.map(ipBytes));
  return attr(14, cat(u16(afi), u8(safi), u8(nh.length), nh, u8(0), nlri), 0x80);
}
const mpUnreach = (afi: number, safi: number, nlri: Buffer): Buffer => attr(15, cat(u16(afi), u8(safi), nlri), 0x80);

function peerHeader(o: PeerOpts = {}): Buffer {
  const address = o.address ?? '198.18.0.11';
  const v6 = address.includes(':');
  const addr = Buffer.alloc(16);
  ipBytes(address).copy(addr, v6 ? 0 : 12);
  const flags = (o.flags ?? 0) | (v6 ? 0x80 : 0);
  return cat(u8(0), u8(flags), Buffer.alloc(8), addr, u32(o.asn ?? 65011), ipBytes(o.bgpId ?? '198.18.0.11'), u32(1700000000), u32(0));
}

const bmp = (type: number, body: Buffer): Buffer => cat(u8(3), u32(6 + body.length), u8(type), body);
const routeMonitoring = (update: Buffer, peer: PeerOpts = {}): Buffer => bmp(0, cat(peerHeader(peer), update));
const initiation = (): Buffer => bmp(4, cat(u16(2), u16(5), Buffer.from('gobgp')));

function only(buf: Buffer): BmpMessage {
  const r = new BmpReader();
  const msgs = r.push(buf);
  expect(msgs).toHaveLength(1);
  expect(r.pending).toBe(0);
  return msgs[0]!;
}

function update(buf: Buffer) {
  const m = only(buf);
  if (m.type !== 'route-monitoring') throw new Error(`got ${m.type}`);
  return m.update;
}

/** Prefixes as text, for reading the expectations (the parser's values are packed bytes). */
const keys = (ns: readonly PackedPrefix[]): string[] => ns.map(formatPrefix);

function expectInvalid(f: () => unknown, message: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(TerraceError);
  expect((err as TerraceError).code).toBe('Invalid');
  expect((err as TerraceError).message).toMatch(message);
}

// ---- tests ----

describe('BmpReader: message types', () => {
  it('reads initiation, termination, peer up, peer down, statistics and mirroring', () => {
    const r = new BmpReader();
    const msgs = r.push(
      cat(
        initiation(),
        bmp(3, cat(peerHeader({ address: '198.18.0.12', asn: 4200000001, bgpId: '10.0.0.12' }), Buffer.alloc(20))),
        bmp(3, peerHeader({ address: 'fd00:198:18::12', asn: 65012 })),
        bmp(2, cat(peerHeader({ address: '198.18.0.12' }), u8(2), u16(7))),
        bmp(1, cat(peerHeader(), u32(0))),
        bmp(6, peerHeader()),
        bmp(5, cat(u16(0), u16(0))),
      ),
    );
    expect(msgs.map((m) => m.type)).toEqual(['initiation', 'peer-up', 'peer-up', 'peer-down', 'other', 'other', 'termination']);
    const [, up4, up6, down, stats, mirror] = msgs;
    expect(up4).toEqual({
      type: 'peer-up',
      peer: { key: '198.18.0.12', address: { family: 4, value: parseIP('198.18.0.12').value }, asn: 4200000001, bgpId: 0x0a00000c },
    });
    expect(up6?.type === 'peer-up' && up6.peer.key).toBe('fd00:198:18::12');
    expect(up6?.type === 'peer-up' && up6.peer.address.family).toBe(6);
    expect(down?.type === 'peer-down' && [down.peer.key, down.reason]).toEqual(['198.18.0.12', 2]);
    expect(stats).toEqual({ type: 'other', code: 1 });
    expect(mirror).toEqual({ type: 'other', code: 6 });
    expect(r.pending).toBe(0);
  });
});

describe('BmpReader: route monitoring', () => {
  const full = bgpUpdate({
    withdrawn: prefixes('198.19.9.0/24', '10.0.0.0/8'),
    attrs: [
      attr(1, u8(0), 0x40),
      asPath([[2, [65011, 4200000001, 65100]]]),
      attr(3, ipBytes('198.18.0.11')),
      attr(4, u32(50), 0x80),
      attr(5, u32(200)),
      attr(8, cat(u32(0xfde80001), u32(0xfde80002)), 0xc0), // COMMUNITIES: skipped
      attr(9, ipBytes('10.0.0.7'), 0x80),
      attr(10, cat(ipBytes('10.0.0.1'), ipBytes('10.0.0.2')), 0x80),
    ],
    nlri: prefixes('198.19.1.0/26', '198.19.2.7/32', '0.0.0.0/0'),
  });

  it('reads IPv4 withdrawn, NLRI and every attribute it needs', () => {
    const m = only(routeMonitoring(full, { flags: 0x40 }));
    expect(m.type).toBe('route-monitoring');
    if (m.type !== 'route-monitoring') return;
    expect(m.postPolicy).toBe(true);
    expect(m.peer.key).toBe('198.18.0.11');
    const u = m.update;
    expect(keys(u.withdrawn)).toEqual(['198.19.9.0/24', '10.0.0.0/8']);
    expect(keys(u.announced)).toEqual(['198.19.1.0/26', '198.19.2.7/32', '0.0.0.0/0']);
    expect(unpackPrefix(u.announced[0]!)).toEqual(parseCidr('198.19.1.0/26'));
    expect(unpackPrefix(u.announced[2]!)).toEqual({ family: 4, base: 0n, prefix: 0 });
    expect(u.endOfRib).toBeUndefined();
    expect(u.attrs).toEqual({
      nextHop: packIP(parseIP('198.18.0.11')),
      origin: 0,
      asPathLen: 3,
      firstAs: 65011,
      asns: [65011, 4200000001, 65100],
      localPref: 200,
      med: 50,
      originatorId: 0x0a000007,
      clusterList: [0x0a000001, 0x0a000002],
    });
  });

  it('reads 2-byte AS paths when the A flag is set, 4-byte otherwise', () => {
    const two = bgpUpdate({ attrs: [attr(1, u8(1)), asPath([[2, [65011, 23456]]], 2), attr(3, ipBytes('198.18.0.11'))], nlri: prefix('198.19.1.0/24') });
    const m2 = update(routeMonitoring(two, { flags: 0x20 }));
    expect(m2.attrs?.asns).toEqual([65011, 23456]);
    expect(m2.attrs?.asPathLen).toBe(2);
    expect(m2.attrs?.origin).toBe(1);
    // The same 2-byte path read as 4-byte ASNs no longer fits its attribute.
    const wrong = only(routeMonitoring(two));
    expect(wrong.type === 'unreadable' && wrong.error.message).toMatch(/^bgp\.attr AS_PATH \(2\): segment of 2 4-byte ASNs overruns .*A flag clear/);
    // A one-AS segment holding the same four bytes reads as one 4-byte ASN.
    const one = bgpUpdate({ attrs: [attr(2, cat(u8(2), u8(1), u16(65011), u16(23456)))], nlri: prefix('198.19.1.0/24') });
    expect(parseBgpUpdate(one, true).attrs?.asns).toEqual([65011 * 65536 + 23456]);
    const four = bgpUpdate({ attrs: [asPath([[2, [4200000001]]])], nlri: prefix('198.19.1.0/24') });
    expect(update(routeMonitoring(four)).attrs?.firstAs).toBe(4200000001);
    expect(parseBgpUpdate(four, true).attrs?.asns).toEqual([4200000001]);
  });

  it('counts a set as one, confederation segments as none, and skips empty segments for firstAs', () => {
    const u = update(
      routeMonitoring(
        bgpUpdate({
          attrs: [
            asPath([
              [3, [64512, 64513]],
              [4, [64514]],
              [2, []],
              [1, [300, 400, 500]],
              [2, [100, 200]],
            ]),
          ],
          nlri: prefix('198.19.1.0/24'),
        }),
      ),
    );
    expect(u.attrs?.asPathLen).toBe(3);
    expect(u.attrs?.firstAs).toBe(300);
    expect(u.attrs?.asns).toEqual([64512, 64513, 64514, 300, 400, 500, 100, 200]);
    expect(u.attrs?.origin).toBe(2); // absent ORIGIN reads as INCOMPLETE
    expect(u.attrs?.nextHop).toBeUndefined();
    const confedOnly = update(routeMonitoring(bgpUpdate({ attrs: [asPath([[3, [64512]]])], nlri: prefix('198.19.1.0/24') })));
    expect([confedOnly.attrs?.asPathLen, confedOnly.attrs?.firstAs]).toEqual([0, 0]);
  });

  it('reads IPv6 MP_REACH_NLRI with a 16- or 32-byte next hop, and MP_UNREACH_NLRI', () => {
    const nlri6 = prefixes('fd00:198:19:1::/64', '2001:db8::1/128', '::/0');
    const g = update(routeMonitoring(bgpUpdate({ attrs: [attr(1, u8(0)), asPath([[2, [65011]]]), mpReach(2, 1, ['fd00:198:18::11'], nlri6)] })));
    expect(keys(g.announced)).toEqual(['fd00:198:19:1::/64', '2001:db8::1/128', '::/0']);
    expect(unpackPrefix(g.announced[0]!)).toEqual(parseCidr('fd00:198:19:1::/64'));
    expect(g.attrs?.nextHop).toEqual(packIP(parseIP('fd00:198:18::11')));
    const ll = update(routeMonitoring(bgpUpdate({ attrs: [mpReach(2, 1, ['fd00:198:18::12', 'fe80::12'], nlri6)] }), { address: 'fd00:198:18::12' }));
    expect(ll.attrs?.nextHop).toEqual(packIP(parseIP('fd00:198:18::12')));
    expect(ll.announced).toHaveLength(3);
    const w = update(routeMonitoring(bgpUpdate({ attrs: [mpUnreach(2, 1, prefixes('fd00:198:19:1::/64'))] })));
    expect(keys(w.withdrawn)).toEqual(['fd00:198:19:1::/64']);
    expect(w.announced).toEqual([]);
    expect(w.attrs).toBeUndefined();
    expect(w.endOfRib).toBeUndefined();
  });

  it('ignores MP attributes of other families and reads IPv4 through MP_REACH', () => {
    const other = update(
      routeMonitoring(bgpUpdate({ attrs: [mpReach(2, 128, ['fd00::1'], Buffer.from([1, 2, 3])), mpUnreach(25, 65, Buffer.from([9]))] })),
    );
    expect([other.announced, other.withdrawn, other.endOfRib]).toEqual([[], [], undefined]);
    const v4 = update(routeMonitoring(bgpUpdate({ attrs: [mpReach(1, 1, ['198.18.0.13'], prefixes('198.19.3.0/24'))] })));
    expect(keys(v4.announced)).toEqual(['198.19.3.0/24']);
    expect(v4.attrs?.nextHop).toEqual(packIP(parseIP('198.18.0.13')));
  });

  it('recognises both End-of-RIB forms and nothing else', () => {
    const eor4 = update(routeMonitoring(bgpUpdate()));
    expect(eor4.endOfRib).toBe(4);
    expect([eor4.announced, eor4.withdrawn, eor4.attrs]).toEqual([[], [], undefined]);
    const eor6 = update(routeMonitoring(bgpUpdate({ attrs: [mpUnreach(2, 1, Buffer.alloc(0))] })));
    expect(eor6.endOfRib).toBe(6);
    expect([eor6.announced, eor6.withdrawn]).toEqual([[], []]);
    expect(update(routeMonitoring(bgpUpdate({ withdrawn: prefix('10.0.0.0/8') }))).endOfRib).toBeUndefined();
    expect(update(routeMonitoring(bgpUpdate({ attrs: [attr(1, u8(0)), mpUnreach(2, 1, Buffer.alloc(0))] }))).endOfRib).toBeUndefined();
    expect(update(routeMonitoring(bgpUpdate({ attrs: [mpUnreach(1, 1, Buffer.alloc(0))] }))).endOfRib).toBeUndefined();
  });

  it('clears host bits a peer sent', () => {
    const u = update(routeMonitoring(bgpUpdate({ attrs: [attr(3, ipBytes('198.18.0.11'))], nlri: prefixes('10.1.2.3/8', '198.19.1.255/25', '1.2.3.4/0') })));
    expect(keys(u.announced)).toEqual(['10.0.0.0/8', '198.19.1.128/25', '0.0.0.0/0']);
    expect(unpackPrefix(u.announced[1]!)).toEqual(parseCidr('198.19.1.128/25'));
    const v6 = update(routeMonitoring(bgpUpdate({ attrs: [mpReach(2, 1, ['fd00::1'], prefixes('fd00:198:19:1:ffff::1/61', '2001:db8::ff/120'))] })));
    expect(keys(v6.announced)).toEqual(['fd00:198:19::/61', '2001:db8::/120']);
    expect(unpackPrefix(v6.announced[0]!)).toEqual(parseCidr('fd00:198:19::/61'));
  });

  it('reads every prefix as packCidr packs it, which formats as formatCidr does', () => {
    const cidr = (family: IPFamily) =>
      fc
        .tuple(fc.bigInt({ min: 0n, max: (1n << (family === 4 ? 32n : 128n)) - 1n }), fc.integer({ min: 0, max: family === 4 ? 32 : 128 }))
        .map(([v, len]) => {
          const bits = BigInt(family === 4 ? 32 : 128);
          const base = len === 0 ? 0n : (v >> (bits - BigInt(len))) << (bits - BigInt(len));
          return { family, base, prefix: len };
        });
    fc.assert(
      fc.property(fc.array(cidr(4), { maxLength: 20 }), fc.array(cidr(6), { maxLength: 20 }), (v4, v6) => {
        const text = (c: { family: IPFamily; base: bigint; prefix: number }) => `${formatIP({ family: c.family, value: c.base })}/${c.prefix}`;
        const u4 = parseBgpUpdate(bgpUpdate({ withdrawn: prefixes(...v4.map(text)) }), true);
        expect(keys(u4.withdrawn)).toEqual(v4.map(formatCidr));
        expect(u4.withdrawn).toEqual(v4.map((c) => packCidr(makeCidr(c.family, c.base, c.prefix))));
        const u6 = parseBgpUpdate(bgpUpdate({ attrs: [mpReach(2, 1, ['fd00::1'], prefixes(...v6.map(text)))] }), true);
        expect(keys(u6.announced)).toEqual(v6.map(formatCidr));
        expect(u6.announced).toEqual(v6.map((c) => packCidr(makeCidr(c.family, c.base, c.prefix))));
      }),
      { numRuns: 200 },
    );
  });
});

describe('BmpReader: framing', () => {
  const stream = cat(
    initiation(),
    bmp(3, peerHeader()),
    routeMonitoring(
      bgpUpdate({
        withdrawn: prefix('198.19.8.0/24'),
        attrs: [attr(1, u8(0)), asPath([[2, [65011]]]), attr(3, ipBytes('198.18.0.11')), attr(5, u32(100))],
        nlri: prefixes('198.19.1.0/24', '198.19.2.0/24'),
      }),
    ),
    routeMonitoring(bgpUpdate({ attrs: [mpReach(2, 1, ['fd00::11', 'fe80::11'], prefixes('fd00:198:19:1::/64'))] }), { address: 'fd00::11' }),
    routeMonitoring(bgpUpdate()),
    bmp(2, cat(peerHeader(), u8(1))),
  );

  it('gives the same messages however the stream is cut', () => {
    const whole = new BmpReader().push(stream);
    expect(whole.map((m) => m.type)).toEqual(['initiation', 'peer-up', 'route-monitoring', 'route-monitoring', 'route-monitoring', 'peer-down']);
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = new BmpReader();
      const got = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut))];
      expect(got).toEqual(whole);
      expect(r.pending).toBe(0);
    }
    const r = new BmpReader();
    const bytewise: BmpMessage[] = [];
    for (let i = 0; i < stream.length; i++) {
      bytewise.push(...r.push(stream.subarray(i, i + 1)));
      if (i < 5) expect(r.pending).toBe(i + 1);
    }
    expect(bytewise).toEqual(whole);
    expect(r.pending).toBe(0);
  });

  it('returns every message a chunk completes and keeps the rest pending', () => {
    const r = new BmpReader();
    const first = r.push(stream.subarray(0, stream.length - 3));
    expect(first).toHaveLength(5);
    expect(r.pending).toBe(49 - 3); // the peer down message is 49 bytes
    expect(r.push(stream.subarray(stream.length - 3))).toHaveLength(1);
    expect(r.pending).toBe(0);
  });

  it('keeps its own copy of a pending tail when the caller reuses the chunk', () => {
    const r = new BmpReader();
    const whole = new BmpReader().push(stream);
    const chunk = Buffer.from(stream);
    const cut = stream.length - 60; // inside the End-of-RIB message
    const got = r.push(chunk.subarray(0, cut));
    chunk.fill(0, 0, cut);
    got.push(...r.push(chunk.subarray(cut)));
    expect(got).toEqual(whole);
  });
});

describe('BmpReader: malformed input', () => {
  const good = routeMonitoring(bgpUpdate({ attrs: [attr(3, ipBytes('198.18.0.11'))], nlri: prefix('198.19.1.0/24') }));

  it('rejects a wrong BMP version, even before the message is complete', () => {
    const bad = Buffer.from(good);
    bad[0] = 2;
    expectInvalid(() => new BmpReader().push(bad), /^bmp\.version: 2, want 3$/);
    const r = new BmpReader();
    r.push(initiation().subarray(0, 3));
    r.push(initiation().subarray(3));
    expectInvalid(() => r.push(Buffer.from([4])), /bmp\.version/);
    // The stream lost its framing: the reader stays failed.
    expectInvalid(() => r.push(initiation()), /bmp\.version/);
  });

  it('rejects a length shorter than the headers need', () => {
    expectInvalid(() => new BmpReader().push(cat(u8(3), u32(5), u8(4))), /^bmp\.length: 5 /);
    expectInvalid(() => new BmpReader().push(bmp(3, peerHeader().subarray(0, 41))), /^bmp\.length: 47 .*peer up/);
    expectInvalid(() => new BmpReader().push(bmp(0, cat(peerHeader(), Buffer.alloc(10, 0xff)))), /^bmp\.length: .*route monitoring/);
  });

  /**
   * Reads `bad` then a good message in one chunk: the bad one must come out
   * as unreadable, with its peer, and the good one after it as usual.
   */
  function unreadable(bad: Buffer): TerraceError {
    const r = new BmpReader();
    const msgs = r.push(cat(bad, good));
    expect(msgs.map((m) => m.type)).toEqual(['unreadable', 'route-monitoring']);
    const m = msgs[0]!;
    if (m.type !== 'unreadable') throw new Error(`got ${m.type}`);
    expect(m.peer.key).toBe('198.18.0.11');
    expect(m.postPolicy).toBe(false);
    expect(m.error.code).toBe('Invalid');
    // The reader is not broken: later messages read as usual.
    expect(r.push(good).map((x) => x.type)).toEqual(['route-monitoring']);
    return m.error;
  }

  it('rejects a prefix length over 32 or 128', () => {
    const v4 = bgpUpdate({ attrs: [attr(3, ipBytes('198.18.0.11'))], nlri: cat(u8(33), Buffer.alloc(5)) });
    expect(unreadable(routeMonitoring(v4)).message).toMatch(/^bgp\.nlri: prefix length 33 > 32$/);
    expectInvalid(() => parseBgpUpdate(bgpUpdate({ withdrawn: cat(u8(40), Buffer.alloc(5)) }), true), /^bgp\.withdrawnRoutes: prefix length 40/);
    const v6 = bgpUpdate({ attrs: [mpUnreach(2, 1, cat(u8(129), Buffer.alloc(17)))] });
    expectInvalid(() => parseBgpUpdate(v6, true), /^bgp\.attr MP_UNREACH_NLRI \(15\): prefix length 129 > 128$/);
  });

  it('refuses IPv4 NLRI beside IPv6 MP_REACH_NLRI, which one next hop cannot describe', () => {
    const u = bgpUpdate({ attrs: [attr(3, ipBytes('198.18.0.11')), mpReach(2, 1, ['fd00::1'], prefix('fd00::/64'))], nlri: prefix('198.19.1.0/24') });
    expectInvalid(() => parseBgpUpdate(u, true), /^bgp\.nlri: IPv4 NLRI next to IPv6 MP_REACH_NLRI/);
  });

  it('rejects a prefix overrunning its field', () => {
    expectInvalid(() => parseBgpUpdate(bgpUpdate({ nlri: cat(u8(24), Buffer.from([198, 19])) }), true), /^bgp\.nlri: prefix \/24 overruns/);
  });

  it('rejects an attribute that overruns the message', () => {
    const u = bgpUpdate({ attrs: [attr(1, u8(0)), cat(u8(0x40), u8(5), u8(8), u32(100))] });
    expectInvalid(() => parseBgpUpdate(u, true), /^bgp\.attr LOCAL_PREF \(5\): length 8 overruns the path attributes \(4 bytes left\)$/);
    const seg = bgpUpdate({ attrs: [attr(2, cat(u8(2), u8(3), u32(65011)))] });
    expectInvalid(() => parseBgpUpdate(seg, true), /^bgp\.attr AS_PATH \(2\): segment of 3 4-byte ASNs overruns/);
    const total = Buffer.from(bgpUpdate({ attrs: [attr(1, u8(0))] }));
    total.writeUInt16BE(200, 21); // total path attribute length past the end
    expectInvalid(() => parseBgpUpdate(total, true), /^bgp\.totalPathAttributeLength: 200 overruns/);
    expectInvalid(() => parseBgpUpdate(bgpUpdate({ attrs: [attr(3, Buffer.alloc(16))] }), true), /^bgp\.attr NEXT_HOP \(3\): length 16, want 4$/);
  });

  it('takes a wrong marker or BGP length as a damaged stream, and another message type as an unreadable UPDATE', () => {
    // No BGP message where one must start: the framing cannot be trusted.
    const marker = Buffer.from(good);
    marker[48 + 7] = 0;
    expectInvalid(() => new BmpReader().push(cat(marker, good)), /^bgp\.marker: not all ones$/);
    const len = Buffer.from(good);
    len.writeUInt16BE(len.readUInt16BE(48 + 16) - 1, 48 + 16);
    const r = new BmpReader();
    expectInvalid(() => r.push(len), /^bgp\.length: /);
    expectInvalid(() => r.push(good), /^bgp\.length: /);
    // A well-formed BGP message of the wrong type is only skipped.
    const type = Buffer.from(good);
    type[48 + 18] = 4;
    expect(unreadable(type).message).toMatch(/^bgp\.type: 4, want 2/);
  });

  it('reports the post-policy flag of an unreadable UPDATE', () => {
    const v4 = bgpUpdate({ attrs: [attr(3, ipBytes('198.18.0.11'))], nlri: cat(u8(33), Buffer.alloc(5)) });
    const m = only(routeMonitoring(v4, { flags: 0x40 }));
    expect(m.type === 'unreadable' && m.postPolicy).toBe(true);
  });
});

describe('BmpReader: a full table', () => {
  it('reads 100,000 /32s sent as 125 UPDATEs in 64 KiB chunks', () => {
    const attrs = [attr(1, u8(0)), asPath([[2, [65011, 65100]]]), attr(3, ipBytes('198.18.0.11'))];
    const msgs: Buffer[] = [];
    for (let m = 0; m < 125; m++) {
      const nlri = Buffer.alloc(800 * 5);
      for (let i = 0; i < 800; i++) {
        const n = m * 800 + i;
        nlri[i * 5] = 32;
        nlri.writeUInt32BE((0x0a000000 + n) >>> 0, i * 5 + 1);
      }
      msgs.push(routeMonitoring(bgpUpdate({ attrs, nlri })));
    }
    const stream = cat(...msgs);
    const r = new BmpReader();
    const got: BmpMessage[] = [];
    for (let off = 0; off < stream.length; off += 65536) got.push(...r.push(stream.subarray(off, off + 65536)));
    expect(r.pending).toBe(0);
    expect(got).toHaveLength(125);
    const all = got.flatMap((m) => (m.type === 'route-monitoring' ? m.update.announced : []));
    expect(all).toHaveLength(100000);
    expect(formatPrefix(all[0]!)).toBe('10.0.0.0/32');
    expect(formatPrefix(all[99999]!)).toBe('10.1.134.159/32');
    expect(all[99999]).toBe(packCidr(parseCidr('10.1.134.159/32')));
    expect(new Set(all).size).toBe(100000);
  });
});
