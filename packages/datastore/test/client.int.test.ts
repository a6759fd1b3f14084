import { afterAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { TerraceError } from '@terrace/api';
import { type EtcdHandle, freePort, sharedEtcdEndpoint, startEtcd, uniqueCluster } from '@terrace/testkit';
import { Etcd3 } from 'etcd3';
import { connect, createClient, mapEtcdError } from '../src/client.js';
import { type ConnectionFlags, resolveConnectionConfig } from '../src/config.js';
import { Keys } from '../src/keys.js';
import { EtcdResourceStore } from '../src/resources.js';
import { peer } from './fixtures.js';

// A hang guard, not a benchmark: the client gives up after 4.5 s (the 5 s
// promise), and a hang never ends at all. The bound is far above 4.5 s so that
// a loaded machine's stalls cannot fail it (http-kv.int checks the 4.5 s
// deadline itself, by its message).
const BOUND_MS = 15_000;

function cfgFor(flags: ConnectionFlags) {
  return resolveConnectionConfig(flags, {}, '/nonexistent/terrace.yaml');
}

async function timedFailure(p: Promise<unknown>): Promise<{ err: TerraceError; ms: number }> {
  const start = Date.now();
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  const ms = Date.now() - start;
  expect(err).toBeInstanceOf(TerraceError);
  const te = err as TerraceError;
  return { err: te, ms };
}

const privateEtcds: EtcdHandle[] = [];

/** SIGSTOP takes effect asynchronously; wait until the kernel reports the process stopped. */
async function freeze(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  for (let i = 0; i < 200; i++) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 3, after the parenthesised command name.
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`etcd ${pid} did not stop`);
}
afterAll(async () => {
  for (const e of privateEtcds) {
    try {
      process.kill(e.pid, 'SIGCONT');
    } catch {
      // already gone
    }
    await e.stop();
  }
});

describe('connect', () => {
  it('connects to the shared etcd and proves it answers', async () => {
    const etcd = await connect(cfgFor({ etcdEndpoints: sharedEtcdEndpoint(), cluster: uniqueCluster('c') }));
    expect(await etcd.get('/terrace/v1/none').string()).toBeNull();
    etcd.close();
  });

  it('reports a port nobody listens on as Unavailable, with the endpoint, within the bound', async () => {
    const port = await freePort();
    const ep = `http://127.0.0.1:${port}`;
    const { err, ms } = await timedFailure(connect(cfgFor({ etcdEndpoints: ep })));
    expect(`${err.code}: ${err.message}`).toMatch(/^Unavailable: /);
    expect(err.message).toMatch(new RegExp(`^etcd unreachable at ${ep}: `));
    expect(ms).toBeLessThan(BOUND_MS);
  });

  it('names every endpoint when none answers', async () => {
    const eps = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
    const { err, ms } = await timedFailure(connect(cfgFor({ etcdEndpoints: eps.join(',') })));
    expect(`${err.code}: ${err.message}`).toMatch(/^Unavailable: /);
    expect(err.message).toContain(`etcd unreachable at ${eps.join(',')}: `);
    expect(ms).toBeLessThan(BOUND_MS);
  });

  it('uses a live endpoint when another in the list is down', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const cfg = cfgFor({ etcdEndpoints: `${dead},${sharedEtcdEndpoint()}`, cluster: uniqueCluster('multi') });
    const etcd = createClient(cfg);
    const store = new EtcdResourceStore(etcd, new Keys(cfg.cluster));
    // Whichever host each call starts on, every call succeeds.
    for (let i = 0; i < 6; i++) await store.applyAll([peer(`p${i}`)]);
    expect((await store.list('BGPPeer')).items).toHaveLength(6);
    etcd.close();
  });

  it('maps non-etcd errors and passes TerraceErrors through', () => {
    const te = new TerraceError('Conflict', 'x');
    expect(mapEtcdError(te, ['http://a:1'])).toBe(te);
    expect(mapEtcdError(new Error('boom'), ['http://a:1']).code).toBe('Internal');
  });
});

