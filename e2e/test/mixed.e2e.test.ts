/**
 * A mixed cluster: node-1 and node-2 drive gobgpd sidecars, node-3's agent
 * runs BIRD itself (`--bgp-backend bird`). The ToR runs BFD (100 ms × 3)
 * towards node-3 only; the GoBGP nodes peer with it without BFD (a BGPPeer
 * per backend, chosen by the terrace.dev/bgp-backend label). The scenarios
 * run in order on one lab; the last one kills node-3.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { listNamespaces } from '@terrace/testkit';
import { RouteWatcher, TerraceLab, routesIn, waitUntil, type RouteEntry } from '../src/index.js';

interface BlockRow {
  cidr: string;
  node?: string;
}

let lab: TerraceLab;
const BIRD_NODE = 'node-3';

async function blocks(): Promise<BlockRow[]> {
  return JSON.parse(await lab.mustCtl(['ipam', 'show', '--show-blocks', '-o', 'json'])) as BlockRow[];
}

function gateways(r: RouteEntry): string[] {
  return r.gateway ? [r.gateway] : (r.nexthops ?? []).map((h) => h.gateway ?? '');
}

/** Every block is routed on the ToR and on every other node via its owner. */
async function blocksRoutedEverywhere(): Promise<boolean> {
  const bs = (await blocks()).filter((b) => b.node && lab.nodes.has(b.node));
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
  return new Set(bs.map((b) => b.node)).size === lab.nodes.size;
}

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 3, birdNodes: [3] });
}, 120000);

afterAll(async () => {
  const prefix = lab?.kit.prefix;
  await lab?.destroy();
  if (prefix) expect(await listNamespaces(prefix)).toEqual([]);
}, 60000);

