// The agent's learned-route bookkeeping, with a sink that records what it is
// handed (the real sink, RouteSync, is covered against the kernel in the
// agent and dataplane integration tests).
import { describe, expect, it } from '@jest/globals';
import { type PackedAddr, type PackedPrefix, formatAddr, formatPrefix, packCidr, packIP, parseCidr, parseIP } from '@terrace/api';
import type { LearnedEvent } from '@terrace/bgp';
import { LearnedRoutes } from '../src/learned.js';
import type { KernelRoute } from '../src/routes.js';

/** Prefixes and addresses as the speaker delivers them: packed. */
const P = (s: string): PackedPrefix => packCidr(parseCidr(s));
const A = (s: string): PackedAddr => packIP(parseIP(s));

const show = (r: KernelRoute): string =>
  r.kind !== 'unicast' ? `${r.kind} ${formatPrefix(r.dst)}` : `${formatPrefix(r.dst)} via ${r.nextHops.map((h) => (h.via ? formatAddr(h.via) : '?')).join(',')}`;

class Recorder {
  calls: string[] = [];
  upsert(routes: Iterable<KernelRoute>): void {
    this.calls.push(`upsert ${[...routes].map(show).join('; ')}`);
  }
  remove(ids: Iterable<PackedPrefix>): void {
    this.calls.push(`remove ${[...ids].map((c) => formatPrefix(c)).join('; ')}`);
  }
  take(): string[] {
    return this.calls.splice(0);
  }
}

/** Next-hop lists are shared between prefixes and events, as the speaker shares them. */
const viaB: readonly PackedAddr[] = Object.freeze([A('198.18.0.12')]);
const viaBC: readonly PackedAddr[] = Object.freeze([A('198.18.0.12'), A('198.18.0.13')]);
const set = (p: string, nextHops: readonly PackedAddr[]): LearnedEvent => ({ kind: 'set', prefix: P(p), nextHops });
const withdraw = (p: string): LearnedEvent => ({ kind: 'withdraw', prefix: P(p) });
const self = (...addrs: string[]) => ({ originated: new Set([P('10.244.0.0/26')]), selfAddresses: new Set(addrs.map(A)) });

function fresh(): { learned: LearnedRoutes; sink: Recorder; refused: string[] } {
  const sink = new Recorder();
  const refused: string[] = [];
  const learned = new LearnedRoutes(sink, (e) => refused.push(e.message));
  learned.setContext(self('198.18.0.11'), new Set([P('10.244.0.0/26')]));
  sink.take();
  return { learned, sink, refused };
}

