// Release semantics, node lifecycle, and check/repair of leftovers.
import { afterEach, describe, expect, test } from '@jest/globals';
import { parseCidr } from '@terrace/api';
import { Allocator, PENDING, encodeBlock, encodeHandle, newBlock } from '../src/index.js';
import { type TestCluster, deleteNode, putNode, putPool, testCluster } from './fixtures/cluster.js';

let c: TestCluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

async function setup(): Promise<{ c: TestCluster; a: Allocator }> {
  c = testCluster('life');
  await putPool(c, 'p', '10.30.0.0/24', { blockSize: 28 });
  await putNode(c, 'n1');
  await putNode(c, 'n2');
  return { c, a: new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 }) };
}

describe('release', () => {
  test('a late release carrying a stale seq frees nothing', async () => {
    const { a } = await setup();
    const first = await a.allocate({ handle: 'old', node: 'n1', ip: '10.30.0.9' });
    await a.release({ handle: 'old' });
    const second = await a.allocate({ handle: 'new', node: 'n1', ip: '10.30.0.9' });
    expect(second.ips[0]?.seq).toBeGreaterThan(first.ips[0]?.seq ?? Infinity);
    // The old pod's DEL arrives late, by address and seq, or by handle and seq.
    expect(await a.release({ ip: '10.30.0.9', seq: first.ips[0]?.seq })).toEqual([]);
    expect(await a.release({ handle: 'old', seq: first.ips[0]?.seq })).toEqual([]);
    expect(await a.release({ ip: '10.30.0.9', handle: 'old' })).toEqual([]);
    expect((await a.lookup('10.30.0.9'))?.handle).toBe('new');
    // A retried request for the same handle gets the same address; a release naming another seq leaves it.
    const again = await a.allocate({ handle: 'new', node: 'n1' });
    expect(again.ips[0]?.ip).toBe('10.30.0.9');
    expect(await a.release({ handle: 'new', seq: 1 })).toEqual([]);
    expect((await a.release({ handle: 'new' })).map((r) => r.ip)).toEqual(['10.30.0.9']);
  });

  test('release by address also updates the handle; idempotent', async () => {
    const { a } = await setup();
    const r = await a.allocate({ handle: 'h', node: 'n1', family: 4 });
    const ip = r.ips[0]?.ip ?? '';
    expect((await a.release({ ip })).map((x) => x.handle)).toEqual(['h']);
    expect(await a.release({ ip })).toEqual([]);
    expect(await a.release({ handle: 'h' })).toEqual([]);
    expect((await a.check()).issues).toEqual([]);
  });
});

describe('node lifecycle', () => {
  test('releaseEmptyBlocks gives back only empty blocks', async () => {
    const { a } = await setup();
    const rs = [];
    for (let i = 0; i < 17; i++) rs.push(await a.allocate({ handle: `h${i}`, node: 'n1' })); // two blocks of 16
    expect(await a.affineBlocks('n1')).toHaveLength(2);
    expect(await a.releaseEmptyBlocks('n1')).toEqual([]);
    await a.release({ handle: 'h16' });
    const lone = rs[16]?.ips[0]?.block;
    expect(await a.releaseEmptyBlocks('n1')).toEqual([lone]);
    expect((await a.affineBlocks('n1')).map((b) => b.rec.cidr)).not.toContain(lone);
    // The allocator recovers: a new request claims again.
    await a.allocate({ handle: 'h16', node: 'n1' });
    expect((await a.check()).issues).toEqual([]);
  });

  test('releaseNode frees a gone node everywhere and keeps blocks others borrow from', async () => {
    const { c, a } = await setup();
    for (let i = 0; i < 3; i++) await a.allocate({ handle: `n1-${i}`, node: 'n1' });
    const nb = await a.allocate({ handle: 'n2-0', node: 'n2' });
    // n2 also holds an address in n1's block (borrowed, simulated with a specific request).
    const n1Block = (await a.affineBlocks('n1'))[0]?.rec.cidr ?? '';
    const borrowedIP = n1Block.replace(/\.(\d+)\/28$/, (_m, d: string) => `.${Number(d) + 15}`);
    await a.allocate({ handle: 'n2-b', node: 'n2', ip: borrowedIP });
    // ...and n1 holds one in n2's block.
    const inN2 = (nb.ips[0]?.block ?? '').replace(/\.(\d+)\/28$/, (_m, d: string) => `.${Number(d) + 14}`);
    await a.allocate({ handle: 'n1-x', node: 'n1', ip: inN2 });

    await deleteNode(c, 'n1');
    const before = await a.check();
    expect(before.summary.allocationNodeNotRegistered).toBe(4);
    expect(before.summary.blockNodeGone).toBe(1);

    const res = await a.releaseNode('n1');
    expect(res.releasedIPs).toBe(4);
    expect(res.unaffinedBlocks).toEqual([n1Block]);
    expect((await a.check()).issues).toEqual([]);
    expect(await a.affineBlocks('n1')).toEqual([]);
    // The unaffine block goes away with its last address.
    await a.release({ handle: 'n2-b' });
    expect((await a.blocks()).map((b) => b.cidr)).not.toContain(n1Block);
  });
});

