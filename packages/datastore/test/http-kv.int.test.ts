/**
 * The HTTP reader against real etcds: the shared one for reads, private
 * ones for auth, and real sockets for the ways an endpoint can fail (refused,
 * silent, not etcd at all).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { TerraceError } from '@terrace/api';
import { type EtcdHandle, freePort, sharedEtcdEndpoint, startEtcd, uniqueCluster } from '@terrace/testkit';
import { Etcd3 } from 'etcd3';
import { connect } from '../src/client.js';
import { type ConnectionFlags, resolveConnectionConfig } from '../src/config.js';
import { HttpKv, HttpResourceReader } from '../src/http-kv.js';
import { Keys } from '../src/keys.js';
import { EtcdResourceStore } from '../src/resources.js';
import { allKinds, pool } from './fixtures.js';

// A hang guard, not a benchmark: the client gives up after 4.5 s (the 5 s
// promise), and a hang never ends at all. The bound is far above 4.5 s so that
// a loaded machine's stalls cannot fail it; where the deadline itself matters,
// the tests check its message ("no answer within 4500 ms").
const BOUND_MS = 15_000;

function cfgFor(flags: ConnectionFlags) {
  return resolveConnectionConfig(flags, {}, '/nonexistent/terrace.yaml');
}

async function failure(p: Promise<unknown>): Promise<{ err: TerraceError; ms: number }> {
  const start = Date.now();
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(TerraceError);
  return { err: err as TerraceError, ms: Date.now() - start };
}

/** Opens a reader, runs f, and always closes the reader. */
async function withReader<T>(flags: ConnectionFlags, f: (r: HttpResourceReader) => Promise<T>): Promise<T> {
  const reader = await HttpResourceReader.open(cfgFor(flags));
  try {
    return await f(reader);
  } finally {
    reader.close();
  }
}

