// terracectl ipam show / check / release / configure, through the real
// binary against the shared etcd; addresses are allocated with @terrace/ipam.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Keys } from '@terrace/datastore';
import { Allocator, ISSUE_KINDS } from '@terrace/ipam';
import { sharedEtcdEndpoint, uniqueCluster } from '@terrace/testkit';
import { Etcd3 } from 'etcd3';
import { bound, dumpCluster, tempDir } from './harness.js';

const endpoint = sharedEtcdEndpoint();
const cluster = uniqueCluster('cli-ipam');
const ctl = bound(endpoint, cluster);
const dir = tempDir();
const etcd = new Etcd3({ hosts: endpoint });
const a = new Allocator({ etcd, keys: new Keys(cluster), cacheTtlMs: 0 });

const MANIFEST = `
apiVersion: terrace.dev/v1
kind: IPPool
metadata: { name: pool-a }
spec: { cidr: 10.60.0.0/24, blockSize: 28 }
---
apiVersion: terrace.dev/v1
kind: IPPool
metadata: { name: pool-v6 }
spec: { cidr: 'fd00:60::/120' }
---
apiVersion: terrace.dev/v1
kind: Node
metadata: { name: n1 }
spec: {}
---
apiVersion: terrace.dev/v1
kind: Node
metadata: { name: n2 }
spec: {}
`;

let ip1 = '';
beforeAll(async () => {
  const r = await ctl(['apply', '-f', '-'], { stdin: MANIFEST });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  ip1 = (await a.allocate({ handle: 'h1', node: 'n1', attrs: { namespace: 'default', pod: 'web-1' } })).ips[0]?.ip ?? '';
  await a.allocate({ handle: 'h2', node: 'n1' });
  await a.allocate({ handle: 'h3', node: 'n2', family: 'dual' });
});
afterAll(async () => {
  await etcd.delete().prefix(`/terrace/v1/${cluster}/`).exec();
  etcd.close();
  dir.remove();
});

