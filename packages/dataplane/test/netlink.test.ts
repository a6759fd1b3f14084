// rtnetlink encoding and decoding, byte by byte. (What the kernel makes of
// the requests is checked against iproute2 in relay.int.test.ts.)
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { addrBytesOf, formatIP, packCidr, packIP, parseCidr, parseIP } from '@terrace/api';
import { endianness } from 'node:os';
import { blackholeRoute, canonOf, deviceRoute, unicastRoute } from '../src/index.js';
import { decodeAnswers, encodeRoute, encodeRouteGeneric, MessageWriter, NoSuchDevice } from '../src/netlink.js';

const le = endianness() === 'LE';
const u16 = (b: Buffer, at: number): number => (le ? b.readUInt16LE(at) : b.readUInt16BE(at));
const u32 = (b: Buffer, at: number): number => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));

/** Attributes after the rtmsg, as [type, payload hex]. */
function attrs(b: Buffer, from = 28): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  let at = from;
  while (at + 4 <= b.length) {
    const len = u16(b, at);
    out.push([u16(b, at + 2), b.subarray(at + 4, at + len).toString('hex')]);
    at += (len + 3) & ~3;
  }
  return out;
}

function encode(op: 'add' | 'replace' | 'del', r: Parameters<typeof canonOf>[0], links = new Map<string, number>(), ack = false): Buffer {
  const w = new MessageWriter(64);
  encodeRoute(w, op, canonOf(r), 7, links, ack);
  return Buffer.from(w.bytes());
}

