/**
 * The multi-cluster guard scenarios, declared into the calling suite so the
 * two-etcd lab (multicluster.e2e.test.ts) and the shared-etcd variant
 * (multicluster-shared.e2e.test.ts) run the very same ones:
 *
 * - least privilege: each controller's remote credential reads the remote's
 *   prefix and nothing else, and cannot write;
 * - an overlapping pool is refused in each direction, naming the remote
 *   cluster and its pool, and nothing is written;
 * - overlapping pools created at the same moment in both clusters are both
 *   detected (state docs and fences on both sides) and neither cluster hands
 *   out an address in the overlap.
 */
import { expect, test } from '@jest/globals';
import { CniFailure, etcdctl, otherCluster, poolManifest, waitUntil, type ClusterKey, type MultiClusterLab } from '../src/index.js';

/** Pools of the race, chosen so that the first block either would claim lies inside the overlap (the smaller pool). */
export const RACE_POOLS: Record<ClusterKey, { name: string; cidr: string; blockSize: number }> = {
  a: { name: 'race-a', cidr: '198.19.128.0/20', blockSize: 26 },
  b: { name: 'race-b', cidr: '198.19.128.0/21', blockSize: 26 },
};
export const RACE_FENCED = '198.19.128.0/21';

/** Is IPv4 `ip` inside `cidr`? */
export function inCidr(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split('/') as [string, string];
  const n = (a: string): number => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(len));
  return Math.floor(n(ip) / size) === Math.floor(n(base) / size);
}

/** Waits until both clusters' state docs are Connected and list the other's pool. */
export async function waitSynced(lab: MultiClusterLab): Promise<void> {
  for (const key of ['a', 'b'] as const) {
    const remote = lab.clusters[otherCluster(key)];
    await lab.waitRemoteState(key, `${remote.name}'s pools synced`, (s) => s.connection === 'Connected' && s.pools.some((p) => p.name === remote.plan.pool.name), 90000);
  }
}

/**
 * A pod from `pool` on the cluster's first node: its address, or the CNI
 * error's message when the ADD was refused (a held pool, or no room outside
 * the fenced ranges).
 */
async function tryAllocate(lab: MultiClusterLab, key: ClusterKey, pod: string, pool: string): Promise<{ ip?: string; error?: string }> {
  const c = lab.clusters[key];
  try {
    const p = await c.addPod(c.plan.nodeName(1), pod, { pools: [pool] });
    return { ip: p.ip };
  } catch (e) {
    if (e instanceof CniFailure) return { error: JSON.stringify(e.outcome.json) };
    throw e;
  }
}

