// Route sync's planner (src/plan.ts), the one route sync runs, against a
// model kernel: a Map from identity to the route there and whether it is of
// our protocol. The model does what the kernel does with each change: `del`
// (with our protocol) removes only a route of ours, `add` fails with EEXIST on
// any route at the identity, `replace` overwrites whatever is there.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseCidr, parseIP, unpackAddr, type IPAddr } from '@terrace/api';
import { canonMatches, canonOf, type RouteCanon } from '../src/canon.js';
import { assume, newSlot, observe, opAt, planSize, planSlots, settle, splitPlan, type KernelEvent, type Plan, type Refusal, type Slot } from '../src/plan.js';
import { SlotTable } from '../src/slots.js';
import { blackholeRoute, unicastRoute, type NextHopInput, type Route } from '../src/route.js';

const c = parseCidr;
const ip = parseIP;

interface KRoute {
  readonly ours: boolean;
  readonly route: RouteCanon;
}
type Kernel = Map<string, KRoute>;

// A small world, so that desired, ours and foreign collide often.
const dsts = ['198.19.0.0/26', '198.19.0.64/26', '198.19.1.1/32', '198.19.1.2/32', '2001:db8:1::/64', '2001:db8:2::/64'].map((s) => c(s));
const gateways: Record<4 | 6, IPAddr[]> = {
  4: ['198.18.0.2', '198.18.0.3', '198.18.1.2'].map((s) => ip(s)),
  6: ['2001:db8::2', '2001:db8::3'].map((s) => ip(s)),
};
const devOf = (g: IPAddr): string => (g.family === 4 && g.value % 2n === 0n ? 'va' : 'vb');

const hopArb = (family: 4 | 6): fc.Arbitrary<NextHopInput & { via: IPAddr }> =>
  fc
    .record({ gw: fc.constantFrom(...gateways[family]), withDev: fc.boolean(), weight: fc.constantFrom(1, 1, 2) })
    .map(({ gw, withDev, weight }) => ({ via: gw, ...(withDev ? { dev: devOf(gw) } : {}), weight }));

const routeArb: fc.Arbitrary<RouteCanon> = fc
  .record({
    dst: fc.constantFrom(...dsts),
    table: fc.constantFrom(undefined, 100),
    metric: fc.constantFrom(undefined, 100),
    blackhole: fc.boolean(),
  })
  .chain(({ dst, table, metric, blackhole }) => {
    const opts = { ...(table === undefined ? {} : { table }), ...(metric === undefined ? {} : { metric }) };
    if (blackhole) return fc.constant<Route>(blackholeRoute(dst, opts));
    // One to three next hops: ECMP routes too.
    return fc.uniqueArray(hopArb(dst.family), { minLength: 1, maxLength: 3, selector: (h) => h.via.value }).map((hops): Route => unicastRoute(dst, hops, opts));
  })
  .map(canonOf);

/** As the kernel shows a route: every gateway's device filled in. */
function resolved(r: RouteCanon): RouteCanon {
  return { ...r, hops: r.hops.map((h) => (h.via !== undefined && h.dev === undefined ? { ...h, dev: devOf(unpackAddr(h.via)) } : h)) };
}

const byKey = (routes: readonly RouteCanon[]): Map<string, RouteCanon> => new Map(routes.map((r) => [r.key, r]));

/** Sends a plan to the model kernel in the order the runner writes it; returns the refusals. */
function applyToModel(k: Kernel, p: Plan): Refusal[] {
  const out: Refusal[] = [];
  const changes: RouteCanon[] = [...p.remove, ...p.replace];
  changes.forEach((r, index) => {
    const there = k.get(r.key);
    switch (opAt(p, index)) {
      case 'del':
        if (there?.ours === true) k.delete(r.key);
        else out.push({ index, code: 'ESRCH' });
        break;
      case 'add':
        if (there !== undefined) out.push({ index, code: 'EEXIST' });
        else k.set(r.key, { ours: true, route: resolved(r) });
        break;
      case 'replace':
        k.set(r.key, { ours: true, route: resolved(r) });
        break;
    }
  });
  return out;
}

/** A full read: the dump shows our protocol's routes only. */
function fullSyncSlots(slots: SlotTable, k: Kernel): void {
  slots.load([...k.values()].filter((r) => r.ours).map((r) => r.route));
}

function want(slots: SlotTable, r: RouteCanon | undefined, key: string): void {
  if (r === undefined) slots.remove([key]);
  else slots.upsert([r]);
}

/** Plan, send, settle: one batch as the runner runs it (all slots for a full sync, else the queued ones). */
function batch(slots: SlotTable, full: boolean, k: Kernel, holdStale: boolean): { plan: Plan; blocked: Slot[] } {
  const which = slots.takeQueued();
  const plan = planSlots(full ? slots.values() : which, holdStale);
  if (full) slots.drop(plan.vacant);
  else for (const s of plan.vacant) slots.prune(s);
  assume(plan);
  const settled = settle(plan, applyToModel(k, plan));
  return { plan, blocked: [...plan.blocked, ...settled.blocked] };
}

