/**
 * Remote-cluster gateways against the real daemons: the agent's planners
 * (peers, remote peers, session policies) drive real GoBGP and BIRD
 * speakers, as the reconciler hands them over. Cluster A (AS 64512) has a
 * gateway and a worker in a mesh; cluster B (AS 64513) and cluster C
 * (AS 64514) each have one gateway, all on one fabric (single hop). The
 * state docs are the controller's, written here as test input.
 *
 *   a-gw ── a-worker        (A, iBGP mesh)
 *    ├── b-gw               (B, eBGP)
 *    └── c-gw               (C, eBGP)
 *
 * Run twice: a-gw on GoBGP (worker on BIRD), then a-gw on BIRD (worker on
 * GoBGP); the remote gateways take the other backend each time.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { formatAddr, formatIP, type IPPool, packCidr, parseCidr, parseIP, type RemoteClusterState, type TerraceNode } from '@terrace/api';
import type { BgpSpeaker, PeerConfig } from '@terrace/bgp';
import { waitFor } from '@terrace/testkit';
import { toSpeakerPeers } from '../src/agent.js';
import { closeGatewayLab, type GatewayLab, gatewayLab } from './gateway-lab.js';
import { computeDesiredPeers } from '../src/peers.js';
import { sessionPolicies } from '../src/policies.js';
import { computeRemotePlan, withRemotePeers } from '../src/remote-peers.js';
import { matches, node, pool, remoteCluster, remoteState } from './fixtures.js';

const NET = '198.18.7';
const ADDR = { gw: `${NET}.11`, worker: `${NET}.12`, b: `${NET}.21`, c: `${NET}.31` } as const;
const A_POOLS = [pool('a-pool', '198.19.0.0/20')];
const B_POOL = '198.19.16.0/20';
const C_POOL = '198.19.32.0/20';
const BLOCK = { gw: '198.19.0.0/26', worker: '198.19.0.64/26', b: '198.19.16.0/26', c: '198.19.32.0/26' } as const;
/** Announced by b-gw besides its block: outside B's pools, and inside A's pool. */
const B_STRAY = '198.18.200.0/24';
const B_INTO_A = '198.19.0.128/26';
const FAST = { keepaliveTime: 1, holdTime: 3, connectRetry: 1 };

const aGw: TerraceNode = node('a-gw', `${ADDR.gw}/24`, { labels: { gateway: 'true' } });
const aWorker: TerraceNode = node('a-worker', `${ADDR.worker}/24`);
const remotes = [remoteCluster('b', 'gateway == "true"'), remoteCluster('c', 'gateway == "true"')];
const states: RemoteClusterState[] = [
  remoteState('b', { 'b-pool': B_POOL }, [{ name: 'b-gw', addresses: [ADDR.b], asNumber: 64513 }]),
  remoteState('c', { 'c-pool': C_POOL }, [{ name: 'c-gw', addresses: [ADDR.c], asNumber: 64514 }]),
];

/** What the agent's reconciler hands the speaker for `self` (agent.ts, reconcileOnce). */
function agentPeers(self: TerraceNode, docs: readonly RemoteClusterState[], pools: readonly IPPool[] = A_POOLS): PeerConfig[] {
  const cluster = computeDesiredPeers({ self, nodes: [aGw, aWorker], configs: [], peers: [], matches });
  const plan = computeRemotePlan({ self, asNumber: cluster.global.asNumber, remotes, states: docs, pools, matches });
  const desired = withRemotePeers(cluster, plan);
  const policies = sessionPolicies(desired, pools, [], plan.remotes);
  return toSpeakerPeers(desired).map((c) => ({ ...c, ...FAST, policy: policies.byAddress.get(formatIP(c.address)) }));
}

const via = (s: BgpSpeaker, prefix: string): string | undefined => s.learnedSnapshot().get(packCidr(parseCidr(prefix)))?.nextHops.map(formatAddr).join();

