// Parsing `ip -N route show proto 201 table all` text as iproute2 6.1 prints it.
import { describe, expect, it } from '@jest/globals';
import { parseCidr, parseIP } from '@terrace/api';
import { blackholeRoute, deviceRoute, parseRouteDump, routeKey, routeSatisfies, unicastRoute, type Route } from '../src/index.js';
import { canonMatches, canonOf, isModelled, routeFromCanon } from '../src/canon.js';

const c = parseCidr;
const ip = parseIP;

const V4_DUMP = [
  '198.19.0.4 via 198.18.1.2 dev vb table 100 ',
  '198.19.0.1 via 198.18.0.2 dev va ',
  '198.19.0.2 ',
  '\tnexthop via 198.18.0.2 dev va weight 1 ',
  '\tnexthop via 198.18.1.2 dev vb weight 3 ',
  '198.19.0.3 dev va scope 253 ',
  '198.19.0.4 via 198.18.0.2 dev va src 198.18.0.1 metric 100 ',
  '198.19.0.5 via 198.18.0.2 dev va onlink linkdown ',
  '198.19.0.6 via inet6 fe80::1 dev va ',
  '6 198.19.1.0/26 ',
  '7 198.19.2.0/26 ',
  '9 198.19.3.0/26 ',
  'default via 198.18.0.254 dev va table 255 ',
  '',
].join('\n');

const V6_DUMP = [
  '2001:db8:1::/64 via 2001:db8::2 dev va metric 1024 pref medium',
  '2001:db8:2::/64 metric 1024 pref medium',
  '\tnexthop via 2001:db8::2 dev va weight 1 ',
  '\tnexthop via 2001:db8::3 dev va weight 1 ',
  '6 2001:db8:3::/64 dev lo metric 1024 pref medium',
  '2001:db8:4::5 dev va metric 7 pref medium',
  '::ffff:198.19.0.0/120 via 2001:db8::2 dev va metric 1024 pref medium',
  'default via fe80::1 dev va metric 1024 expires 300sec pref medium',
].join('\n');

function routes(text: string, family: 4 | 6): Route[] {
  return parseRouteDump(text, family).filter(isModelled).map(routeFromCanon);
}

describe('parseRouteDump', () => {
  it('reads IPv4 plain, multipath, device, reject and foreign-table routes', () => {
    const r = routes(V4_DUMP, 4);
    expect(r.map(routeKey)).toEqual([
      '198.19.0.4 table 100 metric 0',
      '198.19.0.1',
      '198.19.0.2',
      '198.19.0.3',
      '198.19.0.4 table 254 metric 100',
      '198.19.0.5',
      '198.19.0.6',
      '198.19.1.0/26',
      '198.19.2.0/26',
      '0.0.0.0/0 table 255 metric 0',
    ]);
    const gw = ip('198.18.0.2');
    const expected: [number, Route][] = [
      [0, unicastRoute(c('198.19.0.4/32'), { via: ip('198.18.1.2'), dev: 'vb' }, { table: 100 })],
      [1, unicastRoute(c('198.19.0.1/32'), { via: gw })],
      [2, unicastRoute(c('198.19.0.2/32'), [{ via: ip('198.18.1.2'), dev: 'vb', weight: 3 }, { via: gw }])],
      [3, deviceRoute(c('198.19.0.3/32'), 'va')],
      [4, unicastRoute(c('198.19.0.4/32'), { via: gw }, { metric: 100, src: ip('198.18.0.1') })],
      [5, unicastRoute(c('198.19.0.5/32'), { via: gw, onlink: true })],
      [6, unicastRoute(c('198.19.0.6/32'), { via: ip('fe80::1') })],
      [7, blackholeRoute(c('198.19.1.0/26'))],
      [8, { kind: 'unreachable', dst: c('198.19.2.0/26') }],
    ];
    for (const [i, want] of expected) expect([i, routeSatisfies(want, r[i] as Route)]).toEqual([i, true]);
    // A route type we do not model (9: throw) is kept out of Routes, and as a
    // canonical form never satisfies a desired route, so sync replaces or removes it.
    const thrown = parseRouteDump(V4_DUMP, 4)[9];
    expect(thrown?.dst).toBe('198.19.3.0/26');
    expect(thrown && canonMatches(canonOf(blackholeRoute(c('198.19.3.0/26'))), thrown)).toBe(false);
  });

  it('reads IPv6 routes, ignoring pref/expires and the lo device of a blackhole', () => {
    const r = routes(V6_DUMP, 6);
    expect(r.map(routeKey)).toEqual([
      '2001:db8:1::/64',
      '2001:db8:2::/64',
      '2001:db8:3::/64',
      '2001:db8:4::5 table 254 metric 7',
      '::ffff:c613:0/120',
      '::/0',
    ]);
    expect(routeSatisfies(unicastRoute(c('2001:db8:2::/64'), [{ via: ip('2001:db8::3') }, { via: ip('2001:db8::2') }]), r[1] as Route)).toBe(true);
    expect(routeSatisfies(blackholeRoute(c('2001:db8:3::/64')), r[2] as Route)).toBe(true);
    expect(routeSatisfies(deviceRoute(c('2001:db8:4::5/128'), 'va', { metric: 7 }), r[3] as Route)).toBe(true);
    expect(routeSatisfies(unicastRoute(c('::/0'), { via: ip('fe80::1'), dev: 'va' }), r[5] as Route)).toBe(true);
  });

  it('returns nothing for an empty dump', () => {
    expect(parseRouteDump('', 4)).toEqual([]);
    expect(parseRouteDump('\n', 6)).toEqual([]);
  });
});
