// The allocator and the multi-cluster fence (keys.fence()), on the real
// test etcd: fenced ranges are never handed out, held pools are not used,
// a fence written between the allocator's read and its commit fails the
// commit and the retry obeys it, allocations made before the fence stay
// and are released as usual, and without a fence doc nothing changes. A
// property run ends it: random fences, concurrent allocations from two nodes.
import { afterEach, expect, test } from '@jest/globals';
import { type TerraceError, addressAt, cidrContainsIP, formatCidr, isTerraceError, parseCidr, parseIP, subnetAt, subnetCount } from '@terrace/api';
import { resourceWatchCache } from '@terrace/datastore';
import fc from 'fast-check';
import { Allocator, type AllocateResult, type WatchedResources, fenceWatchCache } from '../src/index.js';
import { type TestCluster, fenced, putFence, putNode, putPool, testCluster } from './fixtures/cluster.js';

let c: TestCluster | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  await c?.close();
  c = undefined;
});

/** One /26 pool of one block (198.18.10.0/26, uid u-a) and one node. */
async function setup(tag: string): Promise<TestCluster> {
  c = testCluster(tag);
  await putPool(c, 'a', '198.18.10.0/26', { blockSize: 26 }, 'u-a');
  await putNode(c, 'n1');
  return c;
}

const add = (a: Allocator, h: string, extra: { pools?: string[]; ip?: string } = {}): Promise<AllocateResult> => a.allocate({ handle: h, node: 'n1', ...extra });
const failure = (p: Promise<unknown>): Promise<TerraceError> =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => {
      if (!isTerraceError(e)) throw e;
      return e;
    },
  );
const inside = (cidr: string, ip: string | undefined): boolean => ip !== undefined && cidrContainsIP(parseCidr(cidr), parseIP(ip));

test('no address comes out of a /28 fenced inside the only /26 block, even when it is the only free space left', async () => {
  const c = await setup('fence-range');
  await putFence(c, { cleared: { a: 'u-a' }, fenced: [fenced('198.18.10.16/28', 'a')] });
  const a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 });
  const rs = await Promise.all(Array.from({ length: 48 }, (_, i) => add(a, `h${i}`)));
  const ips = rs.map((r) => r.ips[0]?.ip);
  expect(new Set(ips).size).toBe(48);
  expect(ips.filter((ip) => inside('198.18.10.16/28', ip))).toEqual([]);
  const e = await failure(add(a, 'one-more'));
  expect(e.code).toBe('Exhausted');
  expect(e.message).toBe(
    'no free IPv4 address for node n1 in pools a (198.18.10.16/28 is fenced: it overlaps pool b-pool (198.18.10.16/28) of remote cluster cluster-b)',
  );
});

test('a specific address inside a fenced range is refused naming the range and the remote', async () => {
  const c = await setup('fence-ip');
  await putFence(c, { cleared: { a: 'u-a' }, fenced: [fenced('198.18.10.16/28', 'a')] });
  const a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 });
  const e = await failure(add(a, 'want', { ip: '198.18.10.20' }));
  expect(e.code).toBe('Conflict');
  expect(e.message).toBe('cannot allocate 198.18.10.20: 198.18.10.16/28 is fenced: it overlaps pool b-pool (198.18.10.16/28) of remote cluster cluster-b');
  expect((await add(a, 'want', { ip: '198.18.10.40' })).ips[0]?.ip).toBe('198.18.10.40');
});

test('a held pool is not used: the cleared one is, and with none cleared the error names the pool and why', async () => {
  const c = await setup('fence-held');
  await putPool(c, 'b', '198.18.11.0/26', { blockSize: 26 }, 'u-b');
  const reason = 'waiting for the overlap check against remote cluster cluster-b';
  await putFence(c, { cleared: { b: 'u-b' }, held: [{ pool: 'a', reason }] });
  const a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 });
  // "a" sorts first and would be used; held, it is skipped.
  expect((await add(a, 'h1')).ips[0]?.ip).toMatch(/^198\.18\.11\./);
  const named = await failure(add(a, 'h2', { pools: ['a'] }));
  expect(named.code).toBe('Exhausted');
  expect(named.message).toBe(`ippool/a: held: ${reason}`);
  const specific = await failure(add(a, 'h3', { ip: '198.18.10.5' }));
  expect(specific.code).toBe('Exhausted');
  expect(specific.message).toBe(`cannot allocate 198.18.10.5: ippool/a: held: ${reason}`);
  // Cleared under another uid (the pool was deleted and created again since): still held.
  await putFence(c, { cleared: { a: 'u-old', b: 'u-b' } });
  const stale = await failure(add(a, 'h4', { pools: ['a'] }));
  expect(stale.message).toBe('ippool/a: held: not yet cleared by the multi-cluster overlap check');
});

