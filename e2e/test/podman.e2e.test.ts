/**
 * Real podman (4.3) runs busybox containers on a Terrace network in a
 * two-node lab: podman picks the network by name (`--network`), runs the
 * real terrace plugin, and the node's real agent wires the pod and allocates
 * from etcd. Podman and each agent share a mount namespace (see
 * e2e/src/podman.ts), as runtime and agent do on a host.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import { listNamespaces } from '@terrace/testkit';
import { POOL_A, PodmanHost, TerraceLab, routesIn, sleep, waitUntil } from '../src/index.js';

let lab: TerraceLab;
const hosts = new Map<string, PodmanHost>();
let network = '';

function host(node: string): PodmanHost {
  const h = hosts.get(node);
  if (!h) throw new Error(`no podman on ${node}`);
  return h;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(len));
  const start = ipv4ToInt(base);
  return /^\d+\.\d+\.\d+\.\d+$/.test(ip) && ipv4ToInt(ip) >= start && ipv4ToInt(ip) < start + size;
}

interface IpInfo {
  free?: boolean;
  node?: string;
  pod?: string;
  handle?: string;
}

async function ipInfo(ip: string): Promise<IpInfo> {
  return JSON.parse(await lab.mustCtl(['ipam', 'show', '--ip', ip, '-o', 'json'])) as IpInfo;
}

beforeAll(async () => {
  lab = await TerraceLab.start({ nodes: 2 });
  // One network name for the cluster, unique to the run: it is in every IPAM
  // handle and names libcni's cache files, which the harness cleans up.
  network = `terrace-${lab.kit.prefix.replace(/-$/, '')}`;
  try {
    await Promise.all(
      [...lab.nodes.values()].map(async (n) => {
        const h = await PodmanHost.start({ kit: lab.kit, ns: n.ns, network, agentSocket: n.socket, ipv4Pools: [POOL_A.name] });
        hosts.set(n.name, h);
        // The agent moves into podman's mount namespace, where the pods' namespaces are mounted.
        await lab.stopAgent(n.name);
        await lab.startAgent(n.name, { mountNsOf: h.holder.pid });
      }),
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${lab.diagnostics()}`);
  }
}, 90000);

afterAll(async () => {
  const prefix = lab?.kit.prefix;
  // Podman first, while the agents still take the DELs of what is left.
  for (const h of hosts.values()) await h.destroy();
  await lab?.destroy();
  const left = [...hosts.values()].flatMap((h) => h.leftovers());
  expect(left).toEqual([]);
  if (prefix) expect(await listNamespaces(prefix)).toEqual([]);
}, 90000);

describe('podman on a Terrace network', () => {
  test('a container on each node gets an address in the pool, and IPAM holds it for that node and container', async () => {
    const a = await host('node-1').run('a1');
    const b = await host('node-2').run('b1');
    for (const [c, node] of [
      [a, 'node-1'],
      [b, 'node-2'],
    ] as const) {
      expect({ name: c.name, inPool: inCidr(c.ip, POOL_A.cidr) }).toEqual({ name: c.name, inPool: true });
      // The address is on the container's eth0 as a /32, and etcd has it for this node and container.
      const addr = await host(node).execIn(c.name, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      expect(addr.stdout).toContain(`inet ${c.ip}/32`);
      const info = await ipInfo(c.ip);
      expect(info).toMatchObject({ node, pod: c.name });
      expect(info.free).toBeUndefined();
      expect(info.handle).toBe(`${network}:${c.id}:eth0`);
    }
    expect(a.ip).not.toBe(b.ip);
  }, 60000);

  test('the container on node-1 pings the one on node-2, and back', async () => {
    const a = host('node-1').containers.get('a1');
    const b = host('node-2').containers.get('b1');
    if (!a || !b) throw new Error('the containers of the first test are missing');
    // The nodes' new blocks may still be on their way through BGP.
    await waitUntil(`a1 → ${b.ip}`, () => host('node-1').ping('a1', b.ip), 20000, 200);
    expect(await host('node-2').ping('b1', a.ip)).toBe(true);
  }, 40000);

  test('podman rm -f frees the address and unwires the container', async () => {
    const b = host('node-2').containers.get('b1');
    if (!b) throw new Error('b1 is missing');
    expect((await routesIn(lab.node('node-2').ns)).some((r) => r.dst === b.ip)).toBe(true);
    const r = await host('node-2').remove('b1');
    expect(r.code).toBe(0);
    expect(await ipInfo(b.ip)).toMatchObject({ free: true });
    await waitUntil('host route of the removed container gone', async () => !(await routesIn(lab.node('node-2').ns)).some((x) => x.dst === b.ip), 10000);
    expect((await lab.ctl(['ipam', 'check'])).code).toBe(0);
  }, 30000);

  test('--ip: the container gets exactly the address asked for, inside the pool', async () => {
    // Inside lab-a, in a block no node has claimed yet.
    const want = '198.19.100.10';
    expect(inCidr(want, POOL_A.cidr)).toBe(true);
    const c = await host('node-2').run('b-static', { ip: want });
    try {
      expect(c.ip).toBe(want);
      const addr = await host('node-2').execIn(c.name, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      expect(addr.stdout).toContain(`inet ${want}/32`);
      expect(await ipInfo(want)).toMatchObject({ node: 'node-2', pod: c.name });
    } finally {
      await host('node-2').remove(c.name);
    }
  }, 40000);

  test('a DEL podman could not deliver (agent down) is completed when the agent starts again', async () => {
    const c = await host('node-1').run('a-orphan');
    expect(await ipInfo(c.ip)).toMatchObject({ node: 'node-1', pod: c.name });
    await lab.stopAgent('node-1');
    // Podman runs CNI DEL once; the plugin cannot reach the agent; podman
    // still removes the container, exits 0 and never asks again.
    const rm = await host('node-1').remove(c.name);
    expect(rm.code).toBe(0);
    const ps = await host('node-1').mustPodman(['ps', '-a', '--format', '{{.Names}}']);
    expect(ps.split('\n')).not.toContain(c.name);
    const socket = lab.node('node-1').socket;
    expect(existsSync(socket)).toBe(false);
    await lab.startAgent('node-1');
    const started = Date.now();
    let info: IpInfo = {};
    while (Date.now() - started < 5000) {
      info = await ipInfo(c.ip);
      if (info.free) break;
      await sleep(200);
    }
    expect({ ip: c.ip, ...info }).toEqual({ ip: c.ip, free: true });
    const check = await lab.ctl(['ipam', 'check']);
    expect({ code: check.code, out: check.stdout }).toMatchObject({ code: 0 });
  }, 40000);
});
