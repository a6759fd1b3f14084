import { describe, expect, test } from '@jest/globals';
import { formatAddr, formatIP, formatPrefix, packCidr, packIP, parseCidr, parseIP, type PackedAddr, type PackedPrefix } from '@terrace/api';
import { AdjRibIn } from '../src/bmp/rib.js';
import type { BgpUpdate, BmpPeer, PathAttrs } from '../src/bmp/types.js';
import { describeDifference, differences, type DaemonBest } from '../src/gobgp/rib-check.js';
import type { LearnedEvent } from '../src/speaker.js';

function peer(addr: string, asn: number): BmpPeer {
  const address = parseIP(addr);
  return { key: formatIP(address), address, asn, bgpId: 1 };
}

function pfx(s: string): PackedPrefix {
  return packCidr(parseCidr(s));
}

function ip(s: string): PackedAddr {
  return packIP(parseIP(s));
}

function ann(prefixes: string[], hop: string, asPathLen: number): BgpUpdate {
  const attrs: PathAttrs = {
    nextHop: ip(hop),
    origin: 0,
    asPathLen,
    firstAs: 65001,
    asns: Array.from({ length: asPathLen }, () => 65001),
    localPref: undefined,
    med: undefined,
    originatorId: undefined,
    clusterList: [],
  };
  return { withdrawn: [], announced: prefixes.map(pfx), attrs, endOfRib: undefined };
}

const text = (evs: LearnedEvent[]): string[] =>
  evs.map((e) => (e.kind === 'set' ? `set ${formatPrefix(e.prefix)} ${e.nextHops.map(formatAddr).join(',')}` : `withdraw ${formatPrefix(e.prefix)}`));

/** The RIB's best next hop, as text. */
const best = (rib: AdjRibIn, p: string): string | undefined => {
  const h = rib.bestHop(pfx(p));
  return h === undefined ? undefined : formatAddr(h);
};

describe('differences', () => {
  const station = new Map([
    ['10.0.0.0/24', '192.0.2.1'],
    ['10.0.1.0/24', '192.0.2.1'],
    ['10.0.2.0/24', '192.0.2.2'],
  ]);
  test('compares best next hops and skips our own prefixes', () => {
    const daemon = new Map<string, DaemonBest>([
      ['10.0.0.0/24', '192.0.2.1'],
      ['10.0.1.0/24', '192.0.2.9'],
      ['10.0.3.0/24', '192.0.2.3'],
      ['10.0.4.0/24', 'local'],
    ]);
    const keys = new Set([...station.keys(), ...daemon.keys(), '10.0.5.0/24']);
    const found = differences(keys, (k) => station.get(k), daemon, (k) => k === '10.0.5.0/24');
    expect(found.map(describeDifference)).toEqual([
      '10.0.1.0/24: station says 192.0.2.1, gobgpd says 192.0.2.9',
      '10.0.2.0/24: station says 192.0.2.2, gobgpd says no route',
      '10.0.3.0/24: station says no route, gobgpd says 192.0.2.3',
    ]);
  });
});

describe('AdjRibIn.correct', () => {
  const P = '10.0.0.0/24';
  const A = peer('192.0.2.1', 65001);
  const B = peer('192.0.2.2', 65002);
  test('follows gobgpd until the prefix changes again, and counts the change', () => {
    const rib = new AdjRibIn({ localAsn: 65000, routerId: 1 });
    rib.update(A, ann([P], '192.0.2.1', 2));
    rib.update(B, ann([P], '192.0.2.2', 1));
    expect(best(rib, P)).toBe('192.0.2.2');
    const n = rib.changeCount;
    expect(text(rib.correct(pfx(P), ip('192.0.2.1')))).toEqual([`set ${P} 192.0.2.1`]);
    expect(rib.changeCount).toBeGreaterThan(n);
    expect(best(rib, P)).toBe('192.0.2.1');
    expect(rib.correct(pfx(P), ip('192.0.2.1'))).toEqual([]);
    // A change to the prefix selects anew.
    expect(text(rib.update(A, ann([P], '192.0.2.1', 3)))).toEqual([`set ${P} 192.0.2.2`]);
    expect(best(rib, P)).toBe('192.0.2.2');
  });
  test('to no route: withdrawn, not counted as a destination, back on the next change', () => {
    const rib = new AdjRibIn({ localAsn: 65000, routerId: 1 });
    rib.update(A, ann([P], '192.0.2.1', 1));
    expect(rib.destinationCounts()).toEqual({ v4: 1, v6: 0 });
    expect(text(rib.correct(pfx(P), undefined))).toEqual([`withdraw ${P}`]);
    expect(best(rib, P)).toBeUndefined();
    expect(rib.snapshot().has(pfx(P))).toBe(false);
    expect(rib.destinationCounts()).toEqual({ v4: 0, v6: 0 });
    expect(text(rib.update(A, ann([P], '192.0.2.1', 2)))).toEqual([`set ${P} 192.0.2.1`]);
  });
  test('nothing for a prefix we hold no path for, or one of our own', () => {
    const rib = new AdjRibIn({ localAsn: 65000, routerId: 1 });
    rib.update(A, ann([P], '192.0.2.1', 1));
    rib.setLocal([pfx(P)]);
    expect(rib.correct(pfx(P), ip('192.0.2.9'))).toEqual([]);
    expect(rib.correct(pfx('10.9.0.0/24'), ip('192.0.2.9'))).toEqual([]);
    expect(rib.destinationCounts()).toEqual({ v4: 1, v6: 0 });
  });
});
