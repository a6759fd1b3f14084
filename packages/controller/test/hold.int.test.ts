// A dead node whose routes live agents still learn is held, not freed (hold.ts), against the real
// shared etcd: route queries answered by the harness's nodes, as their agents would.
import { afterEach, describe, expect, test } from '@jest/globals';
import type { ControllerStatus } from '@terrace/api';
import type { BgpPathReport } from '@terrace/datastore';
import { Allocator } from '@terrace/ipam';
import { readStatus } from '../src/status.js';
import { type Harness, harness, pool, sleep, waitFor } from './fixtures.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function nodeStatus(x: Harness, node: string): Promise<ControllerStatus['nodes'][number] | undefined> {
  return (await readStatus(x.etcd, x.keys))?.nodes.find((n) => n.node === node);
}

describe('dead nodes still announced', () => {
  test('held while a live agent learns its block; released once the route is gone', async () => {
    h = harness('ctl-held');
    const x = h;
    await x.store.create(pool('p', '10.78.0.0/24', 28));
    let fabricHas: string[] = [];
    await x.aliveNode('n1', (prefix): BgpPathReport[] => (fabricHas.includes(prefix) ? [{ prefix, nextHop: '198.18.0.2', peer: '', best: true, asPath: [] }] : []));
    const n2 = await x.aliveNode('n2');
    const alloc = new Allocator({ etcd: x.etcd, keys: x.keys, cacheTtlMs: 0 });
    const ip = (await alloc.allocate({ handle: 'n2-pod', node: 'n2' })).ips[0];
    fabricHas = [ip?.block as string];
    // A long route-query timeout: n1 answers at once when idle, but the reason
    // checked below names its answer, so a loaded machine must not time it out.
    const ctl = await x.startController('ctl-a', { nodeGraceMs: 500, intervalMs: 200, routeQueryTimeoutMs: 10_000 });
    await waitFor('ctl-a to lead', () => ctl.c.isLeader());
    await n2.revoke();

    await waitFor('n2 held', async () => (await nodeStatus(x, 'n2'))?.state === 'held', 10_000);
    expect((await nodeStatus(x, 'n2'))?.heldReason).toBe(`${ip?.block} still announced, learned by n1 via 198.18.0.2`);
    await sleep(1000); // several more passes: still held
    expect((await alloc.lookup(ip?.ip as string))?.node).toBe('n2');
    expect(ctl.lines.some((l) => l.message === 'dead node not released: its routes are still in the fabric' && l.node === 'n2')).toBe(true);

    fabricHas = []; // the node is really gone: its route left the fabric
    await waitFor('n2 released', async () => (await alloc.lookup(ip?.ip as string)) === undefined, 10_000);
    await waitFor('status released', async () => (await nodeStatus(x, 'n2'))?.state === 'released');
  });

  test('held when live agents exist but none answers, and while no node is alive; released once an agent answers', async () => {
    h = harness('ctl-mute');
    const x = h;
    await x.store.create(pool('p', '10.79.0.0/24', 28));
    const n2 = await x.aliveNode('n2');
    // n1 is alive but its agent does not answer (a liveness key without a responder).
    const mute = x.etcd.lease(5);
    x.leases.push(mute);
    await mute.put(x.keys.alive('n1')).value('{}').exec();
    const alloc = new Allocator({ etcd: x.etcd, keys: x.keys, cacheTtlMs: 0 });
    const ip = (await alloc.allocate({ handle: 'n2-pod', node: 'n2' })).ips[0]?.ip as string;
    const ctl = await x.startController('ctl-a', { nodeGraceMs: 500, intervalMs: 300, routeQueryTimeoutMs: 500 });
    await waitFor('ctl-a to lead', () => ctl.c.isLeader());
    await n2.revoke();
    await waitFor('n2 held', async () => (await nodeStatus(x, 'n2'))?.state === 'held', 10_000);
    expect((await nodeStatus(x, 'n2'))?.heldReason).toBe('could not confirm that its routes are gone: none of the 1 live agent answered in time');
    expect((await alloc.lookup(ip))?.node).toBe('n2');

    await mute.revoke(); // nobody left who could tell: still held
    await waitFor('n2 held for want of agents', async () => (await nodeStatus(x, 'n2'))?.heldReason === 'could not confirm that its routes are gone: no live agent to ask', 10_000);
    expect((await alloc.lookup(ip))?.node).toBe('n2');

    await x.aliveNode('n3'); // a node joins and answers: it learns nothing of n2's
    await waitFor('n2 released', async () => (await alloc.lookup(ip)) === undefined, 10_000);
  });
});
