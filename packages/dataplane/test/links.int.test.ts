// Pod wiring against the kernel: a lab "host" namespace holds the host ends,
// lab "pod" namespaces are the pods. Nothing touches the root namespace.
// Host routes to pods are route sync's: where a test needs them it installs
// podHostRoutes() through route sync's writer, as the agent does.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TerraceError, parseIP } from '@terrace/api';
import { createLab, reachTcp, waitFor, type Lab } from '@terrace/testkit';
import { canonOf } from '../src/canon.js';
import { checkPod, hostVethName, podHostRoutes, removePod, wirePod, type PodWiring } from '../src/links.js';
import { RouteWriter } from '../src/relay.js';

let lab: Lab;
let hostNs: string;
let scratch: string;
const path = (ns: string): string => `/var/run/netns/${ns}`;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'terrace-links-'));
  lab = await createLab({ tag: 'tl' });
  hostNs = await lab.addNamespace('host');
  // An address for the host namespace to ping from (it has no other interface).
  await lab.exec(hostNs, 'ip', ['addr', 'add', '198.18.255.1/32', 'dev', 'lo']);
  await lab.exec(hostNs, 'ip', ['addr', 'add', '2001:db8:ffff::1/128', 'dev', 'lo', 'nodad']);
  // An uplink and a default route of the node's own, which no pod may replace.
  await lab.exec(hostNs, 'ip', ['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1']);
  await lab.exec(hostNs, 'ip', ['addr', 'add', '198.18.254.1/24', 'dev', 'up0']);
  await lab.exec(hostNs, 'ip', ['link', 'set', 'up0', 'up']);
  await lab.exec(hostNs, 'ip', ['link', 'set', 'up1', 'up']);
  await lab.exec(hostNs, 'ip', ['route', 'add', 'default', 'via', '198.18.254.2', 'dev', 'up0']);
});

