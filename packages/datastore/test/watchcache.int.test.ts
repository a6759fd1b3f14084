import { afterAll, describe, expect, it } from '@jest/globals';
import { type EtcdHandle, type RestartableEtcd, restartableEtcd, sharedEtcdEndpoint, startEtcd, uniqueCluster } from '@terrace/testkit';
import type { Etcd3, IKeyValue } from 'etcd3';
import { connect } from '../src/client.js';
import { resolveConnectionConfig } from '../src/config.js';
import { Keys } from '../src/keys.js';
import { EtcdResourceStore } from '../src/resources.js';
import { type WatchCache, WatchCache as Cache, type WatchChange, resourceWatchCache } from '../src/watchcache.js';
import { pool } from './fixtures.js';

const clients: Etcd3[] = [];
const caches: WatchCache<unknown>[] = [];
const etcds: EtcdHandle[] = [];
const restartables: RestartableEtcd[] = [];

afterAll(async () => {
  for (const c of caches) await c.close();
  for (const c of clients) c.close();
  for (const e of etcds) await e.stop();
  for (const r of restartables) await r.remove();
});

async function open(endpoint: string, cluster = 'default'): Promise<Etcd3> {
  const etcd = await connect(resolveConnectionConfig({ etcdEndpoints: endpoint, cluster }, {}, '/nonexistent/terrace.yaml'));
  clients.push(etcd);
  return etcd;
}

function stringCache(etcd: Etcd3, prefix: string, afterList?: (rev: string) => Promise<void>): WatchCache<string> {
  const c = new Cache<string>(etcd, { prefix, decode: (kv: IKeyValue) => kv.value.toString(), retryMs: 50, maxRetryMs: 500, ...(afterList ? { afterList } : {}) });
  caches.push(c as WatchCache<unknown>);
  return c;
}

