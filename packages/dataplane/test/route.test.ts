import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { TerraceError, cidr as makeCidr, formatCidr, formatIP, packCidr, parseCidr, parseIP, type PackedPrefix } from '@terrace/api';
import {
  blackholeRoute,
  deleteLine,
  deviceRoute,
  formatRoute,
  replaceLine,
  routeAttrs,
  routeIdKey,
  routeKey,
  routeSatisfies,
  unicastRoute,
  type Route,
} from '../src/index.js';
import { dstText } from '../src/canon.js';

const c = parseCidr;
const ip = parseIP;
/** A destination's packed value: the key of a route to it at the defaults. */
const pk = (s: string): PackedPrefix => packCidr(parseCidr(s));

describe('routeKey', () => {
  it('is the destination alone (its packed value, as the BGP feed keys it) in the main table with the default metric', () => {
    expect(routeKey(unicastRoute(c('198.19.0.1/32'), { via: ip('198.18.0.2') }))).toBe(pk('198.19.0.1/32'));
    expect(routeKey(blackholeRoute(c('2001:db8:3::/64')))).toBe(pk('2001:db8:3::/64'));
  });

  it('treats the family default metric (0 for IPv4, 1024 for IPv6) and the main table as unset', () => {
    const v4 = c('198.19.0.0/26');
    const v6 = c('2001:db8:1::/64');
    expect(routeKey(blackholeRoute(v4, { metric: 0, table: 254 }))).toBe(routeKey(blackholeRoute(v4)));
    expect(routeKey(blackholeRoute(v6, { metric: 1024 }))).toBe(routeKey(blackholeRoute(v6)));
    // The kernel installs an IPv6 route asked at metric 0 at 1024.
    expect(routeKey(blackholeRoute(v6, { metric: 0 }))).toBe(routeKey(blackholeRoute(v6)));
  });

  it('tells routes apart by table and metric, not by what they do', () => {
    const dst = c('198.19.0.4/32');
    const a = unicastRoute(dst, { via: ip('198.18.0.2') });
    expect(routeKey(unicastRoute(dst, { via: ip('198.18.1.2') }))).toBe(routeKey(a));
    expect(routeKey(blackholeRoute(dst))).toBe(routeKey(a));
    expect(routeKey(unicastRoute(dst, { via: ip('198.18.0.2') }, { table: 100 }))).toBe(`${pk('198.19.0.4/32')} table 100 metric 0`);
    expect(routeKey(unicastRoute(dst, { via: ip('198.18.0.2') }, { metric: 7 }))).toBe(`${pk('198.19.0.4/32')} table 254 metric 7`);
  });

  it('matches routeIdKey for ids and bare destinations', () => {
    const dst = c('2001:db8:1::/64');
    expect(routeIdKey(dst)).toBe(routeKey(blackholeRoute(dst)));
    expect(routeIdKey({ dst, table: 9, metric: 5 })).toBe(routeKey(blackholeRoute(dst, { table: 9, metric: 5 })));
  });
});

describe('routeAttrs', () => {
  it('ignores the order next hops are given in', () => {
    const dst = c('198.19.0.2/32');
    const a = unicastRoute(dst, [{ via: ip('198.18.0.2') }, { via: ip('198.18.1.2'), weight: 2 }]);
    const b = unicastRoute(dst, [{ via: ip('198.18.1.2'), weight: 2 }, { via: ip('198.18.0.2') }]);
    expect(routeAttrs(a)).toBe(routeAttrs(b));
  });

  it('differs for other gateways, weights, devices, sources and kinds', () => {
    const dst = c('198.19.0.2/32');
    const base = routeAttrs(unicastRoute(dst, [{ via: ip('198.18.0.2') }, { via: ip('198.18.1.2') }]));
    const others: Route[] = [
      unicastRoute(dst, [{ via: ip('198.18.0.2') }, { via: ip('198.18.1.3') }]),
      unicastRoute(dst, [{ via: ip('198.18.0.2') }, { via: ip('198.18.1.2'), weight: 3 }]),
      unicastRoute(dst, [{ via: ip('198.18.0.2') }, { via: ip('198.18.1.2'), dev: 'vb' }]),
      unicastRoute(dst, [{ via: ip('198.18.0.2') }, { via: ip('198.18.1.2') }], { src: ip('198.18.0.1') }),
      unicastRoute(dst, { via: ip('198.18.0.2') }),
      blackholeRoute(dst),
      deviceRoute(dst, 'va'),
    ];
    const all = new Set([base, ...others.map(routeAttrs)]);
    expect(all.size).toBe(others.length + 1);
  });

  it('ignores the weight of a single next hop (the kernel keeps none)', () => {
    const dst = c('198.19.0.2/32');
    expect(routeAttrs(unicastRoute(dst, { via: ip('198.18.0.2'), weight: 5 }))).toBe(routeAttrs(unicastRoute(dst, { via: ip('198.18.0.2') })));
  });
});

