/**
 * The rule from a learned best path to the kernel route this agent wants
 * (our protocol number only). Pure; LearnedRoutes (learned.ts) applies it to
 * each prefix as events arrive, and is the only caller. One prefix gets one route: a single next hop, or a
 * multipath route when BGP selected several equal best paths. Prefixes we
 * originate are skipped (our own block is reached through the pods' /32s and
 * its blackhole, never via a peer), as are next hops that are our own
 * addresses (a path reflected back to us).
 */
import { type Cidr, type IPAddr, formatCidr, formatIP } from '@terrace/api';
import { type NextHop, type Route, unicastRoute } from '@terrace/dataplane';

/** A kernel route as the dataplane's route sync takes it. */
export type KernelRoute = Route;

export interface RouteContext {
  /** Prefixes this node originates or blackholes (formatted CIDRs). */
  originated: ReadonlySet<string>;
  /** This node's own addresses (formatted). */
  selfAddresses: ReadonlySet<string>;
}

/**
 * Usable next hops of a learned set: of the prefix's family, not our own,
 * once each, in address order. The speaker shares one array among every
 * prefix with the same set, so the answer is remembered per array (and per
 * set of own addresses): a full table of 100,000 prefixes via one peer is
 * worked out once, not 100,000 times.
 */
const hopMemo = new WeakMap<readonly IPAddr[], { self: ReadonlySet<string>; family: number; hops: readonly NextHop[] }>();

function usableHops(family: number, nextHops: readonly IPAddr[], self: ReadonlySet<string>): readonly NextHop[] {
  const m = hopMemo.get(nextHops);
  if (m && m.self === self && m.family === family) return m.hops;
  const seen = new Set<string>();
  const via: IPAddr[] = [];
  for (const nh of nextHops) {
    const s = formatIP(nh);
    // A next hop of another family would need RFC 5549 routing; not supported.
    if (nh.family !== family || self.has(s) || seen.has(s)) continue;
    seen.add(s);
    via.push(nh);
  }
  via.sort((x, y) => (x.value < y.value ? -1 : x.value > y.value ? 1 : 0));
  const hops = Object.freeze(via.map((v): NextHop => ({ via: v })));
  if (Object.isFrozen(nextHops)) hopMemo.set(nextHops, { self, family, hops });
  return hops;
}

/**
 * The route for one learned prefix, or undefined when it must not be in the
 * kernel. `key` is the prefix as formatCidr prints it, when the caller has it.
 */
export function routeForLearned(prefix: Cidr, nextHops: readonly IPAddr[], ctx: RouteContext, key?: string): KernelRoute | undefined {
  if (ctx.originated.has(key ?? formatCidr(prefix))) return undefined;
  const hops = usableHops(prefix.family, nextHops, ctx.selfAddresses);
  if (hops.length === 0) return undefined;
  return unicastRoute(prefix, hops);
}
