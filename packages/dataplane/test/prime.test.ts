import { describe, expect, it } from '@jest/globals';
import { TerraceError, parseCidr, parseIP } from '@terrace/api';
import { blackholeRoute, deviceRoute, primeRouteEncoding, unicastRoute } from '../src/index.js';

describe('primeRouteEncoding', () => {
  it('encodes routes via gateways and reject routes, and skips device routes (their index needs the kernel)', () => {
    const routes = [
      unicastRoute(parseCidr('198.18.128.0/32'), { via: parseIP('198.18.255.1') }),
      unicastRoute(parseCidr('2001:db8::/64'), [{ via: parseIP('2001:db8:1::1') }, { via: parseIP('2001:db8:1::2') }]),
      blackholeRoute(parseCidr('198.19.0.0/26')),
      deviceRoute(parseCidr('198.19.0.5/32'), 'cali0'),
    ];
    expect(primeRouteEncoding(routes)).toBe(3);
  });

  it('encodes a table larger than its scratch buffer', () => {
    const routes = Array.from({ length: 5000 }, (_, i) => unicastRoute(parseCidr(`198.18.${128 + (i >> 8)}.${i & 255}/32`), { via: parseIP('198.18.255.1') }));
    expect(primeRouteEncoding(routes)).toBe(5000);
  });

  it('validates as route sync does: an invalid route throws', () => {
    expect(() => primeRouteEncoding([unicastRoute(parseCidr('198.18.128.0/32'), [])])).toThrow(TerraceError);
  });
});