describe('routeSatisfies', () => {
  it('accepts the device the kernel resolved a gateway to when the route named none', () => {
    const dst = c('198.19.0.1/32');
    const want = unicastRoute(dst, [{ via: ip('198.18.0.2') }, { via: ip('198.18.1.2'), dev: 'vb' }]);
    const have = unicastRoute(dst, [{ via: ip('198.18.1.2'), dev: 'vb' }, { via: ip('198.18.0.2'), dev: 'va' }]);
    expect(routeSatisfies(want, have)).toBe(true);
    const wrongDev = unicastRoute(dst, [{ via: ip('198.18.1.2'), dev: 'va' }, { via: ip('198.18.0.2'), dev: 'va' }]);
    expect(routeSatisfies(want, wrongDev)).toBe(false);
    expect(routeSatisfies(unicastRoute(dst, { via: ip('198.18.0.2'), dev: 'vb' }), unicastRoute(dst, { via: ip('198.18.0.2'), dev: 'va' }))).toBe(false);
  });

  it('needs the same identity', () => {
    const r = blackholeRoute(c('198.19.0.0/26'));
    expect(routeSatisfies(r, blackholeRoute(c('198.19.0.0/26'), { table: 5 }))).toBe(false);
  });
});

describe('ip batch lines', () => {
  it('renders every kind with our protocol number, IPv4 and IPv6 alike', () => {
    const gw = ip('198.18.0.2');
    expect(replaceLine(unicastRoute(c('198.19.0.1/32'), { via: gw }))).toBe('route replace 198.19.0.1 proto 201 via 198.18.0.2');
    expect(replaceLine(deviceRoute(c('198.19.0.3/32'), 'veth1234'))).toBe('route replace 198.19.0.3 proto 201 dev veth1234');
    expect(replaceLine(blackholeRoute(c('2001:db8:3::/64')))).toBe('route replace blackhole 2001:db8:3::/64 proto 201');
    expect(replaceLine(unicastRoute(c('2001:db8:2::/64'), [{ via: ip('2001:db8::3'), weight: 2 }, { via: ip('2001:db8::2'), dev: 'va' }]))).toBe(
      'route replace 2001:db8:2::/64 proto 201 nexthop via 2001:db8::2 dev va nexthop via 2001:db8::3 weight 2',
    );
    expect(replaceLine(unicastRoute(c('198.19.0.4/32'), { via: gw, dev: 'va', onlink: true }, { table: 100, metric: 5, src: ip('198.18.0.1') }))).toBe(
      'route replace 198.19.0.4 proto 201 table 100 metric 5 src 198.18.0.1 via 198.18.0.2 dev va onlink',
    );
    expect(replaceLine(unicastRoute(c('198.19.0.5/32'), { via: ip('fe80::1'), dev: 'va' }))).toBe(
      'route replace 198.19.0.5 proto 201 via inet6 fe80::1 dev va',
    );
  });

  it('deletes by identity and protocol only', () => {
    expect(deleteLine(unicastRoute(c('198.19.0.4/32'), { via: ip('198.18.0.2') }, { table: 100, metric: 5 }))).toBe(
      'route del 198.19.0.4 proto 201 table 100 metric 5',
    );
    expect(deleteLine(blackholeRoute(c('2001:db8:3::/64')))).toBe('route del 2001:db8:3::/64 proto 201');
    expect(formatRoute(blackholeRoute(c('198.19.0.0/26')))).toBe('blackhole 198.19.0.0/26 proto 201');
  });
});

describe('validation', () => {
  const dst = c('198.19.0.1/32');
  const bad: [string, Route, RegExp][] = [
    ['no next hop', unicastRoute(dst, []), /nextHops is empty/],
    ['a next hop with neither gateway nor device', unicastRoute(dst, [{}]), /nextHops\[0\] needs a gateway/],
    ['a device name with a space', deviceRoute(dst, 'veth 1'), /nextHops\[0\]\.dev "veth 1" is not a valid interface name/],
    ['a device name too long', deviceRoute(dst, 'x'.repeat(16)), /is not a valid interface name/],
    ['a zero weight', unicastRoute(dst, [{ via: ip('198.18.0.2'), weight: 0 }, { via: ip('198.18.0.3') }]), /weight 0 must be/],
    ['table 0', blackholeRoute(dst, { table: 0 }), /table 0 must be/],
    ['a negative metric', blackholeRoute(dst, { metric: -1 }), /metric -1 must be/],
    ['a source of the other family', blackholeRoute(dst, { src: ip('2001:db8::1') }), /src 2001:db8::1 is not of the destination's family/],
  ];
  it.each(bad)('refuses %s with a TerraceError naming the route and field', (_what, route, message) => {
    expect(() => routeKey(route)).toThrow(TerraceError);
    expect(() => routeKey(route)).toThrow(message);
    expect(() => routeKey(route)).toThrow(/^route 198\.19\.0\.1\/32: /);
  });
});

describe('dstText', () => {
  it('prints what formatCidr prints, a host route without its length', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), fc.integer({ min: 0, max: 32 }), (v, prefix) => {
        const base = prefix === 0 ? 0n : (v >> BigInt(32 - prefix)) << BigInt(32 - prefix);
        const cidr = makeCidr(4, base, prefix);
        const want = formatCidr(cidr);
        expect(dstText(packCidr(cidr))).toBe(prefix === 32 ? want.slice(0, -3) : want);
      }),
    );
    expect(dstText(pk('2001:db8::1/128'))).toBe('2001:db8::1');
    expect(dstText(pk('2001:db8::/64'))).toBe('2001:db8::/64');
  });

  it('renders gateways and sources as formatIP does', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), (v) => {
        const gw = { family: 4 as const, value: v };
        expect(replaceLine(unicastRoute(c('198.19.0.0/24'), { via: gw }, { src: gw }))).toBe(
          `route replace 198.19.0.0/24 proto 201 src ${formatIP(gw)} via ${formatIP(gw)}`,
        );
      }),
    );
  });
});
