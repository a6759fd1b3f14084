/**
 * Pools in reserved ranges are refused; the ranges a lab or a cluster uses
 * for pods are not.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { RESERVED_RANGES, cidr, cidrLast, familyBits, formatCidr, validateResource } from '../src/index.js';

const pool = (c: string): unknown => ({ apiVersion: 'terrace.dev/v1', kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: c, blockSize: c.includes(':') ? 128 : 32 } });

describe('reserved ranges', () => {
  it.each([
    '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '198.18.0.0/15', '192.0.2.0/24', '203.0.113.0/24',
    '126.255.255.0/24', '128.0.0.0/16', '169.253.0.0/16', '169.255.0.0/16', '223.255.255.0/24', '1.0.0.0/8',
    '2001:db8::/32', 'fd00::/8', 'fc00::/7', '2001:db8:1::/48', '::1:0:0/96', 'fe7f::/16', 'fec0::/10', 'fe00::/9',
  ])('%s is accepted', (c) => {
    expect(() => validateResource(pool(c))).not.toThrow();
  });

  it('refuses every CIDR inside a reserved range, and every CIDR covering one', () => {
    const inside = fc.tuple(fc.constantFrom(...RESERVED_RANGES), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.nat(128)).map(([r, offset, extra]) => {
      const bits = familyBits(r.cidr.family);
      const prefix = Math.min(bits, r.cidr.prefix + extra);
      const host = BigInt(bits - prefix);
      const base = ((r.cidr.base + (offset % (cidrLast(r.cidr) - r.cidr.base + 1n))) >> host) << host;
      return cidr(r.cidr.family, base, prefix);
    });
    const covering = fc.tuple(fc.constantFrom(...RESERVED_RANGES), fc.nat(128)).map(([r, less]) => {
      const prefix = Math.max(0, r.cidr.prefix - less);
      const host = BigInt(familyBits(r.cidr.family) - prefix);
      return cidr(r.cidr.family, (r.cidr.base >> host) << host, prefix);
    });
    fc.assert(
      fc.property(fc.oneof(inside, covering), (c) => {
        expect(() => validateResource(pool(formatCidr(c)))).toThrow(/which pods cannot use$/);
      }),
    );
  });
});
