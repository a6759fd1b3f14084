import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { API_VERSION, type BGPConfiguration, type TerraceNode } from '@terrace/api';
import { announceConfig } from '../src/advertise.js';
import { announcedNextHops, computeAnnouncements, type BlockView } from '../src/announce.js';
import { pool } from './fixtures.js';

const addrs = { 4: '198.18.0.11', 6: 'fd00::11' } as const;
const blk = (cidr: string, affinity: string | undefined, allocations: BlockView['allocations'] = []): BlockView => ({ cidr, affinity, allocations });

describe('computeAnnouncements', () => {
  it('announces every affine block via the node address and blackholes it', () => {
    const r = computeAnnouncements({
      nodeName: 'a',
      addresses: addrs,
      blocks: [blk('10.244.0.64/26', 'a'), blk('10.244.0.0/26', 'a'), blk('10.244.0.128/26', 'b'), blk('fd10::/122', 'a')],
      pools: [pool('v4', '10.244.0.0/16'), pool('v6', 'fd10::/112')],
    });
    expect(r.announcements).toEqual([
      { prefix: '10.244.0.0/26', nextHop: '198.18.0.11', kind: 'block', communities: [] },
      { prefix: '10.244.0.64/26', nextHop: '198.18.0.11', kind: 'block', communities: [] },
      { prefix: 'fd10::/122', nextHop: 'fd00::11', kind: 'block', communities: [] },
    ]);
    expect(r.blackholes).toEqual(['10.244.0.0/26', '10.244.0.64/26', 'fd10::/122']);
    expect(r.problems).toEqual([]);
  });

  it('announces addresses its pods borrowed from other nodes blocks as host routes', () => {
    const r = computeAnnouncements({
      nodeName: 'a',
      addresses: addrs,
      blocks: [
        blk('10.244.0.128/26', 'b', [
          { address: '10.244.0.130', node: 'a' },
          { address: '10.244.0.131', node: 'b' },
          { address: '10.244.0.132', node: undefined },
        ]),
        blk('fd10::40/122', 'b', [{ address: 'fd10::41', node: 'a' }]),
        // An affine block's own allocations are covered by the block route.
        blk('10.244.0.0/26', 'a', [{ address: '10.244.0.1', node: 'a' }]),
        // A block with no affinity (its node is gone) still holds our borrowed address.
        blk('10.244.1.0/26', undefined, [{ address: '10.244.1.5', node: 'a' }]),
      ],
      pools: [pool('v4', '10.244.0.0/16'), pool('v6', 'fd10::/112')],
    });
    expect(r.announcements.map((x) => `${x.prefix} ${x.kind}`)).toEqual([
      '10.244.0.0/26 block',
      '10.244.0.130/32 borrowed',
      '10.244.1.5/32 borrowed',
      'fd10::41/128 borrowed',
    ]);
    expect(r.blackholes).toEqual(['10.244.0.0/26']);
  });

  it('does not announce what a disableBGPExport pool holds, but still blackholes it', () => {
    const r = computeAnnouncements({
      nodeName: 'a',
      addresses: addrs,
      blocks: [blk('10.10.0.0/26', 'a'), blk('10.10.0.64/26', 'b', [{ address: '10.10.0.70', node: 'a' }]), blk('10.244.0.0/26', 'a')],
      pools: [pool('quiet', '10.10.0.0/16', { disableBGPExport: true }), pool('loud', '10.244.0.0/16')],
    });
    expect(r.announcements.map((x) => x.prefix)).toEqual(['10.244.0.0/26']);
    expect(r.blackholes).toEqual(['10.10.0.0/26', '10.244.0.0/26']);
  });

  it('reports a family it cannot announce for lack of a next hop, once', () => {
    const r = computeAnnouncements({
      nodeName: 'a',
      addresses: { 4: '198.18.0.11' },
      blocks: [blk('fd10::/122', 'a'), blk('fd10::40/122', 'a'), blk('not-a-cidr', 'a')],
      pools: [],
    });
    expect(r.announcements).toEqual([]);
    expect(r.blackholes).toEqual(['fd10::/122', 'fd10::40/122']);
    expect(r.problems).toEqual(['node a has no IPv6 BGP address; its IPv6 prefixes are not announced', 'ipam block "not-a-cidr" is not a CIDR; ignored']);
  });
});

