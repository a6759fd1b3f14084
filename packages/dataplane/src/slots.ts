/**
 * Route sync's state: one slot per route identity (plan.ts's Slot), what
 * we want there and what we believe the kernel has there, and the queue of
 * slots changed since the last batch. Every change to that state goes
 * through here: the caller's desired routes, a full read of the kernel, the
 * kernel's announcements. No I/O and no timers; the runner (sync.ts) owns
 * those, and plans the queued slots (or all of them) with planSlots.
 *
 * A change is one map lookup; the batch that follows works on the slots it
 * queued, not on keys (a full BGP table is 100,000 changes arriving while
 * the receive is still running, so every lookup per route is paid 100,000
 * times: docs/BENCHMARKS.md).
 */
import { canonMatches, type RouteCanon } from './canon.js';
import { newSlot, observe, type KernelEvent, type Slot } from './plan.js';

/** Exactly the same route (canonMatches lets a missing device match any). */
export function same(a: RouteCanon | undefined, b: RouteCanon): boolean {
  return a !== undefined && canonMatches(a, b) && canonMatches(b, a);
}

/** What announcements did to the slots. */
export interface Observed {
  /** Some slot was queued. */
  queued: boolean;
  /** Wanted identities a route of another protocol now holds (left alone). */
  readonly blocked: Slot[];
  /**
   * Wanted routes through a device whose removal was announced (and not
   * queued): the device may have gone with them, which the caller checks
   * before queueing them (requeue).
   */
  readonly throughDevice: Slot[];
}

export class SlotTable {
  /** Every identity we want a route at or believe the kernel has one at. */
  private readonly slots = new Map<string, Slot>();
  /** Slots with a wanted route. */
  private wantedCount = 0;
  /** Slots changed since the last batch. */
  private queued: Slot[] = [];

  /** Number of wanted routes. */
  get wanted(): number {
    return this.wantedCount;
  }

  /** Slots are queued for the next batch. */
  get hasQueued(): boolean {
    return this.queued.length > 0;
  }

  values(): IterableIterator<Slot> {
    return this.slots.values();
  }

  get(key: string): Slot | undefined {
    return this.slots.get(key);
  }

  /**
   * Makes `next` (by key) the whole wanted set. With `track`, slots whose
   * wanted route changed are queued (without it, a full sync is due anyway).
   */
  setDesired(next: ReadonlyMap<string, RouteCanon>, track: boolean): void {
    for (const s of this.slots.values()) {
      if (s.want === undefined || next.has(s.key)) continue;
      this.setWant(s, undefined);
      if (track) this.queue(s);
    }
    for (const [key, c] of next) {
      const s = this.slot(key);
      if (track && !same(s.want, c)) this.queue(s);
      this.setWant(s, c);
    }
  }

  /** Adds or updates wanted routes. */
  upsert(canons: readonly RouteCanon[]): void {
    for (const c of canons) {
      const s = this.slot(c.key);
      this.setWant(s, c);
      this.queue(s);
    }
  }

  /** Wants nothing at these identities any more (this run named them: they are not stale). */
  remove(keys: Iterable<string>): void {
    for (const key of keys) {
      // No slot: neither wanted nor known in the kernel (an unknown kernel is read in full first).
      const s = this.slots.get(key);
      if (s === undefined) continue;
      this.setWant(s, undefined);
      this.queue(s);
    }
  }

  /**
   * These routes are gone from the kernel behind our back (with their
   * device): what we believed of them is void. A slot whose kernel side is
   * another route is left alone.
   */
  gone(canons: readonly RouteCanon[]): void {
    for (const c of canons) {
      const s = this.slots.get(c.key);
      if (s === undefined || (s.have !== undefined && !same(s.have, c))) continue;
      s.have = undefined;
      this.queue(s);
    }
  }

  /**
   * A full read of the kernel's routes of our protocol: every slot's kernel
   * side afresh (routes of other protocols are learned again from refused
   * adds). Empties the queue: a full sync plans every slot.
   */
  load(actual: readonly RouteCanon[]): void {
    this.takeQueued();
    for (const s of this.slots.values()) {
      s.have = undefined;
      s.foreign = false;
    }
    for (const c of actual) this.slot(c.key).have = c;
  }

  /** Applies the kernel's announcements, in order (plan.ts observe). */
  observeAll(events: readonly KernelEvent[]): Observed {
    const out: Observed = { queued: false, blocked: [], throughDevice: [] };
    for (const e of events) {
      let s = this.slots.get(e.route.key);
      if (s === undefined) {
        // Every route of our protocol is ours to keep or remove; others matter only where we want one.
        if (!e.ours || e.op !== 'new') continue;
        s = this.slot(e.route.key);
      }
      const o = observe(s, e);
      if (o === 'queue') {
        // A route through a device may have gone with it (a pod's veth
        // deleted: the kernel announces the IPv6 routes it takes, not the
        // IPv4 ones, and the link's removal after them); the caller decides.
        if (e.op === 'del' && s.want !== undefined && s.want.hops.some((h) => h.dev !== undefined)) {
          out.throughDevice.push(s);
          continue;
        }
        this.queue(s);
        out.queued = true;
      } else if (o === 'foreign') {
        out.blocked.push(s);
      } else {
        this.prune(s);
      }
    }
    return out;
  }

  /** Queues the slots (of throughDevice) that still want a route the kernel lacks; true when some were. */
  requeue(slots: readonly Slot[]): boolean {
    let queued = false;
    for (const s of slots) {
      if (s.want === undefined || s.have !== undefined) continue;
      this.queue(s);
      queued = true;
    }
    return queued;
  }

  /** The queued slots, unmarked. */
  takeQueued(): Slot[] {
    const q = this.queued;
    this.queued = [];
    for (const s of q) s.dirty = false;
    return q;
  }

  /** Drops a slot that holds nothing and is not queued. */
  prune(s: Slot): void {
    if (s.want === undefined && s.have === undefined && !s.dirty && this.slots.get(s.key) === s) this.slots.delete(s.key);
  }

  /** Drops slots a full plan found vacant. */
  drop(vacant: readonly Slot[]): void {
    for (const s of vacant) if (!s.dirty && this.slots.get(s.key) === s) this.slots.delete(s.key);
  }

  /** The slot of an identity, made when there is none. */
  private slot(key: string): Slot {
    let s = this.slots.get(key);
    if (s === undefined) {
      s = newSlot(key);
      this.slots.set(key, s);
    }
    return s;
  }

  private setWant(s: Slot, c: RouteCanon | undefined): void {
    s.claimed = true;
    if (s.want === undefined) {
      if (c !== undefined) this.wantedCount++;
    } else if (c === undefined) {
      this.wantedCount--;
    }
    s.want = c;
  }

  /** Queues a slot for the next batch (once). */
  private queue(s: Slot): void {
    if (s.dirty) return;
    s.dirty = true;
    this.queued.push(s);
  }
}