test('a fence written after the allocator read it fails the commit, and the retry obeys the new fence', async () => {
  const c = await setup('fence-race');
  // The view's read (pools and fence, no fence yet) is reused for a minute: every decision below is made on it.
  const a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 60_000 });
  expect((await add(a, 'warm')).ips[0]?.ip).toBe('198.18.10.0'); // the block's cursor is now at ordinal 1
  await putFence(c, { cleared: { a: 'u-a' }, fenced: [fenced('198.18.10.0/27', 'a')] });
  // Decided on "no fence", the next address would be .1; the commit compares the fence and fails.
  expect((await add(a, 'after')).ips[0]?.ip).toBe('198.18.10.32');
  // A specific address likewise: decided on the stale view, refused once the commit read the fence back.
  await putFence(c, { cleared: { a: 'u-a' }, fenced: [fenced('198.18.10.0/27', 'a'), fenced('198.18.10.48/28', 'a')] });
  const e = await failure(add(a, 'specific', { ip: '198.18.10.50' }));
  expect(e.message).toBe('cannot allocate 198.18.10.50: 198.18.10.48/28 is fenced: it overlaps pool b-pool (198.18.10.48/28) of remote cluster cluster-b');
});

test('a block claim decided before a fence was written fails and retries: no empty block is left inside the fenced range', async () => {
  const c = await setup('fence-claim');
  await putPool(c, 'b', '198.18.11.0/26', { blockSize: 26 }, 'u-b');
  // The view's read (pools and fence, no fence yet) is reused for a minute: the claim below is decided on it.
  const a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 60_000 });
  expect((await a.view.fence()).doc).toBeUndefined();
  await putFence(c, { cleared: { a: 'u-a', b: 'u-b' }, fenced: [fenced('198.18.10.0/26', 'a')] });
  // Decided on "no fence", pool a's only block is claimed first; its claim compares the fence and fails.
  expect((await add(a, 'h1')).ips[0]?.ip).toBe('198.18.11.0');
  const stored = await c.etcd.getAll().prefix(c.keys.blockPrefix()).keys();
  expect(
    stored.map((k) => {
      const b = c.keys.parseBlock(k);
      return b ? formatCidr(b) : k;
    }),
  ).toEqual(['198.18.11.0/26']);
  expect((await c.etcd.getAll().prefix(c.keys.affinityPrefix('n1')).keys()).length).toBe(1);
});

test('through a fence watch that lags, the commit still fails and the read-back fence holds until the watch catches up', async () => {
  const c = await setup('fence-watch');
  const pools = resourceWatchCache(c.etcd, c.keys, 'IPPool');
  const nodes = resourceWatchCache(c.etcd, c.keys, 'Node');
  const fw = fenceWatchCache(c.etcd, c.keys);
  closers.push(() => pools.close(), () => nodes.close(), () => fw.cache.close());
  await Promise.all([pools.waitSynced(), nodes.waitSynced(), fw.cache.waitSynced()]);
  const before = fw.fence(); // the watch as it stood before the fence was written
  let lagging = true;
  const watched: WatchedResources = { pools: () => pools.values(), nodes: () => nodes.values(), fence: () => (lagging ? before : fw.fence()) };
  const a = new Allocator({ etcd: c.etcd, keys: c.keys, watched });
  expect((await add(a, 'warm')).ips[0]?.ip).toBe('198.18.10.0');
  await putFence(c, { cleared: { a: 'u-a' }, fenced: [fenced('198.18.10.0/27', 'a')] });
  expect((await add(a, 'w1')).ips[0]?.ip).toBe('198.18.10.32');
  expect((await add(a, 'w2')).ips[0]?.ip).toBe('198.18.10.33');
  // The watch catches up with a later fence that lifts the range again: the watch wins from then on.
  await putFence(c, { cleared: { a: 'u-a' } });
  lagging = false;
  const deadline = Date.now() + 10_000;
  while (fw.fence().value?.text.includes('198.18.10.0/27') !== false && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect((await a.view.fence()).fenced).toEqual([]);
  expect((await add(a, 'w3', { ip: '198.18.10.5' })).ips[0]?.ip).toBe('198.18.10.5');
});

test('allocations made before the fence stay, a retried ADD gets them back, and they are released as usual', async () => {
  const c = await setup('fence-existing');
  const a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 });
  const before = await Promise.all(Array.from({ length: 4 }, (_, i) => add(a, `old${i}`)));
  const ips = before.map((r) => r.ips[0]?.ip);
  expect(ips).toEqual(['198.18.10.0', '198.18.10.1', '198.18.10.2', '198.18.10.3']);
  // With no new address anywhere (the whole pool fenced), a retried ADD still gets its own back.
  await putFence(c, { cleared: { a: 'u-a' }, fenced: [fenced('198.18.10.0/26', 'a')] });
  expect((await add(a, 'old2')).ips[0]?.ip).toBe('198.18.10.2');
  expect((await failure(add(a, 'brand-new'))).code).toBe('Exhausted');
  await putFence(c, { cleared: { a: 'u-a' }, fenced: [fenced('198.18.10.0/28', 'a')] });
  for (const ip of ips) expect((await a.lookup(ip as string))?.handle).toMatch(/^old/);
  expect((await add(a, 'old0')).ips[0]?.ip).toBe('198.18.10.0');
  expect((await add(a, 'old1', { ip: '198.18.10.1' })).ips[0]?.ip).toBe('198.18.10.1');
  expect((await a.release({ handle: 'old0' })).map((r) => r.ip)).toEqual(['198.18.10.0']);
  expect((await a.release({ ip: '198.18.10.1' })).map((r) => r.ip)).toEqual(['198.18.10.1']);
  expect(await a.lookup('198.18.10.0')).toBeUndefined();
  // Released inside the fence: not handed out again while it stands.
  expect((await add(a, 'new')).ips[0]?.ip).toBe('198.18.10.16');
});

