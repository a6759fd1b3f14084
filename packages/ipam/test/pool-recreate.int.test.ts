// A pool deleted and created again over the same range with another
// blockSize (rules.ts refuses only an in-place change): blocks of the old
// size still hold addresses, and no new block may overlap them.
import { afterEach, expect, test } from '@jest/globals';
import { isTerraceError } from '@terrace/api';
import { Allocator } from '../src/index.js';
import { type TestCluster, putIpamConfig, putNode, putPool, testCluster } from './fixtures/cluster.js';
import { liveAllocations } from './fixtures/invariants.js';

let c: TestCluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

test('a pool re-created with another blockSize never hands out an address an old block holds', async () => {
  c = testCluster('recreate');
  await putPool(c, 'p', '10.63.0.0/24', { blockSize: 26 });
  await putNode(c, 'n1');
  await putNode(c, 'n2');
  await putIpamConfig(c, { maxBlocksPerHost: 0, strictAffinity: true });
  const a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 });
  await a.allocate({ handle: 'old', node: 'n1', ip: '10.63.0.5' }); // block 10.63.0.0/26
  await c.etcd.delete().key(c.keys.resource('IPPool', 'p')).exec();
  await putPool(c, 'p2', '10.63.0.0/24', { blockSize: 28 });

  // The address is still held: taking it again is a Conflict naming its holder.
  await expect(a.allocate({ handle: 'thief', node: 'n2', ip: '10.63.0.5' })).rejects.toThrow(/handle old/);
  // Fill n2 from the new pool: 12 blocks of 16 lie outside the old /26.
  for (let i = 0; i < 12 * 16; i += 16) {
    await Promise.all(Array.from({ length: 16 }, (_, j) => a.allocate({ handle: `n2-${i + j}`, node: 'n2' })));
  }
  const last = await a.allocate({ handle: 'one-more', node: 'n2' }).catch((e: unknown) => e);
  expect(isTerraceError(last, 'Exhausted')).toBe(true);
  const { byIP, problems } = await liveAllocations(c);
  expect(problems).toEqual([]);
  expect(byIP.size).toBe(1 + 12 * 16);
  // Release and lookup by address find the old block.
  expect((await a.lookup('10.63.0.5'))?.handle).toBe('old');
  expect((await a.release({ ip: '10.63.0.5' })).map((r) => r.handle)).toEqual(['old']);
});
