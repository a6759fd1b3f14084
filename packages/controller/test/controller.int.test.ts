// The controller against the real shared etcd: election, failover, dead-node release after the
// grace period (and not before), nodes that return in time, the default pool, empty blocks.
import { afterEach, describe, expect, test } from '@jest/globals';
import type { ControllerStatus } from '@terrace/api';
import { Allocator } from '@terrace/ipam';
import type { PassResult } from '../src/controller.js';
import { ensureDefaultPools } from '../src/pools.js';
import { readStatus } from '../src/status.js';
import { type Harness, harness, memoryLogger, pool, sleep, waitFor } from './fixtures.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function leaders(x: Harness): string[] {
  return x.controllers.filter((e) => e.c.isLeader()).map((e) => e.c.identity);
}

async function status(x: Harness): Promise<ControllerStatus | undefined> {
  return readStatus(x.etcd, x.keys);
}

describe('leader election', () => {
  test('two controllers: exactly one leads; when it stops, the other takes over', async () => {
    h = harness('ctl-elect');
    const x = h;
    await x.startController('ctl-a');
    await x.startController('ctl-b');
    await waitFor('a leader', () => leaders(x).length === 1);
    const first = leaders(x)[0] as string;
    // Never two, and always the same one, over several watchdog rounds.
    for (let i = 0; i < 20; i++) {
      await sleep(100);
      expect(leaders(x).filter((l) => l !== first)).toEqual([]);
    }
    await waitFor('the first leader to lead again after any stall', () => leaders(x).length === 1 && leaders(x)[0] === first);
    await waitFor('the leader\'s status record', async () => (await status(x))?.leader === first);

    const old = x.controllers.find((e) => e.c.identity === first);
    await old?.c.stop();
    await waitFor('the other to take over', () => leaders(x).length === 1 && leaders(x)[0] !== first, 5000);
    const second = leaders(x)[0];
    expect(second).not.toBe(first);
    await waitFor('the new leader\'s status record', async () => (await status(x))?.leader === second);
  });

  test('a leader that dies without resigning is replaced once its lease expires', async () => {
    h = harness('ctl-crash');
    const x = h;
    const a = await x.startController('ctl-a');
    await waitFor('ctl-a to lead', () => a.c.isLeader());
    const b = await x.startController('ctl-b');
    await sleep(300);
    expect(b.c.isLeader()).toBe(false);
    // A crash: no resignation, the client goes away, the lease (TTL 5 s) runs out.
    const lost = new Promise<void>((r) => a.c.once('lost', () => r()));
    a.etcd.close();
    await lost; // a stops acting by itself once it cannot confirm its lease
    await waitFor('ctl-b to take over', () => b.c.isLeader(), 15000);
    expect(a.c.isLeader()).toBe(false);
  });
});

