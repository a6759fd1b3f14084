import { describe, expect, test } from '@jest/globals';
import { formatCidr, formatIP } from '@terrace/api';
import { BmpReader } from '../src/bmp/parse.js';
import { primeBmpPath, syntheticFeed } from '../src/bmp/prime.js';
import type { LearnedEvent } from '../src/speaker.js';

/** The selection the events leave: key → next hops as text. */
function fold(events: readonly LearnedEvent[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of events) {
    if (e.kind === 'set') out.set(formatCidr(e.prefix), e.nextHops.map(formatIP));
    else out.delete(formatCidr(e.prefix));
  }
  return out;
}

describe('start-up priming of the BMP path', () => {
  test('the reader reads the synthetic feed as three peers, their UPDATEs and a peer down', () => {
    const messages = new BmpReader().push(syntheticFeed(2000));
    expect(messages.map((m) => m.type)).toEqual([
      'initiation',
      ...Array(3).fill('peer-up'),
      ...Array(7).fill('route-monitoring'),
      'peer-down',
    ]);
    const updates = messages.flatMap((m) => (m.type === 'route-monitoring' ? [m] : []));
    // The router's /32s (800, 800, 400), nodes B and C's 125 blocks, 125 IPv6 /64s, 100 withdrawn /32s.
    expect(updates.map((m) => [m.peer.key, m.update.announced.length, m.update.withdrawn.length])).toEqual([
      ['198.18.255.1', 800, 0],
      ['198.18.255.1', 800, 0],
      ['198.18.255.1', 400, 0],
      ['198.18.255.2', 125, 0],
      ['198.18.255.3', 125, 0],
      ['198.18.255.1', 125, 0],
      ['198.18.255.1', 0, 100],
    ]);
    const [router, , , node, , v6] = updates;
    expect(router?.update.attrs).toMatchObject({ firstAs: 64496, asPathLen: 1, asns: [64496], med: 0, origin: 0 });
    expect(node?.update.attrs).toMatchObject({ asPathLen: 0, localPref: 100, med: 0 });
    expect(node?.update.announced[1]?.key).toBe('198.19.0.64/26');
    expect(v6?.update.announced[2]?.key).toBe('2001:db8:2::/64');
    expect(v6?.update.attrs?.nextHop && formatIP(v6.update.attrs.nextHop)).toBe('2001:db8:ffff::1');
  });

  test('the events select what the feed leaves, and pass through an ECMP set on the way', () => {
    // 5,000 /32s are ~25 KB: read in 4 KB chunks, messages straddle chunk boundaries.
    const events = primeBmpPath(syntheticFeed(5000));
    const blocks = 5000 >> 4;
    expect(events).toHaveLength(5000 + 4 * blocks + 100);
    const selected = fold(events);
    expect(selected.size).toBe(5000 - 100 + 2 * blocks);
    expect(selected.has('198.18.128.99/32')).toBe(false);
    expect(selected.get('198.18.128.100/32')).toEqual(['198.18.254.1']);
    expect(selected.get('198.18.147.135/32')).toEqual(['198.18.254.7']);
    expect(selected.get('198.19.0.0/26')).toEqual(['198.18.255.2']);
    expect(selected.get('2001:db8:1::/64')).toEqual(['2001:db8:ffff::1']);
    const ecmp = events.find((e) => e.kind === 'set' && e.key === '198.19.0.64/26' && e.nextHops.length === 2);
    expect(ecmp?.kind === 'set' && ecmp.nextHops.map(formatIP)).toEqual(['198.18.255.2', '198.18.255.3']);
  });

  test('each call starts from an empty Adj-RIB-In: the same feed again gives the same events', () => {
    const feed = syntheticFeed(1000);
    expect(primeBmpPath(feed).map((e) => `${e.kind} ${e.key}`)).toEqual(primeBmpPath(feed).map((e) => `${e.kind} ${e.key}`));
  });
});
