/**
 * Metrics and health of running daemons, scraped over HTTP from the fabric
 * namespace: a GoBGP node, a BIRD node and the controller. Every metric
 * family is present and its values agree with what the lab did (pods
 * created, a CNI failure, sessions up); /readyz goes not-ready while etcd is
 * stopped and ready again after, while /healthz stays ok; a node that goes
 * away shows its addresses as garbage-collection candidates during its
 * grace period and as reclamations after.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { POOL_A, TOR_IP, TerraceLab, callCni, destroyLab, runIn, waitUntil } from '../src/index.js';

let lab: TerraceLab;

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 2, birdNodes: [2], controllerGrace: '15s', metrics: true });
  await lab.waitSessions(60_000);
}, 240_000);

afterAll(async () => {
  if (lab) expect(await destroyLab(lab)).toEqual([]);
}, 60_000);

interface Scrape {
  status: number;
  body: string;
}

async function get(url: string): Promise<Scrape> {
  const r = await runIn(lab.fabricNs, 'curl', ['-s', '--max-time', '10', '-w', '\n%{http_code}', url], { timeoutMs: 15_000 });
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
}

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text → family name → samples (by sample name: histograms give `_count`, `_sum`, `_bucket`). */
function parse(text: string): { types: Map<string, string>; samples: Map<string, Sample[]> } {
  const types = new Map<string, string>();
  const samples = new Map<string, Sample[]>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) types.set(t[1] as string, t[2] as string);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    const list = samples.get(m[1] as string) ?? [];
    list.push({ labels, value: Number(m[3]) });
    samples.set(m[1] as string, list);
  }
  return { types, samples };
}

async function scrape(name: string): Promise<ReturnType<typeof parse>> {
  const r = await get(`${lab.metricsUrl(name)}/metrics`);
  expect(r.status).toBe(200);
  return parse(r.body);
}

/** The one sample of `name` whose labels include `want`, or undefined. */
function value(m: ReturnType<typeof parse>, name: string, want: Record<string, string> = {}): number | undefined {
  const s = (m.samples.get(name) ?? []).filter((x) => Object.entries(want).every(([k, v]) => x.labels[k] === v));
  if (s.length > 1) throw new Error(`${name} ${JSON.stringify(want)}: ${s.length} samples`);
  return s[0]?.value;
}

const AGENT_FAMILIES = [
  'terrace_bgp_peer_up',
  'terrace_bgp_peer_prefixes_received',
  'terrace_bgp_peer_prefixes_accepted',
  'terrace_bgp_peer_prefixes_advertised',
  'terrace_bgp_peer_uptime_seconds',
  'terrace_bgp_peer_updates_received',
  'terrace_bgp_peer_updates_sent',
  'terrace_route_sync_routes',
  'terrace_route_table_resync_seconds',
  'terrace_route_sync_kernel_errors_total',
  'terrace_cni_request_duration_seconds',
  'terrace_cni_failures_total',
  'terrace_etcd_request_duration_seconds',
  'terrace_etcd_request_errors_total',
  'terrace_agent_reconcile_seconds',
  'terrace_agent_reconcile_lag_seconds',
  'process_cpu_seconds_total',
  'nodejs_eventloop_lag_seconds',
];

const CONTROLLER_FAMILIES = [
  'ipam_allocations_in_use',
  'ipam_allocations_borrowed',
  'ipam_blocks',
  'ipam_ippool_size',
  'ipam_allocations_gc_candidates',
  'ipam_allocations_gc_reclamations',
  'terrace_controller_is_leader',
  'terrace_controller_pass_seconds',
  'terrace_controller_pass_errors_total',
  'terrace_controller_last_pass_age_seconds',
  'terrace_remote_clusters',
  'terrace_remote_cluster_sync_lag_seconds',
  'terrace_remote_cluster_connected',
  'terrace_remote_cluster_overlaps',
  'terrace_etcd_request_duration_seconds',
  'terrace_etcd_request_errors_total',
  'process_cpu_seconds_total',
];

