// `ipam check` notices two live interfaces holding one address, in the
// states the old, ambiguous handle form left behind (written here as an
// older agent wrote them), and repair leaves them to a person.
import { afterEach, expect, test } from '@jest/globals';
import { Allocator, type CheckIssue, encodeHandle, podHandle } from '../src/index.js';
import { type TestCluster, putNode, putPool, testCluster } from './fixtures/cluster.js';

let c: TestCluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

async function setup(): Promise<{ c: TestCluster; a: Allocator }> {
  c = testCluster('chkshared');
  await putPool(c, 'v4', '10.66.0.0/24', { blockSize: 28 });
  await putPool(c, 'v6', 'fd00:66::/120', { blockSize: 124 });
  await putNode(c, 'n1');
  return { c, a: new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 }) };
}

const kinds = (issues: CheckIssue[]): string[] => issues.map((i) => i.kind).sort();

test('pods on well-formed handles, old form included, are clean', async () => {
  const { a } = await setup();
  await a.allocate({ handle: podHandle('net', 'x1.eth0', 'eth1'), node: 'n1', family: 'dual', attrs: { containerID: 'x1.eth0', iface: 'eth1' } });
  await a.allocate({ handle: podHandle('net', 'x1', 'eth0.eth1'), node: 'n1', family: 'dual', attrs: { containerID: 'x1', iface: 'eth0.eth1' } });
  await a.allocate({ handle: 'net.old1.eth0', node: 'n1', attrs: { containerID: 'old1', iface: 'eth0' } });
  await a.allocate({ handle: 'not-a-pod', node: 'n1' });
  expect((await a.check()).issues).toEqual([]);
});

test('an old handle holding addresses of two interfaces', async () => {
  const { a } = await setup();
  // The older agent: x1.eth0+eth1 got v4 under net.x1.eth0.eth1, then x1+eth0.eth1's
  // dual-stack ADD got that v4 back and a v6 of its own, under the same handle.
  const v4 = await a.allocate({ handle: 'net.x1.eth0.eth1', node: 'n1', attrs: { containerID: 'x1.eth0', iface: 'eth1' } });
  await a.allocate({ handle: 'net.x1.eth0.eth1', node: 'n1', family: 'dual', attrs: { containerID: 'x1', iface: 'eth0.eth1' } });
  const report = await a.check();
  expect(kinds(report.issues)).toEqual(['handleOfTwoInterfaces']);
  expect(report.summary.handleOfTwoInterfaces).toBe(1);
  expect(report.issues[0]).toMatchObject({
    key: c?.keys.handle('net.x1.eth0.eth1'),
    handle: 'net.x1.eth0.eth1',
    interfaces: expect.arrayContaining([
      { containerID: 'x1.eth0', iface: 'eth1' },
      { containerID: 'x1', iface: 'eth0.eth1' },
    ]),
  });
  // Repair does not guess which interface keeps it.
  const actions = await a.repair(report);
  expect(actions.map((x) => x.outcome)).toEqual(['skipped']);
  expect((await a.lookup(v4.ips[0]?.ip ?? ''))?.handle).toBe('net.x1.eth0.eth1');
});

test('an allocation whose interface does not build its handle, in either form', async () => {
  const { a } = await setup();
  await a.allocate({ handle: 'net.z1.eth0', node: 'n1', attrs: { containerID: 'z2', iface: 'eth0' } });
  await a.allocate({ handle: podHandle('net', 'w1', 'eth0'), node: 'n1', attrs: { containerID: 'w1', iface: 'eth1' } });
  const report = await a.check();
  expect(kinds(report.issues)).toEqual(['allocationNotOfHandle', 'allocationNotOfHandle']);
  expect(report.issues.map((i) => i.handle).sort()).toEqual(['net.z1.eth0', 'net:w1:eth0']);
});

test('an address listed by two handles', async () => {
  const { c, a } = await setup();
  const r = await a.allocate({ handle: 'net.q1.eth0', node: 'n1', attrs: { containerID: 'q1', iface: 'eth0' } });
  const e = r.ips[0];
  if (!e) throw new Error('no address');
  // A second handle record naming the same allocation, as an interrupted old-form write could leave.
  await c.etcd.put(c.keys.handle('net.q2.eth0')).value(encodeHandle({ handle: 'net.q2.eth0', ips: [{ block: e.block, ordinal: e.ordinal, seq: e.seq, ip: e.ip }] })).exec();
  const report = await a.check();
  expect(kinds(report.issues)).toEqual(['addressInTwoHandles', 'handleWithoutAllocation']);
  expect(report.issues.find((i) => i.kind === 'addressInTwoHandles')).toMatchObject({ ip: e.ip, handles: ['net.q1.eth0', 'net.q2.eth0'] });
});
