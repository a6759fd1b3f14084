/**
 * The production layout: two racks of dual-homed nodes, each rack behind two
 * FRR ToRs (planes A and B), the ToRs joined by an FRR spine, no node mesh,
 * dual stack end to end. node-2 (rack 1) and node-4 (rack 2) run BIRD (with
 * BFD towards their ToRs), the others gobgpd, so every path below crosses
 * both backends. The scenarios
 * run in order on one fabric; the last one powers off ToR A of rack 1.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { destroyLab, FabricLab, pingsDuring, planeNet, torName, waitForPing, waitUntil, type FabricPod, type RouteEntry } from '../src/index.js';

let lab: FabricLab;
const pods: FabricPod[] = [];

interface BlockRow {
  cidr: string;
  node?: string;
}

async function blocks(): Promise<BlockRow[]> {
  return JSON.parse(await lab.mustCtl(['ipam', 'show', '--show-blocks', '-o', 'json'])) as BlockRow[];
}

/** Every (gateway, dev) a route forwards over. */
function hops(r: RouteEntry): { gateway: string; dev: string }[] {
  return r.gateway ? [{ gateway: r.gateway, dev: r.dev ?? '' }] : (r.nexthops ?? []).map((h) => ({ gateway: h.gateway ?? '', dev: h.dev ?? '' }));
}

/** Each node's route to every other node's block, v4 and v6. */
async function remoteBlockRoutes(): Promise<{ node: string; cidr: string; route: RouteEntry | undefined }[]> {
  const out: { node: string; cidr: string; route: RouteEntry | undefined }[] = [];
  const bs = await blocks();
  for (const n of lab.nodes.values()) {
    const table = [...(await lab.routes(n.ns, 4)), ...(await lab.routes(n.ns, 6))];
    for (const b of bs.filter((x) => x.node && x.node !== n.name)) out.push({ node: n.name, cidr: b.cidr, route: table.find((r) => r.dst === b.cidr) });
  }
  return out;
}

beforeAll(async () => {
  lab = await FabricLab.start({ racks: 2, nodesPerRack: 2, birdNodes: [2, 4] });
  for (const n of lab.nodes.values()) pods.push(await lab.addPod(n.name, `p${n.index}`));
}, 180000);

