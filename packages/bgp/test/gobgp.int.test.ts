/**
 * The GoBGP backend against real gobgpd and FRR in network namespaces:
 *
 *   n1 (AS 65001) ─┐
 *   n2 (AS 65002) ─┤
 *   n3 (AS 65003) ─┼─ fabric bridge ─ tor (FRR, AS 65000)
 *   m1, m2, m3    ─┘      198.18.0.0/24
 *   (AS 65010, an iBGP mesh, added by the last tests)
 *
 * Each node runs gobgpd supervised by a GobgpSpeaker, its API on a unix
 * socket so the test (in the root namespace) can reach it; m3's gobgpd is a
 * sidecar that speakers attach to and leave.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCidr, formatIP, parseCidr, parseIP, formatAddr, formatPrefix, packCidr } from '@terrace/api';
import { createLab, listNamespaces, onProcessExit, startFrr, waitFor, type FrrRouter, type Lab } from '@terrace/testkit';
import { PolicyDirection, RouteAction, TableType } from '../src/gen/gobgp_pb.js';
import { GobgpClient } from '../src/gobgp/client.js';
import { fromApiPath, toApiPath } from '../src/gobgp/convert.js';
import { GobgpDaemon } from '../src/gobgp/daemon.js';
import { ensureExportPolicy, EXPORT_POLICY_NAME } from '../src/gobgp/export-policy.js';
import { peerSets } from '../src/gobgp/peer-sets.js';
import { GobgpSpeaker } from '../src/gobgp/speaker.js';
import type { Announcement, PeerConfig } from '../src/speaker.js';

/** A prefix as the learned routes key it. */
const packedPrefix = (s: string) => packCidr(parseCidr(s));

const FAST = { keepaliveTime: 1, holdTime: 3, connectRetry: 1 };
const TOR = { addr: '198.18.0.1', asn: 65000 };

interface TestNode {
  name: string;
  addr: string;
  asn: number;
  ns: string;
  speaker: GobgpSpeaker;
  /** Latest state per prefix as told by the learned stream (not the snapshot). */
  seen: Map<string, string[]>;
}

let lab: Lab;
let fabric: string;
let tor: FrrRouter;
let sockDir: string;
const nodes: TestNode[] = [];
const errors: string[] = [];
/** Sidecar gobgpds no speaker supervises. */
const sidecars: GobgpDaemon[] = [];
const MESH_AS = 65010;
const M = { m1: '198.18.0.21', m2: '198.18.0.22', m3: '198.18.0.23' };

function peerOf(n: { addr: string; asn: number }, extra: Partial<PeerConfig> = {}): PeerConfig {
  return { address: parseIP(n.addr), asn: n.asn, ...FAST, ...extra };
}

function meshPeer(addr: string): PeerConfig {
  return peerOf({ addr, asn: MESH_AS }, { type: 'node-to-node mesh' });
}

function announce(n: { addr: string }, ...prefixes: string[]): Announcement[] {
  return prefixes.map((p) => ({ prefix: parseCidr(p), nextHop: parseIP(n.addr) }));
}

async function follow(node: TestNode): Promise<void> {
  for await (const batch of node.speaker.learned()) {
    for (const e of batch) {
      if (e.kind === 'set') node.seen.set(formatPrefix(e.prefix), e.nextHops.map(formatAddr));
      else node.seen.delete(formatPrefix(e.prefix));
    }
  }
}

async function addNode(name: string, addr: string, asn: number): Promise<TestNode> {
  const ns = await lab.addNamespace(name);
  await lab.connect(ns, fabric, `${addr}/24`);
  const speaker = new GobgpSpeaker({
    daemon: { netns: ns, apiAddress: `unix://${join(sockDir, `${name}.sock`)}`, initialBackoffMs: 100 },
    restartGraceMs: 4000,
    resyncMs: 2000,
    onError: (e) => errors.push(`${name}: ${e.message}`),
  });
  const node: TestNode = { name, addr, asn, ns, speaker, seen: new Map() };
  nodes.push(node);
  await speaker.start({ asn, routerId: addr });
  void follow(node);
  return node;
}

const hops = (n: TestNode, prefix: string): string[] | undefined => n.seen.get(prefix);

/** Prefixes gobgpd would send to `peer` now (its Adj-RIB-Out, after export policy). */
async function advertisedTo(client: GobgpClient, peer: string): Promise<string[]> {
  const out: string[] = [];
  for (const r of await client.list('listPath', { tableType: TableType.ADJ_OUT, name: peer, family: { afi: 1, safi: 1 } })) {
    if (r.destination) out.push(r.destination.prefix);
  }
  return out.sort();
}

