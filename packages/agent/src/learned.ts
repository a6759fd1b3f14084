/**
 * Learned best paths and the kernel routes the agent derives from them, one
 * entry per prefix: what the speaker last said about it and what we last
 * asked the kernel for. A batch of learned events reaches the route sink as
 * the routes that changed, in the order they changed (a full table is one
 * upsert).
 *
 * This is the agent's per-route work on a full BGP table (100,000 events
 * after a restart, while gobgpd is still receiving), so an event costs one
 * map lookup here, and the ingest bench runs this very class rather than an
 * imitation of it.
 */
import type { PackedAddr, PackedPrefix } from '@terrace/api';
import type { LearnedEvent } from '@terrace/bgp';
import { type RouteSync, blackholeRoute, routeAttrs } from '@terrace/dataplane';
import { routeForLearned, type KernelRoute, type RouteContext } from './routes.js';

/** Where kernel routes go: the dataplane's RouteSync (which batches and never blocks the caller). */
export type KernelRouteSink = Pick<RouteSync, 'upsert' | 'remove'>;

interface Entry {
  /** The best paths' next hops; undefined while nothing is learned (a blackhole of ours only). */
  nextHops: readonly PackedAddr[] | undefined;
  /** What we asked the kernel for. */
  route: KernelRoute | undefined;
}

/**
 * A batch's changes for the sink, in the order they were made: a route to
 * install (`route` set) or a destination to remove. The same prefix may
 * change twice in one batch (announced, then withdrawn), so order matters.
 */
interface Changes {
  readonly keys: PackedPrefix[];
  readonly routes: (KernelRoute | undefined)[];
}

function noChanges(): Changes {
  return { keys: [], routes: [] };
}

/** Same forwarding; routes derived from one shared next-hop list are compared without rendering them. */
function sameRoute(a: KernelRoute, b: KernelRoute): boolean {
  if (a.kind === 'unicast' && b.kind === 'unicast' && a.nextHops === b.nextHops && a.src === b.src && a.table === b.table && a.metric === b.metric) {
    return true;
  }
  return routeAttrs(a) === routeAttrs(b);
}

export class LearnedRoutes {
  /** By prefix: the speaker's packed value, which is also route sync's key for it. */
  private readonly entries = new Map<PackedPrefix, Entry>();
  private learned = 0;
  private installed = 0;
  private ctx: RouteContext = { originated: new Set(), selfAddresses: new Set() };
  private blackholes: ReadonlySet<PackedPrefix> = new Set();

  /** `refused` hears of routes the sink would not take (an invalid route is a bug in the derivation). */
  constructor(
    private readonly sink: KernelRouteSink,
    private readonly refused: (e: Error) => void,
  ) {}

  /** Prefixes with learned best paths. */
  get learnedCount(): number {
    return this.learned;
  }

  /** Routes we asked the kernel for (learned ones and our blackholes). */
  get installedCount(): number {
    return this.installed;
  }

  /** Every route we asked the kernel for, for a full resync. */
  kernelRoutes(): KernelRoute[] {
    const out: KernelRoute[] = [];
    for (const e of this.entries.values()) if (e.route !== undefined) out.push(e.route);
    return out;
  }

  /** Applies a batch of the speaker's learned events. */
  apply(batch: readonly LearnedEvent[]): void {
    const changes = noChanges();
    for (const ev of batch) {
      const key = ev.prefix;
      let e = this.entries.get(key);
      if (ev.kind === 'set') {
        if (e === undefined) {
          e = { nextHops: undefined, route: undefined };
          this.entries.set(key, e);
        }
        if (e.nextHops === undefined) this.learned++;
        e.nextHops = ev.nextHops;
      } else {
        // Never learned and not ours: nothing to undo.
        if (e === undefined) continue;
        if (e.nextHops !== undefined) this.learned--;
        e.nextHops = undefined;
      }
      this.derive(key, e, changes);
    }
    this.hand(changes);
  }

  /**
   * Takes what we originate, our own addresses and our blackholes, and
   * re-derives every prefix that changes for: one we start or stop
   * originating or blackholing, and every learned one when our addresses
   * change (a next hop may now be our own).
   */
  setContext(ctx: RouteContext, blackholes: ReadonlySet<PackedPrefix>): void {
    const old = this.ctx;
    const touched = new Set<PackedPrefix>();
    for (const p of old.originated) if (!ctx.originated.has(p)) touched.add(p);
    for (const p of ctx.originated) if (!old.originated.has(p)) touched.add(p);
    for (const p of this.blackholes) if (!blackholes.has(p)) touched.add(p);
    for (const p of blackholes) touched.add(p);
    const sameSelf = old.selfAddresses.size === ctx.selfAddresses.size && [...old.selfAddresses].every((a) => ctx.selfAddresses.has(a));
    if (!sameSelf) for (const [p, e] of this.entries) if (e.nextHops !== undefined) touched.add(p);
    this.ctx = ctx;
    this.blackholes = blackholes;
    const changes = noChanges();
    for (const p of touched) {
      let e = this.entries.get(p);
      if (e === undefined) {
        if (!blackholes.has(p)) continue;
        e = { nextHops: undefined, route: undefined };
        this.entries.set(p, e);
      }
      this.derive(p, e, changes);
    }
    this.hand(changes);
  }

  /** Brings an entry's route to what it should be now, noting the change. */
  private derive(key: PackedPrefix, e: Entry, changes: Changes): void {
    let want: KernelRoute | undefined;
    if (this.blackholes.has(key)) want = blackholeRoute(key);
    else if (e.nextHops !== undefined) want = routeForLearned(key, e.nextHops, this.ctx);
    const have = e.route;
    if (want !== undefined) {
      if (have === undefined) this.installed++;
      else if (sameRoute(want, have)) return;
      changes.keys.push(key);
      changes.routes.push(want);
      e.route = want;
    } else if (have !== undefined) {
      changes.keys.push(key);
      changes.routes.push(undefined);
      e.route = undefined;
      this.installed--;
    }
    if (e.route === undefined && e.nextHops === undefined) this.entries.delete(key);
  }

  /** Hands the changes over in order, as runs of upserts and removals (a full table is one run). */
  private hand(changes: Changes): void {
    const { routes, keys } = changes;
    for (let from = 0; from < routes.length; ) {
      const installing = routes[from] !== undefined;
      let to = from + 1;
      while (to < routes.length && (routes[to] !== undefined) === installing) to++;
      if (installing) {
        const run = (from === 0 && to === routes.length ? routes : routes.slice(from, to)) as KernelRoute[];
        this.upsert(run, changes.keys, from);
      } else {
        try {
          this.sink.remove(from === 0 && to === keys.length ? keys : keys.slice(from, to));
        } catch (e) {
          this.refused(e as Error);
        }
      }
      from = to;
    }
  }

  /**
   * The sink takes a batch whole or not at all (route sync checks every
   * route first); when it refuses one, the rest go one by one, and what it
   * refused is no longer counted as asked for.
   */
  private upsert(run: KernelRoute[], keys: readonly PackedPrefix[], first: number): void {
    try {
      this.sink.upsert(run);
      return;
    } catch {
      // Found out route by route below.
    }
    run.forEach((r, i) => {
      try {
        this.sink.upsert([r]);
      } catch (err) {
        this.refused(err as Error);
        const key = keys[first + i] as PackedPrefix;
        const e = this.entries.get(key);
        if (e === undefined || e.route !== r) return;
        e.route = undefined;
        this.installed--;
        if (e.nextHops === undefined) this.entries.delete(key);
      }
    });
  }
}
