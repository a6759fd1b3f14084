// CNI ADD through the agent's path while a multi-cluster fence stands: the
// real bin/terrace-cni against the CNI server with the allocator the agent
// builds (pools, nodes and the fence from the agent's own watch caches), on
// the shared etcd and real namespaces. A held pool and a fenced range fail
// the ADD with the code the error table gives Exhausted (100) and one line
// saying why; a pod from before keeps its address and DEL frees it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { ClusterFence, TerraceNode } from '@terrace/api';
import { Keys } from '@terrace/datastore';
import { CniCode } from '@terrace/cni';
import { Allocator } from '@terrace/ipam';
import { silentLogger } from '@terrace/log';
import { createLab, runCniPlugin, sharedEtcdEndpoint, uniqueCluster, type Lab, type PluginRun } from '@terrace/testkit';
import { Etcd3 } from 'etcd3';
import { allocatorIpam, etcdReadiness, startCniServer, type CniServer } from '../src/cni/index.js';
import { type ClosableClusterState, openClusterState } from '../src/watch.js';
import { pool } from './fixtures.js';

const PLUGIN = fileURLToPath(new URL('../../../../bin/terrace-cni', import.meta.url));
const NODE = 'n1';
const NET = 'k8s-pod-network';
const POOL = '198.18.66.0/26';

let lab: Lab;
let hostNs: string;
let etcd: Etcd3;
let keys: Keys;
let state: ClosableClusterState;
let server: CniServer;
let dir: string;

const nsPath = (ns: string): string => `/var/run/netns/${ns}`;

beforeAll(async () => {
  etcd = new Etcd3({ hosts: sharedEtcdEndpoint() });
  keys = new Keys(uniqueCluster('cnifence'));
  const v4 = pool('v4', POOL, { blockSize: 26 });
  v4.metadata.uid = 'u-v4';
  await etcd.put(keys.resource('IPPool', 'v4')).value(JSON.stringify(v4)).exec();
  const node: TerraceNode = { apiVersion: 'terrace.dev/v1', kind: 'Node', metadata: { name: NODE, labels: {} }, spec: {} };
  await etcd.put(keys.resource('Node', NODE)).value(JSON.stringify(node)).exec();

  lab = await createLab({ tag: 'tf' });
  hostNs = await lab.addNamespace('host');
  dir = mkdtempSync(join(tmpdir(), 'terrace-cni-fence-'));
  // As node-agent.ts builds it: the allocator reads pools, nodes and the fence from the agent's watches.
  state = await openClusterState(etcd, keys, silentLogger());
  const allocator = new Allocator({ etcd, keys, watched: state });
  server = await startCniServer({
    socketPath: join(dir, 'cni.sock'),
    ipam: allocatorIpam(allocator),
    nodeName: NODE,
    stateDir: join(dir, 'state'),
    hostNetns: nsPath(hostNs),
    datastoreReady: etcdReadiness(etcd, keys.prefix + 'probe'),
    bgpReady: () => undefined,
  });
});

afterAll(async () => {
  await server?.close();
  await state?.close();
  await lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (etcd) {
    await etcd.delete().prefix(keys.prefix).exec();
    etcd.close();
  }
});

function cni(command: string, ns: string | undefined, id: string): Promise<PluginRun> {
  const env: Record<string, string> = { CNI_PATH: '/opt/cni/bin', CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_IFNAME: 'eth0', CNI_ARGS: 'IgnoreUnknown=1' };
  if (ns !== undefined) env.CNI_NETNS = nsPath(ns);
  return runCniPlugin(PLUGIN, env, JSON.stringify({ cniVersion: '1.1.0', name: NET, type: 'terrace', agentSocket: server.socketPath, stateDir: join(dir, 'state'), ipam: {} }));
}

async function putFence(f: Partial<ClusterFence>): Promise<void> {
  const full: ClusterFence = { cleared: {}, held: [], fenced: [], updated: new Date().toISOString(), ...f };
  await etcd.put(keys.fence()).value(JSON.stringify(full)).exec();
}

const addressOf = (run: PluginRun): string => ((run.json as { ips: { address: string }[] }).ips[0]?.address ?? '').split('/')[0] ?? '';

it('a held pool or a fenced range fails ADD with code 100 and the reason; a pod from before keeps its address and DEL frees it', async () => {
  const before = await lab.addNamespace('pa');
  const ok = await cni('ADD', before, 'ctr-before');
  expect(ok.code).toBe(0);
  const kept = addressOf(ok);
  expect(kept.startsWith('198.18.66.')).toBe(true);

  await putFence({ held: [{ pool: 'v4', reason: 'waiting for the overlap check against remote cluster cluster-b' }] });
  const pod = await lab.addNamespace('pb');
  const held = await cni('ADD', pod, 'ctr-held');
  expect(held.code).not.toBe(0);
  expect(held.json).toMatchObject({
    code: CniCode.Exhausted,
    msg: 'ippool/v4: held: waiting for the overlap check against remote cluster cluster-b',
  });
  expect(CniCode.Exhausted).toBe(100);

  await putFence({
    cleared: { v4: 'u-v4' },
    fenced: [{ cidr: POOL, pool: 'v4', remote: 'cluster-b', remotePool: 'b-pool', remoteCidr: '198.18.66.0/24', since: new Date().toISOString() }],
  });
  const fenced = await cni('ADD', pod, 'ctr-fenced');
  expect(fenced.json).toMatchObject({
    code: CniCode.Exhausted,
    msg: `no free IPv4 address for node ${NODE} in pools v4 (${POOL} is fenced: it overlaps pool b-pool (198.18.66.0/24) of remote cluster cluster-b)`,
  });

  // The pod from before: a retried ADD gets its address back, DEL frees it.
  const again = await cni('ADD', before, 'ctr-before');
  expect(again.code).toBe(0);
  expect(addressOf(again)).toBe(kept);
  expect((await cni('DEL', before, 'ctr-before')).code).toBe(0);
  const blocks = await etcd.getAll().prefix(keys.blockPrefix()).strings();
  expect(Object.values(blocks).join('')).not.toContain('ctr-before');

  // The fence lifted: ADD works again.
  await etcd.delete().key(keys.fence()).exec();
  const after = await cni('ADD', pod, 'ctr-after');
  expect(after.code).toBe(0);
  expect((await cni('DEL', pod, 'ctr-after')).code).toBe(0);
});
