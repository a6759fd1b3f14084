import { describe, expect, it } from '@jest/globals';
import type { PeerStatus } from '@terrace/bgp';
import { MD5_WINDOW_MS, Md5Watch, md5Hint, parseMd5Counters } from '../src/md5.js';
import { computeDesiredPeers } from '../src/peers.js';
import { buildNodeStatus } from '../src/status.js';
import { matches, node, peer } from './fixtures.js';

const netstat = (failure: number, notFound: number, unexpected: number): string =>
  [
    'TcpExt: SyncookiesSent TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPSackShifted',
    `TcpExt: 7 ${notFound} ${unexpected} ${failure} 9`,
    'IpExt: InNoRoutes InTruncatedPkts',
    'IpExt: 0 0',
    '',
  ].join('\n');

describe('parseMd5Counters', () => {
  it('reads the three counters by name, wherever they stand', () => {
    expect(parseMd5Counters(netstat(3, 2, 1))).toEqual({ failure: 3, notFound: 2, unexpected: 1 });
  });

  it('reads this machine\'s own /proc/net/netstat', () => {
    const c = new Md5Watch().rise();
    expect(Object.values(c).every((v) => Number.isInteger(v) && v >= 0)).toBe(true);
  });

  it('gives zeros for a kernel without the counters', () => {
    expect(parseMd5Counters('TcpExt: A B\nTcpExt: 1 2\n')).toEqual({ failure: 0, notFound: 0, unexpected: 0 });
  });
});

describe('Md5Watch', () => {
  it('reports the rise over the last minute, and forgets older rises', () => {
    let text = netstat(10, 0, 0);
    const w = new Md5Watch(() => text);
    expect(w.rise(0)).toEqual({ failure: 0, notFound: 0, unexpected: 0 });
    text = netstat(14, 1, 0);
    expect(w.rise(2000)).toEqual({ failure: 4, notFound: 1, unexpected: 0 });
    expect(w.rise(MD5_WINDOW_MS + 2000)).toEqual({ failure: 0, notFound: 0, unexpected: 0 });
  });
});

describe('md5Hint', () => {
  const zero = { failure: 0, notFound: 0, unexpected: 0 };

  it('names a wrong password, a missing one and an unexpected one', () => {
    expect(md5Hint({ passwordSet: true, established: false }, { ...zero, failure: 5 })).toBe('TCP MD5 signatures fail here (TCPMD5Failure +5): the password differs from the peer\'s');
    expect(md5Hint({ passwordSet: true, established: false }, { ...zero, notFound: 2 })).toMatch(/the peer has no password set/);
    expect(md5Hint({ passwordSet: false, established: false }, { ...zero, unexpected: 2 })).toMatch(/the peer has a password, this session none/);
  });

  it('says nothing for an established session, quiet counters, or counters that do not fit the session', () => {
    expect(md5Hint({ passwordSet: true, established: true }, { ...zero, failure: 5 })).toBeUndefined();
    expect(md5Hint({ passwordSet: true, established: false }, zero)).toBeUndefined();
    expect(md5Hint({ passwordSet: false, established: false }, { ...zero, failure: 5 })).toBeUndefined();
  });
});

describe('buildNodeStatus with MD5 drops', () => {
  const a = node('a', '198.18.0.11/24');
  const desired = computeDesiredPeers({
    self: a,
    nodes: [a, node('b', '198.18.0.12/24')],
    configs: [],
    peers: [peer('tor', { peerIP: '198.18.0.1', asNumber: 65100, password: { secretKeyRef: { name: 's', key: 'k' } } })],
    matches,
    password: () => 'sekrit-value',
  });
  const session = (address: string, state: PeerStatus['state'], info: string): PeerStatus => ({
    address, asn: 65100, type: undefined, description: '', state, since: undefined, prefixesReceived: 0, prefixesAccepted: 0, prefixesAdvertised: 0, info,
  });

  it('adds the hint to the session with a password that is down, and never shows the password', () => {
    const s = buildNodeStatus({
      node: 'a',
      backend: 'gobgp',
      desired,
      sessions: [session('198.18.0.1', 'active', 'Active'), session('198.18.0.12', 'active', 'Active')],
      received: 0,
      advertised: [],
      installed: 0,
      md5Rise: { failure: 3, notFound: 0, unexpected: 0 },
      now: new Date('2025-01-01T12:00:00Z'),
    });
    expect(s.peers.map((p) => `${p.address} ${p.info}`)).toEqual([
      "198.18.0.1 Active; TCP MD5 signatures fail here (TCPMD5Failure +3): the password differs from the peer's",
      '198.18.0.12 Active',
    ]);
    expect(JSON.stringify(s)).not.toContain('sekrit-value');
  });
});