describe('an etcd that goes away mid-test', () => {
  it('a stopped etcd gives Unavailable within the bound, for reads and writes', async () => {
    const e = await startEtcd({ name: 'stop-test' });
    privateEtcds.push(e);
    const cfg = cfgFor({ etcdEndpoints: e.endpoint, cluster: 'stop' });
    const etcd = await connect(cfg);
    const store = new EtcdResourceStore(etcd, new Keys('stop'));
    await store.create(peer('before'));
    await e.stop();
    for (const op of [() => store.list('BGPPeer'), () => store.create(peer('after')), () => store.delete('BGPPeer', 'before')]) {
      const { err, ms } = await timedFailure(op());
      expect(`${err.code}: ${err.message}`).toMatch(/^Unavailable: /);
      expect(err.message).toMatch(new RegExp(`^etcd unreachable at ${e.endpoint}: `));
      expect(ms).toBeLessThan(BOUND_MS);
    }
    etcd.close();
  });

  it('a frozen etcd (accepts connections, never answers) gives Unavailable within the bound', async () => {
    const e = await startEtcd({ name: 'freeze-test' });
    privateEtcds.push(e);
    const cfg = cfgFor({ etcdEndpoints: e.endpoint, cluster: 'freeze' });
    const etcd = await connect(cfg);
    const store = new EtcdResourceStore(etcd, new Keys('freeze'));
    await store.create(peer('before'));
    await freeze(e.pid);
    try {
      const { err, ms } = await timedFailure(store.get('BGPPeer', 'before'));
      expect(`${err.code}: ${err.message}`).toMatch(/^Unavailable: /);
      expect(err.message).toContain(`etcd unreachable at ${e.endpoint}: `);
      expect(ms).toBeLessThan(BOUND_MS);
      // A fresh client's connect must not hang either.
      const fresh = await timedFailure(connect(cfg));
      expect(`${fresh.err.code}: ${fresh.err.message}`).toMatch(/^Unavailable: /);
      expect(fresh.ms).toBeLessThan(BOUND_MS);
    } finally {
      process.kill(e.pid, 'SIGCONT');
    }
    // And the same client recovers once etcd answers again.
    expect((await store.get('BGPPeer', 'before')).metadata.name).toBe('before');
    etcd.close();
  });
});

describe('user and password', () => {
  it('authenticates, and refuses a wrong password as Unavailable naming the endpoint', async () => {
    const e = await startEtcd({ name: 'auth-test' });
    privateEtcds.push(e);
    const admin = new Etcd3({ hosts: e.endpoint });
    await admin.role('root').create();
    await admin.user('root').create('rootpw');
    await admin.user('root').addRole('root');
    await admin.auth.authEnable({});
    admin.close();

    const good = await connect(cfgFor({ etcdEndpoints: e.endpoint, etcdUsername: 'root', etcdPassword: 'rootpw', cluster: 'auth' }));
    const store = new EtcdResourceStore(good, new Keys('auth'));
    await store.create(peer('p'));
    expect((await store.get('BGPPeer', 'p')).metadata.name).toBe('p');
    good.close();

    const bad = await timedFailure(connect(cfgFor({ etcdEndpoints: e.endpoint, etcdUsername: 'root', etcdPassword: 'wrong', cluster: 'auth' })));
    expect(`${bad.err.code}: ${bad.err.message}`).toMatch(/^Unavailable: /);
    expect(bad.err.message).toMatch(new RegExp(`^etcd at ${e.endpoint} refused the credentials: `));
    expect(bad.ms).toBeLessThan(BOUND_MS);

    const anonymous = createClient(cfgFor({ etcdEndpoints: e.endpoint, cluster: 'auth' }));
    const none = await timedFailure(new EtcdResourceStore(anonymous, new Keys('auth')).list('BGPPeer'));
    anonymous.close();
    expect(`${none.err.code}: ${none.err.message}`).toMatch(/^Unavailable: /);
  });
});