describe('reads on the shared etcd', () => {
  const cluster = uniqueCluster('httpkv');
  let etcd: Etcd3;
  let store: EtcdResourceStore;
  const flags = (): ConnectionFlags => ({ etcdEndpoints: sharedEtcdEndpoint(), cluster });

  beforeAll(async () => {
    etcd = await connect(cfgFor(flags()));
    store = new EtcdResourceStore(etcd, new Keys(cluster));
    await store.applyAll([...allKinds(), pool('second-pool', '198.19.128.0/18')]);
  });
  afterAll(() => etcd.close());

  it('lists and gets every kind exactly as EtcdResourceStore does', async () => {
    await withReader(flags(), async (reader) => {
      for (const r of allKinds()) {
        const viaHttp = await reader.list(r.kind);
        const viaGrpc = await store.list(r.kind);
        expect(viaHttp.items).toEqual(viaGrpc.items);
        expect(viaHttp.items.length).toBeGreaterThan(0);
        for (const item of viaHttp.items) {
          expect(BigInt(viaHttp.revision)).toBeGreaterThanOrEqual(BigInt(item.metadata.resourceVersion ?? 'x'));
          expect(item.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
        }
        expect(await reader.get(r.kind, r.metadata.name)).toEqual(await store.get(r.kind, r.metadata.name));
      }
      expect((await reader.list('IPPool')).items.map((p) => p.metadata.name).sort()).toEqual(['pool-v4', 'pool-v6', 'second-pool'].sort());
    });
  });

  it('sees a write at once, with the new mod revision as resourceVersion', async () => {
    await withReader(flags(), async (reader) => {
      const before = await reader.get('IPPool', 'second-pool');
      const after = await store.replace({ ...before, spec: { ...before.spec, disabled: true } });
      const read = await reader.get('IPPool', 'second-pool');
      expect(read.spec.disabled).toBe(true);
      expect(read.metadata.resourceVersion).toBe(after.metadata.resourceVersion);
      expect(read.metadata.resourceVersion).not.toBe(before.metadata.resourceVersion);
    });
  });

  it('lists only direct children of the kind, and nothing for an empty kind or another cluster', async () => {
    const keys = new Keys(cluster);
    await etcd.put(`${keys.resourcePrefix('BGPPeer')}deeper/key`).value('{}');
    await withReader(flags(), async (reader) => {
      expect((await reader.list('BGPPeer')).items.map((p) => p.metadata.name)).toEqual((await store.list('BGPPeer')).items.map((p) => p.metadata.name));
    });
    await withReader({ ...flags(), cluster: uniqueCluster('httpkv-empty') }, async (reader) => {
      const empty = await reader.list('IPPool');
      expect(empty.items).toEqual([]);
      expect(Number(empty.revision)).toBeGreaterThan(0);
    });
  });

  it('reports a missing resource as NotFound', async () => {
    const { err } = await failure(withReader(flags(), (reader) => reader.get('BGPPeer', 'absent')));
    expect(`${err.code}: ${err.message}`).toBe('NotFound: bgppeer/absent not found');
  });

  it('reports a key that does not hold JSON as Internal, naming the key', async () => {
    const keys = new Keys(cluster);
    await etcd.put(keys.resource('Node', 'garbled')).value('{not json');
    const { err } = await failure(withReader(flags(), (reader) => reader.get('Node', 'garbled')));
    expect(err.code).toBe('Internal');
    expect(err.message).toContain(`etcd key ${keys.resource('Node', 'garbled')} does not hold valid JSON`);
    await etcd.delete().key(keys.resource('Node', 'garbled'));
  });

  it('moves past a dead endpoint to one that answers, within the budget', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const start = Date.now();
    const items = await withReader({ etcdEndpoints: `${dead},${sharedEtcdEndpoint()}`, cluster }, (reader) => reader.list('IPPool'));
    expect(items.items.length).toBe(3);
    expect(Date.now() - start).toBeLessThan(BOUND_MS);
  });

  it('reads raw ranges: one key, and a prefix', async () => {
    const kv = await HttpKv.open(cfgFor(flags()));
    try {
      const keys = new Keys(cluster);
      const one = await kv.range(keys.resource('IPPool', 'pool-v4'));
      expect(one.kvs.map((x) => x.key)).toEqual([keys.resource('IPPool', 'pool-v4')]);
      const raw = await etcd.get(keys.resource('IPPool', 'pool-v4')).exec();
      expect(one.kvs[0]?.modRevision).toBe(raw.kvs[0]?.mod_revision);
      expect(one.kvs[0]?.createRevision).toBe(raw.kvs[0]?.create_revision);
      expect(one.kvs[0]?.value).toBe(raw.kvs[0]?.value.toString());
      const all = await kv.rangePrefix(keys.prefix);
      expect(all.kvs.length).toBeGreaterThanOrEqual(allKinds().length + 1);
      expect(all.kvs.every((x) => x.key.startsWith(keys.prefix))).toBe(true);
    } finally {
      kv.close();
    }
  });
});

