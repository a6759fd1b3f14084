// ipam_allocations_gc_reclamations: a released node's series stay while alerts can see them, then go.
import { describe, expect, test } from '@jest/globals';
import { Counter, Registry } from 'prom-client';
import { RECLAIM_SERIES_KEEP_MS, ReclaimSeries } from '../src/reclaim-series.js';

async function series(registry: Registry): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((l) => l.startsWith('ipam_allocations_gc_reclamations{'));
}

describe('reclamation series', () => {
  test('a node\'s series go once it has released nothing for an hour; a node that released since stays', async () => {
    const registry = new Registry();
    let t = 0;
    const s = new ReclaimSeries(new Counter({ name: 'ipam_allocations_gc_reclamations', help: 'h', labelNames: ['ippool', 'node'], registers: [registry] }), RECLAIM_SERIES_KEEP_MS, () => t);
    s.inc('pool-a', 'n1', 3);
    s.inc('pool-b', 'n1', 1);
    s.inc('pool-a', 'n2', 2);
    t = RECLAIM_SERIES_KEEP_MS / 2;
    s.inc('pool-a', 'n2', 1);
    s.prune();
    expect(await series(registry)).toHaveLength(3);
    t = RECLAIM_SERIES_KEEP_MS;
    s.prune();
    expect(await series(registry)).toEqual(['ipam_allocations_gc_reclamations{ippool="pool-a",node="n2"} 3']);
    t = RECLAIM_SERIES_KEEP_MS * 2;
    s.prune();
    expect(await series(registry)).toEqual([]);
  });
});
