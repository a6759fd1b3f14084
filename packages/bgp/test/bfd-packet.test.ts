import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { BfdState, decodeControl, encodeControl, type ControlPacket } from '../src/bfd/packet.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });

/** Any packet our encoder may be given that a receiver must accept. */
const validPacket: fc.Arbitrary<ControlPacket> = fc
  .record({
    diag: fc.integer({ min: 0, max: 31 }),
    state: fc.constantFrom(BfdState.AdminDown, BfdState.Down, BfdState.Init, BfdState.Up),
    poll: fc.boolean(),
    final: fc.boolean(),
    cpi: fc.boolean(),
    demand: fc.boolean(),
    detectMult: fc.integer({ min: 1, max: 255 }),
    myDiscr: fc.integer({ min: 1, max: 0xffffffff }),
    yourDiscr: u32,
    desiredMinTxUs: u32,
    requiredMinRxUs: u32,
    requiredMinEchoRxUs: u32,
  })
  // Your Discriminator may be 0 only in Down and AdminDown (§6.8.6).
  .filter((p) => p.yourDiscr !== 0 || p.state === BfdState.Down || p.state === BfdState.AdminDown);

function reason(bytes: Uint8Array): string {
  const d = decodeControl(bytes);
  return d.ok ? 'accepted' : d.reason;
}

describe('BFD control packet codec', () => {
  it('decodes what it encodes, for every valid packet', () => {
    fc.assert(
      fc.property(validPacket, (p) => {
        const b = encodeControl(p);
        expect(b.length).toBe(24);
        expect(decodeControl(b)).toEqual({ ok: true, packet: p });
      }),
    );
  });

  it('lays the fields out as RFC 5880 §4.1 draws them', () => {
    const b = encodeControl({
      diag: 1,
      state: BfdState.Up,
      poll: true,
      final: false,
      cpi: false,
      demand: false,
      detectMult: 3,
      myDiscr: 0x01020304,
      yourDiscr: 0x0a0b0c0d,
      desiredMinTxUs: 100_000,
      requiredMinRxUs: 300_000,
      requiredMinEchoRxUs: 0,
    });
    expect(b.toString('hex')).toBe('21e0031801020304' + '0a0b0c0d' + '000186a0' + '000493e0' + '00000000');
  });

  it('accepts trailing bytes beyond the length field (a padded datagram)', () => {
    fc.assert(
      fc.property(validPacket, fc.uint8Array({ maxLength: 8 }), (p, tail) => {
        expect(decodeControl(Buffer.concat([encodeControl(p), tail])).ok).toBe(true);
      }),
    );
  });

  // Each discard rule of §6.8.6 that needs only the packet, applied to an otherwise valid packet.
  const mutations: Array<[string, (b: Buffer) => void, RegExp]> = [
    ['a version other than 1', (b) => (b[0] = (b[0]! & 0x1f) | (2 << 5)), /version/],
    ['a length field below 24', (b) => (b[3] = 23), /length field 23 too small/],
    ['a length field beyond the datagram', (b) => (b[3] = 25), /beyond/],
    ['a detect multiplier of 0', (b) => (b[2] = 0), /detect multiplier 0/],
    ['the multipoint bit', (b) => (b[1] = b[1]! | 0x01), /multipoint/],
    ['a zero My Discriminator', (b) => b.writeUInt32BE(0, 4), /my discriminator 0/],
    ['the authentication bit (we implement none)', (b) => ((b[1] = b[1]! | 0x04), (b[3] = 24)), /length field 24 too small|authentication/],
  ];
  for (const [what, mutate, why] of mutations) {
    it(`discards a packet with ${what}`, () => {
      fc.assert(
        fc.property(validPacket, (p) => {
          const b = encodeControl(p);
          mutate(b);
          expect(reason(b)).toMatch(why);
        }),
      );
    });
  }

  it('discards an authenticated packet of full length too', () => {
    const b = Buffer.concat([encodeControl({ ...sample(), state: BfdState.Down, yourDiscr: 0 }), Buffer.alloc(4)]);
    b[1] = b[1]! | 0x04;
    b[3] = 28;
    expect(reason(b)).toMatch(/authentication/);
  });

  it('discards a zero Your Discriminator unless the sender is Down or AdminDown', () => {
    for (const state of [BfdState.Init, BfdState.Up]) {
      expect(reason(encodeControl({ ...sample(), state, yourDiscr: 0 }))).toMatch(/your discriminator 0/);
    }
    for (const state of [BfdState.Down, BfdState.AdminDown]) expect(reason(encodeControl({ ...sample(), state, yourDiscr: 0 }))).toBe('accepted');
  });

  it('discards anything shorter than 24 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 23 }), (b) => {
        expect(reason(b)).toMatch(/short packet/);
      }),
    );
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const d = decodeControl(b);
        if (d.ok) {
          // What it accepts satisfies every rule above.
          expect(d.packet.detectMult).toBeGreaterThan(0);
          expect(d.packet.myDiscr).not.toBe(0);
          expect(b[0]! >> 5).toBe(1);
          expect(b[1]! & 0x05).toBe(0);
        }
      }),
    );
  });
});

function sample(): ControlPacket {
  return {
    diag: 0,
    state: BfdState.Up,
    poll: false,
    final: false,
    cpi: false,
    demand: false,
    detectMult: 3,
    myDiscr: 7,
    yourDiscr: 9,
    desiredMinTxUs: 300_000,
    requiredMinRxUs: 300_000,
    requiredMinEchoRxUs: 0,
  };
}
