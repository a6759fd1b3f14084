import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type IPPool, type Kind, type Resource, type TerraceNode, TerraceError } from '@terrace/api';
import { sharedEtcdEndpoint, uniqueCluster } from '@terrace/testkit';
import type { Etcd3 } from 'etcd3';
import { connect } from '../src/client.js';
import { resolveConnectionConfig } from '../src/config.js';
import { Keys } from '../src/keys.js';
import { EtcdResourceStore } from '../src/resources.js';
import { allKinds, bgpConfig, ipamConfig, node, peer, pool, userPart } from './fixtures.js';

const clients: Etcd3[] = [];

async function open(cluster: string): Promise<{ etcd: Etcd3; store: EtcdResourceStore; keys: Keys }> {
  const cfg = resolveConnectionConfig({ etcdEndpoints: sharedEtcdEndpoint(), cluster }, {}, '/nonexistent/terrace.yaml');
  const etcd = await connect(cfg);
  clients.push(etcd);
  const keys = new Keys(cluster);
  return { etcd, keys, store: new EtcdResourceStore(etcd, keys) };
}

/** Every key and value under the cluster's prefix, to prove a refused write changed nothing. */
async function dump(etcd: Etcd3, keys: Keys): Promise<Record<string, string>> {
  return etcd.getAll().prefix(keys.prefix).strings();
}

async function expectError(p: Promise<unknown>, code: TerraceError['code'], message?: string | RegExp): Promise<TerraceError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(TerraceError);
  const te = err as TerraceError;
  expect(te.code).toBe(code);
  if (typeof message === 'string') expect(te.message).toBe(message);
  else if (message) expect(te.message).toMatch(message);
  return te;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

afterAll(() => {
  for (const c of clients) c.close();
});

