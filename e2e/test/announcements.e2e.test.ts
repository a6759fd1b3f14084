/**
 * What the nodes announce, seen from the ToR (FRR): communities from
 * BGPConfiguration's prefixAdvertisements (standard and large), the service
 * cidrs every node announces, and a disableBGPExport pool that stays quiet.
 * node-1 and node-2 drive gobgpd, node-3 runs BIRD, so every assertion covers
 * both backends. The scenarios run in order on one lab.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { destroyLab, POOL_A, POOL_B, TerraceLab, labManifests, poolManifest, routesIn, waitUntil, type RouteEntry } from '../src/index.js';

let lab: TerraceLab;
const NODES = ['node-1', 'node-2', 'node-3'];
const BIRD_NODE = 'node-3';

// Everything inside the lab's 198.19.0.0/16, outside its two pools.
const QUIET = { name: 'lab-quiet', cidr: '198.19.160.0/24', blockSize: 28 } as const;
const SERVICES = {
  serviceClusterIPs: '198.19.240.0/24',
  serviceExternalIPs: '198.19.241.0/24',
  serviceLoadBalancerIPs: '198.19.242.0/28',
} as const;
const STD = '65000:100';
const LARGE = '64512:1:2';
const WIDE = '65000:200';
const SVC = '65000:300';

/** The lab's own default BGPConfiguration (the first document), with `extra` lines added to its spec. */
function bgpConfig(extra: readonly string[]): string {
  const base = labManifests().split('---\n')[0] as string;
  return `${base}${extra.join('\n')}\n`;
}

const ANNOUNCE = [
  '  communities:',
  `  - {name: lab-std, value: "${STD}"}`,
  `  - {name: lab-large, value: "${LARGE}"}`,
  '  prefixAdvertisements:',
  `  - cidr: ${POOL_A.cidr}`,
  '    communities: [lab-std, lab-large]',
  // Contains everything below: its community adds to the others.
  '  - cidr: 198.19.0.0/16',
  `    communities: ["${WIDE}"]`,
  `  - cidr: ${SERVICES.serviceClusterIPs}`,
  `    communities: ["${SVC}"]`,
];
const WITH_SERVICES = [...ANNOUNCE, ...Object.entries(SERVICES).flatMap(([field, cidr]) => [`  ${field}:`, `  - cidr: ${cidr}`])];

interface FrrPathDetail {
  nexthops?: { ip: string }[];
  community?: { string: string };
  largeCommunity?: { string: string };
}

/** The ToR's BGP paths for one prefix (`show bgp ipv4 unicast PREFIX json`). */
async function torPaths(prefix: string): Promise<FrrPathDetail[]> {
  const out = JSON.parse(await lab.tor!.vtysh(`show bgp ipv4 unicast ${prefix} json`)) as { paths?: FrrPathDetail[] };
  return out.paths ?? [];
}

function words(s: { string: string } | undefined): string[] {
  return (s?.string ?? '').split(' ').filter(Boolean).sort();
}

function gateways(r: RouteEntry | undefined): string[] {
  if (!r) return [];
  return (r.gateway ? [r.gateway] : (r.nexthops ?? []).map((h) => h.gateway ?? '')).sort();
}

async function blocksOf(pool: { cidr: string }): Promise<{ cidr: string; node: string }[]> {
  const rows = JSON.parse(await lab.mustCtl(['ipam', 'show', '--show-blocks', '-o', 'json'])) as { cidr: string; node?: string }[];
  return rows.filter((r) => r.node && lab.nodes.has(r.node) && inPool(r.cidr, pool.cidr)).map((r) => ({ cidr: r.cidr, node: r.node as string }));
}

function ipNum(ip: string): number {
  return ip.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
}

/** Whether IPv4 `cidr` lies inside `pool`. */
function inPool(cidr: string, pool: string): boolean {
  const [ip, len] = cidr.split('/') as [string, string];
  const [pip, plen] = pool.split('/') as [string, string];
  const mask = Number(plen) === 0 ? 0 : (0xffffffff << (32 - Number(plen))) >>> 0;
  return Number(len) >= Number(plen) && ((ipNum(ip) & mask) >>> 0) === ipNum(pip);
}

const ip = (name: string): string => lab.node(name).ip;

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 3, birdNodes: [3] });
  await lab.apply(poolManifest(QUIET).replace('  nodeSelector: all()\n', '  nodeSelector: all()\n  disableBGPExport: true\n'));
}, 120000);

afterAll(async () => {
  expect(await destroyLab(lab)).toEqual([]);
}, 60000);

