import { describe, expect, test } from '@jest/globals';
import { formatIP } from '@terrace/api';
import { BmpReader } from '../src/bmp/parse.js';
import { primeBmpPath, syntheticFeed } from '../src/bmp/prime.js';

describe('start-up priming of the BMP path', () => {
  test('the synthetic feed is a well-formed dump: initiation, peer up, then UPDATEs of at most 800 prefixes', () => {
    const messages = new BmpReader().push(syntheticFeed(2000));
    expect(messages.map((m) => m.type)).toEqual(['initiation', 'peer-up', 'route-monitoring', 'route-monitoring', 'route-monitoring']);
    const sizes = messages.flatMap((m) => (m.type === 'route-monitoring' ? [m.update.announced.length] : []));
    expect(sizes).toEqual([800, 800, 400]);
  });

  test('every prefix of the feed comes out selected, once, each UPDATE via a next hop of its own', () => {
    // 5,000 prefixes are ~25 KB: read in 16 KB chunks, messages straddle chunk boundaries.
    const events = primeBmpPath(syntheticFeed(5000));
    expect(events).toHaveLength(5000);
    expect(events.every((e) => e.kind === 'set')).toBe(true);
    expect(new Set(events.map((e) => e.key)).size).toBe(5000);
    expect(events[0]?.key).toBe('198.18.128.0/32');
    expect(events[4999]?.key).toBe('198.18.147.135/32');
    const hops = new Set(events.flatMap((e) => (e.kind === 'set' ? e.nextHops.map(formatIP) : [])));
    expect([...hops].sort()).toEqual(['198.18.255.1', '198.18.255.2', '198.18.255.3', '198.18.255.4', '198.18.255.5', '198.18.255.6', '198.18.255.7']);
  });

  test('each call starts from an empty Adj-RIB-In: the same feed again gives the same events', () => {
    const feed = syntheticFeed(1000);
    expect(primeBmpPath(feed).map((e) => e.key)).toEqual(primeBmpPath(feed).map((e) => e.key));
  });
});
