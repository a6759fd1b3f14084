/**
 * Route sync's planner: what to send the kernel so that, per route identity
 * (table, destination, metric), it holds the route we want, and what to
 * believe once the kernel has answered. Pure functions over slots; the
 * runner (sync.ts) keeps the slots, sends the plans through the relay and
 * calls these for full syncs and incremental batches alike. The property
 * tests (test/plan.test.ts) run these same functions against a model kernel.
 *
 * The rules, per slot:
 * - wanted, and the kernel has it (canonMatches): nothing;
 * - wanted, a route of another protocol holds the identity and none of ours
 *   does: nothing, reported as blocked (that route is never touched);
 * - wanted otherwise: `replace` over a route we know is ours, else `add`,
 *   which fails (EEXIST) rather than overwrite a route of another protocol
 *   that holds the identity unbeknown to us (replace matches any protocol);
 * - not wanted, a route of ours there: `del`, unless stale routes are held
 *   and this run never wanted that identity (a previous run's route, kept
 *   until BGP has re-sent what it learned: RouteSyncOptions.holdStale);
 * - nothing on either side: vacant (the runner drops the slot).
 */
import { canonMatches, type RouteCanon } from './canon.js';

/**
 * One route identity: the route we want there and what we believe the
 * kernel holds there.
 */
export interface Slot {
  readonly key: string;
  want: RouteCanon | undefined;
  /** Our route (protocol 201) the kernel holds here, as we believe. */
  have: RouteCanon | undefined;
  /** A route of another protocol holds this identity (learned from a refused add or a notification). */
  foreign: boolean;
  /** Wanted at some time in this run: a route of ours here is not a previous run's stale one. */
  claimed: boolean;
  /** Queued for the next batch (the runner's). */
  dirty: boolean;
}

export function newSlot(key: string): Slot {
  return { key, want: undefined, have: undefined, foreign: false, claimed: false, dirty: false };
}

/** The changes of one batch, each with the slot it is for; removals go first. */
export interface Plan {
  readonly remove: RouteCanon[];
  readonly removeSlots: Slot[];
  readonly replace: RouteCanon[];
  readonly replaceSlots: Slot[];
  /** Per replacement: it goes over a route of ours (`replace`), else `add`. */
  readonly ours: boolean[];
  /** Wanted routes a route of another protocol keeps out. */
  readonly blocked: Slot[];
  /** Slots holding nothing on either side. */
  readonly vacant: Slot[];
}

export function emptyPlan(): Plan {
  return { remove: [], removeSlots: [], replace: [], replaceSlots: [], ours: [], blocked: [], vacant: [] };
}

/** Plans the given slots (all of them for a full sync, the queued ones for a batch). */
export function planSlots(slots: Iterable<Slot>, holdStale: boolean): Plan {
  const p = emptyPlan();
  for (const s of slots) {
    const { want, have } = s;
    if (want !== undefined) {
      if (have !== undefined) {
        if (canonMatches(want, have)) continue;
      } else if (s.foreign) {
        p.blocked.push(s);
        continue;
      }
      p.replace.push(want);
      p.replaceSlots.push(s);
      p.ours.push(have !== undefined);
    } else if (have === undefined) {
      p.vacant.push(s);
    } else if (!holdStale || s.claimed) {
      p.remove.push(have);
      p.removeSlots.push(s);
    }
  }
  return p;
}

/** The number of changes a plan sends. */
export function planSize(p: Plan): number {
  return p.remove.length + p.replace.length;
}

/** The two halves of a plan, for two relays: each slot's changes in one half only. */
export function splitPlan(p: Plan): [Plan, Plan] {
  const r = p.replace.length >> 1;
  const d = p.remove.length >> 1;
  const half = (dFrom: number, dTo: number | undefined, rFrom: number, rTo: number | undefined): Plan => ({
    remove: p.remove.slice(dFrom, dTo),
    removeSlots: p.removeSlots.slice(dFrom, dTo),
    replace: p.replace.slice(rFrom, rTo),
    replaceSlots: p.replaceSlots.slice(rFrom, rTo),
    ours: p.ours.slice(rFrom, rTo),
    blocked: [],
    vacant: [],
  });
  return [half(0, d, 0, r), half(d, undefined, r, undefined)];
}

