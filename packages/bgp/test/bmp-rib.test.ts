import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { cidr, formatAddr, formatIP, formatPrefix, packCidr, packIP, parseCidr, parseIP, unpackAddr, unpackPrefix, type Cidr, type PackedAddr } from '@terrace/api';
import { AdjRibIn } from '../src/bmp/rib.js';
import type { BgpUpdate, BmpPeer, Nlri, PathAttrs } from '../src/bmp/types.js';
import type { LearnedEvent } from '../src/speaker.js';

const LOCAL_ASN = 65000;
const ROUTER_ID = 0x0a000001;

function peer(addr: string, asn: number, bgpId: number): BmpPeer {
  const address = parseIP(addr);
  return { key: formatIP(address), address, asn, bgpId };
}

function nlri(s: string): Nlri {
  return packCidr(parseCidr(s));
}

function attrs(nextHop: string | undefined, o: Partial<PathAttrs> = {}): PathAttrs {
  return {
    nextHop: nextHop === undefined ? undefined : packIP(parseIP(nextHop)),
    origin: 0,
    asPathLen: 1,
    firstAs: 65001,
    asns: [65001],
    localPref: undefined,
    med: undefined,
    originatorId: undefined,
    clusterList: [],
    ...o,
  };
}

function ann(prefixes: string[], a: PathAttrs): BgpUpdate {
  return { withdrawn: [], announced: prefixes.map(nlri), attrs: a, endOfRib: undefined };
}

function wd(prefixes: string[]): BgpUpdate {
  return { withdrawn: prefixes.map(nlri), announced: [], attrs: undefined, endOfRib: undefined };
}

function hopsOf(rib: AdjRibIn, prefix: string): string[] | undefined {
  return rib.snapshot().get(nlri(prefix))?.nextHops.map(formatAddr);
}

function describeEvents(events: LearnedEvent[]): string[] {
  return events.map((e) =>
    e.kind === 'set' ? `set ${formatPrefix(e.prefix)} ${e.nextHops.map(formatAddr).join(',')}` : `withdraw ${formatPrefix(e.prefix)}`,
  );
}

const newRib = (multipath = true): AdjRibIn => new AdjRibIn({ localAsn: LOCAL_ASN, routerId: ROUTER_ID, multipath });

const E1 = peer('198.18.1.1', 65001, 50);
const E2 = peer('198.18.1.2', 65002, 30);
const E3 = peer('198.18.1.3', 65003, 10);
const I1 = peer('198.18.2.1', LOCAL_ASN, 9);
const I2 = peer('198.18.2.2', LOCAL_ASN, 2);
const P = '10.1.0.0/24';

describe('AdjRibIn: one peer', () => {
  test('announce, replace, withdraw', () => {
    const rib = newRib();
    expect(describeEvents(rib.update(E1, ann([P, '10.2.0.0/24'], attrs('198.18.1.1'))))).toEqual([
      'set 10.1.0.0/24 198.18.1.1',
      'set 10.2.0.0/24 198.18.1.1',
    ]);
    expect(rib.size).toBe(2);
    expect(rib.pathCount(E1.key)).toBe(2);
    expect(describeEvents(rib.update(E1, ann([P], attrs('198.18.1.9'))))).toEqual(['set 10.1.0.0/24 198.18.1.9']);
    expect(describeEvents(rib.update(E1, wd([P])))).toEqual(['withdraw 10.1.0.0/24']);
    expect(rib.update(E1, wd([P]))).toEqual([]);
    expect(rib.size).toBe(1);
    expect(rib.pathCount(E1.key)).toBe(1);
    expect(describeEvents(rib.currentEvents())).toEqual(['set 10.2.0.0/24 198.18.1.1']);
  });

  test('re-announcing the same next hop emits nothing', () => {
    const rib = newRib();
    rib.update(E1, ann([P], attrs('198.18.1.1')));
    expect(rib.update(E1, ann([P], attrs('198.18.1.1', { med: 7, asPathLen: 3 })))).toEqual([]);
  });

  test('a prefix both withdrawn and announced in one UPDATE is replaced without a flap', () => {
    const rib = newRib();
    rib.update(E1, ann([P], attrs('198.18.1.1')));
    const u: BgpUpdate = { ...ann([P], attrs('198.18.1.1')), withdrawn: [nlri(P)] };
    expect(rib.update(E1, u)).toEqual([]);
    expect(hopsOf(rib, P)).toEqual(['198.18.1.1']);
  });

  test('IPv6 prefixes and next hops', () => {
    const rib = newRib();
    const ev = rib.update(E1, ann(['fd10::/64'], attrs('fd00::1')));
    expect(describeEvents(ev)).toEqual(['set fd10::/64 fd00::1']);
  });

  test('unusable next hops withdraw the peer path', () => {
    const rib = newRib();
    rib.update(E1, ann([P], attrs('198.18.1.1')));
    expect(describeEvents(rib.update(E1, ann([P], attrs('0.0.0.0'))))).toEqual(['withdraw 10.1.0.0/24']);
    rib.update(E1, ann([P], attrs('198.18.1.1')));
    expect(describeEvents(rib.update(E1, ann([P], attrs(undefined))))).toEqual(['withdraw 10.1.0.0/24']);
    rib.update(E1, ann(['fd10::/64'], attrs('fd00::1')));
    expect(describeEvents(rib.update(E1, ann(['fd10::/64'], attrs('::'))))).toEqual(['withdraw fd10::/64']);
    expect(rib.pathCount(E1.key)).toBe(0);
  });
});

