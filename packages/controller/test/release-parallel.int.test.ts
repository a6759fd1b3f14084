// Dead nodes whose grace ends together are released side by side, not one
// after another (each release is several etcd round trips per block; 100
// dead nodes in a row took 100 times that). Seen in the log: the second
// release starts before the first one ends. No timing is judged.
import { afterEach, describe, expect, test } from '@jest/globals';
import { Allocator } from '@terrace/ipam';
import { type Harness, harness, pool, waitFor } from './fixtures.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('dead node release', () => {
  test('several dead nodes are released side by side, each completely', async () => {
    h = harness('ctl-rel-par');
    const x = h;
    await x.store.create(pool('p', '10.79.0.0/24', 28));
    const names = ['n1', 'n2', 'n3', 'n4'];
    const leases = [];
    for (const n of names) leases.push(await x.aliveNode(n));
    const alloc = new Allocator({ etcd: x.etcd, keys: x.keys, cacheTtlMs: 0 });
    const ips: string[] = [];
    for (const n of names) for (let i = 0; i < 2; i++) ips.push(...(await alloc.allocate({ handle: `${n}-${i}`, node: n })).ips.map((r) => r.ip));

    // Dead before the controller starts: its first pass starts every grace clock at once,
    // so all four are due in the same pass (revoked one by one, each would be due alone).
    await Promise.all(leases.map((l) => l.revoke()));
    // A live node whose agent answers route queries, learning none of theirs: the release may go ahead.
    await x.aliveNode('witness');
    // The witness has 10 s to answer the route query, and a pass that still
    // found no answer is tried again a second later: the four grace clocks all
    // started in the first pass, so they are due together in whichever pass
    // goes ahead.
    const ctl = await x.startController('ctl-a', { nodeGraceMs: 500, intervalMs: 1000, routeQueryTimeoutMs: 10_000 });
    await waitFor('every dead node released', () => ctl.lines.filter((l) => l.message === 'dead node released').length === names.length, 30_000);

    for (const ip of ips) expect(await alloc.lookup(ip)).toBeUndefined();
    for (const n of names) expect(await alloc.affineBlocks(n)).toEqual([]);
    const order = ctl.lines.filter((l) => l.message === 'releasing dead node' || l.message === 'dead node released').map((l) => l.message);
    expect(order.slice(0, 2)).toEqual(['releasing dead node', 'releasing dead node']);
  });
});
