/**
 * A mixed cluster: node-1 and node-2 drive gobgpd sidecars, node-3's agent
 * runs BIRD itself (`--bgp-backend bird`). BFD (100 ms × 3) runs on every
 * session: the ToR's bfdd with every node, and the mesh between every two
 * nodes (BIRD's protocol bfd on node-3, the agent's own BFD beside gobgpd on
 * the others). The scenarios run in order on one lab; the last two power
 * off node-3, then node-2.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { destroyLab, RouteWatcher, TerraceLab, routesIn, waitUntil, type RouteEntry } from '../src/index.js';

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
  expect(await destroyLab(lab)).toEqual([]);
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
    // The ToR runs BFD with every node, whichever backend it runs.
    const ips = [...lab.nodes.values()].map((n) => n.ip);
    let seen: Record<string, string> = {};
    await waitUntil('BFD up between the ToR and every node', async () => {
      seen = await lab.tor!.bfdPeers();
      return ips.every((ip) => seen[ip] === 'up');
    }, 20000, 100).catch((e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; the ToR's bfdd says ${JSON.stringify(seen)}`);
    });
  }, 30000);

  test('terracectl node status says which backend each node runs, and BFD on every session', async () => {
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
    // A GoBGP node reports its own BFD sessions' state: with the ToR and both other nodes.
    await waitUntil('node-1 reports BFD up with the ToR and both nodes', async () => {
      const text = await lab.mustCtl(['node', 'status', 'node-1']);
      return (text.match(/BFD up/g) ?? []).length === 3;
    }, 20000, 500);
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

  test('the BIRD node loses power: BFD withdraws its blocks from the ToR and from the GoBGP nodes', async () => {
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
      console.log(`BIRD node power-off: blocks gone from the ToR after ${tor} ms, from node-1/node-2 after ${nodes.join('/')} ms (BFD 100 ms x 3, hold time 3 s)`);
      expect(tor).toBeLessThan(2000);
      for (const ms of nodes) expect(ms).toBeLessThan(6000);
    } finally {
      watcher.close();
    }
    // It was BFD, not the hold timer: each GoBGP node's agent holds its gobgpd peer down.
    await heldDownOn(['node-1', 'node-2'], dead.ip);
    // The survivors never lost each other.
    await lab.waitPing(lab.pod('a').ns, lab.pod('b').ip, 5000);
  }, 60000);

  test('a GoBGP node loses power: BFD (the agent\'s, and the ToR\'s bfdd) withdraws its blocks from the ToR and node-1', async () => {
    const dead = lab.node('node-2');
    const mine = (await blocks()).filter((b) => b.node === dead.name).map((b) => b.cidr);
    expect(mine.length).toBeGreaterThan(0);
    const survivor = lab.node('node-1').ns;
    await waitUntil('BFD up with node-2', async () => (await lab.tor!.bfdPeers())[dead.ip] === 'up', 10000, 100);
    const watcher = new RouteWatcher();
    try {
      for (const ns of [survivor, lab.torNs]) await watcher.watch(ns);
      for (const c of mine) await watcher.waitAll(c, [survivor, lab.torNs], 'present', 10000);
      const t0 = performance.now();
      await lab.killNode(dead.name, 'power-off');
      const gone = await Promise.all(mine.map((c) => watcher.waitAll(c, [survivor, lab.torNs], 'absent', 15000)));
      const at = (ns: string): number => Math.round(Math.max(...gone.map((g) => g.get(ns) as number)) - t0);
      console.log(`GoBGP node power-off: blocks gone from the ToR after ${at(lab.torNs)} ms, from node-1 after ${at(survivor)} ms (BFD 100 ms x 3, hold time 3 s)`);
    } finally {
      watcher.close();
    }
    // The ToR's bfdd saw it go, and node-1's agent holds its gobgpd peer down.
    expect((await lab.tor!.bfdPeers())[dead.ip]).toBe('down');
    await heldDownOn(['node-1'], dead.ip);
  }, 60000);
});

/** Each node's published status shows its peer `addr` held down by BFD (not merely gone idle by its hold timer). */
async function heldDownOn(nodes: readonly string[], addr: string): Promise<void> {
  for (const n of nodes) {
    await waitUntil(`${n} holds ${addr} down by BFD`, async () => {
      const row = (await lab.mustCtl(['node', 'status', n])).split('\n').find((l) => l.includes(addr));
      return row !== undefined && /held down: BFD session down/.test(row);
    }, 15000, 500);
  }
}
