// The multi-cluster pool guard: a new IPPool that overlaps a pool listed in
// any remote cluster's cached state (multicluster/remotes/<name>) is refused,
// whole and with nothing written. The state docs are written here as test
// input, as the acting controller writes them.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RemoteClusterState, type RemotePool, TerraceError } from '@terrace/api';
import { sharedEtcdEndpoint, uniqueCluster } from '@terrace/testkit';
import type { Etcd3 } from 'etcd3';
import { connect } from '../src/client.js';
import { resolveConnectionConfig } from '../src/config.js';
import { Keys } from '../src/keys.js';
import { EtcdResourceStore } from '../src/resources.js';
import { node, pool } from './fixtures.js';

function state(name: string, pools: RemotePool[], clusterName = name): RemoteClusterState {
  return {
    name,
    uid: `uid-${name}`,
    clusterName,
    connection: 'Connected',
    stale: false,
    revision: '42',
    lastSynced: '2026-12-07T12:00:00Z',
    pools,
    blocks: 0,
    nodes: 0,
    asNumber: 64513,
    gateways: [],
    overlaps: [],
  };
}

const clients: Etcd3[] = [];
afterAll(() => {
  for (const c of clients) c.close();
});

async function open(): Promise<{ etcd: Etcd3; store: EtcdResourceStore; keys: Keys }> {
  const cluster = uniqueCluster('remote-guard');
  const cfg = resolveConnectionConfig({ etcdEndpoints: sharedEtcdEndpoint(), cluster }, {}, '/nonexistent/terrace.yaml');
  const etcd = await connect(cfg);
  clients.push(etcd);
  const keys = new Keys(cluster);
  return { etcd, keys, store: new EtcdResourceStore(etcd, keys) };
}

async function refusal(p: Promise<unknown>): Promise<TerraceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TerraceError);
  return err as TerraceError;
}

describe('pool writes against remote clusters', () => {
  let ctx: Awaited<ReturnType<typeof open>>;
  const dump = (): Promise<Record<string, string>> => ctx.etcd.getAll().prefix(ctx.keys.prefix).strings();

  beforeAll(async () => {
    ctx = await open();
    // A pool that exists before the remote appears: it will overlap later.
    await ctx.store.create(pool('early', '198.19.8.0/24'));
    await ctx.etcd.put(ctx.keys.remoteState('cluster-b')).value(
      JSON.stringify(state('cluster-b', [
        { name: 'b-pool', cidr: '198.19.4.0/24', disabled: false },
        { name: 'b-old', cidr: '198.19.8.0/22', disabled: true },
        { name: 'b-v6', cidr: '2001:db8:b::/48', disabled: false },
      ])),
    );
    await ctx.etcd.put(ctx.keys.remoteState('c')).value(
      JSON.stringify(state('c', [{ name: 'c-pool', cidr: '::c612:0/112', disabled: false }], 'cluster-c')),
    );
  });
  afterAll(async () => {
    await ctx.etcd.delete().prefix(ctx.keys.prefix).exec();
  });

  it('refuses a new pool that overlaps a remote pool, naming the remote and its pool, writing nothing', async () => {
    const before = await dump();
    const err = await refusal(ctx.store.create(pool('a', '198.19.0.0/21')));
    expect(err.code).toBe('Conflict');
    expect(err.message).toBe('ippool/a: spec.cidr 198.19.0.0/21 overlaps pool b-pool (198.19.4.0/24) of remote cluster cluster-b');
    expect(err.resource).toBe('ippool/a');
    expect(err.field).toBe('spec.cidr');
    // Inside a remote pool, through apply, and as a dry run: refused the same way.
    expect((await refusal(ctx.store.applyAll([pool('inner', '198.19.4.64/26', { blockSize: 28 })]))).message).toBe(
      'ippool/inner: spec.cidr 198.19.4.64/26 overlaps pool b-pool (198.19.4.0/24) of remote cluster cluster-b',
    );
    expect((await refusal(ctx.store.create(pool('dry', '198.19.4.0/24'), { dryRun: true }))).code).toBe('Conflict');
    expect((await refusal(ctx.store.create(pool('v6', '2001:db8:b:1::/64')))).message).toBe(
      'ippool/v6: spec.cidr 2001:db8:b:1::/64 overlaps pool b-v6 (2001:db8:b::/48) of remote cluster cluster-b',
    );
    expect(await dump()).toEqual(before);
  });

  it('refuses a many-document apply whole when one pool overlaps', async () => {
    const before = await dump();
    const err = await refusal(ctx.store.applyAll([pool('fine', '198.18.64.0/24'), node('n1'), pool('bad', '198.19.10.0/24'), pool('fine2', '198.18.65.0/24')]));
    // Disabled remote pools still count: they may hold addresses.
    expect(err.message).toBe('ippool/bad: spec.cidr 198.19.10.0/24 overlaps pool b-old (198.19.8.0/22) of remote cluster cluster-b');
    expect(await dump()).toEqual(before);
  });

  it('accepts pools that overlap no remote pool, and judges each family on its own', async () => {
    // 198.18.128.0/17 lies numerically inside remote c's ::c612:0/112, which is of the other family.
    const created = await ctx.store.applyAll([pool('free', '198.18.128.0/17'), pool('free-v6', '2001:db8:a::/48')]);
    expect(created.map((c) => c.action)).toEqual(['created', 'created']);
  });

  it('names the remote cluster by its resource and its cluster name when they differ', async () => {
    const err = await refusal(ctx.store.create(pool('x', '::c612:0/120')));
    expect(err.message).toBe('ippool/x: spec.cidr ::c612:0/120 overlaps pool c-pool (::c612:0/112) of remote cluster c (cluster name cluster-c)');
  });

  it('keeps an existing pool that overlaps editable (its cidr cannot change)', async () => {
    const stored = await ctx.store.get('IPPool', 'early');
    const disabled = pool('early', '198.19.8.0/24', { disabled: true });
    const out = await ctx.store.replace(disabled);
    expect(out.spec.disabled).toBe(true);
    expect(out.metadata.uid).toBe(stored.metadata.uid);
    const again = await ctx.store.applyAll([pool('early', '198.19.8.0/24', { disabled: false })]);
    expect(again[0]?.action).toBe('configured');
  });

  it('fails a pool create on an unreadable state doc, naming the key; other writes go on', async () => {
    const key = ctx.keys.remoteState('broken');
    await ctx.etcd.put(key).value('{"name": "broken", "pools": [');
    try {
      const before = await dump();
      const err = await refusal(ctx.store.create(pool('later', '198.19.200.0/24')));
      expect(err.code).toBe('Internal');
      expect(err.message).toMatch(new RegExp(`^${key}: the stored remote cluster state is not readable \\(not JSON: `));
      expect(err.message).not.toMatch(/\n/);
      expect(await dump()).toEqual(before);
      await ctx.etcd.put(key).value(JSON.stringify({ name: 'broken', pools: [{ name: 'p' }], gateways: [], overlaps: [] }));
      expect((await refusal(ctx.store.create(pool('later', '198.19.200.0/24')))).message).toBe(
        `${key}: the stored remote cluster state is not readable (pools[0] needs a name and a cidr); the acting controller rewrites it within seconds; if it does not, check that a controller runs and leads`,
      );
      // Writes that create no pool do not need the remote view.
      expect((await ctx.store.applyAll([pool('early', '198.19.8.0/24', { disabled: true }), node('n2')])).map((r) => r.action)).toEqual(['configured', 'created']);
    } finally {
      await ctx.etcd.delete().key(key).exec();
    }
  });
});
