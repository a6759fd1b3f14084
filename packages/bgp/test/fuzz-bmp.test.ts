/**
 * Fuzzing the BMP stream reader and the BGP UPDATE parser (bmp/parse.ts),
 * which read what gobgpd sends the agent's station: arbitrary bytes, and
 * valid UPDATEs (assembled with bmp-bytes.ts) with random edits, whole and
 * cut into random chunks. Every input is parsed, or refused with a one-line
 * TerraceError within a second; a broken stream stays broken; whatever
 * parses holds only prefixes that fit their family.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { TerraceError, unpackPrefix } from '@terrace/api';
import { applyEdits, bounded, editsArb } from '@terrace/testkit';
import { BmpReader, parseBgpUpdate } from '../src/bmp/parse.js';
import type { BgpUpdate, BmpMessage } from '../src/bmp/types.js';
import { attr, bgpUpdate, cat, ipBytes, prefix, u16, u32, u8 } from './bmp-bytes.js';

const isTerraceError = (e: unknown): boolean => e instanceof TerraceError;

// ---- valid messages, built at random ----

const v4Prefix = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 8, max: 32 })).map(([a, b, len]) => prefix(`198.${18 + (a & 1)}.${b}.${a}/${len}`));
const v6Prefix = fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 16, max: 128 })).map(([x, len]) => prefix(`2001:db8:${x.toString(16)}::${x.toString(16)}/${len}`));
const asPath = fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.array(fc.integer({ min: 1, max: 4294967295 }), { maxLength: 5 })), { maxLength: 3 }).map((segs) =>
  attr(2, cat(...segs.map(([t, asns]) => cat(u8(t), u8(asns.length), ...asns.map(u32))))),
);
const mpReach6 = fc.array(v6Prefix, { minLength: 1, maxLength: 6 }).map((ps) => attr(14, cat(u16(2), u8(1), u8(16), ipBytes('2001:db8::1'), u8(0), ...ps), 0x80));
const mpUnreach6 = fc.array(v6Prefix, { maxLength: 6 }).map((ps) => attr(15, cat(u16(2), u8(1), ...ps), 0x80));

const validUpdate: fc.Arbitrary<Buffer> = fc.oneof(
  // IPv4: NLRI with ORIGIN, AS_PATH, NEXT_HOP and optional MED, LOCAL_PREF, CLUSTER_LIST
  fc
    .record({
      withdrawn: fc.array(v4Prefix, { maxLength: 6 }),
      nlri: fc.array(v4Prefix, { maxLength: 6 }),
      origin: fc.integer({ min: 0, max: 2 }),
      path: asPath,
      extra: fc.subarray([attr(4, u32(10), 0x80), attr(5, u32(100)), attr(10, cat(u32(1), u32(2)), 0x80), attr(8, u32(0xfde80001), 0xc0), attr(9, u32(7), 0x80)]),
    })
    .map((r) => bgpUpdate({ withdrawn: cat(...r.withdrawn), nlri: cat(...r.nlri), attrs: r.nlri.length === 0 ? [] : [attr(1, u8(r.origin)), r.path, attr(3, ipBytes('198.18.0.2')), ...r.extra] })),
  // IPv6: MP_REACH / MP_UNREACH
  fc.tuple(asPath, mpReach6).map(([path, mp]) => bgpUpdate({ attrs: [attr(1, u8(0)), path, mp] })),
  mpUnreach6.map((mp) => bgpUpdate({ attrs: [mp] })),
  // End-of-RIB markers
  fc.constant(bgpUpdate()),
);

function peerHeader(v6: boolean, flags: number): Buffer {
  const addr = Buffer.alloc(16);
  ipBytes(v6 ? '2001:db8::11' : '198.18.0.11').copy(addr, v6 ? 0 : 12);
  return cat(u8(0), u8(flags | (v6 ? 0x80 : 0)), Buffer.alloc(8), addr, u32(65011), ipBytes('198.18.0.11'), u32(1700000000), u32(0));
}
const bmp = (type: number, body: Buffer): Buffer => cat(u8(3), u32(6 + body.length), u8(type), body);
const validBmp: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(validUpdate, fc.boolean(), fc.constantFrom(0, 0x40, 0x20)).map(([upd, v6, flags]) => bmp(0, cat(peerHeader(v6, flags), upd))),
  fc.boolean().map((v6) => bmp(3, cat(peerHeader(v6, 0), Buffer.alloc(20)))),
  fc.boolean().map((v6) => bmp(2, cat(peerHeader(v6, 0), u8(2), u16(7)))),
  fc.constant(bmp(4, cat(u16(2), u16(5), Buffer.from('gobgp')))),
  fc.constant(bmp(1, cat(peerHeader(false, 0), u32(0)))),
);
const validStream = fc.array(validBmp, { minLength: 1, maxLength: 5 }).map((ms) => cat(...ms));

/** Edits that hit what a parser checks: single bytes, and runs of 0x00 / 0xff. */
const BYTE_PIECES = ['\x00', '\xff', '\x00\x00', '\xff\xff', '\x02', '\x03', '\x0e', '\x0f', '\x10', '\x40', '\x80', '\x20'].map((s) => Buffer.from(s, 'latin1').toString('latin1'));
const byteEdits = editsArb(fc.constantFrom(...BYTE_PIECES), 3);
/** applyEdits inserts text as UTF-8; these pieces must stay single bytes. */
const edit = (b: Buffer, edits: Parameters<typeof applyEdits>[1]): Buffer =>
  applyEdits(b, edits.map((e) => (e.op === 'insert' ? { op: 'set' as const, at: e.at, byte: e.text.charCodeAt(0) } : e)));

