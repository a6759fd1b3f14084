/**
 * The per-session policy module: the ranges the daemons get must select
 * exactly the prefixes the rule's meaning selects (property), and the
 * default import policy accepts pool prefixes only.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { type BGPFilter, type BGPFilterRule, type Cidr, cidr, familyBits, formatCidr, type IPFamily, type IPPool, parseCidr } from '@terrace/api';
import {
  acceptedRanges,
  compileFilterRule,
  compilePolicy,
  decide,
  decideByRanges,
  exportLetsOut,
  importAllows,
  type PolicyRule,
  type PrefixMatch,
  rangeHolds,
  rangesOf,
  ruleMatches,
} from '../src/policy.js';

const OPS = ['Equal', 'NotEqual', 'In', 'NotIn'] as const;

/** A prefix of the family, masked; biased towards short lengths and shared leading bits so rules hit. */
function arbPrefix(family: IPFamily): fc.Arbitrary<Cidr> {
  const bits = familyBits(family);
  return fc.tuple(fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n }), fc.integer({ min: 0, max: bits }), fc.boolean()).map(([v, len, near]) => {
    // Half the prefixes start with 0b1010..., as the rules' cidrs below do.
    const value = near ? (v & ((1n << BigInt(bits - 4)) - 1n)) | (0xan << BigInt(bits - 4)) : v;
    const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
    return cidr(family, value & mask, len);
  });
}

function arbMatch(family: IPFamily): fc.Arbitrary<PrefixMatch> {
  const bits = familyBits(family);
  return fc
    .tuple(fc.option(arbPrefix(family), { nil: undefined }), fc.constantFrom(...OPS), fc.integer({ min: 0, max: bits }), fc.integer({ min: 0, max: bits }))
    .map(([c, operator, a, b]) => ({ family, ...(c ? { cidr: c, operator } : {}), min: Math.min(a, b), max: Math.max(a, b) }));
}

function pool(name: string, c: string, disabled = false): IPPool {
  return {
    apiVersion: 'terrace.dev/v1',
    kind: 'IPPool',
    metadata: { name },
    spec: {
      cidr: c, blockSize: 26, nodeSelector: 'all()', disabled, disableBGPExport: false, natOutgoing: false,
      allowedUses: ['Workload'], assignmentMode: 'Automatic', ipipMode: 'Never', vxlanMode: 'Never',
    },
  };
}

function filter(name: string, spec: BGPFilter['spec']): BGPFilter {
  return { apiVersion: 'terrace.dev/v1', kind: 'BGPFilter', metadata: { name }, spec };
}

describe('rule ranges', () => {
  for (const family of [4, 6] as const) {
    it(`select exactly what the rule means (IPv${family}, property)`, () => {
      fc.assert(
        fc.property(arbMatch(family), fc.array(arbPrefix(family), { minLength: 1, maxLength: 30 }), (m, prefixes) => {
          const ranges = rangesOf(m);
          for (const r of ranges) {
            expect(r.prefix.prefix <= r.min && r.min <= r.max && r.max <= familyBits(family)).toBe(true);
          }
          // The cidr itself and its neighbours are the interesting prefixes.
          const probes = m.cidr ? [...prefixes, m.cidr, cidr(family, m.cidr.base, Math.min(m.cidr.prefix + 1, familyBits(family)))] : prefixes;
          for (const p of probes) expect(ranges.some((r) => rangeHolds(r, p))).toBe(ruleMatches(m, p));
        }),
        { numRuns: 400 },
      );
    });
  }

  it('NotIn 10.0.0.0/8 holds the default route and 11.0.0.0/8 but not 10.1.0.0/16', () => {
    const m: PrefixMatch = { family: 4, cidr: parseCidr('10.0.0.0/8'), operator: 'NotIn', min: 0, max: 32 };
    const holds = (s: string): boolean => rangesOf(m).some((r) => rangeHolds(r, parseCidr(s)));
    expect([holds('0.0.0.0/0'), holds('11.0.0.0/8'), holds('10.1.0.0/16'), holds('10.0.0.0/8')]).toEqual([true, true, false, false]);
  });

  it('a rule that can match nothing is dropped', () => {
    expect(compileFilterRule({ action: 'Accept', matchOperator: 'Equal', cidr: '10.0.0.0/8', prefixLength: { min: 9 } }, 4)).toBeUndefined();
    expect(compileFilterRule({ action: 'Accept', interface: 'eth0' }, 4)).toBeUndefined();
    expect(compileFilterRule({ action: 'Reject', source: 'RemotePeers' }, 4)).toBeUndefined();
  });
});

