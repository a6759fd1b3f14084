import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  addrBytesOf,
  addrFamily,
  cidr,
  formatAddr,
  formatCidr,
  formatIP,
  formatPrefix,
  ipAddr,
  isHostPrefix,
  packCidr,
  packIP,
  parseCidr,
  prefixFamily,
  prefixLength,
  readPrefix,
  unpackAddr,
  unpackPrefix,
  writePrefixAddr,
  type IPFamily,
} from '../src/index.js';

const bits = (f: IPFamily): number => (f === 4 ? 32 : 128);

const cidrArb = fc.constantFrom<IPFamily>(4, 6).chain((family) =>
  fc
    .tuple(fc.bigInt({ min: 0n, max: (1n << BigInt(bits(family))) - 1n }), fc.integer({ min: 0, max: bits(family) }))
    .map(([v, len]) => {
      const host = BigInt(bits(family) - len);
      return cidr(family, (v >> host) << host, len);
    }),
);

const addrArb = fc.constantFrom<IPFamily>(4, 6).chain((family) => fc.bigInt({ min: 0n, max: (1n << BigInt(bits(family))) - 1n }).map((v) => ipAddr(family, v)));

describe('packed prefixes and addresses', () => {
  it('round-trip through Cidr and IPAddr, and print as formatCidr and formatIP do', () => {
    fc.assert(
      fc.property(cidrArb, addrArb, (c, a) => {
        const p = packCidr(c);
        expect(unpackPrefix(p)).toEqual(c);
        expect(formatPrefix(p)).toBe(formatCidr(c));
        expect(prefixFamily(p)).toBe(c.family);
        expect(prefixLength(p)).toBe(c.prefix);
        expect(isHostPrefix(p)).toBe(c.prefix === bits(c.family));
        const q = packIP(a);
        expect(unpackAddr(q)).toEqual(a);
        expect(formatAddr(q)).toBe(formatIP(a));
        expect(addrFamily(q)).toBe(a.family);
      }),
      { numRuns: 500 },
    );
  });

  it('is one value per prefix: equal strings exactly when the prefixes are equal', () => {
    fc.assert(
      fc.property(cidrArb, cidrArb, (a, b) => {
        const same = a.family === b.family && a.base === b.base && a.prefix === b.prefix;
        expect(packCidr(a) === packCidr(b)).toBe(same);
      }),
      { numRuns: 500 },
    );
  });

  it('orders addresses of one family as their values', () => {
    fc.assert(
      fc.property(addrArb, addrArb, (a, b) => {
        fc.pre(a.family === b.family);
        expect(packIP(a) < packIP(b)).toBe(a.value < b.value);
      }),
    );
  });

  it('reads a prefix from NLRI bytes, clearing host bits, and writes its full address back', () => {
    const p = readPrefix(4, 23, Buffer.from([198, 19, 0xff]), 0);
    expect(formatPrefix(p)).toBe('198.19.254.0/23');
    const out = Buffer.alloc(4, 0xaa);
    expect(writePrefixAddr(p, out, 0)).toBe(4);
    expect([...out]).toEqual([198, 19, 254, 0]);
    expect(p).toBe(packCidr(parseCidr('198.19.254.0/23')));
    expect([...addrBytesOf(packIP(ipAddr(6, 1n)))]).toEqual([...Array(15).fill(0), 1]);
  });
});
