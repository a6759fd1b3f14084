// Remote-cluster sync against real etcds: cluster A (the shared test etcd) reads cluster B (an etcd of
// this suite's own, stopped, moved and paused by PID). State docs, a delete missed while away, staleness,
// passes that go on while B hangs, overlaps fenced and unfenced.
import { afterEach, describe, expect, test } from '@jest/globals';
import { API_VERSION, type ClusterFence, type RemoteClusterState, type TerraceNode } from '@terrace/api';
import { EtcdResourceStore, Keys } from '@terrace/datastore';
import { uniqueCluster } from '@terrace/testkit';
import { Etcd3 } from 'etcd3';
import { type Harness, harness, pool, waitFor } from './fixtures.js';
import { readStatus } from '../src/status.js';
import { decodeEvents } from '../src/events.js';
import { FAST_REMOTE, type OwnEtcd, ownEtcd, remoteCluster } from './remote-fixtures.js';

let h: Harness | undefined;
let b: OwnEtcd | undefined;
const clients: Etcd3[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const c of clients.splice(0)) c.close();
  await b?.close();
  b = undefined;
});

async function stateOf(x: Harness, name: string): Promise<RemoteClusterState | undefined> {
  const t = await x.etcd.get(x.keys.remoteState(name)).string();
  return t === null ? undefined : (JSON.parse(t) as RemoteClusterState);
}

/** The kinds and subjects of the recent-events record (the status page's list). */
async function eventsOf(x: Harness): Promise<string[]> {
  return decodeEvents(await x.etcd.get(x.keys.controllerEvents()).string()).map((e) => `${e.kind} ${e.subject}`);
}

async function fenceOf(x: Harness): Promise<ClusterFence | undefined> {
  const t = await x.etcd.get(x.keys.fence()).string();
  return t === null ? undefined : (JSON.parse(t) as ClusterFence);
}

function node(name: string, addr: string, labels: Record<string, string> = {}): TerraceNode {
  return { apiVersion: API_VERSION, kind: 'Node', metadata: { name, labels }, spec: { bgp: { ipv4Address: `${addr}/24` } } };
}

async function remoteB(endpoint: string): Promise<{ keys: Keys; etcd: Etcd3; store: EtcdResourceStore }> {
  const keys = new Keys(uniqueCluster('rb'));
  const etcd = new Etcd3({ hosts: endpoint });
  clients.push(etcd);
  return { keys, etcd, store: new EtcdResourceStore(etcd, keys) };
}

