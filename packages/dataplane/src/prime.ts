/**
 * Start-up priming of route sync's per-route work: the canonical form of
 * each route and its rtnetlink encoding, run on routes the caller made up,
 * into a scratch buffer that goes nowhere. V8 compiles a function only once
 * it has run often enough, so without this the first large batch (a full
 * BGP table after a restart) is encoded in the interpreter. See the agent's
 * primeLearnedPath, which feeds this the routes of a synthetic table.
 */
import { canonMatches, canonOf } from './canon.js';
import { encodeRoute, MessageWriter } from './netlink.js';
import type { Route } from './route.js';

/** Flushed (discarded) past this many bytes, as the relay's frames would be. */
const SCRATCH_BYTES = 32768;

/**
 * Canonicalises and encodes every route as an add and as a delete, and
 * returns how many routes were encoded. A route with a device next hop is
 * skipped: encoding it needs the device's index from the kernel.
 */
export function primeRouteEncoding(routes: Iterable<Route>): number {
  const w = new MessageWriter();
  const links = new Map<string, number>();
  let seq = 1;
  let n = 0;
  for (const r of routes) {
    const c = canonOf(r);
    if (c.hops.some((h) => h.dev !== undefined)) continue;
    // Route sync compares every desired route with the kernel's: run that too.
    canonMatches(c, c);
    encodeRoute(w, 'add', c, seq++, links, false);
    encodeRoute(w, 'del', c, seq++, links, false);
    if (w.len >= SCRATCH_BYTES) w.reset();
    n++;
  }
  return n;
}
