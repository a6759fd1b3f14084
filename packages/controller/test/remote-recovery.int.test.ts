// What A's controller writes when its view of B is incomplete or its own records were lost, against real
// etcds (A: the shared test etcd; B: an etcd of this suite's own, stopped and paused by PID):
// a new leader that cannot list B keeps B's fence and B's pools; a controller stopped in the middle of a
// round writes nothing more; a deleted or unreadable fence is rewritten with every pool checked again;
// a bad remote pool is reported, not copied; a pool stored without a uid is cleared as the allocator reads it.
import { afterEach, describe, expect, test } from '@jest/globals';
import { API_VERSION, type TerraceNode, decodeClusterFence, decodeRemoteClusterState } from '@terrace/api';
import { Allocator } from '@terrace/ipam';
import type { Etcd3, IRequestOp, ITxnRequest } from 'etcd3';
import { type Harness, harness, pool, sleep, waitFor } from './fixtures.js';
import { FAST_REMOTE, type OwnEtcd, fenceDoc, ownEtcd, remoteCluster, remoteStore, stateDoc } from './remote-fixtures.js';

let h: Harness | undefined;
let b: OwnEtcd | undefined;
const clients: Etcd3[] = [];
afterEach(async () => {
  b?.resume();
  await h?.close();
  h = undefined;
  for (const c of clients.splice(0)) c.close();
  await b?.close();
  b = undefined;
});

function node(name: string, addr: string): TerraceNode {
  return { apiVersion: API_VERSION, kind: 'Node', metadata: { name }, spec: { bgp: { ipv4Address: `${addr}/24` } } };
}

/**
 * Records, from now on, every put, delete and transaction `etcd` sends that
 * would write a key under `prefix` (as "put KEY" / "delete KEY"), whether or
 * not etcd then commits it.
 */
function writesTo(etcd: Etcd3, prefix: string): string[] {
  const sent: string[] = [];
  const note = (what: string, key: Buffer | string | undefined): void => {
    const k = key === undefined ? '' : key.toString();
    if (k.startsWith(prefix)) sent.push(`${what} ${k}`);
  };
  const ops = (list: IRequestOp[] | undefined): void => {
    for (const op of list ?? []) {
      if (op.request_put) note('put', op.request_put.key);
      if (op.request_delete_range) note('delete', op.request_delete_range.key);
      if (op.request_txn) txnOps(op.request_txn);
    }
  };
  const txnOps = (req: ITxnRequest): void => {
    ops(req.success);
    ops(req.failure);
  };
  const kv = etcd.kv;
  const put = kv.put.bind(kv);
  const deleteRange = kv.deleteRange.bind(kv);
  const txn = kv.txn.bind(kv);
  kv.put = (req, opts) => {
    note('put', req.key);
    return put(req, opts);
  };
  kv.deleteRange = (req, opts) => {
    note('delete', req.key);
    return deleteRange(req, opts);
  };
  kv.txn = (req, opts) => {
    txnOps(req);
    return txn(req, opts);
  };
  return sent;
}

/** B with one pool overlapping A's 198.18.0.0/16 and one gateway node. */
async function clusterB(tag: string): Promise<ReturnType<typeof remoteStore>> {
  b = await ownEtcd();
  const rb = remoteStore(b.endpoint, tag);
  clients.push(rb.etcd);
  await rb.store.applyAll([pool('b-pool', '198.18.4.0/24'), node('b1', '198.18.9.1')]);
  return rb;
}

/** A with a pool overlapping B's, its controller ctl-1 leading and the overlap fenced. */
async function fencedOverlap(tag: string): Promise<{ x: Harness; ctl: Awaited<ReturnType<Harness['startController']>> }> {
  const rb = await clusterB(`${tag}-b`);
  h = harness(tag);
  const x = h;
  await x.store.create(pool('a-pool', '198.18.0.0/16'));
  await x.store.create(remoteCluster('cb', rb.keys.cluster, (b as OwnEtcd).endpoint));
  const ctl = await x.startController('ctl-1', { remote: FAST_REMOTE });
  await waitFor('the overlap fenced and B in the state doc', async () => {
    const s = await stateDoc(x.etcd, x.keys, 'cb');
    return (await fenceDoc(x.etcd, x.keys))?.fenced.length === 1 && s?.connection === 'Connected' && s.pools.length === 1 && s.gateways.length === 1;
  });
  return { x, ctl };
}

