// How many etcd requests one ADD costs, counted on a client that records
// every request it sends to the real etcd; and a pool too new for the
// allocator's view is read from etcd rather than reported missing.
import { afterEach, expect, test } from '@jest/globals';
import { isTerraceError } from '@terrace/api';
import { resourceWatchCache } from '@terrace/datastore';
import { sharedEtcdEndpoint } from '@terrace/testkit';
import { Allocator, type WatchedResources, fenceWatchCache, podHandle } from '../src/index.js';
import { type TestCluster, putNode, putPool, testCluster } from './fixtures/cluster.js';
import { type CountingClient, countingClient } from './fixtures/counting.js';

let c: TestCluster | undefined;
let cc: CountingClient | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  cc?.etcd.close();
  await c?.close();
  c = cc = undefined;
});

async function setup(): Promise<{ c: TestCluster; cc: CountingClient }> {
  c = testCluster('rtt');
  await putPool(c, 'v4', '10.67.0.0/24', { blockSize: 28 });
  await putNode(c, 'n1');
  cc = countingClient(sharedEtcdEndpoint());
  return { c, cc };
}

/** Pools, nodes and the multi-cluster fence from real watch caches, as the agent has them (on their own client: not counted). */
async function watchedOf(c: TestCluster): Promise<WatchedResources> {
  const pools = resourceWatchCache(c.etcd, c.keys, 'IPPool');
  const nodes = resourceWatchCache(c.etcd, c.keys, 'Node');
  const fence = fenceWatchCache(c.etcd, c.keys);
  closers.push(() => pools.close(), () => nodes.close(), () => fence.cache.close());
  await Promise.all([pools.waitSynced(), nodes.waitSynced(), fence.cache.waitSynced()]);
  return { pools: () => pools.values(), nodes: () => nodes.values(), fence: fence.fence };
}

const add = (a: Allocator, id: string, extra: { pools?: string[] } = {}) =>
  a.allocate({ handle: podHandle('net', id, 'eth0'), node: 'n1', attrs: { containerID: id, iface: 'eth0' }, ...extra });

test('ADD into an affine block with room, pools and nodes watched: one request, the transaction', async () => {
  const { c, cc } = await setup();
  const a = new Allocator({ etcd: cc.etcd, keys: c.keys, watched: await watchedOf(c) });
  await add(a, 'warm'); // claims the node's first block
  const txnOnBlock = new RegExp(`^txn ${c.keys.blockPrefix()}`);

  cc.reset();
  await add(a, 'c1');
  expect(cc.calls()).toEqual([expect.stringMatching(txnOnBlock)]);

  // Still one after the read cache would have expired (default 1 s).
  await new Promise((r) => setTimeout(r, 1100));
  cc.reset();
  const r2 = await add(a, 'c2');
  expect(cc.calls()).toEqual([expect.stringMatching(txnOnBlock)]);

  // A retried ADD is one request too: the transaction's handle compare fails
  // and its else branch returns the handle, which holds the address.
  cc.reset();
  expect((await add(a, 'c2')).ips).toEqual(r2.ips);
  expect(cc.calls()).toEqual([expect.stringMatching(txnOnBlock)]);
});

test('without a watch (the agent before), an ADD after the read cache expired costs two more requests', async () => {
  // The pools and the multi-cluster fence are read in one request (a read-only txn).
  const { c, cc } = await setup();
  const a = new Allocator({ etcd: cc.etcd, keys: c.keys });
  await add(a, 'warm');
  await new Promise((r) => setTimeout(r, 1100));
  cc.reset();
  await add(a, 'c1');
  expect(cc.calls().sort()).toEqual([
    `range ${c.keys.resource('Node', 'n1')}`,
    expect.stringMatching(new RegExp(`^txn ${c.keys.blockPrefix()}`)),
    `txn ${c.keys.resourcePrefix('IPPool')}`,
  ]);
});

test('a named pool newer than the cached pool list is read from etcd, not reported missing', async () => {
  const { c, cc } = await setup();
  const a = new Allocator({ etcd: cc.etcd, keys: c.keys, cacheTtlMs: 60000 });
  await add(a, 'warm'); // the pool list is now cached, without "loop"
  await putPool(c, 'loop', '10.68.0.0/24', { blockSize: 28, assignmentMode: 'Manual' });
  const r = await add(a, 'in-loop', { pools: ['loop'] });
  expect(r.ips[0]?.ip).toMatch(/^10\.68\.0\./);
  // A pool that really does not exist is still NotFound, naming it.
  const e = await add(a, 'nowhere', { pools: ['nowhere'] }).catch((x: unknown) => x);
  expect(isTerraceError(e, 'NotFound') && e.message).toBe('ippool/nowhere does not exist');
});

test('a named pool a lagging watch does not know yet is read from etcd', async () => {
  const { c, cc } = await setup();
  const w = await watchedOf(c);
  // The watch as it stood before "loop" was created.
  const before = w.pools();
  const a = new Allocator({ etcd: cc.etcd, keys: c.keys, watched: { ...w, pools: () => before } });
  await putPool(c, 'loop', '10.68.0.0/24', { blockSize: 28, assignmentMode: 'Manual' });
  const r = await add(a, 'in-loop', { pools: ['loop'] });
  expect(r.ips[0]?.ip).toMatch(/^10\.68\.0\./);
});