describe('metrics and health', () => {
  test('every family, with values that match what the lab did (GoBGP node, BIRD node, controller)', async () => {
    await lab.addPod('node-1', 'm1');
    await lab.addPod('node-1', 'm2');
    await lab.addPod('node-2', 'm3');
    // One ADD that fails: a pool that does not exist (NotFound).
    const node1 = lab.node('node-1');
    const ns = await lab.kit.addNamespace('pod-mbad');
    const bad = await callCni({ command: 'ADD', nodeNs: node1.ns, cniPath: lab.cniPath, agentSocket: node1.socket, containerId: randomBytes(16).toString('hex'), podNs: ns, podName: 'mbad', ipv4Pools: ['no-such-pool'] });
    await lab.kit.removeNamespace(ns);
    expect(bad.code).not.toBe(0);
    const badCode = String(bad.json?.code);

    const nodeIps = { 'node-1': lab.node('node-1').ip, 'node-2': lab.node('node-2').ip };
    for (const [name, backend, other] of [['node-1', 'gobgp', 'node-2'], ['node-2', 'bird', 'node-1']] as const) {
      // Peer series follow the status publication (every 2 s in the lab): wait for the prefixes.
      let m = await scrape(name);
      await waitUntil(`${name}: peer metrics with prefixes`, async () => {
        m = await scrape(name);
        return (value(m, 'terrace_bgp_peer_prefixes_received', { peer: nodeIps[other] }) ?? 0) >= 1 && (value(m, 'terrace_bgp_peer_prefixes_advertised', { peer: TOR_IP }) ?? 0) >= 1;
      }, 30_000, 500);
      for (const f of AGENT_FAMILIES) expect([name, f, m.types.has(f)]).toEqual([name, f, true]);
      for (const peer of [TOR_IP, nodeIps[other]]) {
        expect(value(m, 'terrace_bgp_peer_up', { peer, backend })).toBe(1);
        expect(value(m, 'terrace_bgp_peer_uptime_seconds', { peer })).toBeGreaterThan(0);
        // Every node sends its block to each peer.
        expect(value(m, 'terrace_bgp_peer_updates_sent', { peer })).toBeGreaterThan(0);
      }
      // The other node's block comes from the other node (from the ToR it carries our own AS: BIRD drops it uncounted).
      expect(value(m, 'terrace_bgp_peer_updates_received', { peer: nodeIps[other] })).toBeGreaterThan(0);
      expect(value(m, 'terrace_bgp_peer_updates_received', { peer: TOR_IP })).toBeGreaterThanOrEqual(0);
      expect(value(m, 'terrace_bgp_peer_prefixes_accepted', { peer: nodeIps[other] })).toBeGreaterThanOrEqual(1);
      expect(value(m, 'terrace_route_sync_routes')).toBeGreaterThan(0);
      expect(value(m, 'terrace_route_table_resync_seconds_count')).toBeGreaterThanOrEqual(1);
      expect(value(m, 'terrace_route_sync_kernel_errors_total')).toBe(0);
      expect(value(m, 'terrace_etcd_request_duration_seconds_count')).toBeGreaterThan(0);
      expect(value(m, 'terrace_agent_reconcile_seconds_count')).toBeGreaterThanOrEqual(1);
      // The first pod's block was claimed through etcd: the watch saw it, a pass applied it.
      expect(value(m, 'terrace_agent_reconcile_lag_seconds_count')).toBeGreaterThanOrEqual(1);
      expect(value(m, 'process_cpu_seconds_total', { node: name })).toBeGreaterThan(0);
      console.log(`${name} (${backend}): ${m.samples.size} samples names; peer ${nodeIps[other]} updates in/out ${value(m, 'terrace_bgp_peer_updates_received', { peer: nodeIps[other] })}/${value(m, 'terrace_bgp_peer_updates_sent', { peer: nodeIps[other] })}`);
    }
    const m1 = await scrape('node-1');
    expect(value(m1, 'terrace_cni_request_duration_seconds_count', { command: 'ADD' })).toBe(3);
    expect(value(m1, 'terrace_cni_failures_total', { command: 'ADD', code: badCode })).toBe(1);
    const m2 = await scrape('node-2');
    expect(value(m2, 'terrace_cni_request_duration_seconds_count', { command: 'ADD' })).toBe(1);

    // The controller refreshes IPAM after each pass (every second in the lab).
    let c = await scrape('controller');
    await waitUntil('controller IPAM metrics', async () => {
      c = await scrape('controller');
      return value(c, 'ipam_allocations_in_use', { ippool: POOL_A.name, node: 'node-1' }) === 2;
    }, 20_000, 500);
    for (const f of CONTROLLER_FAMILIES) expect(['controller', f, c.types.has(f)]).toEqual(['controller', f, true]);
    expect(value(c, 'ipam_allocations_in_use', { ippool: POOL_A.name, node: 'node-2' })).toBe(1);
    expect(value(c, 'ipam_blocks', { ippool: POOL_A.name, node: 'node-1' })).toBe(1);
    expect(value(c, 'ipam_blocks', { ippool: POOL_A.name, node: 'node-2' })).toBe(1);
    expect(value(c, 'ipam_ippool_size', { ippool: POOL_A.name })).toBe(2 ** (32 - 17));
    expect(value(c, 'ipam_allocations_borrowed', { ippool: POOL_A.name, node: 'node-1' })).toBeUndefined();
    expect(value(c, 'terrace_controller_is_leader')).toBe(1);
    expect(value(c, 'terrace_controller_pass_seconds_count', { kind: 'periodic' })).toBeGreaterThan(0);
    expect(value(c, 'terrace_controller_last_pass_age_seconds')).toBeLessThan(30);
    expect(value(c, 'terrace_remote_clusters')).toBe(0);
    expect(value(c, 'terrace_etcd_request_duration_seconds_count')).toBeGreaterThan(0);
  }, 120_000);

  test('/readyz goes not-ready while etcd is stopped and ready after; /healthz stays ok', async () => {
    const targets = ['node-1', 'node-2', 'controller'];
    for (const t of targets) {
      const r = await get(`${lab.metricsUrl(t)}/readyz`);
      expect([t, r.status]).toEqual([t, 200]);
      expect(JSON.parse(r.body)).toMatchObject({ status: 'ok' });
    }
    await lab.stopEtcd();
    try {
      for (const t of targets) {
        await waitUntil(`${t} not ready without etcd`, async () => (await get(`${lab.metricsUrl(t)}/readyz`)).status === 503, 30_000, 500);
        const r = await get(`${lab.metricsUrl(t)}/readyz`);
        const body = JSON.parse(r.body) as { status: string; checks: { name: string; ok: boolean; detail: string }[] };
        expect(body.status).toBe('failing');
        expect(body.checks.find((c) => c.name === 'etcd')).toMatchObject({ ok: false });
        console.log(`${t} without etcd: ${JSON.stringify(body.checks.find((c) => c.name === 'etcd'))}`);
        const h = await get(`${lab.metricsUrl(t)}/healthz`);
        expect([t, h.status, h.body]).toEqual([t, 200, expect.stringContaining('"status":"ok"')]);
      }
    } finally {
      await lab.restartEtcd();
    }
    for (const t of targets) {
      await waitUntil(`${t} ready again`, async () => (await get(`${lab.metricsUrl(t)}/readyz`)).status === 200, 60_000, 500);
    }
    const m = await scrape('node-1');
    expect(value(m, 'terrace_etcd_request_errors_total', { code: 'Unavailable' })).toBeGreaterThan(0);
  }, 150_000);

  test('a node that goes away: its addresses are GC candidates during the grace period, then reclamations', async () => {
    await lab.killNode('node-2', 'crash'); // agent and speaker: a node whose routes stay announced would be held, not freed
    let c = await scrape('controller');
    await waitUntil('node-2 addresses as GC candidates', async () => {
      c = await scrape('controller');
      return value(c, 'ipam_allocations_gc_candidates', { ippool: POOL_A.name, node: 'node-2' }) === 1;
    }, 30_000, 500);
    await waitUntil('node-2 addresses reclaimed', async () => {
      c = await scrape('controller');
      return value(c, 'ipam_allocations_gc_reclamations', { ippool: POOL_A.name, node: 'node-2' }) === 1;
    }, 60_000, 500);
    // The counter moves with the pass; the gauges with the re-read of IPAM that follows it.
    await waitUntil('node-2 gone from the IPAM gauges', async () => {
      c = await scrape('controller');
      return value(c, 'ipam_allocations_in_use', { ippool: POOL_A.name, node: 'node-2' }) === undefined;
    }, 20_000, 500);
    expect(value(c, 'ipam_allocations_gc_candidates', { ippool: POOL_A.name, node: 'node-2' })).toBeUndefined();
    expect(value(c, 'ipam_allocations_gc_reclamations', { ippool: POOL_A.name, node: 'node-2' })).toBe(1);
  }, 120_000);
});
