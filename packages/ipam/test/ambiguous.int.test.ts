// Transactions that etcd applied but whose reply the client never saw (or
// saw only for a retry of the same request): the allocator must neither
// leak nor hand out twice, and a retried ADD must get the same address.
import { afterEach, expect, test } from '@jest/globals';
import { sharedEtcdEndpoint } from '@terrace/testkit';
import { Allocator, affinityNode, decodeBlock } from '../src/index.js';
import { type TestCluster, putNode, putPool, testCluster } from './fixtures/cluster.js';
import { type FaultyClient, faultyClient } from './fixtures/faulty.js';
import { liveAllocations } from './fixtures/invariants.js';

let c: TestCluster | undefined;
let f: FaultyClient | undefined;
afterEach(async () => {
  await c?.close();
  f?.etcd.close();
  c = f = undefined;
});

async function setup(): Promise<{ c: TestCluster; f: FaultyClient; a: Allocator }> {
  c = testCluster('ambig');
  await putPool(c, 'v4', '10.62.0.0/24', { blockSize: 28 });
  await putPool(c, 'v6', 'fd00:62::/120', { blockSize: 124 });
  await putNode(c, 'n1');
  f = faultyClient(sharedEtcdEndpoint());
  return { c, f, a: new Allocator({ etcd: f.etcd, keys: c.keys, cacheTtlMs: 0 }) };
}

/** Blocks that name a node as affine while that node holds no affinity key for them. */
async function blocksWithoutAffinity(c: TestCluster): Promise<string[]> {
  const blocks = await c.etcd.getAll().prefix(c.keys.blockPrefix()).strings();
  const out: string[] = [];
  for (const [k, v] of Object.entries(blocks)) {
    const rec = decodeBlock(k, v);
    const node = affinityNode(rec.affinity);
    if (node !== undefined && (await c.etcd.get(c.keys.affinity(node, rec.cidr)).string()) === null) out.push(rec.cidr);
  }
  return out;
}

test('a claim whose block-creating txn applied and was then retried keeps the block (no orphan block)', async () => {
  const { c, f, a } = await setup();
  // A fresh node's first allocation: claim txns 1 (pending), 2 (create block), 3 (confirm), then 4 (assign).
  f.arm(2, 'replay');
  const r = await a.allocate({ handle: 'h1', node: 'n1' });
  expect(f.fired()).toBe(true);
  expect(await blocksWithoutAffinity(c)).toEqual([]);
  // Once empty, every block the node claimed is given back.
  await a.release({ handle: 'h1' });
  await a.releaseEmptyBlocks('n1');
  expect(Object.keys(await c.etcd.getAll().prefix(c.keys.blockPrefix()).strings())).toEqual([]);
  expect(r.ips).toHaveLength(1);
});

test('an assignment applied but reported lost: the retried ADD gets the same address, nothing leaks', async () => {
  const { c, f, a } = await setup();
  f.arm(4, 'lose');
  await expect(a.allocate({ handle: 'h1', node: 'n1' })).rejects.toThrow(/injected/);
  const again = await a.allocate({ handle: 'h1', node: 'n1' });
  const { byIP, problems } = await liveAllocations(c);
  expect(problems).toEqual([]);
  expect([...byIP]).toEqual([[again.ips[0]?.ip, 'h1']]);
  expect((await a.check()).issues).toEqual([]);
});

test('an assignment applied and retried by the client resolves with the address it wrote', async () => {
  const { c, f, a } = await setup();
  f.arm(4, 'replay');
  const r = await a.allocate({ handle: 'h1', node: 'n1' });
  expect(f.fired()).toBe(true);
  const { byIP, problems } = await liveAllocations(c);
  expect(problems).toEqual([]);
  expect([...byIP]).toEqual([[r.ips[0]?.ip, 'h1']]);
});

test('dual stack: the v6 assignment applied but reported lost; the retry returns both, one address each', async () => {
  const { c, f, a } = await setup();
  // v4: claim 1-3, assign 4; v6: claim 5-7, assign 8.
  f.arm(8, 'lose');
  await expect(a.allocate({ handle: 'd1', node: 'n1', family: 'dual' })).rejects.toThrow(/injected/);
  const again = await a.allocate({ handle: 'd1', node: 'n1', family: 'dual' });
  expect(again.ips.map((x) => x.family)).toEqual([4, 6]);
  const { byIP, problems } = await liveAllocations(c);
  expect(problems).toEqual([]);
  expect(new Map([...byIP].sort())).toEqual(new Map(again.ips.map((x) => [x.ip, 'd1'] as [string, string]).sort()));
  expect((await a.check()).issues).toEqual([]);
});
