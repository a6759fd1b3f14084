// `terracectl cluster list|status` report and rendering (pure, fixed clock),
// from fixtures of the records the acting controller and the agents write.
import { describe, expect, it } from '@jest/globals';
import { API_VERSION, type ClusterFence, type NodeStatus, type RemoteCluster, type RemoteClusterState, type TerraceNode, decodeClusterFence, decodeRemoteClusterState } from '@terrace/api';
import { type ClusterInput, NOT_SYNCED, buildClusterReport, renderClusterList, renderClusterStatus, reportHasProblems } from '../src/output/cluster.js';

const now = new Date('2026-12-07T12:00:00Z');

function remote(name: string, over: Partial<RemoteCluster['spec']> = {}): RemoteCluster {
  return {
    apiVersion: API_VERSION,
    kind: 'RemoteCluster',
    metadata: { name, uid: `uid-${name}` },
    spec: { clusterName: name, etcd: { endpoints: [`https://198.18.${name === 'b' ? 1 : 2}.2:2379`] }, remoteGatewaySelector: 'all()', staleAfter: '30s', ...over },
  };
}

function state(name: string, over: Partial<RemoteClusterState> = {}): RemoteClusterState {
  return {
    name,
    uid: `uid-${name}`,
    clusterName: name,
    connection: 'Connected',
    stale: false,
    revision: '1234',
    lastSynced: '2026-12-07T11:59:57Z',
    pools: [
      { name: 'b-pool', cidr: '198.19.4.0/24', disabled: false },
      { name: 'b-v6', cidr: '2001:db8:b::/48', disabled: true },
    ],
    blocks: 12,
    nodes: 3,
    asNumber: 64513,
    gateways: [{ name: 'b-gw1', addresses: ['198.18.9.2', '2001:db8:9::2'], asNumber: 64513 }],
    overlaps: [],
    ...over,
  };
}

function node(name: string, labels: Record<string, string>, v6 = false): TerraceNode {
  return {
    apiVersion: API_VERSION,
    kind: 'Node',
    metadata: { name, labels },
    spec: { bgp: { ipv4Address: '198.18.0.11/24', ...(v6 ? { ipv6Address: '2001:db8::11/64' } : {}) } },
  };
}

function nodeStatus(name: string, peers: NodeStatus['peers']): NodeStatus {
  return {
    node: name,
    updatedAt: '2026-12-07T11:59:59Z',
    asNumber: 64512,
    routerId: '198.18.0.11',
    addresses: ['198.18.0.11'],
    peers,
    prefixes: { received: 0, advertised: 0, installed: 0 },
    advertisedPrefixes: [],
  };
}

const peer = { type: 'global', source: 'remotecluster/b', asNumber: 64513, info: '', received: 4, advertised: 2 } as const;

function input(over: Partial<ClusterInput> = {}): ClusterInput {
  return {
    remotes: [remote('b', { gatewayNodeSelector: "gw == 'yes'" })],
    states: new Map([['b', state('b')]]),
    fence: { cleared: { 'a-pool': 'u1' }, held: [], fenced: [], updated: '2026-12-07T11:59:58Z' },
    nodes: [node('a-gw1', { gw: 'yes' }, true), node('a-gw2', { gw: 'yes' }), node('a-n3', {})],
    statuses: new Map([
      ['a-gw1', nodeStatus('a-gw1', [{ ...peer, address: '198.18.9.2', state: 'Established', since: '2026-12-07T11:50:00Z' }, { ...peer, address: '2001:db8:9::2', state: 'Active', info: 'connection refused' }])],
    ]),
    ...over,
  };
}

describe('terracectl cluster list', () => {
  it('one aligned row per remote; gateways with their sessions up', () => {
    const r = buildClusterReport(input());
    expect(reportHasProblems(r)).toBe(false);
    expect(renderClusterList(r, now)).toBe(
      [
        'NAME   CLUSTER   CONNECTION   LAST SYNC   POOLS   BLOCKS   NODES   GATEWAYS     OVERLAPS',
        'b      b         Connected    3s          2       12       3       1 (1/3 up)   0',
        '',
      ].join('\n'),
    );
  });

  it('flags stale, unreachable, unsynced and overlapping remotes, and lists held pools', () => {
    const overlap = { pool: 'a-pool', cidr: '198.19.0.0/16', remotePool: 'b-pool', remoteCidr: '198.19.4.0/24', fenced: '198.19.4.0/24', since: '2026-12-07T11:58:00Z' };
    const r = buildClusterReport(
      input({
        remotes: [remote('b'), remote('c', { clusterName: 'cluster-c' }), remote('d')],
        states: new Map([
          ['b', state('b', { overlaps: [overlap] })],
          ['c', state('c', { clusterName: 'cluster-c', connection: 'Unreachable', stale: true, error: 'etcd unreachable at https://198.18.2.2:2379: connect ECONNREFUSED', gateways: [] })],
          // A record of an earlier RemoteCluster named d: not this one's.
          ['d', state('d', { uid: 'old' })],
        ]),
        fence: { cleared: {}, held: [{ pool: 'new-pool', reason: 'waiting for remote cluster c: unreachable since 2026-12-07T11:55:00Z' }], fenced: [], updated: '2026-12-07T11:59:58Z' },
      }),
    );
    expect(reportHasProblems(r)).toBe(true);
    expect(r.remotes.map((x) => x.problems)).toEqual([
      ['local pool a-pool (198.19.0.0/16) overlaps remote pool b-pool (198.19.4.0/24); 198.19.4.0/24 is fenced'],
      ['connection Unreachable: etcd unreachable at https://198.18.2.2:2379: connect ECONNREFUSED', 'stale: no contact for longer than staleAfter'],
      [NOT_SYNCED],
    ]);
    expect(renderClusterList(r, now)).toBe(
      [
        'NAME   CLUSTER     CONNECTION            LAST SYNC   POOLS   BLOCKS   NODES   GATEWAYS   OVERLAPS',
        'b      b           Connected             3s          2       12       3       1          1',
        'c      cluster-c   Unreachable (stale)   3s          2       12       3       0          0',
        'd      d           not synced            -           -       -        -       -          -',
        'Held pools (no address is allocated from them until cleared):',
        '  new-pool: waiting for remote cluster c: unreachable since 2026-12-07T11:55:00Z',
        '',
      ].join('\n'),
    );
  });

  it('with no RemoteCluster: nothing to report, no problem', () => {
    const r = buildClusterReport({ remotes: [], states: new Map(), fence: undefined, nodes: [], statuses: new Map() });
    expect(renderClusterList(r, now)).toBe('No remote clusters.\n');
    expect(reportHasProblems(r)).toBe(false);
  });
});

