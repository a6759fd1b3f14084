// The real bin/terrace-cni, called with the environment and stdin a runtime
// uses, against an in-process CNI server with a real allocator on the shared
// etcd and real namespaces: a lab "host" namespace holds the host ends, lab
// namespaces are the pods.
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cidrContainsIP, parseCidr, parseIP, type IPPool, type TerraceNode } from '@terrace/api';
import { Keys } from '@terrace/datastore';
import { RouteSync, hostVethName } from '@terrace/dataplane';
import { Allocator } from '@terrace/ipam';
import { createLab, reachTcp, runCniPlugin, sharedEtcdEndpoint, uniqueCluster, type Lab, type PluginRun } from '@terrace/testkit';
import { Etcd3 } from 'etcd3';
import { allocatorIpam, CniHandlers, etcdReadiness, PendingDels, podRoutesThrough, startCniServer, type CniIpam, type CniServer } from '../src/cni/index.js';

const PLUGIN = fileURLToPath(new URL('../../../../bin/terrace-cni', import.meta.url));
const NODE = 'n1';
const NET = 'k8s-pod-network';

let lab: Lab;
let hostNs: string;
let etcd: Etcd3;
let keys: Keys;
let allocator: Allocator;
let server: CniServer;
let sockDir: string;
let socketPath: string;
let stateDir: string;
let routes: RouteSync;
let bgpProblem: string | undefined = undefined;
const routeEvents: string[] = [];

const nsPath = (ns: string): string => `/var/run/netns/${ns}`;

async function putPool(name: string, cidr: string, blockSize: number): Promise<void> {
  const pool: IPPool = {
    apiVersion: 'terrace.dev/v1',
    kind: 'IPPool',
    metadata: { name },
    spec: {
      cidr,
      blockSize,
      nodeSelector: 'all()',
      disabled: false,
      disableBGPExport: false,
      natOutgoing: false,
      allowedUses: ['Workload', 'Tunnel'],
      assignmentMode: 'Automatic',
      ipipMode: 'Never',
      vxlanMode: 'Never',
    },
  };
  await etcd.put(keys.resource('IPPool', name)).value(JSON.stringify(pool)).exec();
}

beforeAll(async () => {
  etcd = new Etcd3({ hosts: sharedEtcdEndpoint() });
  keys = new Keys(uniqueCluster('cni'));
  await putPool('v4', '198.18.64.0/24', 28);
  await putPool('v6', '2001:db8:64::/120', 124);
  const node: TerraceNode = { apiVersion: 'terrace.dev/v1', kind: 'Node', metadata: { name: NODE, labels: {} }, spec: {} };
  await etcd.put(keys.resource('Node', NODE)).value(JSON.stringify(node)).exec();
  allocator = new Allocator({ etcd, keys, cacheTtlMs: 0 });

  lab = await createLab({ tag: 'tc' });
  hostNs = await lab.addNamespace('host');
  await lab.exec(hostNs, 'ip', ['addr', 'add', '198.18.255.1/32', 'dev', 'lo']);

  sockDir = mkdtempSync(join(tmpdir(), 'terrace-cni-'));
  socketPath = join(sockDir, 'cni.sock');
  stateDir = join(sockDir, 'state');
  routes = new RouteSync({ netns: hostNs });
  server = await startServer();
});

/** The CNI server as the agent runs it: pod host routes go through a real route sync in the host namespace. */
function startServer(): Promise<CniServer> {
  const viaSync = podRoutesThrough(routes);
  return startCniServer({
    socketPath,
    ipam: allocatorIpam(allocator),
    nodeName: NODE,
    mtu: 1450,
    stateDir,
    hostNetns: nsPath(hostNs),
    datastoreReady: etcdReadiness(etcd, keys.prefix + 'probe'),
    bgpReady: () => bgpProblem,
    onPodRoutesAdded: async (rs) => {
      routeEvents.push(...rs.map((r) => `+${r.nextHops[0]?.dev ?? ''}`));
      await viaSync.onPodRoutesAdded?.(rs);
    },
    onPodRoutesRemoved: (rs) => {
      routeEvents.push(...rs.map((r) => `-${r.nextHops[0]?.dev ?? ''}`));
      viaSync.onPodRoutesRemoved?.(rs);
    },
  });
}

