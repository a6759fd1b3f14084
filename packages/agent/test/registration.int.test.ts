// Node registration and the lease-bound liveness key, against the shared test etcd.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EtcdResourceStore, Keys, connect, resolveConnectionConfig } from '@terrace/datastore';
import { sharedEtcdEndpoint, uniqueCluster } from '@terrace/testkit';
import type { Etcd3 } from 'etcd3';
import { Liveness } from '../src/liveness.js';
import { silentLogger } from '@terrace/log';
import { registerNode } from '../src/registration.js';

let etcd: Etcd3;
let keys: Keys;
let store: EtcdResourceStore;

beforeAll(async () => {
  const cfg = resolveConnectionConfig({ etcdEndpoints: sharedEtcdEndpoint(), cluster: uniqueCluster('agent-reg') }, {}, '/nonexistent');
  etcd = await connect(cfg);
  keys = new Keys(cfg.cluster);
  store = new EtcdResourceStore(etcd, keys);
});

afterAll(() => {
  etcd.close();
});

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 15000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('registerNode', () => {
  it('creates the Node, leaves it alone when nothing changed, and updates it keeping operator labels', async () => {
    const reg = { name: 'n1', addresses: { 4: '198.18.0.11/24' }, asNumber: undefined, labels: { rack: 'r1' }, backend: 'gobgp' as const };
    const first = await registerNode(store, reg);
    expect(first.action).toBe('created');
    expect(first.node.spec.bgp).toEqual({ ipv4Address: '198.18.0.11/24' });

    expect((await registerNode(store, reg)).action).toBe('unchanged');

    const stored = await store.get('Node', 'n1');
    await store.replace({ ...stored, metadata: { ...stored.metadata, labels: { ...stored.metadata.labels, team: 'net' } } });
    const moved = await registerNode(store, { ...reg, addresses: { 4: '198.18.0.21/24' }, asNumber: 65001 });
    expect(moved.action).toBe('updated');
    const now = await store.get('Node', 'n1');
    expect(now.metadata.labels).toEqual({ rack: 'r1', team: 'net', 'terrace.dev/bgp-backend': 'gobgp' });
    expect(now.spec.bgp).toEqual({ ipv4Address: '198.18.0.21/24', asNumber: 65001 });
  });
});

describe('Liveness', () => {
  it('keeps a lease-bound key, re-creates it when the lease is revoked, and removes it on stop', async () => {
    const key = keys.alive('n1');
    const statusKey = keys.status('n1');
    // A 5 s TTL: keepalives go every third of it, so a loaded machine that stalls
    // this process for a second or two does not lose the lease (which would
    // count as a renewal below).
    const live = new Liveness({ etcd, key, ttlSeconds: 5, value: () => 'up', log: silentLogger(), minRetryMs: 50 });
    // Leases granted again after one was lost: only the revoke below may cause one.
    let renewed = 0;
    live.on('renewed', () => {
      renewed += 1;
      void live.put(statusKey, 'again');
    });
    await live.start();
    await live.put(statusKey, 'first');
    expect(await etcd.get(key).string()).toBe('up');
    expect(await etcd.get(statusKey).string()).toBe('first');

    // Outlives a TTL through keepalives.
    await new Promise((r) => setTimeout(r, 6000));
    expect(await etcd.get(key).string()).toBe('up');

    // Someone revokes the lease: both keys go, then come back on a new lease.
    const id = await live.leaseId();
    expect(id).toBeDefined();
    await etcd.leaseClient.leaseRevoke({ ID: id as string });
    expect(await etcd.get(key).string()).toBeNull();
    expect(await until(() => etcd.get(key).string(), (v) => v === 'up')).toBe('up');
    expect(await until(() => etcd.get(statusKey).string(), (v) => v === 'again')).toBe('again');
    expect(renewed).toBe(1);
    expect(await live.leaseId()).not.toBe(id);

    await live.stop();
    expect(await etcd.get(key).string()).toBeNull();
    expect(await etcd.get(statusKey).string()).toBeNull();
  }, 30000);
});
