import { describe, expect, it } from '@jest/globals';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { TimestampSchema } from '@bufbuild/protobuf/wkt';
import { parseCidr, parseIP, isTerraceError } from '@terrace/api';
import { CommunitiesAttributeSchema, IPAddressPrefixSchema, LargeCommunitiesAttributeSchema, MpReachNLRIAttributeSchema, NextHopAttributeSchema } from '../src/gen/attribute_pb.js';
import { PathSchema, PeerSchema, WatchEventResponseSchema } from '../src/gen/gobgp_pb.js';
import { announcementKey, fromApiPath, ownPathKey, parseCommunity, peerConfigMatches, peerKey, toApiPath, toApiPeer } from '../src/gobgp/convert.js';

describe('toApiPath / fromApiPath', () => {
  it('round-trips an IPv4 announcement through NEXT_HOP', () => {
    const init = toApiPath({ prefix: parseCidr('198.19.1.0/26'), nextHop: parseIP('198.18.0.11'), communities: ['65000:100'] });
    const p = create(PathSchema, init);
    const types = p.pattrs.map((a) => a.typeUrl.split('.').pop());
    expect(types).toEqual(['OriginAttribute', 'NextHopAttribute', 'CommunitiesAttribute']);
    expect(fromBinary(NextHopAttributeSchema, p.pattrs[1]!.value).nextHop).toBe('198.18.0.11');
    expect(fromBinary(CommunitiesAttributeSchema, p.pattrs[2]!.value).communities).toEqual([65000 * 65536 + 100]);
    expect(fromBinary(IPAddressPrefixSchema, p.nlri!.value)).toMatchObject({ prefix: '198.19.1.0', prefixLen: 26 });
    expect(fromApiPath(p)).toEqual({ prefix: '198.19.1.0/26', nextHop: '198.18.0.11', withdraw: false, local: true });
  });

  it('carries IPv6 next hops in MP_REACH_NLRI', () => {
    const p = create(PathSchema, toApiPath({ prefix: parseCidr('2001:db8:1::/64'), nextHop: parseIP('2001:db8::11') }));
    const mp = fromBinary(MpReachNLRIAttributeSchema, p.pattrs[1]!.value);
    expect(mp.nextHops).toEqual(['2001:db8::11']);
    expect(p.family).toMatchObject({ afi: 2, safi: 1 });
    p.neighborIp = '2001:db8::12';
    expect(fromApiPath(p)).toEqual({ prefix: '2001:db8:1::/64', nextHop: '2001:db8::11', withdraw: false, local: false });
  });

  it('spells a listed path as announcementKey spells the announcement (communities in any order, IPv6 text)', () => {
    const a = { prefix: parseCidr('2001:db8:1::/64'), nextHop: parseIP('2001:db8::11'), communities: ['65000:200', '65000:100'] };
    const p = create(PathSchema, toApiPath({ ...a, communities: ['65000:100', '65000:200'] }));
    expect(ownPathKey(p)).toEqual({ prefix: '2001:db8:1::/64', key: announcementKey(a) });
    const other = create(PathSchema, toApiPath({ ...a, nextHop: parseIP('2001:db8::12') }));
    expect(ownPathKey(other)?.key).not.toBe(announcementKey(a));
  });

  it('carries large communities in their own attribute, and keys them like the listed path', () => {
    const a = { prefix: parseCidr('198.19.1.0/26'), nextHop: parseIP('198.18.0.11'), communities: ['4200000000:1:2', '65000:100'] };
    const p = create(PathSchema, toApiPath(a));
    const large = p.pattrs.find((x) => x.typeUrl.endsWith(LargeCommunitiesAttributeSchema.typeName));
    expect(fromBinary(LargeCommunitiesAttributeSchema, large!.value).communities).toMatchObject([{ globalAdmin: 4200000000, localData1: 1, localData2: 2 }]);
    expect(ownPathKey(p)?.key).toBe(announcementKey({ ...a, communities: ['65000:100', '4200000000:1:2'] }));
    expect(ownPathKey(p)?.key).not.toBe(announcementKey({ ...a, communities: ['65000:100'] }));
    expect(() => toApiPath({ ...a, communities: ['1:2:4294967296'] })).toThrow(/large community/);
  });

  it('refuses a next hop of the other family', () => {
    expect(() => toApiPath({ prefix: parseCidr('198.19.1.0/26'), nextHop: parseIP('2001:db8::1') })).toThrow(/not IPv4/);
  });
});

