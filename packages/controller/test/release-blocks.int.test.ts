// A dead node's release reads the blocks the pass's snapshot saw holding its
// addresses, not every block of the cluster: with thousands of nodes, reading
// and decoding every block once per dead node made freeing 100 dead nodes
// cost 100 full reads. What shows it from outside: a block elsewhere that
// cannot be decoded no longer stops every dead node's release.
import { afterEach, describe, expect, test } from '@jest/globals';
import { Allocator } from '@terrace/ipam';
import type { PassResult } from '../src/controller.js';
import { type Harness, harness, pool, waitFor } from './fixtures.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('dead node release', () => {
  test('touches only the blocks holding the node\'s addresses: an undecodable block elsewhere does not stop it', async () => {
    h = harness('ctl-rel-blocks');
    const x = h;
    await x.store.create(pool('p', '10.78.0.0/24', 28));
    await x.aliveNode('n1');
    await x.aliveNode('n2');
    const alloc = new Allocator({ etcd: x.etcd, keys: x.keys, cacheTtlMs: 0 });
    const n1 = (await alloc.allocate({ handle: 'n1-a', node: 'n1' })).ips.map((r) => r.ip);
    const n2: string[] = [];
    for (let i = 0; i < 3; i++) n2.push(...(await alloc.allocate({ handle: `n2-${i}`, node: 'n2' })).ips.map((r) => r.ip));
    // Someone else's block, damaged: the pass reports it and leaves it alone.
    await x.etcd.put(x.keys.block('10.78.0.240/28')).value('{"not":"a block"');

    const ctl = await x.startController('ctl-a', { nodeGraceMs: 500, intervalMs: 200 });
    await waitFor('ctl-a to lead', () => ctl.c.isLeader());
    const passes: PassResult[] = [];
    ctl.c.on('pass', (p) => passes.push(p));
    await x.leases[1]?.revoke();

    await waitFor('n2 to be released', () => passes.some((p) => p.nodes.some((n) => n.node === 'n2' && n.released)), 8000);
    for (const ip of n2) expect(await alloc.lookup(ip)).toBeUndefined();
    for (const ip of n1) expect((await alloc.lookup(ip))?.node).toBe('n1');
    expect(passes.flatMap((p) => p.errors).filter((e) => e.startsWith('release node'))).toEqual([]);
    expect(passes.some((p) => p.errors.some((e) => e.includes('does not hold a valid block')))).toBe(true);
    expect(await x.etcd.get(x.keys.block('10.78.0.240/28')).string()).toBe('{"not":"a block"');
  });
});
