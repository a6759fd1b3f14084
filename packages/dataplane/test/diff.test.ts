import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseCidr, parseIP, type IPAddr } from '@terrace/api';
import { blackholeRoute, diffRoutes, routeKey, routeSatisfies, unicastRoute, type NextHop, type Route } from '../src/index.js';

const c = parseCidr;
const ip = parseIP;

describe('diffRoutes', () => {
  const gw = ip('198.18.0.2');
  const a = unicastRoute(c('198.19.0.1/32'), { via: gw });
  const b = blackholeRoute(c('198.19.1.0/26'));
  const v6 = unicastRoute(c('2001:db8:1::/64'), { via: ip('2001:db8::2') });

  it('is empty when the kernel already has the desired routes', () => {
    expect(diffRoutes([a, b, v6], [v6, b, a])).toEqual({ replace: [], remove: [] });
    expect(diffRoutes([], [])).toEqual({ replace: [], remove: [] });
  });

  it('replaces missing or different routes and removes undesired ones', () => {
    const moved = unicastRoute(c('198.19.0.1/32'), { via: ip('198.18.0.3') });
    const d = diffRoutes([moved, b], [a, v6]);
    expect(d.replace).toEqual([moved, b]);
    expect(d.remove).toEqual([v6]);
  });

  it('keeps a route whose gateway the kernel resolved to a device', () => {
    const resolved = unicastRoute(c('198.19.0.1/32'), { via: gw, dev: 'va' });
    expect(diffRoutes([a], [resolved])).toEqual({ replace: [], remove: [] });
  });

  it('lets the last of several desired routes with one identity win', () => {
    const other = unicastRoute(c('198.19.0.1/32'), { via: ip('198.18.0.9') });
    expect(diffRoutes([a, other], [a]).replace).toEqual([other]);
  });

  it('handles 100,000 routes in linear time', () => {
    const desired: Route[] = [];
    const actual: Route[] = [];
    for (let i = 0; i < 100_000; i++) {
      const dst = { family: 4 as const, base: BigInt(0xc6120000 + i), prefix: 32 };
      desired.push(unicastRoute(dst, { via: gw }));
      actual.push(unicastRoute(dst, { via: gw, dev: 'va' }));
    }
    actual.push(b);
    // No timing assertion: a quadratic diff would not finish within the test timeout.
    const d = diffRoutes(desired, actual);
    expect(d.replace).toHaveLength(0);
    expect(d.remove).toEqual([b]);
  });
});

// A small world of routes, so that desired and actual sets collide often.
const dsts = ['198.19.0.0/26', '198.19.0.64/26', '198.19.1.1/32', '2001:db8:1::/64', '2001:db8:2::/64'].map((s) => c(s));
const gateways: Record<4 | 6, IPAddr[]> = {
  4: ['198.18.0.2', '198.18.0.3', '198.18.1.2'].map((s) => ip(s)),
  6: ['2001:db8::2', '2001:db8::3'].map((s) => ip(s)),
};
const devOf = (g: IPAddr): string => (g.family === 4 && g.value % 2n === 0n ? 'va' : 'vb');

const hopArb = (family: 4 | 6): fc.Arbitrary<NextHop> =>
  fc.record({
    gw: fc.constantFrom(...gateways[family]),
    withDev: fc.boolean(),
    weight: fc.constantFrom(1, 1, 2),
  }).map(({ gw, withDev, weight }) => ({ via: gw, ...(withDev ? { dev: devOf(gw) } : {}), weight }));

const routeArb: fc.Arbitrary<Route> = fc
  .record({
    dst: fc.constantFrom(...dsts),
    table: fc.constantFrom(undefined, 254, 100),
    metric: fc.constantFrom(undefined, 0, 100, 1024),
    blackhole: fc.boolean(),
    seed: fc.nat(),
  })
  .chain(({ dst, table, metric, blackhole }) => {
    const opts = { ...(table === undefined ? {} : { table }), ...(metric === undefined ? {} : { metric }) };
    if (blackhole) return fc.constant<Route>(blackholeRoute(dst, opts));
    return fc
      .uniqueArray(hopArb(dst.family), { minLength: 1, maxLength: 3, selector: (h) => h.via?.value })
      .map((hops): Route => unicastRoute(dst, hops, opts));
  });

/** What the kernel would hold after applying the diff: keyed by identity. */
function apply(actual: readonly Route[], diff: { replace: readonly Route[]; remove: readonly Route[] }): Map<string, Route> {
  const kernel = new Map(actual.map((r) => [routeKey(r), r]));
  for (const r of diff.remove) kernel.delete(routeKey(r));
  for (const r of diff.replace) kernel.set(routeKey(r), r);
  return kernel;
}

/** As the kernel shows a route: every gateway's device filled in. */
function resolved(r: Route): Route {
  if (r.kind !== 'unicast') return r;
  return { ...r, nextHops: r.nextHops.map((h) => (h.via && !h.dev ? { ...h, dev: devOf(h.via) } : h)) };
}

describe('diffRoutes properties', () => {
  it('applying the diff to actual yields desired', () => {
    fc.assert(
      fc.property(fc.array(routeArb, { maxLength: 12 }), fc.array(routeArb, { maxLength: 12 }), (desired, actualRaw) => {
        // The kernel holds one route per identity.
        const actual = [...new Map(actualRaw.map((r) => [routeKey(r), r])).values()];
        const diff = diffRoutes(desired, actual);
        const kernel = apply(actual, diff);
        const want = new Map(desired.map((r) => [routeKey(r), r]));
        expect([...kernel.keys()].sort()).toEqual([...want.keys()].sort());
        for (const [key, r] of want) expect(routeSatisfies(r, kernel.get(key) as Route)).toBe(true);
        // And once applied there is nothing left to do.
        expect(diffRoutes(desired, [...kernel.values()])).toEqual({ replace: [], remove: [] });
      }),
      { numRuns: 500 },
    );
  });

  it('never removes a desired identity and only replaces with desired routes', () => {
    fc.assert(
      fc.property(fc.array(routeArb, { maxLength: 12 }), fc.array(routeArb, { maxLength: 12 }), (desired, actual) => {
        const diff = diffRoutes(desired, actual);
        const keys = new Set(desired.map(routeKey));
        for (const r of diff.remove) expect(keys.has(routeKey(r))).toBe(false);
        for (const r of diff.replace) expect(desired).toContain(r);
      }),
      { numRuns: 300 },
    );
  });

  it('finds nothing to do when the kernel shows the desired routes with devices resolved', () => {
    fc.assert(
      fc.property(fc.array(routeArb, { maxLength: 12 }), (desiredRaw) => {
        const desired = [...new Map(desiredRaw.map((r) => [routeKey(r), r])).values()];
        expect(diffRoutes(desired, desired.map(resolved))).toEqual({ replace: [], remove: [] });
      }),
      { numRuns: 300 },
    );
  });
});
