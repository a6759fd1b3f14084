// terracectl cluster list|status and the remote pool guard through apply,
// with the real binary against the shared etcd. The records the controller
// and the agents write (state doc, fence, node status) are written here as
// test input; the lab tests the whole path with a running controller.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { ClusterFence, NodeStatus, RemoteClusterState } from '@terrace/api';
import { Keys } from '@terrace/datastore';
import { sharedEtcdEndpoint, uniqueCluster } from '@terrace/testkit';
import { Etcd3 } from 'etcd3';
import { bound } from './harness.js';

const endpoint = sharedEtcdEndpoint();
const cluster = uniqueCluster('cli-cluster');
const keys = new Keys(cluster);
const ctl = bound(endpoint, cluster);
const etcd = new Etcd3({ hosts: endpoint });

const MANIFEST = `
apiVersion: terrace.dev/v1
kind: RemoteCluster
metadata: { name: b }
spec:
  clusterName: cluster-b
  etcd: { endpoints: ['http://198.18.1.2:2379'] }
  gatewayNodeSelector: "gw == 'yes'"
---
apiVersion: terrace.dev/v1
kind: Node
metadata: { name: a-gw1, labels: { gw: 'yes' } }
spec: { bgp: { ipv4Address: 198.18.0.11/24 } }
---
apiVersion: terrace.dev/v1
kind: IPPool
metadata: { name: a-pool }
spec: { cidr: 198.19.64.0/20 }
`;

function state(uid: string, over: Partial<RemoteClusterState> = {}): RemoteClusterState {
  return {
    name: 'b',
    uid,
    clusterName: 'cluster-b',
    connection: 'Connected',
    stale: false,
    revision: '77',
    lastSynced: new Date().toISOString(),
    pools: [{ name: 'b-pool', cidr: '198.19.4.0/24', disabled: false }],
    blocks: 5,
    nodes: 2,
    asNumber: 64513,
    gateways: [{ name: 'b-gw1', addresses: ['198.18.9.2'], asNumber: 64513 }],
    overlaps: [],
    ...over,
  };
}

const status: NodeStatus = {
  node: 'a-gw1',
  updatedAt: new Date().toISOString(),
  asNumber: 64512,
  routerId: '198.18.0.11',
  addresses: ['198.18.0.11'],
  peers: [{ address: '198.18.9.2', type: 'global', source: 'remotecluster/b', asNumber: 64513, state: 'Established', info: '', received: 5, advertised: 1 }],
  prefixes: { received: 5, advertised: 1, installed: 6 },
  advertisedPrefixes: [],
};

let uid = '';
beforeAll(async () => {
  const r = await ctl(['apply', '-f', '-'], { stdin: MANIFEST });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  uid = (JSON.parse((await ctl(['get', 'remotecluster', 'b', '-o', 'json'])).stdout) as { metadata: { uid: string } }).metadata.uid;
});
afterAll(async () => {
  await etcd.delete().prefix(keys.prefix).exec();
  etcd.close();
});

