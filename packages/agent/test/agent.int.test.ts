/**
 * The agent end to end with real etcd, gobgpd, FRR and kernel routes:
 *
 *   node a (198.18.0.11) ─┐
 *   node b (198.18.0.12) ─┼─ fabric bridge ─ tor (FRR, AS 65100, 198.18.0.1)
 *                          198.18.0.0/24
 *
 * Each agent runs in this process: its etcd client in the root namespace
 * (the shared test etcd listens on 127.0.0.1 there, unreachable from a lab
 * namespace), its gobgpd inside the node's namespace (`ip netns exec`, API on
 * a unix socket) and its route sync against the node's namespace (through its netlink relays).
 * That is exactly the split a node has in production, minus the process
 * boundary; the lab (issue 5) runs bin/terrace-agent inside the namespace
 * against an etcd in the fabric namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { API_VERSION, type NodeStatus, type RemoteClusterState } from '@terrace/api';
import { DEFAULT_GOBGP_API_PORT } from '@terrace/bgp';
import { EtcdResourceStore, Keys, connect, resolveConnectionConfig } from '@terrace/datastore';
import { Allocator } from '@terrace/ipam';
import { createLab, listNamespaces, onProcessExit, sharedEtcdEndpoint, startFrr, uniqueCluster, waitFor, type FrrRouter, type Lab } from '@terrace/testkit';
import type { Etcd3 } from 'etcd3';
import type { AgentConfig } from '../src/config.js';
import { createLogger, silentLogger } from '@terrace/log';
import { NodeAgent } from '../src/node-agent.js';

const run = promisify(execFile);
const TOR = { addr: '198.18.0.1', asn: 65100 };
const NODES = [
  { name: 'a', addr: '198.18.0.11' },
  { name: 'b', addr: '198.18.0.12' },
];
/** A route someone else owns (proto static) that every sync must leave alone. */
const FOREIGN = '198.19.250.0/24';

let lab: Lab;
let fabric: string;
let tor: FrrRouter;
let sockDir: string;
let etcd: Etcd3;
let keys: Keys;
let store: EtcdResourceStore;
let allocator: Allocator;
let cluster: string;
const agents = new Map<string, NodeAgent>();
const nsOf = new Map<string, string>();
const blockOf = new Map<string, string>();

function config(name: string, addr: string): AgentConfig {
  return {
    nodeName: name,
    addresses: { 4: `${addr}/24` },
    asNumber: undefined,
    labels: { role: 'worker' },
    bgpBackend: 'gobgp',
    bird: { binary: 'bird', dir: '/nonexistent', sidecar: false },
    gobgp: { kind: 'supervised', apiPort: DEFAULT_GOBGP_API_PORT, binary: 'gobgpd' },
    connection: {},
    logFormat: 'text',
    logLevel: 'warn',
    resyncIntervalMs: 5000,
    statusIntervalMs: 500,
    leaseTtlSeconds: 5,
    secretsDir: undefined,
    // Two agents share this process: no CNI socket (the CNI server has its own tests).
    cniSocket: undefined,
    cniStateDir: '/nonexistent',
    podMtu: undefined,
    metricsListen: undefined,
  };
}

/** `ip route show proto 201` in a node, as `dst via` / `blackhole dst` lines. */
async function ourRoutes(name: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-n', nsOf.get(name) as string, '-4', 'route', 'show', 'proto', '201']);
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => l.replace(/\s+proto 201.*$/, '').replace(/\s+dev \S+/, '').trim());
}

async function allRoutes(name: string): Promise<string> {
  return (await run('ip', ['-n', nsOf.get(name) as string, '-4', 'route', 'show'])).stdout;
}

/** Runs bin/terracectl against this test's etcd and cluster. */
async function terracectl(...args: string[]): Promise<string> {
  const bin = new URL('../../../../bin/terracectl', import.meta.url).pathname;
  const { stdout } = await run(process.execPath, [bin, '--etcd-endpoints', sharedEtcdEndpoint(), '--cluster', cluster, ...args], { timeout: 20000 });
  return stdout;
}

async function status(name: string): Promise<NodeStatus | undefined> {
  const text = await etcd.get(keys.status(name)).string();
  return text === null ? undefined : (JSON.parse(text) as NodeStatus);
}

async function startAgent(name: string, addr: string): Promise<NodeAgent> {
  const log = process.env.TERRACE_TEST_LOGS ? createLogger('text', 'debug', { node: name }) : silentLogger();
  const agent = new NodeAgent({
    config: config(name, addr),
    etcd,
    keys,
    store,
    log,
    netns: nsOf.get(name) as string,
    gobgpApiAddress: `unix://${join(sockDir, `${name}.sock`)}`,
    // The stale hold must outlast a gobgpd restart on a loaded machine (5-8 s
    // seen): at 4 s, b's route to a's block went for a second before its
    // session was back. Production holds 30 s (DEFAULT_STALE_GRACE_MS).
    speakerTuning: { restartGraceMs: 20000, resyncMs: 2000, initialBackoffMs: 100 },
  });
  agents.set(name, agent);
  await agent.start();
  return agent;
}

