import { describe, expect, it } from '@jest/globals';
import { create } from '@bufbuild/protobuf';
import { parseIP } from '@terrace/api';
import { PeerSchema } from '../src/gen/gobgp_pb.js';
import { peerConfigMatches, routeReflectorChanged, toApiPeer } from '../src/gobgp/convert.js';
import { NEXT_HOP_KEEP_SET, NEXT_HOP_SELF_SET, NO_NEIGHBOR, peerSets, REFLECT_TO_SET } from '../src/gobgp/peer-sets.js';
import type { PeerConfig } from '../src/speaker.js';

const peer = (addr: string, asn: number, extra: Partial<PeerConfig> = {}): PeerConfig => ({ address: parseIP(addr), asn, ...extra });

describe('GoBGP per-peer rules as neighbor sets', () => {
  it('holds only the placeholder when no peer asks for anything', () => {
    expect(peerSets([peer('198.18.0.12', 64512), peer('198.18.0.1', 65000)], 64512)).toEqual({
      [REFLECT_TO_SET]: [NO_NEIGHBOR],
      [NEXT_HOP_SELF_SET]: [NO_NEIGHBOR],
      [NEXT_HOP_KEEP_SET]: [NO_NEIGHBOR],
    });
  });

  it('lets a reflector send iBGP-learned paths to its iBGP peers, clients or not, never to eBGP ones', () => {
    const sets = peerSets(
      [peer('198.18.0.21', 64512, { routeReflectorClient: true }), peer('198.18.0.2', 64512), peer('2001:db8::21', 64512, { routeReflectorClient: true }), peer('198.18.0.1', 65000)],
      64512,
    );
    expect(sets[REFLECT_TO_SET]).toEqual([NO_NEIGHBOR, '198.18.0.2/32', '198.18.0.21/32', '2001:db8::21/128']);
  });

  it('maps nextHopMode self and keep to their sets, auto to neither', () => {
    const sets = peerSets([peer('198.18.0.31', 64512, { nextHopMode: 'self' }), peer('198.18.0.1', 65000, { nextHopMode: 'keep' }), peer('198.18.0.2', 65000, { nextHopMode: 'auto' })], 64512);
    expect(sets[NEXT_HOP_SELF_SET]).toEqual([NO_NEIGHBOR, '198.18.0.31/32']);
    expect(sets[NEXT_HOP_KEEP_SET]).toEqual([NO_NEIGHBOR, '198.18.0.1/32']);
  });
});

describe('GoBGP route reflector client sessions', () => {
  it('configures a client with our cluster id, or gobgpd’s default (its router id)', () => {
    expect(toApiPeer(peer('198.18.0.21', 64512, { routeReflectorClient: true, routeReflectorClusterId: '244.0.0.1' })).routeReflector).toEqual({
      routeReflectorClient: true,
      routeReflectorClusterId: '244.0.0.1',
    });
    expect(toApiPeer(peer('198.18.0.21', 64512, { routeReflectorClient: true })).routeReflector).toEqual({ routeReflectorClient: true, routeReflectorClusterId: '' });
    expect(toApiPeer(peer('198.18.0.21', 64512)).routeReflector).toBeUndefined();
  });

  it('refuses a malformed cluster id, or one without a client session, naming the field', () => {
    expect(() => toApiPeer(peer('198.18.0.21', 64512, { routeReflectorClient: true, routeReflectorClusterId: '244.0.0.256' }))).toThrow(
      expect.objectContaining({ field: 'routeReflectorClusterId' }) as unknown as Error,
    );
    expect(() => toApiPeer(peer('198.18.0.21', 64512, { routeReflectorClusterId: '244.0.0.1' }))).toThrow(/routeReflectorClient is not/);
  });

  it('sees a listed peer with other reflector settings as changed (UpdatePeer would not apply them)', () => {
    const client = peer('198.18.0.21', 64512, { routeReflectorClient: true, routeReflectorClusterId: '244.0.0.1' });
    const listed = create(PeerSchema, toApiPeer(client));
    expect(routeReflectorChanged(client, listed)).toBe(false);
    expect(peerConfigMatches(client, listed)).toBe(true);
    expect(routeReflectorChanged(peer('198.18.0.21', 64512), listed)).toBe(true);
    expect(routeReflectorChanged({ ...client, routeReflectorClusterId: '244.0.0.2' }, listed)).toBe(true);
    // gobgpd lists the cluster id it chose when we left it to it.
    expect(routeReflectorChanged({ ...client, routeReflectorClusterId: undefined }, listed)).toBe(false);
    const plain = create(PeerSchema, toApiPeer(peer('198.18.0.21', 64512)));
    expect(routeReflectorChanged(client, plain)).toBe(true);
    expect(peerConfigMatches(client, plain)).toBe(false);
  });
});