describe('LearnedRoutes', () => {
  it('hands a batch over as one upsert, and only what changed after that', () => {
    const { learned, sink } = fresh();
    learned.apply([set('10.244.1.0/26', viaB), set('10.244.2.0/26', viaB)]);
    expect(sink.take()).toEqual(['upsert 10.244.1.0/26 via 198.18.0.12; 10.244.2.0/26 via 198.18.0.12']);
    // The same paths again (a session coming back up): nothing for the kernel.
    learned.apply([set('10.244.1.0/26', viaB), set('10.244.2.0/26', viaB)]);
    expect(sink.take()).toEqual([]);
    // A second equal best path: one multipath route.
    learned.apply([set('10.244.1.0/26', viaBC)]);
    expect(sink.take()).toEqual(['upsert 10.244.1.0/26 via 198.18.0.12,198.18.0.13']);
    expect([learned.learnedCount, learned.installedCount]).toEqual([2, 3]);
  });

  it('keeps a blackhole per owned block beside every usable learned route, multipath sorted', () => {
    const { learned, sink } = fresh();
    const viaCB: readonly PackedAddr[] = Object.freeze([A('198.18.0.13'), A('198.18.0.12')]);
    const viaSelf: readonly PackedAddr[] = Object.freeze([A('198.18.0.11')]);
    learned.apply([set('10.244.1.0/26', viaB), set('10.244.0.0/26', viaB), set('10.243.0.0/26', viaCB), set('10.245.0.0/26', viaSelf)]);
    expect(sink.take()).toEqual(['upsert 10.244.1.0/26 via 198.18.0.12; 10.243.0.0/26 via 198.18.0.12,198.18.0.13']);
    expect(learned.kernelRoutes().map(show).sort()).toEqual(['10.243.0.0/26 via 198.18.0.12,198.18.0.13', '10.244.1.0/26 via 198.18.0.12', 'blackhole 10.244.0.0/26']);
    expect([learned.learnedCount, learned.installedCount]).toEqual([4, 3]);
  });

  it('removes a withdrawn prefix and ignores a withdrawal of one it never had', () => {
    const { learned, sink } = fresh();
    learned.apply([set('10.244.1.0/26', viaB), set('10.244.2.0/26', viaB)]);
    sink.take();
    learned.apply([withdraw('10.244.1.0/26'), withdraw('10.244.9.0/26')]);
    expect(sink.take()).toEqual(['remove 10.244.1.0/26']);
    expect([learned.learnedCount, learned.installedCount]).toEqual([1, 2]);
    expect(learned.kernelRoutes().map(show).sort()).toEqual(['10.244.2.0/26 via 198.18.0.12', 'blackhole 10.244.0.0/26']);
  });

  it('keeps our own block a blackhole whatever is learned for it, and restores the learned route when it stops being ours', () => {
    const { learned, sink } = fresh();
    learned.apply([set('10.244.0.0/26', viaB)]);
    expect(sink.take()).toEqual([]);
    expect(learned.learnedCount).toBe(1);
    // The block moved to another node: no longer originated nor blackholed here.
    learned.setContext({ originated: new Set(), selfAddresses: new Set([A('198.18.0.11')]) }, new Set());
    expect(sink.take()).toEqual(['upsert 10.244.0.0/26 via 198.18.0.12']);
    learned.setContext(self('198.18.0.11'), new Set([P('10.244.0.0/26')]));
    expect(sink.take()).toEqual(['upsert blackhole 10.244.0.0/26']);
    learned.setContext(self('198.18.0.11'), new Set());
    expect(sink.take()).toEqual(['remove 10.244.0.0/26']);
  });

  it('re-derives every learned prefix when our addresses change', () => {
    const { learned, sink } = fresh();
    learned.apply([set('10.244.1.0/26', viaB), set('10.244.2.0/26', viaBC)]);
    sink.take();
    // 198.18.0.12 is now our own: a path via it leads back to us.
    learned.setContext(self('198.18.0.12'), new Set([P('10.244.0.0/26')]));
    expect(sink.take()).toEqual(['remove 10.244.1.0/26', 'upsert 10.244.2.0/26 via 198.18.0.13']);
    expect([learned.learnedCount, learned.installedCount]).toEqual([2, 2]);
  });

  it('hands changes over in the order they happened: a prefix announced and withdrawn in one batch ends withdrawn', () => {
    const { learned, sink } = fresh();
    learned.apply([set('10.244.1.0/26', viaB), set('10.244.2.0/26', viaB), withdraw('10.244.1.0/26'), set('10.244.1.0/26', viaBC), withdraw('10.244.1.0/26')]);
    expect(sink.take()).toEqual([
      'upsert 10.244.1.0/26 via 198.18.0.12; 10.244.2.0/26 via 198.18.0.12',
      'remove 10.244.1.0/26',
      'upsert 10.244.1.0/26 via 198.18.0.12,198.18.0.13',
      'remove 10.244.1.0/26',
    ]);
    expect([learned.learnedCount, learned.installedCount]).toEqual([1, 2]);
  });

  it('when the sink refuses a batch, hands over the rest one by one and forgets only what was refused', () => {
    // As route sync does: every route is checked before any is taken.
    const taken: string[] = [];
    const picky = {
      upsert(routes: Iterable<KernelRoute>): void {
        const all = [...routes];
        if (all.some((r) => formatPrefix(r.dst) === '10.244.1.0/26')) throw new Error('route 10.244.1.0/26: refused');
        taken.push(...all.map(show));
      },
      remove(): void {},
    };
    const refused: string[] = [];
    const learned = new LearnedRoutes(picky, (e) => refused.push(e.message));
    learned.apply([set('10.244.1.0/26', viaB), set('10.244.2.0/26', viaB), set('10.244.3.0/26', viaB)]);
    expect(taken).toEqual(['10.244.2.0/26 via 198.18.0.12', '10.244.3.0/26 via 198.18.0.12']);
    expect(refused).toEqual(['route 10.244.1.0/26: refused']);
    expect([learned.learnedCount, learned.installedCount]).toEqual([3, 2]);
    expect(learned.kernelRoutes().map(show).sort()).toEqual(taken);
  });
});
