/**
 * The O(n log n) overlap finders against the definition: a brute-force
 * pairwise check written here, on random small sets of IPv4 and IPv6 CIDRs
 * and addresses crowded into a small space so that overlaps are common.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  type Cidr,
  type IPAddr,
  type IPFamily,
  type IPPool,
  type TerraceNode,
  AddressIndex,
  cidr,
  cidrContainsIP,
  cidrsOverlap,
  firstJudgedPoolOverlap,
  firstOverlap,
  firstPoolHoldingNode,
  firstPoolOverlap,
  formatCidr,
  formatIP,
  ipAddr,
  lowestOverlapping,
  parseCidr,
  validateResource,
} from '../src/index.js';

/** A CIDR whose network lies in the first 2^12 addresses of a family-wide base, so random ones collide often. */
const BASES: Record<IPFamily, bigint> = { 4: 0x0a000000n, 6: 0xfd00n << 112n };
const bits = (f: IPFamily): number => (f === 4 ? 32 : 128);

const arbCidr = (families: IPFamily[]): fc.Arbitrary<Cidr> =>
  fc
    .record({ family: fc.constantFrom(...families), offset: fc.integer({ min: 0, max: 4095 }), size: fc.integer({ min: 0, max: 10 }) })
    .map(({ family, offset, size }) => {
      const hostBits = BigInt(size);
      const base = BASES[family] + ((BigInt(offset) >> hostBits) << hostBits);
      return cidr(family, base, bits(family) - size);
    });

const arbAddr = (families: IPFamily[]): fc.Arbitrary<IPAddr> =>
  fc.record({ family: fc.constantFrom(...families), offset: fc.integer({ min: 0, max: 4095 }) }).map(({ family, offset }) => ipAddr(family, BASES[family] + BigInt(offset)));

/** The oracle: each CIDR against every earlier one. */
function bruteFirstOverlap(cidrs: readonly Cidr[]): { later: number; earlier: number } | undefined {
  for (let i = 0; i < cidrs.length; i++) {
    for (let j = 0; j < i; j++) if (cidrsOverlap(cidrs[i] as Cidr, cidrs[j] as Cidr)) return { later: i, earlier: j };
  }
  return undefined;
}

const FAMILIES: Array<[string, IPFamily[]]> = [
  ['IPv4', [4]],
  ['IPv6', [6]],
  ['both families', [4, 6]],
];

describe('firstOverlap agrees with the pairwise check', () => {
  it.each(FAMILIES)('%s', (_name, families) => {
    fc.assert(
      fc.property(fc.array(arbCidr(families), { maxLength: 24 }), (cidrs) => {
        expect(firstOverlap(cidrs)).toEqual(bruteFirstOverlap(cidrs));
      }),
      { numRuns: 500 },
    );
  });

  it.each(FAMILIES)('lowestOverlapping gives each CIDR its lowest overlapping other (%s)', (_name, families) => {
    fc.assert(
      fc.property(fc.array(arbCidr(families), { maxLength: 24 }), (cidrs) => {
        const want = cidrs.map((c, i) => {
          const j = cidrs.findIndex((o, k) => k !== i && cidrsOverlap(c, o));
          return j < 0 ? Infinity : j;
        });
        expect(lowestOverlapping(cidrs)).toEqual(want);
      }),
      { numRuns: 500 },
    );
  });

  it('handles identical CIDRs, nesting, and the same numbers in two families', () => {
    const c = (s: string): Cidr => parseCidr(s);
    expect(firstOverlap([c('10.0.0.0/24'), c('10.0.0.0/24')])).toEqual({ later: 1, earlier: 0 });
    expect(firstOverlap([c('10.0.1.0/24'), c('10.0.0.0/16'), c('10.0.2.0/24')])).toEqual({ later: 1, earlier: 0 });
    expect(firstOverlap([c('10.0.0.0/16'), c('10.1.0.0/16'), c('10.0.5.0/24')])).toEqual({ later: 2, earlier: 0 });
    // ::a00:0/120 has the same number as 10.0.0.0 but is another family.
    expect(firstOverlap([c('10.0.0.0/24'), c('::a00:0/120')])).toBeUndefined();
    expect(firstOverlap([])).toBeUndefined();
  });
});