// ---- what every outcome must satisfy ----

function sane(u: BgpUpdate): void {
  for (const p of [...u.withdrawn, ...u.announced]) {
    const { family, base, prefix: len } = unpackPrefix(p);
    expect(len).toBeLessThanOrEqual(family === 4 ? 32 : 128);
    // Host bits are cleared, as the kernel wants a network address.
    expect(base & ((1n << BigInt((family === 4 ? 32 : 128) - len)) - 1n)).toBe(0n);
  }
  if (u.announced.length > 0) expect(u.attrs).toBeDefined();
}

function saneMessage(m: BmpMessage): void {
  if (m.type === 'route-monitoring') sane(m.update);
  if (m.type === 'unreadable') expect(m.error).toBeInstanceOf(TerraceError);
}

/** Feeds `stream` in the given cuts; a throw must repeat on every later push. */
function feed(stream: Buffer, cuts: number[]): void {
  const reader = new BmpReader();
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...points, stream.length]) {
    const out = bounded(() => reader.push(stream.subarray(from, to)), isTerraceError);
    from = to;
    if (!out.ok) {
      const again = bounded(() => reader.push(Buffer.alloc(1)), isTerraceError);
      expect(again.ok ? undefined : again.error).toBe(out.error);
      return;
    }
    out.value.forEach(saneMessage);
  }
}

const cuts = fc.array(fc.nat({ max: 4096 }), { maxLength: 4 });

describe('parseBgpUpdate under fuzzing', () => {
  it('any bytes: parsed or refused in one line', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (b, as4) => void bounded(() => parseBgpUpdate(Buffer.from(b), as4), isTerraceError)), { numRuns: 500 });
  });

  it('valid UPDATEs parse', () => {
    fc.assert(fc.property(validUpdate, (u) => sane(parseBgpUpdate(u, true))), { numRuns: 200 });
  });

  it('valid UPDATEs with random edits: parsed or refused in one line, never anything else', () => {
    fc.assert(
      fc.property(validUpdate, byteEdits, fc.boolean(), (u, edits, as4) => {
        const out = bounded(() => parseBgpUpdate(edit(u, edits), as4), isTerraceError);
        if (out.ok) sane(out.value);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('truncated fields', () => {
  // Edits alone rarely make a parse succeed on bytes that are not there: cut
  // the last prefix short (and fix the BGP length) and the parser must say so.
  it('an UPDATE whose last prefix lost a byte is refused', () => {
    const nlri = fc.array(v4Prefix, { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(nlri, (ps) => {
        const u = bgpUpdate({ nlri: cat(...ps), attrs: [attr(1, u8(0)), attr(2, Buffer.alloc(0)), attr(3, ipBytes('198.18.0.2'))] });
        const cut = Buffer.from(u.subarray(0, u.length - 1));
        cut.writeUInt16BE(cut.length, 16);
        const out = bounded(() => parseBgpUpdate(cut, true), isTerraceError);
        expect(out.ok ? 'parsed' : out.error.message).toMatch(/^bgp\.nlri: prefix \/\d+ overruns its field$/);
      }),
      { numRuns: 100 },
    );
  });
});

describe('BmpReader under fuzzing', () => {
  it('any bytes, in any chunks', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), cuts, (b, c) => feed(Buffer.from(b), c)), { numRuns: 300 });
  });

  it('bytes that start like BMP (version 3, a plausible length)', () => {
    const plausible = fc.tuple(fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 120 })).map(([len, type, rest]) => cat(u8(3), u32(len), u8(type), Buffer.from(rest)));
    fc.assert(fc.property(plausible, cuts, (b, c) => feed(b, c)), { numRuns: 500 });
  });

  it('valid streams with random edits, in any chunks', () => {
    fc.assert(fc.property(validStream, byteEdits, cuts, (s, edits, c) => feed(edit(s, edits), c)), { numRuns: 1000 });
  });

  it('a valid stream reads the same whatever the chunks', () => {
    fc.assert(
      fc.property(validStream, cuts, (s, c) => {
        const whole = new BmpReader().push(s);
        const r = new BmpReader();
        const parts: BmpMessage[] = [];
        let from = 0;
        for (const to of [...new Set(c.map((x) => x % (s.length + 1)))].sort((a, b) => a - b).concat(s.length)) {
          parts.push(...r.push(s.subarray(from, to)));
          from = to;
        }
        expect(parts).toEqual(whole);
        expect(r.pending).toBe(0);
        whole.forEach(saneMessage);
      }),
      { numRuns: 200 },
    );
  });
});
