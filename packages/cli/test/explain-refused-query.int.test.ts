// `terracectl explain ip` when etcd reads but will not take the route query:
// its NOSPACE alarm (the quota is full), or a user without write access to
// queries/ (the agent's role from deploy/etcd/roles.sh). No agent can be
// asked then. The real binary against a private etcd each: the reason must be
// said once, in one line; every live node must read as not asked; the verdict
// must still come from what etcd holds (IPAM and the node status records);
// nothing may be left behind (no query key, no lease); and once space is
// freed explain asks the agents again.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { API_VERSION, type IPPool, type NodeStatus, type TerraceNode } from '@terrace/api';
import { EtcdResourceStore, Keys, createClient } from '@terrace/datastore';
import { Allocator } from '@terrace/ipam';
import { etcdctl, fillUntilNoSpace, freeSpace, startEtcd, uniqueCluster, type EtcdHandle } from '@terrace/testkit';
import type { Etcd3 } from 'etcd3';
import { bound, dumpCluster, type RunOptions, type RunResult } from './harness.js';

const ROLES = join(dirname(fileURLToPath(import.meta.url)), '../../../../deploy/etcd/roles.sh');
// Small enough to fill in a second or two, large enough for etcd to start.
const QUOTA = 2 * 1024 * 1024;
const NODES = ['node-1', 'node-2', 'node-3'] as const;
const ADDR: Record<string, string> = { 'node-1': '198.18.0.11', 'node-2': '198.18.0.12', 'node-3': '198.18.0.13' };
// The one line each refusal maps to (datastore's mapEtcdError).
const NO_SPACE = String.raw`etcd database space exceeded at http://127\.0\.0\.1:\d+ \(quota full, NOSPACE alarm raised; writes refused, reads still work\): compact and defragment, then disarm the alarm`;
const DENIED = String.raw`writing /terrace/v1/explain-role-[\w-]+/queries/: etcd at http://127\.0\.0\.1:\d+ denied access: etcdserver: permission denied`;

/** A private etcd seeded as a running cluster: a pool, three live nodes with status records, web-1 on node-1 and web-2 on node-2. */
interface World {
  etcdd: EtcdHandle;
  /** A client that may write the cluster (the test's own, not the one under test). */
  etcd: Etcd3;
  keys: Keys;
  /** terracectl as the operator runs it against this etcd. */
  ctl: (args: readonly string[], opts?: RunOptions) => Promise<RunResult>;
  /** web-1's address and block (advertised by node-1), web-2's (node-2's status record advertises nothing). */
  pod: { ip1: string; block1: string; ip2: string; block2: string };
}

const verdict = (r: RunResult): string => /^Verdict: +(.*)$/m.exec(r.stdout)?.[1] ?? `(no verdict; exit ${r.code}: ${r.stderr.trim()})`;

function pool(): IPPool {
  return {
    apiVersion: API_VERSION,
    kind: 'IPPool',
    metadata: { name: 'pool-a' },
    spec: { cidr: '198.19.40.0/24', blockSize: 28, nodeSelector: 'all()', disabled: false, disableBGPExport: false, natOutgoing: false, allowedUses: ['Workload'], assignmentMode: 'Automatic', ipipMode: 'Never', vxlanMode: 'Never' },
  };
}

/** A status record as an agent publishes it: a full mesh, every session Established. */
function status(node: string, advertised: string[]): NodeStatus {
  const since = '2026-12-07T20:14:03Z';
  return {
    node,
    backend: 'gobgp',
    updatedAt: new Date().toISOString(),
    asNumber: 64512,
    routerId: ADDR[node] ?? '',
    addresses: [ADDR[node] ?? ''],
    peers: NODES.filter((n) => n !== node).map((n) => ({
      address: ADDR[n] ?? '', type: 'node-to-node mesh', source: `node/${n}`, asNumber: 64512, state: 'Established', since, info: '', received: 1, advertised: advertised.length,
    })),
    prefixes: { received: 2, advertised: advertised.length, installed: 2 },
    advertisedPrefixes: advertised,
  };
}