/** The ToR's BGP paths for a prefix as next-hop addresses, one per path it holds. */
async function torPaths(prefix: string): Promise<string[]> {
  return ((await tor.bgpRoutes())[prefix] ?? []).map((p) => p.nexthops?.[0]?.ip ?? '?').sort();
}

/** Prefixes whose best path in the node's gobgpd came from a peer (not local), read with ListPath. */
/** gobgpd's own best path per learned prefix, as `prefix via next-hop`, sorted. */
async function learnedInDaemon(n: TestNode): Promise<string[]> {
  const out: string[] = [];
  for (const r of await n.speaker.client.list('listPath', { tableType: 0, family: { afi: 1, safi: 1 } })) {
    const best = r.destination?.paths.find((p) => p.best);
    const raw = best && fromApiPath(best);
    if (raw && !raw.local && r.destination) out.push(`${r.destination.prefix} via ${raw.nextHop}`);
  }
  return out.sort();
}

/** Our selection in the same form: the best path's next hop is one of the set we hold. */
function learnedHere(n: TestNode, held: readonly string[]): string[] {
  const want = new Map(held.map((h) => h.split(' via ') as [string, string]));
  return [...n.seen.entries()]
    .map(([p, hs]) => `${p} via ${hs.includes(want.get(p) ?? '') ? want.get(p) : hs.join(',')}`)
    .sort();
}

