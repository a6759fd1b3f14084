import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { computeDesiredPeers, DEFAULT_AS, nodeAddresses, routerIdFor, type PeerInputs } from '../src/peers.js';
import { bgpConfig, matches, node, peer } from './fixtures.js';

const a = node('a', '198.18.0.11/24', { labels: { rack: 'r1', role: 'worker' } });
const b = node('b', '198.18.0.12/24', { labels: { rack: 'r1' } });
const c = node('c', '198.18.0.13/24', { labels: { rack: 'r2', role: 'edge' } });

function run(over: Partial<PeerInputs> = {}): ReturnType<typeof computeDesiredPeers> {
  return computeDesiredPeers({ self: a, nodes: [a, b, c], configs: [], peers: [], matches, ...over });
}

const summary = (r: ReturnType<typeof computeDesiredPeers>): string[] => r.peers.map((p) => `${p.address} ${p.asNumber} ${p.type} ${p.source}`);

describe('computeDesiredPeers: node-to-node mesh', () => {
  it('peers with every other node by default, with the default AS', () => {
    const r = run();
    expect(summary(r)).toEqual(['198.18.0.12 64512 node-to-node mesh node/b', '198.18.0.13 64512 node-to-node mesh node/c']);
    expect(r.global).toEqual({ asNumber: DEFAULT_AS, routerId: '198.18.0.11', listenPort: 179, addresses: ['198.18.0.11'] });
    expect(r.peers.every((p) => p.port === 179 && p.keepaliveTime === undefined)).toBe(true);
    expect(r.problems).toEqual([]);
  });

  it('has no mesh when the default BGPConfiguration turns it off', () => {
    expect(run({ configs: [bgpConfig('default', { nodeToNodeMeshEnabled: false })] }).peers).toEqual([]);
  });

  it('ignores nodeToNodeMeshEnabled on a node-specific configuration', () => {
    expect(run({ configs: [bgpConfig('node.a', { nodeToNodeMeshEnabled: false })] }).peers).toHaveLength(2);
  });

  it('uses the keepalive of the BGPConfiguration (node-specific first), hold three times it', () => {
    const r = run({ configs: [bgpConfig('default', { keepaliveTime: '5s' }), bgpConfig('node.a', { keepaliveTime: '1s' })] });
    expect(r.peers.map((p) => [p.keepaliveTime, p.holdTime])).toEqual([
      [1, 3],
      [1, 3],
    ]);
    const d = run({ configs: [bgpConfig('default', { keepaliveTime: '1m' })] });
    expect(d.peers[0]?.keepaliveTime).toBe(60);
  });

  it('skips nodes without an address of a family this node has, and peers IPv6 with IPv6', () => {
    const me = node('a', '198.18.0.11/24', { v6: 'fd00::11/64' });
    const v6only = node('d', undefined, { v6: 'fd00::14/64' });
    const noAddr = node('e');
    const r = computeDesiredPeers({ self: me, nodes: [me, b, v6only, noAddr], configs: [], peers: [], matches });
    expect(r.peers.map((p) => [p.address, p.family])).toEqual([
      ['198.18.0.12', 4],
      ['fd00::14', 6],
    ]);
    // b has no IPv6; a node with only IPv4 does not peer with a v6-only node.
    const r2 = computeDesiredPeers({ self: b, nodes: [me, b, v6only], configs: [], peers: [], matches });
    expect(r2.peers.map((p) => p.address)).toEqual(['198.18.0.11']);
  });

  it('peers with each node on its own listen port', () => {
    const r = run({ configs: [bgpConfig('default', { listenPort: 1790 }), bgpConfig('node.c', { listenPort: 2790 })] });
    expect(r.global.listenPort).toBe(1790);
    expect(r.peers.map((p) => p.port)).toEqual([1790, 2790]);
  });
});

describe('computeDesiredPeers: AS numbers', () => {
  it('takes the Node AS, else the node-specific config, else the default config, else 64512', () => {
    expect(run().global.asNumber).toBe(64512);
    expect(run({ configs: [bgpConfig('default', { asNumber: 65000 })] }).global.asNumber).toBe(65000);
    expect(run({ configs: [bgpConfig('default', { asNumber: 65000 }), bgpConfig('node.a', { asNumber: 65001 })] }).global.asNumber).toBe(65001);
    const self = node('a', '198.18.0.11/24', { as: 65002 });
    expect(run({ self, configs: [bgpConfig('node.a', { asNumber: 65001 })] }).global.asNumber).toBe(65002);
  });

  it('gives each mesh peer its own node AS', () => {
    const b2 = node('b', '198.18.0.12/24', { as: 65012 });
    const r = run({ nodes: [a, b2, c], configs: [bgpConfig('default', { asNumber: 65000 }), bgpConfig('node.c', { asNumber: 65013 })] });
    expect(r.peers.map((p) => p.asNumber)).toEqual([65012, 65013]);
  });
});

