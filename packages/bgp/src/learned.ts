/**
 * Folds best-path reports into per-prefix next-hop sets and the events that
 * describe each change. Pure apart from its own table; no I/O.
 *
 * How GoBGP reports best paths (gobgpd 3.10, WatchEvent with a BEST filter):
 * - without multipath, each report carries the one new best path per changed
 *   prefix, or that path marked `isWithdraw` when the prefix is gone;
 * - with the global `useMultiplePaths`, each report carries, per changed
 *   prefix, the whole new list of equal best paths (ECMP); a prefix with no
 *   path left is reported as a single withdrawn path.
 * Both are handled by one rule: within a batch, the non-withdrawn paths of a
 * prefix are its complete new next-hop set; none means withdrawn.
 * Paths we originated ourselves (local) contribute no next hop: a prefix
 * whose best path is our own is not a learned route.
 *
 * The table is keyed by the prefix text as the daemon prints it (canonical
 * for one daemon), and addresses are parsed only when an event is emitted:
 * a full table of 100,000 prefixes arrives in one report.
 */
import { tryParseCidr, tryParseIP, type Cidr, type IPAddr } from '@terrace/api';
import type { LearnedEvent } from './speaker.js';

export interface BestPathReport {
  prefix: string;
  nextHop: string;
  withdraw: boolean;
  local: boolean;
}

export interface LearnedRoute {
  prefix: Cidr;
  nextHops: readonly IPAddr[];
}

interface Entry extends LearnedRoute {
  /** Next hops as text, sorted and joined, to compare sets cheaply. */
  hopsKey: string;
}

/** Prefix text → next hops as text, in first-seen order of prefixes. */
function groupByPrefix(paths: Iterable<BestPathReport>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const p of paths) {
    let hops = groups.get(p.prefix);
    if (!hops) {
      hops = [];
      groups.set(p.prefix, hops);
    }
    if (p.withdraw || p.local || p.nextHop === '') continue;
    if (!hops.includes(p.nextHop)) hops.push(p.nextHop);
  }
  return groups;
}

/**
 * Where to end a slice of about `size` paths starting at `start` without
 * splitting one prefix's paths (an ECMP set) across two slices.
 */
export function sliceAtPrefix(paths: readonly BestPathReport[], start: number, size: number): number {
  let end = Math.min(paths.length, start + size);
  while (end < paths.length && end > start && paths[end]?.prefix === paths[end - 1]?.prefix) end += 1;
  return end;
}

export class LearnedTable {
  private readonly routes = new Map<string, Entry>();
  /** Prefixes kept from before a daemon restart, not yet confirmed by the new daemon. */
  private stale = new Set<string>();
  /** Next hops are few and repeat for every prefix: parse each once. */
  private readonly hopCache = new Map<string, IPAddr | null>();

  get size(): number {
    return this.routes.size;
  }

  /** Prefix text (as the daemon prints it) → route. */
  snapshot(): ReadonlyMap<string, LearnedRoute> {
    return this.routes;
  }

  /** Events that tell a new subscriber the current state. */
  currentEvents(): LearnedEvent[] {
    return [...this.routes.values()].map((e) => ({ kind: 'set', prefix: e.prefix, nextHops: e.nextHops }));
  }

  /** Applies one report (a batch of changes) and returns the resulting events. */
  apply(paths: readonly BestPathReport[]): LearnedEvent[] {
    const events: LearnedEvent[] = [];
    const only = paths.length === 1 ? paths[0] : undefined;
    if (only) {
      // The common case while a table loads: GoBGP reports one prefix per message.
      this.applyGroup(only.prefix, only.withdraw || only.local || only.nextHop === '' ? [] : [only.nextHop], events);
      return events;
    }
    for (const [prefix, hops] of groupByPrefix(paths)) this.applyGroup(prefix, hops, events);
    return events;
  }

  /**
   * Applies a full dump (the first report after subscribing with init). Prefixes
   * missing from it are withdrawn, or, with `keepMissing` (the daemon has just
   * restarted and its peers are not back yet), kept as stale until
   * sweepStale().
   */
  applySnapshot(paths: readonly BestPathReport[], keepMissing: boolean): LearnedEvent[] {
    const events = this.dropMissing(paths, keepMissing);
    for (const e of this.apply(paths)) events.push(e);
    return events;
  }

  /**
   * The first half of applySnapshot: withdraws (or marks stale) what the dump
   * does not hold. The dump itself can then be applied in slices cut at prefix
   * boundaries (see sliceAtPrefix), so kernel writes start before it is all read.
   */
  dropMissing(paths: readonly BestPathReport[], keepMissing: boolean): LearnedEvent[] {
    const present = new Set<string>();
    for (const p of paths) present.add(p.prefix);
    const events: LearnedEvent[] = [];
    for (const [key, e] of this.routes) {
      if (present.has(key)) continue;
      if (keepMissing) {
        this.stale.add(key);
      } else {
        this.routes.delete(key);
        events.push({ kind: 'withdraw', prefix: e.prefix });
      }
    }
    return events;
  }

  /** Withdraws every stale prefix not re-learned since the snapshot. */
  sweepStale(): LearnedEvent[] {
    const events: LearnedEvent[] = [];
    for (const key of this.stale) {
      const e = this.routes.get(key);
      if (!e) continue;
      this.routes.delete(key);
      events.push({ kind: 'withdraw', prefix: e.prefix });
    }
    this.stale = new Set();
    return events;
  }

  get staleCount(): number {
    return this.stale.size;
  }

  private hop(s: string): IPAddr | null {
    let ip = this.hopCache.get(s);
    if (ip === undefined) {
      if (this.hopCache.size > 4096) this.hopCache.clear();
      ip = tryParseIP(s) ?? null;
      this.hopCache.set(s, ip);
    }
    return ip;
  }

  private applyGroup(key: string, texts: string[], events: LearnedEvent[]): void {
    this.stale.delete(key);
    const old = this.routes.get(key);
    const hops: IPAddr[] = [];
    const names: string[] = [];
    if (texts.length > 1) texts.sort();
    for (const t of texts) {
      const ip = this.hop(t);
      if (ip) {
        hops.push(ip);
        names.push(t);
      }
    }
    if (hops.length === 0) {
      if (old) {
        this.routes.delete(key);
        events.push({ kind: 'withdraw', prefix: old.prefix });
      }
      return;
    }
    const hopsKey = names.length === 1 ? (names[0] as string) : names.join(' ');
    if (old && old.hopsKey === hopsKey) return;
    const prefix = old?.prefix ?? tryParseCidr(key, false);
    if (!prefix) return;
    this.routes.set(key, { prefix, nextHops: hops, hopsKey });
    events.push({ kind: 'set', prefix, nextHops: hops });
  }
}
