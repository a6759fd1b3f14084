// Two clusters on one etcd (two prefixes, each with a RemoteCluster naming the other, both controllers
// running) create overlapping pools at the same moment: both fences fence the overlap and at most one of
// the two pools is ever cleared. This is the shared-etcd variant of the admission race.
import { afterEach, describe, expect, test } from '@jest/globals';
import type { ClusterFence, RemoteClusterState } from '@terrace/api';
import { sharedEtcdEndpoint } from '@terrace/testkit';
import { type Harness, type LogLine, harness, pool, waitFor } from './fixtures.js';
import { FAST_REMOTE, remoteCluster } from './remote-fixtures.js';

const hs: Harness[] = [];
afterEach(async () => {
  for (const x of hs.splice(0)) await x.close();
});

async function fenceOf(x: Harness): Promise<ClusterFence | undefined> {
  const t = await x.etcd.get(x.keys.fence()).string();
  return t === null ? undefined : (JSON.parse(t) as ClusterFence);
}

/** Settled: the pool is either cleared or held for an overlap (not merely waiting for a read). */
async function settled(x: Harness, name: string): Promise<boolean> {
  const f = await fenceOf(x);
  if (!f) return false;
  if (f.cleared[name] !== undefined) return true;
  return f.held.some((h) => h.pool === name && /^overlaps pool /.test(h.reason));
}

describe('admission race (shared etcd, two prefixes)', () => {
  test('overlapping pools created at the same moment: both fenced, never both cleared', async () => {
    const a = harness('race-a');
    const b = harness('race-b');
    hs.push(a, b);
    const ep = sharedEtcdEndpoint();
    await a.store.create(pool('a-base', '198.18.0.0/24'));
    await b.store.create(pool('b-base', '198.18.1.0/24'));
    await a.store.create(remoteCluster('b', b.keys.cluster, ep));
    await b.store.create(remoteCluster('a', a.keys.cluster, ep));
    await a.startController('ctl-a', { remote: FAST_REMOTE });
    await b.startController('ctl-b', { remote: FAST_REMOTE });
    await waitFor('both fences activated', async () => (await fenceOf(a))?.cleared['a-base'] !== undefined && (await fenceOf(b))?.cleared['b-base'] !== undefined);

    // Several rounds, each with a fresh pair of overlapping pools (the smaller one alternating).
    for (let i = 0; i < 4; i++) {
      const big = `198.19.${i * 16}.0/20`;
      const small = `198.19.${i * 16 + 4}.0/24`;
      const [ca, cb] = i % 2 ? [big, small] : [small, big];
      await Promise.all([a.store.create(pool(`a-${i}`, ca)), b.store.create(pool(`b-${i}`, cb))]);
      await waitFor(`round ${i} settled on both sides`, async () => (await settled(a, `a-${i}`)) && (await settled(b, `b-${i}`)), 15_000);
      await waitFor(`round ${i} overlap fenced on both sides`, async () => {
        const fa = await fenceOf(a);
        const fb = await fenceOf(b);
        return fa?.fenced.some((f) => f.pool === `a-${i}` && f.cidr === small) === true && fb?.fenced.some((f) => f.pool === `b-${i}` && f.cidr === small) === true;
      }, 15_000);
      const fa = (await fenceOf(a)) as ClusterFence;
      const fb = (await fenceOf(b)) as ClusterFence;
      const cleared = [fa.cleared[`a-${i}`], fb.cleared[`b-${i}`]].filter((u) => u !== undefined);
      expect(cleared.length).toBeLessThanOrEqual(1);
      // The pools that existed before stay cleared, untouched by the overlap.
      expect(fa.cleared['a-base']).toBeDefined();
      expect(fb.cleared['b-base']).toBeDefined();
    }
  });
});

describe('leadership', () => {
  test('only the leader syncs; a standby starts syncing when it takes over, and the old leader stops', async () => {
    const a = harness('lead-a');
    const b = harness('lead-b');
    hs.push(a, b);
    await b.store.create(pool('b-pool', '198.19.0.0/24'));
    await a.store.create(remoteCluster('b', b.keys.cluster, sharedEtcdEndpoint()));
    const one = await a.startController('ctl-1', { remote: FAST_REMOTE });
    await waitFor('ctl-1 to lead', () => one.c.isLeader());
    const two = await a.startController('ctl-2', { remote: FAST_REMOTE });
    const state = async (): Promise<RemoteClusterState | undefined> => {
      const t = await a.etcd.get(a.keys.remoteState('b')).string();
      return t === null ? undefined : (JSON.parse(t) as RemoteClusterState);
    };
    await waitFor('the state doc', async () => (await state())?.pools.length === 1);
    const started = (lines: LogLine[]): number => lines.filter((l) => l.message === 'remote cluster sync started').length;
    expect(started(one.lines)).toBe(1);
    expect(started(two.lines)).toBe(0);
    expect(one.c.remotes.active()).toEqual(['b']);
    expect(two.c.remotes.active()).toEqual([]);

    await one.c.stop();
    await waitFor('ctl-2 to lead', () => two.c.isLeader(), 8000);
    await waitFor('ctl-2 to sync', () => started(two.lines) === 1 && two.c.remotes.summary().connected === 1);
    // ctl-2 keeps the doc current: lastSynced moves on.
    const before = (await state())?.lastSynced ?? '';
    await waitFor('lastSynced to move', async () => ((await state())?.lastSynced ?? '') > before, 10_000);
    expect(one.c.remotes.active()).toEqual([]);
  });
});
