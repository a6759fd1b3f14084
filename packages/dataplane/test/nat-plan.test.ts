// natOutgoing's planner (src/nat/plan.ts). The property tests read the
// planned table the way the kernel does: they interpret its rules (payload
// matches against the named interval sets, then masquerade) for a packet,
// so they check what the applier writes, not a restatement of the rule.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { type Cidr, type IPAddr, cidr, cidrContainsIP, familyBits, formatCidr, ipAddr, parseCidr, parseIP } from '@terrace/api';
import { NAT_TABLE, natTransaction, planNat, type NatPool, type NftObject } from '../src/nat/plan.js';

const c = parseCidr;

/** Does the planned table masquerade a packet from `src` to `dst`? */
function masquerades(plan: NftObject[] | undefined, src: IPAddr, dst: IPAddr): boolean {
  if (!plan) return false;
  const sets = new Map<string, Cidr[]>();
  for (const o of plan) {
    if (!('set' in o)) continue;
    const fam = o.set.type === 'ipv4_addr' ? 4 : 6;
    const elems = (o.set.elem ?? []).map((e) => (typeof e === 'string' ? cidr(fam, parseIP(e).value, familyBits(fam)) : c(`${e.prefix.addr}/${e.prefix.len}`)));
    sets.set(o.set.name, elems);
  }
  const chains = plan.filter((o): o is Extract<NftObject, { chain: unknown }> => 'chain' in o);
  expect(chains.map((x) => [x.chain.type, x.chain.hook, x.chain.policy])).toEqual([['nat', 'postrouting', 'accept']]);
  for (const o of plan) {
    if (!('rule' in o)) continue;
    let all = true;
    let verdict = false;
    for (const e of o.rule.expr as Record<string, unknown>[]) {
      if ('masquerade' in e) verdict = true;
      else if ('match' in e) {
        const m = e['match'] as { op: string; left: { payload: { protocol: string; field: string } }; right: string };
        const fam = m.left.payload.protocol === 'ip' ? 4 : 6;
        const addr = m.left.payload.field === 'saddr' ? src : dst;
        if (addr.family !== fam) {
          all = false; // a payload match on the other family never matches
          continue;
        }
        const inSet = (sets.get(m.right.slice(1)) ?? []).some((s) => cidrContainsIP(s, addr));
        if ((m.op === '==') !== inSet) all = false;
      } else throw new Error(`unexpected expression ${JSON.stringify(e)}`);
    }
    if (all && verdict) return true;
  }
  return false;
}

describe('planNat', () => {
  it('plans no table when no pool has natOutgoing', () => {
    expect(planNat([])).toBeUndefined();
    expect(planNat([{ cidr: c('198.19.0.0/24'), natOutgoing: false }])).toBeUndefined();
  });

  it('lists nat pools and all pools per family, sorted, a full-length prefix as a bare address', () => {
    const plan = planNat([
      { cidr: c('198.19.9.0/24'), natOutgoing: false },
      { cidr: c('198.19.1.0/24'), natOutgoing: true },
      { cidr: c('198.19.5.5/32'), natOutgoing: true },
      { cidr: c('2001:db8:7::/64'), natOutgoing: false },
    ]);
    const sets = Object.fromEntries((plan ?? []).flatMap((o) => ('set' in o ? [[o.set.name, o.set.elem ?? []]] : [])));
    expect(sets).toEqual({
      'nat-pools-v4': [{ prefix: { addr: '198.19.1.0', len: 24 } }, '198.19.5.5'],
      'all-pools-v4': [{ prefix: { addr: '198.19.1.0', len: 24 } }, '198.19.5.5', { prefix: { addr: '198.19.9.0', len: 24 } }],
      'nat-pools-v6': [],
      'all-pools-v6': [{ prefix: { addr: '2001:db8:7::', len: 64 } }],
    });
  });

  it('replaces the whole table in one batch that first makes sure it exists', () => {
    const plan = planNat([{ cidr: c('198.19.1.0/24'), natOutgoing: true }]);
    const cmds = natTransaction(plan).nftables as Record<string, { table?: { name: string } }>[];
    expect(Object.keys(cmds[0] ?? {})).toEqual(['add']);
    expect(Object.keys(cmds[1] ?? {})).toEqual(['delete']);
    expect(cmds[1]?.['delete']?.table?.name).toBe(NAT_TABLE);
    expect(cmds.slice(2).map((x) => Object.keys(x)[0])).toEqual(plan?.map(() => 'add'));
  });

  it('masquerades pool to outside only for natOutgoing pools, both families', () => {
    const pools: NatPool[] = [
      { cidr: c('198.19.1.0/24'), natOutgoing: true },
      { cidr: c('198.19.2.0/24'), natOutgoing: false },
      { cidr: c('2001:db8:1::/64'), natOutgoing: true },
    ];
    const plan = planNat(pools);
    const ip = parseIP;
    expect(masquerades(plan, ip('198.19.1.5'), ip('198.18.200.1'))).toBe(true);
    expect(masquerades(plan, ip('198.19.2.5'), ip('198.18.200.1'))).toBe(false);
    expect(masquerades(plan, ip('198.19.1.5'), ip('198.19.2.9'))).toBe(false);
    expect(masquerades(plan, ip('2001:db8:1::5'), ip('2001:db8:200::1'))).toBe(true);
    expect(masquerades(plan, ip('2001:db8:1::5'), ip('2001:db8:1::9'))).toBe(false);
  });

});