/** Records every change and replays it onto a map, as a subscriber would. */
function record<T>(cache: WatchCache<T>) {
  const changes: WatchChange<T>[] = [];
  const replay = new Map<string, T>();
  const reasons: string[] = [];
  cache.on('change', (c) => {
    changes.push(c);
    if (c.type === 'deleted') replay.delete(c.key);
    else replay.set(c.key, c.value as T);
  });
  cache.on('resync', (r) => reasons.push(r));
  return { changes, replay, reasons };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function contents(etcd: Etcd3, prefix: string): Promise<Record<string, string>> {
  return etcd.getAll().prefix(prefix).strings();
}

function summary<T>(changes: WatchChange<T>[]): string[] {
  return changes.map((c) => `${c.type} ${c.key.split('/').pop()} ${String(c.value ?? '-')} ${String(c.prev ?? '-')}`);
}

describe('WatchCache on the shared etcd', () => {
  it('lists what exists, then sees puts and deletes in order', async () => {
    const etcd = await open(sharedEtcdEndpoint());
    const base = new Keys(uniqueCluster('wc')).prefix;
    const prefix = `${base}items/`;
    await etcd.put(`${prefix}a0`).value('v0');
    await etcd.put(`${base}itemsx`).value('not ours');
    const cache = stringCache(etcd, prefix);
    const rec = record(cache);
    let synced = 0;
    cache.on('synced', () => synced++);
    cache.start();
    await cache.waitSynced();
    expect(synced).toBe(1);
    expect(cache.entries()).toEqual([[`${prefix}a0`, 'v0']]);

    await etcd.put(`${prefix}a`).value('1');
    await etcd.put(`${prefix}b`).value('2');
    await etcd.put(`${prefix}a`).value('3');
    await etcd.delete().key(`${prefix}b`);
    await etcd.delete().key(`${prefix}never`);
    await etcd.put(`${base}itemsx`).value('still not ours');
    await etcd.put(`${prefix}c`).value('4');
    await until('6 changes', () => rec.changes.length >= 6);
    await new Promise((r) => setTimeout(r, 100));
    expect(summary(rec.changes)).toEqual(['added a0 v0 -', 'added a 1 -', 'added b 2 -', 'modified a 3 1', 'deleted b - 2', 'added c 4 -']);
    const revs = rec.changes.map((c) => BigInt(c.revision));
    expect([...revs].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(revs);
    expect(Object.fromEntries(cache.entries())).toEqual(await contents(etcd, prefix));
    expect(Object.fromEntries(rec.replay)).toEqual(await contents(etcd, prefix));
    expect(cache.revision).toBe(rec.changes[5]?.revision);
  });

  it('resourceWatchCache follows a kind with resourceVersion set', async () => {
    const cluster = uniqueCluster('rwc');
    const etcd = await open(sharedEtcdEndpoint(), cluster);
    const keys = new Keys(cluster);
    const store = new EtcdResourceStore(etcd, keys);
    const cache = resourceWatchCache(etcd, keys, 'IPPool');
    caches.push(cache as WatchCache<unknown>);
    const rec = record(cache);
    cache.start();
    await cache.waitSynced();
    const created = await store.create(pool('w', '10.70.0.0/16'));
    const replaced = await store.replace(pool('w', '10.70.0.0/16', { disabled: true }));
    await store.delete('IPPool', 'w');
    await until('3 changes', () => rec.changes.length >= 3);
    expect(rec.changes.map((c) => c.type)).toEqual(['added', 'modified', 'deleted']);
    expect(rec.changes[0]?.value).toEqual(created);
    expect(rec.changes[1]?.value).toEqual(replaced);
    expect(rec.changes[1]?.prev).toEqual(created);
    expect(rec.changes[2]?.prev).toEqual(replaced);
    expect(cache.size).toBe(0);
  });

  it('keysOnly lists keys without their values, and still follows puts and deletes', async () => {
    const etcd = await open(sharedEtcdEndpoint());
    const prefix = `/test/${uniqueCluster('wc-keys')}/`;
    await etcd.put(`${prefix}a`).value('a-body').exec();
    const c = new Cache<string>(etcd, { prefix, keysOnly: true, decode: (kv: IKeyValue) => kv.value.toString() });
    caches.push(c as WatchCache<unknown>);
    await c.waitSynced();
    expect(c.get(`${prefix}a`)).toBe(''); // listed without its body
    await etcd.put(`${prefix}b`).value('b-body').exec();
    await until('b', () => c.size === 2);
    await etcd.delete().key(`${prefix}a`).exec();
    await until('a gone', () => c.size === 1 && c.get(`${prefix}b`) !== undefined);
  });

  it('rejects waitSynced when closed before syncing', async () => {
    const etcd = await open(sharedEtcdEndpoint());
    const cache = stringCache(etcd, `${new Keys(uniqueCluster('wcc')).prefix}x/`);
    const p = cache.waitSynced();
    // Closed before the first list can have completed.
    await cache.close();
    await expect(p).rejects.toThrow(/closed before it synced/);
  });
});

describe('WatchCache re-lists', () => {
  it('after its watch start revision was compacted, emitting the missed changes as a diff', async () => {
    const e = await startEtcd({ name: 'compact-test' });
    etcds.push(e);
    const etcd = await open(e.endpoint);
    const prefix = '/terrace/v1/default/compact/';
    await etcd.put(`${prefix}gone`).value('0');
    await etcd.put(`${prefix}kept`).value('0');
    let first = true;
    let compactedTo = '';
    const cache = stringCache(etcd, prefix, async (listRev) => {
      if (!first) return;
      first = false;
      // Changes the watch would have reported, then compaction past them.
      await etcd.put(`${prefix}new`).value('1');
      await etcd.put(`${prefix}kept`).value('2');
      await etcd.delete().key(`${prefix}gone`);
      const head = await etcd.put(`${prefix}other`).value('x');
      compactedTo = head.header.revision;
      expect(BigInt(compactedTo)).toBeGreaterThan(BigInt(listRev) + 1n);
      await etcd.kv.compact({ revision: compactedTo, physical: true });
    });
    const rec = record(cache);
    cache.start();
    await cache.waitSynced();
    await until('re-list after compaction', () => rec.reasons.length >= 2 && compactedTo !== '' && BigInt(cache.revision) >= BigInt(compactedTo) && cache.size === 3);
    expect(rec.reasons[1]).toMatch(/compact/);
    // The re-list's diff comes in key order.
    expect(summary(rec.changes)).toEqual(['added gone 0 -', 'added kept 0 -', 'deleted gone - 0', 'modified kept 2 0', 'added new 1 -', 'added other x -']);
    // And the new watch works.
    await etcd.put(`${prefix}later`).value('3');
    await until('later', () => cache.get(`${prefix}later`) === '3');
    expect(Object.fromEntries(rec.replay)).toEqual(await contents(etcd, prefix));
    expect(Object.fromEntries(cache.entries())).toEqual(await contents(etcd, prefix));
  });

  it('after etcd restarts, converging on what etcd holds with a consistent change stream', async () => {
    const r = await restartableEtcd('restart-test');
    restartables.push(r);
    const etcd = await open(r.endpoint);
    const prefix = '/terrace/v1/default/restart/';
    for (const k of ['a', 'b', 'c']) await etcd.put(`${prefix}${k}`).value('0');
    const cache = stringCache(etcd, prefix);
    const rec = record(cache);
    let unavailable = 0;
    cache.on('unavailable', () => unavailable++);
    cache.start();
    await cache.waitSynced();
    expect(cache.size).toBe(3);

    await r.stop();
    await until('the cache notices', () => rec.reasons.length >= 2);
    await until('a failed re-list', () => unavailable >= 1);
    await r.start();
    // A second client writes as soon as etcd is back, racing the cache's re-list.
    const writer = await open(r.endpoint);
    await writer.put(`${prefix}a`).value('1');
    await writer.delete().key(`${prefix}b`);
    await writer.put(`${prefix}d`).value('1');
    const want = await contents(writer, prefix);
    await until('the cache matches etcd', () => JSON.stringify(Object.fromEntries([...cache.entries()].sort())) === JSON.stringify(want));
    await writer.put(`${prefix}e`).value('2');
    await until('e', () => cache.get(`${prefix}e`) === '2');
    expect(Object.fromEntries(rec.replay)).toEqual(await contents(writer, prefix));
    expect(rec.reasons[1]).toMatch(/watch (disconnected|failed)/);
  });
});
