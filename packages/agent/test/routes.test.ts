import { describe, expect, it } from '@jest/globals';
import { type PackedAddr, type PackedPrefix, formatAddr, formatPrefix, packCidr, packIP, parseCidr, parseIP } from '@terrace/api';
import { routeForLearned, type KernelRoute, type RouteContext } from '../src/routes.js';

// Prefixes and addresses as the speaker delivers them: packed.
const c = (s: string): PackedPrefix => packCidr(parseCidr(s));
const ips = (...s: string[]): PackedAddr[] => s.map((a) => packIP(parseIP(a)));
const ctx: RouteContext = { originated: new Set([c('10.244.0.0/26'), c('10.244.0.130/32')]), selfAddresses: new Set(ips('198.18.0.11', 'fd00::11')) };
const show = (r: KernelRoute | undefined): string =>
  r === undefined ? 'none' : r.kind !== 'unicast' ? `${r.kind} ${formatPrefix(r.dst)}` : `${formatPrefix(r.dst)} via ${r.nextHops.map((h) => (h.via ? formatAddr(h.via) : '?')).join(',')}`;

describe('routeForLearned', () => {
  it('routes a learned prefix via its next hop', () => {
    expect(show(routeForLearned(c('10.244.0.64/26'), ips('198.18.0.12'), ctx))).toBe('10.244.0.64/26 via 198.18.0.12');
  });

  it('makes one multipath route of several equal best paths, sorted and deduplicated', () => {
    expect(show(routeForLearned(c('10.244.1.0/26'), ips('198.18.0.13', '198.18.0.12', '198.18.0.13'), ctx))).toBe('10.244.1.0/26 via 198.18.0.12,198.18.0.13');
  });

  it('skips what we originate, paths via ourselves, and next hops of another family', () => {
    expect(show(routeForLearned(c('10.244.0.0/26'), ips('198.18.0.12'), ctx))).toBe('none');
    expect(show(routeForLearned(c('10.244.0.130/32'), ips('198.18.0.12'), ctx))).toBe('none');
    expect(show(routeForLearned(c('10.244.2.0/26'), ips('198.18.0.11'), ctx))).toBe('none');
    expect(show(routeForLearned(c('10.244.2.0/26'), ips('198.18.0.11', '198.18.0.14'), ctx))).toBe('10.244.2.0/26 via 198.18.0.14');
    expect(show(routeForLearned(c('fd10::/122'), ips('198.18.0.12'), ctx))).toBe('none');
    expect(show(routeForLearned(c('fd10::/122'), ips('fd00::12'), ctx))).toBe('fd10::/122 via fd00::12');
  });

  it('installs a /32 borrowed from our own block (it is more specific than the blackhole)', () => {
    expect(show(routeForLearned(c('10.244.0.5/32'), ips('198.18.0.12'), ctx))).toBe('10.244.0.5/32 via 198.18.0.12');
  });
});
