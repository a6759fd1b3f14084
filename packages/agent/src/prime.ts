/**
 * Primes the learned-route path at start-up: a synthetic feed (an eBGP
 * router's /32s, two nodes' /26 blocks as ECMP, IPv6 /64s, a withdrawal and
 * a peer going down) goes through the BMP reader and a scratch Adj-RIB-In,
 * the agent's learned-route bookkeeping (a scratch LearnedRoutes), and route
 * sync's canonical form and rtnetlink encoding. The first real table, after
 * a node or agent restart, then runs in compiled code rather than in V8's
 * interpreter. Nothing reaches gobgpd,
 * the kernel or any state the agent keeps. Costs 0.1–0.3 CPU s on each
 * start (docs/BENCHMARKS.md): more CPU in all, for a faster first table.
 */
import { primeBmpPath, syntheticFeed } from '@terrace/bgp';
import { type Route, primeRouteEncoding } from '@terrace/dataplane';
import { LearnedRoutes } from './learned.js';

/** The router's /32s per round, and rounds: V8 compiles the hot functions during the second and third. */
const PRIME_PREFIXES = 3000;
const PRIME_ROUNDS = 3;

/** Runs the priming; returns the number of routes the last round encoded. */
export function primeLearnedPath(): number {
  const feed = syntheticFeed(PRIME_PREFIXES);
  const self = { originated: new Set<string>(), selfAddresses: new Set<string>() };
  let encoded = 0;
  for (let round = 0; round < PRIME_ROUNDS; round++) {
    // The agent's own per-prefix bookkeeping, into a sink that keeps the routes for encoding.
    const routes: Route[] = [];
    const sink = {
      upsert: (rs: Iterable<Route>): void => {
        for (const r of rs) routes.push(r);
      },
      remove: (): void => undefined,
    };
    const learned = new LearnedRoutes(sink, (e) => {
      throw e;
    });
    learned.setContext(self, new Set());
    learned.apply(primeBmpPath(feed));
    encoded = primeRouteEncoding(routes);
  }
  return encoded;
}