describe('communities', () => {
  it('parses aa:nn and refuses out-of-range parts', () => {
    expect(parseCommunity('65535:65535')).toBe(0xffffffff);
    for (const bad of ['65536:1', '1', 'a:b', '1:2:3']) {
      let err: unknown;
      try {
        parseCommunity(bad);
      } catch (e) {
        err = e;
      }
      expect(isTerraceError(err, 'Invalid')).toBe(true);
    }
  });
});

describe('toApiPeer', () => {
  const base = { address: parseIP('198.18.0.12'), asn: 65002 };
  it('fills timers, GTSM and both unicast families', () => {
    const p = toApiPeer({ ...base, keepaliveTime: 1, holdTime: 3, ttlSecurity: 1, password: 'x' });
    expect(p.timers?.config).toMatchObject({ keepaliveInterval: 1n, holdTime: 3n });
    expect(p.ttlSecurity).toEqual({ enabled: true, ttlMin: 255 });
    expect(p.conf).toMatchObject({ neighborAddress: '198.18.0.12', peerAsn: 65002, authPassword: 'x' });
    expect(p.afiSafis?.length).toBe(2);
  });
  it('defaults hold time to three keepalives', () => {
    expect(toApiPeer({ ...base, keepaliveTime: 10 }).timers?.config?.holdTime).toBe(30n);
  });
  it('refuses GTSM together with multihop', () => {
    expect(() => toApiPeer({ ...base, ttlSecurity: 1, ebgpMultihop: 2 })).toThrow(/mutually exclusive/);
  });
  it('gives equal keys to equal configs and different keys otherwise', () => {
    expect(peerKey({ ...base })).toBe(peerKey({ ...base }));
    expect(peerKey({ ...base })).not.toBe(peerKey({ ...base, password: 'y' }));
  });
});

describe('peerConfigMatches (adopting a daemon that outlived the agent)', () => {
  const want = { address: parseIP('198.18.0.11'), asn: 64512, keepaliveTime: 1, holdTime: 3, description: 'node/node-1' };
  // What ListPeer reports for that peer once its session is up: defaults filled, local address learned.
  const listed = (over: { peerAsn?: number; holdTime?: bigint; authPassword?: string } = {}) =>
    create(PeerSchema, {
      conf: { neighborAddress: '198.18.0.11', peerAsn: over.peerAsn ?? 64512, localAsn: 64512, description: 'node/node-1', authPassword: over.authPassword ?? '' },
      timers: { config: { keepaliveInterval: 1n, holdTime: over.holdTime ?? 3n, connectRetry: 5n, idleHoldTimeAfterReset: 30n } },
      transport: { localAddress: '198.18.0.12', remotePort: 179 },
      ttlSecurity: { enabled: false, ttlMin: 0 },
      ebgpMultihop: { enabled: false, multihopTtl: 0 },
      gracefulRestart: { enabled: false, restartTime: 0 },
    });

  it('accepts a running peer configured as wanted, whatever local address the session took', () => {
    expect(peerConfigMatches(want, listed())).toBe(true);
  });

  it('refuses one whose AS, timers or password differ (those need UpdatePeer)', () => {
    expect(peerConfigMatches(want, listed({ peerAsn: 65000 }))).toBe(false);
    expect(peerConfigMatches(want, listed({ holdTime: 90n }))).toBe(false);
    expect(peerConfigMatches(want, listed({ authPassword: 'old' }))).toBe(false);
    expect(peerConfigMatches({ ...want, localAddress: parseIP('198.18.0.99') }, listed())).toBe(false);
    expect(peerConfigMatches(want, undefined)).toBe(false);
  });
});

describe('toApiPeer: graceful restart', () => {
  const p = { address: parseIP('198.18.0.1'), asn: 65000, gracefulRestart: { restartTime: 120 } };

  it('advertises the restart time on both families', () => {
    const peer = create(PeerSchema, toApiPeer(p));
    expect(peer.gracefulRestart).toMatchObject({ enabled: true, restartTime: 120, localRestarting: false });
    expect(peer.afiSafis.map((a) => a.mpGracefulRestart?.config?.enabled)).toEqual([true, true]);
  });

  it('says it restarted (R and F bits) only when told so, and the peer key does not change with it', () => {
    const peer = create(PeerSchema, toApiPeer(p, { restarting: true }));
    expect(peer.gracefulRestart).toMatchObject({ enabled: true, localRestarting: true, deferralTime: 120 });
    expect(create(PeerSchema, toApiPeer({ ...p, gracefulRestart: undefined }, { restarting: true })).gracefulRestart).toBeUndefined();
    expect(peerConfigMatches(p, create(PeerSchema, toApiPeer(p, { restarting: true })))).toBe(true);
  });
});
