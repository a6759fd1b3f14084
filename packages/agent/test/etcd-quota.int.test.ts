// etcd with a full quota (--quota-backend-bytes) raises the NOSPACE alarm
// and refuses every write until an operator frees space. The writes we make
// (a pool apply, a CNI ADD's allocation) must fail with one line that names
// the cause and the way out; reads and what is already allocated stay; after
// compaction, defragmentation and disarming the alarm, writes work again.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { API_VERSION, TerraceError, type IPPool, type TerraceNode } from '@terrace/api';
import { EtcdResourceStore, Keys, createClient } from '@terrace/datastore';
import { Allocator } from '@terrace/ipam';
import { etcdctl, fillUntilNoSpace, freeSpace, startEtcd, uniqueCluster, type EtcdHandle } from '@terrace/testkit';
import type { Etcd3 } from 'etcd3';
import { allocatorIpam, type CniIpam } from '../src/cni/index.js';

// Small enough to fill in a second or two, large enough for etcd to start.
const QUOTA = 2 * 1024 * 1024;
const SPACE = /^etcd database space exceeded at http:\/\/127\.0\.0\.1:\d+ .*: compact and defragment, then disarm the alarm$/;

let etcdd: EtcdHandle;
let etcd: Etcd3;
let keys: Keys;
let store: EtcdResourceStore;
let ipam: CniIpam;

function pool(name: string, cidr: string): IPPool {
  return {
    apiVersion: API_VERSION,
    kind: 'IPPool',
    metadata: { name },
    spec: { cidr, blockSize: 28, nodeSelector: 'all()', disabled: false, disableBGPExport: false, natOutgoing: false, allowedUses: ['Workload'], assignmentMode: 'Automatic', ipipMode: 'Never', vxlanMode: 'Never' },
  };
}

async function failure(p: Promise<unknown>): Promise<TerraceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TerraceError);
  return err as TerraceError;
}

beforeAll(async () => {
  etcdd = await startEtcd({ name: 'terrace-quota', args: [`--quota-backend-bytes=${QUOTA}`] });
  keys = new Keys(uniqueCluster('quota'));
  etcd = createClient({ endpoints: [etcdd.endpoint], cluster: keys.cluster, sources: {} });
  store = new EtcdResourceStore(etcd, keys);
  await store.applyAll([pool('v4', '198.18.70.0/24')]);
  const node: TerraceNode = { apiVersion: API_VERSION, kind: 'Node', metadata: { name: 'n1', labels: {} }, spec: {} };
  await etcd.put(keys.resource('Node', 'n1')).value(JSON.stringify(node)).exec();
  ipam = allocatorIpam(new Allocator({ etcd, keys, cacheTtlMs: 0 }));
});

afterAll(async () => {
  etcd?.close();
  await etcdd?.stop();
});

describe('etcd quota exceeded', () => {
  it('refuses writes with the cause and the remedy, keeps reads, and recovers after compact, defrag and disarm', async () => {
    const before = await ipam.allocate({ handle: 'running', node: 'n1' });
    const held = before.ips[0]?.ip ?? '';

    // Fill the database until etcd raises the alarm (bounded: 2 MiB / 100 kB).
    const filled = await fillUntilNoSpace(etcd, `${keys.prefix}filler/`);
    expect(await etcdctl(etcdd.endpoint, 'alarm', 'list')).toContain('NOSPACE');

    const applyErr = await failure(store.applyAll([pool('v4b', '198.18.71.0/24')]));
    expect(applyErr.code).toBe('Unavailable');
    expect(applyErr.message).toMatch(SPACE);
    const addErr = await failure(ipam.allocate({ handle: 'new-pod', node: 'n1' }));
    // Unavailable is CNI code 11: the runtime may retry once space is freed.
    expect(addErr.code).toBe('Unavailable');
    expect(addErr.message).toMatch(SPACE);

    // Reads and the running pod's allocation are untouched; nothing half-written.
    expect((await store.list('IPPool')).items.map((p) => p.metadata.name)).toEqual(['v4']);
    expect(await ipam.lookup(held)).toMatchObject({ handle: 'running' });
    expect((await ipam.nodeAllocations('n1')).map((a) => a.handle)).toEqual(['running']);

    // The operator's way out, as the message says.
    const t0 = Date.now();
    await freeSpace(etcd, etcdd.endpoint, `${keys.prefix}filler/`);

    await store.applyAll([pool('v4b', '198.18.71.0/24')]);
    const after = await ipam.allocate({ handle: 'new-pod', node: 'n1' });
    console.log(`quota full after ${filled} fillers of 100 kB: ${addErr.message}; writes back ${Date.now() - t0} ms after delete, compact, defrag and disarm began`);
    expect(after.ips[0]?.ip).toBeDefined();
    expect(after.ips[0]?.ip).not.toBe(held);
  }, 60_000);
});
