#!/usr/bin/env node
// Scale: N simulated nodes against a 3-member etcd on loopback, with the real
// terrace-controller running. Every figure comes from one run.
//
// A simulated node does what an agent does against etcd, with the agent's
// and ipam's own code: registerNode (its Node resource), Liveness (the
// lease-bound alive key, kept alive), openClusterState (every watch an agent
// opens, listed and kept), the route-query responder (answering, as a node
// with no speaker, that it learns nothing), and Allocator.allocate with the watched state
// (claims a block, ADDRESSES addresses). No BGP, no kernel: this measures
// the datastore and the controller. Each simulated node has its own etcd
// client (which connects to every member), as an agent has; --workers
// processes (default 4) carry N / workers nodes each, so the nodes of one
// process share its CPU and decode their watch events there.
//
// Figures:
// - register_per_s: N / (first start → last node registered and alive);
// - first_block_all_s: first start → every node has its first address (so its first block);
// - etcd keys (under the cluster's prefix) and the largest member DB size;
// - controller RSS and CPU seconds at the end of the run (from /proc);
// - fan-out: one BGPPeer written → seen by the watch of every node (p50 and
//   max over nodes), and the etcd members' CPU seconds meanwhile;
// - free_100_dead_s: DEAD nodes' leases revoked (the nodes stopped) → all their
//   addresses freed by the controller, minus the grace (--node-grace).
//
// Usage: npm run bench -- scale [--nodes N[,N...]] [--step] [--workers W] [--concurrency C]
//   Several counts run one after the other (each on a fresh etcd and controller),
//   stopping at the first that breaks; --step is --nodes 1000,2000,5000.
//   A simulated node's etcd calls get 30 s (the agent's own default is 4.5 s);
//   one that gets no answer in that time, or a node that cannot start, is a break.
// Last line: {"bench":"scale","nodes":N,"register_per_s":N,"first_block_all_s":N,"etcd_db_mb":N,
//   "controller_rss_mb":N,"controller_cpu_s":N,"free_100_dead_s":N,"first_break":"..."}
import { fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { decodeManifests } from '../packages/api/dist/src/index.js';
import { EtcdResourceStore, Keys, createClient } from '../packages/datastore/dist/src/index.js';
import { Allocator, decodeBlock } from '../packages/ipam/dist/src/index.js';
import { Liveness, QueryResponder, openClusterState, registerNode } from '../packages/agent/dist/src/index.js';
import { silentLogger } from '../packages/log/dist/src/index.js';
import { startEtcdCluster } from '../packages/testkit/dist/src/index.js';
import { BIN, cleanEnv, percentile, poolManifest, round1 } from '../e2e/dist/src/index.js';

const CLUSTER = 'scale';
const ADDRESSES = 3;
const LEASE_TTL_S = 10;
const GRACE_S = 2;
const POOL = { name: 'scale-pods', cidr: '198.18.0.0/16', blockSize: 29 };

const out = (o) => console.log(JSON.stringify(o));
const conn = (endpoints) => ({ endpoints: endpoints.split(','), cluster: CLUSTER, sources: {} });
const nodeAddress = (i) => `198.19.${(i + 1) >> 8}.${(i + 1) & 255}/16`;

// ---------------------------------------------------------------- worker side

async function worker() {
  const keys = new Keys(CLUSTER);
  const log = silentLogger();
  /** name → { etcd, liveness, state } */
  const nodes = new Map();
  let probe;
  const send = (m) => process.send?.(m);

  async function startNode(name, index, endpoints) {
    const etcd = createClient(conn(endpoints), { timeoutMs: 30000 });
    const n = { etcd, liveness: undefined, state: undefined, queries: undefined };
    nodes.set(name, n);
    let stage = 'register';
    try {
      await startStages(name, index, n, (s) => (stage = s));
    } catch (e) {
      throw new Error(`${stage}: ${e.message}`);
    }
  }

  async function startStages(name, index, n, stage) {
    const { etcd } = n;
    await registerNode(new EtcdResourceStore(etcd, keys), { name, addresses: { 4: nodeAddress(index) }, asNumber: undefined, labels: {}, backend: 'gobgp' });
    n.liveness = new Liveness({ etcd, key: keys.alive(name), ttlSeconds: LEASE_TTL_S, value: () => JSON.stringify({ node: name, pid: process.pid }), log });
    stage('liveness');
    await n.liveness.start();
    send({ type: 'registered', name, at: Date.now() });
    stage('watch');
    // Route queries (the controller asks before freeing a dead node): a node without a speaker learns nothing.
    n.queries = new QueryResponder({ etcd, keys, node: name, backend: 'none', log, look: async () => ({ originated: [], learned: new Map(), kernel: [] }) });
    await n.queries.start();
    n.state = await openClusterState(etcd, keys, log);
    n.state.onChange(() => {
      if (probe && !probe.seen.has(name) && n.state.bgpPeers().some((p) => p.metadata.name === probe.name)) {
        probe.seen.add(name);
        send({ type: 'seen', name, at: Date.now() });
      }
    });
    stage('allocate');
    const alloc = new Allocator({ etcd, keys, watched: n.state });
    for (let i = 0; i < ADDRESSES; i++) {
      await alloc.allocate({ handle: `${name}.p${i}`, node: name, attrs: { namespace: 'scale', pod: `${name}-p${i}` } });
      if (i === 0) send({ type: 'block', name, at: Date.now() });
    }
  }

  async function stopNode(name) {
    const n = nodes.get(name);
    if (!n) return;
    nodes.delete(name);
    // A dead agent: its lease goes at once (revoked rather than left to expire, so the clock starts now).
    await n.liveness?.stop({ revoke: true });
    await n.queries?.stop();
    await n.state?.close();
    n.etcd.close();
  }

  process.on('message', async (/** @type {any} */ m) => {
    if (m.type === 'start') {
      let next = 0;
      await Promise.all(Array.from({ length: m.concurrency }, async () => {
        while (next < m.nodes.length) {
          const { name, index } = m.nodes[next++];
          try {
            await startNode(name, index, m.endpoints);
          } catch (e) {
            send({ type: 'error', name, message: e.message });
          }
        }
      }));
      send({ type: 'started' });
    } else if (m.type === 'probe') {
      probe = { name: m.name, seen: new Set() };
      send({ type: 'armed' });
    } else if (m.type === 'kill') {
      await Promise.all(m.names.map(stopNode));
      send({ type: 'killed', at: Date.now() });
    } else if (m.type === 'exit') {
      await Promise.all([...nodes.keys()].map((n) => stopNode(n).catch(() => undefined)));
      process.exit(0);
    }
  });
  // The coordinator gone (killed, say): nothing of ours may outlive it.
  process.on('disconnect', () => process.exit(1));
  send({ type: 'up' });
}

// ----------------------------------------------------------- coordinator side

/** utime + stime of a process, seconds. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? round1(Number(m[1]) / 1024) : NaN;
}

/** Resolves when `pred()` holds, polled every `everyMs`; rejects with `what` after `timeoutMs`. */
async function until(what, pred, timeoutMs, everyMs = 250) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

class Workers {
  constructor(count) {
    this.events = [];
    this.children = Array.from({ length: count }, () => {
      const c = fork(fileURLToPath(import.meta.url), [], { env: cleanEnv({ SCALE_WORKER: '1' }), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      c.on('message', (/** @type {any} */ m) => this.events.push({ ...m, from: c.pid }));
      return c;
    });
  }
  count(type) {
    return this.events.filter((e) => e.type === type).length;
  }
  of(type) {
    return this.events.filter((e) => e.type === type);
  }
  crashed() {
    return this.children.find((c) => c.exitCode !== null || c.signalCode !== null);
  }
  broadcast(m) {
    for (const c of this.children) c.send(m);
  }
  async stop() {
    await Promise.all(this.children.map((c) => {
      if (c.exitCode !== null || c.signalCode !== null) return undefined;
      const exited = new Promise((r) => c.once('exit', r));
      c.send({ type: 'exit' });
      const t = setTimeout(() => c.kill('SIGKILL'), 15000);
      return exited.finally(() => clearTimeout(t));
    }));
  }
}

/** Teardowns of the step that runs, for a SIGINT/SIGTERM in the middle of it. */
const teardowns = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => {
    for (const t of teardowns) await t().catch(() => undefined);
    process.exit(130);
  });
}

async function runStep(n, opts) {
  const started = performance.now();
  const etcdCluster = await startEtcdCluster({ members: 3, args: ['--quota-backend-bytes=8589934592'] });
  teardowns.add(etcdCluster.stop);
  const admin = createClient(conn(etcdCluster.endpoints), { timeoutMs: 30000 });
  const keys = new Keys(CLUSTER);
  let controller;
  let workers;
  const result = { nodes: n };
  try {
    const store = new EtcdResourceStore(admin, keys);
    await store.applyAll(decodeManifests(poolManifest(POOL)));
    controller = spawn(process.execPath, [BIN.controller, '--etcd-endpoints', etcdCluster.endpoints, '--cluster', CLUSTER, '--node-grace', `${GRACE_S}s`, '--interval', '10s', '--identity', 'scale', '--log-format', 'json', '--log-level', 'warn'], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    const stopController = async () => controller.kill('SIGKILL');
    teardowns.add(stopController);
    let controllerErr = '';
    controller.stderr.on('data', (d) => (controllerErr = (controllerErr + d.toString()).slice(-4000)));
    const controllerAlive = () => {
      if (controller.exitCode !== null) throw new Error(`terrace-controller exited ${controller.exitCode}: ${controllerErr}`);
    };

    workers = new Workers(opts.workers);
    const killWorkers = async () => workers.children.forEach((c) => c.kill('SIGKILL'));
    teardowns.add(killWorkers);
    await until('workers up', () => workers.count('up') === opts.workers, 30000, 50);
    const all = Array.from({ length: n }, (_, i) => ({ name: `node-${String(i).padStart(5, '0')}`, index: i }));
    const t0 = Date.now();
    workers.children.forEach((c, w) => c.send({ type: 'start', endpoints: etcdCluster.endpoints, concurrency: opts.concurrency, nodes: all.filter((_, i) => i % opts.workers === w) }));
    let lastProgress = Date.now();
    const check = () => {
      if (Date.now() - lastProgress > 30000) {
        lastProgress = Date.now();
        out({ progress: `${Math.round((Date.now() - t0) / 1000)} s`, registered: workers.count('registered'), with_block: workers.count('block'), etcd_cpu_s: round1(etcdCluster.members.reduce((s, m) => s + cpuSeconds(m.pid), 0)), workers_cpu_s: round1(workers.children.reduce((s, c) => s + cpuSeconds(c.pid), 0)), controller_cpu_s: round1(cpuSeconds(controller.pid)) });
      }
      controllerAlive();
      const c = workers.crashed();
      if (c) throw new Error(`a worker process exited (${c.signalCode ?? c.exitCode}) with ${workers.count('registered')} of ${n} nodes registered`);
      const errs = workers.of('error');
      if (errs.length) throw new Error(`${errs.length} of ${n} nodes failed to start, first: ${errs[0].name}: ${errs[0].message}`);
    };
    await until(`all ${n} nodes registered and holding a block`, () => {
      check();
      return workers.count('started') === opts.workers;
    }, opts.timeoutS * 1000, 500).catch((e) => {
      throw new Error(`${e.message} (${workers.count('registered')} registered, ${workers.count('block')} with a block)`);
    });
    const regAt = workers.of('registered').map((e) => e.at);
    const blockAt = workers.of('block').map((e) => e.at);
    result.register_per_s = round1(n / ((Math.max(...regAt) - t0) / 1000));
    result.first_block_all_s = round1((Math.max(...blockAt) - t0) / 1000);
    out({ step: 'nodes up', nodes: n, register_per_s: result.register_per_s, first_block_all_s: result.first_block_all_s, workers: opts.workers, clients: n });

    // Fan-out: one write → every node's watch.
    workers.broadcast({ type: 'probe', name: 'scale-probe' });
    await until('workers armed', () => workers.count('armed') === opts.workers, 30000, 50);
    const etcdCpu0 = etcdCluster.members.reduce((s, m) => s + cpuSeconds(m.pid), 0);
    const tw = Date.now();
    await store.applyAll(decodeManifests(['apiVersion: terrace.dev/v1', 'kind: BGPPeer', 'metadata:', '  name: scale-probe', 'spec:', '  peerIP: 198.19.255.1', '  asNumber: 65000', ''].join('\n')));
    await until(`the probe write seen by all ${n} watchers`, () => (check(), workers.count('seen') === n), 120000, 50).catch((e) => {
      throw new Error(`${e.message} (${workers.count('seen')} saw it)`);
    });
    const lags = workers.of('seen').map((e) => e.at - tw);
    result.fanout_ms = { p50: round1(percentile(lags, 50)), max: round1(Math.max(...lags)) };
    result.fanout_etcd_cpu_s = round1(etcdCluster.members.reduce((s, m) => s + cpuSeconds(m.pid), 0) - etcdCpu0);
    out({ step: 'fan-out: one BGPPeer write to every node watch', ms: result.fanout_ms, etcd_cpu_s: result.fanout_etcd_cpu_s });

    // Figures at rest: keys, database, controller.
    result.etcd_keys = Number(await admin.getAll().prefix(keys.prefix).count());
    const sizes = await Promise.all(etcdCluster.members.map(async (m) => {
      const c = createClient(conn(m.endpoint), { timeoutMs: 30000 });
      try {
        return Number((await c.maintenance.status()).dbSize);
      } finally {
        c.close();
      }
    }));
    result.etcd_db_mb = round1(Math.max(...sizes) / 2 ** 20);
    out({ step: 'etcd', keys: result.etcd_keys, db_mb_per_member: sizes.map((s) => round1(s / 2 ** 20)) });

    // Dead nodes: every (n / dead)-th node stops; the controller frees their addresses after the grace.
    const deadCount = Math.min(opts.dead, Math.floor(n / 2));
    const dead = all.filter((_, i) => i % Math.floor(n / deadCount) === 0).slice(0, deadCount).map((x) => x.name);
    const deadSet = new Set(dead);
    const heldByDead = async () => {
      const r = await admin.getAll().prefix(keys.blockPrefix()).strings();
      let held = 0;
      for (const [k, v] of Object.entries(r)) for (const a of Object.values(decodeBlock(k, v).allocations)) if (deadSet.has(a.node)) held++;
      return held;
    };
    const before = await heldByDead();
    workers.broadcast({ type: 'kill', names: dead });
    await until('dead nodes stopped', () => workers.count('killed') === opts.workers, 60000, 50);
    const killedAt = Math.max(...workers.of('killed').map((e) => e.at));
    await until(`the ${deadCount} dead nodes' ${before} addresses freed`, async () => (controllerAlive(), (await heldByDead()) === 0), 300000, 200);
    result.free_100_dead_s = round1((Date.now() - killedAt) / 1000 - GRACE_S);
    result.dead = deadCount;
    out({ step: 'dead nodes freed', dead: deadCount, addresses: before, s_after_grace: result.free_100_dead_s });

    result.controller_rss_mb = rssMb(controller.pid);
    result.controller_cpu_s = round1(cpuSeconds(controller.pid));
    result.etcd_cpu_s = round1(etcdCluster.members.reduce((s, m) => s + cpuSeconds(m.pid), 0));
    out({ step: 'controller', rss_mb: result.controller_rss_mb, cpu_s: result.controller_cpu_s, etcd_cpu_s_total: result.etcd_cpu_s, wall_s: round1((performance.now() - started) / 1000) });
    return result;
  } finally {
    await workers?.stop();
    if (controller && controller.exitCode === null) {
      const exited = new Promise((r) => controller.once('exit', r));
      controller.kill('SIGTERM');
      const t = setTimeout(() => controller.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(t);
    }
    admin.close();
    await etcdCluster.stop();
    teardowns.clear();
  }
}

async function coordinator() {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '1000' },
      step: { type: 'boolean', default: false },
      workers: { type: 'string', default: '4' },
      dead: { type: 'string', default: '100' },
      'timeout-s': { type: 'string', default: '900' },
      // Nodes each worker starts at once (a real cluster's agents start unevenly too).
      concurrency: { type: 'string', default: '10' },
    },
  });
  const int = (name, v, min) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) throw new Error(`--${name} ${v}: must be a whole number, at least ${min}`);
    return x;
  };
  const opts = { workers: int('workers', values.workers, 1), dead: int('dead', values.dead, 1), timeoutS: int('timeout-s', values['timeout-s'], 10), concurrency: int('concurrency', values.concurrency, 1) };
  const counts = values.step ? [1000, 2000, 5000] : values.nodes.split(',').map((v) => int('nodes', v, 2));
  let held;
  let firstBreak = `none up to ${counts[counts.length - 1]}`;
  for (const n of counts) {
    try {
      held = await runStep(n, opts);
    } catch (e) {
      firstBreak = `${n} nodes: ${e.message.split('\n')[0]}`;
      out({ step: 'broke', nodes: n, error: e.message });
      break;
    }
  }
  out({
    bench: 'scale',
    nodes: held?.nodes ?? 0,
    register_per_s: held?.register_per_s ?? null,
    first_block_all_s: held?.first_block_all_s ?? null,
    etcd_db_mb: held?.etcd_db_mb ?? null,
    controller_rss_mb: held?.controller_rss_mb ?? null,
    controller_cpu_s: held?.controller_cpu_s ?? null,
    free_100_dead_s: held?.free_100_dead_s ?? null,
    first_break: firstBreak,
  });
}

if (process.env.SCALE_WORKER) await worker();
else {
  await coordinator();
  process.exit(0);
}
