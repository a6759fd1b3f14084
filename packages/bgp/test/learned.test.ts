import { describe, expect, it } from '@jest/globals';
import { formatCidr, formatIP } from '@terrace/api';
import { LearnedTable, sliceAtPrefix, type BestPathReport } from '../src/learned.js';
import type { LearnedEvent } from '../src/speaker.js';

const path = (prefix: string, nextHop: string, o: Partial<BestPathReport> = {}): BestPathReport => ({
  prefix,
  nextHop,
  withdraw: false,
  local: false,
  ...o,
});

/** Events as plain strings, easy to compare. */
const show = (evs: LearnedEvent[]): string[] =>
  evs.map((e) => (e.kind === 'set' ? `set ${formatCidr(e.prefix)} ${e.nextHops.map(formatIP).join(',')}` : `withdraw ${formatCidr(e.prefix)}`));

describe('LearnedTable', () => {
  it('reports a new best path, ignores a repeat, and replaces on a new best', () => {
    const t = new LearnedTable();
    expect(show(t.apply([path('198.19.1.0/26', '198.18.0.11')]))).toEqual(['set 198.19.1.0/26 198.18.0.11']);
    expect(show(t.apply([path('198.19.1.0/26', '198.18.0.11')]))).toEqual([]);
    expect(show(t.apply([path('198.19.1.0/26', '198.18.0.12')]))).toEqual(['set 198.19.1.0/26 198.18.0.12']);
    expect(t.size).toBe(1);
  });

  it('treats the paths of one prefix in a report as its whole ECMP set, sorted', () => {
    const t = new LearnedTable();
    const evs = t.apply([path('198.19.9.0/24', '198.18.0.12'), path('198.19.9.0/24', '198.18.0.11'), path('198.19.9.0/24', '198.18.0.12')]);
    expect(show(evs)).toEqual(['set 198.19.9.0/24 198.18.0.11,198.18.0.12']);
    // One of the two equal paths goes: the report carries the remaining one.
    expect(show(t.apply([path('198.19.9.0/24', '198.18.0.12')]))).toEqual(['set 198.19.9.0/24 198.18.0.12']);
  });

  it('withdraws when only a withdrawn path is reported, and only if known', () => {
    const t = new LearnedTable();
    expect(show(t.apply([path('198.19.1.0/26', '198.18.0.11', { withdraw: true })]))).toEqual([]);
    t.apply([path('198.19.1.0/26', '198.18.0.11')]);
    expect(show(t.apply([path('198.19.1.0/26', '198.18.0.11', { withdraw: true })]))).toEqual(['withdraw 198.19.1.0/26']);
    expect(t.size).toBe(0);
  });

  it('does not learn our own (local) paths, and drops a learned prefix whose best became local', () => {
    const t = new LearnedTable();
    expect(show(t.apply([path('198.19.1.0/26', '0.0.0.0', { local: true })]))).toEqual([]);
    t.apply([path('198.19.2.0/26', '198.18.0.12')]);
    expect(show(t.apply([path('198.19.2.0/26', '198.18.0.11', { local: true })]))).toEqual(['withdraw 198.19.2.0/26']);
  });

  it('handles IPv6 with the same code', () => {
    const t = new LearnedTable();
    expect(show(t.apply([path('2001:db8:1::/64', '2001:db8::12'), path('2001:db8:1::/64', '2001:db8::11')]))).toEqual([
      'set 2001:db8:1::/64 2001:db8::11,2001:db8::12',
    ]);
  });

  it('a snapshot withdraws what it no longer holds', () => {
    const t = new LearnedTable();
    t.apply([path('198.19.1.0/26', '198.18.0.11'), path('198.19.2.0/26', '198.18.0.12')]);
    expect(show(t.applySnapshot([path('198.19.2.0/26', '198.18.0.12')], false))).toEqual(['withdraw 198.19.1.0/26']);
  });

  it('after a restart, keeps missing prefixes as stale until the sweep, unless re-learned', () => {
    const t = new LearnedTable();
    t.apply([path('198.19.1.0/26', '198.18.0.11'), path('198.19.2.0/26', '198.18.0.12')]);
    expect(show(t.applySnapshot([], true))).toEqual([]);
    expect(t.staleCount).toBe(2);
    expect(show(t.apply([path('198.19.2.0/26', '198.18.0.12')]))).toEqual([]);
    expect(show(t.sweepStale())).toEqual(['withdraw 198.19.1.0/26']);
    expect([...t.snapshot().keys()]).toEqual(['198.19.2.0/26']);
  });

  it('tells a new subscriber the current state', () => {
    const t = new LearnedTable();
    t.apply([path('198.19.1.0/26', '198.18.0.11')]);
    expect(show(t.currentEvents())).toEqual(['set 198.19.1.0/26 198.18.0.11']);
  });
});

describe('sliceAtPrefix', () => {
  it('never splits the paths of one prefix across slices', () => {
    const ps = [path('a/32', '1.1.1.1'), path('b/32', '1.1.1.1'), path('b/32', '1.1.1.2'), path('c/32', '1.1.1.1')];
    expect(sliceAtPrefix(ps, 0, 2)).toBe(3);
    expect(sliceAtPrefix(ps, 3, 2)).toBe(4);
    expect(sliceAtPrefix(ps, 0, 1)).toBe(1);
  });

  it('dump applied in slices equals the dump applied at once', () => {
    const dump = [path('198.19.1.0/26', '198.18.0.11'), path('198.19.9.0/24', '198.18.0.11'), path('198.19.9.0/24', '198.18.0.12')];
    const a = new LearnedTable();
    a.apply([path('198.19.5.0/24', '198.18.0.13')]);
    const whole = show(a.applySnapshot(dump, false));
    const b = new LearnedTable();
    b.apply([path('198.19.5.0/24', '198.18.0.13')]);
    const parts = show(b.dropMissing(dump, false));
    for (let i = 0; i < dump.length; ) {
      const end = sliceAtPrefix(dump, i, 2);
      parts.push(...show(b.apply(dump.slice(i, end))));
      i = end;
    }
    expect(parts).toEqual(whole);
    expect(whole).toContain('set 198.19.9.0/24 198.18.0.11,198.18.0.12');
  });
});
