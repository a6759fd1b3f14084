/**
 * Two clusters, each with its own etcd, controller, ToR and nodes (A:
 * node-a1 GoBGP gateway, node-a2 BIRD; B: node-b1 BIRD gateway, node-b2
 * GoBGP), fabrics joined by a router, the gateways peering single-hop eBGP
 * over an interconnect (e2e/src/multicluster.ts). In order:
 *
 * - the guards (multicluster-guards.ts): least privilege, overlapping pools
 *   refused both ways, the simultaneous-overlap race detected on both sides
 *   with nothing handed out of the overlap;
 * - sync: each controller's state doc for the other is Connected and lists
 *   its pools, blocks, nodes and gateways; `terracectl cluster status` says so;
 * - pods in A ping pods in B and back over plain routes, also from and to the
 *   non-gateway nodes (which learn the remote blocks from their gateway);
 * - B's etcd stops for 30 s: A keeps allocating, the pings across (both
 *   ways) do not stop, A's view of B goes stale; B comes back, A's view is Connected
 *   again and a pool B creates then shows up in it;
 * - deleting A's RemoteCluster withdraws the routes to B on A's nodes and
 *   the routes to A on B's nodes (the gateway session goes).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { destroyLab, MultiClusterLab, pingOnce, pingsDuring, poolManifest, sleep, waitForPing, waitUntil, type LabPod, type PingRun } from '../src/index.js';
import { declareGuardScenarios, inCidr, waitSynced } from './multicluster-guards.js';

let lab: MultiClusterLab;
const pods: Record<string, LabPod> = {};

/** The remote pool's routes a node has (kernel routes into the remote cluster's pool). */
async function routesInto(ns: string, poolCidr: string): Promise<string[]> {
  const table = await lab.a.routeTable(ns);
  return table
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((dst) => /^\d+\.\d+\.\d+\.\d+/.test(dst) && inCidr(dst.split('/')[0] as string, poolCidr));
}

beforeAll(async () => {
  lab = await MultiClusterLab.start();
  pods.a1 = await lab.a.addPod('node-a1', 'pa1');
  pods.a2 = await lab.a.addPod('node-a2', 'pa2');
  pods.b1 = await lab.b.addPod('node-b1', 'pb1');
  pods.b2 = await lab.b.addPod('node-b2', 'pb2');
}, 300000);

