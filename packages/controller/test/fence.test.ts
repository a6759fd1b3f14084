// The fence planner (remote/fence.ts): overlaps fenced by the smaller CIDR, nothing else fenced, and
// admission that never clears a pool created after activation without a fresh read of every remote.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { type ClusterFence, type RemotePool, cidr, cidrContainsCidr, cidrsOverlap, formatCidr, parseCidr } from '@terrace/api';
import { type FenceInput, type FreshRead, type LocalPoolView, lastKnownPools, planFence, poolsAwaitingAdmission, sameFence } from '../src/remote/fence.js';

const T0 = Date.parse('2026-12-07T10:00:00Z');
const lp = (name: string, c: string, seenAt = T0, uid = `uid-${name}`): LocalPoolView => ({ name, uid, cidr: c, seenAt });
const rp = (name: string, c: string): RemotePool => ({ name, cidr: c, disabled: false });
const ok = (remote: string, startedAt: number, pools: RemotePool[]): FreshRead => ({ remote, startedAt, ok: true, pools });

function plan(over: Partial<FenceInput>): ReturnType<typeof planFence> {
  return planFence({ now: T0 + 1000, local: [], remotes: [], previous: undefined, fresh: [], ...over });
}

describe('fence planner', () => {
  test('no remote: no fence at all', () => {
    expect(plan({ local: [lp('a', '198.18.0.0/16')] }).fence).toBeUndefined();
  });

  test('activation clears every existing pool and fences each overlap by the smaller cidr', () => {
    const p = plan({
      local: [lp('a', '198.18.0.0/16'), lp('b', '2001:db8::/48')],
      remotes: [{ remote: 'cb', pools: [rp('x', '198.18.4.0/24'), rp('y', '198.19.0.0/16'), rp('z', '2001:db8::/32')] }],
    });
    expect(p.fence?.cleared).toEqual({ a: 'uid-a', b: 'uid-b' });
    expect(p.fence?.held).toEqual([]);
    expect(p.fence?.fenced.map((f) => [f.pool, f.remotePool, f.cidr])).toEqual([
      ['a', 'x', '198.18.4.0/24'],
      ['b', 'z', '2001:db8::/48'],
    ]);
    expect(p.overlaps.get('cb')?.map((o) => o.fenced)).toEqual(['198.18.4.0/24', '2001:db8::/48']);
  });

  test('a pool created after activation waits for a fresh read started after it was seen', () => {
    const previous: ClusterFence = { cleared: { a: 'uid-a' }, held: [], fenced: [], updated: '' };
    const local = [lp('a', '198.18.0.0/24'), lp('n', '198.18.8.0/24', T0 + 500)];
    const remotes = [{ remote: 'cb', pools: [] }];
    expect(poolsAwaitingAdmission(local, previous).map((p) => p.name)).toEqual(['n']);
    // No read, or a read that started before the pool was seen: held.
    expect(plan({ local, remotes, previous }).fence?.held).toEqual([{ pool: 'n', reason: 'waiting for a fresh read of remote cluster cb' }]);
    expect(plan({ local, remotes, previous, fresh: [ok('cb', T0 + 499, [])] }).fence?.cleared.n).toBeUndefined();
    // A read that failed: held with the reason.
    const failed: FreshRead = { remote: 'cb', startedAt: T0 + 600, ok: false, error: 'unreachable since 2026-12-07T09:59:00.000Z' };
    expect(plan({ local, remotes, previous, fresh: [failed] }).fence?.held).toEqual([
      { pool: 'n', reason: 'waiting for remote cluster cb: unreachable since 2026-12-07T09:59:00.000Z' },
    ]);
    // A later read that shows a remote pool overlapping: held and fenced, although the cache has not seen it yet.
    const hit = plan({ local, remotes, previous, fresh: [ok('cb', T0 + 600, [rp('x', '198.18.8.128/25')])] });
    expect(hit.fence?.held).toEqual([{ pool: 'n', reason: 'overlaps pool x (198.18.8.128/25) of remote cluster cb' }]);
    expect(hit.fence?.fenced.map((f) => f.cidr)).toEqual(['198.18.8.128/25']);
    // A clean read: cleared.
    expect(plan({ local, remotes, previous, fresh: [ok('cb', T0 + 600, [])] }).fence?.cleared).toEqual({ a: 'uid-a', n: 'uid-n' });
  });

  test('every remote must answer; a re-created pool (new uid) is admitted again', () => {
    const previous: ClusterFence = { cleared: { a: 'old-uid' }, held: [], fenced: [], updated: '' };
    const local = [lp('a', '198.18.0.0/24', T0, 'new-uid')];
    const remotes = [{ remote: 'cb', pools: [] }, { remote: 'cc', pools: [] }];
    expect(plan({ local, remotes, previous, fresh: [ok('cb', T0 + 1, [])] }).fence?.held[0]?.reason).toBe('waiting for a fresh read of remote cluster cc');
    expect(plan({ local, remotes, previous, fresh: [ok('cb', T0 + 1, []), ok('cc', T0 + 1, [])] }).fence?.cleared).toEqual({ a: 'new-uid' });
  });

  test('a cleared pool stays cleared when an overlap appears later; the overlap keeps its first-seen time', () => {
    const first = plan({ local: [lp('a', '198.18.0.0/24')], remotes: [{ remote: 'cb', pools: [rp('x', '198.18.0.0/16')] }] });
    expect(first.fence?.fenced.map((f) => f.cidr)).toEqual(['198.18.0.0/24']);
    const again = planFence({ now: T0 + 9000, local: [lp('a', '198.18.0.0/24')], remotes: [{ remote: 'cb', pools: [rp('x', '198.18.0.0/16')] }], previous: first.fence, fresh: [] });
    expect(again.fence?.cleared).toEqual({ a: 'uid-a' });
    expect(again.fence?.fenced[0]?.since).toBe(first.fence?.fenced[0]?.since);
    expect(sameFence(first.fence, again.fence)).toBe(true);
    // The remote pool goes: so does the fence.
    const gone = planFence({ now: T0 + 9000, local: [lp('a', '198.18.0.0/24')], remotes: [{ remote: 'cb', pools: [] }], previous: again.fence, fresh: [] });
    expect(gone.fence?.fenced).toEqual([]);
    expect(sameFence(again.fence, gone.fence)).toBe(false);
  });

  test('a remote not listed yet plans with its last known pools: the stored doc\'s and those its fenced ranges name', () => {
    const first = plan({ local: [lp('a', '198.18.0.0/16')], remotes: [{ remote: 'cb', pools: [rp('x', '198.18.4.0/24'), rp('y', '198.18.8.0/24')] }, { remote: 'cc', pools: [rp('z', '198.18.9.0/24')] }] });
    const doc = { pools: [rp('x', '198.18.4.0/24')] }; // y is missing from the doc, but the fence names it
    const known = lastKnownPools('cb', doc, first.fence);
    expect(known.map((p) => p.name).sort()).toEqual(['x', 'y']);
    const again = planFence({ now: T0 + 9000, local: [lp('a', '198.18.0.0/16')], remotes: [{ remote: 'cb', pools: known }, { remote: 'cc', pools: lastKnownPools('cc', undefined, first.fence) }], previous: first.fence, fresh: [] });
    expect(sameFence(first.fence, again.fence)).toBe(true);
    expect(lastKnownPools('cd', undefined, first.fence)).toEqual([]);
  });
});

