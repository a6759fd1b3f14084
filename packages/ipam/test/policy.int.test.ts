// Where addresses come from: affinity, borrowing, strictAffinity, limits,
// pool selection (Manual, disabled, node selectors), families, exhaustion.
import { afterEach, describe, expect, test } from '@jest/globals';
import { isTerraceError } from '@terrace/api';
import { Allocator } from '../src/index.js';
import { type TestCluster, putIpamConfig, putNode, putPool, testCluster } from './fixtures/cluster.js';

let c: TestCluster | undefined;
afterEach(async () => {
  await c?.close();
  c = undefined;
});

function setup(): { c: TestCluster; a: Allocator } {
  c = testCluster('pol');
  return { c, a: new Allocator({ etcd: c.etcd, keys: c.keys, cacheTtlMs: 0 }) };
}

async function expectError(p: Promise<unknown>, code: string, text: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    expect(isTerraceError(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    expect((e as Error).message).toMatch(text);
    return;
  }
  throw new Error('expected an error');
}

describe('IPAM allocation policy', () => {
  test('borrows from another node once its own pool space is gone', async () => {
    const { c, a } = setup();
    await putPool(c, 'small', '10.20.0.0/27', { blockSize: 28 }); // two blocks of 16
    await putNode(c, 'n1');
    await putNode(c, 'n2');
    await putIpamConfig(c, { maxBlocksPerHost: 1 });
    const first = await a.allocate({ handle: 'a0', node: 'n1' });
    await a.allocate({ handle: 'b0', node: 'n2' });
    for (let i = 1; i < 16; i++) await a.allocate({ handle: `a${i}`, node: 'n1' });
    // n1's block is full and it may hold only one: the 17th comes from n2's block.
    const borrowed = await a.allocate({ handle: 'a16', node: 'n1' });
    expect(borrowed.ips[0]?.block).not.toBe(first.ips[0]?.block);
    const info = (await a.blocks()).find((b) => b.cidr === borrowed.ips[0]?.block);
    expect(info).toMatchObject({ node: 'n2', borrowed: 1 });
  });

  test('strictAffinity refuses to borrow, and the error names the pools', async () => {
    const { c, a } = setup();
    await putPool(c, 'tiny', '10.21.0.0/27', { blockSize: 28 });
    await putNode(c, 'n1');
    await putNode(c, 'n2');
    await putIpamConfig(c, { strictAffinity: true, maxBlocksPerHost: 1 });
    await a.allocate({ handle: 'b0', node: 'n2' });
    for (let i = 0; i < 16; i++) await a.allocate({ handle: `a${i}`, node: 'n1' });
    await expectError(a.allocate({ handle: 'a16', node: 'n1' }), 'Exhausted', /pools tiny.*strictAffinity/);
  });

  test('exhaustion names every pool tried', async () => {
    const { c, a } = setup();
    await putPool(c, 'x1', '10.22.0.0/28', { blockSize: 28 });
    await putPool(c, 'x2', '10.22.1.0/28', { blockSize: 28 });
    await putNode(c, 'n1');
    for (let i = 0; i < 32; i++) await a.allocate({ handle: `h${i}`, node: 'n1' });
    await expectError(a.allocate({ handle: 'h32', node: 'n1' }), 'Exhausted', /IPv4 address for node n1 in pools x1, x2/);
    // Nothing leaked by the failed request.
    expect((await a.check()).issues).toEqual([]);
  });

  test('maxBlocksPerHost limits claims (0 = unlimited)', async () => {
    const { c, a } = setup();
    await putPool(c, 'p', '10.23.0.0/24', { blockSize: 30 }); // blocks of 4
    await putNode(c, 'n1');
    await putIpamConfig(c, { maxBlocksPerHost: 2, strictAffinity: true });
    for (let i = 0; i < 8; i++) await a.allocate({ handle: `h${i}`, node: 'n1' });
    await expectError(a.allocate({ handle: 'h8', node: 'n1' }), 'Exhausted', /maxBlocksPerHost=2/);
    await putIpamConfig(c, { maxBlocksPerHost: 0, strictAffinity: true });
    await a.allocate({ handle: 'h8', node: 'n1' });
    expect(await a.affineBlocks('n1')).toHaveLength(3);
  });

  test('Manual pools are used only when named; named pools are used in order', async () => {
    const { c, a } = setup();
    await putPool(c, 'auto', '10.24.0.0/24');
    await putPool(c, 'manual', '10.24.1.0/24', { assignmentMode: 'Manual' });
    await putNode(c, 'n1');
    const r1 = await a.allocate({ handle: 'h1', node: 'n1' });
    expect(r1.ips[0]?.ip).toMatch(/^10\.24\.0\./);
    const r2 = await a.allocate({ handle: 'h2', node: 'n1', pools: ['manual'] });
    expect(r2.ips[0]?.ip).toMatch(/^10\.24\.1\./);
    await expectError(a.allocate({ handle: 'h3', node: 'n1', pools: ['nope'] }), 'NotFound', /ippool\/nope/);
  });

  test('disabled pools give no new addresses', async () => {
    const { c, a } = setup();
    await putPool(c, 'off', '10.25.0.0/24', { disabled: true });
    await putNode(c, 'n1');
    await expectError(a.allocate({ handle: 'h1', node: 'n1' }), 'Exhausted', /off/);
    await putPool(c, 'on', '10.25.1.0/24');
    const r = await a.allocate({ handle: 'h1', node: 'n1' });
    expect(r.ips[0]?.ip).toMatch(/^10\.25\.1\./);
    await expectError(a.allocate({ handle: 'h2', node: 'n1', ip: '10.25.0.5' }), 'Invalid', /disabled/);
  });

  test('node selectors pick pools by node labels', async () => {
    const { c, a } = setup();
    await putPool(c, 'rack-a', '10.26.0.0/24', { nodeSelector: "rack == 'a'" });
    await putPool(c, 'rack-b', '10.26.1.0/24', { nodeSelector: "rack == 'b'" });
    await putNode(c, 'na', { rack: 'a' });
    await putNode(c, 'nb', { rack: 'b' });
    await putNode(c, 'nc', { rack: 'c' });
    expect((await a.allocate({ handle: 'ha', node: 'na' })).ips[0]?.ip).toMatch(/^10\.26\.0\./);
    expect((await a.allocate({ handle: 'hb', node: 'nb' })).ips[0]?.ip).toMatch(/^10\.26\.1\./);
    await expectError(a.allocate({ handle: 'hc', node: 'nc' }), 'Exhausted', /nodeSelector/);
  });

  test('specific addresses: taken once, idempotent for the holder, Conflict for others', async () => {
    const { c, a } = setup();
    await putPool(c, 'p', '10.27.0.0/24');
    await putNode(c, 'n1');
    await putNode(c, 'n2');
    const r = await a.allocate({ handle: 'h1', node: 'n1', ip: '10.27.0.77' });
    expect(r.ips[0]).toMatchObject({ ip: '10.27.0.77', block: '10.27.0.64/26' });
    expect((await a.allocate({ handle: 'h1', node: 'n1', ip: '10.27.0.77' })).ips[0]?.seq).toBe(r.ips[0]?.seq);
    await expectError(a.allocate({ handle: 'h2', node: 'n2', ip: '10.27.0.77' }), 'Conflict', /handle h1/);
    // The block was claimed for n1 on the way.
    expect((await a.affineBlocks('n1')).map((b) => b.rec.cidr)).toEqual(['10.27.0.64/26']);
    await expectError(a.allocate({ handle: 'h3', node: 'n1', ip: '10.99.0.1' }), 'NotFound', /no IP pool contains/);
  });

  test('IPv6 pools and dual-stack requests', async () => {
    const { c, a } = setup();
    await putPool(c, 'v4', '10.28.0.0/24');
    await putPool(c, 'v6', 'fd00:28::/112', { blockSize: 116 });
    await putNode(c, 'n1');
    const r6 = await a.allocate({ handle: 'h6', node: 'n1', family: 6 });
    expect(r6.ips[0]).toMatchObject({ family: 6 });
    expect(r6.ips[0]?.block).toMatch(/^fd00:28::[0-9a-f]*\/116$/);
    const d = await a.allocate({ handle: 'hd', node: 'n1', family: 'dual' });
    expect(d.ips.map((x) => x.family)).toEqual([4, 6]);
    // A v4-only handle asked again for both gets its v4 back and a new v6.
    const v4only = await a.allocate({ handle: 'hx', node: 'n1' });
    const both = await a.allocate({ handle: 'hx', node: 'n1', family: 'dual' });
    expect(both.ips[0]?.ip).toBe(v4only.ips[0]?.ip);
    expect(both.ips[1]?.family).toBe(6);
    const specific = await a.allocate({ handle: 'hs', node: 'n1', ip: 'fd00:28::a05' });
    expect(specific.ips[0]).toMatchObject({ ip: 'fd00:28::a05', block: 'fd00:28::/116' });
    // A dual-stack request that cannot get its v6 gives the v4 back.
    await putPool(c, 'v6', 'fd00:28::/112', { blockSize: 116, disabled: true });
    await expectError(a.allocate({ handle: 'hy', node: 'n1', family: 'dual' }), 'Exhausted', /IPv6/);
    expect(await a.release({ handle: 'hy' })).toEqual([]);
  });
});
