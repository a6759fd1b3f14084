/**
 * The difference between the routes we want and the routes of our protocol
 * the kernel has, as the two lists of work that turn one into the other.
 * Pure and linear: both sides are indexed by identity key once.
 */
import { canonMatches, canonOf, type RouteCanon } from './canon.js';
import type { Route } from './route.js';

export interface RouteDiff<T> {
  /** Desired routes the kernel lacks or has with other attributes: `route replace` each. */
  readonly replace: T[];
  /** Kernel routes nothing desired has the identity of: `route del` each. */
  readonly remove: T[];
}

/**
 * The diff on canonical forms indexed by key. `actual` must hold only routes
 * of our own protocol: everything in it that is not desired is removed.
 */
export function diffCanons(
  desired: ReadonlyMap<string, RouteCanon>,
  actual: ReadonlyMap<string, RouteCanon>,
): RouteDiff<RouteCanon> {
  const replace: RouteCanon[] = [];
  const remove: RouteCanon[] = [];
  let found = 0;
  desired.forEach((want, key) => {
    const have = actual.get(key);
    if (have === undefined) replace.push(want);
    else {
      found++;
      if (!canonMatches(want, have)) replace.push(want);
    }
  });
  // When every actual key was found among the desired ones, nothing is left
  // to remove: skips a second pass in the common no-change case.
  if (found < actual.size) {
    actual.forEach((have, key) => {
      if (!desired.has(key)) remove.push(have);
    });
  }
  return { replace, remove };
}

function index(routes: readonly Route[]): { canons: Map<string, RouteCanon>; routes: Map<string, Route> } {
  const canons = new Map<string, RouteCanon>();
  const byKey = new Map<string, Route>();
  for (const r of routes) {
    const c = canonOf(r);
    // Two routes with one identity are one kernel route; the last one wins.
    canons.set(c.key, c);
    byKey.set(c.key, r);
  }
  return { canons, routes: byKey };
}

/**
 * What to replace and remove so that the kernel's routes of our protocol
 * (`actual`) become `desired`. When `desired` holds several routes with one
 * identity (table, destination, metric), the last one counts.
 */
export function diffRoutes(desired: readonly Route[], actual: readonly Route[]): RouteDiff<Route> {
  const d = index(desired);
  const a = index(actual);
  const diff = diffCanons(d.canons, a.canons);
  return {
    replace: diff.replace.map((c) => d.routes.get(c.key) as Route),
    remove: diff.remove.map((c) => a.routes.get(c.key) as Route),
  };
}