describe('AdjRibIn: decision process', () => {
  test('two equal eBGP paths form one ECMP set, sorted by address text', () => {
    const rib = newRib();
    rib.update(E2, ann([P], attrs('198.18.1.20', { firstAs: 65002, asns: [65002] })));
    const ev = rib.update(E1, ann([P], attrs('198.18.1.100')));
    // Address order (the packed bytes'), not text order.
    expect(describeEvents(ev)).toEqual(['set 10.1.0.0/24 198.18.1.20,198.18.1.100']);
    expect(Object.isFrozen(rib.snapshot().get(nlri(P))?.nextHops)).toBe(true);
    expect(describeEvents(rib.update(E1, wd([P])))).toEqual(['set 10.1.0.0/24 198.18.1.20']);
  });

  test('equal paths with the same next hop give one next hop', () => {
    const rib = newRib();
    rib.update(E1, ann([P], attrs('198.18.9.9')));
    expect(rib.update(E2, ann([P], attrs('198.18.9.9', { firstAs: 65002, asns: [65002] })))).toEqual([]);
    expect(hopsOf(rib, P)).toEqual(['198.18.9.9']);
  });

  test('higher LOCAL_PREF wins; absent counts as 100', () => {
    const rib = newRib();
    rib.update(E1, ann([P], attrs('198.18.1.1', { localPref: 150 })));
    rib.update(E2, ann([P], attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })));
    expect(hopsOf(rib, P)).toEqual(['198.18.1.1']);
    rib.update(E1, ann([P], attrs('198.18.1.1', { localPref: 90 })));
    expect(hopsOf(rib, P)).toEqual(['198.18.1.2']);
    rib.update(E1, ann([P], attrs('198.18.1.1', { localPref: 100 })));
    expect(hopsOf(rib, P)).toEqual(['198.18.1.1', '198.18.1.2']);
  });

  test('shorter AS path wins', () => {
    const rib = newRib();
    rib.update(E1, ann([P], attrs('198.18.1.1', { asPathLen: 2, asns: [65001, 65009] })));
    rib.update(E2, ann([P], attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })));
    expect(hopsOf(rib, P)).toEqual(['198.18.1.2']);
  });

  test('lower ORIGIN wins', () => {
    const rib = newRib();
    rib.update(E1, ann([P], attrs('198.18.1.1', { origin: 2 })));
    rib.update(E2, ann([P], attrs('198.18.1.2', { origin: 1, firstAs: 65002, asns: [65002] })));
    expect(hopsOf(rib, P)).toEqual(['198.18.1.2']);
  });

  test('MED decides only between paths from the same neighbouring AS', () => {
    const rib = newRib();
    const e1b = peer('198.18.1.4', 65001, 60); // another session into AS 65001
    rib.update(E1, ann([P], attrs('198.18.1.1', { med: 10 })));
    rib.update(e1b, ann([P], attrs('198.18.1.4', { med: 5 })));
    expect(hopsOf(rib, P)).toEqual(['198.18.1.4']);
    // From another AS the MED is not compared for the best path: the older eBGP path stays best;
    // and multipath compares MED always, so the differing path is not added.
    const rib2 = newRib();
    rib2.update(E1, ann([P], attrs('198.18.1.1', { med: 10 })));
    rib2.update(E2, ann([P], attrs('198.18.1.2', { med: 5, firstAs: 65002, asns: [65002] })));
    expect(hopsOf(rib2, P)).toEqual(['198.18.1.1']);
  });

  test('MED is compared between paths with empty AS paths; absent MED is 0', () => {
    const rib = newRib();
    const internal = { asPathLen: 0, firstAs: 0, asns: [] };
    rib.update(I1, ann([P], attrs('198.18.2.1', { ...internal, med: 3 })));
    rib.update(I2, ann([P], attrs('198.18.2.2', { ...internal, med: undefined })));
    expect(hopsOf(rib, P)).toEqual(['198.18.2.2']);
  });

  test('eBGP beats iBGP and they never share a multipath set', () => {
    const rib = newRib();
    rib.update(I1, ann([P], attrs('198.18.2.1')));
    expect(hopsOf(rib, P)).toEqual(['198.18.2.1']);
    expect(describeEvents(rib.update(E1, ann([P], attrs('198.18.1.1'))))).toEqual(['set 10.1.0.0/24 198.18.1.1']);
    expect(describeEvents(rib.update(E1, wd([P])))).toEqual(['set 10.1.0.0/24 198.18.2.1']);
  });

  test('the older of two eBGP paths is best (without multipath); the same path sent again keeps its age, a changed one is new', () => {
    const rib = newRib(false);
    rib.update(E2, ann([P], attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })));
    rib.update(E1, ann([P], attrs('198.18.1.1')));
    expect(hopsOf(rib, P)).toEqual(['198.18.1.2']);
    // E2 sends the very same path again (a route refresh): still the older one, as in gobgpd.
    expect(rib.update(E2, ann([P], attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })))).toEqual([]);
    // A new MED (not comparable across neighbour ASes) makes it a new, younger path.
    expect(describeEvents(rib.update(E2, ann([P], attrs('198.18.1.2', { firstAs: 65002, asns: [65002], med: 5 }))))).toEqual([
      'set 10.1.0.0/24 198.18.1.1',
    ]);
  });

  test('between iBGP paths the lower BGP id wins, then the lower peer address', () => {
    const rib = newRib(false);
    rib.update(I1, ann([P], attrs('198.18.2.1')));
    rib.update(I2, ann([P], attrs('198.18.2.2')));
    expect(hopsOf(rib, P)).toEqual(['198.18.2.2']); // bgpId 2 < 9
    const i3 = peer('198.18.2.0', LOCAL_ASN, 2);
    rib.update(i3, ann([P], attrs('198.18.2.30')));
    expect(hopsOf(rib, P)).toEqual(['198.18.2.30']); // same id, lower address
    // With multipath all three are equal.
    const mp = newRib();
    for (const [p, hop] of [[I1, '198.18.2.1'], [I2, '198.18.2.2'], [i3, '198.18.2.30']] as const) {
      mp.update(p, ann([P], attrs(hop)));
    }
    expect(hopsOf(mp, P)).toEqual(['198.18.2.1', '198.18.2.2', '198.18.2.30']);
  });

  test('multipath off: only the best next hop', () => {
    const rib = newRib(false);
    rib.update(E1, ann([P], attrs('198.18.1.1')));
    expect(rib.update(E2, ann([P], attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })))).toEqual([]);
    expect(hopsOf(rib, P)).toEqual(['198.18.1.1']);
  });

  test('an AS loop withdraws the peer path', () => {
    const rib = newRib();
    rib.update(E1, ann([P], attrs('198.18.1.1')));
    rib.update(E2, ann([P], attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })));
    const looped = attrs('198.18.1.1', { asPathLen: 2, asns: [65001, LOCAL_ASN] });
    expect(describeEvents(rib.update(E1, ann([P], looped)))).toEqual(['set 10.1.0.0/24 198.18.1.2']);
    expect(rib.pathCount(E1.key)).toBe(0);
  });

  test('ORIGINATOR_ID or CLUSTER_LIST naming us withdraws the peer path', () => {
    const rib = newRib();
    rib.update(I1, ann([P], attrs('198.18.2.1')));
    expect(describeEvents(rib.update(I1, ann([P], attrs('198.18.2.1', { originatorId: ROUTER_ID }))))).toEqual([
      'withdraw 10.1.0.0/24',
    ]);
    rib.update(I1, ann([P], attrs('198.18.2.1', { originatorId: 77 })));
    expect(hopsOf(rib, P)).toEqual(['198.18.2.1']);
    expect(describeEvents(rib.update(I1, ann([P], attrs('198.18.2.1', { clusterList: [5, ROUTER_ID] }))))).toEqual([
      'withdraw 10.1.0.0/24',
    ]);
  });
});