describe('dead nodes', () => {
  const GRACE_MS = 3000;
  async function setup(x: Harness): Promise<{ alloc: Allocator; n1: string[]; n2: string[] }> {
    await x.store.create(pool('p', '10.77.0.0/24', 28));
    await x.aliveNode('n1');
    await x.aliveNode('n2');
    const alloc = new Allocator({ etcd: x.etcd, keys: x.keys, cacheTtlMs: 0 });
    const n1: string[] = [];
    const n2: string[] = [];
    for (let i = 0; i < 3; i++) n1.push(...(await alloc.allocate({ handle: `n1-pod${i}`, node: 'n1', attrs: { pod: `p${i}` } })).ips.map((r) => r.ip));
    // n2 fills one block and starts a second one.
    for (let i = 0; i < 18; i++) n2.push(...(await alloc.allocate({ handle: `n2-pod${i}`, node: 'n2', attrs: { pod: `q${i}` } })).ips.map((r) => r.ip));
    return { alloc, n1, n2 };
  }

  test('a node whose lease is revoked loses its addresses after the grace period, not before; live nodes keep theirs', async () => {
    h = harness('ctl-dead');
    const x = h;
    const { alloc, n1, n2 } = await setup(x);
    const leaseN2 = x.leases[1];
    // Passes every 100 ms: many of them fall inside the grace period. The
    // grace is long enough that the checks inside it stay inside it on a
    // loaded machine (a 1 s grace was once read past under load).
    const ctl = await x.startController('ctl-a', { nodeGraceMs: GRACE_MS, intervalMs: 100 });
    await waitFor('ctl-a to lead', () => ctl.c.isLeader());

    const released: { at: number; pass: PassResult }[] = [];
    ctl.c.on('pass', (p) => {
      if (p.nodes.some((n) => n.released)) released.push({ at: Date.now(), pass: p });
    });
    const revokedAt = Date.now();
    await leaseN2?.revoke();

    // Well inside the grace period: nothing freed.
    await sleep(1000);
    expect(released).toEqual([]);
    for (const ip of [...n1, ...n2]) expect(await alloc.lookup(ip)).toBeDefined();

    await waitFor('n2 to be released', () => released.length > 0, GRACE_MS + 5000);
    const first = released[0];
    expect((first?.at ?? 0) - revokedAt).toBeGreaterThanOrEqual(GRACE_MS);
    expect(first?.pass.nodes).toEqual([expect.objectContaining({ node: 'n2', released: true, addresses: 18 })]);
    expect(first?.pass.nodeBlocksReleased).toHaveLength(2);

    for (const ip of n2) expect(await alloc.lookup(ip)).toBeUndefined();
    for (const ip of n1) expect((await alloc.lookup(ip))?.node).toBe('n1');
    expect(await alloc.affineBlocks('n2')).toEqual([]);
    expect((await alloc.affineBlocks('n1')).length).toBe(1);
    expect((await alloc.check()).issues.filter((i) => i.kind !== 'allocationNodeNotRegistered')).toEqual([]);

    // Every freed address and block is in the logs.
    const freed = ctl.lines.filter((l) => l.message === 'address freed').map((l) => l.ip);
    expect(new Set(freed)).toEqual(new Set(n2));
    expect(ctl.lines.filter((l) => l.message === 'block released' && l.node === 'n2')).toHaveLength(2);

    await waitFor('the status to show n2 released', async () => {
      const s = await status(x);
      return s?.nodes.find((n) => n.node === 'n2')?.state === 'released' && s.totals.addressesFreed === 18;
    });
    const s = await status(x);
    expect(s?.nodes.find((n) => n.node === 'n1')).toMatchObject({ state: 'alive', addresses: 3, blocks: 1 });
    expect(s?.totals).toMatchObject({ nodesReleased: 1, blocksReleased: 2, addressesFreed: 18 });
  });

  test('a node that comes back within the grace period keeps its addresses', async () => {
    h = harness('ctl-back');
    const x = h;
    const { alloc, n2 } = await setup(x);
    const ctl = await x.startController('ctl-a', { nodeGraceMs: GRACE_MS, intervalMs: 200 });
    await waitFor('ctl-a to lead', () => ctl.c.isLeader());
    await x.leases[1]?.revoke();
    await waitFor('the status to show n2 in grace', async () => (await status(x))?.nodes.find((n) => n.node === 'n2')?.state === 'grace');
    await sleep(400);
    // The agent returns with a new lease.
    await x.aliveNode('n2');
    await sleep(2000);
    for (const ip of n2) expect((await alloc.lookup(ip))?.node).toBe('n2');
    expect(ctl.lines.filter((l) => l.message === 'address freed')).toEqual([]);
    expect((await status(x))?.nodes.find((n) => n.node === 'n2')?.state).toBe('alive');
  });

  test('a new leader starts the grace clock afresh', async () => {
    h = harness('ctl-clock');
    const x = h;
    const { alloc, n2 } = await setup(x);
    await x.leases[1]?.revoke();
    await sleep(GRACE_MS + 200); // longer than the grace period, but no controller was watching
    const ctl = await x.startController('ctl-a', { nodeGraceMs: GRACE_MS, intervalMs: 100 });
    const electedAt = await new Promise<number>((r) => ctl.c.once('elected', () => r(Date.now())));
    await sleep(1000);
    expect((await alloc.lookup(n2[0] as string))?.node).toBe('n2');
    await waitFor('n2 to be released', async () => (await alloc.lookup(n2[0] as string)) === undefined, GRACE_MS + 5000);
    expect(Date.now() - electedAt).toBeGreaterThanOrEqual(GRACE_MS);
  });
});

