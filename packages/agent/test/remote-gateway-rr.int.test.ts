/**
 * A remote-cluster gateway that is also the route reflector of its cluster,
 * against the real daemons. Cluster A (AS 64512) runs without the mesh: a-gw
 * reflects for two clients; one of A's pools lies inside a pool of cluster
 * B (AS 64513), so the routes a-gw passes on from B carve it out. The blocks
 * of that local pool are still reflected from one client to the other (on
 * GoBGP the carve-out once was a terminal reject in the pass policy, which
 * stopped them at the reflector).
 *
 *   a-w1 ── a-gw (RR) ── a-w2
 *            └── b-gw    (B, eBGP)
 *
 * Run twice: a-gw on GoBGP (clients and b-gw on BIRD), then a-gw on BIRD.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { formatAddr, formatIP, packCidr, parseCidr, parseIP, type RemoteClusterState, type TerraceNode } from '@terrace/api';
import type { BgpSpeaker, PeerConfig } from '@terrace/bgp';
import { waitFor } from '@terrace/testkit';
import { toSpeakerPeers } from '../src/agent.js';
import { closeGatewayLab, type GatewayLab, gatewayLab } from './gateway-lab.js';
import { computeDesiredPeers } from '../src/peers.js';
import { sessionPolicies } from '../src/policies.js';
import { computeRemotePlan, withRemotePeers } from '../src/remote-peers.js';
import { bgpConfig, matches, node, peer, pool, remoteCluster, remoteState } from './fixtures.js';

const NET = '198.18.8';
const ADDR = { gw: `${NET}.11`, w1: `${NET}.12`, w2: `${NET}.13`, b: `${NET}.21` } as const;
const B_POOL = '198.19.16.0/20';
/** A's pools: one of its own, one inside B's pool. */
const A_POOLS = [pool('a-pool', '198.19.0.0/20'), pool('a-inner', '198.19.20.0/24')];
const BLOCK = { w1Inner: '198.19.20.0/26', w2: '198.19.0.64/26', b: '198.19.16.0/26' } as const;
const FAST = { keepaliveTime: 1, holdTime: 3, connectRetry: 1 };

const aGw: TerraceNode = node('a-gw', `${ADDR.gw}/24`, { labels: { gateway: 'true', 'route-reflector': 'true' } });
aGw.spec.bgp = { ...aGw.spec.bgp, routeReflectorClusterID: '244.0.0.1' };
const aW1: TerraceNode = node('a-w1', `${ADDR.w1}/24`);
const aW2: TerraceNode = node('a-w2', `${ADDR.w2}/24`);
const configs = [bgpConfig('default', { nodeToNodeMeshEnabled: false })];
const toReflectors = [peer('peer-with-route-reflectors', { nodeSelector: 'all()', peerSelector: 'has(route-reflector)' })];
const remotes = [remoteCluster('b', 'gateway == "true"')];
const states: RemoteClusterState[] = [remoteState('b', { 'b-pool': B_POOL }, [{ name: 'b-gw', addresses: [ADDR.b], asNumber: 64513 }])];

/** What the agent's reconciler hands the speaker for `self` (agent.ts, reconcileOnce). */
function agentPeers(self: TerraceNode): PeerConfig[] {
  const cluster = computeDesiredPeers({ self, nodes: [aGw, aW1, aW2], configs, peers: toReflectors, matches });
  const plan = computeRemotePlan({ self, asNumber: cluster.global.asNumber, remotes, states, pools: A_POOLS, matches });
  const desired = withRemotePeers(cluster, plan);
  const policies = sessionPolicies(desired, A_POOLS, [], plan.remotes);
  return toSpeakerPeers(desired).map((c) => ({ ...c, ...FAST, policy: policies.byAddress.get(formatIP(c.address)) }));
}

const via = (s: BgpSpeaker, prefix: string): string | undefined => s.learnedSnapshot().get(packCidr(parseCidr(prefix)))?.nextHops.map(formatAddr).join();

for (const gwBackend of ['gobgp', 'bird'] as const) {
  describe(`remote cluster gateway and route reflector on ${gwBackend}`, () => {
    let g: GatewayLab<keyof typeof ADDR> | undefined;
    let sp: Record<keyof typeof ADDR, BgpSpeaker>;
    const other = gwBackend === 'gobgp' ? 'bird' : 'gobgp';

    beforeAll(async () => {
      g = await gatewayLab(gwBackend === 'gobgp' ? 'rrg' : 'rrb', ADDR, (name) => (name === 'gw' ? gwBackend : other));
      sp = g.sp;
      const ann = (prefix: string, nh: string) => ({ prefix: parseCidr(prefix), nextHop: parseIP(nh) });
      const own: Record<keyof typeof ADDR, { self: TerraceNode; blocks: string[] } | undefined> = {
        gw: { self: aGw, blocks: [] },
        w1: { self: aW1, blocks: [BLOCK.w1Inner] },
        w2: { self: aW2, blocks: [BLOCK.w2] },
        b: undefined,
      };
      for (const name of ['gw', 'w1', 'w2'] as const) {
        const o = own[name] as { self: TerraceNode; blocks: string[] };
        await sp[name].setPeers(agentPeers(o.self));
        await sp[name].setAnnouncements(o.blocks.map((b) => ann(b, ADDR[name])));
        await sp[name].start({ asn: 64512, routerId: ADDR[name], multipath: true });
      }
      // The remote gateway runs its own cluster's agent; here it takes whatever A sends.
      await sp.b.setPeers([{ address: parseIP(ADDR.gw), asn: 64512, ...FAST }]);
      await sp.b.setAnnouncements([ann(BLOCK.b, ADDR.b)]);
      await sp.b.start({ asn: 64513, routerId: ADDR.b });
    }, 90000);

    afterAll(() => closeGatewayLab(g), 30000);

    it('the clients learn the remote\'s block from the gateway', async () => {
      await waitFor('a-w1 learns b’s block via a-gw', () => via(sp.w1, BLOCK.b) === ADDR.gw, 60000, 200);
      await waitFor('a-w2 learns b’s block via a-gw', () => via(sp.w2, BLOCK.b) === ADDR.gw, 60000, 200);
    }, 70000);

    it('a block of the local pool inside the remote\'s pool is reflected from one client to the other', async () => {
      await waitFor('a-w2 learns a-w1’s block in a-inner via the reflector, next hop a-w1', () => via(sp.w2, BLOCK.w1Inner) === ADDR.w1, 60000, 200);
      await waitFor('a-w1 learns a-w2’s block via the reflector, next hop a-w2', () => via(sp.w1, BLOCK.w2) === ADDR.w2, 60000, 200);
      // And passed to the remote as one of this cluster's blocks.
      await waitFor('b-gw learns a-w1’s block via a-gw', () => via(sp.b, BLOCK.w1Inner) === ADDR.gw, 60000, 200);
      expect(g?.errors).toEqual([]);
    }, 70000);
  });
}