describe('announcements: communities, service cidrs, disableBGPExport (GoBGP and BIRD nodes)', () => {
  test('block routes from every node carry the standard and large communities of every advertisement containing them', async () => {
    await lab.apply(bgpConfig(ANNOUNCE));
    for (const n of NODES) await lab.addPod(n, `a-${n}`);
    const blocks = await blocksOf(POOL_A);
    expect(new Set(blocks.map((b) => b.node))).toEqual(new Set(NODES));
    const want = (b: { cidr: string; node: string }) => async (): Promise<boolean> => {
      const paths = await torPaths(b.cidr);
      return paths.some(
        (p) =>
          (p.nexthops ?? []).some((h) => h.ip === ip(b.node)) &&
          JSON.stringify(words(p.community)) === JSON.stringify([STD, WIDE].sort()) &&
          JSON.stringify(words(p.largeCommunity)) === JSON.stringify([LARGE]),
      );
    };
    for (const b of blocks) {
      await waitUntil(`${b.cidr} from ${b.node} with ${STD} ${WIDE} ${LARGE} on the ToR`, want(b), 30000, 200).catch(async (e: unknown) => {
        throw new Error(`${(e as Error).message}; the ToR has ${JSON.stringify(await torPaths(b.cidr))}`);
      });
    }
    // What an operator on the ToR would type to find them.
    const byCommunity = JSON.parse(await lab.tor!.vtysh(`show bgp ipv4 unicast community ${STD} json`)) as { routes?: Record<string, unknown> };
    const byLarge = JSON.parse(await lab.tor!.vtysh(`show bgp ipv4 unicast large-community ${LARGE} json`)) as { routes?: Record<string, unknown> };
    for (const b of blocks) {
      expect(Object.keys(byCommunity.routes ?? {})).toContain(b.cidr);
      expect(Object.keys(byLarge.routes ?? {})).toContain(b.cidr);
    }
  }, 90000);

  test('a disableBGPExport pool has pods on a GoBGP and on the BIRD node, but no route on the ToR', async () => {
    await lab.addPod('node-1', 'quiet-1', { pools: [QUIET.name] });
    await lab.addPod(BIRD_NODE, 'quiet-3', { pools: [QUIET.name] });
    // A block of the other pool claimed after them: once it is on the ToR,
    // the quiet blocks would have been announced too (same or earlier set).
    await lab.addPod('node-1', 'b-1', { pools: [POOL_B.name] });
    await lab.addPod(BIRD_NODE, 'b-3', { pools: [POOL_B.name] });
    const quiet = await blocksOf(QUIET);
    expect(new Set(quiet.map((b) => b.node))).toEqual(new Set(['node-1', BIRD_NODE]));
    const later = await blocksOf(POOL_B);
    await waitUntil('the later blocks on the ToR', async () => {
      const tor = await lab.tor!.bgpRoutes(4);
      return later.every((b) => tor[b.cidr] !== undefined);
    }, 30000, 200);
    const tor = await lab.tor!.bgpRoutes(4);
    const leaked = Object.keys(tor).filter((p) => inPool(p, QUIET.cidr));
    expect(leaked).toEqual([]);
    expect((await routesIn(lab.torNs)).filter((r) => inPool(r.dst, QUIET.cidr))).toEqual([]);
  }, 90000);

  test('every service cidr is on the ToR with a path from every node, in its kernel as one ECMP route; no node routes it elsewhere', async () => {
    await lab.apply(bgpConfig(WITH_SERVICES));
    const all = NODES.map(ip).sort();
    for (const [field, cidr] of Object.entries(SERVICES)) {
      await waitUntil(`${field} ${cidr} via every node in the ToR's kernel`, async () => {
        const r = (await routesIn(lab.torNs, 'bgp')).find((x) => x.dst === cidr);
        return JSON.stringify(gateways(r)) === JSON.stringify(all);
      }, 30000, 200).catch(async (e: unknown) => {
        throw new Error(`${(e as Error).message}; the ToR has ${JSON.stringify(await torPaths(cidr))}`);
      });
      const paths = await torPaths(cidr);
      expect(paths.flatMap((p) => (p.nexthops ?? []).map((h) => h.ip)).sort()).toEqual(all);
      const wantStd = cidr === SERVICES.serviceClusterIPs ? [SVC, WIDE].sort() : [WIDE];
      for (const p of paths) {
        expect(words(p.community)).toEqual(wantStd);
        expect(words(p.largeCommunity)).toEqual([]);
      }
    }
    // Each node serves the service ranges itself (kube-proxy): no node holds
    // a route for them via another node, nor a blackhole.
    for (const n of NODES) {
      const routes = await routesIn(lab.node(n).ns);
      expect(routes.filter((r) => Object.values(SERVICES).includes(r.dst as never))).toEqual([]);
    }
  }, 90000);

  test('removing the service cidrs withdraws them from the ToR; a changed advertisement re-marks the blocks', async () => {
    const present = async (): Promise<boolean> => {
      const tor = await lab.tor!.bgpRoutes(4);
      return Object.values(SERVICES).every((c) => (tor[c] ?? []).length === NODES.length);
    };
    await waitUntil('service cidrs from every node on the ToR', present, 30000, 200);
    // The same settings without the service ranges and without the 198.19.0.0/16 advertisement.
    const withoutWide = ANNOUNCE.filter((l) => !l.includes('198.19.0.0/16') && !l.includes(WIDE));
    await lab.apply(bgpConfig(withoutWide));
    await waitUntil('service cidrs gone from the ToR', async () => {
      const tor = await lab.tor!.bgpRoutes(4);
      const kernel = await routesIn(lab.torNs);
      return Object.values(SERVICES).every((c) => tor[c] === undefined && !kernel.some((r) => r.dst === c));
    }, 30000, 200);
    for (const b of await blocksOf(POOL_A)) {
      await waitUntil(`${b.cidr} from ${b.node} without ${WIDE}`, async () => {
        const paths = (await torPaths(b.cidr)).filter((p) => (p.nexthops ?? []).some((h) => h.ip === ip(b.node)));
        return paths.length === 1 && JSON.stringify(words(paths[0]?.community)) === JSON.stringify([STD]) && JSON.stringify(words(paths[0]?.largeCommunity)) === JSON.stringify([LARGE]);
      }, 30000, 200).catch(async (e: unknown) => {
        throw new Error(`${(e as Error).message}; the ToR has ${JSON.stringify(await torPaths(b.cidr))}`);
      });
    }
  }, 90000);
});