describe('terracectl ipam', () => {
  test('show: per pool, per block, per address', async () => {
    const pools = await ctl(['ipam', 'show']);
    expect(pools.code).toBe(0);
    expect(pools.stdout).toMatch(/POOL\s+CIDR\s+SIZE\s+ALLOCATED\s+FREE\s+BLOCKS/);
    expect(pools.stdout).toMatch(/pool-a\s+10\.60\.0\.0\/24\s+256\s+3\s+253\s+2/);
    expect(pools.stdout).toMatch(/pool-v6\s+fd00:60::\/120\s+256\s+1\s+255\s+1/);

    const blocks = await ctl(['ipam', 'show', '--show-blocks']);
    expect(blocks.stdout).toMatch(/BLOCK\s+POOL\s+AFFINITY\s+USED\s+BORROWED/);
    expect(blocks.stdout).toMatch(/10\.60\.0\.\d+\/28\s+pool-a\s+host:n1\s+2\/16\s+0/);

    const who = await ctl(['ipam', 'show', '--ip', ip1]);
    expect(who.stdout).toMatch(new RegExp(`${ip1.replace(/\./g, '\\.')}\\s+h1\\s+n1\\s+default/web-1`));
    const json = JSON.parse((await ctl(['ipam', 'show', '--ip', ip1, '-o', 'json'])).stdout) as { handle: string };
    expect(json.handle).toBe('h1');
    expect((await ctl(['ipam', 'show', '--ip', '10.60.0.250'])).stdout).toMatch(/not allocated/);
  });

  test('check → report → release --from-report (dry run first)', async () => {
    expect((await ctl(['delete', 'node', 'n2'])).code).toBe(0);
    const file = `${dir.path}/report.json`;
    const chk = await ctl(['ipam', 'check', '-o', file]);
    // It ran, and found something: scripts can tell from the status alone.
    expect(chk.code).toBe(4);
    expect(chk.stdout).toMatch(/allocations whose node is not registered\s+2/);
    expect(chk.stdout).toMatch(/blocks whose affine node is gone\s+2/);
    const report = JSON.parse(readFileSync(file, 'utf8')) as { issues: unknown[] };
    expect(report.issues).toHaveLength(4);

    const before = await dumpCluster(etcd, cluster);
    const dry = await ctl(['ipam', 'release', '--from-report', file, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/release 10\.60\.0\.\d+ \(handle h3, node n2/);
    expect(dry.stdout).toMatch(/dry run: 4 of 4 would be applied/);
    expect(await dumpCluster(etcd, cluster)).toBe(before);

    const real = await ctl(['ipam', 'release', '--from-report', file]);
    expect(real.stdout).toMatch(/applied 4 of 4/);
    const clean = await ctl(['ipam', 'check']);
    expect(clean.code).toBe(0);
    const rows = clean.stdout.split('\n').filter((l) => /\s\d+$/.test(l) && !l.startsWith('checked'));
    expect(rows).toHaveLength(ISSUE_KINDS.length);
    expect(rows.filter((l) => !/\s0$/.test(l))).toEqual([]);
    // A second run of the same report finds nothing in the reported state.
    const again = await ctl(['ipam', 'release', '--from-report', file]);
    expect(again.stdout).toMatch(/applied 0 of 4/);
  });

  test('release --ip shows what it frees, then frees it', async () => {
    const dry = await ctl(['ipam', 'release', '--ip', ip1, '--dry-run']);
    expect(dry.stdout).toMatch(/would release .* \(handle h1, node n1 pod default\/web-1/);
    expect((await a.lookup(ip1))?.handle).toBe('h1');
    const r = await ctl(['ipam', 'release', '--ip', ip1]);
    expect(r.stdout).toMatch(/released/);
    expect(await a.lookup(ip1)).toBeUndefined();
    expect((await ctl(['ipam', 'release', '--ip', ip1])).stdout).toMatch(/nothing to do/);
    const bad = await ctl(['ipam', 'release']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/exactly one of --ip or --from-report/);
  });

  test('check finds two interfaces on one old-form handle (exit 4) and release --from-report leaves it', async () => {
    // As an older agent stored them: x1.eth0+eth1 and x1+eth0.eth1 both had handle net.x1.eth0.eth1.
    const old = 'net.x1.eth0.eth1';
    await a.allocate({ handle: old, node: 'n1', attrs: { containerID: 'x1.eth0', iface: 'eth1' } });
    await a.allocate({ handle: old, node: 'n1', family: 'dual', attrs: { containerID: 'x1', iface: 'eth0.eth1' } });
    const file = `${dir.path}/shared.json`;
    const chk = await ctl(['ipam', 'check', '-o', file]);
    expect(chk.code).toBe(4);
    expect(chk.stdout).toMatch(/handles holding addresses of two interfaces\s+1/);
    const rel = await ctl(['ipam', 'release', '--from-report', file]);
    expect(rel.stdout).toMatch(/applied 0 of 1/);
    expect((await ctl(['ipam', 'check'])).code).toBe(4);
    expect(await a.release({ handle: old })).toHaveLength(2);
    expect((await ctl(['ipam', 'check'])).code).toBe(0);
  });

  test('configure writes the IPAMConfig resource', async () => {
    const r = await ctl(['ipam', 'configure', '--strict-affinity=true', '--max-blocks-per-host', '3']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/created: strictAffinity=true maxBlocksPerHost=3/);
    const r2 = await ctl(['ipam', 'configure', '--strict-affinity=false']);
    expect(r2.stdout).toMatch(/configured: strictAffinity=false maxBlocksPerHost=3/);
    const bad = await ctl(['ipam', 'configure', '--max-blocks-per-host', 'many']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--max-blocks-per-host must be a whole number/);
  });

  test('show names held pools and fenced ranges while a multi-cluster fence exists', async () => {
    const keys = new Keys(cluster);
    const range = { cidr: '10.60.0.128/28', pool: 'pool-a', remote: 'cluster-b', remotePool: 'b-pool', remoteCidr: '10.60.0.128/25', since: '' };
    await etcd.put(keys.fence()).value(JSON.stringify({ cleared: {}, held: [{ pool: 'pool-v6', reason: 'waiting for remote cluster cluster-b' }], fenced: [range], updated: '' })).exec();
    try {
      const out = (await ctl(['ipam', 'show'])).stdout;
      expect(out).toContain('ippool/pool-a: held: not yet cleared by the multi-cluster overlap check');
      expect(out).toContain('10.60.0.128/28 is fenced: it overlaps pool b-pool (10.60.0.128/25) of remote cluster cluster-b');
      expect(out).toContain('ippool/pool-v6: held: waiting for remote cluster cluster-b');
    } finally {
      await etcd.delete().key(keys.fence()).exec();
    }
    expect((await ctl(['ipam', 'show'])).stdout).not.toContain('held');
  });
});