describe('check and repair', () => {
  test('finds and repairs every kind of leftover, only while unchanged', async () => {
    const { c, a } = await setup();
    const { etcd, keys } = c;
    // Every allocation first: the allocator claims a random free block, and
    // must not land on (or tidy away) the leftovers made up below.
    const ok = await a.allocate({ handle: 'ok', node: 'n1' });
    const orphan = await a.allocate({ handle: 'orphan', node: 'n1' });
    await putNode(c, 'n3');
    await a.allocate({ handle: 'n3-0', node: 'n3' });
    const used = new Set((await a.blocks()).map((b) => b.cidr));
    const [cA, cB, cC] = Array.from({ length: 16 }, (_, i) => `10.30.0.${i * 16}/28`).filter((x) => !used.has(x));
    if (!cA || !cB || !cC) throw new Error('no free blocks left for the test');
    // A claim that crashed after its first step: pending affinity, no block.
    await etcd.put(keys.affinity('n1', cA)).value(PENDING).exec();
    // A claim that crashed after its second step: block exists, affinity still pending.
    await etcd.put(keys.affinity('n2', cB)).value(PENDING).exec();
    await etcd.put(keys.block(cB)).value(encodeBlock(newBlock(parseCidr(cB), 'n2'))).exec();
    // A handle pointing at nothing.
    const ghostIP = cC.replace(/\.(\d+)\/28$/, (_m, d: string) => `.${Number(d) + 1}`);
    await etcd.put(keys.handle('ghost')).value(encodeHandle({ handle: 'ghost', ips: [{ block: cC, ordinal: 1, seq: 5, ip: ghostIP }] })).exec();
    // An allocation whose handle is missing.
    await etcd.delete().key(keys.handle('orphan')).exec();
    // A block whose node is gone.
    await deleteNode(c, 'n3');

    const report = await a.check();
    expect(report.summary).toEqual({
      allocationNodeNotRegistered: 1,
      handleWithoutAllocation: 1,
      allocationWithoutHandle: 1,
      affinityWithoutBlock: 1,
      blockNodeGone: 1,
      affinityUnconfirmed: 1,
      handleOfTwoInterfaces: 0,
      allocationNotOfHandle: 0,
      addressInTwoHandles: 0,
    });
    expect(report.issues.find((i) => i.kind === 'allocationWithoutHandle')?.ip).toBe(orphan.ips[0]?.ip);

    const dry = await a.repair(report, { dryRun: true });
    expect(dry.every((x) => x.outcome === 'would')).toBe(true);
    expect((await a.check()).issues).toHaveLength(6);

    // n3 comes back before the repair: its entries are no longer in the reported state.
    await putNode(c, 'n3');
    const done = await a.repair(report);
    const skipped = done.filter((x) => x.outcome === 'skipped').map((x) => x.issue.kind).sort();
    expect(skipped).toEqual(['allocationNodeNotRegistered', 'blockNodeGone']);
    expect((await a.check()).issues).toEqual([]);
    expect((await a.lookup(ok.ips[0]?.ip ?? ''))?.handle).toBe('ok');
    expect(await a.lookup(orphan.ips[0]?.ip ?? '')).toBeUndefined();
  });
});
