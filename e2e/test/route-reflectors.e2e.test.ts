/**
 * Route reflectors instead of the node mesh: six nodes, the mesh off, node-1
 * (BIRD) and node-2 (GoBGP) reflect, each in a cluster of its own (so each
 * is a client of the other), and one BGPPeer peers every node with them.
 * node-4 is a BIRD client, node-3, -5 and -6 GoBGP clients. A pod on every node reaches a pod on every other node, the
 * clients learn each other's blocks from both reflectors with the owner as
 * next hop, and after node-1 loses power node-2 alone keeps them connected.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { destroyLab, TerraceLab, routesIn, waitUntil, type LabPod, type RouteEntry } from '../src/index.js';

let lab: TerraceLab;
const pods = new Map<string, LabPod>();

function gateways(r: RouteEntry | undefined): string[] {
  if (!r) return [];
  return r.gateway ? [r.gateway] : (r.nexthops ?? []).map((h) => h.gateway ?? '');
}

/** The block route in `ns` that covers `ip` (blocks are /26 in the lab's default pool). */
async function routeTo(ns: string, ip: string): Promise<RouteEntry | undefined> {
  const last = Number(ip.split('.')[3]);
  const base = ip.split('.').slice(0, 3).join('.');
  return (await routesIn(ns)).find((r) => r.dst === `${base}.${last - (last % 64)}/26`);
}

/** One answered ping (after retries while routes settle) for every ordered pair of the pods still alive. */
async function everyPodReachesEveryPod(timeoutMs: number): Promise<number> {
  const live = [...pods.values()].filter((p) => lab.nodes.has(p.node));
  let pairs = 0;
  // One source at a time per node, all sources at once: 2 cores, ~30 pings.
  await Promise.all(
    live.map(async (from) => {
      for (const to of live) {
        if (to === from) continue;
        await lab.waitPing(from.ns, to.ip, timeoutMs);
        pairs++;
      }
    }),
  );
  return pairs;
}

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 6, birdNodes: [1, 4], reflectors: [1, 2] });
  for (let i = 1; i <= 6; i++) pods.set(`node-${i}`, await lab.addPod(`node-${i}`, `p${i}`));
}, 300000);

afterAll(async () => {
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

describe('route reflectors (mesh off, 2 reflectors: BIRD and GoBGP)', () => {
  test('clients peer with the reflectors only', async () => {
    for (const name of ['node-3', 'node-4']) {
      const up = await lab.establishedPeers(name);
      expect(up.has(lab.node('node-1').ip) && up.has(lab.node('node-2').ip)).toBe(true);
      for (const other of ['node-3', 'node-4', 'node-5', 'node-6']) if (other !== name) expect(up.has(lab.node(other).ip)).toBe(false);
    }
  });

  test('every pod reaches every other pod', async () => {
    expect(await everyPodReachesEveryPod(30000)).toBe(30);
  }, 240000);

  test("a client's route to another client's block goes straight to the owner", async () => {
    const p6 = pods.get('node-6') as LabPod;
    const p4 = pods.get('node-4') as LabPod;
    // GoBGP client node-3 (agent-written route) and BIRD client node-4 (BIRD-written).
    for (const client of ['node-3', 'node-4']) {
      expect(gateways(await routeTo(lab.node(client).ns, p6.ip))).toEqual([lab.node('node-6').ip]);
    }
    expect(gateways(await routeTo(lab.node('node-5').ns, p4.ip))).toEqual([lab.node('node-4').ip]);
    // BIRD client node-4 holds node-6's block from both reflectors, next hop node-6 each time.
    const shown = await lab.birdc('node-4', `show route for ${p6.ip} all`);
    for (const rr of ['node-1', 'node-2']) expect(shown).toContain(`from ${lab.node(rr).ip}`);
    const hops = [...shown.matchAll(/BGP\.next_hop: (\S+)/g)].map((m) => m[1]);
    expect(hops.length).toBe(2);
    expect(new Set(hops)).toEqual(new Set([lab.node('node-6').ip]));
  });

  test('with the BIRD reflector powered off, the GoBGP reflector alone keeps every pod connected', async () => {
    const rr1 = lab.node('node-1').ip;
    await lab.killNode('node-1');
    // Hold time 3 s: paths through node-1 go; those through node-2 stay.
    await waitUntil('node-1 sessions down on every client', async () => {
      for (const n of ['node-3', 'node-4', 'node-5', 'node-6']) if ((await lab.establishedPeers(n)).has(rr1)) return false;
      return true;
    }, 30000, 200);
    expect(await everyPodReachesEveryPod(30000)).toBe(20);
    expect(gateways(await routeTo(lab.node('node-4').ns, (pods.get('node-5') as LabPod).ip))).toEqual([lab.node('node-5').ip]);
  }, 240000);
});