describe('AddressIndex agrees with a scan', () => {
  it.each(FAMILIES)('%s', (_name, families) => {
    fc.assert(
      fc.property(fc.array(arbAddr(families), { maxLength: 24 }), arbCidr(families), (ips, c) => {
        const inside = ips.map((ip, i) => ({ ip, i })).filter(({ ip }) => cidrContainsIP(c, ip));
        inside.sort((a, b) => (a.ip.value < b.ip.value ? -1 : a.ip.value > b.ip.value ? 1 : a.i - b.i));
        expect(new AddressIndex(ips).firstIn(c)).toBe(inside[0]?.i ?? -1);
      }),
      { numRuns: 500 },
    );
  });
});

const pool = (name: string, c: Cidr): IPPool =>
  validateResource({ apiVersion: 'terrace.dev/v1', kind: 'IPPool', metadata: { name }, spec: { cidr: formatCidr(c), blockSize: c.family === 4 ? 32 : 128 } }) as IPPool;
const node = (name: string, ip: IPAddr): TerraceNode =>
  validateResource({
    apiVersion: 'terrace.dev/v1',
    kind: 'Node',
    metadata: { name },
    spec: { bgp: ip.family === 4 ? { ipv4Address: `${formatIP(ip)}/24` } : { ipv6Address: `${formatIP(ip)}/64` } },
  }) as TerraceNode;

describe('pool rules over many pools', () => {
  it('firstPoolOverlap names the pool and the earlier pool it overlaps', () => {
    fc.assert(
      fc.property(fc.array(arbCidr([4, 6]), { maxLength: 16 }), (cidrs) => {
        const pools = cidrs.map((c, i) => pool(`p${i}`, c));
        const want = bruteFirstOverlap(cidrs);
        const got = firstPoolOverlap(pools);
        expect(got && [got.pool.metadata.name, got.other.metadata.name]).toEqual(want && [`p${want.later}`, `p${want.earlier}`]);
      }),
      { numRuns: 200 },
    );
  });

  it('firstJudgedPoolOverlap judges the given pools, in the given order, against all', () => {
    fc.assert(
      fc.property(fc.array(arbCidr([4, 6]), { minLength: 1, maxLength: 16 }), fc.array(fc.nat(15), { maxLength: 6 }), (cidrs, picks) => {
        const pools = cidrs.map((c, i) => pool(`p${i}`, c));
        const judged = picks.map((k) => k % cidrs.length);
        let want: [string, string] | undefined;
        for (const i of judged) {
          const j = cidrs.findIndex((o, k) => k !== i && cidrsOverlap(cidrs[i] as Cidr, o));
          if (j >= 0) {
            want = [`p${i}`, `p${j}`];
            break;
          }
        }
        const got = firstJudgedPoolOverlap(pools, judged);
        expect(got && [got.pool.metadata.name, got.other.metadata.name]).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });

  it('firstPoolHoldingNode finds the first pool holding a node address', () => {
    fc.assert(
      fc.property(fc.array(arbCidr([4, 6]), { maxLength: 12 }), fc.array(arbAddr([4, 6]), { maxLength: 12 }), (cidrs, ips) => {
        const pools = cidrs.map((c, i) => pool(`p${i}`, c));
        const nodes = ips.map((ip, i) => node(`n${i}`, ip));
        const i = cidrs.findIndex((c) => ips.some((ip) => cidrContainsIP(c, ip)));
        const got = firstPoolHoldingNode(pools, nodes);
        expect(got?.pool.metadata.name).toBe(i < 0 ? undefined : `p${i}`);
        if (got) expect(cidrContainsIP(cidrs[i] as Cidr, got.addr.ip)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
