// Several nodes, each with an allocator of its own (as each agent has),
// allocate at once until a small pool is full: every address must be handed
// out before anyone is told Exhausted, whatever the interleaving of block
// claims and borrowing.
import { afterEach, describe, expect, test } from '@jest/globals';
import { isTerraceError } from '@terrace/api';
import { Allocator } from '../src/index.js';
import { type TestCluster, putNode, putPool, testCluster } from './fixtures/cluster.js';

const clusters: TestCluster[] = [];
afterEach(async () => {
  await Promise.all(clusters.splice(0).map((c) => c.close()));
});

interface RoundResult {
  ok: number;
  exhausted: string[];
  other: string[];
}

/** `nodes` allocators each ask for `perNode` addresses at once from one pool of `capacity`. */
async function round(nodes: number, perNode: number): Promise<RoundResult> {
  const c = testCluster('claims');
  clusters.push(c);
  await putPool(c, 'small', '10.40.0.0/27', { blockSize: 29 }); // 4 blocks of 8: 32 addresses
  const names = Array.from({ length: nodes }, (_, i) => `n${i + 1}`);
  for (const n of names) await putNode(c, n);
  const res: RoundResult = { ok: 0, exhausted: [], other: [] };
  await Promise.all(
    names.map(async (node) => {
      const a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 });
      await Promise.all(
        Array.from({ length: perNode }, async (_, i) => {
          try {
            await a.allocate({ handle: `${node}-${i}`, node });
            res.ok++;
          } catch (e) {
            if (isTerraceError(e, 'Exhausted')) res.exhausted.push((e as Error).message);
            else res.other.push(String(e));
          }
        }),
      );
    }),
  );
  return res;
}

describe('concurrent block claims from several nodes', () => {
  test('a full pool is filled completely before anyone is told Exhausted', async () => {
    const failures: string[] = [];
    for (let r = 0; r < 12; r++) {
      const [nodes, perNode]: [number, number] = r % 2 === 0 ? [3, 12] : [6, 6];
      // 36 requests (3 nodes × 12, or 6 × 6) for 32 addresses: exactly 4 must be refused.
      const res = await round(nodes, perNode);
      expect(res.other).toEqual([]);
      if (res.ok !== 32) failures.push(`round ${r}: ${res.ok} of 32 handed out; ${res.exhausted.length} Exhausted: ${res.exhausted[0] ?? ''}`);
    }
    expect(failures).toEqual([]);
  }, 120000);
});