/** Pools, nodes, two pods, and every agent alive: its liveness key and status record on a lease, as the agent's Liveness writes them. */
async function seed(etcd: Etcd3, keys: Keys): Promise<World['pod']> {
  const nodes = NODES.map((name): TerraceNode => ({ apiVersion: API_VERSION, kind: 'Node', metadata: { name, labels: {} }, spec: {} }));
  await new EtcdResourceStore(etcd, keys).applyAll([pool(), ...nodes]);
  const ipam = new Allocator({ etcd, keys, cacheTtlMs: 0 });
  const ip1 = (await ipam.allocate({ handle: 'h1', node: 'node-1', attrs: { namespace: 'default', pod: 'web-1' } })).ips[0]?.ip ?? '';
  const ip2 = (await ipam.allocate({ handle: 'h2', node: 'node-2', attrs: { namespace: 'default', pod: 'web-2' } })).ips[0]?.ip ?? '';
  const block1 = (await ipam.affineBlocks('node-1'))[0]?.rec.cidr ?? '';
  const block2 = (await ipam.affineBlocks('node-2'))[0]?.rec.cidr ?? '';
  // Longer than the suite: no keep-alive needed (one would outlive the client).
  const lease = etcd.lease(300, { autoKeepAlive: false });
  for (const n of NODES) {
    await lease.put(keys.alive(n)).value(JSON.stringify({ node: n, pid: 1, since: new Date().toISOString() })).exec();
    await lease.put(keys.status(n)).value(JSON.stringify(status(n, n === 'node-1' ? [block1] : []))).exec();
  }
  return { ip1, block1, ip2, block2 };
}

async function leaseIds(etcd: Etcd3): Promise<string[]> {
  return (await etcd.leaseClient.leaseLeases()).leases.map((l) => String(l.ID)).sort();
}

/** What etcd holds that explain could leave behind: every key of the cluster and every lease. */
async function state(w: World): Promise<{ keys: string; leases: string[] }> {
  return { keys: await dumpCluster(w.etcd, w.keys.cluster), leases: await leaseIds(w.etcd) };
}

/**
 * Explains web-1 (healthy by the status records) and web-2 (node-2's record
 * does not list its block) while the query is refused for `reason`; checks
 * what the operator sees and that etcd is as it was.
 */