export function declareGuardScenarios(lab: () => MultiClusterLab): void {
  test('least privilege: each remote credential reads only the remote cluster\'s prefix and cannot write', async () => {
    for (const key of ['a', 'b'] as const) {
      const local = lab().clusters[key];
      const remote = lab().clusters[otherCluster(key)];
      const cred = lab().readers.get(key);
      expect(cred).toBeDefined();
      // From where the local controller runs, with what it has in its secrets dir.
      const read = await etcdctl(local.fabricNs, remote.etcdUrl, ['get', '--prefix', '--keys-only', `/terrace/v1/${remote.name}/resources/ippools/`], cred);
      expect(read.code).toBe(0);
      expect(read.stdout).toContain(`/terrace/v1/${remote.name}/resources/ippools/${remote.plan.pool.name}`);
      const write = await etcdctl(local.fabricNs, remote.etcdUrl, ['put', `/terrace/v1/${remote.name}/resources/ippools/intruder`, '{}'], cred);
      expect(write.code).not.toBe(0);
      expect(write.stderr).toContain('permission denied');
      const del = await etcdctl(local.fabricNs, remote.etcdUrl, ['del', `/terrace/v1/${remote.name}/resources/ippools/${remote.plan.pool.name}`], cred);
      expect(del.code).not.toBe(0);
      expect(del.stderr).toContain('permission denied');
      const outside = await etcdctl(local.fabricNs, remote.etcdUrl, ['get', '--prefix', '/terrace/v1/'], cred);
      expect(outside.code).not.toBe(0);
      expect(outside.stderr).toContain('permission denied');
    }
  }, 60000);

  test('a pool overlapping a remote pool is refused in each direction, naming the remote cluster and its pool', async () => {
    await waitSynced(lab());
    const cases: [ClusterKey, string][] = [
      ['a', '198.19.64.0/20'], // inside B's pool
      ['b', '198.19.0.0/19'], // inside A's pool
    ];
    for (const [key, cidr] of cases) {
      const c = lab().clusters[key];
      const remote = lab().clusters[otherCluster(key)];
      const name = `over-${key}`;
      const r = await c.ctl(['apply', '-f', '-'], poolManifest({ name, cidr, blockSize: 26 }));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`ippool/${name}: spec.cidr ${cidr} overlaps pool ${remote.plan.pool.name} (${remote.plan.pool.cidr}) of remote cluster ${remote.name}`);
      // Nothing half-written.
      expect((await c.ctl(['get', 'ippool', name])).code).not.toBe(0);
    }
  }, 180000);

  test('overlapping pools created at the same moment in both clusters are both detected, and neither allocates from the overlap', async () => {
    await waitSynced(lab());
    const applied = await lab().applyAtOnce({ a: poolManifest(RACE_POOLS.a), b: poolManifest(RACE_POOLS.b) });
    // Both writes pass: neither cluster had seen the other's pool yet (else this was no race).
    expect(applied).toEqual([{ ok: true }, { ok: true }]);

    for (const key of ['a', 'b'] as const) {
      const mine = RACE_POOLS[key];
      const theirs = RACE_POOLS[otherCluster(key)];
      const s = await lab().waitRemoteState(key, `the overlap ${mine.name} ~ ${theirs.name}`, (st) => st.overlaps.some((o) => o.pool === mine.name && o.remotePool === theirs.name), 90000);
      expect(s.overlaps.find((o) => o.pool === mine.name)?.fenced).toBe(RACE_FENCED);
      let fenced: string[] = [];
      await waitUntil(`${lab().clusters[key].name}'s fence`, async () => {
        fenced = ((await lab().fence(key))?.fenced ?? []).map((f) => f.cidr);
        return fenced.includes(RACE_FENCED);
      }, 60000, 250);
      // Exit 4: a remote needs attention (the overlap), as `ipam check` says it found something.
      const status = await lab().clusters[key].ctl(['cluster', 'status', lab().clusters[otherCluster(key)].name]);
      expect(status.code).toBe(4);
      expect(status.stdout).toContain(RACE_FENCED);
    }

    // Each cluster tries its race pool: an ADD is refused (pool held, or no
    // room outside the fence) or lands outside the overlap; never inside.
    const got: string[] = [];
    for (const key of ['a', 'b'] as const) {
      for (let i = 1; i <= 2; i++) {
        const r = await tryAllocate(lab(), key, `race-${key}${i}`, RACE_POOLS[key].name);
        got.push(`${key}: ${r.ip ?? r.error}`);
        if (r.ip !== undefined) expect(`${r.ip} in ${RACE_FENCED}: ${inCidr(r.ip, RACE_FENCED)}`).toBe(`${r.ip} in ${RACE_FENCED}: false`);
      }
    }
    // B's race pool lies wholly inside the overlap: nothing to hand out.
    expect(got.filter((g) => g.startsWith('b: ') && /^b: \d/.test(g))).toEqual([]);

    // Resolving: the pods go, then both pools; the overlap and the fence go with them.
    for (const key of ['a', 'b'] as const) {
      const c = lab().clusters[key];
      for (const p of [...c.pods.keys()].filter((n) => n.startsWith('race-'))) await c.deletePod(p);
      await c.mustCtl(['delete', 'ippool', RACE_POOLS[key].name]);
    }
    for (const key of ['a', 'b'] as const) {
      await lab().waitRemoteState(key, 'the overlap gone', (st) => st.overlaps.length === 0, 90000);
      await waitUntil(`${lab().clusters[key].name}'s fence emptied`, async () => ((await lab().fence(key))?.fenced ?? []).length === 0, 60000, 250);
    }
  }, 400000);
}