describe('endpoints that do not answer as etcd', () => {
  let silent: TcpServer;
  let notEtcd: HttpServer;
  const sockets: Socket[] = [];
  let silentUrl = '';
  let notEtcdUrl = '';
  let notEtcdMode: '404' | 'html' = '404';

  beforeAll(async () => {
    // Accepts connections and never says a word: a stopped process or a black hole.
    silent = createTcpServer((s) => sockets.push(s));
    // Some other web service on the port: 404 for etcd's paths, or an HTML page.
    notEtcd = createHttpServer((req, res) => {
      req.resume();
      if (notEtcdMode === 'html') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
      }
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => notEtcd.listen(0, '127.0.0.1', r));
    silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    notEtcdUrl = `http://127.0.0.1:${(notEtcd.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
    notEtcd.closeAllConnections();
    await new Promise((r) => notEtcd.close(r));
  });

  it('is Unavailable at once when the connection is refused, naming the endpoint', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const { err, ms } = await failure(withReader({ etcdEndpoints: url }, (r) => r.list('IPPool')));
    expect(`${err.code}: ${err.message}`).toMatch(new RegExp(`^Unavailable: etcd unreachable at ${url}: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+$`));
    expect(ms).toBeLessThan(BOUND_MS);
  });

  it('is Unavailable within 5 s when the endpoint never answers', async () => {
    const { err, ms } = await failure(withReader({ etcdEndpoints: silentUrl }, (r) => r.get('IPPool', 'x')));
    expect(`${err.code}: ${err.message}`).toBe(`Unavailable: etcd unreachable at ${silentUrl}: no answer within 4500 ms`);
    expect(ms).toBeGreaterThanOrEqual(4000);
    expect(ms).toBeLessThan(BOUND_MS);
  });

  it('splits the budget between endpoints and names each with its reason', async () => {
    const refused = `http://127.0.0.1:${await freePort()}`;
    const { err, ms } = await failure(withReader({ etcdEndpoints: `${silentUrl},${refused}` }, (r) => r.list('Node')));
    expect(err.code).toBe('Unavailable');
    expect(err.message).toMatch(new RegExp(`^etcd unreachable at ${silentUrl}: no answer within 2250 ms; ${refused}: connect ECONNREFUSED`));
    expect(ms).toBeLessThan(BOUND_MS);
  });

  it('is Unavailable, not Internal, when a web server that is not etcd answers 404', async () => {
    notEtcdMode = '404';
    const { err } = await failure(withReader({ etcdEndpoints: notEtcdUrl }, (r) => r.list('IPPool')));
    expect(`${err.code}: ${err.message}`).toBe(
      `Unavailable: etcd unreachable at ${notEtcdUrl}: answered HTTP 404 Not Found without an etcd v3 response (is this an etcd client URL?)`,
    );
  });

  it('is Unavailable when a server answers 200 with something that is not etcd JSON', async () => {
    notEtcdMode = 'html';
    const { err } = await failure(withReader({ etcdEndpoints: notEtcdUrl }, (r) => r.list('IPPool')));
    expect(`${err.code}: ${err.message}`).toBe(`Unavailable: etcd unreachable at ${notEtcdUrl}: answered HTTP 200 OK without an etcd v3 response (is this an etcd client URL?)`);
  });
});

describe('user and password', () => {
  let e: EtcdHandle | undefined;
  const cluster = 'auth';

  beforeAll(async () => {
    e = await startEtcd({ name: 'httpkv-auth' });
    const admin = new Etcd3({ hosts: e.endpoint });
    try {
      await admin.role('root').create();
      await admin.user('root').create('rootpw');
      await admin.user('root').addRole('root');
      await admin.user('nobody').create('nobodypw');
      await new EtcdResourceStore(admin, new Keys(cluster)).create(pool('secret-pool', '198.19.0.0/24'));
      await admin.auth.authEnable({});
    } finally {
      admin.close();
    }
  });
  afterAll(async () => {
    await e?.stop();
  });

  it('authenticates, reads, and keeps reading with its token', async () => {
    await withReader({ etcdEndpoints: e?.endpoint, etcdUsername: 'root', etcdPassword: 'rootpw', cluster }, async (reader) => {
      expect((await reader.get('IPPool', 'secret-pool')).spec.cidr).toBe('198.19.0.0/24');
      expect((await reader.list('IPPool')).items.map((p) => p.metadata.name)).toEqual(['secret-pool']);
    });
  });

  it.each<[string, ConnectionFlags, RegExp]>([
    ['a wrong password', { etcdUsername: 'root', etcdPassword: 'wrong' }, /^etcd at \S+ refused the credentials: etcdserver: authentication failed/],
    ['no credentials', {}, /^etcd at \S+ requires a username and password \(set --etcd-username and --etcd-password\)$/],
    ['a user without a role', { etcdUsername: 'nobody', etcdPassword: 'nobodypw' }, /^etcd at \S+ denied access: etcdserver: permission denied$/],
  ])('refuses %s as Unavailable naming the endpoint', async (_name, creds, message) => {
    const { err, ms } = await failure(withReader({ etcdEndpoints: e?.endpoint, cluster, ...creds }, (r) => r.list('IPPool')));
    expect(err.code).toBe('Unavailable');
    expect(err.message).toMatch(message);
    expect(err.message).toContain(e?.endpoint);
    expect(ms).toBeLessThan(BOUND_MS);
  });
});
