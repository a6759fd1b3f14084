import { describe, expect, it } from '@jest/globals';
import { forwardingSysctls, hostSysctls, hostVethName, isPodHostVeth, podMacs } from '../src/links.js';
import { encodeNewVeth } from '../src/linkmsg.js';
import { MessageWriter } from '../src/netlink.js';

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

describe('pod sysctls', () => {
  it('sets proxy ARP and proxy_delay for IPv4, proxy NDP for IPv6, on the host end only', () => {
    expect(hostSysctls('trx', new Set([4]))).toEqual(['net.ipv4.conf.trx.proxy_arp=1', 'net.ipv4.neigh.trx.proxy_delay=0']);
    expect(hostSysctls('trx', new Set([6]))).toEqual(['net.ipv6.conf.trx.proxy_ndp=1']);
  });

  it('keeps the global forwarding switches apart (written once per host namespace)', () => {
    expect(forwardingSysctls(new Set([4, 6]))).toEqual(['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  });
});

describe('veth request', () => {
  it('leaves the namespace fd for the relay at the offset it returns, inside IFLA_NET_NS_FD of the peer', () => {
    const w = new MessageWriter(256);
    const macs = podMacs('c0ffee', 'eth0');
    const at = encodeNewVeth(w, { hostIfname: hostVethName('c0ffee', 'eth0'), hostMac: macs.host, peerIfname: 'eth0', peerMac: macs.pod, mtu: 1450 }, 7, true);
    const b = w.bytes();
    expect(b.readUInt32LE(0)).toBe(b.length);
    // the attribute header before the value: length 8, type IFLA_NET_NS_FD (28)
    expect(b.readUInt16LE(at - 4)).toBe(8);
    expect(b.readUInt16LE(at - 2)).toBe(28);
    expect(b.readUInt32LE(at)).toBe(0);
    // the MACs go in as bytes
    expect(b.includes(Buffer.from(macs.pod.split(':').map((h) => parseInt(h, 16))))).toBe(true);
  });
});
