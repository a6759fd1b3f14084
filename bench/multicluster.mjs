#!/usr/bin/env node
// Multi-cluster: how soon one cluster knows what another did, and how the
// controller copes with many remotes. Every figure comes from one run.
//
// In the two-cluster lab (e2e/src/multicluster.ts: two etcds, two
// controllers, a gateway per cluster, GoBGP and BIRD nodes):
// - sync_lag_ms: a write in B (a pool applied with terracectl; a block a new
//   pod claims) → A's cached view of B (its RemoteClusterState doc in A's
//   etcd) reflects it. Both ends are etcd watch events (etcdctl watch in
//   each fabric), timed as they reach this process; p50/p99 over pool and
//   block writes together.
// - cross_route_ms: a pod created in B that claims a new block (each trial
//   has a pool of its own, one block big, created and synced beforehand) →
//   the block's route in the kernel of every node of A (`ip monitor route`).
//   From the moment B's ADD result is back.
// Simulated (one etcd on loopback, no lab): SIM_REMOTES remote clusters of
// SIM_NODES nodes each (Nodes with a block each, allocated by the real
// allocator, a pool, a default BGPConfiguration), every one under its own
// prefix in the same etcd, and one local cluster with a RemoteCluster for
// each. Then the local terrace-controller starts:
// - sim_sync_s: controller started → every state doc Connected with all the
//   remote's nodes and blocks;
// - controller_rss_mb: the controller's resident memory then (VmRSS).
//
// Last line: {"bench":"multicluster","sync_lag_ms":{"p50":N,"p99":N},
//   "cross_route_ms":{"p50":N,"p99":N},"sim_remotes":10,"sim_nodes_per_remote":100,
//   "controller_rss_mb":N,"sim_sync_s":N}
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Etcd3 } from 'etcd3';
import { decodeManifests } from '../packages/api/dist/src/index.js';
import { EtcdResourceStore, Keys } from '../packages/datastore/dist/src/index.js';
import { Allocator } from '../packages/ipam/dist/src/index.js';
import { listNamespaces, startEtcd } from '../packages/testkit/dist/src/index.js';
import { BIN, MultiClusterLab, RouteWatcher, cleanEnv, percentile, poolManifest, round1, waitUntil } from '../e2e/dist/src/index.js';

const SYNC_TRIALS = Number(process.env.SYNC_TRIALS ?? 20);
const ROUTE_TRIALS = Number(process.env.ROUTE_TRIALS ?? 20);
const SIM_REMOTES = Number(process.env.SIM_REMOTES ?? 10);
const SIM_NODES = Number(process.env.SIM_NODES ?? 100);

const out = (o) => console.log(JSON.stringify(o));
const stats = (xs) => ({ n: xs.length, p50: round1(percentile(xs, 50)), p99: round1(percentile(xs, 99)), max: round1(Math.max(...xs)) });

/**
 * `etcdctl watch --prefix` inside a namespace, as `cred`: calls `onEvent(key,
 * value | undefined, at)` for every put (value) and delete (undefined), `at`
 * being performance.now() when the line reached us.
 */
function etcdWatch(ns, url, cred, prefix, onEvent) {
  const env = cleanEnv({ ETCDCTL_API: '3', ETCDCTL_USER: `${cred.username}:${cred.password}` });
  const child = spawn('ip', ['netns', 'exec', ns, 'etcdctl', `--endpoints=${url}`, 'watch', '--prefix', prefix, '-w', 'json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  createInterface({ input: child.stdout }).on('line', (line) => {
    const at = performance.now();
    let resp;
    try {
      resp = JSON.parse(line);
    } catch {
      return;
    }
    for (const ev of resp.Events ?? []) {
      const key = Buffer.from(ev.kv.key, 'base64').toString();
      onEvent(key, ev.type === 'DELETE' ? undefined : Buffer.from(ev.kv.value ?? '', 'base64').toString(), at);
    }
  });
  return () => child.kill('SIGKILL');
}

/** A promise for the first moment `pred(value)` holds for a key, fed by an etcdWatch. */
class Waits {
  constructor() {
    this.waiters = new Set();
  }
  feed(key, value, at) {
    for (const w of [...this.waiters]) if (w.pred(key, value)) {
      this.waiters.delete(w);
      w.resolve(at);
    }
  }
  when(what, pred, timeoutMs = 60000) {
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (at) => (clearTimeout(timer), resolve(at)) };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }
}

