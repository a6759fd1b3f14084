// The status page's state builder: etcd records in, what the page draws out. One edge per session
// (both ends folded), utilization from the blocks, liveness, events newest first, and no secret ever.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  API_VERSION,
  type BGPConfiguration,
  type BGPPeer,
  type IPPool,
  type NodeStatus,
  type PeerStatusRecord,
  type RemoteCluster,
  type RemoteClusterState,
  type TerraceNode,
  validateResource,
} from '@terrace/api';
import type { BlockRecord } from '@terrace/ipam';
import { type PageInput, buildPageState, combinedState } from '../src/page/state.js';

const NOW = Date.parse('2026-12-07T12:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

function pool(name: string, cidr: string): IPPool {
  return validateResource({ apiVersion: API_VERSION, kind: 'IPPool', metadata: { name }, spec: { cidr } }) as IPPool;
}

function node(name: string, ip: string, reflector = false): TerraceNode {
  return { apiVersion: API_VERSION, kind: 'Node', metadata: { name }, spec: { bgp: { ipv4Address: `${ip}/24`, ...(reflector ? { routeReflectorClusterID: '224.0.0.1' } : {}) } } };
}

function peer(address: string, source: string, state: PeerStatusRecord['state'], type: PeerStatusRecord['type'] = 'node-to-node mesh'): PeerStatusRecord {
  return { address, type, source, asNumber: 64512, state, info: '', received: 1, advertised: 2 };
}

function status(name: string, ip: string, peers: PeerStatusRecord[], backend = 'gobgp'): NodeStatus {
  return {
    node: name,
    backend,
    updatedAt: iso(NOW - 1000),
    asNumber: 64512,
    routerId: ip,
    addresses: [ip],
    peers,
    prefixes: { received: 3, advertised: 1, installed: 4 },
    advertisedPrefixes: [],
  };
}

function block(cidr: string, affine: string | null, holders: string[]): BlockRecord {
  const allocations: BlockRecord['allocations'] = {};
  holders.forEach((n, i) => {
    allocations[String(i + 1)] = { node: n, handle: `h-${cidr}-${i}`, seq: i, time: NOW };
  });
  return { cidr, affinity: affine === null ? null : `host:${affine}`, seq: 10, next: 0, allocations };
}

function input(over: Partial<PageInput> = {}): PageInput {
  return {
    cluster: 'lab',
    now: NOW,
    servedBy: 'ctl-1',
    leading: true,
    pools: [pool('pool-a', '198.19.0.0/24'), pool('pool-b', '198.19.8.0/24')],
    bgpPeers: [],
    bgpConfigurations: [],
    nodes: [node('node-1', '198.18.0.11'), node('node-2', '198.18.0.12'), node('node-3', '198.18.0.13')],
    remoteClusters: [],
    blocks: [block('198.19.0.0/26', 'node-1', ['node-1', 'node-1', 'node-2']), block('198.19.0.64/26', 'node-2', []), block('198.19.0.128/26', null, ['node-3'])],
    alive: new Set(['node-1', 'node-2']),
    statuses: [
      status('node-1', '198.18.0.11', [
        peer('198.18.0.12', 'node/node-2', 'Established'),
        peer('198.18.0.13', 'node/node-3', 'Active'),
        peer('198.18.0.1', 'bgppeer/tor', 'Established', 'global'),
      ]),
      status('node-2', '198.18.0.12', [peer('198.18.0.11', 'node/node-1', 'Established'), peer('198.18.0.1', 'bgppeer/tor', 'OpenSent', 'global')], 'bird'),
    ],
    controller: undefined,
    events: [],
    remoteStates: [],
    fence: undefined,
    ...over,
  };
}

describe('sessions graph', () => {
  const st = buildPageState(input());

  test('a session seen from both ends is one edge; its state is the least advanced end', () => {
    const ids = st.sessions.map((s) => s.id);
    expect(ids).toEqual(['node:node-1|node:node-2', 'node:node-1|node:node-3', 'node:node-1|peer:198.18.0.1', 'node:node-2|peer:198.18.0.1']);
    const mesh = st.sessions.find((s) => s.id === 'node:node-1|node:node-2');
    expect(mesh?.ends.map((e) => e.from)).toEqual(['node-1', 'node-2']);
    expect(mesh?.state).toBe('Established');
    expect(st.sessions.find((s) => s.id === 'node:node-1|node:node-3')?.state).toBe('Active');
    expect(st.sessions.find((s) => s.id === 'node:node-2|peer:198.18.0.1')?.state).toBe('OpenSent');
  });

  test('one vertex per node and per external peer address, named from its BGPPeer', () => {
    expect(st.vertices.map((v) => [v.id, v.kind, v.label])).toEqual([
      ['node:node-1', 'node', 'node-1'],
      ['node:node-2', 'node', 'node-2'],
      ['node:node-3', 'node', 'node-3'],
      ['peer:198.18.0.1', 'external', 'tor'],
    ]);
    expect(st.vertices.find((v) => v.id === 'node:node-3')?.alive).toBe(false);
  });

  test('reflectors and remote-cluster gateways are vertices of their own kind', () => {
    const remote: RemoteClusterState = {
      name: 'east', uid: 'u1', clusterName: 'east', connection: 'Connected', stale: false, revision: '9', pools: [], blocks: 0, nodes: 1, asNumber: 65010,
      gateways: [{ name: 'e-gw', addresses: ['198.18.9.1'], asNumber: 65010 }], overlaps: [],
    };
    const s = buildPageState(
      input({
        nodes: [node('node-1', '198.18.0.11', true), node('node-2', '198.18.0.12')],
        statuses: [status('node-1', '198.18.0.11', [peer('198.18.9.1', 'remotecluster/east', 'Established', 'remote cluster')])],
        remoteStates: [remote],
      }),
    );
    expect(s.vertices.find((v) => v.id === 'node:node-1')?.kind).toBe('reflector');
    expect(s.vertices.find((v) => v.id === 'remote:east/198.18.9.1')).toMatchObject({ kind: 'remote', label: 'east' });
    expect(s.vertices.find((v) => v.id === 'remote:east/198.18.9.1')?.detail).toContain('e-gw');
  });

  test('combinedState: no end is Unknown; one end down makes the session down', () => {
    expect(combinedState([])).toBe('Unknown');
    expect(combinedState(['Established', 'Established'])).toBe('Established');
    expect(combinedState(['Established', 'Idle'])).toBe('Idle');
    expect(combinedState(['OpenConfirm', 'Active'])).toBe('Active');
  });
});

describe('nodes, pools, remotes and events', () => {
  test('blocks and utilization per node; a lent address counts as borrowed', () => {
    const st = buildPageState(input());
    const n1 = st.nodes.find((n) => n.name === 'node-1');
    expect(n1).toMatchObject({ alive: true, backend: 'gobgp', used: 3, size: 64, statusStale: false, blocks: [{ cidr: '198.19.0.0/26', used: 3, size: 64, borrowed: 1 }] });
    expect(st.nodes.find((n) => n.name === 'node-2')).toMatchObject({ backend: 'bird', used: 0, size: 64 });
    // node-3: registered, no liveness key, no status record.
    expect(st.nodes.find((n) => n.name === 'node-3')).toMatchObject({ alive: false, statusStale: true, addresses: ['198.18.0.13'], blocks: [] });
  });

  test('a status record older than the stale limit is flagged', () => {
    const old = status('node-1', '198.18.0.11', []);
    old.updatedAt = iso(NOW - 120_000);
    expect(buildPageState(input({ statuses: [old] })).nodes[0]?.statusStale).toBe(true);
  });

  test('pools: blocks inside, addresses in use (affine or not), size, held reason', () => {
    const st = buildPageState(input({ fence: { cleared: {}, held: [{ pool: 'pool-b', reason: 'waiting for a fresh read of east' }], fenced: [], updated: iso(NOW) } }));
    expect(st.pools).toEqual([
      { name: 'pool-a', cidr: '198.19.0.0/24', blockSize: 26, disabled: false, natOutgoing: false, blocks: 3, used: 4, size: 256 },
      { name: 'pool-b', cidr: '198.19.8.0/24', blockSize: 26, disabled: false, natOutgoing: false, blocks: 0, used: 0, size: 256, held: 'waiting for a fresh read of east' },
    ]);
  });

  test('the controller report: grace countdown on the node, stale when older than two intervals', () => {
    const controller = {
      leader: 'ctl-1', leaderSince: iso(NOW - 600_000), lastPass: iso(NOW - 5_000), passes: 9, lastPassMs: 3, graceSeconds: 300, intervalSeconds: 30,
      nodes: [{ node: 'node-3', state: 'grace' as const, goneSince: iso(NOW - 60_000), graceRemainingSeconds: 240, addresses: 1, blocks: 0 }],
      totals: { nodesReleased: 0, blocksReleased: 0, addressesFreed: 0, poolsCreated: 0 }, errors: [],
    };
    const st = buildPageState(input({ controller }));
    expect(st.controller?.stale).toBe(false);
    expect(st.nodes.find((n) => n.name === 'node-3')).toMatchObject({ controllerState: 'grace', graceRemainingSeconds: 240 });
    expect(buildPageState(input({ controller, now: NOW + 120_000 })).controller?.stale).toBe(true);
  });

  test('events newest first; remotes listed from their resources with the doc\'s view', () => {
    const events = [
      { time: iso(NOW - 2000), kind: 'node lost' as const, subject: 'node-3', message: 'node-3 lost' },
      { time: iso(NOW - 1000), kind: 'addresses freed' as const, subject: 'node-3', message: 'node-3: 1 address freed' },
    ];
    const rc: RemoteCluster = {
      apiVersion: API_VERSION, kind: 'RemoteCluster', metadata: { name: 'east' },
      spec: { clusterName: 'east', etcd: { endpoints: ['https://198.18.9.2:2379'] }, remoteGatewaySelector: 'all()', staleAfter: '30s' },
    };
    const st = buildPageState(input({ events, remoteClusters: [rc] }));
    expect(st.events.map((e) => e.kind)).toEqual(['addresses freed', 'node lost']);
    expect(st.remotes).toEqual([{ name: 'east', clusterName: 'east', connection: 'Unknown', stale: true, pools: [], blocks: 0, nodes: 0, asNumber: 0, gateways: [], overlaps: [] }]);
  });
});

describe('no secret reaches the page', () => {
  // Secrets as they could be stored: BGP password references, the mesh password reference, a remote's
  // credential references, TLS file paths and endpoints; and the same strings quoted in free text
  // (a session's info, a remote's error, a controller error, an event) by some future message.
  const secret = fc.stringMatching(/^[A-Za-z0-9+=_]{6,30}$/).map((s) => `s3cr3t-${s}`);

  test('whatever the secret strings, none appears in the page state', () => {
    fc.assert(
      fc.property(fc.array(secret, { minLength: 9, maxLength: 9 }), (sec) => {
        const [pName, pKey, meshName, uName, pwKey, caFile, certFile, keyFile, endpoint] = sec as [string, string, string, string, string, string, string, string, string];
        const bgpPeer: BGPPeer = {
          apiVersion: API_VERSION, kind: 'BGPPeer', metadata: { name: 'tor' },
          spec: { peerIP: '198.18.0.1', asNumber: 65000, password: { secretKeyRef: { name: pName, key: pKey } } },
        };
        const config: BGPConfiguration = {
          apiVersion: API_VERSION, kind: 'BGPConfiguration', metadata: { name: 'default' },
          spec: { nodeMeshPassword: { secretKeyRef: { name: meshName, key: pKey } } },
        };
        const rc: RemoteCluster = {
          apiVersion: API_VERSION, kind: 'RemoteCluster', metadata: { name: 'east' },
          spec: {
            clusterName: 'east',
            etcd: { endpoints: [endpoint], caFile, certFile, keyFile, usernameSecretRef: { name: uName, key: pwKey }, passwordSecretRef: { name: uName, key: pwKey } },
            remoteGatewaySelector: 'all()', staleAfter: '30s',
          },
        };
        const quoted = sec.join(' ');
        const base = input();
        const statuses = base.statuses.map((s) => ({ ...s, peers: s.peers.map((p) => ({ ...p, info: `md5 ${quoted}` })) }));
        const remote: RemoteClusterState = {
          name: 'east', uid: 'u', clusterName: 'east', connection: 'Unauthorized', stale: true, error: `cannot read ${quoted}`, revision: '0',
          pools: [], blocks: 0, nodes: 0, asNumber: 65010, gateways: [], overlaps: [],
        };
        const controller = {
          leader: 'ctl-1', leaderSince: iso(NOW), lastPass: iso(NOW), passes: 1, lastPassMs: 1, graceSeconds: 300, intervalSeconds: 30, nodes: [],
          totals: { nodesReleased: 0, blocksReleased: 0, addressesFreed: 0, poolsCreated: 0 }, errors: [{ time: iso(NOW), message: `failed with ${quoted}` }],
        };
        const events = [{ time: iso(NOW), kind: 'pool held' as const, subject: 'pool-a', message: `held: ${quoted}` }];
        const text = JSON.stringify(
          buildPageState(input({ bgpPeers: [bgpPeer], bgpConfigurations: [config], remoteClusters: [rc], statuses, remoteStates: [remote], controller, events })),
        );
        for (const s of sec) expect(text).not.toContain(s);
        expect(text).toContain('[redacted]');
      }),
      { numRuns: 200 },
    );
  });
});