async function explainRefused(w: World, reason: string, opts: RunOptions = {}): Promise<RunResult> {
  const before = await state(w);
  const query = new RegExp(`^Query: +route query failed, no agent was asked: ${reason}$`, 'm');

  // web-1: the origin's status record lists the block, so no fault; the other nodes are unknown, for one reason said once.
  const healthy = await w.ctl(['explain', 'ip', w.pod.ip1], opts);
  expect(healthy.stderr).toBe('');
  expect(healthy.code).toBe(0);
  expect(healthy.stdout).toContain('Holder:    handle h1, pod default/web-1, on node-1\n');
  expect(healthy.stdout).toContain(`Origin:    node-1 should announce ${w.pod.block1}: advertised\n`);
  expect(healthy.stdout).toMatch(query);
  for (const n of NODES) expect(healthy.stdout).toMatch(new RegExp(`^${n} +alive, not asked +- +- +\\S`, 'm'));
  expect(verdict(healthy)).toMatch(new RegExp(`^no fault found; unknown on node-2, node-3 \\(route query failed: ${reason}\\)$`));

  // The same as JSON: the query's error once, each unknown node with why.
  const json = await w.ctl(['explain', 'ip', w.pod.ip1, '-o', 'json'], opts);
  expect(json.code).toBe(0);
  const facts = JSON.parse(json.stdout) as { healthy: boolean; queryError?: string; nodes: { name: string; answerError?: string }[]; unknown: { node: string; why: string }[] };
  expect(facts.healthy).toBe(true);
  expect(facts.queryError).toMatch(new RegExp(`^${reason}$`));
  expect(facts.nodes.map((n) => [n.name, n.answerError])).toEqual(NODES.map((n) => [n, undefined]));
  expect(facts.unknown).toEqual(['node-2', 'node-3'].map((node) => ({ node, why: `route query failed: ${facts.queryError}` })));

  // web-2: a fault the status records show is still found. Exit 4.
  const fault = await w.ctl(['explain', 'ip', w.pod.ip2], opts);
  expect(fault.stderr).toBe('');
  expect(fault.code).toBe(4);
  expect(verdict(fault)).toBe(`node-2 does not advertise ${w.pod.block2}`);
  expect(fault.stdout).toMatch(query);

  // Nothing half-written: no query or answer key, no lease left over; every other key as it was.
  expect(before.keys).not.toMatch(/\/quer(ies|y-answers)\//);
  expect(await state(w)).toEqual(before);
  return healthy;
}

describe('explain ip while etcd refuses writes (NOSPACE)', () => {
  let w: World;
  let filler = '';
  beforeAll(async () => {
    const etcdd = await startEtcd({ name: 'terrace-explain-quota', args: [`--quota-backend-bytes=${QUOTA}`] });
    const keys = new Keys(uniqueCluster('explain-nospace'));
    // The project's client: a raw etcd3 client's circuit breaker would stop every call after the first refused write.
    const etcd = createClient({ endpoints: [etcdd.endpoint], cluster: keys.cluster, sources: {} });
    w = { etcdd, etcd, keys, ctl: bound(etcdd.endpoint, keys.cluster), pod: await seed(etcd, keys) };
    filler = `${keys.prefix}filler/`;
  }, 30_000);
  afterAll(async () => {
    w?.etcd.close();
    await w?.etcdd.stop();
  });

  test('every live node reads as not asked, the reason said once in one line; the verdict rests on the status records; nothing is written', async () => {
    expect(w.pod.block1).toMatch(/^198\.19\.40\.\d+\/28$/);
    const filled = await fillUntilNoSpace(w.etcd, filler);
    expect(await etcdctl(w.etcdd.endpoint, 'alarm', 'list')).toContain('NOSPACE');
    const r = await explainRefused(w, NO_SPACE);
    console.log(`explain with the NOSPACE alarm raised (after ${filled} fillers of 100 kB):\n${r.stdout}`);
    expect(await etcdctl(w.etcdd.endpoint, 'alarm', 'list')).toContain('NOSPACE');
  }, 60_000);

  test('once space is freed, explain writes its query again and asks the agents (none answers here), leaving nothing behind', async () => {
    await freeSpace(w.etcd, w.etcdd.endpoint, filler);
    expect(await etcdctl(w.etcdd.endpoint, 'alarm', 'list')).toBe('');
    const before = await state(w);
    const r = await w.ctl(['explain', 'ip', w.pod.ip1]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(verdict(r)).toBe('no fault found; unknown on node-2, node-3 (no answer within 3 s)');
    expect(r.stdout).not.toMatch(/route query failed|not asked/);
    // The query and its answer lease are revoked when explain is done.
    expect(await state(w)).toEqual(before);
  }, 60_000);
});

describe('explain ip as a user without write access to queries/ (the agent role of deploy/etcd/roles.sh)', () => {
  let w: World;
  const cluster = uniqueCluster('explain-role');
  const pw = { AGENT_PASSWORD: 'agent-pw', CONTROLLER_PASSWORD: 'controller-pw', ADMIN_PASSWORD: 'admin-pw' };
  beforeAll(async () => {
    const etcdd = await startEtcd({ name: 'terrace-explain-auth' });
    const ctlEnv = { ...process.env, ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: etcdd.endpoint };
    for (const args of [['user', 'add', 'root', '--new-user-password=root-pw'], ['role', 'add', 'root'], ['user', 'grant-role', 'root', 'root'], ['auth', 'enable']]) {
      execFileSync('etcdctl', args, { env: ctlEnv, stdio: 'ignore' });
    }
    execFileSync(ROLES, [cluster], { env: { ...ctlEnv, ETCDCTL_USER: 'root:root-pw', ...pw }, stdio: 'ignore' });
    const keys = new Keys(cluster);
    const etcd = createClient({ endpoints: [etcdd.endpoint], cluster, username: `terrace-admin-${cluster}`, password: pw.ADMIN_PASSWORD, sources: {} });
    w = { etcdd, etcd, keys, ctl: bound(etcdd.endpoint, cluster), pod: await seed(etcd, keys) };
  }, 30_000);
  afterAll(async () => {
    w?.etcd.close();
    await w?.etcdd.stop();
  });

  test('the agent\'s credentials read everything but cannot ask: the same verdict, the denial said once, no lease left', async () => {
    const asAgent = { env: { TERRACE_ETCD_USERNAME: `terrace-agent-${cluster}`, TERRACE_ETCD_PASSWORD: pw.AGENT_PASSWORD } };
    const r = await explainRefused(w, DENIED, asAgent);
    console.log(`explain as the agent's etcd user:\n${r.stdout}`);
    // The admin role (terracectl's, by roles.sh) may write queries/: it asks.
    const admin = await w.ctl(['explain', 'ip', w.pod.ip1], { env: { TERRACE_ETCD_USERNAME: `terrace-admin-${cluster}`, TERRACE_ETCD_PASSWORD: pw.ADMIN_PASSWORD } });
    expect(admin.code).toBe(0);
    expect(verdict(admin)).toBe('no fault found; unknown on node-2, node-3 (no answer within 3 s)');
  }, 60_000);
});