/** The model kernel's routes of other protocols. */
const foreignOf = (k: Kernel): Map<string, RouteCanon> => new Map([...k].filter(([, r]) => !r.ours).map(([key, r]) => [key, r.route]));

/** Kernel equals desired for our protocol: every desired route in place unless a foreign one holds its identity; nothing else of ours but held stale routes. */
function expectConverged(k: Kernel, desired: Map<string, RouteCanon>, stale: Set<string>): void {
  for (const [key, w] of desired) {
    const there = k.get(key);
    if (there !== undefined && !there.ours) continue;
    expect(there === undefined ? `${key}: missing` : canonMatches(w, there.route) || `${key}: differs`).toBe(true);
  }
  for (const [key, r] of k) {
    if (!r.ours || desired.has(key)) continue;
    expect(stale.has(key) || `${key}: an undesired route of ours was left`).toBe(true);
  }
}

const worldArb = fc.record({
  desired: fc.array(routeArb, { maxLength: 10 }),
  ours: fc.array(routeArb, { maxLength: 10 }),
  foreign: fc.array(routeArb, { maxLength: 4 }),
  holdStale: fc.boolean(),
  // Of the kernel's routes of ours, those this run has named before (not stale).
  claimedSeed: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
});

describe('planSlots: a full sync against a model kernel', () => {
  it('brings the kernel to the desired set, never touches foreign routes, keeps held stale routes, and a second plan is empty', () => {
    fc.assert(
      fc.property(worldArb, ({ desired: desiredList, ours, foreign, holdStale, claimedSeed }) => {
        const desired = byKey(desiredList);
        const k: Kernel = new Map();
        for (const r of ours) k.set(r.key, { ours: true, route: resolved(r) });
        for (const r of foreign) k.set(r.key, { ours: false, route: r });
        const foreignBefore = foreignOf(k);
        const slots = new SlotTable();
        slots.setDesired(desired, false);
        fullSyncSlots(slots, k);
        const stale = new Set<string>();
        [...k.keys()].forEach((key, i) => {
          const s = slots.get(key);
          if (s === undefined || s.want !== undefined) return;
          if (claimedSeed[i % claimedSeed.length]) s.claimed = true;
          else if (holdStale) stale.add(key);
        });

        const { blocked } = batch(slots, true, k, holdStale);
        expect(foreignOf(k)).toEqual(foreignBefore);
        expectConverged(k, desired, stale);
        // Every desired identity a foreign route holds is reported, no other.
        const held = [...desired.keys()].filter((key) => foreignBefore.has(key)).sort();
        expect(blocked.map((s) => s.key).sort()).toEqual(held);

        // Idempotent: what we believe is what the kernel has, so nothing more to do.
        const again = planSlots([...slots.values()], holdStale);
        expect(planSize(again)).toBe(0);
        // After re-reading the kernel, which shows only our protocol: an `add`
        // where a foreign route holds the identity (refused, reported, nothing changed), nothing else.
        fullSyncSlots(slots, k);
        const snapshot = new Map(k);
        const reread = batch(slots, true, k, holdStale);
        expect(reread.plan.remove).toEqual([]);
        expect(reread.plan.replace.map((r) => r.key).sort()).toEqual(held);
        expect(reread.plan.ours.every((o) => !o)).toBe(true);
        expect(reread.blocked.map((s) => s.key).sort()).toEqual(held);
        expect(k).toEqual(snapshot);
        expect(planSize(planSlots([...slots.values()], holdStale))).toBe(0);

        // Released: stale routes go, foreign ones still stay.
        const released = batch(slots, true, k, false);
        expect(planSize(released.plan)).toBe(stale.size);
        expectConverged(k, desired, new Set());
        expect(foreignOf(k)).toEqual(foreignBefore);
      }),
      { numRuns: 1000 },
    );
  });

  it('splits a plan into halves that hold every change once, removals before replacements in each', () => {
    fc.assert(
      fc.property(worldArb, ({ desired, ours }) => {
        const slots = new SlotTable();
        slots.setDesired(byKey(desired), false);
        const k: Kernel = new Map(ours.map((r) => [r.key, { ours: true, route: resolved(r) }]));
        fullSyncSlots(slots, k);
        const p = planSlots([...slots.values()], false);
        const [a, b] = splitPlan(p);
        expect([...a.remove, ...b.remove]).toEqual(p.remove);
        expect([...a.replace, ...b.replace]).toEqual(p.replace);
        expect([...a.ours, ...b.ours]).toEqual(p.ours);
        expect([...a.replaceSlots, ...b.replaceSlots]).toEqual(p.replaceSlots);
      }),
      { numRuns: 200 },
    );
  });
});

// Between full syncs: desired changes and hands on the kernel (notifications
// fed to observe), then an incremental batch of the queued slots.
type Step =
  | { readonly want: RouteCanon }
  | { readonly unwant: number }
  | { readonly handDel: number }
  | { readonly handOurs: RouteCanon }
  | { readonly handForeign: RouteCanon }
  | { readonly handForeignDel: number }
  | { readonly echo: number }
  | { readonly sync: true };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ want: routeArb }),
  fc.record({ unwant: fc.nat(dsts.length * 4) }),
  fc.record({ handDel: fc.nat(dsts.length * 4) }),
  fc.record({ handOurs: routeArb }),
  fc.record({ handForeign: routeArb }),
  fc.record({ handForeignDel: fc.nat(dsts.length * 4) }),
  fc.record({ echo: fc.nat(dsts.length * 4) }),
  fc.constant({ sync: true as const }),
);

