/**
 * Pods on the wire, end to end: three nodes (gobgpd + terrace-agent each), an
 * FRR top-of-rack router, etcd, and pods wired by the real terrace-cni.
 * The scenarios run in order on one lab; each leaves it in a known state.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { destroyLab, POOL_B, TerraceLab, callCni, routesIn, waitUntil, type RouteEntry } from '../src/index.js';

interface BlockRow {
  cidr: string;
  pool?: string;
  node?: string;
  used: number;
}

let lab: TerraceLab;

async function blocks(): Promise<BlockRow[]> {
  return JSON.parse(await lab.mustCtl(['ipam', 'show', '--show-blocks', '-o', 'json'])) as BlockRow[];
}

function gateways(r: RouteEntry): string[] {
  return r.gateway ? [r.gateway] : (r.nexthops ?? []).map((h) => h.gateway ?? '');
}

/** Every block is routed on the ToR (via its owner among the next hops) and on every other node via its owner. */
async function blocksRoutedEverywhere(): Promise<boolean> {
  const bs = (await blocks()).filter((b) => b.node && lab.nodes.has(b.node));
  if (!lab.tor) return false;
  const tor = await routesIn(lab.torNs, 'bgp');
  for (const b of bs) {
    const owner = lab.node(b.node as string).ip;
    const r = tor.find((x) => x.dst === b.cidr);
    if (!r || !gateways(r).includes(owner)) return false;
    for (const n of lab.nodes.values()) {
      if (n.name === b.node) continue;
      const nr = (await routesIn(n.ns)).find((x) => x.dst === b.cidr);
      if (!nr || !gateways(nr).includes(owner)) return false;
    }
  }
  return bs.length > 0;
}

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 3 });
}, 120000);