describe('accept-only form of a first-match list', () => {
  const arbRules = (family: IPFamily): fc.Arbitrary<PolicyRule[]> =>
    fc
      .array(fc.tuple(fc.constantFrom('accept' as const, 'reject' as const), arbMatch(family)), { minLength: 1, maxLength: 6 })
      .map((xs) => xs.map(([action, match]) => ({ action, match, ranges: rangesOf(match) })).filter((r) => r.ranges.length > 0));
  for (const family of [4, 6] as const) {
    it(`the accept rules' ranges minus earlier rejects hold exactly what the list accepts (IPv${family}, property)`, () => {
      fc.assert(
        fc.property(arbRules(family), fc.array(arbPrefix(family), { minLength: 1, maxLength: 30 }), (rules, prefixes) => {
          const groups = acceptedRanges(rules);
          for (const g of groups) for (const r of g) expect(r.prefix.prefix <= r.min && r.min <= r.max && r.max <= familyBits(family)).toBe(true);
          const probes = [...prefixes, ...rules.flatMap((r) => (r.match.cidr ? [r.match.cidr] : []))];
          for (const p of probes) expect(groups.some((g) => g.some((r) => rangeHolds(r, p)))).toBe(decideByRanges(rules, p) === 'accept');
        }),
        { numRuns: 400 },
      );
    });
  }

  it('an export list lets out what no rule rejects first', () => {
    const rules = [
      { action: 'accept' as const, match: { family: 4 as const, cidr: parseCidr('198.19.0.0/20'), operator: 'In' as const, min: 20, max: 32 } },
      { action: 'reject' as const, match: { family: 4 as const, min: 0, max: 32 } },
    ].map((r) => ({ ...r, ranges: rangesOf(r.match) }));
    expect(['198.19.0.0/26', '198.19.64.0/26', '2001:db8::/64'].map((p) => exportLetsOut(rules, parseCidr(p)))).toEqual([true, false, true]);
  });
});

describe('compilePolicy', () => {
  const pools = [pool('a', '198.19.0.0/16'), pool('b', '2001:db8:1::/48'), pool('off', '198.18.200.0/24', true)];
  const filters = new Map([
    ['default-route', filter('default-route', { importV4: [{ action: 'Accept', matchOperator: 'Equal', cidr: '0.0.0.0/0' }], importV6: [{ action: 'Accept', matchOperator: 'Equal', cidr: '::/0' }] })],
    ['no-b', filter('no-b', { importV4: [{ action: 'Reject', matchOperator: 'In', cidr: '198.19.7.0/24' }], exportV4: [{ action: 'Reject', matchOperator: 'In', cidr: '198.19.0.0/16' }] })],
  ]);
  const allows = (names: string[], p: string): boolean =>
    importAllows(compilePolicy({ pools, filters, names, where: 'bgppeer/tor' }).policy.import, parseCidr(p));

  it('imports only prefixes inside enabled pools by default', () => {
    expect(['198.19.4.0/26', '198.19.4.7/32', '2001:db8:1::5/128', '198.19.0.0/16'].map((p) => allows([], p))).toEqual([true, true, true, true]);
    expect(['0.0.0.0/0', '::/0', '198.18.77.0/24', '198.18.200.0/26', '198.0.0.0/8', '2001:db8:2::/48'].map((p) => allows([], p))).toEqual([
      false, false, false, false, false, false,
    ]);
  });

  it('a filter accepting the default route lets it in, and nothing else', () => {
    expect(allows(['default-route'], '0.0.0.0/0')).toBe(true);
    expect(allows(['default-route'], '::/0')).toBe(true);
    expect(allows(['default-route'], '198.18.77.0/24')).toBe(false);
  });

  it('rules go first, in the order of the filters named', () => {
    expect(allows(['no-b'], '198.19.7.0/26')).toBe(false);
    expect(allows(['no-b'], '198.19.8.0/26')).toBe(true);
    const exp = compilePolicy({ pools, filters, names: ['no-b'], where: 'x' }).policy.export;
    expect(decide(exp, parseCidr('198.19.3.0/26'))).toBe('reject');
    expect(decideByRanges(exp, parseCidr('198.19.3.0/26'))).toBe('reject');
    expect(decide(exp, parseCidr('2001:db8:1::/122'))).toBeUndefined();
  });

  it('a missing filter is reported and the default policy stays', () => {
    const c = compilePolicy({ pools, filters, names: ['gone', 'default-route'], where: 'bgppeer/tor' });
    expect(c.problems).toEqual(['bgppeer/tor: bgpfilter/gone does not exist; the session uses the default policy in its place']);
    expect(importAllows(c.policy.import, parseCidr('0.0.0.0/0'))).toBe(true);
    expect(importAllows(c.policy.import, parseCidr('198.19.1.0/26'))).toBe(true);
  });

  it('whole policies agree by meaning and by ranges (property)', () => {
    const arbRule = (family: IPFamily): fc.Arbitrary<BGPFilterRule> =>
      arbMatch(family).map((m) => ({
        action: m.min % 2 === 0 ? 'Accept' : 'Reject',
        ...(m.cidr ? { cidr: formatCidr(m.cidr), matchOperator: m.operator } : {}),
        prefixLength: { min: m.min, max: m.max },
      }));
    fc.assert(
      fc.property(fc.array(arbRule(4), { maxLength: 6 }), fc.array(arbPrefix(4), { minLength: 1, maxLength: 20 }), (rules, prefixes) => {
        const fs = new Map([['f', filter('f', { importV4: rules })]]);
        const pol = compilePolicy({ pools, filters: fs, names: ['f'], where: 'x' }).policy;
        for (const p of prefixes) expect(decideByRanges(pol.import, p)).toBe(decide(pol.import, p));
      }),
      { numRuns: 200 },
    );
  });
});