beforeAll(async () => {
  sockDir = mkdtempSync(join(tmpdir(), 'terrace-bgp-'));
  lab = await createLab({ tag: 'tb' });
  // Daemons the speakers supervise are not the lab's own: kill them by PID on a crash too.
  onProcessExit(() => {
    for (const d of [...nodes.map((n) => n.speaker.daemon), ...sidecars]) {
      const pid = d?.pid;
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  });
  fabric = await lab.addBridge();
  const torNs = await lab.addNamespace('tor');
  await lab.connect(torNs, fabric, `${TOR.addr}/24`);
  tor = await startFrr(lab, torNs, {
    asn: TOR.asn,
    routerId: TOR.addr,
    neighbors: [
      { address: '198.18.0.11', asn: 65001 },
      { address: '198.18.0.12', asn: 65002 },
      { address: '198.18.0.13', asn: 65003, password: 'tor-secret' },
      ...Object.values(M).map((address) => ({ address, asn: MESH_AS })),
    ],
  });
  await addNode('n1', '198.18.0.11', 65001);
  await addNode('n2', '198.18.0.12', 65002);
  await addNode('n3', '198.18.0.13', 65003);
}, 60000);

afterAll(async () => {
  for (const n of nodes) await n.speaker.stop();
  for (const d of sidecars) await d.stop();
  await tor?.stop();
  await lab?.destroy();
  rmSync(sockDir, { recursive: true, force: true });
  expect(await listNamespaces(lab.prefix)).toEqual([]);
}, 30000);

const [n1, n2, n3] = [0, 1, 2].map((i) => () => nodes[i] as TestNode) as [() => TestNode, () => TestNode, () => TestNode];

describe('GoBGP backend', () => {
  it('two speakers peer and each learns the other’s prefix with the owner as next hop', async () => {
    await n1().speaker.setPeers([peerOf(n2(), { type: 'node-to-node mesh' }), peerOf(TOR, { type: 'global' })]);
    await n2().speaker.setPeers([peerOf(n1(), { type: 'node-to-node mesh' }), peerOf(TOR, { type: 'global' })]);
    await n1().speaker.setAnnouncements(announce(n1(), '198.19.1.0/26'));
    await n2().speaker.setAnnouncements(announce(n2(), '198.19.2.0/26'));
    await waitFor('n1 learns 198.19.2.0/26', () => hops(n1(), '198.19.2.0/26')?.join() === '198.18.0.12', 20000);
    await waitFor('n2 learns 198.19.1.0/26', () => hops(n2(), '198.19.1.0/26')?.join() === '198.18.0.11', 20000);
    // Our own announcement is never reported as learned.
    expect(hops(n1(), '198.19.1.0/26')).toBeUndefined();
    expect(n1().speaker.inSync()).toBe(true);
    const mesh = await waitFor('n1 ↔ n2 established with a prefix received', async () => {
      const m = (await n1().speaker.peerStatus()).find((s) => s.address === '198.18.0.12');
      return m?.state === 'established' && m.prefixesReceived >= 1 ? m : undefined;
    }, 20000);
    expect(mesh).toMatchObject({ state: 'established', type: 'node-to-node mesh', asn: 65002 });
    expect(mesh?.prefixesReceived).toBeGreaterThanOrEqual(1);
    expect(mesh?.prefixesAdvertised).toBeGreaterThanOrEqual(1);
    expect(mesh?.since).toBeInstanceOf(Date);
  }, 30000);

  it('an FRR top-of-rack router learns both prefixes into its RIB and kernel', async () => {
    await waitFor('tor kernel routes', async () => {
      const k = await tor.kernelRoutes();
      const via = (dst: string): string | undefined => k.find((r) => r.dst === dst)?.gateway;
      return via('198.19.1.0/26') === '198.18.0.11' && via('198.19.2.0/26') === '198.18.0.12';
    }, 20000);
    const rib = await tor.bgpRoutes();
    expect(rib['198.19.1.0/26']?.find((p) => p.bestpath)?.nexthops?.[0]?.ip).toBe('198.18.0.11');
    expect(rib['198.19.2.0/26']?.find((p) => p.bestpath)?.nexthops?.[0]?.ip).toBe('198.18.0.12');
  }, 30000);

  it('ECMP: two speakers announcing one prefix give a third two equal next hops', async () => {
    // n3 peers with n1 and n2 (MD5 towards the ToR), so it hears 198.19.200.0/24 from both at equal length.
    await n3().speaker.setPeers([peerOf(n1()), peerOf(n2()), peerOf(TOR, { password: 'tor-secret' })]);
    await n1().speaker.setPeers([peerOf(n2()), peerOf(TOR), peerOf(n3())]);
    await n2().speaker.setPeers([peerOf(n1()), peerOf(TOR), peerOf(n3())]);
    await n1().speaker.setAnnouncements(announce(n1(), '198.19.1.0/26', '198.19.200.0/24'));
    await n2().speaker.setAnnouncements(announce(n2(), '198.19.2.0/26', '198.19.200.0/24'));
    await waitFor('n3 has two next hops for 198.19.200.0/24', () => hops(n3(), '198.19.200.0/24')?.join() === '198.18.0.11,198.18.0.12', 20000);
    const snap = n3().speaker.learnedSnapshot().get(packedPrefix('198.19.200.0/24'));
    expect(snap?.nextHops.map(formatAddr)).toEqual(['198.18.0.11', '198.18.0.12']);
    // The MD5 session to the ToR is up as well.
    await waitFor('n3 ↔ tor with MD5', async () => (await tor.neighbors())['198.18.0.13']?.state === 'Established', 20000);
    // One of the two stops announcing: the set shrinks to the other.
    await n2().speaker.setAnnouncements(announce(n2(), '198.19.2.0/26'));
    await waitFor('n3 back to one next hop', () => hops(n3(), '198.19.200.0/24')?.join() === '198.18.0.11', 20000);
  }, 40000);

  it('withdrawing an announcement removes it at the peers and the ToR', async () => {
    await n1().speaker.setAnnouncements(announce(n1(), '198.19.200.0/24'));
    await waitFor('n2 drops 198.19.1.0/26', () => hops(n2(), '198.19.1.0/26') === undefined, 20000);
    await waitFor('tor drops 198.19.1.0/26', async () => !(await tor.kernelRoutes()).some((r) => r.dst === '198.19.1.0/26'), 20000);
    expect(hops(n3(), '198.19.1.0/26')).toBeUndefined();
  }, 30000);

  it('a bulk load (a thousand prefixes at once) arrives complete; after its withdrawal the stream mirrors gobgpd', async () => {
    const many = Array.from({ length: 1000 }, (_, i) => `198.19.${64 + (i >> 8)}.${i & 255}/32`);
    await n1().speaker.setAnnouncements(announce(n1(), '198.19.200.0/24', ...many));
    const all = (n: TestNode): boolean => many.every((p) => hops(n, p)?.join() === '198.18.0.11');
    await waitFor('n2 and n3 learn all 1000', () => all(n2()) && all(n3()), 30000);
    expect(n2().speaker.learnedSnapshot().get(packedPrefix('198.19.64.0/32'))?.nextHops.map(formatAddr)).toEqual(['198.18.0.11']);
    await n1().speaker.setAnnouncements(announce(n1(), '198.19.200.0/24'));
    // All of them go. (n2, n3 and the ToR form a triangle of eBGP peers: before
    // nodes announced only their own paths, n2 and n3 passed n1's prefixes on
    // to each other and to the ToR, and after a mass withdrawal some lived on
    // among the three. Now only the ToR passes them on, and it withdraws them.)
    const left = (n: TestNode): number => many.filter((p) => hops(n, p) !== undefined).length;
    await waitFor('the withdrawal reaches n2 and n3', () => left(n2()) === 0 && left(n3()) === 0, 30000);
    // The stream reports exactly what gobgpd holds, bulk mode included.
    for (const n of [n2(), n3()]) {
      await waitFor(`${n.name}: learned stream equals gobgpd's best paths`, async () => {
        const held = await learnedInDaemon(n);
        const seen = learnedHere(n, held);
        return held.join() === seen.join() ? true : undefined;
      }, 20000);
    }
    expect(hops(n2(), '198.19.200.0/24')).toEqual(['198.18.0.11']);
  }, 90000);

  it('removing a peer from the desired set drops that session without restarting gobgpd', async () => {
    const pid = n1().speaker.daemon?.pid;
    const gen = n1().speaker.daemon?.generation;
    await waitFor('tor ↔ n1 up', async () => (await tor.neighbors())['198.18.0.11']?.state === 'Established', 20000);
    await n1().speaker.setPeers([peerOf(n2()), peerOf(n3())]);
    expect((await n1().speaker.peerStatus()).map((s) => s.address).sort()).toEqual(['198.18.0.12', '198.18.0.13']);
    await waitFor('tor sees n1 down', async () => (await tor.neighbors())['198.18.0.11']?.state !== 'Established', 20000);
    expect(n1().speaker.daemon?.pid).toBe(pid);
    expect(n1().speaker.daemon?.generation).toBe(gen);
    // The other sessions stayed up.
    const st = await n1().speaker.peerStatus();
    expect(st.every((s) => s.state === 'established')).toBe(true);
  }, 30000);

  it('a peer deleted from gobgpd takes its paths with it at once (gobgpd sends no BMP Peer Down for it)', async () => {
    await waitFor('n1 learns 198.19.2.0/26 from n2', () => hops(n1(), '198.19.2.0/26')?.includes('198.18.0.12'), 20000);
    const viaN2 = (): boolean => (n1().speaker.learnedSnapshot().get(packedPrefix('198.19.2.0/26'))?.nextHops ?? []).map(formatAddr).includes('198.18.0.12');
    expect(viaN2()).toBe(true);
    await n1().speaker.setPeers([peerOf(n3())]);
    // No wait: the pass that deleted the peer already dropped what it had sent.
    expect(viaN2()).toBe(false);
    await n1().speaker.setPeers([peerOf(n2()), peerOf(n3())]);
    await waitFor('n1 learns 198.19.2.0/26 from n2 again', () => hops(n1(), '198.19.2.0/26')?.includes('198.18.0.12'), 20000);
  }, 40000);

  it('a killed gobgpd is restarted by the supervisor and the desired state re-applied', async () => {
    const d = n2().speaker.daemon;
    const pid = d?.pid;
    const gen = d?.generation ?? 0;
    expect(pid).toBeDefined();
    // n2's learned routes survive the restart as stale and are confirmed again.
    // The case before re-added n2 on n1: the session may still be sending.
    await waitFor('n2 learns 198.19.200.0/24 from n1', () => hops(n2(), '198.19.200.0/24')?.join() === '198.18.0.11', 20000);
    process.kill(pid as number, 'SIGKILL');
    await waitFor('a new gobgpd for n2', () => (d && d.generation > gen && d.pid !== pid ? true : undefined), 15000);
    await waitFor('n2 peers re-established', async () => {
      const st = await n2().speaker.peerStatus();
      return st.length === 3 && st.every((s) => s.state === 'established');
    }, 20000);
    await waitFor('n1 re-learns 198.19.2.0/26 from the new gobgpd', () => hops(n1(), '198.19.2.0/26')?.join() === '198.18.0.12', 20000);
    await waitFor('tor re-learns 198.19.2.0/26', async () => (await tor.kernelRoutes()).some((r) => r.dst === '198.19.2.0/26'), 20000);
    await waitFor('n2 learns 198.19.200.0/24 again', async () => {
      const s = n2().speaker.learnedSnapshot().get(packedPrefix('198.19.200.0/24'));
      return s !== undefined && n2().speaker.inSync();
    }, 20000);
    expect(hops(n2(), '198.19.200.0/24')).toEqual(['198.18.0.11']);
  }, 60000);

  it('nodes of one AS (an iBGP mesh) announce only their own blocks: the ToR routes each via its owner alone', async () => {
    const m1 = await addNode('m1', M.m1, MESH_AS);
    const m2 = await addNode('m2', M.m2, MESH_AS);
    await m1.speaker.setPeers([meshPeer(M.m2), peerOf(TOR, { type: 'global' })]);
    await m2.speaker.setPeers([meshPeer(M.m1), peerOf(TOR, { type: 'global' })]);
    await m1.speaker.setAnnouncements(announce(m1, '198.19.31.0/26'));
    await m2.speaker.setAnnouncements(announce(m2, '198.19.32.0/26'));
    // Over the mesh each still learns the other's block, with the owner as next hop.
    await waitFor('m1 learns m2’s block', () => hops(m1, '198.19.32.0/26')?.join() === M.m2, 20000);
    await waitFor('m2 learns m1’s block', () => hops(m2, '198.19.31.0/26')?.join() === M.m1, 20000);
    await waitFor('tor has both blocks', async () => (await torPaths('198.19.31.0/26')).length > 0 && (await torPaths('198.19.32.0/26')).length > 0, 20000);
    // What each gobgpd sends the ToR now that it knows both blocks: its own only.
    expect(await advertisedTo(m1.speaker.client, TOR.addr)).toEqual(['198.19.31.0/26']);
    expect(await advertisedTo(m2.speaker.client, TOR.addr)).toEqual(['198.19.32.0/26']);
    // The ToR holds one path per block, from its owner (a re-announcement by
    // the other node would be a second, equal path: same AS-path length).
    expect(await torPaths('198.19.31.0/26')).toEqual([M.m1]);
    expect(await torPaths('198.19.32.0/26')).toEqual([M.m2]);
    const nb = await tor.neighbors();
    expect([nb[M.m1]?.pfxRcd, nb[M.m2]?.pfxRcd]).toEqual([1, 1]);
    await waitFor('tor kernel: each block via its owner alone', async () => {
      const k = await tor.kernelRoutes();
      const via = (dst: string): string | undefined => {
        const r = k.find((x) => x.dst === dst);
        return r && !r.nexthops ? r.gateway : undefined;
      };
      return via('198.19.31.0/26') === M.m1 && via('198.19.32.0/26') === M.m2;
    }, 20000);
  }, 40000);

  it('adopting a running gobgpd installs the policy once, without resetting sessions, and sends what an older policy held back', async () => {
    const ns = await lab.addNamespace('m3');
    await lab.connect(ns, fabric, `${M.m3}/24`);
    const log: string[] = [];
    // A sidecar: speakers attach to it and leave; it stays up.
    const d = new GobgpDaemon({ netns: ns, apiAddress: `unix://${join(sockDir, 'm3.sock')}`, logLevel: 'info', onLog: (l) => log.push(l) });
    sidecars.push(d);
    await d.start();
    const softResets = (): number => log.filter((l) => /soft reset out/i.test(l)).length;
    const peers = [meshPeer(M.m1), meshPeer(M.m2), peerOf(TOR, { type: 'global' })];
    const own = announce({ addr: M.m3 }, '198.19.33.0/26');
    const held = announce({ addr: M.m3 }, '198.19.34.0/26');
    const attached = new Set<GobgpSpeaker>();
    const detach = async (s: GobgpSpeaker): Promise<void> => {
      attached.delete(s);
      await s.stop();
    };
    const attach = async (paths: Announcement[]): Promise<GobgpSpeaker> => {
      const s = new GobgpSpeaker({ address: d.address, netns: ns, resyncMs: 2000, onError: (e) => errors.push(`m3: ${e.message}`) });
      attached.add(s);
      // As the agent does: the desired sets first, so that the first pass
      // over an adopted daemon does not take an empty set for the truth.
      await s.setPeers(peers);
      await s.setAnnouncements(paths);
      await s.start({ asn: MESH_AS, routerId: M.m3 });
      return s;
    };
    const raw = new GobgpClient(d.address);
    const uptimes = async (): Promise<Record<string, string>> =>
      Object.fromEntries((await raw.list('listPeer', {})).map((r) => [r.peer?.conf?.neighborAddress ?? '', String(r.peer?.timers?.state?.uptime?.seconds)]));
    try {
      const m1 = nodes.find((n) => n.name === 'm1') as TestNode;
      const m2 = nodes.find((n) => n.name === 'm2') as TestNode;
      await m1.speaker.setPeers([meshPeer(M.m2), meshPeer(M.m3), peerOf(TOR, { type: 'global' })]);
      await m2.speaker.setPeers([meshPeer(M.m1), meshPeer(M.m3), peerOf(TOR, { type: 'global' })]);
      const first = await attach(own);
      await waitFor('m3 sessions up', async () => {
        const st = await first.peerStatus();
        return st.length === 3 && st.every((x) => x.state === 'established');
      }, 20000);
      await waitFor('tor has m3’s block', async () => (await torPaths('198.19.33.0/26')).join() === M.m3, 20000);
      await waitFor('m3 knows m1’s and m2’s blocks', async () => {
        const all = (await raw.list('listPath', { tableType: TableType.GLOBAL, family: { afi: 1, safi: 1 } })).map((r) => r.destination?.prefix);
        return all.includes('198.19.31.0/26') && all.includes('198.19.32.0/26');
      }, 20000);
      // A fresh daemon got the policy before any session existed: no soft reset was needed.
      expect(softResets()).toBe(0);
      await detach(first);
      expect(d.pid).toBeDefined();

      // The daemon as something else left it: a global export holding back
      // everything, and an own path added meanwhile (so never sent).
      await raw.unary('setPolicyAssignment', {
        assignment: { name: 'global', direction: PolicyDirection.EXPORT, policies: [], defaultAction: RouteAction.REJECT },
      });
      await raw.unary('deletePolicy', { policy: { name: EXPORT_POLICY_NAME }, all: true });
      await raw.unary('addPath', { tableType: TableType.GLOBAL, path: toApiPath(held[0] as Announcement) });
      expect(await advertisedTo(raw, TOR.addr)).toEqual([]);
      const before = await uptimes();

      const second = await attach([...own, ...held]);
      // The new speaker's BMP station replaced the old one, and gobgpd's dump
      // of its established sessions gives it the mesh's blocks at once.
      const stations = await raw.list('listBmp', {});
      expect(stations.map((r) => r.station?.conf?.port)).toHaveLength(1);
      await waitFor('the adopting speaker learns m1’s and m2’s blocks', () => {
        const snap = second.learnedSnapshot();
        return snap.get(packedPrefix('198.19.31.0/26'))?.nextHops.map(formatAddr).join() === M.m1 && snap.get(packedPrefix('198.19.32.0/26'))?.nextHops.map(formatAddr).join() === M.m2;
      }, 20000);
      const assigned = await raw.list('listPolicyAssignment', { name: 'global', direction: PolicyDirection.EXPORT });
      expect(assigned[0]?.assignment?.policies.map((p) => p.name)).toEqual([EXPORT_POLICY_NAME]);
      expect(assigned[0]?.assignment?.defaultAction).toBe(RouteAction.ACCEPT);
      // Re-adding an identical path sends nothing: the soft reset out does.
      await waitFor('tor gets the held-back path from m3', async () => (await torPaths('198.19.34.0/26')).join() === M.m3, 20000);
      await waitFor('one soft reset out logged', () => softResets() >= 1, 5000);
      expect(await advertisedTo(raw, TOR.addr)).toEqual(['198.19.33.0/26', '198.19.34.0/26']);
      expect(await uptimes()).toEqual(before);
      await detach(second);

      // Adopting it again with the policy in place changes nothing at all.
      const third = await attach([...own, ...held]);
      expect(await ensureExportPolicy(raw, peerSets([], 64512))).toEqual({ changed: false, peersChanged: new Set() });
      await third.reconcile();
      expect(softResets()).toBe(1);
      expect(await uptimes()).toEqual(before);
      await detach(third);
      // m3 never passed m1's block on: the ToR still has it from m1 alone.
      expect(await torPaths('198.19.31.0/26')).toEqual([M.m1]);

      // A path the previous agent announced and the new one no longer wants
      // (its block was released while no agent ran) is withdrawn on adoption.
      const fourth = await attach(own);
      await waitFor('the unwanted path withdrawn at the ToR', async () => (await torPaths('198.19.34.0/26')).length === 0, 20000);
      expect(await advertisedTo(raw, TOR.addr)).toEqual(['198.19.33.0/26']);
      expect(await uptimes()).toEqual(before);
      await detach(fourth);
    } finally {
      for (const s of attached) await s.stop();
      raw.close();
    }
  }, 60000);
});