afterAll(async () => {
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

describe('pods on the wire', () => {
  test('pods on different nodes and on the same node ping each other', async () => {
    const a = await lab.addPod('node-1', 'a');
    const b = await lab.addPod('node-2', 'b');
    const c = await lab.addPod('node-1', 'c');
    expect(new Set([a.ip, b.ip, c.ip]).size).toBe(3);
    // The first cross-node ping may wait for the new blocks' routes to spread.
    await lab.waitPing(a.ns, b.ip, 20000);
    for (const [from, to] of [
      [a, b],
      [b, a],
      [a, c],
      [c, a],
      [b, c],
      [c, b],
    ] as const) {
      await lab.waitPing(from.ns, to.ip, 5000);
    }
  }, 60000);

  test('the ToR and every node have a route to every block, via the block\'s node', async () => {
    await waitUntil('block routes on the ToR and every node', blocksRoutedEverywhere, 20000, 200);
    const bs = await blocks();
    expect(bs.map((b) => b.node).sort()).toEqual(['node-1', 'node-2']);
  }, 60000);

  test('the ToR routes each block via its owner alone: nodes announce only what they originate', async () => {
    // Every node has learned every block by now (the test above waited for
    // that), so a node passing a learned block on would already show here.
    const tor = lab.tor;
    if (!tor) throw new Error('lab: no ToR');
    const bs = (await blocks()).filter((b) => b.node && lab.nodes.has(b.node));
    expect(bs.length).toBeGreaterThan(0);
    const rib = await tor.bgpRoutes(4);
    const kernel = await routesIn(lab.torNs, 'bgp');
    for (const b of bs) {
      const owner = lab.node(b.node as string).ip;
      // One path in the ToR's BGP table: another node of the mesh announcing
      // the block as well would add an equal path (same AS path) beside it.
      const paths = (rib[b.cidr] ?? []).map((p) => p.nexthops?.[0]?.ip);
      expect({ block: b.cidr, paths }).toEqual({ block: b.cidr, paths: [owner] });
      const r = kernel.find((x) => x.dst === b.cidr);
      expect({ block: b.cidr, via: r ? gateways(r) : [] }).toEqual({ block: b.cidr, via: [owner] });
    }
  }, 30000);

  test('a new pod in a new block is reachable from every node and every pod', async () => {
    const before = new Set((await blocks()).map((b) => b.cidr));
    const d = await lab.addPod('node-3', 'd', { pools: [POOL_B.name] });
    const after = await blocks();
    const fresh = after.filter((b) => !before.has(b.cidr));
    expect(fresh).toHaveLength(1);
    expect(fresh[0]?.node).toBe('node-3');
    expect(fresh[0]?.pool).toBe(POOL_B.name);
    await waitUntil('the new block routed everywhere', blocksRoutedEverywhere, 20000, 200);
    for (const n of lab.nodes.values()) await lab.waitPing(n.ns, d.ip, 5000);
    for (const p of ['a', 'b', 'c']) await lab.waitPing(lab.pod(p).ns, d.ip, 5000);
    await lab.waitPing(lab.torNs, d.ip, 5000);
  }, 60000);

  test('DEL frees the address and unwires the pod', async () => {
    const c = lab.pod('c');
    const held = JSON.parse(await lab.mustCtl(['ipam', 'show', '--ip', c.ip, '-o', 'json'])) as { node?: string; pod?: string; free?: boolean };
    expect(held.free).toBeUndefined();
    expect(held.node).toBe('node-1');
    expect(held.pod).toBe('c');
    const hostRoutesBefore = (await routesIn(lab.node('node-1').ns)).filter((r) => r.dst === c.ip);
    expect(hostRoutesBefore).toHaveLength(1);

    await lab.deletePod('c');
    const freed = JSON.parse(await lab.mustCtl(['ipam', 'show', '--ip', c.ip, '-o', 'json'])) as { free?: boolean };
    expect(freed.free).toBe(true);
    await waitUntil('host route of the deleted pod gone', async () => !(await routesIn(lab.node('node-1').ns)).some((r) => r.dst === c.ip), 10000);
    expect(await lab.ping(lab.pod('a').ns, c.ip)).toBe(false);
    // A runtime may repeat DEL, and after the pod's namespace is gone: still success.
    const again = await callCni({
      command: 'DEL',
      nodeNs: lab.node('node-1').ns,
      cniPath: lab.cniPath,
      agentSocket: lab.node('node-1').socket,
      containerId: c.containerId,
      podName: c.name,
    });
    expect(again.code).toBe(0);
    // The other pod on that node is untouched.
    await lab.waitPing(lab.pod('b').ns, lab.pod('a').ip, 5000);
  }, 60000);

  test('an agent restart keeps existing pods reachable, and the restarted agent serves CNI', async () => {
    const a = lab.pod('a');
    const b = lab.pod('b');
    await lab.stopAgent('node-2');
    // With the agent down, gobgpd keeps its sessions and the kernel keeps the routes.
    expect(await lab.ping(a.ns, b.ip)).toBe(true);
    expect(await lab.ping(b.ns, a.ip)).toBe(true);
    await lab.startAgent('node-2');
    expect(await lab.ping(a.ns, b.ip)).toBe(true);
    expect(await lab.ping(b.ns, a.ip)).toBe(true);
    const e = await lab.addPod('node-2', 'e');
    await lab.waitPing(a.ns, e.ip, 10000);
    await lab.waitPing(e.ns, b.ip, 5000);
  }, 60000);

  test('STATUS says not ready (50) while the node\'s BGP speaker is down, and ready again once it is back', async () => {
    const node = lab.node('node-3');
    const status = () => callCni({ command: 'STATUS', nodeNs: node.ns, cniPath: lab.cniPath, agentSocket: node.socket });
    expect(await status()).toMatchObject({ code: 0 });
    await lab.stopGobgpd('node-3');
    const down = await status();
    expect(down.code).toBe(1);
    expect(down.json).toMatchObject({ code: 50, msg: expect.stringContaining('BGP speaker not answering') });
    await lab.startGobgpd('node-3');
    await waitUntil('STATUS ready again', async () => (await status()).code === 0, 15000, 200);
  }, 60000);
});