afterAll(async () => {
  await server?.close();
  await routes?.close();
  await lab?.destroy();
  if (sockDir) rmSync(sockDir, { recursive: true, force: true });
  if (etcd) {
    await etcd.delete().prefix(keys.prefix).exec();
    etcd.close();
  }
});

/** Runs bin/terrace-cni as a runtime would: a clean environment plus the CNI variables, config on stdin. */
const cni = (env: Record<string, string>, stdin: string): Promise<PluginRun> => runCniPlugin(PLUGIN, { CNI_PATH: '/opt/cni/bin', ...env }, stdin);

function conf(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ cniVersion: '1.1.0', name: NET, type: 'terrace', agentSocket: socketPath, stateDir, ipam: { assignIpv6: true }, ...extra });
}

function podEnv(command: string, ns: string | undefined, id: string): Record<string, string> {
  const e: Record<string, string> = {
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_IFNAME: 'eth0',
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-${id}`,
  };
  if (ns !== undefined) e.CNI_NETNS = nsPath(ns);
  return e;
}

async function sh(ns: string, cmd: string, args: string[]): Promise<string> {
  return (await lab.exec(ns, cmd, args)).stdout;
}

/** TCP from namespace `from` to `addr` in namespace `to` (there is no ping here). */
const reach = (from: string, to: string, addr: string): Promise<void> => reachTcp(lab, from, to, addr);

interface AddResult {
  cniVersion: string;
  interfaces: Array<{ name: string; mac: string; sandbox?: string; mtu?: number }>;
  ips: Array<{ address: string; gateway: string; interface: number }>;
  routes: Array<{ dst: string; gw: string }>;
  dns: Record<string, unknown>;
}

describe('terrace-cni against the agent', () => {
  it('ADD wires a reachable dual-stack pod and returns the spec result; a retry returns the same', async () => {
    const pod = await lab.addNamespace('pa');
    const add = await cni(podEnv('ADD', pod, 'ctr-a'), conf());
    expect(add.code).toBe(0);
    const r = add.json as unknown as AddResult;
    const host = hostVethName('ctr-a', 'eth0');
    expect(r.cniVersion).toBe('1.1.0');
    expect(r.interfaces).toEqual([
      { name: host, mac: expect.stringMatching(/^ee:/), mtu: 1450 },
      { name: 'eth0', mac: expect.stringMatching(/^0a:/), sandbox: nsPath(pod), mtu: 1450 },
    ]);
    expect(r.ips).toHaveLength(2);
    expect(r.ips[0]).toEqual({ address: expect.stringMatching(/\/32$/), gateway: '169.254.1.1', interface: 1 });
    expect(r.ips[1]).toEqual({ address: expect.stringMatching(/\/128$/), gateway: 'fe80::1', interface: 1 });
    expect(r.routes).toEqual([
      { dst: '0.0.0.0/0', gw: '169.254.1.1' },
      { dst: '::/0', gw: 'fe80::1' },
    ]);
    expect(r.dns).toEqual({});
    const v4 = r.ips[0]!.address.split('/')[0]!;
    const v6 = r.ips[1]!.address.split('/')[0]!;
    // Any address of the pools, the first of a block included: a claim picks
    // one of the lowest free blocks at random, and a block's first ordinal is
    // as good as any other for a /32 or /128 pod route.
    expect(cidrContainsIP(parseCidr('198.18.64.0/24'), parseIP(v4))).toBe(true);
    expect(cidrContainsIP(parseCidr('2001:db8:64::/120'), parseIP(v6))).toBe(true);

    // The allocation carries the pod's identity.
    const info = await allocator.lookup(v4);
    expect(info).toMatchObject({ handle: `${NET}:ctr-a:eth0`, node: NODE, namespace: 'default', pod: 'pod-ctr-a', containerID: 'ctr-a', iface: 'eth0' });

    // Pod side: addresses and default routes. Host side: /32 route with our protocol, proxy ARP.
    const addrs = await sh(pod, 'ip', ['-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addrs).toContain(`inet ${v4}/32`);
    expect(addrs).toContain(`inet6 ${v6}/128`);
    expect(await sh(pod, 'ip', ['route', 'show', 'default'])).toContain('default via 169.254.1.1 dev eth0 onlink');
    expect(await sh(hostNs, 'ip', ['route', 'show', 'proto', '201'])).toContain(`${v4} dev ${host} scope link`);
    expect((await sh(hostNs, 'sysctl', ['-n', `net.ipv4.conf.${host}.proxy_arp`])).trim()).toBe('1');
    await reach(hostNs, pod, v4);
    expect(routeEvents).toContain(`+${host}`);

    const again = await cni(podEnv('ADD', pod, 'ctr-a'), conf());
    expect(again.code).toBe(0);
    expect((again.json as unknown as AddResult).ips).toEqual(r.ips);
    await reach(hostNs, pod, v4);

    // CHECK passes with the runtime's prevResult, fails once the pod's route is gone.
    const check = await cni(podEnv('CHECK', pod, 'ctr-a'), conf({ prevResult: r }));
    expect(check).toMatchObject({ code: 0, stdout: '' });
    await sh(pod, 'ip', ['route', 'del', 'default']);
    const bad = await cni(podEnv('CHECK', pod, 'ctr-a'), conf({ prevResult: r }));
    expect(bad.code).not.toBe(0);
    expect(bad.json).toMatchObject({ code: 102, msg: expect.stringContaining('default route via 169.254.1.1') });

    // DEL frees the addresses and the veth; again, and without a namespace, it still succeeds.
    const del = await cni(podEnv('DEL', pod, 'ctr-a'), conf());
    expect(del).toMatchObject({ code: 0, stdout: '' });
    expect(await allocator.lookup(v4)).toBeUndefined();
    expect(await allocator.lookup(v6)).toBeUndefined();
    expect(await sh(hostNs, 'ip', ['link'])).not.toContain(host);
    expect(await sh(hostNs, 'ip', ['route', 'show', 'proto', '201'])).not.toContain(v4);
    expect(routeEvents).toContain(`-${host}`);
    expect((await cni(podEnv('DEL', pod, 'ctr-a'), conf())).code).toBe(0);
    expect((await cni(podEnv('DEL', undefined, 'ctr-a'), conf())).code).toBe(0);

    // CHECK after DEL: the allocation is gone.
    const gone = await cni(podEnv('CHECK', pod, 'ctr-a'), conf({ prevResult: r }));
    expect(gone.json).toMatchObject({ code: 102, msg: expect.stringContaining('is not allocated') });
  });

  it('DEL without a namespace removes a pod whose namespace is still there', async () => {
    const pod = await lab.addNamespace('pb');
    const add = await cni(podEnv('ADD', pod, 'ctr-b'), conf({ ipam: {} }));
    expect(add.code).toBe(0);
    const v4 = (add.json as unknown as AddResult).ips[0]!.address.split('/')[0]!;
    expect((add.json as unknown as AddResult).ips).toHaveLength(1);
    expect((await cni(podEnv('DEL', undefined, 'ctr-b'), conf())).code).toBe(0);
    expect(await allocator.lookup(v4)).toBeUndefined();
    expect(await sh(pod, 'ip', ['link'])).not.toContain('eth0');
  });

  it('a failed ADD leaves no veth and no address behind', async () => {
    const pod = await lab.addNamespace('pc');
    await sh(pod, 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    const add = await cni(podEnv('ADD', pod, 'ctr-c'), conf());
    expect(add.code).not.toBe(0);
    expect(add.json).toMatchObject({ cniVersion: '1.1.0', code: 103, msg: expect.stringContaining('already exists') });
    expect(await sh(hostNs, 'ip', ['link'])).not.toContain(hostVethName('ctr-c', 'eth0'));
    const held = (await allocatorIpam(allocator).nodeAllocations(NODE)).filter((a) => a.handle === `${NET}:ctr-c:eth0`);
    expect(held).toEqual([]);
  });

  it('GC releases this network`s stale attachments only', async () => {
    const pa = await lab.addNamespace('gca');
    const pb = await lab.addNamespace('gcb');
    const a = await cni(podEnv('ADD', pa, 'gc-a'), conf());
    const b = await cni(podEnv('ADD', pb, 'gc-b'), conf());
    expect([a.code, b.code]).toEqual([0, 0]);
    // Another network's pod on this node, which this GC must not touch.
    const other = await allocator.allocate({ handle: 'other-net.gc-x.eth0', node: NODE, attrs: { containerID: 'gc-x', iface: 'eth0' } });
    const bIp = (b.json as unknown as AddResult).ips[0]!.address.split('/')[0]!;
    const aIp = (a.json as unknown as AddResult).ips[0]!.address.split('/')[0]!;

    const gc = await cni({ CNI_COMMAND: 'GC' }, conf({ 'cni.dev/valid-attachments': [{ containerID: 'gc-a', ifname: 'eth0' }] }));
    expect(gc).toMatchObject({ code: 0, stdout: '' });
    expect(await allocator.lookup(bIp)).toBeUndefined();
    expect(await sh(hostNs, 'ip', ['link'])).not.toContain(hostVethName('gc-b', 'eth0'));
    expect(await allocator.lookup(aIp)).toMatchObject({ handle: `${NET}:gc-a:eth0` });
    expect(await allocator.lookup(other.ips[0]!.ip)).toMatchObject({ handle: 'other-net.gc-x.eth0' });
    await reach(hostNs, pa, aIp);

    expect((await cni(podEnv('DEL', pa, 'gc-a'), conf())).code).toBe(0);
    await allocator.release({ handle: 'other-net.gc-x.eth0' });
  });

  it('DEL and GC release pods an older agent added under the old handle form', async () => {
    // As the older agent stored them: handle <network>.<containerID>.<ifname>.
    const old = async (id: string): Promise<string> =>
      (await allocator.allocate({ handle: `${NET}.${id}.eth0`, node: NODE, attrs: { containerID: id, iface: 'eth0' } })).ips[0]!.ip;
    const d = await old('old-d');
    const g = await old('old-g');
    expect((await cni(podEnv('DEL', undefined, 'old-d'), conf())).code).toBe(0);
    expect(await allocator.lookup(d)).toBeUndefined();
    expect(await allocator.lookup(g)).toMatchObject({ handle: `${NET}.old-g.eth0` });
    const valid = (await allocatorIpam(allocator).nodeAllocations(NODE))
      .filter((a) => a.containerID !== undefined && a.containerID !== 'old-g')
      .map((a) => ({ containerID: a.containerID, ifname: a.iface }));
    expect((await cni({ CNI_COMMAND: 'GC' }, conf({ 'cni.dev/valid-attachments': valid }))).code).toBe(0);
    expect(await allocator.lookup(g)).toBeUndefined();
    // CHECK accepts the old form as this pod's holding (only the missing wiring is reported).
    const k = await old('old-k');
    const pod = await lab.addNamespace('pold');
    const prevResult = { cniVersion: '1.1.0', interfaces: [], ips: [{ address: `${k}/32`, gateway: '169.254.1.1', interface: 1 }], routes: [], dns: {} };
    const check = await cni(podEnv('CHECK', pod, 'old-k'), conf({ prevResult }));
    expect(check.json).toMatchObject({ code: 102 });
    expect(JSON.stringify(check.json)).not.toContain('is allocated to');
    expect((await cni(podEnv('DEL', undefined, 'old-k'), conf())).code).toBe(0);
  });

  it('GC leaves alone an attachment whose ADD is under way, even when the valid list omits it', async () => {
    // Handlers on the real allocator, whose ADD we can hold right after the
    // address is allocated, so GC surely runs while that ADD is in flight.
    const real = allocatorIpam(allocator);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let allocated = false;
    const ipam: CniIpam = {
      ...real,
      allocate: async (req) => {
        const res = await real.allocate(req);
        allocated = true;
        await gate;
        return res;
      },
    };
    const h = new CniHandlers({ ipam, nodeName: NODE, mtu: 1450, stateDir, hostNetns: nsPath(hostNs), datastoreReady: () => undefined, bgpReady: () => undefined });
    const pc = await lab.addNamespace('gcc');
    const config = new TextEncoder().encode(conf());
    const add = h.invoke({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'gc-c', CNI_NETNS: nsPath(pc), CNI_IFNAME: 'eth0' }, config);
    for (let i = 0; i < 500 && !allocated; i++) await new Promise((r) => setTimeout(r, 10));
    expect(allocated).toBe(true);
    const gc = h.invoke({ CNI_COMMAND: 'GC' }, config);
    // GC has listed by now and, before the fix, would wait for the ADD's lock and then undo it.
    await new Promise((r) => setTimeout(r, 300));
    open();
    const added = await add;
    expect(added.ok).toBe(true);
    const result = JSON.parse(added.stdout) as AddResult;
    expect(await gc).toEqual({ ok: true, stdout: '' });
    const ip = result.ips[0]!.address.split('/')[0]!;
    expect(await allocator.lookup(ip)).toMatchObject({ handle: `${NET}:gc-c:eth0` });
    expect(await sh(hostNs, 'ip', ['link'])).toContain(hostVethName('gc-c', 'eth0'));
    // A later GC that does not list it (the ADD is over) does release it.
    expect(await h.invoke({ CNI_COMMAND: 'GC' }, config)).toEqual({ ok: true, stdout: '' });
    expect(await allocator.lookup(ip)).toBeUndefined();
  });

  it('keeps the host route of a pod that got an address another pod was releasing at that moment', async () => {
    // Handlers on the real allocator and the real route sync, whose release we
    // hold right after etcd freed the address: another ADD takes that address
    // and is wired before the DEL that freed it goes on.
    const real = allocatorIpam(allocator);
    let during: (() => Promise<void>) | undefined;
    const ipam: CniIpam = {
      ...real,
      releasePod: async (pod) => {
        const out = await real.releasePod(pod);
        const run = during;
        during = undefined;
        await run?.();
        return out;
      },
    };
    const h = new CniHandlers({ ipam, nodeName: NODE, mtu: 1450, stateDir, hostNetns: nsPath(hostNs), datastoreReady: () => undefined, bgpReady: () => undefined, ...podRoutesThrough(routes) });
    const [pa, pb] = [await lab.addNamespace('raa'), await lab.addNamespace('rab')];
    const config = new TextEncoder().encode(conf({ ipam: {} }));
    const added = await h.invoke({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'race-a', CNI_NETNS: nsPath(pa), CNI_IFNAME: 'eth0' }, config);
    const ip = (JSON.parse(added.stdout) as AddResult).ips[0]!.address.split('/')[0]!;
    during = async () => {
      const b = await h.invoke({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'race-b', CNI_NETNS: nsPath(pb), CNI_IFNAME: 'eth0', CNI_ARGS: `IP=${ip}` }, config);
      expect(b.ok).toBe(true);
    };
    expect(await h.invoke({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'race-a', CNI_IFNAME: 'eth0' }, config)).toEqual({ ok: true, stdout: '' });
    expect(during).toBeUndefined();
    await routes.flush();
    expect(await sh(hostNs, 'ip', ['route', 'show', 'proto', '201'])).toContain(`${ip} dev ${hostVethName('race-b', 'eth0')}`);
    await reach(hostNs, pb, ip);
    await h.invoke({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'race-b', CNI_IFNAME: 'eth0' }, config);
  });

  it('STATUS is ready only when the datastore answers and BGP is up', async () => {
    expect(await cni({ CNI_COMMAND: 'STATUS' }, conf())).toMatchObject({ code: 0, stdout: '' });
    bgpProblem = 'no established session';
    const down = await cni({ CNI_COMMAND: 'STATUS' }, conf());
    expect(down.json).toMatchObject({ code: 50, msg: expect.stringContaining('no established session') });
    bgpProblem = undefined;
  });

  it('answers 11 when the agent is not there, 6 for garbage, 4 for a missing variable, and VERSION alone', async () => {
    const pod = await lab.addNamespace('pd');
    const down = await cni(podEnv('ADD', pod, 'ctr-d'), conf({ agentSocket: join(sockDir, 'nobody.sock') }));
    expect(down.code).not.toBe(0);
    expect(down.json).toMatchObject({ cniVersion: '1.1.0', code: 11 });
    const garbled = await cni(podEnv('ADD', pod, 'ctr-d'), `{"cniVersion": "1.1.0", "agentSocket": "${socketPath}", `);
    expect(garbled.json).toMatchObject({ code: 6 });
    const { CNI_NETNS: _omit, ...noNetns } = podEnv('ADD', pod, 'ctr-d');
    expect((await cni(noNetns, conf())).json).toMatchObject({ code: 4, msg: 'CNI_NETNS is not set' });
    const version = await cni({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
    expect(version).toMatchObject({ code: 0, json: { cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] } });
  });

  it('gives a pod exactly the address the runtime asks for with IP=, and refuses MAC=', async () => {
    const pod = await lab.addNamespace('pip');
    const add = await cni({ ...podEnv('ADD', pod, 'ctr-ip'), CNI_ARGS: 'IgnoreUnknown=1;IP=198.18.64.77' }, conf({ ipam: {} }));
    expect(add.code).toBe(0);
    expect((add.json as unknown as AddResult).ips.map((i) => i.address)).toEqual(['198.18.64.77/32']);
    expect(await allocator.lookup('198.18.64.77')).toMatchObject({ handle: `${NET}:ctr-ip:eth0` });
    // An address no pool holds is refused, and leaves nothing behind.
    const outside = await cni({ ...podEnv('ADD', pod, 'ctr-ip2'), CNI_ARGS: 'IP=203.0.113.9' }, conf({ ipam: {} }));
    expect(outside.code).toBe(1);
    expect(outside.json).toMatchObject({ code: 7 });
    const mac = await cni({ ...podEnv('ADD', pod, 'ctr-mac'), CNI_ARGS: 'MAC=0a:00:00:00:00:09' }, conf({ ipam: {} }));
    expect(mac.json).toMatchObject({ code: 2, msg: expect.stringContaining('MAC=0a:00:00:00:00:09') });
    expect((await cni(podEnv('DEL', pod, 'ctr-ip'), conf())).code).toBe(0);
    expect(await allocator.lookup('198.18.64.77')).toBeUndefined();
  });

  it('refuses a 10 MB config as a permanent error (7), not as try-again-later', async () => {
    const pod = await lab.addNamespace('pbig');
    const add = await cni(podEnv('ADD', pod, 'ctr-big'), conf({ args: { junk: 'x'.repeat(10 << 20) } }));
    expect(add.code).toBe(1);
    // The plugin refuses it before sending; the agent's own limit is the same (MAX_CONFIG_BYTES).
    expect(add.json).toMatchObject({ code: 7, msg: 'network config: more than 1048576 bytes on stdin, the most the terrace plugin accepts' });
  });

  it('finishes a DEL it missed while it was down, as soon as it is back', async () => {
    const pod = await lab.addNamespace('plost');
    const add = await cni(podEnv('ADD', pod, 'ctr-lost'), conf({ ipam: {} }));
    expect(add.code).toBe(0);
    const v4 = (add.json as unknown as AddResult).ips[0]!.address.split('/')[0]!;
    await server.close();
    try {
      // A runtime that never retries (podman) sends this DEL once.
      const del = await cni(podEnv('DEL', pod, 'ctr-lost'), conf());
      expect(del.json).toMatchObject({ code: 11, msg: expect.stringContaining('recorded') });
      expect(await allocator.lookup(v4)).toMatchObject({ handle: `${NET}:ctr-lost:eth0` });
    } finally {
      server = await startServer();
    }
    expect(await allocator.lookup(v4)).toBeUndefined();
    expect(await sh(hostNs, 'ip', ['link'])).not.toContain(hostVethName('ctr-lost', 'eth0'));
    expect(readdirSync(join(stateDir, 'pending-del'))).toEqual([]);
  });

  it('carries out a recorded DEL of the same container before its next ADD, and never after', async () => {
    const pod = await lab.addNamespace('preuse');
    const first = await cni(podEnv('ADD', pod, 'ctr-re'), conf({ ipam: {} }));
    const old = (first.json as unknown as AddResult).ips[0]!.address.split('/')[0]!;
    // The DEL of the first incarnation was recorded (the agent was restarting)
    // and the runtime re-creates the container under the same id at once.
    const store = new PendingDels(stateDir);
    const delEnv = { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'ctr-re', CNI_IFNAME: 'eth0' };
    await store.record(delEnv, new TextEncoder().encode(conf()));
    const again = await cni(podEnv('ADD', pod, 'ctr-re'), conf({ ipam: {}, args: { x: 1 } }));
    expect(again.code).toBe(0);
    expect(await store.list()).toEqual([]);
    const now = (again.json as unknown as AddResult).ips[0]!.address.split('/')[0]!;
    // The new incarnation is wired and holds its address; a drain later does not undo it.
    await server.handlers.drainPending();
    expect(await allocator.lookup(now)).toMatchObject({ handle: `${NET}:ctr-re:eth0` });
    await reach(hostNs, pod, now);
    if (old !== now) expect(await allocator.lookup(old)).toBeUndefined();
    expect((await cni(podEnv('DEL', pod, 'ctr-re'), conf())).code).toBe(0);
  });

  it('gives 20 concurrent ADDs distinct addresses, and a DEL racing an ADD of the same container leaves both or neither', async () => {
    const pods = await Promise.all(Array.from({ length: 20 }, (_, i) => lab.addNamespace(`pc${i}`)));
    const adds = await Promise.all(pods.map((p, i) => cni(podEnv('ADD', p, `ctr-c${i}`), conf({ ipam: {} }))));
    expect(adds.map((a) => a.code)).toEqual(pods.map(() => 0));
    const ips = adds.map((a) => (a.json as unknown as AddResult).ips[0]!.address);
    expect(new Set(ips).size).toBe(20);
    // Each pair races: whichever the agent takes second wins, and the
    // allocation and the wiring always agree.
    await Promise.all(
      pods.map(async (p, i) => {
        const [, del] = await Promise.all([cni(podEnv('ADD', p, `ctr-c${i}`), conf({ ipam: {} })), cni(podEnv('DEL', p, `ctr-c${i}`), conf())]);
        expect(del.code).toBe(0);
      }),
    );
    const links = await sh(hostNs, 'ip', ['link']);
    const held = new Set((await allocatorIpam(allocator).nodeAllocations(NODE)).map((a) => a.containerID));
    for (let i = 0; i < 20; i++) expect(links.includes(hostVethName(`ctr-c${i}`, 'eth0'))).toBe(held.has(`ctr-c${i}`));
    await Promise.all(pods.map((p, i) => cni(podEnv('DEL', p, `ctr-c${i}`), conf())));
    expect((await allocatorIpam(allocator).nodeAllocations(NODE)).filter((a) => a.containerID?.startsWith('ctr-c'))).toEqual([]);
  });

  it('refuses a CNI_NETNS that is missing, not a network namespace, or the node\'s own, with code 4 and one line', async () => {
    const file = join(sockDir, 'not-a-netns');
    writeFileSync(file, '');
    const cases: Array<[string, string]> = [
      [join(sockDir, 'missing'), 'does not exist'],
      [file, 'is not a network namespace'],
      [nsPath(hostNs), "is the node's own network namespace"],
    ];
    for (const [path, why] of cases) {
      const add = await cni({ ...podEnv('ADD', undefined, 'ctr-ns'), CNI_NETNS: path }, conf({ ipam: {} }));
      expect(add.code).toBe(1);
      expect(add.json).toMatchObject({ code: 4, msg: `netns ${path}: ${why}${why.startsWith('is the node') ? '; refusing to wire a pod into it' : ''}` });
      expect(add.stdout.trim().split('\n')).toHaveLength(1);
    }
    // Nothing was allocated for it either.
    expect((await allocatorIpam(allocator).nodeAllocations(NODE)).filter((a) => a.containerID === 'ctr-ns')).toEqual([]);
  });

  it('serves on a socket only root can open', () => {
    const st = statSync(socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(0);
  });
});