describe('encodeRoute', () => {
  it('writes a gateway route as ip route replace does', () => {
    const b = encode('replace', unicastRoute(parseCidr('198.19.0.1/32'), { via: parseIP('198.18.0.2') }));
    expect(u32(b, 0)).toBe(b.length);
    expect(b.length).toBe(16 + 12 + 8 + 8);
    expect(u16(b, 4)).toBe(24); // RTM_NEWROUTE
    expect(u16(b, 6)).toBe(0x1 | 0x400 | 0x100); // REQUEST | CREATE | REPLACE, no ACK
    expect(u32(b, 8)).toBe(7);
    // family, dst_len, src_len, tos, table, protocol, scope, type
    expect([...b.subarray(16, 24)]).toEqual([2, 32, 0, 0, 254, 201, 0, 1]);
    expect(u32(b, 24)).toBe(0);
    expect(attrs(b)).toEqual([
      [1, 'c6130001'], // RTA_DST
      [5, 'c6120002'], // RTA_GATEWAY
    ]);
  });

  it('marks add as exclusive, asks for an ack when told, and deletes by identity alone', () => {
    const r = unicastRoute(parseCidr('198.19.0.0/24'), { via: parseIP('198.18.0.2') }, { metric: 9 });
    expect(u16(encode('add', r, undefined, true), 6)).toBe(0x1 | 0x4 | 0x400 | 0x200);
    const d = encode('del', r);
    expect(u16(d, 4)).toBe(25); // RTM_DELROUTE
    expect(u16(d, 6)).toBe(0x1);
    expect([...d.subarray(16, 24)]).toEqual([2, 24, 0, 0, 254, 201, 255, 0]); // scope nowhere, type unspec
    expect(attrs(d)).toEqual([
      [1, 'c6130000'],
      [6, le ? '09000000' : '00000009'], // RTA_PRIORITY
    ]);
  });

  it('puts a table above 255 in RTA_TABLE, and writes reject kinds', () => {
    const b = encode('replace', blackholeRoute(parseCidr('2001:db8::/64'), { table: 70000 }));
    expect([...b.subarray(16, 24)]).toEqual([10, 64, 0, 0, 0, 201, 0, 6]);
    expect(attrs(b)[0]).toEqual([15, le ? '70110100' : '00011170']);
    expect(attrs(b)[1]).toEqual([1, '20010db8000000000000000000000000']);
  });

  it('writes a device route with link scope and the device index', () => {
    const b = encode('replace', deviceRoute(parseCidr('198.19.0.4/32'), 'vb'), new Map([['vb', 3]]));
    expect(b[22]).toBe(253);
    expect(attrs(b)).toEqual([
      [1, 'c6130004'],
      [4, le ? '03000000' : '00000003'],
    ]);
  });

  it('writes multipath next hops with weights, onlink and devices', () => {
    const r = unicastRoute(parseCidr('198.19.1.0/24'), [
      { via: parseIP('198.18.0.2'), weight: 3 },
      { via: parseIP('198.18.1.2'), dev: 'vb', onlink: true },
    ]);
    const b = encode('replace', r, new Map([['vb', 5]]));
    const [dst, mp] = attrs(b);
    expect(dst).toEqual([1, 'c6130100']);
    expect(mp?.[0]).toBe(9); // RTA_MULTIPATH
    const hops = Buffer.from(mp?.[1] as string, 'hex');
    // rtnexthop: len, flags, hops (weight - 1), ifindex; then RTA_GATEWAY
    expect(u16(hops, 0)).toBe(16);
    expect([hops[2], hops[3], u32(hops, 4)]).toEqual([0, 2, 0]);
    expect(hops.subarray(8, 16).toString('hex')).toBe((le ? '08000500' : '00080005') + 'c6120002');
    expect([hops[18], hops[19], u32(hops, 20)]).toEqual([4, 0, 5]);
  });

  it('writes an IPv6 gateway of an IPv4 route as RTA_VIA', () => {
    const b = encode('replace', unicastRoute(parseCidr('198.19.0.6/32'), { via: parseIP('fe80::1'), dev: 'va' }), new Map([['va', 2]]));
    const via = attrs(b).find(([t]) => t === 18);
    expect(via?.[1]).toBe((le ? '0a00' : '000a') + 'fe800000000000000000000000000001');
  });

  it('leaves nothing written when a device is missing', () => {
    const w = new MessageWriter(64);
    encodeRoute(w, 'add', canonOf(blackholeRoute(parseCidr('198.19.9.0/24'))), 1, new Map(), false);
    const before = w.len;
    expect(() => encodeRoute(w, 'add', canonOf(deviceRoute(parseCidr('198.19.0.4/32'), 'gone')), 2, new Map(), false)).toThrow(NoSuchDevice);
    expect(w.len).toBe(before);
  });

  it('names the metric of every IPv6 delete, the default included, and keeps IPv6 scope universe', () => {
    const d = encode('del', blackholeRoute(parseCidr('2001:db8::/64')));
    expect([...d.subarray(16, 24)]).toEqual([10, 64, 0, 0, 254, 201, 0, 0]);
    expect(attrs(d)[1]).toEqual([6, le ? '00040000' : '00000400']); // 1024
    const dev = encode('replace', deviceRoute(parseCidr('2001:db8:4::/64'), 'vb'), new Map([['vb', 3]]));
    expect(dev[22]).toBe(0);
  });

  it('treats IPv6 metric 0 as the 1024 the kernel installs', () => {
    const r = (metric?: number): string => canonOf(blackholeRoute(parseCidr('2001:db8::/64'), metric === undefined ? {} : { metric })).key;
    expect(r(0)).toBe(r());
    // The key of a route at the defaults is its destination's packed value itself.
    expect(canonOf(blackholeRoute(parseCidr('198.19.0.0/24'), { metric: 0 })).key).toBe(packCidr(parseCidr('198.19.0.0/24')));
  });

  it('writes the destination straight from its packed bytes', () => {
    const w = new MessageWriter(64);
    encodeRoute(w, 'add', canonOf(blackholeRoute(parseCidr('198.19.9.0/24'))), 1, new Map(), false);
    // nlmsghdr, rtmsg (dst_len 24), then RTA_DST: length 8, type 1, the address zero-padded.
    expect(w.bytes()[16 + 1]).toBe(24);
    expect(w.bytes().subarray(28, 36).toString('hex')).toBe(Buffer.from([8, 0, 1, 0, 198, 19, 9, 0]).toString('hex'));
  });

  it('writes the same bytes on its fast path (IPv4 via one IPv4 gateway) as the generic encoder, in a batch of any shape', () => {
    const v4 = fc.integer({ min: 0, max: 0xffffffff }).map((n) => BigInt(n));
    // Mostly absent, so that most changes take the fast path and the rest do not.
    const rarely = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
      fc.oneof({ arbitrary: fc.constant(undefined), weight: 6 }, { arbitrary: arb, weight: 1 });
    const change = fc.record({
      op: fc.constantFrom('add' as const, 'replace' as const, 'del' as const),
      dst: v4,
      len: fc.integer({ min: 0, max: 32 }),
      via: fc.oneof({ arbitrary: v4.map((v) => ({ family: 4 as const, value: v })), weight: 6 }, { arbitrary: fc.constant(parseIP('fe80::1')), weight: 1 }),
      // Each of these (but metric 0 and table 254) takes a route off the fast path.
      metric: rarely(fc.integer({ min: 0, max: 2000 })),
      table: rarely(fc.constantFrom(254, 100, 1000)),
      onlink: rarely(fc.constant(true)),
      dev: rarely(fc.constant('vb')),
      src: rarely(fc.constant(parseIP('198.18.0.10'))),
      seq: fc.integer({ min: 0, max: 0xffffffff }),
      ack: fc.boolean(),
    });
    const links = new Map([['vb', 3]]);
    fc.assert(
      fc.property(fc.array(change, { minLength: 1, maxLength: 12 }), (changes) => {
        // One writer each, several messages in a row: offsets, padding and the
        // last message's flags (which the relay sets the ack bit on) must agree too.
        // Writers are reused (reset) in production, so a byte either path
        // skips would carry an old message's: start both from junk.
        const fast = new MessageWriter(16);
        const generic = new MessageWriter(16);
        fast.buf = Buffer.alloc(4096, 0xaa);
        generic.buf = Buffer.alloc(4096, 0xaa);
        for (const ch of changes) {
          const mask = ch.len === 0 ? 0n : ((1n << BigInt(ch.len)) - 1n) << BigInt(32 - ch.len);
          const c = canonOf({
            ...unicastRoute({ family: 4, base: ch.dst & mask, prefix: ch.len }, { via: ch.via, ...(ch.onlink ? { onlink: true } : {}), ...(ch.dev ? { dev: ch.dev } : {}) }),
            ...(ch.metric === undefined ? {} : { metric: ch.metric }),
            ...(ch.table === undefined ? {} : { table: ch.table }),
            ...(ch.src === undefined ? {} : { src: packIP(ch.src) }),
          });
          encodeRoute(fast, ch.op, c, ch.seq, links, ch.ack);
          encodeRouteGeneric(generic, ch.op, c, ch.seq, links, ch.ack);
        }
        expect(fast.bytes().toString('hex')).toBe(generic.bytes().toString('hex'));
        expect(fast.flags()).toBe(generic.flags());
      }),
      { numRuns: 500 },
    );
  });

  it('encodes any IPv4 or IPv6 address to its network-order bytes', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const a = parseIP(text);
        const b = addrBytesOf(packIP(a));
        let v = 0n;
        for (const x of b) v = (v << 8n) | BigInt(x);
        expect(b.length).toBe(a.family === 4 ? 4 : 16);
        expect(v).toBe(a.value);
      }),
    );
  });
});

