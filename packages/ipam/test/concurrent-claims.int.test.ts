// Several nodes, each with an allocator of its own (as each agent has),
// allocate at once until a small pool is full: every address must be handed
// out before anyone is told Exhausted, whatever the interleaving of block
// claims and borrowing.
import { afterEach, describe, expect, test } from '@jest/globals';
import { isTerraceError, parseCidr } from '@terrace/api';
import type { Etcd3 } from 'etcd3';
import { Allocator, CONFIRMED, PENDING, encodeBlock, newBlock } from '../src/index.js';
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

  test('a block another node is claiming right now (affinity written, block not yet) is waited for, not reported Exhausted', async () => {
    const c = testCluster('claims');
    clusters.push(c);
    await putPool(c, 'one', '10.41.0.0/29', { blockSize: 29 }); // a single block of 8
    await putNode(c, 'n1');
    await putNode(c, 'n2');
    // n1's claim between its steps A and B: the pending affinity exists, the block does not yet.
    const cidr = parseCidr('10.41.0.0/29');
    const akey = c.keys.affinity('n1', cidr);
    await c.etcd.put(akey).value(PENDING).exec();
    const finish = (async () => {
      await new Promise((r) => setTimeout(r, 300));
      await c.etcd.put(c.keys.block(cidr)).value(encodeBlock(newBlock(cidr, 'n1'))).exec();
      await c.etcd.put(akey).value(CONFIRMED).exec();
    })();
    const a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 });
    // n2 can claim nothing (the pool's only block is taken) and borrows from n1's block once it exists.
    const got = await a.allocate({ handle: 'n2-0', node: 'n2' });
    await finish;
    expect(got.ips[0]?.block).toBe('10.41.0.0/29');
  }, 30000);

  test('a claim that writes its block just after the borrow read is still waited for, not reported Exhausted', async () => {
    const c = testCluster('claims');
    clusters.push(c);
    await putPool(c, 'one', '10.42.0.0/29', { blockSize: 29 });
    await putNode(c, 'n1');
    await putNode(c, 'n2');
    const cidr = parseCidr('10.42.0.0/29');
    const akey = c.keys.affinity('n1', cidr);
    await c.etcd.put(akey).value(PENDING).exec();
    // n1's step B lands in the gap between n2's read of the blocks (none
    // there) and its look at the claims in flight: the first block-prefix
    // read n2 makes for values completes the claim before n2 sees the answer.
    let armed = true;
    const completeClaim = async () => {
      armed = false;
      await c.etcd.put(c.keys.block(cidr)).value(encodeBlock(newBlock(cidr, 'n1'))).exec();
    };
    const etcd = new Proxy(c.etcd, {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (prop !== 'getAll') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        return () => {
          const b = target.getAll();
          let prefix = '';
          const prefixOf = b.prefix.bind(b);
          b.prefix = (p: string | Buffer) => {
            prefix = p.toString();
            return prefixOf(p);
          };
          // Only a read of the blocks' values (the borrow read), not the claim's keys-only look.
          let keysOnly = false;
          const keysOf = b.keys.bind(b);
          b.keys = () => {
            keysOnly = true;
            return keysOf();
          };
          const exec = b.exec.bind(b);
          b.exec = async () => {
            const res = await exec();
            if (armed && !keysOnly && prefix === c.keys.blockPrefix()) await completeClaim();
            return res;
          };
          return b;
        };
      },
    }) as Etcd3;
    const a = new Allocator({ etcd, keys: c.keys, cacheTtlMs: 0 });
    const got = await a.allocate({ handle: 'n2-0', node: 'n2' });
    expect(armed).toBe(false);
    expect(got.ips[0]?.block).toBe('10.42.0.0/29');
    await c.etcd.put(akey).value(CONFIRMED).exec();
  }, 30000);
});