describe('AdjRibIn: sessions, local prefixes, staleness', () => {
  test('peerDown drops all the peer paths', () => {
    const rib = newRib();
    rib.update(E1, ann([P, '10.2.0.0/24', 'fd10::/64'], attrs('198.18.1.1')));
    rib.update(E2, ann([P], attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })));
    expect(describeEvents(rib.peerDown(E1.key))).toEqual([
      'set 10.1.0.0/24 198.18.1.2',
      'withdraw 10.2.0.0/24',
      'withdraw fd10::/64',
    ]);
    expect(rib.pathCount(E1.key)).toBe(0);
    expect(rib.size).toBe(1);
    expect(rib.peerDown(E1.key)).toEqual([]);
  });

  test('setLocal suppresses learned paths and releases them', () => {
    const rib = newRib();
    rib.update(E1, ann([P, '10.2.0.0/24'], attrs('198.18.1.1')));
    expect(describeEvents(rib.setLocal([P, '10.9.0.0/24'].map(nlri)))).toEqual(['withdraw 10.1.0.0/24']);
    expect(rib.size).toBe(1);
    expect([...rib.snapshot().keys()].map(formatPrefix)).toEqual(['10.2.0.0/24']);
    expect(rib.update(E2, ann([P, '10.9.0.0/24'], attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })))).toEqual([]);
    expect(rib.pathCount(E2.key)).toBe(2);
    expect(describeEvents(rib.setLocal(['10.2.0.0/24'].map(nlri)))).toEqual([
      'set 10.1.0.0/24 198.18.1.1,198.18.1.2',
      'set 10.9.0.0/24 198.18.1.2',
      'withdraw 10.2.0.0/24',
    ]);
  });

  test('markAllStale, re-announce, endOfRib per peer and family', () => {
    const rib = newRib();
    rib.update(E1, ann(['10.1.0.0/24', '10.2.0.0/24'], attrs('198.18.1.1')));
    rib.update(E1, ann(['fd10::/64'], attrs('fd00::1')));
    rib.update(E2, ann(['10.3.0.0/24'], attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })));
    rib.markAllStale();
    expect(rib.staleCount).toBe(4);
    expect(rib.size).toBe(4); // stale paths still count
    expect(rib.update(E1, ann(['10.1.0.0/24'], attrs('198.18.1.1')))).toEqual([]);
    expect(rib.staleCount).toBe(3);
    expect(describeEvents(rib.endOfRib(E1.key, 4))).toEqual(['withdraw 10.2.0.0/24']);
    expect(rib.staleCount).toBe(2);
    expect(hopsOf(rib, 'fd10::/64')).toEqual(['fd00::1']);
    expect(hopsOf(rib, '10.3.0.0/24')).toEqual(['198.18.1.2']);
    // An End-of-RIB marker inside an UPDATE does the same.
    const eor: BgpUpdate = { withdrawn: [], announced: [], attrs: undefined, endOfRib: 6 };
    expect(describeEvents(rib.update(E1, eor))).toEqual(['withdraw fd10::/64']);
    expect(describeEvents(rib.sweepStale())).toEqual(['withdraw 10.3.0.0/24']);
    expect(rib.staleCount).toBe(0);
    expect(describeEvents(rib.currentEvents())).toEqual(['set 10.1.0.0/24 198.18.1.1']);
  });

  test('peerStale ages one peer only, counts each path once, and endOfRib drops what it did not refresh', () => {
    const rib = newRib();
    // One UPDATE (one shared record) for two prefixes, withdrawn and re-announced (a key twice in the index).
    rib.update(E1, ann(['10.1.0.0/24', '10.2.0.0/24'], attrs('198.18.1.1')));
    rib.update(E1, wd(['10.2.0.0/24']));
    rib.update(E1, ann(['10.2.0.0/24'], attrs('198.18.1.1')));
    rib.update(E1, ann(['fd10::/64'], attrs('fd00::1')));
    rib.update(E2, ann(['10.3.0.0/24'], attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })));
    rib.peerStale(E1.key);
    expect(rib.staleCount).toBe(3);
    expect(rib.size).toBe(4);
    rib.peerStale(E1.key); // idempotent
    expect(rib.staleCount).toBe(3);
    expect(rib.update(E1, ann(['10.1.0.0/24'], attrs('198.18.1.1')))).toEqual([]);
    expect(rib.staleCount).toBe(2);
    const out = [...rib.endOfRib(E1.key, 4), ...rib.endOfRib(E1.key, 6)];
    expect(describeEvents(out)).toEqual(['withdraw 10.2.0.0/24', 'withdraw fd10::/64']);
    expect(rib.staleCount).toBe(0);
    expect(hopsOf(rib, '10.3.0.0/24')).toEqual(['198.18.1.2']);
    expect(hopsOf(rib, '10.1.0.0/24')).toEqual(['198.18.1.1']);
    // A later feed break still ages everything once.
    rib.markAllStale();
    expect(rib.staleCount).toBe(2);
  });

  test('a stale path among others is dropped without touching the fresh ones', () => {
    const rib = newRib();
    rib.update(E1, ann([P], attrs('198.18.1.1')));
    rib.update(E2, ann([P], attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })));
    rib.markAllStale();
    rib.update(E2, ann([P], attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })));
    expect(describeEvents(rib.endOfRib(E2.key, 4))).toEqual([]);
    expect(describeEvents(rib.endOfRib(E1.key, 4))).toEqual(['set 10.1.0.0/24 198.18.1.2']);
    expect(rib.pathCount(E1.key)).toBe(0);
    expect(rib.staleCount).toBe(0);
  });
});