describe('computeDesiredPeers: BGPPeer resources', () => {
  it('applies a peer with neither node nor nodeSelector to every node, as global', () => {
    const r = run({ peers: [peer('tor', { peerIP: '198.18.0.1', asNumber: 65100, keepaliveTime: '1s' })] });
    const tor = r.peers.find((p) => p.address === '198.18.0.1');
    expect(tor).toMatchObject({ asNumber: 65100, type: 'global', source: 'bgppeer/tor', port: 179, keepaliveTime: 1, holdTime: 3, localAddress: '198.18.0.11' });
  });

  it('applies a node peer only to that node, as node specific', () => {
    const peers = [peer('only-b', { peerIP: '198.18.0.2', asNumber: 65100, node: 'b' }), peer('only-a', { peerIP: '198.18.0.3', asNumber: 65100, node: 'a' })];
    const r = run({ peers });
    expect(r.peers.filter((p) => p.type === 'node specific').map((p) => p.address)).toEqual(['198.18.0.3']);
  });

  it('applies a nodeSelector peer when the selector matches this node labels', () => {
    const peers = [
      peer('r1', { peerIP: '198.18.0.4', asNumber: 65100, nodeSelector: "rack == 'r1'" }),
      peer('r2', { peerIP: '198.18.0.5', asNumber: 65100, nodeSelector: "rack == 'r2'" }),
      peer('workers', { peerIP: '198.18.0.6', asNumber: 65100, nodeSelector: 'has(role) && role in {"worker"}' }),
    ];
    expect(summary(run({ peers })).filter((s) => !s.includes('mesh'))).toEqual([
      '198.18.0.4 65100 node specific bgppeer/r1',
      '198.18.0.6 65100 node specific bgppeer/workers',
    ]);
  });

  it('resolves a peerSelector to the selected nodes, never to itself', () => {
    const cfgs = [bgpConfig('default', { nodeToNodeMeshEnabled: false, asNumber: 65000 })];
    const peers = [peer('rack1', { peerSelector: "rack == 'r1'", nodeSelector: 'all()' })];
    // b is selected; c is not, but a is, and the BGPPeer applies to c: the other end of c's session.
    const r = run({ configs: cfgs, peers });
    expect(summary(r)).toEqual(['198.18.0.12 65000 node specific bgppeer/rack1', '198.18.0.13 65000 node specific bgppeer/rack1']);
    const fromC = computeDesiredPeers({ self: c, nodes: [a, b, c], configs: cfgs, peers, matches });
    expect(summary(fromC)).toEqual(['198.18.0.11 65000 node specific bgppeer/rack1', '198.18.0.12 65000 node specific bgppeer/rack1']);
    const explicitAs = run({ configs: cfgs, peers: [peer('rack1', { peerSelector: 'all()', asNumber: 65200 })] });
    expect(summary(explicitAs)).toEqual(['198.18.0.12 65200 global bgppeer/rack1', '198.18.0.13 65200 global bgppeer/rack1']);
  });

  it('keeps one session per address: explicit peers over mesh, node specific over global', () => {
    const peers = [
      peer('z-global', { peerIP: '198.18.0.12', asNumber: 65100 }),
      peer('a-global', { peerIP: '198.18.0.13', asNumber: 65101 }),
      peer('b-specific', { peerIP: '198.18.0.13', asNumber: 65102, node: 'a' }),
    ];
    expect(summary(run({ peers }))).toEqual(['198.18.0.12 65100 global bgppeer/z-global', '198.18.0.13 65102 node specific bgppeer/b-specific']);
  });

  it('breaks ties between peers of one type by name', () => {
    const peers = [peer('zz', { peerIP: '198.18.0.9', asNumber: 65100 }), peer('aa', { peerIP: '198.18.0.9', asNumber: 65101 })];
    expect(run({ peers }).peers.find((p) => p.address === '198.18.0.9')?.source).toBe('bgppeer/aa');
  });

  it('never peers with its own address', () => {
    expect(run({ peers: [peer('self', { peerIP: '198.18.0.11', asNumber: 65100 })] }).peers.map((p) => p.address)).not.toContain('198.18.0.11');
  });

  it('reads a port from peerIP and IPv6 peers in brackets', () => {
    const me = node('a', '198.18.0.11/24', { v6: 'fd00::11/64' });
    const peers = [peer('p4', { peerIP: '198.18.0.1:1179', asNumber: 65100 }), peer('p6', { peerIP: '[fd00::1]:2179', asNumber: 65100, sourceAddress: 'None' })];
    const r = computeDesiredPeers({ self: me, nodes: [me], configs: [], peers, matches });
    expect(r.peers.map((p) => [p.address, p.port, p.family, p.localAddress])).toEqual([
      ['198.18.0.1', 1179, 4, '198.18.0.11'],
      ['fd00::1', 2179, 6, undefined],
    ]);
  });

  it('passes password, TTL security and restart time through', () => {
    const peers = [peer('tor', { peerIP: '198.18.0.1', asNumber: 65100, password: { secretKeyRef: { name: 's', key: 'k' } }, ttlSecurity: 1, maxRestartTime: '2m' })];
    const r = run({ peers, password: (name, ref) => `${name}:${ref.secretKeyRef?.name}/${ref.secretKeyRef?.key}` });
    expect(r.peers.find((p) => p.source === 'bgppeer/tor')).toMatchObject({ password: 'tor:s/k', ttlSecurity: 1, restartTime: 120 });
  });

  it('reports, and skips, peers it cannot use', () => {
    const peers = [
      peer('bad-ip', { peerIP: 'not-an-ip', asNumber: 65100 }),
      peer('no-as', { peerIP: '198.18.0.1' }),
      peer('no-secret', { peerIP: '198.18.0.2', asNumber: 65100, password: { secretKeyRef: { name: 's', key: 'k' } } }),
      peer('v6', { peerIP: 'fd00::1', asNumber: 65100 }),
      peer('bad-timer', { peerIP: '198.18.0.3', asNumber: 65100, keepaliveTime: 'soon' }),
    ];
    const r = run({ peers });
    expect(r.peers.map((p) => p.source)).toEqual(['bgppeer/bad-timer', 'node/b', 'node/c']);
    expect(r.problems).toHaveLength(5);
    expect(r.problems.join('\n')).toMatch(/bgppeer\/bad-ip: spec.peerIP "not-an-ip"/);
    expect(r.problems.join('\n')).toMatch(/bgppeer\/no-as: spec.asNumber is required/);
    expect(r.problems.join('\n')).toMatch(/bgppeer\/no-secret: spec.password/);
    expect(r.problems.join('\n')).toMatch(/no IPv6 BGP address/);
    expect(r.problems.join('\n')).toMatch(/bgppeer\/bad-timer: spec.keepaliveTime "soon" is not a duration/);
  });
});

