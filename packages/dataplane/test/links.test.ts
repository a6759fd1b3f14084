import { describe, expect, it } from '@jest/globals';
import { parseIP } from '@terrace/api';
import { hostBatch, hostSysctls, hostVethName, isPodHostVeth, podBatch, podMacs, type PodWiring } from '../src/links.js';

const wiring: PodWiring = {
  containerId: 'c0ffee',
  ifname: 'eth0',
  netns: '/var/run/netns/pod1',
  addresses: [parseIP('198.18.10.5'), parseIP('2001:db8:10::5')],
  mtu: 1450,
};

describe('pod link naming', () => {
  it('derives a stable host veth name under 15 bytes from container id and ifname', () => {
    const a = hostVethName('c0ffee', 'eth0');
    expect(a).toMatch(/^tr[0-9a-f]{11}$/);
    expect(a).toBe(hostVethName('c0ffee', 'eth0'));
    expect(hostVethName('c0ffee', 'eth1')).not.toBe(a);
    expect(hostVethName('c0ffef', 'eth0')).not.toBe(a);
    expect(isPodHostVeth(a)).toBe(true);
    expect(isPodHostVeth('eth0')).toBe(false);
  });

  it('gives locally administered unicast MACs', () => {
    const m = podMacs('c0ffee', 'eth0');
    for (const x of [m.host, m.pod]) {
      expect(x).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      const first = parseInt(x.slice(0, 2), 16);
      expect(first & 1).toBe(0);
      expect(first & 2).toBe(2);
    }
    expect(m.host).not.toBe(m.pod);
  });
});

describe('pod link batches', () => {
  it('creates the pod end inside the pod namespace and routes to it with our protocol', () => {
    const macs = podMacs('c0ffee', 'eth0');
    const host = hostVethName('c0ffee', 'eth0');
    expect(hostBatch(wiring, host, macs).split('\n')).toEqual([
      `link add ${host} mtu 1450 address ${macs.host} type veth peer name eth0 mtu 1450 address ${macs.pod} netns /var/run/netns/pod1`,
      `link set ${host} up`,
      `route replace 198.18.10.5/32 dev ${host} scope link proto 201`,
      `route replace 2001:db8:10::5/128 dev ${host} proto 201`,
      '',
    ]);
  });

  it('gives the pod host-length addresses and link-local default routes', () => {
    const b = podBatch(wiring, 'ee:00:00:00:00:01');
    expect(b).toContain('addr add 198.18.10.5/32 dev eth0\n');
    expect(b).toContain('addr add 2001:db8:10::5/128 dev eth0 nodad\n');
    expect(b).toContain('route replace default via 169.254.1.1 dev eth0 onlink\n');
    expect(b).toContain('route replace ::/0 via fe80::1 dev eth0\n');
    expect(b).toContain('neigh replace 169.254.1.1 lladdr ee:00:00:00:00:01 dev eth0 nud permanent\n');
  });

  it('leaves out the IPv6 pieces for an IPv4-only pod', () => {
    const v4 = { ...wiring, addresses: [parseIP('198.18.10.5')] };
    expect(podBatch(v4, 'ee:00:00:00:00:01')).not.toContain('fe80::1');
    expect(hostSysctls('trx', new Set([4]))).toEqual(['net.ipv4.conf.trx.proxy_arp=1', 'net.ipv4.neigh.trx.proxy_delay=0', 'net.ipv4.ip_forward=1']);
    expect(hostSysctls('trx', new Set([6]))).toEqual(['net.ipv6.conf.trx.proxy_ndp=1', 'net.ipv6.conf.all.forwarding=1']);
  });
});
