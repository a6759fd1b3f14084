// Pod interfaces whose ids hold dots once shared a handle, hence an
// address, and DEL of one freed the other's. Against the real etcd: every
// interface gets its own handle and address, DEL frees only its own, and
// what an older agent stored under the old handle form is still released,
// but only by the interface its allocation names.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { Allocator, type PodRef, legacyPodHandle, podHandle } from '../src/index.js';
import { cniTriples } from './fixtures/cni-ids.js';
import { type TestCluster, putNode, putPool, testCluster } from './fixtures/cluster.js';
import { liveAllocations } from './fixtures/invariants.js';

let c: TestCluster;
let a: Allocator;
beforeAll(async () => {
  c = testCluster('podh');
  await putPool(c, 'v4', '10.65.0.0/24', { blockSize: 26 });
  await putPool(c, 'v6', 'fd00:65::/120', { blockSize: 122 });
  await putNode(c, 'n1');
  a = new Allocator({ etcd: c.etcd, keys: c.keys });
});
afterAll(() => c.close());

/** A clean slate for each property run, so that a failing run cannot spoil the next (or the shrunk counterexample). */
async function reset(): Promise<void> {
  for (const prefix of [c.keys.blockPrefix(), c.keys.handlePrefix(), c.keys.affinityPrefix()]) await c.etcd.delete().prefix(prefix).exec();
  a = new Allocator({ etcd: c.etcd, keys: c.keys });
}

const handleOf = (p: PodRef): string => podHandle(p.network, p.containerId, p.ifname);
/** ADD as the agent does it. */
const add = async (p: PodRef, handle = handleOf(p)): Promise<string> =>
  (await a.allocate({ handle, node: 'n1', attrs: { containerID: p.containerId, iface: p.ifname } })).ips[0]?.ip ?? '';

test('x1.eth0 + eth1 and x1 + eth0.eth1: two handles, two addresses, DEL of one keeps the other', async () => {
  const first = { network: 'net', containerId: 'x1.eth0', ifname: 'eth1' };
  const second = { network: 'net', containerId: 'x1', ifname: 'eth0.eth1' };
  const ip1 = await add(first);
  const ip2 = await add(second);
  expect(handleOf(first)).not.toBe(handleOf(second));
  expect(ip1).not.toBe(ip2);
  expect((await a.releasePod(second)).map((r) => r.ip)).toEqual([ip2]);
  expect((await a.lookup(ip1))?.handle).toBe(handleOf(first));
  expect((await a.releasePod(first)).map((r) => r.ip)).toEqual([ip1]);
});

test('a pod added by an older agent (old handle form) is released by its DEL', async () => {
  const pod = { network: 'net', containerId: 'old1', ifname: 'eth0' };
  const ip = await add(pod, 'net.old1.eth0');
  expect((await a.releasePod(pod)).map((r) => r.ip)).toEqual([ip]);
  expect(await a.lookup(ip)).toBeUndefined();
  expect(await c.etcd.get(c.keys.handle('net.old1.eth0')).string()).toBeNull();
});

test('an old handle shared by two interfaces: each DEL frees only the allocation that names it', async () => {
  const first = { network: 'net', containerId: 'y1.eth0', ifname: 'eth1' };
  const second = { network: 'net', containerId: 'y1', ifname: 'eth0.eth1' };
  const old = legacyPodHandle(first.network, first.containerId, first.ifname) as string;
  expect(legacyPodHandle(second.network, second.containerId, second.ifname)).toBe(old);
  // The older agent gave both interfaces the same handle: the second ADD got
  // the first one's address back. A later IPv6 ADD of the second stored its
  // own allocation under that handle too.
  const ip1 = await add(first, old);
  expect(await add(second, old)).toBe(ip1);
  const ip6 = (await a.allocate({ handle: old, node: 'n1', family: 6, attrs: { containerID: second.containerId, iface: second.ifname } })).ips[0]?.ip;

  // DEL of the second interface: frees its own v6 address, not the first's v4.
  expect((await a.releasePod(second)).map((r) => r.ip)).toEqual([ip6]);
  expect((await a.lookup(ip1))?.handle).toBe(old);
  expect((await a.releasePod(second)).map((r) => r.ip)).toEqual([]);
  expect((await a.releasePod(first)).map((r) => r.ip)).toEqual([ip1]);
  expect(await c.etcd.get(c.keys.handle(old)).string()).toBeNull();
});

test('property: distinct interfaces never share a handle or an address, and DEL of one frees only its own', async () => {
  const pods = cniTriples();
  await fc.assert(
    fc.asyncProperty(pods, fc.nat(), async (list, pick) => {
      await reset();
      const ips: string[] = [];
      for (const p of list) ips.push(await add(p));
      expect(new Set(list.map(handleOf)).size).toBe(list.length);
      expect(new Set(ips).size).toBe(list.length);
      const victim = pick % list.length;
      expect((await a.releasePod(list[victim] as PodRef)).map((r) => r.ip)).toEqual([ips[victim]]);
      for (let i = 0; i < list.length; i++) {
        if (i === victim) expect(await a.lookup(ips[i] as string)).toBeUndefined();
        else expect((await a.lookup(ips[i] as string))?.handle).toBe(handleOf(list[i] as PodRef));
      }
      for (const p of list) await a.releasePod(p);
      expect((await liveAllocations(c)).byIP.size).toBe(0);
    }),
    { numRuns: 40 },
  );
}, 60000);

test('property: DEL never frees an address whose allocation names another interface, old handle form included', async () => {
  // Each pod was added by an older agent (old form, when that is a valid
  // handle) or by this one; old-form pods may share a handle and address.
  const pods = cniTriples().chain((l) => fc.tuple(...l.map((pod) => fc.record({ pod: fc.constant(pod), old: fc.boolean() }))));
  await fc.assert(
    fc.asyncProperty(pods, fc.nat(), async (list, pick) => {
      await reset();
      const holder = new Map<string, PodRef>();
      for (const { pod, old } of list) {
        const legacy = old ? legacyPodHandle(pod.network, pod.containerId, pod.ifname) : undefined;
        const ip = await add(pod, legacy ?? handleOf(pod));
        if (!holder.has(ip)) holder.set(ip, pod); // a shared old handle returned the first holder's address
      }
      const victim = (list[pick % list.length] as { pod: PodRef }).pod;
      const freed = (await a.releasePod(victim)).map((r) => r.ip).sort();
      const own = [...holder].filter(([, p]) => p === victim).map(([ip]) => ip);
      expect(freed).toEqual(own.sort());
      for (const [ip, p] of holder) {
        const info = await a.lookup(ip);
        if (p === victim) expect(info).toBeUndefined();
        else expect([info?.containerID, info?.iface]).toEqual([p.containerId, p.ifname]);
      }
      for (const { pod } of list) await a.releasePod(pod);
      const { byIP, problems } = await liveAllocations(c);
      expect([byIP.size, problems]).toEqual([0, []]);
    }),
    { numRuns: 40 },
  );
}, 60000);
