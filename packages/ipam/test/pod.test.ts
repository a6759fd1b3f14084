import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { isTerraceError } from '@terrace/api';
import { type PodRef, handleNamesInterface, isPodHandleOf, legacyPodHandle, parsePodHandle, podHandle, validateHandle } from '../src/index.js';
import { cniTriple, cniTriples } from './fixtures/cni-ids.js';

describe('pod handles', () => {
  test('the two interfaces that shared an old handle get different ones', () => {
    expect(legacyPodHandle('net', 'x1.eth0', 'eth1')).toBe(legacyPodHandle('net', 'x1', 'eth0.eth1'));
    expect(podHandle('net', 'x1.eth0', 'eth1')).toBe('net:x1.eth0:eth1');
    expect(podHandle('net', 'x1', 'eth0.eth1')).toBe('net:x1:eth0.eth1');
  });

  test('an interface name outside the handle alphabet is escaped byte by byte', () => {
    expect(podHandle('k8s', 'abc', 'eth0@v+é')).toBe('k8s:abc:eth0@40v@2b@c3@a9');
    expect(parsePodHandle('k8s:abc:eth0@40v@2b@c3@a9')).toEqual({ network: 'k8s', containerId: 'abc', ifname: 'eth0@v+é' });
  });

  test('a handle too long for a key segment keeps the network and ifname and digests the rest', () => {
    const long = 'c'.repeat(400);
    const h = podHandle('k8s', long, 'eth0');
    expect(h.length).toBeLessThanOrEqual(253);
    expect(h).toMatch(/^k8s:c+@[0-9a-f]{32}:eth0$/);
    expect(podHandle('k8s', `${long}d`, 'eth0')).not.toBe(h);
    expect(parsePodHandle(h)).toEqual({ network: 'k8s', ifname: 'eth0' });
    expect(handleNamesInterface(h, long, 'eth0')).toBe(true);
    expect(handleNamesInterface(h, `${long}d`, 'eth0')).toBe(false);
  });

  test('ids CNI would refuse are refused with the field named', () => {
    const field = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return isTerraceError(e, 'Invalid') ? e.field : e;
      }
      return undefined;
    };
    expect(field(() => podHandle('a:b', 'c', 'eth0'))).toBe('network');
    expect(field(() => podHandle('net', 'c@d', 'eth0'))).toBe('containerId');
    expect(field(() => podHandle('net', 'c', ''))).toBe('ifname');
  });

  test('old-form handles are recognised by the attributes that built them', () => {
    expect(isPodHandleOf('net.x1.eth0.eth1', { network: 'net', containerId: 'x1', ifname: 'eth0.eth1' })).toBe(true);
    expect(isPodHandleOf('net.x1.eth0.eth1', { network: 'net.x1', containerId: 'eth0', ifname: 'eth1' })).toBe(true);
    expect(isPodHandleOf('net.x1.eth0.eth1', { network: 'other', containerId: 'x1', ifname: 'eth0.eth1' })).toBe(false);
    // Attributes no CNI pod can have are nobody's, and asking does not throw (GC asks of every allocation).
    expect(isPodHandleOf('net.x:1.eth0', { network: 'net', containerId: 'x:1', ifname: 'eth0' })).toBe(false);
    expect(handleNamesInterface('net.x1.eth0.eth1', 'x1.eth0', 'eth1')).toBe(true);
    expect(handleNamesInterface('net.x1.eth0.eth1', 'x2', 'eth1')).toBe(false);
    expect(handleNamesInterface('net:x1:eth0', 'x1', 'eth0')).toBe(true);
    expect(handleNamesInterface('net:x1:eth0', 'x1', 'eth1')).toBe(false);
  });

  test('property: distinct triples never share a handle; every handle is valid, parses back, and is no old-form handle', () => {
    fc.assert(
      fc.property(fc.oneof(fc.tuple(cniTriple(), cniTriple()), cniTriples(2).map((l) => [l[0] as PodRef, l[1] as PodRef] as const)), ([a, b]) => {
        const ha = podHandle(a.network, a.containerId, a.ifname);
        const hb = podHandle(b.network, b.containerId, b.ifname);
        const same = a.network === b.network && a.containerId === b.containerId && a.ifname === b.ifname;
        expect(ha === hb).toBe(same);
        expect(validateHandle(ha)).toBe(ha);
        const p = parsePodHandle(ha);
        expect(p?.network).toBe(a.network);
        expect(p?.ifname).toBe(a.ifname);
        if (p?.containerId !== undefined) expect(p.containerId).toBe(a.containerId);
        expect(handleNamesInterface(ha, a.containerId, a.ifname)).toBe(true);
        // A new handle never equals any old one: an old pod is never mistaken for a new one.
        expect(ha).not.toBe(legacyPodHandle(b.network, b.containerId, b.ifname));
      }),
      { numRuns: 1000 },
    );
  });
});