describe('default pool', () => {
  test('two controllers racing create it once', async () => {
    h = harness('ctl-pool');
    const x = h;
    const pools = [pool('default-ipv4-ippool', '10.88.0.0/16'), pool('default-ipv6-ippool', 'fd00:88::/48')];
    const a = await x.startController('ctl-a', { defaultPools: pools });
    const b = await x.startController('ctl-b', { defaultPools: pools });
    await waitFor('a pass with the pools', async () => (await status(x))?.totals.poolsCreated === 2);
    const listed = await x.store.list('IPPool');
    expect(listed.items.map((p) => [p.metadata.name, p.spec.cidr]).sort()).toEqual([
      ['default-ipv4-ippool', '10.88.0.0/16'],
      ['default-ipv6-ippool', 'fd00:88::/48'],
    ]);
    expect([a, b].flatMap((e) => e.lines.filter((l) => l.message === 'default pool created'))).toHaveLength(2);
  });

  test('the creation itself is atomic: concurrent attempts create each pool exactly once', async () => {
    h = harness('ctl-pool-race');
    const x = h;
    const pools = [pool('default-ipv4-ippool', '10.89.0.0/16')];
    const { log } = memoryLogger('race');
    const results = await Promise.all(Array.from({ length: 6 }, () => ensureDefaultPools(x.store, pools, log, () => true)));
    expect(results.flat()).toEqual(['default-ipv4-ippool']);
    expect((await x.store.list('IPPool')).items).toHaveLength(1);
  });

  test('no default pool when any pool exists', async () => {
    h = harness('ctl-pool-exists');
    const x = h;
    await x.store.create(pool('mine', '10.90.0.0/16'));
    const a = await x.startController('ctl-a', { defaultPools: [pool('default-ipv4-ippool', '10.91.0.0/16')] });
    await waitFor('a pass', async () => (await status(x))?.passes === 1);
    await waitFor('ctl-a to lead', () => a.c.isLeader());
    expect((await x.store.list('IPPool')).items.map((p) => p.metadata.name)).toEqual(['mine']);
  });
});

describe('empty blocks', () => {
  test('an empty block of a live node is released after two passes, not one', async () => {
    h = harness('ctl-empty');
    const x = h;
    await x.store.create(pool('p', '10.66.0.0/24', 28));
    await x.aliveNode('n1');
    const alloc = new Allocator({ etcd: x.etcd, keys: x.keys, cacheTtlMs: 0 });
    for (let i = 0; i < 17; i++) await alloc.allocate({ handle: `h${i}`, node: 'n1' });
    const lone = (await alloc.release({ handle: 'h16' }))[0]?.block;
    expect(await alloc.affineBlocks('n1')).toHaveLength(2);

    const ctl = await x.startController('ctl-a', { intervalMs: 3_600_000 });
    const firstPass = await new Promise<PassResult>((r) => ctl.c.once('pass', r));
    expect(firstPass.emptyBlocksReleased).toEqual([]);
    expect(firstPass.plan?.waitingEmptyBlocks).toEqual([{ node: 'n1', blocks: [lone] }]);
    expect(await alloc.affineBlocks('n1')).toHaveLength(2);

    const second = await ctl.c.runPass('periodic');
    expect(second?.emptyBlocksReleased).toEqual([lone]);
    const left = await alloc.affineBlocks('n1');
    expect(left.map((b) => b.rec.cidr)).not.toContain(lone);
    expect(left).toHaveLength(1);
    expect(ctl.lines.filter((l) => l.message === 'empty block released').map((l) => l.block)).toEqual([lone]);
    expect((await status(x))?.totals.blocksReleased).toBe(1);
  });

  test('a follower does nothing', async () => {
    h = harness('ctl-follower');
    const x = h;
    const a = await x.startController('ctl-a');
    await waitFor('ctl-a to lead', () => a.c.isLeader());
    const b = await x.startController('ctl-b');
    expect(await b.c.runPass('periodic')).toBeUndefined();
  });
});