describe('communities and service cidrs (BGPConfiguration default)', () => {
  const config = {
    communities: [
      { name: 'rack', value: '65001:100' },
      { name: 'big', value: '4200000000:1:2' },
    ],
    prefixAdvertisements: [
      { cidr: '10.244.0.0/16', communities: ['rack', '65001:7'] },
      { cidr: '10.244.0.0/26', communities: ['big', 'rack'] },
      { cidr: '10.96.0.0/12', communities: ['65001:300'] },
      { cidr: 'fd10::/112', communities: ['big'] },
    ],
    serviceClusterIPs: [{ cidr: '10.96.0.0/12' }, { cidr: 'fd96::/108' }],
    serviceExternalIPs: [{ cidr: '198.19.200.0/24' }],
    serviceLoadBalancerIPs: [{ cidr: '198.19.201.0/24' }, { cidr: '10.96.0.0/12' }],
  };

  it('attaches the communities of every advertisement containing a prefix, names resolved', () => {
    const r = computeAnnouncements({
      nodeName: 'a',
      addresses: addrs,
      blocks: [blk('10.244.0.0/26', 'a'), blk('10.244.1.0/26', 'b', [{ address: '10.244.1.9', node: 'a' }]), blk('fd10::/122', 'a')],
      pools: [pool('v4', '10.244.0.0/16'), pool('v6', 'fd10::/112')],
      config,
    });
    expect(r.announcements.map((x) => `${x.prefix} ${x.kind} [${x.communities.join(' ')}]`)).toEqual([
      '10.96.0.0/12 service [65001:300]',
      '10.244.0.0/26 block [4200000000:1:2 65001:100 65001:7]',
      '10.244.1.9/32 borrowed [65001:100 65001:7]',
      '198.19.200.0/24 service []',
      '198.19.201.0/24 service []',
      'fd10::/122 block [4200000000:1:2]',
      'fd96::/108 service []',
    ]);
    // Service cidrs get no blackhole: kube-proxy forwards them (see announce.ts).
    expect(r.blackholes).toEqual(['10.244.0.0/26', 'fd10::/122']);
    expect(r.problems).toEqual([]);
  });

  it('announces service cidrs even when no pool or block exists, and regardless of disableBGPExport', () => {
    const r = computeAnnouncements({
      nodeName: 'a',
      addresses: { 4: '198.18.0.11' },
      blocks: [],
      pools: [pool('quiet', '198.19.0.0/16', { disableBGPExport: true })],
      config: { serviceExternalIPs: [{ cidr: '198.19.200.0/24' }, { cidr: 'fd96::/108' }] },
    });
    expect(r.announcements.map((x) => x.prefix)).toEqual(['198.19.200.0/24']);
    expect(r.problems).toEqual([
      'bgpconfiguration/default: spec.serviceExternalIPs 198.19.200.0/24 overlaps ippool/quiet (198.19.0.0/16); pods and services may be given the same addresses',
      'node a has no IPv6 BGP address; its IPv6 prefixes are not announced',
    ]);
  });

  it('every announced prefix carries exactly the communities of the advertisements containing it', () => {
    // Containment recomputed here with plain 32-bit arithmetic, not the api's CIDR helpers.
    const ipv4 = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
    const net = fc.record({ base: fc.integer({ min: 0, max: 0xffff }), len: fc.integer({ min: 8, max: 32 }) }).map(({ base, len }) => {
      const addr = (0x0a000000 + (base << 8) + (base & 0xff)) >>> 0; // inside 10.0.0.0/8
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      return { addr: (addr & mask) >>> 0, len };
    });
    const value = fc.constantFrom('1:1', '1:2', '65535:0', '7:8:9', 'named-a', 'named-b');
    const contains = (o: { addr: number; len: number }, i: { addr: number; len: number }): boolean => {
      if (i.len < o.len) return false;
      const mask = o.len === 0 ? 0 : (0xffffffff << (32 - o.len)) >>> 0;
      return ((i.addr & mask) >>> 0) === o.addr;
    };
    const named: Record<string, string> = { 'named-a': '3:3', 'named-b': '4:5:6' };
    fc.assert(
      fc.property(
        fc.array(fc.record({ net, values: fc.array(value, { maxLength: 3 }) }), { maxLength: 6 }),
        fc.array(net, { minLength: 1, maxLength: 6 }),
        fc.array(net, { maxLength: 3 }),
        (ads, blockNets, serviceNets) => {
          const text = (n: { addr: number; len: number }): string => `${ipv4(n.addr)}/${n.len}`;
          const r = computeAnnouncements({
            nodeName: 'a',
            addresses: addrs,
            blocks: blockNets.map((n) => blk(text(n), 'a')),
            pools: [],
            config: {
              communities: Object.entries(named).map(([name, v]) => ({ name, value: v })),
              prefixAdvertisements: ads.map((a) => ({ cidr: text(a.net), communities: a.values })),
              serviceClusterIPs: serviceNets.map((n) => ({ cidr: text(n) })),
            },
          });
          const wanted = new Set([...blockNets, ...serviceNets].map(text));
          expect(new Set(r.announcements.map((a) => a.prefix))).toEqual(wanted);
          for (const a of r.announcements) {
            const [ip, len] = a.prefix.split('/') as [string, string];
            const me = { addr: ip.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0), len: Number(len) };
            const expected = new Set(ads.filter((ad) => contains(ad.net, me)).flatMap((ad) => ad.values.map((v) => named[v] ?? v)));
            expect(a.communities).toEqual([...expected].sort());
          }
        },
      ),
    );
  });
});

