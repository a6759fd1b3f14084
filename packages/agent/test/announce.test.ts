import { describe, expect, it } from '@jest/globals';
import type { TerraceNode } from '@terrace/api';
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
      { prefix: '10.244.0.0/26', nextHop: '198.18.0.11', kind: 'block' },
      { prefix: '10.244.0.64/26', nextHop: '198.18.0.11', kind: 'block' },
      { prefix: 'fd10::/122', nextHop: 'fd00::11', kind: 'block' },
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
