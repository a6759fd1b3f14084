import { describe, expect, it } from '@jest/globals';
import { formatIP } from '@terrace/api';
import { toSpeakerPeers } from '../src/agent.js';
import type { DesiredBgp, DesiredPeer } from '../src/peers.js';

const desired = (peers: DesiredPeer[]): DesiredBgp => ({ global: { asNumber: 64512, routerId: '198.18.0.1', listenPort: 179, addresses: ['198.18.0.1'] }, peers, problems: [] });
const base: DesiredPeer = { address: '198.18.0.21', family: 4, port: 179, asNumber: 64512, type: 'node specific', source: 'bgppeer/rr' };

describe('desired peers to the speaker', () => {
  it('makes a peer with a cluster id a route reflector client in that cluster', () => {
    const [c] = toSpeakerPeers(desired([{ ...base, routeReflectorClusterId: '244.0.0.1' }]));
    expect(c).toMatchObject({ routeReflectorClient: true, routeReflectorClusterId: '244.0.0.1' });
    expect(formatIP(c!.address)).toBe('198.18.0.21');
    const [plain] = toSpeakerPeers(desired([base]));
    expect(plain!.routeReflectorClient).toBeUndefined();
    expect(plain!.routeReflectorClusterId).toBeUndefined();
  });

  it('maps nextHopMode Self and Keep; Auto (absent) leaves the protocol default', () => {
    expect(toSpeakerPeers(desired([{ ...base, nextHopMode: 'Self' }]))[0]!.nextHopMode).toBe('self');
    expect(toSpeakerPeers(desired([{ ...base, nextHopMode: 'Keep' }]))[0]!.nextHopMode).toBe('keep');
    expect(toSpeakerPeers(desired([base]))[0]!.nextHopMode).toBeUndefined();
  });
});
