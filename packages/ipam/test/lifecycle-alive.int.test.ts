// releaseNode frees a node's addresses only while its liveness key is absent,
// checked inside every transaction: a node that comes back mid-release (its
// agent re-granted its lease after the controller's last read) keeps what it holds.
import { afterEach, expect, test } from '@jest/globals';
import { Allocator, allocationsOf, decodeBlock, releaseNode } from '../src/index.js';
import { type TestCluster, putNode, putPool, testCluster } from './fixtures/cluster.js';

let c: TestCluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

async function allocationsOfNode(c: TestCluster, node: string): Promise<number> {
  const r = await c.etcd.getAll().prefix(c.keys.blockPrefix()).strings();
  return Object.entries(r).reduce((n, [k, v]) => n + allocationsOf(decodeBlock(k, v)).filter((x) => x.alloc.node === node).length, 0);
}

async function setup(): Promise<{ c: TestCluster; a: Allocator }> {
  c = testCluster('alive');
  await putPool(c, 'p', '10.31.0.0/24', { blockSize: 28 });
  await putNode(c, 'n1');
  return { c, a: new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 }) };
}

test('a node whose liveness key exists loses nothing', async () => {
  const { c, a } = await setup();
  for (let i = 0; i < 3; i++) await a.allocate({ handle: `h${i}`, node: 'n1' });
  await c.etcd.put(c.keys.alive('n1')).value('up').exec();
  const res = await releaseNode(c.etcd, c.keys, 'n1');
  expect(res.releasedIPs).toBe(0);
  expect(res.aliveAgain).toBe(true);
  expect(await allocationsOfNode(c, 'n1')).toBe(3);
  expect(await a.affineBlocks('n1')).toHaveLength(1);
});

test('a node that comes back between blocks keeps the rest, and its new pod keeps its address', async () => {
  const { c, a } = await setup();
  for (let i = 0; i < 20; i++) await a.allocate({ handle: `h${i}`, node: 'n1' }); // two blocks of 16
  expect(await a.affineBlocks('n1')).toHaveLength(2);
  let fresh = '';
  const res = await releaseNode(c.etcd, c.keys, 'n1', async (done) => {
    // After the first block: the agent re-registers and wires a new pod,
    // before any watch could tell the caller.
    if (done === 1 && fresh === '') {
      await c.etcd.put(c.keys.alive('n1')).value('up').exec();
      fresh = (await a.allocate({ handle: 'fresh', node: 'n1' })).ips[0]?.ip ?? '';
    }
  });
  expect(fresh).not.toBe('');
  expect((await a.lookup(fresh))?.handle).toBe('fresh');
  expect(await a.affineBlocks('n1')).toHaveLength(2);
  expect(res.aliveAgain).toBe(true);
  expect(await allocationsOfNode(c, 'n1')).toBeGreaterThanOrEqual(5); // the second block's 4 and the new pod
  expect((await a.check()).issues).toEqual([]);
});