describe('a mixed cluster: GoBGP and BIRD nodes', () => {
  test('pods on the BIRD node and on GoBGP nodes ping each other both ways', async () => {
    const a = await lab.addPod('node-1', 'a');
    const b = await lab.addPod('node-2', 'b');
    const c = await lab.addPod(BIRD_NODE, 'c');
    await lab.waitPing(a.ns, c.ip, 20000);
    for (const [from, to] of [
      [a, c],
      [c, a],
      [b, c],
      [c, b],
      [a, b],
    ] as const) {
      await lab.waitPing(from.ns, to.ip, 5000);
    }
  }, 60000);

  test('the ToR and every node route every block via its owner; the BIRD node\'s routes are BIRD\'s own', async () => {
    await waitUntil('block routes on the ToR and every node', blocksRoutedEverywhere, 20000, 200);
    const learned = (await routesIn(lab.node(BIRD_NODE).ns)).filter((r) => r.protocol === 'bird');
    const others = (await blocks()).filter((b) => b.node && b.node !== BIRD_NODE).map((b) => b.cidr);
    expect(others.length).toBeGreaterThan(0);
    for (const cidr of others) expect(learned.map((r) => r.dst)).toContain(cidr);
    // BFD runs on the ToR towards the BIRD node, and only there.
    const bfd = await lab.tor!.bfdPeers();
    expect(bfd).toEqual({ [lab.node(BIRD_NODE).ip]: 'up' });
  }, 30000);

  test('terracectl node status says which backend each node runs; BFD is on for the BIRD node\'s ToR session', async () => {
    const text = await lab.mustCtl(['node', 'status']);
    expect(text).toMatch(/Node node-1:.*BGP by gobgp/);
    expect(text).toMatch(/Node node-2:.*BGP by gobgp/);
    expect(text).toMatch(/Node node-3:.*BGP by bird/);
    type NodeDoc = { metadata: { name: string; labels?: Record<string, string> } };
    const got = JSON.parse(await lab.mustCtl(['get', 'nodes', '-o', 'json'])) as NodeDoc[] | { items: NodeDoc[] };
    const nodes = Array.isArray(got) ? got : got.items;
    const label = Object.fromEntries(nodes.map((n) => [n.metadata.name, n.metadata.labels?.['terrace.dev/bgp-backend']]));
    expect(label).toEqual({ 'node-1': 'gobgp', 'node-2': 'gobgp', 'node-3': 'bird' });
    const bird = await lab.mustCtl(['node', 'status', BIRD_NODE]);
    expect(bird).toMatch(/BFD on/);
    // The GoBGP nodes' ToR peer does not ask for BFD, so they report none.
    expect(await lab.mustCtl(['node', 'status', 'node-1'])).not.toMatch(/BFD/);
  }, 30000);

  let restartLost: number | undefined;
  test('an agent restart on the BIRD node keeps its pods reachable, and the restarted agent serves CNI', async () => {
    const a = lab.pod('a');
    const c = lab.pod('c');
    const birdBefore = lab.birdPid(BIRD_NODE);
    const r = await lab.pingsDuring(a.ns, c.ip, async () => {
      await lab.restartAgent(BIRD_NODE);
    }, 3000);
    expect(lab.birdPid(BIRD_NODE)).toBe(birdBefore);
    restartLost = r.lost;
    console.log(`agent restart on the BIRD node: ${JSON.stringify(r)}; bird pid ${birdBefore} → ${lab.birdPid(BIRD_NODE)}`);
    await lab.waitTorSessions([lab.node(BIRD_NODE).ip], 20000);
    await lab.waitPing(a.ns, c.ip, 10000);
    const e = await lab.addPod(BIRD_NODE, 'e');
    await lab.waitPing(a.ns, e.ip, 10000);
  }, 60000);

  // BIRD runs as a sidecar, as gobgpd does: it outlives the agent, keeps its
  // sessions and its kernel routes, and the new agent drives it again.
  test('an agent restart on the BIRD node loses no pings (as on GoBGP nodes)', () => {
    expect(restartLost).toBe(0);
  });

  test('BIRD killed on the BIRD node and started again (-R): the agent drives the new one and the pods are reachable again', async () => {
    const a = lab.pod('a');
    const c = lab.pod('c');
    let pids = { oldPid: 0, newPid: 0 };
    const r = await lab.pingsDuring(a.ns, c.ip, async () => {
      pids = await lab.killBird(BIRD_NODE);
    }, 5000);
    console.log(`bird killed on the BIRD node (pid ${pids.oldPid} → ${pids.newPid}): ${JSON.stringify(r)}`);
    expect(pids.newPid).not.toBe(pids.oldPid);
    // Lost pings are reported above; the session and the routes must come back.
    await lab.waitTorSessions([lab.node(BIRD_NODE).ip], 20000);
    await waitUntil('block routes on the ToR and every node', blocksRoutedEverywhere, 20000, 200);
    await lab.waitPing(c.ns, lab.pod('b').ip, 5000);
  }, 60000);

  test('the BIRD node loses power: BFD withdraws its blocks from the ToR in under 2 s', async () => {
    const dead = lab.node(BIRD_NODE);
    const mine = (await blocks()).filter((b) => b.node === BIRD_NODE).map((b) => b.cidr);
    expect(mine.length).toBeGreaterThan(0);
    const survivors = ['node-1', 'node-2'].map((n) => lab.node(n).ns);
    await waitUntil('BFD up with the BIRD node', async () => (await lab.tor!.bfdPeers())[dead.ip] === 'up', 10000, 100);
    const watcher = new RouteWatcher();
    try {
      for (const ns of [...survivors, lab.torNs]) await watcher.watch(ns);
      for (const c of mine) await watcher.waitAll(c, [...survivors, lab.torNs], 'present', 10000);
      const t0 = performance.now();
      await lab.killNode(BIRD_NODE, 'power-off');
      const gone = await Promise.all(mine.map((c) => watcher.waitAll(c, [...survivors, lab.torNs], 'absent', 15000)));
      const at = (ns: string): number => Math.round(Math.max(...gone.map((g) => g.get(ns) as number)) - t0);
      const tor = at(lab.torNs);
      const nodes = survivors.map(at);
      console.log(`BIRD node power-off: blocks gone from the ToR after ${tor} ms, from node-1/node-2 after ${nodes.join('/')} ms (hold time 3 s)`);
      expect(tor).toBeLessThan(2000);
      // The GoBGP nodes have no BFD: they hold node-3's mesh path until their
      // hold timer (3 s) runs out. The ToR's path cannot replace it (AS 64512
      // is in its AS path, so they reject it), nor does the ToR's withdrawal
      // remove it.
      for (const ms of nodes) expect(ms).toBeLessThan(6000);
    } finally {
      watcher.close();
    }
    // The survivors never lost each other.
    await lab.waitPing(lab.pod('a').ns, lab.pod('b').ip, 5000);
  }, 60000);
});
