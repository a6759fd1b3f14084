// Least privilege: B's etcd with auth on, a reader user made by deploy/etcd/remote-reader.sh (the
// documented script). A syncs with that user; the same credential cannot write under B's prefix.
// A secret file that is missing and a wrong password are errors in the state doc, not crashes.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from '@jest/globals';
import type { ClusterFence, RemoteClusterState } from '@terrace/api';
import { EtcdResourceStore, Keys } from '@terrace/datastore';
import { uniqueCluster } from '@terrace/testkit';
import { Etcd3, EtcdPermissionDeniedError } from 'etcd3';
import { type Harness, harness, pool, sleep, waitFor } from './fixtures.js';
import { FAST_REMOTE, type OwnEtcd, fenceDoc, ownEtcd, remoteCluster, secretsDir, stateDoc } from './remote-fixtures.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '../../../../deploy/etcd/remote-reader.sh');

let h: Harness | undefined;
let b: OwnEtcd | undefined;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const c of cleanups.splice(0)) await c();
  await b?.close();
  b = undefined;
});

const stateOf = (x: Harness, name: string): Promise<RemoteClusterState | undefined> => stateDoc(x.etcd, x.keys, name);
const fenceOf = (x: Harness): Promise<ClusterFence | undefined> => fenceDoc(x.etcd, x.keys);

