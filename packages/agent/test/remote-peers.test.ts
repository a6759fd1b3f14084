import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { cidr, cidrContainsCidr, cidrsOverlap, decodeRemoteClusterState, formatCidr, GATEWAY_IPV4_ANNOTATION, parseCidr, type TerraceNode } from '@terrace/api';
import { decide, importAllows } from '@terrace/bgp';
import { natPools } from '../src/nat.js';
import { computeDesiredPeers } from '../src/peers.js';
import { sessionPolicies } from '../src/policies.js';
import { computeRemotePlan, remotePoolRules, withRemotePeers, type RemoteInputs } from '../src/remote-peers.js';
import { matches, node, pool, remoteCluster, remoteState } from './fixtures.js';

const gwLabels = { labels: { gateway: 'true' } };
function annotated(n: TerraceNode, v4: string): TerraceNode {
  return { ...n, metadata: { ...n.metadata, annotations: { [GATEWAY_IPV4_ANNOTATION]: v4 } } };
}
const gw = annotated(node('gw', '198.18.0.11/24', { v6: '2001:db8::11/64', ...gwLabels }), '198.18.5.11');
const worker = node('worker', '198.18.0.12/24');
const localPools = [pool('a-pool', '198.19.0.0/20')];
const b = remoteCluster('b', 'gateway == "true"');
const bState = remoteState('b', { 'b-pool': '198.19.16.0/20' }, [
  { name: 'b-gw', addresses: ['198.18.5.21', '2001:db8:5::21'], asNumber: 64513 },
  { name: 'b-gw2', addresses: ['198.18.5.22'], asNumber: 64513 },
]);

function plan(over: Partial<RemoteInputs> = {}): ReturnType<typeof computeRemotePlan> {
  return computeRemotePlan({ self: gw, asNumber: 64512, remotes: [b], states: [bState], pools: localPools, matches, ...over });
}
const summary = (p: ReturnType<typeof computeRemotePlan>): string[] =>
  p.peers.map((x) => `${x.address} ${x.asNumber} ${x.type} ${x.source} from ${x.localAddress ?? '-'} nh ${x.nextHopMode ?? '-'}`);

describe('computeRemotePlan: sessions to remote gateways', () => {
  it('gives a gateway node one eBGP session per remote gateway address of a family it has, from its gateway address', () => {
    const p = plan();
    // gw has no IPv6 gateway annotation but an IPv6 BGP address: that is its IPv6 gateway address.
    expect(summary(p)).toEqual([
      '198.18.5.21 64513 remote cluster remotecluster/b from 198.18.5.11 nh Self',
      '2001:db8:5::21 64513 remote cluster remotecluster/b from 2001:db8::11 nh Self',
      '198.18.5.22 64513 remote cluster remotecluster/b from 198.18.5.11 nh Self',
    ]);
    expect(p.problems).toEqual([]);
  });

  it('skips a family the node has no address of', () => {
    expect(summary(plan({ self: annotated(node('gw', '198.18.0.11/24', gwLabels), '198.18.5.11') }))).toHaveLength(2);
  });

  it('gives a node the selector does not match no session, and a remote without gatewayNodeSelector none at all', () => {
    expect(plan({ self: worker }).peers).toEqual([]);
    expect(plan({ remotes: [remoteCluster('b')] }).peers).toEqual([]);
    // Its pools are still learned from the gateways by every node.
    expect(plan({ self: worker }).remotes.map((r) => r.source)).toEqual(['remotecluster/b']);
  });

  it('refuses a remote gateway in our own AS with a problem line and no session', () => {
    const p = plan({ asNumber: 64513 });
    expect(p.peers).toEqual([]);
    expect(p.problems).toEqual([
      'remotecluster/b: gateway b-gw is in AS 64513, this node\'s AS too; remote clusters need their own AS, so no session',
      'remotecluster/b: gateway b-gw2 is in AS 64513, this node\'s AS too; remote clusters need their own AS, so no session',
    ]);
  });

  it('uses nothing when the doc or the resource is gone, or the doc is of an older resource of that name', () => {
    for (const p of [plan({ states: [] }), plan({ remotes: [] }), plan({ remotes: [remoteCluster('b', 'all()', 'uid-new')] })]) {
      expect(p.peers).toEqual([]);
      expect(p.remotes).toEqual([]);
    }
  });

  it('merges into the cluster peers, leaving an address already peered alone', () => {
    const cluster = computeDesiredPeers({ self: gw, nodes: [gw, worker], configs: [], peers: [], matches });
    const merged = withRemotePeers(cluster, plan());
    expect(merged.peers.map((p) => `${p.address} ${p.type}`)).toEqual([
      '198.18.0.12 node-to-node mesh',
      '198.18.5.21 remote cluster',
      '198.18.5.22 remote cluster',
      '2001:db8:5::21 remote cluster',
    ]);
    const clash = remoteState('b', {}, [{ name: 'b-gw', addresses: ['198.18.0.12'], asNumber: 64513 }]);
    const m2 = withRemotePeers(cluster, plan({ states: [clash] }));
    expect(m2.peers.map((p) => p.type)).toEqual(['node-to-node mesh']);
    expect(m2.problems).toEqual(['remotecluster/b: gateway address 198.18.0.12 is already a peer of this node (or its own); no remote cluster session']);
  });
});