// Trial pools live in B outside both clusters' pools (A 198.19.0.0/18, B 198.19.64.0/18).
/** One pool per cross-route trial in B: 198.19.160.0/19 cut into /26s, each pool one block. */
const routePool = (i) => ({ name: `xr-${i}`, cidr: `198.19.${160 + Math.floor(i / 4)}.${(i % 4) * 64}/26`, blockSize: 26 });
/** One pool per sync trial in B: 198.19.192.0/19 cut into /26s. */
const syncPool = (i) => ({ name: `sync-${i}`, cidr: `198.19.${192 + Math.floor(i / 4)}.${(i % 4) * 64}/26`, blockSize: 26 });

async function twoClusters() {
  const lab = await MultiClusterLab.start();
  const watcher = new RouteWatcher();
  const stops = [];
  try {
    const a = lab.a;
    const b = lab.b;
    const stateKey = new Keys(a.name).remoteState(b.name);
    const inA = new Waits();
    const inB = new Waits();
    const state = (v) => (v ? JSON.parse(v) : undefined);
    stops.push(etcdWatch(a.fabricNs, a.etcdUrl, a.root, stateKey, (k, v, at) => inA.feed(k, state(v), at)));
    stops.push(etcdWatch(b.fabricNs, b.etcdUrl, b.root, new Keys(b.name).prefix, (k, v, at) => inB.feed(k, v, at)));
    await lab.waitRemoteState('a', 'B synced', (s) => s.connection === 'Connected' && s.gateways.length > 0, 120000);
    out({ step: 'two clusters up, A synced with B' });

    // Sync lag, pools: a pool applied in B → in A's view of B.
    const lags = [];
    for (let i = 0; i < SYNC_TRIALS; i++) {
      const p = syncPool(i);
      const written = inB.when(`pool ${p.name} written in B`, (k) => k === new Keys(b.name).resource('IPPool', p.name));
      const seen = inA.when(`pool ${p.name} in A's view`, (_k, s) => s?.pools?.some((x) => x.name === p.name));
      await b.apply(poolManifest(p));
      lags.push((await seen) - (await written));
    }
    out({ step: 'sync lag, pools', ...stats(lags), trials_ms: lags.map(Math.round) });

    // Cross-cluster routes; each trial's pod also claims a block in B (a block write → A's block count).
    const pools = Array.from({ length: ROUTE_TRIALS }, (_, i) => routePool(i));
    await b.apply(pools.map(poolManifest).join('---\n'));
    await lab.waitRemoteState('a', 'the trial pools in A\'s view', (s) => pools.every((p) => s.pools.some((x) => x.name === p.name)), 60000);
    const aNodes = [...a.nodes.values()];
    for (const n of aNodes) await watcher.watch(n.ns);
    const bNodes = [...b.nodes.values()];
    // Warm-up: a pod on each of B's nodes, and its block's route on every node of A, so the trials
    // measure a route crossing working sessions, not the gateway session coming up.
    for (const n of bNodes) {
      const pod = await b.addPod(n.name, `warm-${n.name}`);
      const block = `${pod.ip.split('.').slice(0, 3).join('.')}.${Number(pod.ip.split('.')[3]) & ~63}/26`;
      await watcher.waitAll(block, aNodes.map((x) => x.ns), 'present', 120000);
    }
    out({ step: 'cross-cluster routes flowing (warm-up)' });
    const routes = [];
    const blockLags = [];
    for (let i = 0; i < ROUTE_TRIALS; i++) {
      const p = pools[i];
      const before = (await lab.remoteState('a')).blocks;
      const written = inB.when(`block ${p.cidr} in B`, (k) => k === new Keys(b.name).block(p.cidr));
      const seen = inA.when(`${before + 1} blocks in A's view`, (_k, s) => (s?.blocks ?? 0) > before);
      const node = bNodes[i % bNodes.length];
      await b.addPod(node.name, `xr${i}`, { pools: [p.name] });
      const done = performance.now();
      const at = await watcher.waitAll(p.cidr, aNodes.map((n) => n.ns), 'present', 60000);
      routes.push(Math.max(0, Math.max(...at.values()) - done));
      blockLags.push((await seen) - (await written));
    }
    out({ step: 'cross-cluster route: pod in B → route on every node of A', ...stats(routes), trials_ms: routes.map(Math.round) });
    out({ step: 'sync lag, blocks', ...stats(blockLags) });
    return { lags: [...lags, ...blockLags], routes };
  } catch (e) {
    console.error(lab.diagnostics());
    throw e;
  } finally {
    for (const s of stops) s();
    watcher.close();
    const prefix = lab.kit.prefix;
    await lab.destroy();
    const left = await listNamespaces(prefix);
    if (left.length) console.error(`left behind: ${left.join(', ')}`);
  }
}