describe('helpers', () => {
  it('parses node addresses with or without a length', () => {
    expect(nodeAddresses(node('x', '198.18.0.1', { v6: 'FD00:0::1/64' }))).toEqual({ 4: '198.18.0.1', 6: 'fd00::1' });
    expect(nodeAddresses(node('x', 'garbage'))).toEqual({});
  });

  it('derives a stable IPv4-shaped router id for IPv6-only nodes', () => {
    expect(routerIdFor('n', '198.18.0.1')).toBe('198.18.0.1');
    const id = routerIdFor('node-7', undefined);
    expect(id).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(routerIdFor('node-7', undefined)).toBe(id);
    expect(routerIdFor('node-8', undefined)).not.toBe(id);
  });
});

describe('properties', () => {
  it('never includes its own address and never two sessions to one address', () => {
    const octet = fc.integer({ min: 1, max: 6 });
    fc.assert(
      fc.property(
        fc.array(octet, { minLength: 1, maxLength: 6 }),
        fc.array(fc.record({ ip: octet, node: fc.option(fc.constantFrom('n1', 'n2', 'n3')), mesh: fc.boolean() }), { maxLength: 6 }),
        (nodeOctets, peerDefs) => {
          const nodes = nodeOctets.map((o, i) => node(`n${i + 1}`, `198.18.0.${o}/24`));
          const self = nodes[0];
          if (!self) return;
          const peers = peerDefs.map((p, i) => peer(`p${i}`, { peerIP: `198.18.0.${p.ip}`, asNumber: 65100, ...(p.node ? { node: p.node } : {}) }));
          const r = computeDesiredPeers({ self, nodes, configs: [bgpConfig('default', { nodeToNodeMeshEnabled: peerDefs[0]?.mesh ?? true })], peers, matches });
          const addrs = r.peers.map((p) => p.address);
          expect(new Set(addrs).size).toBe(addrs.length);
          expect(addrs).not.toContain(`198.18.0.${nodeOctets[0]}`);
        },
      ),
    );
  });
});