describe('AdjRibIn: per-peer index under churn', () => {
  test('withdraw and re-announce many times: counts, stale handling and peerDown stay exact', () => {
    const rib = newRib();
    const keys = Array.from({ length: 3000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    for (let round = 0; round < 5; round++) {
      rib.update(E1, ann(keys, attrs('198.18.1.1')));
      rib.update(E1, wd(keys.slice(0, 2500)));
    }
    expect(rib.pathCount(E1.key)).toBe(500);
    rib.update(E2, ann(keys.slice(0, 10), attrs('198.18.1.2', { firstAs: 65002, asns: [65002] })));
    rib.markAllStale();
    rib.update(E1, ann(keys.slice(2500, 2600), attrs('198.18.1.1')));
    expect(rib.staleCount).toBe(410);
    const dropped = rib.endOfRib(E1.key, 4);
    expect(dropped).toHaveLength(400);
    expect(dropped.every((e) => e.kind === 'withdraw')).toBe(true);
    expect(rib.pathCount(E1.key)).toBe(100);
    expect(rib.staleCount).toBe(10);
    expect(rib.peerDown(E1.key)).toHaveLength(100);
    expect(rib.size).toBe(10);
    expect(rib.pathCount(E2.key)).toBe(10);
  });
});

// ---- Property test against a plain model of gobgpd's selection ----

interface RefPath {
  peer: BmpPeer;
  a: PathAttrs;
  seq: number;
  stale: boolean;
}

/** gobgpd's pairwise comparison, step by step: 1 when `x` is better, -1 when `y` is, 0 undecided. */
function refCompare(x: RefPath, y: RefPath): number {
  const ibgp = (p: RefPath): boolean => p.peer.asn === LOCAL_ASN;
  const steps: Array<() => number> = [
    () => Math.sign((x.a.localPref ?? 100) - (y.a.localPref ?? 100)),
    () => Math.sign(y.a.asPathLen - x.a.asPathLen),
    () => Math.sign(y.a.origin - x.a.origin),
    () => {
      const internal = x.a.asPathLen === 0 && y.a.asPathLen === 0;
      const sameAs = x.a.firstAs !== 0 && x.a.firstAs === y.a.firstAs;
      return internal || sameAs ? Math.sign((y.a.med ?? 0) - (x.a.med ?? 0)) : 0;
    },
    () => (ibgp(x) === ibgp(y) ? 0 : ibgp(x) ? -1 : 1),
    () => (!ibgp(x) && !ibgp(y) ? Math.sign(y.seq - x.seq) : 0),
    () => (ibgp(x) && ibgp(y) ? Math.sign(y.peer.bgpId - x.peer.bgpId) : 0),
    () => {
      const fx = x.peer.address.family;
      const fy = y.peer.address.family;
      if (fx !== fy) return fx < fy ? 1 : -1;
      const vx = x.peer.address.value;
      const vy = y.peer.address.value;
      return vx === vy ? 0 : vx < vy ? 1 : -1;
    },
  ];
  for (const s of steps) {
    const r = s();
    if (r !== 0) return r;
  }
  return 0;
}

/** Go's sort.SliceStable on a short list: insertion sort with less(i, j) = "j not better than i". */
function refSort(list: RefPath[]): void {
  for (let i = 1; i < list.length; i++) {
    for (let j = i; j > 0 && refCompare(list[j] as RefPath, list[j - 1] as RefPath) >= 0; j--) {
      [list[j], list[j - 1]] = [list[j - 1] as RefPath, list[j] as RefPath];
    }
  }
}

function cmpAddr(x: bigint, y: bigint): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

class RefRib {
  readonly paths = new Map<string, { prefix: Cidr; list: RefPath[] }>();
  local = new Set<string>();
  private seq = 0;
  constructor(private readonly multipath: boolean) {}

  private usable(a: PathAttrs | undefined): a is PathAttrs {
    if (!a || !a.nextHop || unpackAddr(a.nextHop).value === 0n) return false;
    if (a.asns.includes(LOCAL_ASN)) return false;
    return a.originatorId !== ROUTER_ID && !a.clusterList.includes(ROUTER_ID);
  }

  /**
   * Peers in the order they were first heard from (since their last peerDown):
   * the order a stale sweep removes paths in. Removal order can matter because
   * gobgpd re-sorts after each change and MED comparability is not transitive.
   */
  private peerOrder: string[] = [];

  /** Removes the peer's path; gobgpd re-sorts after an explicit withdraw, not after an implicit one. */
  private remove(peerKey: string, key: string, onlyStale = false, resort = true): void {
    const d = this.paths.get(key);
    if (!d) return;
    const i = d.list.findIndex((p) => p.peer.key === peerKey && (!onlyStale || p.stale));
    if (i < 0) return;
    d.list.splice(i, 1);
    if (d.list.length === 0) this.paths.delete(key);
    else if (resort) refSort(d.list);
  }

  update(peer: BmpPeer, u: BgpUpdate): void {
    if (!this.peerOrder.includes(peer.key)) this.peerOrder.push(peer.key);
    // The model keys prefixes by text, as formatCidr prints them.
    const announced = new Set(u.announced.map(formatPrefix));
    for (const n of u.withdrawn) if (!announced.has(formatPrefix(n))) this.remove(peer.key, formatPrefix(n));
    const a = u.attrs;
    if (u.announced.length > 0 && this.usable(a)) this.seq += 1;
    for (const n of u.announced) {
      const key = formatPrefix(n);
      if (!this.usable(a)) {
        this.remove(peer.key, key);
        continue;
      }
      // gobgpd keeps a path's age when the same attributes come again.
      const prev = this.paths.get(key)?.list.find((x) => x.peer.key === peer.key);
      const aa = a as PathAttrs;
      const same =
        prev !== undefined &&
        formatAddr(prev.a.nextHop as PackedAddr) === formatAddr(aa.nextHop as PackedAddr) &&
        (prev.a.localPref ?? 100) === (aa.localPref ?? 100) &&
        prev.a.asPathLen === aa.asPathLen &&
        prev.a.origin === aa.origin &&
        (prev.a.med ?? 0) === (aa.med ?? 0) &&
        prev.a.firstAs === aa.firstAs;
      const seq = same && prev ? prev.seq : this.seq;
      this.remove(peer.key, key, false, false);
      const d = this.paths.get(key) ?? { prefix: parseCidr(key), list: [] };
      this.paths.set(key, d);
      d.list.push({ peer, a, seq, stale: false });
      refSort(d.list);
    }
    if (u.endOfRib !== undefined) this.endOfRib(peer.key, u.endOfRib);
  }

  peerDown(peerKey: string): void {
    for (const key of [...this.paths.keys()]) this.remove(peerKey, key);
    this.peerOrder = this.peerOrder.filter((k) => k !== peerKey);
  }

  endOfRib(peerKey: string, family: 4 | 6): void {
    for (const [key, d] of [...this.paths]) if (d.prefix.family === family) this.remove(peerKey, key, true);
  }

  sweep(): void {
    for (const peerKey of this.peerOrder) for (const key of [...this.paths.keys()]) this.remove(peerKey, key, true);
  }

  markAllStale(): void {
    for (const d of this.paths.values()) for (const p of d.list) p.stale = true;
  }

  staleCount(): number {
    let n = 0;
    for (const d of this.paths.values()) n += d.list.filter((p) => p.stale).length;
    return n;
  }

  pathCount(peerKey: string): number {
    let n = 0;
    for (const d of this.paths.values()) n += d.list.filter((p) => p.peer.key === peerKey).length;
    return n;
  }

  /** Prefix → selected next hops as text, sorted. */
  selection(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [key, d] of this.paths) {
      if (this.local.has(key)) continue;
      const best = d.list[0] as RefPath;
      const members = this.multipath
        ? d.list.filter(
            (p) =>
              (p.peer.asn === LOCAL_ASN) === (best.peer.asn === LOCAL_ASN) &&
              (p.a.localPref ?? 100) === (best.a.localPref ?? 100) &&
              p.a.asPathLen === best.a.asPathLen &&
              p.a.origin === best.a.origin &&
              (p.a.med ?? 0) === (best.a.med ?? 0),
          )
        : [best];
      // Address order.
      const hops = [...new Set(members.map((p) => formatAddr(p.a.nextHop!)))].sort((x, y) => cmpAddr(parseIP(x).value, parseIP(y).value));
      out.set(key, hops);
    }
    return out;
  }
}

const PEERS: BmpPeer[] = [
  peer('198.18.1.1', 65001, 50),
  peer('198.18.1.2', 65002, 30),
  peer('198.18.1.4', 65001, 20),
  peer('198.18.2.1', LOCAL_ASN, 9),
  peer('198.18.2.2', LOCAL_ASN, 2),
  peer('fd00:2::3', LOCAL_ASN, 2),
];
const PREFIXES = ['10.1.0.0/24', '10.2.0.0/24', '10.3.0.0/24', 'fd10::/64', 'fd20::/64'].map(nlri);
const AS_PATHS: Array<Pick<PathAttrs, 'asPathLen' | 'firstAs' | 'asns'>> = [
  { asPathLen: 0, firstAs: 0, asns: [] },
  { asPathLen: 1, firstAs: 65001, asns: [65001] },
  { asPathLen: 1, firstAs: 65002, asns: [65002] },
  { asPathLen: 2, firstAs: 65001, asns: [65001, 65009] },
  { asPathLen: 2, firstAs: 65002, asns: [65002, 65009] },
  { asPathLen: 2, firstAs: 65001, asns: [65001, LOCAL_ASN] },
];

const arbAttrs: fc.Arbitrary<PathAttrs | undefined> = fc.option(
  fc.record({
    nextHop: fc.constantFrom(undefined, '0.0.0.0', '::', '198.18.0.1', '198.18.0.2', '198.18.0.10', 'fd00::1'),
    origin: fc.integer({ min: 0, max: 2 }),
    path: fc.constantFrom(...AS_PATHS),
    localPref: fc.constantFrom(undefined, 100, 200),
    med: fc.constantFrom(undefined, 0, 5),
    originatorId: fc.constantFrom(undefined, undefined, 7, ROUTER_ID),
    clusterList: fc.constantFrom([], [], [9], [9, ROUTER_ID]),
  }).map((r) => attrs(r.nextHop, { ...r.path, origin: r.origin, localPref: r.localPref, med: r.med, originatorId: r.originatorId, clusterList: r.clusterList })),
  { freq: 8, nil: undefined },
);

const arbSubset = fc.subarray(PREFIXES, { maxLength: 4 });
type Op =
  | { t: 'update'; peer: number; withdrawn: Nlri[]; announced: Nlri[]; attrs: PathAttrs | undefined; eor: 4 | 6 | undefined }
  | { t: 'down'; peer: number }
  | { t: 'local'; prefixes: Nlri[] }
  | { t: 'stale' }
  | { t: 'eor'; peer: number; family: 4 | 6 }
  | { t: 'sweep' };
const arbPeer = fc.integer({ min: 0, max: PEERS.length - 1 });
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      t: fc.constant('update' as const),
      peer: arbPeer,
      withdrawn: fc.subarray(PREFIXES, { maxLength: 2 }),
      announced: arbSubset,
      attrs: arbAttrs,
      eor: fc.constantFrom(undefined, undefined, undefined, 4 as const, 6 as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('down' as const), peer: arbPeer }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('local' as const), prefixes: fc.subarray(PREFIXES, { maxLength: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('stale' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('eor' as const), peer: arbPeer, family: fc.constantFrom(4 as const, 6 as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('sweep' as const) }) },
);

function snapshotText(rib: AdjRibIn): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [key, r] of rib.snapshot()) out.set(formatPrefix(key), r.nextHops.map(formatAddr));
  return out;
}

