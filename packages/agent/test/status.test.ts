import { describe, expect, it } from '@jest/globals';
import type { PeerStatus } from '@terrace/bgp';
import { computeDesiredPeers } from '../src/peers.js';
import { desiredNode } from '../src/registration.js';
import { buildNodeStatus } from '../src/status.js';
import { matches, node, peer } from './fixtures.js';

describe('buildNodeStatus', () => {
  const a = node('a', '198.18.0.11/24');
  const desired = computeDesiredPeers({
    self: a,
    nodes: [a, node('b', '198.18.0.12/24'), node('c', '198.18.0.13/24')],
    configs: [],
    peers: [peer('tor', { peerIP: '198.18.0.1:1179', asNumber: 65100 })],
    matches,
  });
  const session = (address: string, state: PeerStatus['state'], info: string): PeerStatus => ({
    address,
    asn: 64512,
    type: undefined,
    description: '',
    state,
    since: new Date('2025-01-01T11:00:00Z'),
    prefixesReceived: 2,
    prefixesAccepted: 2,
    prefixesAdvertised: 1,
    info,
  });

  it('joins the desired peers (their type) with the speaker sessions (their state)', () => {
    const s = buildNodeStatus({
      node: 'a',
      backend: 'gobgp',
      desired,
      sessions: [session('198.18.0.12', 'established', 'Established'), session('198.18.0.1', 'active', 'Active'), session('198.18.0.99', 'idle', 'being removed')],
      received: 3,
      advertised: ['10.244.0.0/26'],
      installed: 4,
      now: new Date('2025-01-01T12:00:00Z'),
    });
    expect(s.updatedAt).toBe('2025-01-01T12:00:00.000Z');
    expect(s.peers.map((p) => [p.address, p.port, p.type, p.state, p.info, p.since])).toEqual([
      ['198.18.0.1', 1179, 'global', 'Active', 'Active', '2025-01-01T11:00:00.000Z'],
      ['198.18.0.12', undefined, 'node-to-node mesh', 'Established', 'Established', '2025-01-01T11:00:00.000Z'],
      ['198.18.0.13', undefined, 'node-to-node mesh', 'Unknown', 'not configured yet', undefined],
    ]);
    expect(s.prefixes).toEqual({ received: 3, advertised: 1, installed: 4 });
    expect(s).toMatchObject({ node: 'a', asNumber: 64512, routerId: '198.18.0.11', addresses: ['198.18.0.11'], advertisedPrefixes: ['10.244.0.0/26'] });
  });

  it('publishes the speaker’s RIB check when there is one', () => {
    const base = { node: 'a', backend: 'gobgp', desired, sessions: [], received: 0, advertised: [], installed: 0, now: new Date() };
    expect(buildNodeStatus(base).ribCheck).toBeUndefined();
    const s = buildNodeStatus({
      ...base,
      ribCheck: { state: 'diverged', diverged: 1, example: '10.0.0.0/24: station says 192.0.2.1, gobgpd says no route', checkedAt: new Date('2025-01-01T12:00:00Z') },
    });
    expect(s.ribCheck).toEqual({ state: 'diverged', diverged: 1, example: '10.0.0.0/24: station says 192.0.2.1, gobgpd says no route', checkedAt: '2025-01-01T12:00:00.000Z' });
  });

  it('says why when the speaker cannot be asked', () => {
    const s = buildNodeStatus({ node: 'a', backend: 'gobgp', desired, sessions: undefined, sessionsError: 'connection refused', received: 0, advertised: [], installed: 0, now: new Date() });
    expect(s.peers.every((p) => p.state === 'Unknown' && p.info === 'speaker unavailable: connection refused')).toBe(true);
  });
});

describe('desiredNode', () => {
  it('sets our addresses and labels, keeping what an operator set', () => {
    const existing = node('a', '198.18.0.99/24', { v6: 'fd00::99/64', as: 65005, labels: { team: 'net', rack: 'old' } });
    existing.spec.bgp = { ...existing.spec.bgp, routeReflectorClusterID: '1.0.0.1' };
    existing.metadata.resourceVersion = '42';
    const n = desiredNode({ name: 'a', addresses: { 4: '198.18.0.11/24' }, asNumber: undefined, labels: { rack: 'r1' }, backend: 'gobgp' as const }, existing);
    expect(n.metadata).toMatchObject({ name: 'a', resourceVersion: '42', labels: { team: 'net', rack: 'r1' } });
    expect(n.spec.bgp).toEqual({ ipv4Address: '198.18.0.11/24', asNumber: 65005, routeReflectorClusterID: '1.0.0.1' });
    const fresh = desiredNode({ name: 'b', addresses: { 6: 'fd00::12/64' }, asNumber: 65001, labels: {}, backend: 'gobgp' as const }, undefined);
    // The backend the node runs is a label: its Node's spec.bgp.backend, else the flag.
    const birdByResource = desiredNode({ name: 'b', addresses: {}, asNumber: undefined, labels: {}, backend: 'gobgp' }, { ...fresh, spec: { bgp: { backend: 'bird' } } });
    expect(birdByResource.metadata.labels).toEqual({ 'terrace.dev/bgp-backend': 'bird' });
    expect(fresh).toEqual({ apiVersion: 'terrace.dev/v1', kind: 'Node', metadata: { name: 'b', labels: { 'terrace.dev/bgp-backend': 'gobgp' } }, spec: { bgp: { ipv6Address: 'fd00::12/64', asNumber: 65001 } } });
  });
});