describe('computeDesiredPeers: BFD', () => {
  const birdLabels = { labels: { 'terrace.dev/bgp-backend': 'bird' } };
  const ba = node('a', '198.18.0.11/24', birdLabels);
  const bb = node('b', '198.18.0.12/24', birdLabels);

  it('asks for BFD on a BGPPeer that says so, with the defaults filled in', () => {
    const r = run({ peers: [peer('tor', { peerIP: '198.18.0.1', asNumber: 65000, bfd: {} }), peer('tor2', { peerIP: '198.18.0.2', asNumber: 65000, bfd: { interval: '100ms', multiplier: 5 } })] });
    const byAddr = new Map(r.peers.map((p) => [p.address, p.bfd]));
    expect(byAddr.get('198.18.0.1')).toEqual({ intervalMs: 300, multiplier: 3 });
    expect(byAddr.get('198.18.0.2')).toEqual({ intervalMs: 100, multiplier: 5 });
    expect(byAddr.get('198.18.0.12')).toBeUndefined();
  });

  it('runs BFD on every mesh session, whichever backend each end runs (both backends run BFD)', () => {
    const configs = [bgpConfig('default', { nodeToNodeMeshBFD: { interval: '200ms' } })];
    const bfd = { intervalMs: 200, multiplier: 3 };
    const r = computeDesiredPeers({ self: ba, nodes: [ba, bb, c], configs, peers: [], matches });
    expect(r.peers.map((p) => [p.address, p.bfd])).toEqual([
      ['198.18.0.12', bfd],
      ['198.18.0.13', bfd],
    ]);
    // A GoBGP node asks for it too, towards BIRD and GoBGP nodes alike.
    expect(computeDesiredPeers({ self: c, nodes: [ba, bb, c], configs, peers: [], matches }).peers.map((p) => [p.address, p.bfd])).toEqual([
      ['198.18.0.11', bfd],
      ['198.18.0.12', bfd],
    ]);
  });

  it('asks for no BFD on the mesh without nodeToNodeMeshBFD', () => {
    const r = computeDesiredPeers({ self: ba, nodes: [ba, bb, c], configs: [bgpConfig('default', {})], peers: [], matches });
    expect(r.peers.every((p) => p.bfd === undefined)).toBe(true);
  });
});

describe('computeDesiredPeers: route reflectors', () => {
  const rr = (name: string, ip: string, cluster: string | undefined): ReturnType<typeof node> => {
    const n = node(name, ip, { labels: cluster ? { 'route-reflector': 'true' } : {} });
    if (cluster) n.spec.bgp = { ...n.spec.bgp, routeReflectorClusterID: cluster };
    return n;
  };
  const r1 = rr('r1', '198.18.0.1/24', '244.0.0.1');
  const r2 = rr('r2', '198.18.0.2/24', '244.0.0.1');
  const c1 = rr('c1', '198.18.0.21/24', undefined);
  const c2 = rr('c2', '198.18.0.22/24', undefined);
  const nodes = [r1, r2, c1, c2];
  const meshOff = [bgpConfig('default', { nodeToNodeMeshEnabled: false })];
  const toReflectors = [peer('peer-with-route-reflectors', { nodeSelector: 'all()', peerSelector: 'has(route-reflector)' })];
  const sessions = (self: ReturnType<typeof node>, over: Partial<PeerInputs> = {}): string[] =>
    computeDesiredPeers({ self, nodes, configs: meshOff, peers: toReflectors, matches, ...over }).peers.map(
      (p) => `${p.address}${p.routeReflectorClusterId ? ` client ${p.routeReflectorClusterId}` : ''}`,
    );

  it('gives a reflector a client session with every other node and a plain one with the other reflector', () => {
    expect(sessions(r1)).toEqual(['198.18.0.2', '198.18.0.21 client 244.0.0.1', '198.18.0.22 client 244.0.0.1']);
  });

  it('gives a client plain sessions with the reflectors only', () => {
    expect(sessions(c1)).toEqual(['198.18.0.1', '198.18.0.2']);
  });

  it('makes every mesh session of a reflector a client session when the mesh is on', () => {
    expect(sessions(r2, { configs: [], peers: [] })).toEqual(['198.18.0.1', '198.18.0.21 client 244.0.0.1', '198.18.0.22 client 244.0.0.1']);
    expect(sessions(c2, { configs: [], peers: [] })).toEqual(['198.18.0.1', '198.18.0.2', '198.18.0.21']);
  });

  it('treats a reflector of another cluster as a client, never an eBGP peer or a peerIP', () => {
    const other = rr('r3', '198.18.0.3/24', '244.0.0.3');
    const ebgp = node('e', '198.18.0.31/24', { as: 65001 });
    const peers = [...toReflectors, peer('ebgp', { nodeSelector: 'all()', peerSelector: "kubernetes.io/hostname == 'e'" }), peer('tor', { peerIP: '198.18.0.41', asNumber: 64512 })];
    ebgp.metadata.labels = { 'kubernetes.io/hostname': 'e' };
    const r = sessions(r1, { nodes: [...nodes, other, ebgp], peers });
    expect(r).toEqual(['198.18.0.2', '198.18.0.3 client 244.0.0.1', '198.18.0.21 client 244.0.0.1', '198.18.0.22 client 244.0.0.1', '198.18.0.31', '198.18.0.41']);
  });

  it('carries nextHopMode Self and Keep, not Auto', () => {
    const modes = (mode: 'Auto' | 'Self' | 'Keep'): (string | undefined)[] =>
      computeDesiredPeers({ self: c1, nodes, configs: meshOff, peers: [peer('p', { ...toReflectors[0]!.spec, nextHopMode: mode })], matches }).peers.map((p) => p.nextHopMode);
    expect(modes('Auto')).toEqual([undefined, undefined]);
    expect(modes('Self')).toEqual(['Self', 'Self']);
    expect(modes('Keep')).toEqual(['Keep', 'Keep']);
  });
});