// Random pools inside 198.18.0.0/15 (and 2001:db8::/32) with prefixes that make overlaps common.
const v4 = fc.tuple(fc.integer({ min: 15, max: 20 }), fc.integer({ min: 0, max: 31 })).map(([len, i]) => {
  const base = parseCidr('198.18.0.0/15');
  const size = 1n << BigInt(32 - len);
  const count = 1n << BigInt(len - 15);
  return formatCidr(cidr(4, base.base + (BigInt(i) % count) * size, len));
});
const v6 = fc.integer({ min: 0, max: 3 }).map((i) => `2001:db8:${i}::/48`);
const poolCidr = fc.oneof({ weight: 4, arbitrary: v4 }, { weight: 1, arbitrary: v6 });

const scenario = fc.record({
  local: fc.array(fc.record({ cidr: poolCidr, seenAt: fc.integer({ min: 0, max: 100 }), old: fc.boolean() }), { maxLength: 5 }),
  remotes: fc.array(fc.array(poolCidr, { maxLength: 4 }), { minLength: 1, maxLength: 3 }),
  fresh: fc.array(fc.option(fc.record({ startedAt: fc.integer({ min: 0, max: 100 }), ok: fc.boolean() }), { nil: undefined }), { minLength: 3, maxLength: 3 }),
  activated: fc.boolean(),
});