function etcdctl(endpoint: string, args: string[], env: Record<string, string> = {}): string {
  return execFileSync('etcdctl', args, { env: { ...process.env, ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: endpoint, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Turns auth on in B with a root user (password root-pw); returns etcdctl's environment for root. */
function enableAuth(ep: string): Record<string, string> {
  etcdctl(ep, ['user', 'add', 'root', '--new-user-password=root-pw']);
  etcdctl(ep, ['role', 'add', 'root']);
  etcdctl(ep, ['user', 'grant-role', 'root', 'root']);
  etcdctl(ep, ['auth', 'enable']);
  return { ETCDCTL_USER: 'root:root-pw' };
}

describe('least privilege', () => {
  test('A syncs with a read-only user made by remote-reader.sh; that user cannot write under B\'s prefix', async () => {
    b = await ownEtcd();
    const ep = b.endpoint;
    const bKeys = new Keys(uniqueCluster('auth-b'));
    const root = enableAuth(ep);
    const out = execFileSync(SCRIPT, [bKeys.cluster, 'reader-a'], {
      env: { ...process.env, ETCDCTL_ENDPOINTS: ep, ...root, READER_PASSWORD: 'reader-pw' },
      encoding: 'utf8',
    });
    expect(out).toContain(`/terrace/v1/${bKeys.cluster}/`);
    // Running it again changes nothing and does not fail.
    execFileSync(SCRIPT, [bKeys.cluster, 'reader-a'], { env: { ...process.env, ETCDCTL_ENDPOINTS: ep, ...root, READER_PASSWORD: 'reader-pw' } });

    const admin = new Etcd3({ hosts: ep, auth: { username: 'root', password: 'root-pw' } });
    cleanups.push(() => admin.close());
    await new EtcdResourceStore(admin, bKeys).create(pool('b-pool', '198.19.0.0/24'));

    const secrets = secretsDir({ 'cb-etcd': { username: 'reader-a', password: 'reader-pw' }, 'cb-wrong': { username: 'reader-a', password: 'nope' } });
    cleanups.push(() => secrets.close());
    h = harness('auth-a');
    const x = h;
    const ref = (name: string) => ({ etcd: { usernameSecretRef: { name, key: 'username' }, passwordSecretRef: { name, key: 'password' } } });
    await x.store.create(remoteCluster('cb', bKeys.cluster, ep, ref('cb-etcd')));
    await x.store.create(remoteCluster('cb-wrong', bKeys.cluster, ep, ref('cb-wrong')));
    await x.store.create(remoteCluster('cb-missing', bKeys.cluster, ep, ref('cb-absent')));
    await x.startController('ctl-a', { remote: { ...FAST_REMOTE, secretsDir: secrets.dir } });

    await waitFor('A synced through reader-a', async () => {
      const s = await stateOf(x, 'cb');
      return s?.connection === 'Connected' && s.pools.length === 1;
    });
    await waitFor('the wrong password reported', async () => (await stateOf(x, 'cb-wrong'))?.connection === 'Unauthorized');
    await waitFor('the missing secret reported', async () => /cannot read secret file .*cb-absent\/username: ENOENT/.test((await stateOf(x, 'cb-missing'))?.error ?? ''));
    expect(JSON.stringify(await stateOf(x, 'cb-wrong'))).not.toContain('nope');

    // The reader credential itself: reads B's prefix, cannot write it, cannot read outside it.
    const reader = new Etcd3({ hosts: ep, auth: { username: 'reader-a', password: 'reader-pw' } });
    cleanups.push(() => reader.close());
    expect(await reader.get(bKeys.resource('IPPool', 'b-pool')).string()).not.toBeNull();
    await expect(reader.put(bKeys.resource('IPPool', 'evil')).value('{}').exec()).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
    await expect(reader.delete().key(bKeys.resource('IPPool', 'b-pool')).exec()).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
    await expect(reader.get('/terrace/v1/other/resources/ippools/x').exec()).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
    // And with etcdctl, as an operator would check it.
    expect(() => etcdctl(ep, ['put', bKeys.resource('IPPool', 'evil'), '{}'], { ETCDCTL_USER: 'reader-a:reader-pw' })).toThrow(/permission denied/);
  });
});

describe('a remote that answers the probe but cannot be listed', () => {
  test('a cache stuck re-listing leaves the view unsynced and stale, and a held pool\'s reason keeps its time', async () => {
    b = await ownEtcd();
    const ep = b.endpoint;
    const bKeys = new Keys(uniqueCluster('part-b'));
    const root = enableAuth(ep);
    // A reader allowed each prefix the sync lists, one grant each, so one can be taken away.
    etcdctl(ep, ['role', 'add', 'part'], root);
    const poolsPrefix = bKeys.resourcePrefix('IPPool');
    for (const p of [poolsPrefix, bKeys.resourcePrefix('Node'), bKeys.resourcePrefix('BGPConfiguration'), bKeys.blockPrefix()]) {
      etcdctl(ep, ['role', 'grant-permission', '--prefix=true', 'part', 'read', p], root);
    }
    etcdctl(ep, ['user', 'add', 'part-user', '--new-user-password=part-pw'], root);
    etcdctl(ep, ['user', 'grant-role', 'part-user', 'part'], root);
    const admin = new Etcd3({ hosts: ep, auth: { username: 'root', password: 'root-pw' } });
    cleanups.push(() => admin.close());
    await new EtcdResourceStore(admin, bKeys).create(pool('b-pool', '198.19.0.0/24'));

    const secrets = secretsDir({ 'cb-etcd': { username: 'part-user', password: 'part-pw' } });
    cleanups.push(() => secrets.close());
    h = harness('part-a');
    const x = h;
    await x.store.create(remoteCluster('cb', bKeys.cluster, ep, { etcd: { usernameSecretRef: { name: 'cb-etcd', key: 'username' }, passwordSecretRef: { name: 'cb-etcd', key: 'password' } } }));
    await x.startController('ctl-a', { remote: { ...FAST_REMOTE, secretsDir: secrets.dir } });
    await waitFor('A synced', async () => (await stateOf(x, 'cb'))?.connection === 'Connected');

    // The pools prefix is taken away and B restarts: every cache re-lists, the pools list keeps failing,
    // while the probe (the BGPConfiguration key) still answers.
    etcdctl(ep, ['role', 'revoke-permission', '--prefix=true', 'part', poolsPrefix], root);
    await b.restart();
    await waitFor('stale and not Connected', async () => {
      const s = await stateOf(x, 'cb');
      return s?.stale === true && s.connection !== 'Connected';
    }, 15_000);
    const synced = (await stateOf(x, 'cb'))?.lastSynced;
    await sleep(1000);
    expect((await stateOf(x, 'cb'))?.lastSynced).toBe(synced);
    expect((await stateOf(x, 'cb'))?.pools.map((p) => p.name)).toEqual(['b-pool']); // the last view is kept

    // A new local pool cannot be checked against B: held, and its reason (and so the fence) holds still.
    await x.store.create(pool('a-new', '198.18.0.0/24'));
    const heldReason = async (): Promise<string | undefined> => (await fenceOf(x))?.held.find((p) => p.pool === 'a-new')?.reason;
    await waitFor('a-new held', async () => /^waiting for remote cluster cb: unreachable since /.test((await heldReason()) ?? ''), 10_000);
    await sleep(1000);
    const reason = await heldReason();
    const rev = (await x.etcd.get(x.keys.fence()).exec()).kvs[0]?.mod_revision;
    await sleep(2500);
    expect(await heldReason()).toBe(reason);
    expect((await x.etcd.get(x.keys.fence()).exec()).kvs[0]?.mod_revision).toBe(rev);

    // Granted again: synced, a-new cleared.
    etcdctl(ep, ['role', 'grant-permission', '--prefix=true', 'part', 'read', poolsPrefix], root);
    await waitFor('Connected, fresh, a-new cleared', async () => {
      const s = await stateOf(x, 'cb');
      return s?.connection === 'Connected' && !s.stale && (await fenceOf(x))?.cleared['a-new'] !== undefined;
    }, 15_000);
  });
});