describe('announceConfig', () => {
  const cfg = (name: string, spec: BGPConfiguration['spec']): BGPConfiguration => ({ apiVersion: API_VERSION, kind: 'BGPConfiguration', metadata: { name }, spec });
  const def = cfg('default', {
    communities: [{ name: 'x', value: '1:1' }],
    prefixAdvertisements: [{ cidr: '10.0.0.0/8', communities: ['x'] }],
    serviceClusterIPs: [{ cidr: '10.96.0.0/12' }],
  });

  it('reads the default, and a node configuration that sets prefixAdvertisements replaces them with its own communities', () => {
    expect(announceConfig([def, cfg('node.b', { listenPort: 1179 })], 'a')).toEqual(def.spec);
    expect(announceConfig([def, cfg('node.a', { listenPort: 1179 })], 'a')).toEqual(def.spec);
    const own = cfg('node.a', { prefixAdvertisements: [{ cidr: '10.1.0.0/16', communities: ['2:2'] }] });
    expect(announceConfig([def, own], 'a')).toEqual({ prefixAdvertisements: own.spec.prefixAdvertisements, serviceClusterIPs: def.spec.serviceClusterIPs });
    expect(announceConfig([], 'a')).toBeUndefined();
  });
});

describe('announcedNextHops', () => {
  const node = (ipv4Address?: string, ipv6Address?: string): TerraceNode => ({
    apiVersion: 'terrace.dev/v1',
    kind: 'Node',
    metadata: { name: 'n1' },
    spec: { bgp: { ...(ipv4Address ? { ipv4Address } : {}), ...(ipv6Address ? { ipv6Address } : {}) } },
  });

  it('announces an address on a shared subnet as itself', () => {
    expect(announcedNextHops(node('198.18.0.11/24', '2001:db8::11/64'))).toEqual({ 4: '198.18.0.11', 6: '2001:db8::11' });
    expect(announcedNextHops(node('198.18.0.11'))).toEqual({ 4: '198.18.0.11' });
  });

  it('asks for each session\'s local address when the node address is a host address (a loopback)', () => {
    expect(announcedNextHops(node('198.18.1.1/32', '2001:db8:1::1/128'))).toEqual({ 4: '0.0.0.0', 6: '::' });
    expect(announcedNextHops(node('198.18.1.1/32', '2001:db8::11/64'))).toEqual({ 4: '0.0.0.0', 6: '2001:db8::11' });
  });

  it('skips what is not an address', () => {
    expect(announcedNextHops(node('nonsense/32', '2001:db8::11/999'))).toEqual({});
  });
});