/** Remote i of the simulation: a pool, the default BGPConfiguration, SIM_NODES Nodes with a block each. */
async function fillRemote(etcd, i) {
  const name = `sim-${i}`;
  const keys = new Keys(name);
  const pool = { name: `${name}-pods`, cidr: `198.19.${16 * i}.0/20`, blockSize: 28 };
  const docs = [
    poolManifest(pool),
    ['apiVersion: terrace.dev/v1', 'kind: BGPConfiguration', 'metadata:', '  name: default', 'spec:', `  asNumber: ${65100 + i}`, ''].join('\n'),
    ...Array.from({ length: SIM_NODES }, (_, n) =>
      ['apiVersion: terrace.dev/v1', 'kind: Node', 'metadata:', `  name: node-${n}`, 'spec:', '  bgp:', `    ipv4Address: 198.18.${100 + i}.${n + 1}/24`, ''].join('\n'),
    ),
  ];
  await new EtcdResourceStore(etcd, keys).applyAll(decodeManifests(docs.join('---\n')));
  const alloc = new Allocator({ etcd, keys, cacheTtlMs: 5000 });
  for (let n = 0; n < SIM_NODES; n += 10) {
    await Promise.all(Array.from({ length: Math.min(10, SIM_NODES - n) }, (_, k) => alloc.allocate({ handle: `sim.${n + k}`, node: `node-${n + k}` })));
  }
  return name;
}

function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? round1(Number(m[1]) / 1024) : NaN;
}

async function simulate() {
  const etcdHandle = await startEtcd({ name: 'mc-sim' });
  const etcd = new Etcd3({ hosts: etcdHandle.endpoint });
  let controller;
  try {
    const t0 = performance.now();
    const remotes = [];
    for (let i = 0; i < SIM_REMOTES; i++) remotes.push(await fillRemote(etcd, i));
    out({ step: 'simulated remotes written', remotes: SIM_REMOTES, nodes_each: SIM_NODES, ms: Math.round(performance.now() - t0) });
    const local = 'sim-local';
    const rcs = remotes.map((r) =>
      ['apiVersion: terrace.dev/v1', 'kind: RemoteCluster', 'metadata:', `  name: ${r}`, 'spec:', '  etcd:', `    endpoints: ["${etcdHandle.endpoint}"]`, ''].join('\n'),
    );
    await new EtcdResourceStore(etcd, new Keys(local)).applyAll(decodeManifests(rcs.join('---\n')));
    const keys = new Keys(local);
    const start = performance.now();
    controller = spawn(process.execPath, [BIN.controller, '--etcd-endpoints', etcdHandle.endpoint, '--cluster', local, '--interval', '1s', '--identity', 'sim', '--log-format', 'json', '--metrics-listen', 'off'], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    controller.stderr.on('data', (d) => (err = (err + d.toString()).slice(-4000)));
    let synced = 0;
    await waitUntil('every simulated remote synced', async () => {
      if (controller.exitCode !== null) throw new Error(`terrace-controller exited ${controller.exitCode}: ${err}`);
      const r = await etcd.getAll().prefix(keys.remoteStatePrefix()).strings();
      synced = Object.values(r).map((v) => JSON.parse(v)).filter((s) => s.connection === 'Connected' && s.nodes === SIM_NODES && s.blocks >= SIM_NODES).length;
      return synced === SIM_REMOTES;
    }, 300000, 100).catch((e) => {
      throw new Error(`${e.message} (${synced} of ${SIM_REMOTES} synced)`);
    });
    const syncS = round1((performance.now() - start) / 1000);
    const rss = rssMb(controller.pid);
    out({ step: 'simulated sync', sim_sync_s: syncS, controller_rss_mb: rss });
    return { syncS, rss };
  } finally {
    if (controller && controller.exitCode === null) {
      controller.kill('SIGTERM');
      await new Promise((r) => controller.once('exit', r));
    }
    etcd.close();
    await etcdHandle.stop();
  }
}

const real = await twoClusters();
const sim = await simulate();
out({
  bench: 'multicluster',
  sync_lag_ms: { p50: round1(percentile(real.lags, 50)), p99: round1(percentile(real.lags, 99)) },
  cross_route_ms: { p50: round1(percentile(real.routes, 50)), p99: round1(percentile(real.routes, 99)) },
  sim_remotes: SIM_REMOTES,
  sim_nodes_per_remote: SIM_NODES,
  controller_rss_mb: sim.rss,
  sim_sync_s: sim.syncS,
});
process.exit(0);