/** The kind of a change at position `index` of a plan, as sent: removals first, then replacements. */
export function opAt(p: Plan, index: number): 'del' | 'replace' | 'add' {
  if (index < p.remove.length) return 'del';
  return p.ours[index - p.remove.length] ? 'replace' : 'add';
}

/** What we believe once a plan is sent: every change applied (settle corrects for refusals). */
export function assume(p: Plan): void {
  for (const s of p.removeSlots) s.have = undefined;
  for (let i = 0; i < p.replace.length; i++) (p.replaceSlots[i] as Slot).have = p.replace[i];
}

/** A change the kernel refused: its position in the plan and the errno name. */
export interface Refusal {
  readonly index: number;
  readonly code: string;
}

export interface Settled {
  /** Refusals that leave a change to retry (the next resync does). */
  readonly refused: Refusal[];
  /** Slots whose add found a route of another protocol at the identity. */
  readonly blocked: Slot[];
}

/**
 * A kernel route we are not sure about: a unicast route without next hops,
 * which no wanted route matches, so it is rewritten at the next chance. Its
 * identity is kept, so it can still be deleted.
 */
function unsure(c: RouteCanon): RouteCanon {
  return { ...c, kind: 'unicast', hops: [] };
}

/** Corrects what assume() believed, for the changes the kernel refused. */
export function settle(p: Plan, refusals: readonly Refusal[]): Settled {
  const refused: Refusal[] = [];
  const blocked: Slot[] = [];
  const { remove, removeSlots, replace, replaceSlots, ours } = p;
  for (const f of refusals) {
    if (f.index < remove.length) {
      // Already gone is what we wanted.
      if (f.code === 'ESRCH') continue;
      (removeSlots[f.index] as Slot).have = unsure(remove[f.index] as RouteCanon);
      refused.push(f);
      continue;
    }
    const i = f.index - remove.length;
    const s = replaceSlots[i] as Slot;
    if (ours[i]) {
      // A refused replace may have left our old route in place.
      s.have = unsure(replace[i] as RouteCanon);
      refused.push(f);
      continue;
    }
    // A refused add left nothing of ours.
    s.have = undefined;
    if (f.code === 'EEXIST') {
      s.foreign = true;
      blocked.push(s);
    } else {
      refused.push(f);
    }
  }
  return { refused, blocked };
}

/** A route change the kernel announced (RTM_NEWROUTE / RTM_DELROUTE; decoded by routemsg.ts), as route sync reads it. */
export interface KernelEvent {
  readonly op: 'new' | 'del';
  /** Of our protocol, else of another. */
  readonly ours: boolean;
  readonly route: RouteCanon;
}

/** What an event means for its slot. */
export type Observed =
  /** Nothing to do: an echo of what we believe, or a route we do not care about. */
  | 'none'
  /** Our belief changed; the slot needs planning. */
  | 'queue'
  /** A route of another protocol now holds an identity we want: left alone. */
  | 'foreign';

/**
 * Updates a slot for a route change the kernel announced. An event that
 * agrees with what we believe (the echo of our own write) changes nothing;
 * one that does not is the kernel's word over ours.
 */
export function observe(s: Slot, e: KernelEvent): Observed {
  const c = e.route;
  if (e.ours) {
    if (e.op === 'new') {
      // The kernel resolves a gateway's device: a belief naming none matches it.
      if (s.have !== undefined && canonMatches(s.have, c)) return 'none';
      s.have = c;
      s.foreign = false;
      return 'queue';
    }
    if (s.have === undefined) return 'none';
    s.have = undefined;
    return 'queue';
  }
  if (e.op === 'new') {
    // It took the identity: a `replace` over ours leaves no route of ours there.
    s.have = undefined;
    if (s.foreign) return 'none';
    s.foreign = true;
    return s.want === undefined ? 'none' : 'foreign';
  }
  if (!s.foreign) return 'none';
  // Gone: ours can go in now.
  s.foreign = false;
  return s.want === undefined ? 'none' : 'queue';
}