describe('remote view unknown or records lost', () => {
  test('a new leader that cannot list B (B down) keeps B\'s fenced range, pools and gateways; so does an edited RemoteCluster', async () => {
    const { x, ctl: one } = await fencedOverlap('rec-fo');
    const held = async (): Promise<void> => {
      expect((await fenceDoc(x.etcd, x.keys))?.fenced.map((f) => [f.cidr, f.remotePool])).toEqual([['198.18.4.0/24', 'b-pool']]);
      const s = await stateDoc(x.etcd, x.keys, 'cb');
      expect(s?.pools.map((p) => p.name)).toEqual(['b-pool']);
      expect(s?.gateways.map((g) => g.name)).toEqual(['b1']);
      expect(s?.overlaps.map((o) => o.fenced)).toEqual(['198.18.4.0/24']);
    };

    await (b as OwnEtcd).stop();
    await one.c.stop();
    const two = await x.startController('ctl-2', { remote: FAST_REMOTE });
    await waitFor('ctl-2 to lead and write B as unreachable', async () => two.c.isLeader() && (await stateDoc(x.etcd, x.keys, 'cb'))?.connection !== 'Connected', 15_000);
    await sleep(1500); // several refresh rounds of ctl-2
    await held();

    // An edited RemoteCluster restarts its sync: still unknown, still kept.
    const rc = await x.store.get('RemoteCluster', 'cb');
    await x.store.replace({ ...rc, spec: { ...rc.spec, staleAfter: '3s' } });
    await waitFor('the sync restarted', () => two.lines.filter((l) => l.message === 'remote cluster sync started').length === 2);
    await sleep(1500);
    await held();

    // B back: its real view, the overlap still fenced.
    await (b as OwnEtcd).restart();
    await waitFor('Connected again', async () => (await stateDoc(x.etcd, x.keys, 'cb'))?.connection === 'Connected', 15_000);
    await held();
  });

  test('stopped while a round waits on a hung B: nothing is written after stop() begins', async () => {
    const { x, ctl } = await fencedOverlap('rec-stop');
    (b as OwnEtcd).pause();
    // A pool awaiting admission: every round now spends its time in a fresh read of B (1 s deadline).
    await x.store.create(pool('a-new', '198.19.0.0/24'));
    await waitFor('a-new held, waiting for B', async () => /waiting for remote cluster cb/.test((await fenceDoc(x.etcd, x.keys))?.held[0]?.reason ?? ''), 10_000);
    await sleep(300);
    // What the controller's own client sends from here on. (Comparing the
    // records before and after would also catch a write a round sent before
    // stop() began and etcd committed a little later.)
    const sent = writesTo(ctl.etcd, `${x.keys.prefix}multicluster/`);
    await ctl.c.stop();
    await sleep(1500);
    expect(sent).toEqual([]);
    expect((await fenceDoc(x.etcd, x.keys))?.fenced.map((f) => f.cidr)).toEqual(['198.18.4.0/24']);
  });

  test('a deleted or unreadable fence is rewritten at once with every pool checked again: a held pool stays held', async () => {
    const rb = await clusterB('rec-lost-b');
    h = harness('rec-lost');
    const x = h;
    await x.store.create(pool('a-base', '198.19.0.0/24'));
    await x.store.create(remoteCluster('cb', rb.keys.cluster, (b as OwnEtcd).endpoint));
    await x.startController('ctl-1', { remote: FAST_REMOTE });
    await waitFor('a-base cleared at activation', async () => (await fenceDoc(x.etcd, x.keys))?.cleared['a-base'] !== undefined);
    (b as OwnEtcd).pause();
    await x.store.create(pool('a-new', '198.19.1.0/24'));
    await waitFor('a-new held', async () => (await fenceDoc(x.etcd, x.keys))?.held.some((p) => p.pool === 'a-new') === true, 10_000);

    const nothingCleared = async (what: string): Promise<void> => {
      await waitFor(what, async () => {
        const t = await x.etcd.get(x.keys.fence()).string();
        if (t === null) return false;
        try {
          return decodeClusterFence('fence', t).held.length === 2;
        } catch {
          return false;
        }
      }, 10_000);
      const f = await fenceDoc(x.etcd, x.keys);
      expect(f?.cleared).toEqual({});
      expect(f?.held.map((p) => [p.pool, /^waiting for remote cluster cb: unreachable since /.test(p.reason)])).toEqual([['a-base', true], ['a-new', true]]);
      expect(f?.fenced).toEqual([]); // B's pool does not overlap A's pools here
    };
    await x.etcd.delete().key(x.keys.fence()).exec();
    await nothingCleared('the deleted fence rewritten, nothing cleared without a fresh read');
    await x.etcd.put(x.keys.fence()).value('{"cleared": "oops"').exec();
    await nothingCleared('the unreadable fence rewritten, nothing cleared without a fresh read');

    (b as OwnEtcd).resume();
    await waitFor('both cleared once B answers', async () => {
      const f = await fenceDoc(x.etcd, x.keys);
      return f?.cleared['a-base'] !== undefined && f.cleared['a-new'] !== undefined && f.held.length === 0;
    }, 15_000);
  });

  test('a remote pool that is not a CIDR, or not JSON, is left out and named in the state doc\'s error; the doc stays readable', async () => {
    b = await ownEtcd();
    const rb = remoteStore(b.endpoint, 'rec-bad-b');
    clients.push(rb.etcd);
    await rb.store.create(pool('b-good', '198.19.0.0/24'));
    const bad = { apiVersion: API_VERSION, kind: 'IPPool', metadata: { name: 'b-bad' }, spec: { cidr: 'not-a-cidr' } };
    await rb.etcd.put(rb.keys.resource('IPPool', 'b-bad')).value(JSON.stringify(bad)).exec();
    await rb.etcd.put(rb.keys.resource('IPPool', 'b-broken')).value('{').exec();
    h = harness('rec-bad');
    const x = h;
    await x.store.create(remoteCluster('cb', rb.keys.cluster, b.endpoint));
    await x.startController('ctl-1', { remote: FAST_REMOTE });
    await waitFor('B synced', async () => (await stateDoc(x.etcd, x.keys, 'cb'))?.connection === 'Connected');
    const key = x.keys.remoteState('cb');
    const doc = decodeRemoteClusterState(key, (await x.etcd.get(key).string()) ?? '');
    expect(doc.pools.map((p) => p.name)).toEqual(['b-good']);
    expect(doc.error).toBe(
      `${rb.keys.resource('IPPool', 'b-broken')} is not JSON (left out); pool b-bad: spec.cidr "not-a-cidr" is not a CIDR (left out)`,
    );
    // Local pool writes still work (they read the state doc).
    await x.store.create(pool('a-pool', '198.18.0.0/24'));
    // Fixed at the source: reported no more.
    await rb.etcd.put(rb.keys.resource('IPPool', 'b-bad')).value(JSON.stringify({ ...bad, spec: { cidr: '198.19.1.0/24' } })).exec();
    await rb.etcd.delete().key(rb.keys.resource('IPPool', 'b-broken')).exec();
    await waitFor('the error gone', async () => {
      const s = await stateDoc(x.etcd, x.keys, 'cb');
      return s !== undefined && s.error === undefined && s.pools.length === 2;
    });
  });

  test('a pool stored without a uid is cleared under the uid the allocator reads, and used', async () => {
    b = await ownEtcd();
    const rb = remoteStore(b.endpoint, 'rec-uid-b');
    clients.push(rb.etcd);
    h = harness('rec-uid');
    const x = h;
    const bare = { apiVersion: API_VERSION, kind: 'IPPool', metadata: { name: 'bare' }, spec: { cidr: '198.18.0.0/24', blockSize: 26 } };
    await x.etcd.put(x.keys.resource('IPPool', 'bare')).value(JSON.stringify(bare)).exec();
    await x.store.applyAll([{ apiVersion: API_VERSION, kind: 'Node', metadata: { name: 'n1' }, spec: {} }]);
    await x.store.create(remoteCluster('cb', rb.keys.cluster, b.endpoint));
    await x.startController('ctl-1', { remote: FAST_REMOTE });
    await waitFor('bare cleared', async () => (await fenceDoc(x.etcd, x.keys))?.cleared.bare !== undefined);
    const r = await new Allocator({ etcd: x.etcd, keys: x.keys, cacheTtlMs: 0 }).allocate({ handle: 'h1', node: 'n1' });
    expect(r.ips[0]?.ip).toMatch(/^198\.18\.0\./);
  });
});
