// The controller's metrics from a leading controller against real etcds: a remote cluster (its
// own etcd) whose pool overlaps a local one gives sync lag, connection and overlap series; the
// leader's IPAM series follow the blocks; a standby reports none of them.
import { afterEach, describe, expect, test } from '@jest/globals';
import { silentLogger } from '@terrace/log';
import { EtcdResourceStore, Keys } from '@terrace/datastore';
import { uniqueCluster } from '@terrace/testkit';
import { Etcd3 } from 'etcd3';
import { ControllerMetrics } from '../src/metrics.js';
import { type Harness, harness, pool, waitFor } from './fixtures.js';
import { FAST_REMOTE, type OwnEtcd, ownEtcd, remoteCluster } from './remote-fixtures.js';

let h: Harness | undefined;
let b: OwnEtcd | undefined;
const clients: Etcd3[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const c of clients.splice(0)) c.close();
  await b?.close();
  b = undefined;
});

/** The value of the one sample of `name` whose labels include `want` (label text as `k="v"`), or undefined. */
function sample(text: string, name: string, ...want: string[]): number | undefined {
  const lines = text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  const hit = lines.filter((l) => want.every((w) => l.includes(w)));
  if (hit.length > 1) throw new Error(`${name} ${want.join(',')}: ${hit.length} samples`);
  return hit[0] === undefined ? undefined : Number(hit[0].slice(hit[0].lastIndexOf(' ') + 1));
}

describe('controller metrics', () => {
  test('remote sync lag, connection and overlaps; IPAM from the leader only', async () => {
    b = await ownEtcd();
    const keysB = new Keys(uniqueCluster('mb'));
    const etcdB = new Etcd3({ hosts: b.endpoint });
    clients.push(etcdB);
    await new EtcdResourceStore(etcdB, keysB).create(pool('b-pool', '198.18.4.0/24'));

    h = harness('metrics');
    const x = h;
    await x.store.create(pool('a-pool', '198.18.0.0/16'));
    await x.etcd.put(x.keys.block('198.18.0.0/26')).value(JSON.stringify({ cidr: '198.18.0.0/26', affinity: 'host:n1', seq: 1, next: 1, allocations: { 0: { node: 'n1', handle: 'h1', seq: 1, time: 0 } } })).exec();
    await x.store.create(remoteCluster('cb', keysB.cluster, b.endpoint));
    const leader = await x.startController('ctl-a', { remote: FAST_REMOTE, intervalMs: 300 });
    await waitFor('A to lead', () => leader.c.isLeader());
    const m = new ControllerMetrics({ controller: leader.c, etcd: leader.etcd, keys: x.keys, store: new EtcdResourceStore(leader.etcd, x.keys), log: silentLogger(), identity: 'ctl-a' });
    const standby = await x.startController('ctl-b', { remote: FAST_REMOTE, intervalMs: 300 });
    const ms = new ControllerMetrics({ controller: standby.c, etcd: standby.etcd, keys: x.keys, store: new EtcdResourceStore(standby.etcd, x.keys), log: silentLogger(), identity: 'ctl-b' });

    let text = '';
    // Leading is read in the same scrape as the series it gates, not on its own afterwards.
    await waitFor('the remote and IPAM series, from the leader', async () => {
      text = await m.registry.metrics();
      return (
        sample(text, 'terrace_remote_cluster_overlaps', 'remote="cb"') === 1 &&
        sample(text, 'ipam_allocations_in_use', 'ippool="a-pool"', 'node="n1"') === 1 &&
        sample(text, 'terrace_controller_is_leader') === 1
      );
    }, 15_000);
    expect(sample(text, 'terrace_remote_clusters')).toBe(1);
    expect(sample(text, 'terrace_remote_cluster_connected', 'remote="cb"')).toBe(1);
    const lag = sample(text, 'terrace_remote_cluster_sync_lag_seconds', 'remote="cb"');
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(10);
    expect(sample(text, 'ipam_blocks', 'ippool="a-pool"', 'node="n1"')).toBe(1);
    expect(sample(text, 'ipam_ippool_size', 'ippool="a-pool"')).toBe(65536);

    // The remote goes away: disconnected, and the lag grows.
    await b.stop();
    await waitFor('the remote disconnected', async () => sample(await m.registry.metrics(), 'terrace_remote_cluster_connected', 'remote="cb"') === 0, 15_000);
    await waitFor('the lag growing', async () => (sample(await m.registry.metrics(), 'terrace_remote_cluster_sync_lag_seconds', 'remote="cb"') ?? 0) > 1, 15_000);

    // The standby reports no IPAM and no remote series.
    const st = await ms.registry.metrics();
    expect(sample(st, 'terrace_controller_is_leader')).toBe(0);
    expect(sample(st, 'ipam_allocations_in_use', 'ippool="a-pool"')).toBeUndefined();
    expect(sample(st, 'terrace_remote_clusters')).toBe(0);
  }, 60_000);

  test('a pass that released nothing gives its blocks to the IPAM series: they are not read again', async () => {
    h = harness('metrics-snap');
    const x = h;
    await x.store.create(pool('a-pool', '198.18.0.0/16'));
    await x.etcd.put(x.keys.block('198.18.0.0/26')).value(JSON.stringify({ cidr: '198.18.0.0/26', affinity: 'host:n1', seq: 1, next: 2, allocations: { 0: { node: 'n1', handle: 'h1', seq: 1, time: 0 }, 1: { node: 'n2', handle: 'h2', seq: 1, time: 0 } } })).exec();
    const leader = await x.startController('ctl-a', { intervalMs: 300 });
    await waitFor('A to lead', () => leader.c.isLeader());
    // The metrics' own etcd client reaches nothing: any block they read themselves would fail.
    const nowhere = new Etcd3({ hosts: '127.0.0.1:9', dialTimeout: 500 });
    clients.push(nowhere);
    const m = new ControllerMetrics({ controller: leader.c, etcd: nowhere, keys: x.keys, store: x.store, log: silentLogger(), identity: 'ctl-a' });
    await waitFor('the IPAM series from the pass', async () => sample(await m.registry.metrics(), 'ipam_allocations_borrowed', 'ippool="a-pool"', 'node="n2"') === 1, 15_000);
    expect(sample(await m.registry.metrics(), 'ipam_allocations_in_use', 'ippool="a-pool"', 'node="n1"')).toBe(1);
  }, 30_000);
});