describe('remote sync', () => {
  test('pools, nodes, gateways and blocks reach the state doc; a delete missed while B was away is gone after it returns', async () => {
    b = await ownEtcd();
    const rb = await remoteB(b.endpoint);
    await rb.store.applyAll([pool('b-one', '198.19.0.0/24'), pool('b-two', '198.19.1.0/24'), node('b1', '198.18.9.1', { gw: 'yes' }), node('b2', '198.18.9.2')]);
    await rb.etcd.put(rb.keys.block('198.19.0.0/26')).value('{}').exec();
    await rb.etcd.put(rb.keys.block('198.19.0.64/26')).value('{}').exec();

    h = harness('rs-sync');
    const x = h;
    await x.store.create(remoteCluster('cb', rb.keys.cluster, b.endpoint, { remoteGatewaySelector: 'gw == "yes"' }));
    const ctl = await x.startController('ctl-a', { remote: FAST_REMOTE });
    await waitFor('A to lead', () => ctl.c.isLeader());
    await waitFor('B\'s view in A\'s state doc', async () => {
      const s = await stateOf(x, 'cb');
      // Not stale as well: on a loaded machine lastSynced can age past staleAfter
      // between one refresh and the next, so the fresh state is waited for.
      return s?.connection === 'Connected' && s.pools.length === 2 && s.nodes === 2 && s.blocks === 2 && !s.stale;
    });
    const s = (await stateOf(x, 'cb')) as RemoteClusterState;
    expect(s.pools).toEqual([{ name: 'b-one', cidr: '198.19.0.0/24', disabled: false }, { name: 'b-two', cidr: '198.19.1.0/24', disabled: false }]);
    expect(s.gateways).toEqual([{ name: 'b1', addresses: ['198.18.9.1'], asNumber: 64512 }]);
    expect(s.stale).toBe(false);
    expect(s.lastSynced).toBeDefined();
    // Nothing overlaps, but the fence exists (activated) and clears A's pools (none yet).
    expect(await fenceOf(x)).toMatchObject({ cleared: {}, held: [], fenced: [] });

    // B goes away: Unreachable, then stale after staleAfter (2 s).
    await b.stop();
    await waitFor('Unreachable', async () => (await stateOf(x, 'cb'))?.connection === 'Unreachable', 10_000);
    await waitFor('stale', async () => (await stateOf(x, 'cb'))?.stale === true, 10_000);
    expect((await stateOf(x, 'cb'))?.pools).toHaveLength(2); // the last view is kept

    // While A cannot reach it, B deletes a pool and a block and compacts its history
    // (B serves on another port meanwhile, so A misses the events entirely).
    const side = await b.restart(await (await import('@terrace/testkit')).freePort());
    const sideClient = new Etcd3({ hosts: side });
    clients.push(sideClient);
    await sideClient.delete().key(rb.keys.resource('IPPool', 'b-two')).exec();
    await sideClient.delete().key(rb.keys.block('198.19.0.64/26')).exec();
    const rev = (await sideClient.get('x').exec()).header.revision;
    await sideClient.kv.compact({ revision: rev, physical: true });
    sideClient.close();
    await b.restart();

    await waitFor('the fresh list to drop the missed deletes', async () => {
      const t = await stateOf(x, 'cb');
      return t?.connection === 'Connected' && !t.stale && t.pools.length === 1 && t.blocks === 1;
    }, 15_000);
    expect((await stateOf(x, 'cb'))?.pools.map((p) => p.name)).toEqual(['b-one']);

    // The RemoteCluster goes: its state doc and the fence go too.
    await x.store.delete('RemoteCluster', 'cb');
    await waitFor('state doc and fence removed', async () => (await stateOf(x, 'cb')) === undefined && (await fenceOf(x)) === undefined);
  });

  test('a remote that hangs (SIGSTOP) does not hold up A\'s passes; it is reported Unreachable', async () => {
    b = await ownEtcd();
    const rb = await remoteB(b.endpoint);
    await rb.store.applyAll([pool('b-one', '198.19.0.0/24')]);
    h = harness('rs-hang');
    const x = h;
    await x.store.create(remoteCluster('cb', rb.keys.cluster, b.endpoint));
    // Calls to B time out after 5 s: passes held up by B could not make five
    // in the 15 s allowed below, while free passes (200 ms apart) make them at once.
    const ctl = await x.startController('ctl-a', { remote: { ...FAST_REMOTE, sync: { ...FAST_REMOTE.sync, timeoutMs: 5000 } }, intervalMs: 200 });
    await waitFor('Connected', async () => (await stateOf(x, 'cb'))?.connection === 'Connected');

    b.pause();
    try {
      const passes: number[] = [];
      ctl.c.on('pass', () => passes.push(Date.now()));
      // A new local pool while B hangs: created at once, held (it cannot be checked against B).
      await x.store.create(pool('a-new', '198.18.0.0/24'));
      await waitFor('passes to go on while B hangs', () => passes.length >= 5, 15_000);
      await waitFor('Unreachable', async () => (await stateOf(x, 'cb'))?.connection === 'Unreachable', 20_000);
      await waitFor('a-new held with the reason', async () => /waiting for remote cluster cb: unreachable since/.test((await fenceOf(x))?.held[0]?.reason ?? ''), 10_000);
      await waitFor('a pool held event', async () => (await eventsOf(x)).includes('pool held a-new'));
    } finally {
      b.resume();
    }
    await waitFor('Connected again and a-new cleared', async () => {
      const f = await fenceOf(x);
      return (await stateOf(x, 'cb'))?.connection === 'Connected' && f?.cleared['a-new'] !== undefined && f.held.length === 0;
    }, 15_000);
  });

  test('a remote pool overlapping a local one is reported and fenced by the smaller range within seconds, and unfenced when it goes', async () => {
    b = await ownEtcd();
    const rb = await remoteB(b.endpoint);
    h = harness('rs-overlap');
    const x = h;
    await x.store.create(pool('a-pool', '198.18.0.0/16'));
    await x.store.create(remoteCluster('cb', rb.keys.cluster, b.endpoint));
    const ctl = await x.startController('ctl-a', { remote: FAST_REMOTE, intervalMs: 300 });
    await waitFor('fence activated, a-pool cleared', async () => (await fenceOf(x))?.cleared['a-pool'] !== undefined);

    const created = Date.now();
    await rb.store.create(pool('b-pool', '198.18.4.0/24'));
    await waitFor('the overlap fenced', async () => (await fenceOf(x))?.fenced.length === 1, 10_000);
    const detectMs = Date.now() - created;
    const f = (await fenceOf(x)) as ClusterFence;
    expect(f.fenced[0]).toMatchObject({ cidr: '198.18.4.0/24', pool: 'a-pool', remote: 'cb', remotePool: 'b-pool', remoteCidr: '198.18.4.0/24' });
    expect(f.cleared['a-pool']).toBeDefined(); // existing pools stay usable outside the fenced range
    await waitFor('the overlap in the state doc', async () => (await stateOf(x, 'cb'))?.overlaps.length === 1);
    expect((await stateOf(x, 'cb'))?.overlaps[0]).toMatchObject({ pool: 'a-pool', cidr: '198.18.0.0/16', remotePool: 'b-pool', fenced: '198.18.4.0/24' });
    expect(ctl.lines.some((l) => l.level === 'warn' && /overlaps a remote/.test(l.message) && l.remotePool === 'b-pool')).toBe(true);
    await waitFor('an overlap found event', async () => (await eventsOf(x)).includes('overlap found a-pool'));
    expect(detectMs).toBeLessThan(10_000); // "within seconds", generous for a loaded machine
    await waitFor('the summary in the controller status', async () => {
      const st = await readStatus(x.etcd, x.keys);
      return st?.remotes?.overlaps === 1 && st.remotes.remotes === 1 && st.remotes.connected === 1 && st.remotes.held === 0;
    });

    await rb.store.delete('IPPool', 'b-pool');
    await waitFor('the fence lifted', async () => (await fenceOf(x))?.fenced.length === 0, 10_000);
    await waitFor('no overlap in the state doc', async () => (await stateOf(x, 'cb'))?.overlaps.length === 0);
  });
});