describe('fence planner properties', () => {
  test('fenced = exactly the overlapping pairs, each by the smaller cidr; cleared never holds an unchecked new pool', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const local = s.local.map((p, i) => lp(`l${i}`, p.cidr, T0 + p.seenAt));
        const remotes = s.remotes.map((pools, r) => ({ remote: `r${r}`, pools: pools.map((c, j) => rp(`r${r}p${j}`, c)) }));
        const previous: ClusterFence | undefined = s.activated
          ? { cleared: Object.fromEntries(local.filter((_, i) => s.local[i]?.old).map((p) => [p.name, p.uid])), held: [], fenced: [], updated: '' }
          : undefined;
        const fresh: FreshRead[] = [];
        remotes.forEach((r, i) => {
          const f = s.fresh[i];
          if (!f) return;
          fresh.push(f.ok ? ok(r.remote, T0 + f.startedAt, r.pools) : { remote: r.remote, startedAt: T0 + f.startedAt, ok: false, error: 'down' });
        });
        const out = planFence({ now: T0 + 200, local, remotes, previous, fresh });
        const fence = out.fence as ClusterFence;

        const expected: string[] = [];
        for (const r of remotes) {
          for (const l of local) {
            for (const p of r.pools) {
              const a = parseCidr(l.cidr);
              const b = parseCidr(p.cidr);
              if (a.family !== b.family || !cidrsOverlap(a, b)) continue;
              expected.push(`${l.name} ${r.remote} ${p.name} ${formatCidr(a.prefix >= b.prefix ? a : b)}`);
            }
          }
        }
        const got = fence.fenced.map((f) => `${f.pool} ${f.remote} ${f.remotePool} ${f.cidr}`);
        expect(got.sort()).toEqual(expected.sort());
        for (const f of fence.fenced) {
          // The fenced range lies inside both pools.
          expect(cidrContainsCidr(parseCidr(f.remoteCidr), parseCidr(f.cidr))).toBe(true);
          expect(cidrContainsCidr(parseCidr(local.find((l) => l.name === f.pool)?.cidr ?? ''), parseCidr(f.cidr))).toBe(true);
        }

        for (const l of local) {
          const isCleared = fence.cleared[l.name] === l.uid;
          const isHeld = fence.held.some((h) => h.pool === l.name);
          expect(isCleared !== isHeld).toBe(true);
          if (!previous || previous.cleared[l.name] === l.uid) {
            expect(isCleared).toBe(true);
            continue;
          }
          if (!isCleared) continue;
          // A newly cleared pool: every remote was read fresh, after the pool was seen, and showed no overlap.
          for (const r of remotes) {
            const f = fresh.find((x) => x.remote === r.remote);
            expect(f?.ok).toBe(true);
            expect((f?.startedAt ?? -1) >= l.seenAt).toBe(true);
            if (f?.ok) for (const p of f.pools) expect(parseCidr(p.cidr).family === parseCidr(l.cidr).family && cidrsOverlap(parseCidr(p.cidr), parseCidr(l.cidr))).toBe(false);
          }
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });
});