beforeAll(async () => {
  sockDir = mkdtempSync(join(tmpdir(), 'terrace-agent-'));
  cluster = uniqueCluster('agent');
  const cfg = resolveConnectionConfig({ etcdEndpoints: sharedEtcdEndpoint(), cluster }, {}, '/nonexistent');
  etcd = await connect(cfg);
  keys = new Keys(cluster);
  store = new EtcdResourceStore(etcd, keys);
  allocator = new Allocator({ etcd, keys, cacheTtlMs: 0 });

  lab = await createLab({ tag: 'ta' });
  // gobgpd is supervised by the agents, not by the lab: kill it by PID on a crash too.
  onProcessExit(() => {
    for (const a of agents.values()) {
      const pid = a.speaker.daemonPid;
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
    neighbors: NODES.map((n) => ({ address: n.addr, asn: 64512 })),
  });
  for (const n of NODES) {
    const ns = await lab.addNamespace(n.name);
    nsOf.set(n.name, ns);
    await lab.connect(ns, fabric, `${n.addr}/24`);
    await run('ip', ['-n', ns, 'route', 'add', FOREIGN, 'via', TOR.addr, 'proto', 'static']);
  }

  await store.create({ apiVersion: API_VERSION, kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { nodeToNodeMeshEnabled: true, keepaliveTime: '1s' } });
  await store.create({ apiVersion: API_VERSION, kind: 'BGPPeer', metadata: { name: 'tor' }, spec: { peerIP: TOR.addr, asNumber: TOR.asn, keepaliveTime: '1s' } });
  await store.create({
    apiVersion: API_VERSION,
    kind: 'IPPool',
    metadata: { name: 'pods' },
    spec: {
      cidr: '198.19.0.0/20',
      blockSize: 26,
      nodeSelector: 'all()',
      disabled: false,
      disableBGPExport: false,
      natOutgoing: false,
      allowedUses: ['Workload'],
      assignmentMode: 'Automatic',
      ipipMode: 'Never',
      vxlanMode: 'Never',
    },
  });
  for (const n of NODES) await startAgent(n.name, n.addr);
  // Each node claims a block by allocating one address for a pod on it.
  for (const n of NODES) {
    const r = await allocator.allocate({ handle: `pod-${n.name}`, node: n.name });
    blockOf.set(n.name, r.ips[0]?.block as string);
  }
}, 90000);

afterAll(async () => {
  for (const a of agents.values()) await a.stop().catch(() => undefined);
  await lab?.destroy();
  etcd?.close();
  rmSync(sockDir, { recursive: true, force: true });
  expect(await listNamespaces(lab.prefix)).toEqual([]);
}, 30000);

const [A, B] = ['a', 'b'];

describe('terrace agent', () => {
  it('registers each node with its address and a lease-bound liveness key', async () => {
    const a = await store.get('Node', A);
    expect(a.spec.bgp?.ipv4Address).toBe('198.18.0.11/24');
    expect(a.metadata.labels).toEqual({ role: 'worker', 'terrace.dev/bgp-backend': 'gobgp' });
    expect(await etcd.get(keys.alive(A)).string()).not.toBeNull();
    const lease = await etcd.get(keys.alive(A)).exec();
    expect(lease.kvs[0]?.lease).not.toBe('0');
  });

  it('each node installs a route to the other node’s block via that node, and a blackhole for its own', async () => {
    const [ba, bb] = [blockOf.get(A) as string, blockOf.get(B) as string];
    expect(ba).not.toBe(bb);
    await waitFor('a routes', async () => {
      const r = await ourRoutes(A);
      return r.includes(`${bb} via 198.18.0.12`) && r.includes(`blackhole ${ba}`) ? r : undefined;
    }, 30000);
    await waitFor('b routes', async () => {
      const r = await ourRoutes(B);
      return r.includes(`${ba} via 198.18.0.11`) && r.includes(`blackhole ${bb}`) ? r : undefined;
    }, 30000);
  }, 40000);

  it('the FRR top-of-rack router, a global BGPPeer, learns both blocks via their nodes', async () => {
    const [ba, bb] = [blockOf.get(A) as string, blockOf.get(B) as string];
    const routes = await waitFor('tor learns both blocks', async () => {
      const r = await tor.bgpRoutes(4);
      return r[ba] && r[bb] ? r : undefined;
    }, 30000);
    expect(routes[ba]?.find((p) => p.bestpath)?.nexthops?.[0]?.ip).toBe('198.18.0.11');
    expect(routes[bb]?.find((p) => p.bestpath)?.nexthops?.[0]?.ip).toBe('198.18.0.12');
  }, 40000);

  it('publishes node status with peer types and states', async () => {
    const s = await waitFor('a status shows both sessions established', async () => {
      const st = await status(A);
      return st && st.peers.length === 2 && st.peers.every((p) => p.state === 'Established') ? st : undefined;
    }, 20000);
    expect(s.peers.map((p) => [p.address, p.type])).toEqual([
      ['198.18.0.1', 'global'],
      ['198.18.0.12', 'node-to-node mesh'],
    ]);
    expect(s.prefixes.advertised).toBe(1);
    expect(s.prefixes.received).toBeGreaterThanOrEqual(1);
    expect(s.advertisedPrefixes).toEqual([blockOf.get(A)]);
    expect(Date.now() - Date.parse(s.updatedAt)).toBeLessThan(5000);
    const lease = await etcd.get(keys.status(A)).exec();
    expect(lease.kvs[0]?.lease).not.toBe('0');
  }, 30000);

  it('terracectl node status shows every node’s sessions, from the published state', async () => {
    const table = await terracectl('node', 'status');
    expect(table).toMatch(/^Node a: AS 64512, router id 198\.18\.0\.11, BGP by gobgp, updated \d+s ago$/m);
    expect(table).toMatch(/^PEER ADDRESS\s+PEER TYPE\s+STATE\s+SINCE\s+INFO$/m);
    expect(table).toMatch(/^198\.18\.0\.1\s+global\s+Established\s/m);
    expect(table).toMatch(/^198\.18\.0\.12\s+node-to-node mesh\s+Established\s/m);
    expect(table).toMatch(/^Node b: /m);
    expect(table).toMatch(/^Prefixes: \d+ received, 1 advertised, \d+ routes installed$/m);
    const one = JSON.parse(await terracectl('node', 'status', 'b', '-o', 'json')) as NodeStatus;
    expect(one.node).toBe('b');
    expect(one.peers.map((p) => p.type).sort()).toEqual(['global', 'node-to-node mesh']);
  }, 30000);

  it('releasing a block withdraws its route everywhere', async () => {
    const bb = blockOf.get(B) as string;
    await allocator.release({ handle: `pod-${B}` });
    const freed = await allocator.releaseEmptyBlocks(B);
    expect(freed).toContain(bb);
    await waitFor('a drops the route to b’s block', async () => !(await ourRoutes(A)).some((l) => l.startsWith(bb)), 20000);
    await waitFor('b drops its blackhole', async () => !(await ourRoutes(B)).some((l) => l.includes(bb)), 20000);
    await waitFor('the ToR drops it', async () => (await tor.bgpRoutes(4))[bb] === undefined, 20000);
    await waitFor('the ToR still has a’s block', async () => (await tor.bgpRoutes(4))[blockOf.get(A) as string] !== undefined, 5000);
  }, 30000);

  it('terracectl delete bgppeer drops the ToR session without restarting anything', async () => {
    const pids = [...agents.values()].map((a) => a.speaker.daemonPid);
    await terracectl('delete', 'bgppeer', 'tor');
    await expect(store.get('BGPPeer', 'tor')).rejects.toThrow();
    await waitFor('tor sessions down', async () => {
      const n = await tor.neighbors(4);
      return NODES.every((x) => n[x.addr]?.state !== 'Established') ? n : undefined;
    }, 20000);
    await waitFor('a status has only the mesh', async () => {
      const st = await status(A);
      return st && st.peers.length === 1 && st.peers[0]?.type === 'node-to-node mesh' ? st : undefined;
    }, 10000);
    expect([...agents.values()].map((a) => a.speaker.daemonPid)).toEqual(pids);
    // The mesh session is untouched.
    const st = await status(A);
    expect(st?.peers.find((p) => p.address === '198.18.0.12')?.state).toBe('Established');
  }, 30000);

  it('a RemoteCluster and its state doc make the selected nodes gateways; deleting the doc ends it', async () => {
    // The ToR, no longer a BGPPeer, stands in for the remote cluster's gateway (it still expects the nodes).
    await store.create({
      apiVersion: API_VERSION,
      kind: 'RemoteCluster',
      metadata: { name: 'r' },
      spec: { clusterName: 'r', etcd: { endpoints: ['http://198.18.0.99:2379'] }, gatewayNodeSelector: 'role == "worker"', remoteGatewaySelector: 'all()', staleAfter: '30s' },
    });
    const rc = await store.get('RemoteCluster', 'r');
    const doc: RemoteClusterState = {
      name: 'r', uid: rc.metadata.uid ?? '', clusterName: 'r', connection: 'Connected', stale: false, revision: '3', pools: [{ name: 'r-pods', cidr: '198.19.64.0/20', disabled: false }],
      blocks: 0, nodes: 1, asNumber: TOR.asn, gateways: [{ name: 'r-gw', addresses: [TOR.addr], asNumber: TOR.asn }], overlaps: [],
    };
    await etcd.put(keys.remoteState('r')).value(JSON.stringify(doc));
    const st = await waitFor('a has an established remote cluster session with the ToR', async () => {
      const x = await status(A);
      return x?.peers.find((p) => p.address === TOR.addr && p.type === 'remote cluster' && p.state === 'Established');
    }, 30000);
    expect(st.source).toBe('remotecluster/r');
    await waitFor('the remote gateway learns a’s block from a', async () => (await tor.bgpRoutes(4))[blockOf.get(A) as string] !== undefined, 20000);
    await waitFor('b (also selected) has one too', async () => (await status(B))?.peers.some((p) => p.address === TOR.addr && p.type === 'remote cluster'), 30000);
    await etcd.delete().key(keys.remoteState('r'));
    for (const n of [A, B]) await waitFor(`${n} drops the remote session`, async () => !(await status(n))?.peers.some((p) => p.address === TOR.addr), 20000);
    await store.delete('RemoteCluster', 'r');
  }, 60000);

  it('recovers when gobgpd is killed', async () => {
    // b claims a new block so there is something for a to relearn.
    const r = await allocator.allocate({ handle: `pod-${B}-2`, node: B });
    const bb = r.ips[0]?.block as string;
    blockOf.set(B, bb);
    await waitFor('a learns b’s new block', async () => (await ourRoutes(A)).includes(`${bb} via 198.18.0.12`), 20000);

    const agentB = agents.get(B) as NodeAgent;
    const oldPid = agentB.speaker.daemonPid as number;
    expect(oldPid).toBeGreaterThan(0);
    // b's kernel keeps the route to a's block while its gobgpd is away:
    // sampled from the kill until b's session is back.
    const aRoute = `${blockOf.get(A)} via 198.18.0.11`;
    expect(await ourRoutes(B)).toContain(aRoute);
    let sampling = true;
    let samples = 0;
    const misses: string[] = [];
    const sampler = (async () => {
      while (sampling) {
        samples++;
        if (!(await ourRoutes(B)).includes(aRoute)) misses.push(new Date().toISOString());
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    const t0 = performance.now();
    process.kill(oldPid, 'SIGKILL');
    const newPid = await waitFor('gobgpd restarted', () => {
      const p = agentB.speaker.daemonPid;
      return p !== undefined && p !== oldPid ? p : undefined;
    }, 20000);
    expect(newPid).not.toBe(oldPid);
    // A status published after the restart (an older one still shows the old session).
    const restartedAt = Date.now();
    // The session comes back and b announces its block again (a keeps or relearns the route).
    await waitFor('b’s session to a re-established', async () => {
      const st = await status(B);
      return st && st.peers.find((p) => p.address === '198.18.0.11')?.state === 'Established' && Date.parse(st.updatedAt) > restartedAt ? st : undefined;
    }, 30000).finally(() => {
      sampling = false;
    });
    await sampler;
    process.stdout.write(`gobgpd killed under the agent: restarted and session back in ${Math.round(performance.now() - t0)} ms; ${samples} kernel route samples, ${misses.length} missing\n`);
    expect(misses).toEqual([]);
    await waitFor('a routes to b’s block', async () => (await ourRoutes(A)).includes(`${bb} via 198.18.0.12`), 20000);
    // b relearned a's block into its kernel.
    await waitFor('b routes to a’s block', async () => (await ourRoutes(B)).includes(`${blockOf.get(A)} via 198.18.0.11`), 20000);
  }, 60000);

  it('never touched the route of another protocol', async () => {
    for (const n of NODES) expect(await allRoutes(n.name)).toContain(`${FOREIGN} via ${TOR.addr} dev eth0 proto static`);
  });

  it('a stopped agent takes its liveness key and status with it', async () => {
    const a = agents.get(A) as NodeAgent;
    await a.stop();
    agents.delete(A);
    expect(await etcd.get(keys.alive(A)).string()).toBeNull();
    expect(await etcd.get(keys.status(A)).string()).toBeNull();
    // Routes stay in the kernel: a restarted agent takes over without a gap.
    expect((await ourRoutes(A)).some((l) => l.startsWith(blockOf.get(B) as string))).toBe(true);
  }, 20000);
});