// Pools that never overlap: each sits at the base of its own /20 (v4) or /48 (v6) slot.
const poolArb: fc.Arbitrary<NatPool[]> = fc
  .uniqueArray(fc.record({ family: fc.constantFrom<4 | 6>(4, 6), slot: fc.integer({ min: 0, max: 31 }), extra: fc.integer({ min: 0, max: 12 }), nat: fc.boolean() }), {
    selector: (p) => `${p.family}/${p.slot}`,
    maxLength: 8,
  })
  .map((ps) =>
    ps.map((p) => {
      const base = p.family === 4 ? c('198.18.0.0/15').base + (BigInt(p.slot) << 12n) : c('2001:db8::/32').base + (BigInt(p.slot) << 80n);
      const prefix = p.family === 4 ? 20 + p.extra : 48 + p.extra * 6;
      return { cidr: cidr(p.family, base, prefix), natOutgoing: p.nat };
    }),
  );

/** An address inside one of the pools (by index and offset) or anywhere in the lab ranges. */
function pick(pools: NatPool[], which: number, offset: bigint, fam: 4 | 6): IPAddr {
  const p = pools[which];
  if (p && p.cidr.family === fam) {
    const size = 1n << BigInt(familyBits(fam) - p.cidr.prefix);
    return ipAddr(fam, p.cidr.base + (offset % size));
  }
  const range = fam === 4 ? c('198.18.0.0/15') : c('2001:db8::/32');
  return ipAddr(fam, range.base + (offset % (1n << BigInt(familyBits(fam) - range.prefix))));
}

describe('planNat properties', () => {
  const packet = fc.record({ fam: fc.constantFrom<4 | 6>(4, 6), s: fc.nat(9), d: fc.nat(9), so: fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }), dO: fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }) });

  it('masquerades exactly pool-of-natOutgoing → outside every pool; pod to pod never', () => {
    fc.assert(
      fc.property(poolArb, packet, (pools, k) => {
        const plan = planNat(pools);
        const src = pick(pools, k.s, k.so, k.fam);
        const dst = pick(pools, k.d, k.dO, k.fam);
        const srcPool = pools.find((p) => cidrContainsIP(p.cidr, src));
        const dstInPool = pools.some((p) => cidrContainsIP(p.cidr, dst));
        const want = srcPool?.natOutgoing === true && !dstInPool;
        if (masquerades(plan, src, dst) !== want) {
          throw new Error(`${JSON.stringify(pools.map((p) => [formatCidr(p.cidr), p.natOutgoing]))}: ${JSON.stringify([src, dst].map(String))}`);
        }
        if (dstInPool) expect(masquerades(plan, src, dst)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