describe('properties: node-to-node sessions', () => {
  it('are configured at both ends, and a client session only on the reflector side', () => {
    const roles = fc.record({ rr: fc.option(fc.constantFrom('244.0.0.1', '244.0.0.2'), { nil: undefined }), rack: fc.constantFrom('r1', 'r2') });
    const selector = fc.constantFrom('all()', 'has(route-reflector)', "rack == 'r1'", "rack == 'r2'", '!has(route-reflector)');
    fc.assert(
      fc.property(
        fc.array(roles, { minLength: 2, maxLength: 6 }),
        fc.boolean(),
        fc.array(fc.record({ nodeSelector: fc.option(selector, { nil: undefined }), peerSelector: selector }), { maxLength: 3 }),
        (rs, mesh, sels) => {
          const nodes = rs.map((r, i) => {
            const n = node(`n${i}`, `198.18.0.${11 + i}/24`, { labels: { rack: r.rack, ...(r.rr ? { 'route-reflector': 'true' } : {}) } });
            if (r.rr) n.spec.bgp = { ...n.spec.bgp, routeReflectorClusterID: r.rr };
            return n;
          });
          const peers = sels.map((s, i) => peer(`p${i}`, { peerSelector: s.peerSelector, ...(s.nodeSelector ? { nodeSelector: s.nodeSelector } : {}) }));
          const configs = [bgpConfig('default', { nodeToNodeMeshEnabled: mesh })];
          const sessions = new Map(nodes.map((n) => [nodeAddresses(n)[4] as string, computeDesiredPeers({ self: n, nodes, configs, peers, matches }).peers]));
          for (const [addr, ps] of sessions) {
            const me = nodes.find((n) => nodeAddresses(n)[4] === addr)!;
            for (const p of ps) {
              const back = sessions.get(p.address)!.find((q) => q.address === addr);
              expect(back).toBeDefined();
              const other = nodes.find((n) => nodeAddresses(n)[4] === p.address)!;
              const mine = me.spec.bgp?.routeReflectorClusterID;
              const theirs = other.spec.bgp?.routeReflectorClusterID;
              expect(p.routeReflectorClusterId).toBe(mine !== undefined && mine !== theirs ? mine : undefined);
              // Never a client at both ends unless both reflect, in different clusters.
              if (p.routeReflectorClusterId && back!.routeReflectorClusterId) expect(mine !== undefined && theirs !== undefined && mine !== theirs).toBe(true);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('computeDesiredPeers: graceful restart and the mesh password', () => {
  const ref = { secretKeyRef: { name: 'bgp', key: 'mesh' } };

  it('turns graceful restart on by default (120 s) on mesh sessions and BGPPeers', () => {
    const r = run({ peers: [peer('tor', { peerIP: '198.18.0.1', asNumber: 65000 })] });
    expect(r.peers.map((p) => `${p.source} ${p.restartTime}`)).toEqual(['bgppeer/tor 120', 'node/b 120', 'node/c 120']);
  });

  it('takes maxRestartTime and nodeMeshMaxRestartTime; 0s turns graceful restart off', () => {
    const r = run({
      configs: [bgpConfig('default', { nodeMeshMaxRestartTime: '0s' })],
      peers: [peer('tor', { peerIP: '198.18.0.1', asNumber: 65000, maxRestartTime: '90s' }), peer('tor2', { peerIP: '198.18.0.2', asNumber: 65000, maxRestartTime: '0s' })],
    });
    expect(r.peers.map((p) => `${p.source} ${p.restartTime}`)).toEqual(['bgppeer/tor 90', 'bgppeer/tor2 undefined', 'node/b undefined', 'node/c undefined']);
    const m = run({ configs: [bgpConfig('default', { nodeMeshMaxRestartTime: '5m' })] });
    expect(m.peers.map((p) => p.restartTime)).toEqual([300, 300]);
  });

  it('caps a restart time at the 4095 s the capability can carry, and says so', () => {
    const r = run({ configs: [bgpConfig('default', { nodeMeshMaxRestartTime: '2h' })] });
    expect(r.peers.map((p) => p.restartTime)).toEqual([4095, 4095]);
    expect(r.problems.join('\n')).toMatch(/nodeMeshMaxRestartTime: 2h is longer than the 4095 s/);
  });

  it('gives every mesh session the nodeMeshPassword, and only them', () => {
    const r = run({
      configs: [bgpConfig('default', { nodeMeshPassword: ref })],
      peers: [peer('tor', { peerIP: '198.18.0.1', asNumber: 65000 })],
      password: (name, p) => `${name}:${p.secretKeyRef?.key}`,
    });
    expect(r.peers.map((p) => `${p.source} ${p.password}`)).toEqual(['bgppeer/tor undefined', 'node/b default:mesh', 'node/c default:mesh']);
    expect(r.problems).toEqual([]);
  });

  it('skips the mesh, with one problem line, when the mesh password cannot be read', () => {
    const r = run({ configs: [bgpConfig('default', { nodeMeshPassword: ref })], peers: [peer('tor', { peerIP: '198.18.0.1', asNumber: 65000 })], password: () => undefined });
    expect(r.peers.map((p) => p.source)).toEqual(['bgppeer/tor']);
    expect(r.problems).toEqual(['bgpconfiguration/default: spec.nodeMeshPassword cannot be resolved; the node-to-node mesh is skipped']);
  });
});

describe('computeDesiredPeers: a dual-homed node (its address on the loopback)', () => {
  const dh = node('dh', '198.18.1.1/32', { v6: '2001:db8:1::1/128', as: 64601, labels: { rack: 'r1' } });
  const tor = (name: string, peerIP: string, extra: object = {}) => peer(name, { peerIP, asNumber: 65101, nodeSelector: "rack == 'r1'", ...extra });

  it('peers from the uplink (no local address) with sourceAddress None, with no complaint', () => {
    const r = computeDesiredPeers({ self: dh, nodes: [dh], configs: [], peers: [tor('t-a', '198.18.11.1', { sourceAddress: 'None' }), tor('t-a6', '2001:db8:11::1', { sourceAddress: 'None' })], matches });
    expect(r.peers.map((p) => [p.address, p.localAddress])).toEqual([['198.18.11.1', undefined], ['2001:db8:11::1', undefined]]);
    expect(r.problems).toEqual([]);
  });

  it('says so when an eBGP peer would bind the session to the loopback address', () => {
    const r = computeDesiredPeers({ self: dh, nodes: [dh], configs: [], peers: [tor('t-a', '198.18.11.1'), tor('t-a6', '2001:db8:11::1', { sourceAddress: 'None' })], matches });
    expect(r.peers.find((p) => p.address === '198.18.11.1')?.localAddress).toBe('198.18.1.1');
    expect(r.problems).toEqual([expect.stringMatching(/^bgppeer\/t-a: node dh's IPv4 BGP address 198\.18\.1\.1 is a host address .* set spec\.sourceAddress: None$/)]);
    // A node on a shared subnet binds to its address as always, silently.
    expect(run({ peers: [tor('t-a', '198.18.0.1')] }).problems).toEqual([]);
  });
});