describe('EtcdResourceStore round trips', () => {
  let ctx: Awaited<ReturnType<typeof open>>;
  beforeAll(async () => {
    ctx = await open(uniqueCluster('rt'));
  });

  it('creates, gets and lists every kind unchanged, with uid, creationTimestamp and resourceVersion set', async () => {
    for (const r of allKinds()) {
      const created = await ctx.store.create(r);
      expect(userPart(created)).toEqual(userPart(r));
      expect(created.metadata.uid).toMatch(UUID);
      expect(created.metadata.creationTimestamp).toMatch(RFC3339);
      expect(created.metadata.resourceVersion).toMatch(/^[1-9]\d*$/);
      const got = await ctx.store.get(r.kind, r.metadata.name);
      expect(got).toEqual(created);
    }
    const kinds: Kind[] = ['IPPool', 'BGPPeer', 'BGPConfiguration', 'Node', 'IPAMConfig'];
    for (const k of kinds) {
      const { items, revision } = await ctx.store.list(k);
      const expected = allKinds().filter((r) => r.kind === k);
      expect(items.map(userPart)).toEqual(expect.arrayContaining(expected.map(userPart)));
      expect(items).toHaveLength(expected.length);
      for (const it of items) expect(BigInt(it.metadata.resourceVersion as string)).toBeLessThanOrEqual(BigInt(revision));
    }
  });

  it('stores JSON without resourceVersion at the key from Keys', async () => {
    const raw = await ctx.etcd.get(ctx.keys.resource('BGPPeer', 'tor-1')).json();
    const stored = raw as Resource;
    expect(stored.metadata.resourceVersion).toBeUndefined();
    expect(stored.metadata.uid).toMatch(UUID);
    expect(userPart(stored)).toEqual(userPart(peer('tor-1')));
  });

  it('preserves uid and creationTimestamp on replace and moves resourceVersion', async () => {
    const before = await ctx.store.get('Node', 'n1');
    const next = node('n1');
    next.metadata.labels = { rack: 'r2' };
    // A caller cannot rewrite the identity fields.
    next.metadata.uid = '00000000-0000-4000-8000-000000000000';
    next.metadata.creationTimestamp = '2000-01-01T00:00:00Z';
    const after = await ctx.store.replace(next);
    expect(after.metadata.uid).toBe(before.metadata.uid);
    expect(after.metadata.creationTimestamp).toBe(before.metadata.creationTimestamp);
    expect(BigInt(after.metadata.resourceVersion as string)).toBeGreaterThan(BigInt(before.metadata.resourceVersion as string));
    expect(after.metadata.labels).toEqual({ rack: 'r2' });
    expect(await ctx.store.get('Node', 'n1')).toEqual(after);
  });

  it('refuses a replace with a stale resourceVersion and keeps the stored object', async () => {
    const v1 = await ctx.store.get('BGPConfiguration', 'default');
    const v2in = bgpConfig();
    v2in.spec.listenPort = 1790;
    v2in.metadata.resourceVersion = v1.metadata.resourceVersion;
    const v2 = await ctx.store.replace(v2in);
    const stale = bgpConfig();
    stale.spec.listenPort = 179;
    stale.metadata.resourceVersion = v1.metadata.resourceVersion;
    await expectError(
      ctx.store.replace(stale),
      'Conflict',
      `bgpconfiguration/default: the object has been modified (resourceVersion ${v1.metadata.resourceVersion}, stored ${v2.metadata.resourceVersion}); get it again and retry`,
    );
    await expectError(ctx.store.applyAll([stale]), 'Conflict', /bgpconfiguration\/default: the object has been modified/);
    expect(await ctx.store.get('BGPConfiguration', 'default')).toEqual(v2);
  });

  it('reports AlreadyExists and NotFound', async () => {
    await expectError(ctx.store.create(ipamConfig()), 'AlreadyExists', 'ipamconfig/default already exists');
    await expectError(ctx.store.replace(peer('nope')), 'NotFound', 'bgppeer/nope not found');
    await expectError(ctx.store.get('BGPPeer', 'nope'), 'NotFound', 'bgppeer/nope not found');
    await expectError(ctx.store.delete('BGPPeer', 'nope'), 'NotFound', 'bgppeer/nope not found');
  });

  it('deletes, refusing a stale resourceVersion', async () => {
    const p = await ctx.store.create(peer('to-delete'));
    await ctx.store.replace({ ...peer('to-delete'), spec: { ...peer('to-delete').spec, asNumber: 65000 } });
    await expectError(ctx.store.delete('BGPPeer', 'to-delete', { resourceVersion: p.metadata.resourceVersion as string }), 'Conflict', /bgppeer\/to-delete: the object has been modified/);
    const gone = await ctx.store.delete('BGPPeer', 'to-delete');
    expect(gone.spec.asNumber).toBe(65000);
    await expectError(ctx.store.get('BGPPeer', 'to-delete'), 'NotFound');
  });
});