describe('decodeAnswers', () => {
  function error(seq: number, errno: number, msg?: string): Buffer {
    const w = new MessageWriter(64);
    // NLM_F_CAPPED, and NLM_F_ACK_TLVS when there is a message
    w.msgStart(2, 0x100 | (msg === undefined ? 0 : 0x200), seq);
    w.u32(-errno >>> 0);
    // the echoed request header
    w.u32(44);
    w.u16(24);
    w.u16(0x501);
    w.u32(seq);
    w.u32(0);
    if (msg !== undefined) w.attr(1, Buffer.from(msg + '\0'));
    w.msgEnd();
    return Buffer.from(w.bytes());
  }

  it('reads errno, sequence and the kernel\'s message from each answer', () => {
    const got = decodeAnswers(Buffer.concat([error(3, 101, 'Nexthop has invalid gateway'), error(4, 0)]));
    expect(got).toEqual([
      { kind: 'error', seq: 3, errno: 101, message: 'Nexthop has invalid gateway' },
      { kind: 'error', seq: 4, errno: 0, message: undefined },
    ]);
  });

  it('refuses a message that claims more bytes than were received', () => {
    const b = error(3, 17);
    expect(() => decodeAnswers(b.subarray(0, b.length - 4))).toThrow(/overruns/);
  });
});
