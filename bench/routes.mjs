#!/usr/bin/env node
// Route sync against one raw `ip -batch`, in a scratch network namespace.
//
// For 10,000 and 100,000 /32 routes (198.18.64.0 upwards, inside
// 198.18.0.0/15) via a gateway on a veth inside the namespace, one run
// measures: a raw `ip -n NS -batch FILE` of the same `route replace` lines,
// and RouteSync setDesired + flush (which includes reading the kernel, the
// diff and the batch). The kernel is flushed of protocol 201 between the two.
// Then, with 100,000 routes installed, a no-change resync (read kernel, diff,
// nothing applied). Each figure is the best of REPS tries; all tries are
// printed. Last, single-route batches through RouteSync's persistent netlink
// relay against one `ip -batch` process per batch (why the relay is kept).
//
// Last line: {"bench":"routes","runs":[{"routes":10000,"sync_s":N,"raw_batch_s":N},
//   {"routes":100000,...}],"resync_100k_s":N}
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCidr, parseIP } from '../packages/api/dist/src/index.js';
import { canonOf, ROUTE_PROTOCOL, RouteSync, RouteWriter, replaceLine, unicastRoute } from '../packages/dataplane/dist/src/index.js';

const SIZES = [10_000, 100_000];
const REPS = 3;
const ns = `tr${process.pid.toString(36)}-routes`;
const work = mkdtempSync(join(tmpdir(), 'terrace-bench-routes-'));
const quiet = { debug() {}, info() {}, warn: (m, x) => console.error(m, x ?? ''), error: (m, x) => console.error(m, x ?? '') };

function ip(...args) {
  const r = spawnSync('ip', args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

function ipBatchFile(file) {
  return new Promise((resolve, reject) => {
    const c = spawn('ip', ['-n', ns, '-batch', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ip -batch exited ${code}: ${err.slice(0, 200)}`))));
  });
}

function flushRoutes() {
  ip('-n', ns, 'route', 'flush', 'proto', String(ROUTE_PROTOCOL));
}

function countRoutes() {
  return ip('-n', ns, '-4', 'route', 'show', 'proto', String(ROUTE_PROTOCOL)).split('\n').filter((l) => l !== '').length;
}

function makeRoutes(n) {
  const gw = parseIP('198.18.0.2');
  const base = (198 << 24) + (18 << 16) + (64 << 8); // 198.18.64.0
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const a = base + i;
    const dst = parseCidr(`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/32`);
    out[i] = unicastRoute(dst, { via: gw });
  }
  return out;
}

const seconds = (t0) => Number(((performance.now() - t0) / 1000).toFixed(4));

async function smallBatches(count) {
  const gw = parseIP('198.18.0.2');
  const routes = makeRoutes(count).map((r) => unicastRoute(r.dst, { via: gw }));
  const lines = routes.map((r) => [replaceLine(r)]);
  flushRoutes();
  const batch = new RouteWriter({ netns: ns });
  let t0 = performance.now();
  for (const r of routes) await batch.run([['replace', canonOf(r)]]);
  const persistent = seconds(t0);
  await batch.close();
  flushRoutes();
  t0 = performance.now();
  for (const l of lines) {
    await new Promise((resolve, reject) => {
      const c = spawn('ip', ['-n', ns, '-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'ignore'] });
      c.on('error', reject);
      c.on('close', resolve);
      c.stdin.end(l.join('\n') + '\n');
    });
  }
  const perBatch = seconds(t0);
  flushRoutes();
  return { batches: count, routes_per_batch: 1, persistent_relay_s: persistent, ip_per_batch_s: perBatch };
}

async function main() {
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', ns, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb');
  ip('-n', ns, 'addr', 'add', '198.18.0.1/24', 'dev', 'va');
  ip('-n', ns, 'link', 'set', 'va', 'up');
  ip('-n', ns, 'link', 'set', 'vb', 'up');

  const runs = [];
  const detail = [];
  let sync100k;
  for (const n of SIZES) {
    const routes = makeRoutes(n);
    const file = join(work, `routes-${n}.batch`);
    writeFileSync(file, routes.map((r) => replaceLine(r)).join('\n') + '\n');
    let bestRaw = Infinity;
    let bestSync = Infinity;
    for (let rep = 0; rep < REPS; rep++) {
      flushRoutes();
      let t0 = performance.now();
      await ipBatchFile(file);
      const raw = seconds(t0);
      if (countRoutes() !== n) throw new Error(`raw batch installed ${countRoutes()} of ${n} routes`);
      flushRoutes();

      // Fresh route objects: a caller hands over new ones, so canonical forms are computed in the timing.
      const fresh = rep === 0 ? routes : makeRoutes(n);
      const sync = new RouteSync({ netns: ns, resyncIntervalMs: 0, logger: quiet });
      t0 = performance.now();
      sync.setDesired(fresh);
      await sync.flush();
      const synced = seconds(t0);
      if (countRoutes() !== n) throw new Error(`route sync installed ${countRoutes()} of ${n} routes`);
      if (n === 100_000 && rep === REPS - 1) sync100k = sync;
      else await sync.close();
      detail.push({ routes: n, rep, raw_batch_s: raw, sync_s: synced, ratio: Number((synced / raw).toFixed(3)) });
      bestRaw = Math.min(bestRaw, raw);
      bestSync = Math.min(bestSync, synced);
    }
    runs.push({ routes: n, sync_s: bestSync, raw_batch_s: bestRaw });
  }

  const resyncs = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const report = await sync100k.resync();
    resyncs.push(seconds(t0));
    if (report.replaced + report.removed !== 0 || report.kernelRoutes !== 100_000) {
      throw new Error(`no-change resync changed something: ${JSON.stringify(report)}`);
    }
  }
  await sync100k.close();
  flushRoutes();

  const small = await smallBatches(300);
  console.log(JSON.stringify({ detail, resync_100k_tries_s: resyncs, small_batches: small }));
  return { bench: 'routes', runs, resync_100k_s: Math.min(...resyncs) };
}

let summary;
try {
  summary = await main();
} finally {
  spawnSync('ip', ['netns', 'del', ns]);
  rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify(summary));