describe('applyAll', () => {
  let ctx: Awaited<ReturnType<typeof open>>;
  beforeAll(async () => {
    ctx = await open(uniqueCluster('apply'));
  });

  it('creates, then reports unchanged without writing, then configured', async () => {
    const batch = [pool('a', '10.10.0.0/16'), peer('p1'), node('n1')];
    const first = await ctx.store.applyAll(batch);
    expect(first.map((r) => r.action)).toEqual(['created', 'created', 'created']);
    // One transaction: every object carries the same revision.
    expect(new Set(first.map((r) => r.resource.metadata.resourceVersion)).size).toBe(1);

    const before = await dump(ctx.etcd, ctx.keys);
    const { revision: revBefore } = await ctx.store.list('IPPool');
    const again = await ctx.store.applyAll(batch);
    expect(again.map((r) => r.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(again.map((r) => r.resource)).toEqual(first.map((r) => r.resource));
    expect(await dump(ctx.etcd, ctx.keys)).toEqual(before);

    // What `get -o yaml` prints (with resourceVersion, uid, timestamp) applies back unchanged.
    const roundTrip = await ctx.store.applyAll(first.map((r) => r.resource));
    expect(roundTrip.map((r) => r.action)).toEqual(['unchanged', 'unchanged', 'unchanged']);

    const changed = [pool('a', '10.10.0.0/16', { natOutgoing: false }), peer('p1'), node('n1')];
    const third = await ctx.store.applyAll(changed);
    expect(third.map((r) => r.action)).toEqual(['configured', 'unchanged', 'unchanged']);
    expect(third[0]?.resource.metadata.uid).toBe(first[0]?.resource.metadata.uid);
  });

  it('is all-or-nothing: a batch whose third document overlaps a stored pool writes nothing', async () => {
    const before = await dump(ctx.etcd, ctx.keys);
    const batch = [peer('p2'), node('n2'), pool('b', '10.10.128.0/17'), pool('c', '10.20.0.0/16')];
    await expectError(ctx.store.applyAll(batch), 'Conflict', 'ippool/b: spec.cidr 10.10.128.0/17 overlaps ippool/a (10.10.0.0/16)');
    expect(await dump(ctx.etcd, ctx.keys)).toEqual(before);
  });

  it('refuses pools in one batch that overlap each other (IPv6 too)', async () => {
    const before = await dump(ctx.etcd, ctx.keys);
    await expectError(ctx.store.applyAll([pool('v6a', 'fd00:1::/48'), pool('v6b', 'fd00:1:0:4::/64')]), 'Conflict', /^ippool\/v6a: spec.cidr fd00:1::\/48 overlaps ippool\/v6b \(fd00:1:0:4::\/64\)$/);
    expect(await dump(ctx.etcd, ctx.keys)).toEqual(before);
    // IPv4 and IPv6 never overlap each other.
    const ok = await ctx.store.applyAll([pool('v6a', 'fd00:1::/48'), pool('v4z', '10.30.0.0/16')]);
    expect(ok.map((r) => r.action)).toEqual(['created', 'created']);
  });

  it('refuses a change of cidr or blockSize, by replace and by apply', async () => {
    const before = await dump(ctx.etcd, ctx.keys);
    await expectError(ctx.store.replace(pool('a', '10.10.0.0/15')), 'Invalid', 'ippool/a: spec.cidr is immutable (stored 10.10.0.0/16, got 10.10.0.0/15); create a new pool instead');
    await expectError(ctx.store.applyAll([peer('p9'), pool('a', '10.10.0.0/16', { blockSize: 28 })]), 'Invalid', /^ippool\/a: spec.blockSize is immutable \(stored 26, got 28\)/);
    expect(await dump(ctx.etcd, ctx.keys)).toEqual(before);
  });

  it('refuses the same object twice in one batch', async () => {
    await expectError(ctx.store.applyAll([peer('dup'), peer('dup')]), 'Invalid', 'bgppeer/dup: appears more than once in the same request');
  });

  it('dryRun checks everything and writes nothing', async () => {
    const before = await dump(ctx.etcd, ctx.keys);
    const res = await ctx.store.applyAll([pool('d', '10.40.0.0/16'), peer('p1'), pool('a', '10.10.0.0/16', { disabled: true })], { dryRun: true });
    expect(res.map((r) => r.action)).toEqual(['created', 'unchanged', 'configured']);
    await ctx.store.create(pool('e', '10.41.0.0/16'), { dryRun: true });
    await ctx.store.replace(pool('a', '10.10.0.0/16', { disabled: true }), { dryRun: true });
    await expectError(ctx.store.applyAll([pool('f', '10.10.0.0/24')], { dryRun: true }), 'Conflict', /overlaps ippool\/a/);
    await expectError(ctx.store.create(pool('a', '10.10.0.0/16'), { dryRun: true }), 'AlreadyExists');
    expect(await dump(ctx.etcd, ctx.keys)).toEqual(before);
  });

  it('writes more documents than one etcd transaction takes, in the input order; a bad one anywhere writes nothing', async () => {
    // etcd refuses a transaction of more than 128 operations (--max-txn-ops): 250 peers are three transactions.
    const peers = Array.from({ length: 250 }, (_, i) => peer(`many-${i}`));
    const before = await dump(ctx.etcd, ctx.keys);
    // The bad document comes last in the input, so it lands in the last transaction: still nothing is written.
    await expectError(ctx.store.applyAll([...peers, pool('late', '10.10.1.0/24')]), 'Conflict', /^ippool\/late: spec.cidr 10.10.1.0\/24 overlaps ippool\/a/);
    expect(await dump(ctx.etcd, ctx.keys)).toEqual(before);

    const seen: number[] = [];
    const out = await ctx.store.applyAll(peers, { onWritten: (done) => seen.push(done) });
    expect(out.map((r) => r.resource.metadata.name)).toEqual(peers.map((p) => p.metadata.name));
    expect(out.every((r) => r.action === 'created')).toBe(true);
    expect(seen).toEqual([100, 200, 250]);
    expect((await ctx.store.list('BGPPeer')).items.filter((p) => p.metadata.name.startsWith('many-'))).toHaveLength(250);
    const again = await ctx.store.applyAll(peers);
    expect(again.every((r) => r.action === 'unchanged')).toBe(true);
  });

  it('lets a deleted pool\'s range be reused', async () => {
    await ctx.store.create(pool('old', '10.50.0.0/16'));
    await expectError(ctx.store.create(pool('new', '10.50.0.0/24')), 'Conflict', /overlaps ippool\/old/);
    await ctx.store.delete('IPPool', 'old');
    const created = await ctx.store.create(pool('new', '10.50.0.0/24'));
    expect(created.spec.cidr).toBe('10.50.0.0/24');
  });
});

describe('pools and node addresses', () => {
  let ctx: Awaited<ReturnType<typeof open>>;
  const at = (name: string, v4: string | undefined, v6?: string): TerraceNode => ({ ...node(name), spec: { bgp: { ipv4Address: v4, ipv6Address: v6 } } }) as TerraceNode;
  beforeAll(async () => {
    ctx = await open(uniqueCluster('nodeaddr'));
    await ctx.store.applyAll([pool('lab', '198.19.0.0/16'), pool('lab6', 'fd00:19::/48'), at('n1', '198.18.0.11/24', '2001:db8::11/64')]);
  });

  it('refuses a pool holding a stored node\'s address, writing nothing of the batch', async () => {
    const before = await dump(ctx.etcd, ctx.keys);
    await expectError(
      ctx.store.applyAll([peer('first'), pool('tor-net', '198.18.0.0/24')]),
      'Conflict',
      "ippool/tor-net: spec.cidr 198.18.0.0/24 contains 198.18.0.11, the address of node/n1 (spec.bgp.ipv4Address); pods would be given the node's own address",
    );
    await expectError(ctx.store.create(pool('v6', '2001:db8::/64')), 'Conflict', /^ippool\/v6: spec.cidr 2001:db8::\/64 contains 2001:db8::11, the address of node\/n1 \(spec.bgp.ipv6Address\)/);
    expect(await dump(ctx.etcd, ctx.keys)).toEqual(before);
  });

  it('refuses a node whose address lies inside a stored pool, by create, replace and apply', async () => {
    const before = await dump(ctx.etcd, ctx.keys);
    const msg = 'node/n2: spec.bgp.ipv4Address 198.19.4.2/24 lies inside ippool/lab (198.19.0.0/16); pods could be given the node\'s own address';
    await expectError(ctx.store.create(at('n2', '198.19.4.2/24')), 'Conflict', msg);
    await expectError(ctx.store.applyAll([at('n2', '198.19.4.2/24')]), 'Conflict', msg);
    await expectError(ctx.store.replace(at('n1', '198.18.0.11/24', 'fd00:19::11/64')), 'Conflict', /^node\/n1: spec.bgp.ipv6Address fd00:19::11\/64 lies inside ippool\/lab6/);
    expect(await dump(ctx.etcd, ctx.keys)).toEqual(before);
  });

  it('refuses a reserved range written straight to the store', async () => {
    await expectError(ctx.store.create(pool('lo', '127.0.0.0/8')), 'Invalid', 'ippool/lo: spec.cidr 127.0.0.0/8 overlaps 127.0.0.0/8 (loopback), which pods cannot use');
  });

  it('a node write compares the pool guard but does not move it; unchanged addresses skip the check', async () => {
    const guard = ctx.keys.guard('ippools');
    const rev = (await ctx.etcd.get(guard).exec()).kvs[0]?.mod_revision;
    await ctx.store.create(at('n3', '198.18.0.13/24'));
    await ctx.store.applyAll([{ ...at('n3', '198.18.0.13/24'), metadata: { name: 'n3', labels: { rack: 'r2' } } }]);
    expect((await ctx.etcd.get(guard).exec()).kvs[0]?.mod_revision).toBe(rev);
  });
});

describe('concurrent writers', () => {
  const N = 20;
  let cluster: string;
  let ctxs: Awaited<ReturnType<typeof open>>[];
  beforeAll(async () => {
    cluster = uniqueCluster('race');
    ctxs = await Promise.all(Array.from({ length: N }, () => open(cluster)));
  });

  it(`${N} clients creating overlapping pools at once end with exactly one stored`, async () => {
    const pools = Array.from({ length: N }, (_, i) => pool(`race-${i}`, `10.60.0.0/${16 + (i % 8)}`));
    const results = await Promise.allSettled(pools.map((p, i) => (ctxs[i] as (typeof ctxs)[number]).store.create(p)));
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(won).toHaveLength(1);
    const winner = won[0] as IPPool;
    const { items } = await (ctxs[0] as (typeof ctxs)[number]).store.list('IPPool');
    expect(items.map((p) => p.metadata.name)).toEqual([winner.metadata.name]);
    for (const [i, r] of results.entries()) {
      if (r.status === 'fulfilled') continue;
      expect(r.reason).toBeInstanceOf(TerraceError);
      expect((r.reason as TerraceError).code).toBe('Conflict');
      expect((r.reason as TerraceError).message).toBe(
        `ippool/race-${i}: spec.cidr ${pools[i]?.spec.cidr} overlaps ippool/${winner.metadata.name} (${winner.spec.cidr})`,
      );
    }
  });

  it(`${N} pools and ${N} nodes inside them, written at once in pairs: never both of a pair stored`, async () => {
    const pools = Array.from({ length: N }, (_, i) => pool(`pair-${i}`, `10.62.${i}.0/24`));
    const nodes = Array.from({ length: N }, (_, i) => ({ ...node(`pair-${i}`), spec: { bgp: { ipv4Address: `10.62.${i}.5/24` } } }) as TerraceNode);
    const store = (i: number): EtcdResourceStore => (ctxs[i % N] as (typeof ctxs)[number]).store;
    const results = await Promise.allSettled(pools.flatMap((p, i) => [store(i).create(p), store(i + 1).create(nodes[i] as TerraceNode)]));
    for (let i = 0; i < N; i++) {
      const [p, n] = [results[2 * i], results[2 * i + 1]];
      expect([p?.status, n?.status].filter((s) => s === 'fulfilled')).toHaveLength(1);
      const failed = (p?.status === 'rejected' ? p.reason : (n as PromiseRejectedResult).reason) as TerraceError;
      expect(failed).toBeInstanceOf(TerraceError);
      expect(failed.code).toBe('Conflict');
    }
  });

  it(`${N} clients creating disjoint pools at once all succeed (lost races are retried)`, async () => {
    const pools = Array.from({ length: N }, (_, i) => pool(`ok-${i}`, `10.61.${i}.0/24`));
    const results = await Promise.all(pools.map((p, i) => (ctxs[i] as (typeof ctxs)[number]).store.applyAll([p])));
    expect(results.map((r) => r[0]?.action)).toEqual(pools.map(() => 'created'));
    const { items } = await (ctxs[0] as (typeof ctxs)[number]).store.list('IPPool');
    expect(items.filter((p) => p.metadata.name.startsWith('ok-'))).toHaveLength(N);
  });
});
