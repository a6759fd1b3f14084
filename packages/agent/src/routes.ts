/**
 * The rule from a learned best path to the kernel route this agent wants
 * (our protocol number only). Pure; LearnedRoutes (learned.ts) applies it to
 * each prefix as events arrive, and is the only caller. One prefix gets one route: a single next hop, or a
 * multipath route when BGP selected several equal best paths. Prefixes we
 * originate are skipped (our own block is reached through the pods' /32s and
 * its blackhole, never via a peer), as are next hops that are our own
 * addresses (a path reflected back to us).
 */
import { addrFamily, prefixFamily, type PackedAddr, type PackedPrefix } from '@terrace/api';
import { type NextHop, type Route, unicastRoute } from '@terrace/dataplane';

/** A kernel route as the dataplane's route sync takes it. */
export type KernelRoute = Route;

export interface RouteContext {
  /** Prefixes this node originates or blackholes. */
  originated: ReadonlySet<PackedPrefix>;
  /** This node's own addresses. */
  selfAddresses: ReadonlySet<PackedAddr>;
}

/**
 * Usable next hops of a learned set: of the prefix's family, not our own,
 * once each, in address order. The speaker shares one array among every
 * prefix with the same set, so the answer is remembered per array (and per
 * set of own addresses): a full table of 100,000 prefixes via one peer is
 * worked out once, not 100,000 times.
 */
const hopMemo = new WeakMap<readonly PackedAddr[], { self: ReadonlySet<PackedAddr>; family: number; hops: readonly NextHop[] }>();

function usableHops(family: number, nextHops: readonly PackedAddr[], self: ReadonlySet<PackedAddr>): readonly NextHop[] {
  const m = hopMemo.get(nextHops);
  if (m && m.self === self && m.family === family) return m.hops;
  const via: PackedAddr[] = [];
  for (const nh of nextHops) {
    // A next hop of another family would need RFC 5549 routing; not supported.
    if (addrFamily(nh) !== family || self.has(nh) || via.includes(nh)) continue;
    via.push(nh);
  }
  // Byte order, which for one family is address order.
  via.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const hops = Object.freeze(via.map((v): NextHop => ({ via: v })));
  if (Object.isFrozen(nextHops)) hopMemo.set(nextHops, { self, family, hops });
  return hops;
}

/** The route for one learned prefix, or undefined when it must not be in the kernel. */
export function routeForLearned(prefix: PackedPrefix, nextHops: readonly PackedAddr[], ctx: RouteContext): KernelRoute | undefined {
  if (ctx.originated.has(prefix)) return undefined;
  const hops = usableHops(prefixFamily(prefix), nextHops, ctx.selfAddresses);
  if (hops.length === 0) return undefined;
  return unicastRoute(prefix, hops);
}