for (const gwBackend of ['gobgp', 'bird'] as const) {
  describe(`remote cluster gateway on ${gwBackend}`, () => {
    let g: GatewayLab<keyof typeof ADDR> | undefined;
    let sp: Record<keyof typeof ADDR, BgpSpeaker>;
    const other = gwBackend === 'gobgp' ? 'bird' : 'gobgp';
    const backendOf: Record<keyof typeof ADDR, 'gobgp' | 'bird'> = { gw: gwBackend, worker: other, b: other, c: gwBackend };

    beforeAll(async () => {
      g = await gatewayLab(gwBackend === 'gobgp' ? 'rg' : 'rb', ADDR, (name) => backendOf[name]);
      sp = g.sp;
      const ann = (prefix: string, nh: string) => ({ prefix: parseCidr(prefix), nextHop: parseIP(nh) });
      await sp.gw.setPeers(agentPeers(aGw, states));
      await sp.gw.setAnnouncements([ann(BLOCK.gw, ADDR.gw)]);
      await sp.gw.start({ asn: 64512, routerId: ADDR.gw, multipath: true });
      await sp.worker.setPeers(agentPeers(aWorker, states));
      await sp.worker.setAnnouncements([ann(BLOCK.worker, ADDR.worker)]);
      await sp.worker.start({ asn: 64512, routerId: ADDR.worker, multipath: true });
      // The remote gateways run their own clusters' agents; here they take whatever A sends.
      await sp.b.setPeers([{ address: parseIP(ADDR.gw), asn: 64512, ...FAST }]);
      await sp.b.setAnnouncements([ann(BLOCK.b, ADDR.b), ann(B_STRAY, ADDR.b), ann(B_INTO_A, ADDR.b)]);
      await sp.b.start({ asn: 64513, routerId: ADDR.b });
      await sp.c.setPeers([{ address: parseIP(ADDR.gw), asn: 64512, ...FAST }]);
      await sp.c.setAnnouncements([ann(BLOCK.c, ADDR.c)]);
      await sp.c.start({ asn: 64514, routerId: ADDR.c });
    }, 90000);

    afterAll(() => closeGatewayLab(g), 30000);

    it('the worker learns the remotes\' blocks with the gateway as next hop', async () => {
      await waitFor('a-worker learns b’s block via a-gw', () => via(sp.worker, BLOCK.b) === ADDR.gw, 60000, 200);
      await waitFor('a-worker learns c’s block via a-gw', () => via(sp.worker, BLOCK.c) === ADDR.gw, 60000, 200);
    }, 70000);

    it('the remotes learn both of A\'s blocks from the gateway, the worker\'s passed on', async () => {
      await waitFor('b-gw learns a-gw’s block via a-gw', () => via(sp.b, BLOCK.gw) === ADDR.gw, 60000, 200);
      await waitFor('b-gw learns a-worker’s block via a-gw', () => via(sp.b, BLOCK.worker) === ADDR.gw, 60000, 200);
      await waitFor('c-gw learns a-worker’s block via a-gw', () => via(sp.c, BLOCK.worker) === ADDR.gw, 60000, 200);
    }, 70000);

    it('a prefix outside b\'s pools, or inside a local pool, is not imported; no remote\'s routes go to another remote', async () => {
      await waitFor('a-gw learns b’s block', () => via(sp.gw, BLOCK.b) === ADDR.b, 60000, 200);
      // Settled: every session has been up for a while and carried its updates.
      await new Promise((r) => setTimeout(r, 4000));
      expect(via(sp.gw, B_STRAY)).toBeUndefined();
      expect(via(sp.gw, B_INTO_A)).toBeUndefined();
      expect(via(sp.worker, B_STRAY)).toBeUndefined();
      expect(via(sp.c, BLOCK.b)).toBeUndefined();
      expect(via(sp.b, BLOCK.c)).toBeUndefined();
    }, 70000);

    it('creating and deleting a local pool leaves the gateway\'s remote sessions up', async () => {
      const remoteSessions = async (): Promise<string[]> =>
        (await sp.gw.peerStatus())
          .filter((p) => p.address === ADDR.b || p.address === ADDR.c)
          .map((p) => `${p.address} ${p.state} since ${p.since?.toISOString() ?? '?'}`)
          .sort();
      await waitFor('both remote sessions established', async () => (await remoteSessions()).filter((l) => l.includes(' established ')).length === 2, 60000, 200);
      const before = await remoteSessions();
      // The export rules of the remote sessions change with the local pools (create, then delete).
      await sp.gw.setPeers(agentPeers(aGw, states, [...A_POOLS, pool('a-more', '198.19.64.0/20')]));
      await new Promise((r) => setTimeout(r, 4000));
      await sp.gw.setPeers(agentPeers(aGw, states));
      // Long enough for a reset session to be seen down or back with a new uptime (hold time 3 s, retry 1 s).
      await new Promise((r) => setTimeout(r, 4000));
      expect(await remoteSessions()).toEqual(before);
      expect(via(sp.b, BLOCK.gw)).toBe(ADDR.gw);
      expect(via(sp.b, BLOCK.worker)).toBe(ADDR.gw);
    }, 70000);

    it('deleting b\'s state doc withdraws its session and routes everywhere', async () => {
      const withoutB = states.filter((s) => s.name !== 'b');
      await sp.gw.setPeers(agentPeers(aGw, withoutB));
      await sp.worker.setPeers(agentPeers(aWorker, withoutB));
      await waitFor('a-worker drops b’s block', () => via(sp.worker, BLOCK.b) === undefined, 60000, 200);
      await waitFor('a-gw drops b’s block', () => via(sp.gw, BLOCK.b) === undefined, 60000, 200);
      await waitFor('b-gw drops A’s blocks', () => via(sp.b, BLOCK.gw) === undefined && via(sp.b, BLOCK.worker) === undefined, 60000, 200);
      // c stays (with GoBGP after the gateway's sessions whose pass list changed were reset).
      await waitFor('a-worker still reaches c via a-gw', () => via(sp.worker, BLOCK.c) === ADDR.gw, 60000, 200);
      expect(g?.errors).toEqual([]);
    }, 70000);
  });
}