describe('remotePoolRules: a remote pool minus the local pools', () => {
  const arbCidr = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 16, max: 28 })).map(([x, len]) => {
    const base = (0xc6130000n | (BigInt(x) << 8n)) & ~((1n << BigInt(32 - len)) - 1n);
    return cidr(4, base, len);
  });
  it('accepts exactly the prefixes inside the remote pool that overlap no local pool', () => {
    fc.assert(
      fc.property(arbCidr, fc.array(arbCidr, { maxLength: 3 }), fc.array(arbCidr, { minLength: 1, maxLength: 20 }), (remote, local, probes) => {
        const rules = remotePoolRules(remote, local);
        for (const p of [...probes, remote, ...local]) {
          const want = cidrContainsCidr(remote, p) && !local.some((l) => cidrsOverlap(l, p));
          expect([formatCidr(p), importAllows(rules, p)]).toEqual([formatCidr(p), want]);
        }
      }),
      { numRuns: 300 },
    );
  });
  it('carves out a local pool inside it, and gives nothing for one inside a local pool', () => {
    const rules = remotePoolRules(parseCidr('198.19.0.0/16'), [parseCidr('198.19.4.0/24')]);
    expect(decide(rules, parseCidr('198.19.4.64/26'))).toBe('reject');
    expect(decide(rules, parseCidr('198.19.0.0/22'))).toBe('accept');
    expect(decide(rules, parseCidr('198.19.0.0/21'))).toBe('reject');
    expect(remotePoolRules(parseCidr('198.19.4.0/26'), [parseCidr('198.19.4.0/24')])).toEqual([]);
  });
});

describe('sessionPolicies with remote clusters', () => {
  const cluster = computeDesiredPeers({ self: gw, nodes: [gw, worker], configs: [], peers: [], matches });
  const p = plan();
  const pol = sessionPolicies(withRemotePeers(cluster, p), localPools, [], p.remotes);
  const remote = pol.byAddress.get('198.18.5.21');
  const mesh = pol.byAddress.get('198.18.0.12');
  const c = parseCidr;

  it('a remote gateway session imports only that remote\'s pods', () => {
    expect(importAllows(remote?.import ?? [], c('198.19.16.64/26'))).toBe(true);
    expect(importAllows(remote?.import ?? [], c('198.19.0.0/26'))).toBe(false);
    expect(importAllows(remote?.import ?? [], c('0.0.0.0/0'))).toBe(false);
    expect(importAllows(remote?.import ?? [], c('198.18.200.0/24'))).toBe(false);
  });

  it('exports only our pods, own or passed on, never a remote\'s or a default route', () => {
    expect(decide(remote?.export ?? [], c('198.19.0.0/26'))).toBe('accept');
    expect(decide(remote?.export ?? [], c('198.18.200.0/24'))).toBe('reject');
    expect(decide(remote?.export ?? [], c('0.0.0.0/0'))).toBe('reject');
    expect(decide(remote?.export ?? [], c('2001:db8:1::/64'))).toBe('reject');
    expect(decide(remote?.pass ?? [], c('198.19.0.64/26'))).toBe('accept');
    expect(decide(remote?.pass ?? [], c('198.19.16.0/26'))).toBeUndefined();
  });

  it('every other session also imports remote pods; a gateway passes them on, a worker does not', () => {
    expect(importAllows(mesh?.import ?? [], c('198.19.16.64/26'))).toBe(true);
    expect(importAllows(mesh?.import ?? [], c('198.19.0.64/26'))).toBe(true);
    expect(importAllows(mesh?.import ?? [], c('198.18.200.0/24'))).toBe(false);
    expect(decide(mesh?.pass ?? [], c('198.19.16.64/26'))).toBe('accept');
    expect(decide(mesh?.pass ?? [], c('198.19.0.64/26'))).toBeUndefined();
    const wc = computeDesiredPeers({ self: worker, nodes: [gw, worker], configs: [], peers: [], matches });
    const wp = plan({ self: worker });
    const wpol = sessionPolicies(withRemotePeers(wc, wp), localPools, [], wp.remotes);
    const toGw = wpol.byAddress.get('198.18.0.11');
    expect(importAllows(toGw?.import ?? [], c('198.19.16.64/26'))).toBe(true);
    expect(toGw?.pass).toBeUndefined();
  });

  it('without remotes the policies are what they were', () => {
    const none = sessionPolicies(cluster, localPools, []);
    expect(none.key).toBe(sessionPolicies(withRemotePeers(cluster, plan({ states: [] })), localPools, [], []).key);
    expect(none.key).not.toContain('pass');
  });
});

describe('natPools with remote clusters', () => {
  it('lists remote pools as destinations that are not NATed, skipping one that overlaps a local pool', () => {
    const pools = natPools([pool('a', '198.19.0.0/20', { natOutgoing: true })], [remoteState('b', { b1: '198.19.16.0/20', b2: '198.19.8.0/24' }, [])]);
    expect(pools.map((p) => `${formatCidr(p.cidr)} ${p.natOutgoing}`)).toEqual(['198.19.0.0/20 true', '198.19.16.0/20 false']);
  });
});

describe('decodeRemoteClusterState, as the agent watch reads it', () => {
  it('reads the documented shape and refuses a doc without what routing needs', () => {
    expect(decodeRemoteClusterState('k', JSON.stringify(bState))).toEqual(bState);
    expect(() => decodeRemoteClusterState('k', '[]')).toThrow('k: the stored remote cluster state is not readable (not a JSON object)');
    expect(() => decodeRemoteClusterState('k', JSON.stringify({ ...bState, gateways: [{ name: 'x', addresses: '198.18.5.21', asNumber: 1 }] }))).toThrow(
      'gateways[0] needs a name, addresses and an asNumber',
    );
  });
});