afterAll(async () => {
  await lab?.destroy();
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

/** Installs a pod's host routes as the agent has route sync do. */
async function installHostRoutes(w: PodWiring): Promise<void> {
  const writer = new RouteWriter({ netns: hostNs });
  try {
    const out = await writer.run(podHostRoutes(w.containerId, w.ifname, w.addresses).map((r) => ['replace', canonOf(r)] as const));
    expect(out).toEqual({ failures: [], lost: false });
  } finally {
    await writer.close();
  }
}

async function sh(ns: string, cmd: string, args: string[]): Promise<string> {
  return (await lab.exec(ns, cmd, args)).stdout;
}

/** TCP from namespace `from` to `addr` in namespace `to` (there is no ping here). */
const reach = (from: string, to: string, addr: string): Promise<void> => reachTcp(lab, from, to, addr);

function wiring(podNs: string, id: string, addrs: string[]): PodWiring {
  return { containerId: id, ifname: 'eth0', netns: path(podNs), hostNetns: path(hostNs), addresses: addrs.map(parseIP), mtu: 1400 };
}

describe('wirePod / checkPod / removePod', () => {
  it('wires a dual-stack pod that the host can ping, then removes it', async () => {
    const pod = await lab.addNamespace('p1');
    const w = wiring(pod, 'ctr-one', ['198.18.20.5', '2001:db8:20::5']);
    const res = await wirePod(w);
    expect(res.hostIfname).toBe(hostVethName('ctr-one', 'eth0'));
    expect(res.addresses).toEqual(['198.18.20.5/32', '2001:db8:20::5/128']);

    const podAddrs = await sh(pod, 'ip', ['-o', 'addr', 'show', 'dev', 'eth0']);
    expect(podAddrs).toContain('inet 198.18.20.5/32');
    expect(podAddrs).toContain('inet6 2001:db8:20::5/128');
    expect(await sh(pod, 'ip', ['route', 'show', 'default'])).toContain('default via 169.254.1.1 dev eth0 onlink');
    expect(await sh(pod, 'ip', ['-6', 'route', 'show', 'default'])).toContain('default via fe80::1 dev eth0');
    expect(await sh(pod, 'ip', ['link', 'show', 'dev', 'eth0'])).toContain('mtu 1400');

    // Route sync, not wirePod, installs the host routes.
    expect(await sh(hostNs, 'ip', ['route', 'show', 'proto', '201'])).toBe('');
    expect(await sh(hostNs, 'ip', ['-6', 'route', 'show', 'proto', '201'])).toBe('');
    expect(await checkPod(w)).toEqual([
      `host route 198.18.20.5/32 dev ${res.hostIfname} proto 201 is missing`,
      `host route 2001:db8:20::5/128 dev ${res.hostIfname} proto 201 is missing`,
    ]);
    await installHostRoutes(w);
    expect(await sh(hostNs, 'ip', ['route', 'show', 'proto', '201'])).toContain(`198.18.20.5 dev ${res.hostIfname} scope link`);
    expect(await sh(hostNs, 'ip', ['-6', 'route', 'show', 'proto', '201'])).toContain(`2001:db8:20::5 dev ${res.hostIfname}`);
    expect(await sh(pod, 'ip', ['neigh', 'show', '169.254.1.1'])).toContain(`lladdr ${res.hostMac} PERMANENT`);
    expect(await sh(pod, 'ip', ['-6', 'neigh', 'show', 'fe80::1'])).toContain(`lladdr ${res.hostMac} PERMANENT`);
    expect(await sh(pod, 'ip', ['link', 'show', 'dev', 'eth0'])).toContain(`link/ether ${res.podMac}`);
    expect(await sh(hostNs, 'ip', ['link', 'show', 'dev', res.hostIfname])).toContain(`link/ether ${res.hostMac}`);
    expect((await sh(hostNs, 'sysctl', ['-n', `net.ipv4.neigh.${res.hostIfname}.proxy_delay`])).trim()).toBe('0');
    expect((await sh(hostNs, 'sysctl', ['-n', 'net.ipv6.conf.all.forwarding'])).trim()).toBe('1');
    // nodad: the pod's address is usable at once (the link-local one may still be tentative).
    const v6 = (await sh(pod, 'ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0'])).split('\n').find((l) => l.includes('2001:db8:20::5/128'));
    expect(v6).toContain('nodad');
    expect(v6).not.toContain('tentative');
    expect((await sh(hostNs, 'sysctl', ['-n', `net.ipv4.conf.${res.hostIfname}.proxy_arp`])).trim()).toBe('1');
    expect((await sh(hostNs, 'sysctl', ['-n', `net.ipv6.conf.${res.hostIfname}.proxy_ndp`])).trim()).toBe('1');
    expect((await sh(hostNs, 'sysctl', ['-n', 'net.ipv4.ip_forward'])).trim()).toBe('1');

    await reach(hostNs, pod, '198.18.20.5');
    await reach(hostNs, pod, '2001:db8:20::5');
    // And the other way, through the gateway the pod was given.
    await reach(pod, hostNs, '198.18.255.1');
    await reach(pod, hostNs, '2001:db8:ffff::1');

    expect(await checkPod(w)).toEqual([]);

    expect(await removePod(w)).toBe(true);
    expect(await removePod(w)).toBe(false);
    expect(await sh(hostNs, 'ip', ['route', 'show', 'proto', '201'])).not.toContain('198.18.20.5');
    expect(await sh(pod, 'ip', ['link'])).not.toContain('eth0');
    const after = await checkPod(w);
    expect(after).toContain(`host interface ${res.hostIfname} is missing`);
  });

  it('CHECK reports a missing default route and a missing host route', async () => {
    const pod = await lab.addNamespace('p2');
    const w = wiring(pod, 'ctr-two', ['198.18.20.6']);
    const res = await wirePod(w);
    await installHostRoutes(w);
    await sh(pod, 'ip', ['route', 'del', 'default']);
    await sh(hostNs, 'ip', ['route', 'del', '198.18.20.6/32']);
    expect(await checkPod(w)).toEqual([
      `host route 198.18.20.6/32 dev ${res.hostIfname} proto 201 is missing`,
      'pod default route via 169.254.1.1 dev eth0 is missing',
    ]);
    await removePod(w);
  });

  it('replaces a leftover host end when ADD is retried', async () => {
    const pod = await lab.addNamespace('p3');
    const w = wiring(pod, 'ctr-three', ['198.18.20.7']);
    await wirePod(w);
    await wirePod(w);
    await installHostRoutes(w);
    expect(await checkPod(w)).toEqual([]);
    await reach(hostNs, pod, '198.18.20.7');
    await removePod(w);
  });

  it('undoes everything when the pod namespace already has the interface name', async () => {
    const pod = await lab.addNamespace('p4');
    // Something else holds eth0 in the pod.
    await sh(pod, 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    const w = wiring(pod, 'ctr-four', ['198.18.20.8']);
    const err = await wirePod(w).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TerraceError);
    expect((err as TerraceError).code).toBe('AlreadyExists');
    expect((err as TerraceError).message).toBe(`pod ctr-four: interface eth0 already exists in ${path(pod)}`);
    expect(await sh(hostNs, 'ip', ['link'])).not.toContain(hostVethName('ctr-four', 'eth0'));
    expect(await sh(hostNs, 'ip', ['route', 'show', 'proto', '201'])).not.toContain('198.18.20.8');
  });

  it('refuses a pod namespace that does not exist, before touching anything', async () => {
    const w = wiring('missing-ns-' + lab.prefix, 'ctr-five', ['198.18.20.9']);
    const err = await wirePod(w).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TerraceError);
    expect(err).toMatchObject({ code: 'Invalid', field: 'netns', message: `netns ${w.netns}: does not exist` });
    expect(await sh(hostNs, 'ip', ['link'])).not.toContain(hostVethName('ctr-five', 'eth0'));
  });

  it('refuses a path that is not a network namespace: a file, a directory, another kind of namespace', async () => {
    const file = join(scratch, 'not-a-netns');
    writeFileSync(file, '');
    const dir = join(scratch, 'a-directory');
    mkdirSync(dir);
    for (const p of [file, dir, '/proc/self/ns/uts', '/proc/self/ns/mnt']) {
      const w = { ...wiring(hostNs, 'ctr-nons', ['198.18.20.12']), netns: p };
      const err = await wirePod(w).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'Invalid', field: 'netns', message: `netns ${p}: is not a network namespace` });
    }
    expect(await sh(hostNs, 'ip', ['link'])).not.toContain(hostVethName('ctr-nons', 'eth0'));
  });

  it("refuses the node's own namespace and leaves the node's default route alone", async () => {
    const before = await sh(hostNs, 'ip', ['route', 'show', 'default']);
    expect(before).toContain('default via 198.18.254.2 dev up0');
    const w = wiring(hostNs, 'ctr-host', ['198.18.20.13']);
    const err = await wirePod(w).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'Invalid',
      field: 'netns',
      message: `netns ${path(hostNs)}: is the node's own network namespace; refusing to wire a pod into it`,
    });
    expect(await sh(hostNs, 'ip', ['route', 'show', 'default'])).toBe(before);
    const links = await sh(hostNs, 'ip', ['link']);
    expect(links).not.toContain(hostVethName('ctr-host', 'eth0'));
    expect(links).not.toContain('eth0');
  });

  it("compares identities, not paths: the host namespace by another path is refused too", async () => {
    // The lab's host namespace as the agent would see it when running there: /proc/PID/ns/net.
    const d = lab.startDaemon(hostNs, { name: 'sleeper', command: 'sleep', args: ['30'] });
    try {
      // `ip netns exec` enters the namespace before it runs sleep: wait for that.
      const want = statSync(path(hostNs)).ino;
      await waitFor('sleep to enter the namespace', () => statSync(`/proc/${d.pid}/ns/net`).ino === want, 10_000, 10);
      const w = { ...wiring(hostNs, 'ctr-host2', ['198.18.20.14']), netns: `/proc/${d.pid}/ns/net` };
      await expect(wirePod(w)).rejects.toThrow(`netns /proc/${d.pid}/ns/net: is the node's own network namespace; refusing to wire a pod into it`);
    } finally {
      await d.stop(1000);
    }
  });

  it('undoes the veth when the pod side fails half-way', async () => {
    const pod = await lab.addNamespace('p6');
    // IPv6 is off for new interfaces in this pod: the IPv6 `addr add` fails
    // after the veth exists and the IPv4 address is in place.
    await sh(pod, 'sysctl', ['-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
    const w = wiring(pod, 'ctr-six', ['198.18.20.10', '2001:db8:20::10']);
    const err = await wirePod(w).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TerraceError);
    expect((err as Error).message).toMatch(/configure eth0/);
    expect((err as Error).message).not.toContain('\n');
    expect(await sh(hostNs, 'ip', ['link'])).not.toContain(hostVethName('ctr-six', 'eth0'));
    expect(await sh(pod, 'ip', ['link'])).not.toContain('eth0');
  });

  it('refuses bad input before touching the kernel', async () => {
    await expect(wirePod({ ...wiring(hostNs, 'x', ['198.18.20.11']), ifname: 'a/b' })).rejects.toThrow(/not a valid interface name/);
    await expect(wirePod({ ...wiring(hostNs, 'x', ['198.18.20.11']), mtu: 10 })).rejects.toThrow(/mtu/);
    await expect(wirePod({ ...wiring(hostNs, 'x', []) })).rejects.toThrow(/no address/);
  });
});