test('without a fence doc every address of the pool is used; a fence removed again lifts its range', async () => {
  const c = await setup('fence-none');
  const a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 });
  await putFence(c, { cleared: { a: 'u-a' }, fenced: [fenced('198.18.10.0/26', 'a')] });
  const e = await failure(add(a, 'blocked'));
  expect(e.code).toBe('Exhausted');
  await c.etcd.delete().key(c.keys.fence()).exec();
  const rs = await Promise.all(Array.from({ length: 64 }, (_, i) => add(a, `h${i}`)));
  expect(new Set(rs.map((r) => r.ips[0]?.ip)).size).toBe(64);
});

test('a fence that is not a fence stops allocation with a clear error instead of being ignored', async () => {
  const c = await setup('fence-bad');
  await c.etcd.put(c.keys.fence()).value('{"cleared":{}}').exec();
  const a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 });
  const e = await failure(add(a, 'h1'));
  expect(e.code).toBe('Internal');
  expect(e.message).toBe(`${c.keys.fence()}: the stored cluster fence is not readable (held is not a list); the acting controller rewrites it within seconds; if it does not, check that a controller runs and leads`);
});

test('property: under random fences, allocations from two nodes never land in one and use all the space outside', async () => {
  const pool = parseCidr('198.18.40.0/25');
  const fenceArb = fc.array(
    fc.integer({ min: 26, max: 32 }).chain((len) => fc.bigInt({ min: 0n, max: subnetCount(pool, len) - 1n }).map((i) => formatCidr(subnetAt(pool, len, i)))),
    { minLength: 1, maxLength: 3 },
  );
  await fc.assert(
    fc.asyncProperty(fenceArb, fc.integer({ min: 1, max: 140 }), async (fences, want) => {
      const t = testCluster('fence-prop');
      try {
        await putPool(t, 'a', formatCidr(pool), { blockSize: 28 }, 'u-a');
        await putNode(t, 'n1');
        await putNode(t, 'n2');
        await putFence(t, { cleared: { a: 'u-a' }, fenced: fences.map((f) => fenced(f, 'a')) });
        const a = new Allocator({ etcd: t.etcd, keys: t.keys, cacheTtlMs: 0 });
        const outcomes = await Promise.allSettled(Array.from({ length: want }, (_, i) => a.allocate({ handle: `h${i}`, node: `n${(i % 2) + 1}` })));
        const ips = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.ips[0]?.ip as string] : []));
        for (const o of outcomes) if (o.status === 'rejected') expect(isTerraceError(o.reason, 'Exhausted')).toBe(true);
        // Concurrent claims may report Exhausted while the other node's claim is in flight, so
        // the rest of the open space is then taken one request at a time, and must all be there.
        const open = Array.from({ length: 128 }, (_, o) => addressAt(pool, o)).filter((ip) => !fences.some((f) => cidrContainsIP(parseCidr(f), ip))).length;
        for (let i = ips.length; i < Math.min(want, open); i++) ips.push((await a.allocate({ handle: `s${i}`, node: 'n1' })).ips[0]?.ip as string);
        if (want >= open) expect((await failure(a.allocate({ handle: 'beyond', node: 'n1' }))).code).toBe('Exhausted');
        expect(ips.filter((ip) => fences.some((f) => inside(f, ip)))).toEqual([]);
        expect(new Set(ips).size).toBe(ips.length);
      } finally {
        await t.close();
      }
    }),
    { numRuns: 8 },
  );
});

test('pool usage (ipam show) names held pools and fenced ranges only while a fence exists', async () => {
  const c = await setup('fence-usage');
  await putPool(c, 'b', '198.18.11.0/26', { blockSize: 26 }, 'u-b');
  const a = new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 });
  expect((await a.poolUsage()).map((u) => [u.held, u.fenced])).toEqual([
    [undefined, undefined],
    [undefined, undefined],
  ]);
  await putFence(c, { cleared: { a: 'u-a' }, held: [{ pool: 'b', reason: 'waiting for remote cluster cluster-b: unreachable' }], fenced: [fenced('198.18.10.16/28', 'a')] });
  const usage = await a.poolUsage();
  expect(usage.find((u) => u.name === 'a')).toMatchObject({ fenced: ['198.18.10.16/28 is fenced: it overlaps pool b-pool (198.18.10.16/28) of remote cluster cluster-b'] });
  expect(usage.find((u) => u.name === 'a')?.held).toBeUndefined();
  expect(usage.find((u) => u.name === 'b')).toMatchObject({ held: 'ippool/b: held: waiting for remote cluster cluster-b: unreachable' });
});