afterAll(async () => {
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

describe('multi-cluster: two clusters, two etcds, GoBGP and BIRD gateways', () => {
  declareGuardScenarios(() => lab);

  test('each controller keeps the other cluster\'s pools, blocks, nodes and gateways, and terracectl shows them', async () => {
    await waitSynced(lab);
    const s = await lab.waitRemoteState('a', 'B\'s blocks and gateway', (st) => st.blocks >= 2 && st.nodes === 2 && st.gateways.length === 1, 90000);
    expect(s.clusterName).toBe('cluster-b');
    expect(s.stale).toBe(false);
    expect(s.asNumber).toBe(64513);
    expect(s.gateways[0]).toEqual({ name: 'node-b1', addresses: ['198.18.60.21'], asNumber: 64513 });
    const t = await lab.waitRemoteState('b', 'A\'s blocks and gateway', (st) => st.blocks >= 2 && st.gateways.length === 1, 90000);
    expect(t.gateways[0]).toEqual({ name: 'node-a1', addresses: ['198.18.60.11'], asNumber: 64512 });
    // Nothing needs attention once the race's pools are gone: exit 0.
    const list = await lab.a.mustCtl(['cluster', 'list']);
    expect(list).toContain('cluster-b');
    expect(list).toContain('Connected');
    const status = JSON.parse(await lab.a.mustCtl(['cluster', 'status', 'cluster-b', '-o', 'json'])) as unknown;
    expect(JSON.stringify(status)).toContain('198.19.64.0/18');
  }, 200000);

  test('pods in A reach pods in B and back over plain routes, through the gateways', async () => {
    // Non-gateway nodes learn the remote blocks from their gateway over the mesh.
    await waitUntil('B\'s blocks on node-a2', async () => (await routesInto(lab.a.node('node-a2').ns, lab.b.plan.pool.cidr)).length >= 2, 90000, 500);
    await waitUntil('A\'s blocks on node-b2', async () => (await routesInto(lab.b.node('node-b2').ns, lab.a.plan.pool.cidr)).length >= 2, 90000, 500);
    const pairs: [LabPod, LabPod][] = [
      [pods.a2 as LabPod, pods.b2 as LabPod],
      [pods.b2 as LabPod, pods.a2 as LabPod],
      [pods.a1 as LabPod, pods.b1 as LabPod],
      [pods.b1 as LabPod, pods.a1 as LabPod],
      [pods.a2 as LabPod, pods.b1 as LabPod],
      [pods.b2 as LabPod, pods.a1 as LabPod],
    ];
    for (const [from, to] of pairs) await waitPing(from, to);
    // Both sides report their gateway session up (from the local gateway's node status).
    for (const [c, remote] of [[lab.a, 'cluster-b'], [lab.b, 'cluster-a']] as const) {
      let last = '';
      await waitUntil(`${c.name}'s gateway session in cluster status`, async () => (last = (await c.ctl(['cluster', 'status', remote])).stdout).includes('1/1 up'), 30000, 500).catch((e: Error) => {
        throw new Error(`${e.message}; last:\n${last}`);
      });
    }
  }, 200000);

  test('B\'s etcd down for 30 s: A keeps allocating, pings across go on, A\'s view goes stale; then the sync resumes', async () => {
    // Pings both ways: A's non-gateway BIRD node to B's GoBGP node, and B's BIRD gateway to A's GoBGP gateway.
    const aToB: [LabPod, LabPod] = [pods.a2 as LabPod, pods.b2 as LabPod];
    const bToA: [LabPod, LabPod] = [pods.b1 as LabPod, pods.a1 as LabPod];
    for (const [from, to] of [aToB, bToA]) await waitPing(from, to); // routes across first (the scenario also runs alone)
    let stale = false;
    let allocated: LabPod | undefined;
    let inner: PingRun | undefined;
    const outer = await pingsDuring(bToA[0].ns, bToA[1].ip, async () => {
      inner = await pingsDuring(aToB[0].ns, aToB[1].ip, async () => {
        const stopped = Date.now();
        await lab.b.stopEtcd();
        allocated = await lab.a.addPod('node-a2', 'during-outage');
        await lab.waitRemoteState('a', 'B stale', (st) => st.stale && st.connection !== 'Connected', 60000);
        stale = true;
        const left = 30000 - (Date.now() - stopped);
        if (left > 0) await sleep(left);
        await lab.b.startEtcd();
      }, 3000);
    }, 0);
    expect(allocated && inCidr(allocated.ip, lab.a.plan.pool.cidr)).toBe(true);
    expect(stale).toBe(true);
    for (const run of [inner as PingRun, outer]) {
      expect(run.received).toBeGreaterThan(0);
      expect(run.lost).toBe(0);
    }
    await lab.waitRemoteState('a', 'B connected again', (st) => st.connection === 'Connected' && !st.stale, 90000);
    // The sync resumed: a pool B creates now reaches A's view.
    await lab.b.apply(poolManifest({ name: 'b-after', cidr: '198.19.240.0/20', blockSize: 26 }));
    await lab.waitRemoteState('a', 'B\'s new pool', (st) => st.pools.some((p) => p.name === 'b-after'), 90000);
  }, 300000);

  test('deleting the RemoteCluster withdraws the routes on both sides', async () => {
    await lab.a.mustCtl(['delete', 'remotecluster', 'cluster-b']);
    for (const n of lab.a.nodes.values()) {
      await waitUntil(`B's routes gone from ${n.name}`, async () => (await routesInto(n.ns, lab.b.plan.pool.cidr)).length === 0, 60000, 250);
    }
    for (const n of lab.b.nodes.values()) {
      await waitUntil(`A's routes gone from ${n.name}`, async () => (await routesInto(n.ns, lab.a.plan.pool.cidr)).length === 0, 60000, 250);
    }
    expect(await pingOnce((pods.a2 as LabPod).ns, (pods.b2 as LabPod).ip)).toBe(false);
    expect(await lab.remoteState('a')).toBeUndefined();
  }, 200000);
});

async function waitPing(from: LabPod, to: LabPod): Promise<void> {
  await waitForPing(from.ns, to.ip, 60000).catch((e: Error) => {
    throw new Error(`${from.name} (${from.ip}) → ${to.name} (${to.ip}): ${e.message}\n${lab.diagnostics()}`);
  });
}
