// IPAM benchmark: allocations/s and latency at 1, 10 and 100 concurrent
// allocators over 10 nodes on one real etcd, beside two baselines measured
// in the same run: raw one-key compare-and-swap txns/s from one client (the
// ceiling for one transaction per allocation) and a naive allocator (one
// key per address, first free one claimed by create-if-absent).
import { Etcd3 } from 'etcd3';
import { startEtcd } from '../packages/testkit/dist/src/index.js';
import { Keys } from '../packages/datastore/dist/src/index.js';
import { Allocator, allocationsOf, decodeBlock, ipOf } from '../packages/ipam/dist/src/index.js';

const DURATION_MS = Number(process.env.IPAM_BENCH_MS ?? 4000);
const NAIVE_MS = Number(process.env.IPAM_BENCH_NAIVE_MS ?? 3000);
const NODES = 10;
const CONCURRENCY = [1, 10, 100];

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0);
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

async function rawCas(etcd) {
  const key = '/bench/raw-cas';
  await etcd.put(key).value('0');
  let rev = (await etcd.get(key).exec()).kvs[0].mod_revision;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 3000) {
    const r = await etcd.if(key, 'Mod', '==', rev).then(etcd.put(key).value(String(n))).commit();
    if (!r.succeeded) throw new Error('raw CAS lost to nobody');
    rev = r.header.revision;
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function setupCluster(etcd, keys) {
  const pool = {
    apiVersion: 'terrace.dev/v1',
    kind: 'IPPool',
    metadata: { name: 'bench' },
    spec: { cidr: '10.128.0.0/12', blockSize: 26, nodeSelector: 'all()', disabled: false, disableBGPExport: false, natOutgoing: false, allowedUses: ['Workload'], assignmentMode: 'Automatic', ipipMode: 'Never', vxlanMode: 'Never' },
  };
  await etcd.put(keys.resource('IPPool', 'bench')).value(JSON.stringify(pool));
  const cfg = { apiVersion: 'terrace.dev/v1', kind: 'IPAMConfig', metadata: { name: 'default' }, spec: { strictAffinity: false, maxBlocksPerHost: 0, autoAllocateBlocks: true } };
  await etcd.put(keys.resource('IPAMConfig', 'default')).value(JSON.stringify(cfg));
  for (let i = 0; i < NODES; i++) {
    const node = { apiVersion: 'terrace.dev/v1', kind: 'Node', metadata: { name: `node-${i}` }, spec: {} };
    await etcd.put(keys.resource('Node', `node-${i}`)).value(JSON.stringify(node));
  }
}

/** Ours: one allocator instance (and etcd client) per node, `n` request loops spread over the nodes. */
async function runOurs(endpoint, n) {
  const admin = new Etcd3({ hosts: endpoint });
  const keys = new Keys(`bench-${n}-${Date.now().toString(36)}`);
  await setupCluster(admin, keys);
  const clients = Array.from({ length: NODES }, () => new Etcd3({ hosts: endpoint }));
  const allocators = clients.map((etcd) => new Allocator({ etcd, keys, cacheTtlMs: 2000 }));
  // Warm each node's first block so the measurement is steady state, not first-claim latency.
  await Promise.all(allocators.map((a, i) => a.allocate({ handle: `warm-${i}`, node: `node-${i}` })));
  const lat = [];
  const seen = new Map();
  let dupReturned = 0;
  let count = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, async (_, w) => {
      const node = w % NODES;
      for (let i = 0; performance.now() - t0 < DURATION_MS; i++) {
        const s = performance.now();
        const r = await allocators[node].allocate({ handle: `b-${w}-${i}`, node: `node-${node}`, attrs: { pod: `p-${w}-${i}`, namespace: 'bench' } });
        lat.push(performance.now() - s);
        count++;
        for (const ip of r.ips) {
          if (seen.has(ip.ip)) dupReturned++;
          seen.set(ip.ip, r.handle);
        }
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  // Duplicates in the store: any address held twice, or held by a handle other than the one told.
  const blocks = await admin.getAll().prefix(keys.blockPrefix()).strings();
  const stored = new Map();
  let dupStored = 0;
  for (const [k, v] of Object.entries(blocks)) {
    const b = decodeBlock(k, v);
    for (const { ordinal, alloc } of allocationsOf(b)) {
      const ip = ipOf(b, ordinal);
      if (stored.has(ip)) dupStored++;
      stored.set(ip, alloc.handle);
      if (seen.has(ip) && seen.get(ip) !== alloc.handle) dupStored++;
    }
  }
  const report = await allocators[0].check();
  await admin.delete().prefix(keys.prefix);
  for (const c of clients) c.close();
  admin.close();
  lat.sort((a, b) => a - b);
  return { alloc_per_s: round(count / secs), p50_ms: round(pct(lat, 50), 2), p99_ms: round(pct(lat, 99), 2), duplicates: dupReturned + dupStored, check_issues: report.issues.length, allocations: count };
}

/** Naive: a key per address; list the taken ones, create-if-absent the first free, on conflict try the next. */
async function runNaive(endpoint, n) {
  const clients = Array.from({ length: Math.min(n, NODES) }, () => new Etcd3({ hosts: endpoint }));
  const prefix = `/bench-naive/${n}-${Date.now().toString(36)}/`;
  const seen = new Set();
  let dup = 0;
  let count = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, async (_, w) => {
      const etcd = clients[w % clients.length];
      while (performance.now() - t0 < NAIVE_MS) {
        const taken = new Set((await etcd.getAll().prefix(prefix).keys()).map((k) => Number(k.slice(prefix.length))));
        for (let o = 0, tries = 0; tries < 4; o++) {
          if (taken.has(o)) continue;
          tries++;
          const key = `${prefix}${o}`;
          const r = await etcd.if(key, 'Create', '==', 0).then(etcd.put(key).value(`w${w}`)).commit();
          if (r.succeeded) {
            if (seen.has(o)) dup++;
            seen.add(o);
            count++;
            break;
          }
        }
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  await clients[0].delete().prefix(prefix);
  for (const c of clients) c.close();
  return { naive_alloc_per_s: round(count / secs), naive_duplicates: dup };
}

const etcdProc = await startEtcd({ name: 'bench-ipam' });
try {
  const etcd = new Etcd3({ hosts: etcdProc.endpoint });
  const raw = await rawCas(etcd);
  etcd.close();
  console.log(JSON.stringify({ phase: 'raw_cas', raw_cas_per_s: round(raw) }));
  const runs = [];
  for (const n of CONCURRENCY) {
    const ours = await runOurs(etcdProc.endpoint, n);
    const naive = await runNaive(etcdProc.endpoint, n);
    const detail = { allocators: n, ...ours, ...naive };
    console.log(JSON.stringify({ phase: 'run', ...detail }));
    runs.push({ allocators: n, alloc_per_s: ours.alloc_per_s, p50_ms: ours.p50_ms, p99_ms: ours.p99_ms, naive_alloc_per_s: naive.naive_alloc_per_s, duplicates: ours.duplicates + naive.naive_duplicates });
  }
  console.log(JSON.stringify({ bench: 'ipam', raw_cas_per_s: round(raw), runs }));
} finally {
  await etcdProc.stop();
}
