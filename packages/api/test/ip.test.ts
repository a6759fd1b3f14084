import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  addressAt, cidrContainsCidr, cidrsOverlap, formatCidr, formatIP, ordinalOf, parseCidr, parseHostPort,
  parseIP, subnetAt, subnetCount, tryParseCidr, tryParseIP,
} from '../src/index.js';

describe('IP parsing and formatting', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['255.255.255.255', '255.255.255.255'],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['::ffff:1.2.3.4', '::ffff:102:304'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ])('%s → %s', (input, out) => {
    expect(formatIP(parseIP(input))).toBe(out);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-1', ':::', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', 'a.b.c.d'])(
    'rejects %j',
    (input) => {
      expect(tryParseIP(input)).toBeUndefined();
    },
  );

  it('round-trips every IPv6 value', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (v) => {
        const s = formatIP({ family: 6, value: v });
        expect(parseIP(s).value).toBe(v);
      }),
    );
  });

  it('round-trips every IPv4 value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => {
        const s = formatIP({ family: 4, value: BigInt(n) });
        expect(parseIP(s).value).toBe(BigInt(n));
      }),
    );
  });
});

describe('CIDRs', () => {
  it('requires masked CIDRs and suggests the fix', () => {
    expect(() => parseCidr('10.0.0.1/24')).toThrow('"10.0.0.1/24" has host bits set; did you mean 10.0.0.0/24?');
    expect(formatCidr(parseCidr('10.0.0.1/24', false))).toBe('10.0.0.0/24');
    expect(tryParseCidr('10.0.0.0/33')).toBeUndefined();
    expect(tryParseCidr('2001:db8::/129')).toBeUndefined();
    expect(tryParseCidr('10.0.0.0')).toBeUndefined();
  });

  it('computes overlap and containment', () => {
    const a = parseCidr('10.244.0.0/16');
    expect(cidrsOverlap(a, parseCidr('10.244.0.0/15'))).toBe(true);
    expect(cidrsOverlap(a, parseCidr('10.245.0.0/16'))).toBe(false);
    expect(cidrsOverlap(a, parseCidr('2001:db8::/32'))).toBe(false);
    expect(cidrContainsCidr(a, parseCidr('10.244.3.64/26'))).toBe(true);
    expect(cidrContainsCidr(parseCidr('10.244.3.64/26'), a)).toBe(false);
  });

  it('addresses blocks and ordinals the same way for IPv4 and IPv6', () => {
    const v4 = parseCidr('198.19.0.0/16');
    expect(subnetCount(v4, 26)).toBe(1024n);
    const b = subnetAt(v4, 26, 3n);
    expect(formatCidr(b)).toBe('198.19.0.192/26');
    expect(formatIP(addressAt(b, 5))).toBe('198.19.0.197');
    expect(ordinalOf(b, parseIP('198.19.0.197'))).toBe(5);
    expect(ordinalOf(b, parseIP('198.19.1.0'))).toBe(-1);
    const v6 = parseCidr('fd00:10::/48');
    const b6 = subnetAt(v6, 122, 1n);
    expect(formatCidr(b6)).toBe('fd00:10::40/122');
    expect(formatIP(addressAt(b6, 63))).toBe('fd00:10::7f');
  });

  it('parses peer addresses with optional ports', () => {
    expect(parseHostPort('10.0.0.1')?.port).toBeUndefined();
    expect(parseHostPort('10.0.0.1:179')?.port).toBe(179);
    expect(parseHostPort('2001:db8::1')?.port).toBeUndefined();
    expect(parseHostPort('[2001:db8::1]:1179')?.port).toBe(1179);
    expect(parseHostPort('10.0.0.1:0')).toBeUndefined();
    expect(parseHostPort('10.0.0.1:70000')).toBeUndefined();
    expect(parseHostPort('host:179')).toBeUndefined();
  });
});