describe('AdjRibIn: property', () => {
  test.each([true, false])('selection equals a recomputation from the stored paths (multipath %s)', (multipath) => {
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 40 }), (ops) => {
        const rib = newRib(multipath);
        const ref = new RefRib(multipath);
        const replay = new Map<string, string[]>();
        for (const op of ops) {
          const before = snapshotText(rib);
          let events: LearnedEvent[];
          switch (op.t) {
            case 'update': {
              const p = PEERS[op.peer] as BmpPeer;
              const u: BgpUpdate = { withdrawn: op.withdrawn, announced: op.announced, attrs: op.attrs, endOfRib: op.eor };
              events = rib.update(p, u);
              ref.update(p, u);
              break;
            }
            case 'down':
              events = rib.peerDown((PEERS[op.peer] as BmpPeer).key);
              ref.peerDown((PEERS[op.peer] as BmpPeer).key);
              break;
            case 'local':
              events = rib.setLocal(op.prefixes);
              ref.local = new Set(op.prefixes.map(formatPrefix));
              break;
            case 'stale':
              rib.markAllStale();
              ref.markAllStale();
              events = [];
              break;
            case 'eor':
              events = rib.endOfRib((PEERS[op.peer] as BmpPeer).key, op.family);
              ref.endOfRib((PEERS[op.peer] as BmpPeer).key, op.family);
              break;
            case 'sweep':
              events = rib.sweepStale();
              ref.sweep();
              break;
          }
          const seen = new Set<string>();
          for (const e of events) {
            const key = formatPrefix(e.prefix);
            expect(seen.has(key)).toBe(false); // one event per prefix per call
            seen.add(key);
            if (e.kind === 'set') {
              const hops = e.nextHops.map(formatAddr);
              expect(e.nextHops).toEqual([...e.nextHops].sort()); // byte order, which is address order
              expect(before.get(key)).not.toEqual(hops); // only real changes
              replay.set(key, hops);
            } else {
              expect(before.has(key)).toBe(true);
              replay.delete(key);
            }
          }
          const snap = snapshotText(rib);
          expect(snap).toEqual(ref.selection());
          expect(replay).toEqual(snap);
          expect(rib.size).toBe(snap.size);
          expect(rib.staleCount).toBe(ref.staleCount());
          for (const p of PEERS) expect(rib.pathCount(p.key)).toBe(ref.pathCount(p.key));
          expect(new Map(rib.currentEvents().map((e) => [formatPrefix(e.prefix), e.kind === 'set' ? e.nextHops.map(formatAddr) : []]))).toEqual(snap);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('AdjRibIn: load', () => {
  test('one peer, 100,000 /32s in 125 UPDATEs of 800', () => {
    const updates: BgpUpdate[] = [];
    const a = attrs('198.18.1.1');
    for (let u = 0; u < 125; u++) {
      const announced: Nlri[] = [];
      for (let i = 0; i < 800; i++) {
        const n = u * 800 + i;
        announced.push(packCidr(cidr(4, BigInt((10 << 24) + n) & 0xffffffffn, 32)));
      }
      updates.push({ withdrawn: [], announced, attrs: a, endOfRib: undefined });
    }
    const rib = newRib();
    let events = 0;
    for (const u of updates) events += rib.update(E1, u).length;
    let again = 0;
    for (const u of updates) again += rib.update(E1, u).length;
    const down = rib.peerDown(E1.key).length;
    expect(events).toBe(100000);
    expect(again).toBe(0);
    expect(down).toBe(100000);
    expect(rib.size).toBe(0);
  });
});