describe('terracectl cluster', () => {
  test('before the controller has synced: not synced yet, exit status 4', async () => {
    const list = await ctl(['cluster', 'list']);
    expect(list.stderr).toBe('');
    expect(list.code).toBe(4);
    expect(list.stdout).toMatch(/^NAME\s+CLUSTER\s+CONNECTION\s+LAST SYNC\s+POOLS\s+BLOCKS\s+NODES\s+GATEWAYS\s+OVERLAPS\nb\s+cluster-b\s+not synced\s+-/);
    const st = await ctl(['cluster', 'status', 'b']);
    expect(st.code).toBe(4);
    expect(st.stdout).toContain('Connection:  not synced yet (is the controller running?)');
  });

  test('a healthy remote: its row, its sessions, exit status 0; yaml and json', async () => {
    await etcd.put(keys.remoteState('b')).value(JSON.stringify(state(uid)));
    const fence: ClusterFence = { cleared: { 'a-pool': 'x' }, held: [], fenced: [], updated: new Date().toISOString() };
    await etcd.put(keys.fence()).value(JSON.stringify(fence));
    await etcd.put(keys.status('a-gw1')).value(JSON.stringify(status));

    const list = await ctl(['cluster', 'list']);
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/\nb\s+cluster-b\s+Connected\s+\d+s\s+1\s+5\s+2\s+1 \(1\/1 up\)\s+0\n$/);
    const st = await ctl(['cluster', 'status']);
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/Remote cluster b \(cluster name cluster-b\)\n {2}Endpoints: {3}http:\/\/198\.18\.1\.2:2379\n {2}Connection: {2}Connected, last sync \d+s ago, remote revision 77\n/);
    expect(st.stdout).toMatch(/a-gw1\s+198\.18\.9\.2\s+b-gw1\s+Established/);

    const json = JSON.parse((await ctl(['cluster', 'status', 'b', '-o', 'json'])).stdout) as { remotes: { name: string; state: RemoteClusterState; sessions: { state: string }[] }[]; held: unknown[] };
    expect(json.remotes.map((x) => [x.name, x.state.revision, x.sessions.map((s) => s.state)])).toEqual([['b', '77', ['Established']]]);
    expect(json.held).toEqual([]);
    const yaml = await ctl(['cluster', 'list', '-o', 'yaml']);
    expect(yaml.code).toBe(0);
    expect(yaml.stdout).toMatch(/^remotes:\n {2}- name: b\n/);
  });

  test('an overlap, a held pool or a stale remote: exit status 4', async () => {
    const overlap = { pool: 'a-pool', cidr: '198.19.64.0/20', remotePool: 'b-late', remoteCidr: '198.19.64.0/24', fenced: '198.19.64.0/24', since: new Date().toISOString() };
    await etcd.put(keys.remoteState('b')).value(JSON.stringify(state(uid, { overlaps: [overlap] })));
    const st = await ctl(['cluster', 'status', 'b']);
    expect(st.code).toBe(4);
    expect(st.stdout).toMatch(/a-pool\s+198\.19\.64\.0\/20\s+b-late\s+198\.19\.64\.0\/24\s+198\.19\.64\.0\/24/);

    await etcd.put(keys.remoteState('b')).value(JSON.stringify(state(uid)));
    const fence: ClusterFence = { cleared: {}, held: [{ pool: 'a-pool', reason: 'waiting for remote cluster b: unreachable since 2026-12-07T11:55:00Z' }], fenced: [], updated: new Date().toISOString() };
    await etcd.put(keys.fence()).value(JSON.stringify(fence));
    const held = await ctl(['cluster', 'list']);
    expect(held.code).toBe(4);
    expect(held.stdout).toContain('  a-pool: waiting for remote cluster b: unreachable since 2026-12-07T11:55:00Z\n');

    await etcd.delete().key(keys.fence()).exec();
    await etcd.put(keys.remoteState('b')).value(JSON.stringify(state(uid, { connection: 'Unreachable', stale: true })));
    const stale = await ctl(['cluster', 'list']);
    expect(stale.code).toBe(4);
    expect(stale.stdout).toMatch(/\nb\s+cluster-b\s+Unreachable \(stale\)/);
  });

  test('an unknown name and an unreadable state doc are errors naming what', async () => {
    const none = await ctl(['cluster', 'status', 'nope']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/remotecluster\/nope not found/);
    await etcd.put(keys.remoteState('b')).value('{not json');
    const bad = await ctl(['cluster', 'list']);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain(`${keys.remoteState('b')}: the stored remote cluster state is not readable`);
  });

  test('apply refuses a pool overlapping a remote pool, naming the remote cluster and its pool', async () => {
    await etcd.put(keys.remoteState('b')).value(JSON.stringify(state(uid)));
    const pool = 'apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: { name: a-two }\nspec: { cidr: 198.19.0.0/21 }\n';
    for (const verb of ['apply', 'create']) {
      const r = await ctl([verb, '-f', '-'], { stdin: pool });
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toMatch(/ippool\/a-two: spec\.cidr 198\.19\.0\.0\/21 overlaps pool b-pool \(198\.19\.4\.0\/24\) of remote cluster b \(cluster name cluster-b\)$/);
    }
    expect((await ctl(['get', 'ippool', 'a-two'])).code).toBe(1);
    // validate stays offline: it knows nothing of remote clusters.
    const dir = (await import('./harness.js')).tempDir();
    try {
      expect((await ctl(['validate', '-f', dir.write('p.yaml', pool)])).code).toBe(0);
    } finally {
      dir.remove();
    }
  });
});
