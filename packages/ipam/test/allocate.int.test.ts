import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Allocator } from '../src/index.js';
import { type TestCluster, putNode, putPool, testCluster } from './fixtures/cluster.js';

describe('allocate and release', () => {
  let c: TestCluster;
  let a: Allocator;
  beforeAll(async () => {
    c = testCluster('alloc');
    await putPool(c, 'p4', '10.10.0.0/24', { blockSize: 28 });
    await putPool(c, 'p6', 'fd00:10::/120', { blockSize: 124 });
    await putNode(c, 'n1');
    await putNode(c, 'n2');
    a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 });
  });
  afterAll(() => c.close());

  test('allocates from an affine block, idempotent by handle', async () => {
    const r1 = await a.allocate({ handle: 'h1', node: 'n1', attrs: { pod: 'p1', namespace: 'ns' } });
    expect(r1.ips).toHaveLength(1);
    const r2 = await a.allocate({ handle: 'h1', node: 'n1' });
    expect(r2.ips[0]?.ip).toBe(r1.ips[0]?.ip);
    const blocks = await a.affineBlocks('n1');
    expect(blocks.map((b) => b.rec.cidr)).toContain(r1.ips[0]?.block);
  });

  test('concurrent requests on one node get distinct addresses', async () => {
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => a.allocate({ handle: `c${i}`, node: 'n2' })));
    const ips = rs.map((r) => r.ips[0]?.ip);
    expect(new Set(ips).size).toBe(40);
  });

  test('release by handle is idempotent', async () => {
    const r = await a.allocate({ handle: 'rel1', node: 'n1' });
    const first = await a.release({ handle: 'rel1' });
    expect(first.map((x) => x.ip)).toEqual([r.ips[0]?.ip]);
    expect(await a.release({ handle: 'rel1' })).toEqual([]);
  });

  test('dual stack', async () => {
    const r = await a.allocate({ handle: 'dual1', node: 'n1', family: 'dual' });
    expect(r.ips.map((x) => x.family)).toEqual([4, 6]);
    expect(r.ips[1]?.ip.startsWith('fd00:10::')).toBe(true);
  });
});