describe('terracectl cluster status', () => {
  it('a readable block per remote: sync, pools, gateways, each local gateway session, overlaps', () => {
    const overlap = { pool: 'a-pool', cidr: '198.19.0.0/16', remotePool: 'b-pool', remoteCidr: '198.19.4.0/24', fenced: '198.19.4.0/24', since: '2026-12-07T11:58:00Z' };
    const r = buildClusterReport(input({ states: new Map([['b', state('b', { overlaps: [overlap] })]]) }));
    expect(renderClusterStatus(r, now)).toBe(
      [
        'Remote cluster b',
        '  Endpoints:   https://198.18.1.2:2379',
        '  Connection:  Connected, last sync 3s ago, remote revision 1234',
        '  Pools:       b-pool 198.19.4.0/24, b-v6 2001:db8:b::/48 (disabled)',
        '  Known:       12 blocks, 3 nodes, default AS 64513',
        '  Gateways:',
        '    REMOTE GATEWAY   ADDRESSES                  AS',
        '    b-gw1            198.18.9.2,2001:db8:9::2   64513',
        '  Sessions:    1/3 up',
        '    LOCAL NODE   PEER ADDRESS    REMOTE GATEWAY   STATE                 SINCE   INFO',
        '    a-gw1        198.18.9.2      b-gw1            Established           10m',
        '    a-gw1        2001:db8:9::2   b-gw1            Active                -       connection refused',
        '    a-gw2        198.18.9.2      b-gw1            no status published   -',
        '  Overlaps (no new address is handed out of a fenced range):',
        '    LOCAL POOL   CIDR            REMOTE POOL   REMOTE CIDR     FENCED          SINCE',
        '    a-pool       198.19.0.0/16   b-pool        198.19.4.0/24   198.19.4.0/24   2m',
        '',
      ].join('\n'),
    );
  });

  it('says why there are no sessions, and when the controller has not synced yet', () => {
    const noSelector = buildClusterReport(input({ remotes: [remote('b')] }));
    expect(renderClusterStatus(noSelector, now)).toContain('  Sessions:    none (no gatewayNodeSelector: sync and guards only)\n');
    const noMatch = buildClusterReport(input({ remotes: [remote('b', { gatewayNodeSelector: "gw == 'no'" })] }));
    expect(renderClusterStatus(noMatch, now)).toContain('  Sessions:    none (gatewayNodeSelector matches no local node)\n');
    const unsynced = buildClusterReport(input({ remotes: [remote('b', { clusterName: 'cluster-b' })], states: new Map() }));
    expect(renderClusterStatus(unsynced, now)).toBe(
      ['Remote cluster b (cluster name cluster-b)', '  Endpoints:   https://198.18.1.2:2379', `  Connection:  ${NOT_SYNCED}`, ''].join('\n'),
    );
    const err = buildClusterReport(input({ states: new Map([['b', state('b', { connection: 'Unauthorized', error: 'etcd: permission denied for user a-reader' })]]) }));
    expect(renderClusterStatus(err, now)).toContain('  Connection:  Unauthorized, last sync 3s ago, remote revision 1234\n  Error:       etcd: permission denied for user a-reader\n');
  });
});

describe('reading the stored records', () => {
  it('decodes what the controller writes and names the key of what it cannot read', () => {
    const s = state('b');
    expect(decodeRemoteClusterState('/k', JSON.stringify(s))).toEqual(s);
    const f: ClusterFence = { cleared: { p: 'u' }, held: [], fenced: [], updated: '2026-12-07T11:59:58Z' };
    expect(decodeClusterFence('/f', JSON.stringify(f))).toEqual(f);
    expect(() => decodeRemoteClusterState('/k', '[]')).toThrow('/k: the stored remote cluster state is not readable (not a JSON object); the acting controller rewrites it within seconds; if it does not, check that a controller runs and leads');
    expect(() => decodeRemoteClusterState('/k', JSON.stringify({ ...s, pools: [{ name: 'x', cidr: 'nope' }] }))).toThrow('pools[0].cidr "nope" is not a CIDR');
    expect(() => decodeRemoteClusterState('/k', JSON.stringify({ ...s, gateways: null }))).toThrow('gateways is not a list');
    expect(() => decodeClusterFence('/f', '{"cleared": []}')).toThrow('/f: the stored cluster fence is not readable (cleared is not a map)');
  });
});