afterAll(async () => {
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

describe('the fabric: dual-homed, dual-stack nodes behind two ToRs per rack', () => {
  test('every pod has an IPv4 and an IPv6 address, and every pod pings every other over both, in both directions', async () => {
    expect(pods).toHaveLength(4);
    for (const p of pods) {
      expect(p.ip).toMatch(/^198\.19\./);
      expect(p.ip6).toMatch(/^2001:db8:100:/);
    }
    // Same rack (1↔2, 3↔4) and across racks, from GoBGP and from BIRD nodes.
    for (const from of pods) {
      for (const to of pods) {
        if (from === to) continue;
        await waitForPing(from.ns, to.ip, 30000);
        await waitForPing(from.ns, to.ip6, 30000);
      }
    }
  }, 180000);

  test('each node reaches every other node\'s blocks, v4 and v6, over both uplinks (ECMP)', async () => {
    let last: Awaited<ReturnType<typeof remoteBlockRoutes>> = [];
    const bothUplinks = (r: RouteEntry | undefined): boolean => {
      const devs = new Set(r ? hops(r).map((h) => h.dev) : []);
      return devs.has('eth-a') && devs.has('eth-b') && devs.size === 2;
    };
    await waitUntil('ECMP routes on every node', async () => {
      last = await remoteBlockRoutes();
      return last.length > 0 && last.every((x) => bothUplinks(x.route));
    }, 30000, 250).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(last.filter((x) => !bothUplinks(x.route)))}`);
    });
    // Two families, three remote nodes' blocks at least, on each of the four nodes.
    expect(last.filter((x) => x.cidr.includes(':')).length).toBeGreaterThanOrEqual(12);
    expect(last.filter((x) => !x.cidr.includes(':')).length).toBeGreaterThanOrEqual(12);
  }, 60000);

  test('every ToR and the spine route every block, v4 and v6, from BGP', async () => {
    const bs = (await blocks()).filter((b) => b.node);
    expect(bs.some((b) => b.cidr.includes(':'))).toBe(true);
    const routers = [...lab.tors.values(), lab.spine!];
    await waitUntil('block routes on the fabric routers', async () => {
      for (const r of routers) {
        const have = new Set([...(await r.kernelRoutes(4)), ...(await r.kernelRoutes(6))].map((x) => x.dst));
        if (!bs.every((b) => have.has(b.cidr))) return false;
      }
      return true;
    }, 30000, 250);
    // BFD runs between each ToR and the BIRD nodes of its rack (gobgpd has none).
    for (const n of [...lab.nodes.values()].filter((x) => x.backend === 'bird')) {
      for (const plane of ['a', 'b'] as const) {
        const addr = planeNet(n.rack, plane).host(n.index).v4;
        await waitUntil(`BFD ${torName(n.rack, plane)} ↔ ${n.name}`, async () => (await lab.tor(n.rack, plane).bfdPeers())[addr] === 'up', 20000, 200);
      }
    }
    // The spine balances over both ToRs of the owner's rack.
    const spine4 = await lab.spine!.kernelRoutes(4);
    for (const b of bs.filter((x) => !x.cidr.includes(':'))) {
      expect(hops(spine4.find((r) => r.dst === b.cidr) as RouteEntry)).toHaveLength(2);
    }
  }, 60000);

  test('the ToRs offer a default route: refused by default; a BGPFilter on the ToR peers takes it as ECMP over both uplinks, v4 and v6', async () => {
    const defaults = async (): Promise<Map<string, { gateway: string; dev: string }[]>> => {
      const out = new Map<string, { gateway: string; dev: string }[]>();
      for (const n of lab.nodes.values()) {
        for (const fam of [4, 6] as const) {
          const r = (await lab.routes(n.ns, fam)).find((x) => x.dst === 'default');
          if (r) out.set(`${n.name} v${fam}`, hops(r));
        }
      }
      return out;
    };
    // The ToRs send it (default-originate); the default import policy refuses it.
    expect([...(await defaults()).keys()]).toEqual([]);
    const torPeers = [1, 2].flatMap((rack) => ['a', 'b'].flatMap((plane) => [`rack-r${rack}-tor-${plane}`, `rack-r${rack}-tor-${plane}-v6`]));
    const setFilters = async (names: string[] | null): Promise<void> => {
      for (const p of torPeers) await lab.mustCtl(['patch', 'bgppeer', p, '-p', JSON.stringify({ spec: { filters: names } })]);
    };
    await lab.apply(
      [
        'apiVersion: projectcalico.org/v3',
        'kind: BGPFilter',
        'metadata:',
        '  name: take-default',
        'spec:',
        '  importV4:',
        '    - { action: Accept, matchOperator: Equal, cidr: 0.0.0.0/0 }',
        '  importV6:',
        '    - { action: Accept, matchOperator: Equal, cidr: "::/0" }',
        '',
      ].join('\n'),
    );
    await setFilters(['take-default']);
    const want = lab.nodes.size * 2;
    let seen = new Map<string, { gateway: string; dev: string }[]>();
    try {
      await waitUntil('a default route over both uplinks on every node, v4 and v6', async () => {
        seen = await defaults();
        return seen.size === want && [...seen.values()].every((h) => h.map((x) => x.dev).sort().join(',') === 'eth-a,eth-b');
      }, 30000, 200);
    } catch (e) {
      // What the nodes short of a path say about their sessions, for the next reader of a failed run.
      const short = [...lab.nodes.values()].filter((n) => [4, 6].some((f) => seen.get(`${n.name} v${f}`)?.length !== 2));
      const status = await Promise.all(short.map((n) => lab.mustCtl(['node', 'status', n.name]).catch((err: Error) => err.message)));
      throw new Error(`${(e as Error).message}: ${JSON.stringify([...seen])}\n${status.join('\n')}`);
    }
    // The ToR-loss scenario below runs without it, as the fabric started.
    await setFilters(null);
    await waitUntil('the default routes gone again', async () => (await defaults()).size === 0, 30000, 200);
  }, 90000);

  test('ToR A of rack 1 loses power: pings across racks recover and rack 1 routes only over plane B', async () => {
    const [p1, p2, p3, p4] = pods as [FabricPod, FabricPod, FabricPod, FabricPod];
    const rack1 = [...lab.nodes.values()].filter((n) => n.rack === 1);
    let killedAt = 0;
    let fallbackMs = -1;
    const onPlaneA = async (): Promise<number> => {
      let n = 0;
      for (const node of rack1) {
        for (const r of [...(await lab.routes(node.ns, 4)), ...(await lab.routes(node.ns, 6))]) {
          if (r.protocol !== 'kernel' && hops(r).some((h) => h.dev === 'eth-a' && h.gateway !== '')) n++;
        }
      }
      return n;
    };
    expect(await onPlaneA()).toBeGreaterThan(0);
    // A GoBGP node's pod (rack 2 → rack 1) and a BIRD node's pod (rack 2 → rack 1, IPv6) at once.
    const [v4, v6] = await Promise.all([
      pingsDuring(p3.ns, p1.ip, async () => {
        killedAt = Date.now();
        await lab.killTor(1, 'a');
        await waitUntil('rack 1 routes off plane A', async () => (await onPlaneA()) === 0, 30000, 50);
        fallbackMs = Date.now() - killedAt;
      }, 3000),
      pingsDuring(p4.ns, p2.ip6, () => new Promise((r) => setTimeout(r, 500)), 9000),
    ]);
    process.stdout.write(`ToR loss: fallback ${fallbackMs} ms; v4 ${JSON.stringify(v4)}; v6 ${JSON.stringify(v6)}\n`);
    expect(fallbackMs).toBeGreaterThanOrEqual(0);
    // Traffic flows again: every pair still answers, both families.
    for (const [from, to] of [[p3, p1], [p1, p3], [p4, p2], [p2, p4], [p1, p2]] as const) {
      await waitForPing(from.ns, to.ip, 10000);
      await waitForPing(from.ns, to.ip6, 10000);
    }
    // Every remote block is still routed on rack 1's nodes, now over plane B alone.
    const after = (await remoteBlockRoutes()).filter((x) => rack1.some((n) => n.name === x.node));
    for (const x of after) expect(hops(x.route as RouteEntry).map((h) => h.dev)).toEqual(['eth-b']);
  }, 90000);
});
