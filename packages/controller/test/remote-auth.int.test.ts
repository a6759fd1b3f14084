// Least privilege: B's etcd with auth on, a reader user made by deploy/etcd/remote-reader.sh (the
// documented script). A syncs with that user; the same credential cannot write under B's prefix.
// A secret file that is missing and a wrong password are errors in the state doc, not crashes.
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from '@jest/globals';
import type { RemoteClusterState } from '@terrace/api';
import { EtcdResourceStore, Keys } from '@terrace/datastore';
import { uniqueCluster } from '@terrace/testkit';
import { Etcd3, EtcdPermissionDeniedError } from 'etcd3';
import { type Harness, harness, pool, waitFor } from './fixtures.js';
import { FAST_REMOTE, type OwnEtcd, ownEtcd, remoteCluster, secretsDir } from './remote-fixtures.js';

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

async function stateOf(x: Harness, name: string): Promise<RemoteClusterState | undefined> {
  const t = await x.etcd.get(x.keys.remoteState(name)).string();
  return t === null ? undefined : (JSON.parse(t) as RemoteClusterState);
}

function etcdctl(endpoint: string, args: string[], env: Record<string, string> = {}): string {
  return execFileSync('etcdctl', args, { env: { ...process.env, ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: endpoint, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('least privilege', () => {
  test('A syncs with a read-only user made by remote-reader.sh; that user cannot write under B\'s prefix', async () => {
    b = await ownEtcd();
    const ep = b.endpoint;
    const bKeys = new Keys(uniqueCluster('auth-b'));
    etcdctl(ep, ['user', 'add', 'root', '--new-user-password=root-pw']);
    etcdctl(ep, ['role', 'add', 'root']);
    etcdctl(ep, ['user', 'grant-role', 'root', 'root']);
    etcdctl(ep, ['auth', 'enable']);
    const root = { ETCDCTL_USER: 'root:root-pw' };
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