describe('observe + planSlots: incremental batches against a model kernel', () => {
  it('repairs what hands did to our routes, leaves foreign routes alone, and ignores echoes', () => {
    fc.assert(
      fc.property(fc.array(routeArb, { maxLength: 8 }), fc.array(stepArb, { maxLength: 30 }), (initial, steps) => {
        const k: Kernel = new Map();
        const slots = new SlotTable();
        const desired = byKey(initial);
        slots.setDesired(desired, false);
        fullSyncSlots(slots, k);
        batch(slots, true, k, false);
        const warned = new Set<string>();
        const notify = (e: KernelEvent): void => {
          const o = slots.observeAll([e]);
          for (const s of o.blocked) warned.add(s.key);
          // No device goes away here: the runner's check after the grace finds them all.
          slots.requeue(o.throughDevice);
        };
        const keyAt = (i: number): string | undefined => [...k.keys()][i % Math.max(1, k.size)];
        for (const st of steps) {
          if ('want' in st) {
            desired.set(st.want.key, st.want);
            want(slots, st.want, st.want.key);
          } else if ('unwant' in st) {
            const key = [...desired.keys()][st.unwant % Math.max(1, desired.size)];
            if (key === undefined) continue;
            desired.delete(key);
            want(slots, undefined, key);
          } else if ('handDel' in st) {
            const key = keyAt(st.handDel);
            const r = key === undefined ? undefined : k.get(key);
            if (r === undefined || !r.ours) continue;
            k.delete(r.route.key);
            notify({ op: 'del', ours: true, route: r.route });
          } else if ('handOurs' in st) {
            // `ip route replace ... proto 201` by hand.
            const r = resolved(st.handOurs);
            // Over a foreign route the kernel announces only the new one.
            k.set(r.key, { ours: true, route: r });
            notify({ op: 'new', ours: true, route: r });
          } else if ('handForeign' in st) {
            // `ip route replace ... proto static` by hand: takes the identity.
            k.set(st.handForeign.key, { ours: false, route: st.handForeign });
            notify({ op: 'new', ours: false, route: st.handForeign });
          } else if ('handForeignDel' in st) {
            const key = keyAt(st.handForeignDel);
            const r = key === undefined ? undefined : k.get(key);
            if (r === undefined || r.ours) continue;
            k.delete(r.route.key);
            notify({ op: 'del', ours: false, route: r.route });
          } else if ('echo' in st) {
            // The kernel's notice of a route of ours we already know of.
            const key = keyAt(st.echo);
            const r = key === undefined ? undefined : k.get(key);
            if (r === undefined || !r.ours) continue;
            const s = slots.get(r.route.key);
            const before = s === undefined ? undefined : { ...s };
            notify({ op: 'new', ours: true, route: r.route });
            if (s !== undefined) expect({ ...s }).toEqual(before);
          } else {
            const { plan, blocked } = batch(slots, false, k, false);
            for (const s of plan.replaceSlots) if (!s.foreign) warned.delete(s.key);
            for (const s of blocked) warned.add(s.key);
            // Kernel equals desired, routes of other protocols aside.
            expectConverged(k, desired, new Set());
            expect(planSize(planSlots([...slots.values()], false))).toBe(0);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('takes the echo of its own write as no news, whatever device the kernel resolved', () => {
    const r = canonOf(unicastRoute(c('198.19.1.1/32'), { via: ip('198.18.0.2') }));
    const s = newSlot(r.key);
    s.want = r;
    s.have = r;
    expect(observe(s, { op: 'new', ours: true, route: resolved(r) })).toBe('none');
    expect(s.have).toBe(r);
    expect(observe(s, { op: 'del', ours: true, route: resolved(r) })).toBe('queue');
    expect(s.have).toBeUndefined();
    // Its own delete, echoed: no news.
    expect(observe(s, { op: 'del', ours: true, route: resolved(r) })).toBe('none');
  });

  it('reports a foreign route over a wanted identity once, and queues ours when it goes', () => {
    const r = canonOf(unicastRoute(c('198.19.1.1/32'), { via: ip('198.18.0.2') }));
    const other = canonOf(unicastRoute(c('198.19.1.1/32'), { via: ip('198.18.1.2') }));
    const s = newSlot(r.key);
    s.want = r;
    s.have = r;
    expect(observe(s, { op: 'new', ours: false, route: other })).toBe('foreign');
    expect(s.have).toBeUndefined();
    expect(observe(s, { op: 'new', ours: false, route: other })).toBe('none');
    expect(planSlots([s], false).blocked).toEqual([s]);
    expect(observe(s, { op: 'del', ours: false, route: other })).toBe('queue');
    expect(planSlots([s], false).replace).toEqual([r]);
  });
});
