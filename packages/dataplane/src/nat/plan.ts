/**
 * natOutgoing as data: from the IP pools to the whole nftables table Terrace
 * owns, in nft's JSON schema (`nft -j`). Pure.
 *
 * One representation: the objects planned here are what the applier writes
 * (`nft -j -f -`) and what it compares with the kernel's listing
 * (`nft -j list table`), handles stripped. So what is written and what is
 * checked cannot drift apart.
 *
 * The table holds four interval sets, natOutgoing pools and all pools per
 * family, and one postrouting nat chain with a rule per family:
 *
 *   ip  saddr @nat-pools-v4 ip  daddr != @all-pools-v4 masquerade
 *   ip6 saddr @nat-pools-v6 ip6 daddr != @all-pools-v6 masquerade
 *
 * so traffic from a natOutgoing pool's pods to a destination outside every
 * pool leaves with the node's address, and pod-to-pod traffic never does.
 * A disabled pool still counts, as a source and as a destination: `disabled`
 * stops new allocations only, and pods may still hold addresses there.
 */
import { type Cidr, type IPFamily, compareCidr, familyBits, formatCidr, formatIP, ipAddr } from '@terrace/api';

/** The nftables family and name of Terrace's table; nothing else is ever read or written. */
export const NAT_TABLE_FAMILY = 'inet';
export const NAT_TABLE = 'terrace-nat';
/** The chain's priority: srcnat (100), where masquerading belongs. */
export const NAT_CHAIN_PRIORITY = 100;
const CHAIN = 'postrouting';

/** What the planner needs of a pool. */
export interface NatPool {
  cidr: Cidr;
  natOutgoing: boolean;
}

/** An element of an interval set as nft lists it: a bare address for a full-length prefix. */
export type NftElem = string | { prefix: { addr: string; len: number } };

export interface NftTable {
  table: { family: string; name: string };
}
export interface NftSet {
  set: { family: string; table: string; name: string; type: string; flags: string[]; elem?: NftElem[] };
}
export interface NftChain {
  chain: { family: string; table: string; name: string; type: string; hook: string; prio: number; policy: string };
}
export interface NftRule {
  rule: { family: string; table: string; chain: string; comment: string; expr: unknown[] };
}
export type NftObject = NftTable | NftSet | NftChain | NftRule;

/** The desired table, in the order nft lists it; undefined when no pool wants NAT (then the table is removed). */
export type NatPlan = NftObject[] | undefined;

const FAMILY_NAMES: Record<IPFamily, { proto: 'ip' | 'ip6'; type: string; suffix: string }> = {
  4: { proto: 'ip', type: 'ipv4_addr', suffix: 'v4' },
  6: { proto: 'ip6', type: 'ipv6_addr', suffix: 'v6' },
};

export function natSetName(kind: 'nat' | 'all', family: IPFamily): string {
  return `${kind}-pools-${FAMILY_NAMES[family].suffix}`;
}

function elem(c: Cidr): NftElem {
  return c.prefix === familyBits(c.family) ? formatIP(ipAddr(c.family, c.base)) : { prefix: { addr: formatIP(ipAddr(c.family, c.base)), len: c.prefix } };
}

function set(name: string, family: IPFamily, cidrs: readonly Cidr[]): NftSet {
  const s: NftSet['set'] = { family: NAT_TABLE_FAMILY, table: NAT_TABLE, name, type: FAMILY_NAMES[family].type, flags: ['interval'] };
  // nft lists an empty set without `elem`.
  if (cidrs.length > 0) s.elem = [...cidrs].sort(compareCidr).map(elem);
  return { set: s };
}

function masqueradeRule(family: IPFamily): NftRule {
  const { proto, suffix } = FAMILY_NAMES[family];
  const match = (op: '==' | '!=', field: 'saddr' | 'daddr', setName: string): unknown => ({
    match: { op, left: { payload: { protocol: proto, field } }, right: `@${setName}` },
  });
  return {
    rule: {
      family: NAT_TABLE_FAMILY,
      table: NAT_TABLE,
      chain: CHAIN,
      comment: `natOutgoing ${suffix}: pods of natOutgoing pools to outside every pool`,
      expr: [match('==', 'saddr', natSetName('nat', family)), match('!=', 'daddr', natSetName('all', family)), { masquerade: null }],
    },
  };
}

/**
 * The table for these pools. Pools that overlap each other are refused by
 * validation before they are stored; a duplicate CIDR here is dropped so the
 * set stays valid for nft (an interval set refuses overlapping elements).
 */
export function planNat(pools: readonly NatPool[]): NatPlan {
  if (!pools.some((p) => p.natOutgoing)) return undefined;
  const unique = (cs: Cidr[]): Cidr[] => [...new Map(cs.map((c) => [formatCidr(c), c])).values()];
  const out: NftObject[] = [{ table: { family: NAT_TABLE_FAMILY, name: NAT_TABLE } }];
  const families: IPFamily[] = [4, 6];
  for (const f of families) {
    const of = pools.filter((p) => p.cidr.family === f);
    out.push(set(natSetName('nat', f), f, unique(of.filter((p) => p.natOutgoing).map((p) => p.cidr))));
    out.push(set(natSetName('all', f), f, unique(of.map((p) => p.cidr))));
  }
  out.push({
    chain: { family: NAT_TABLE_FAMILY, table: NAT_TABLE, name: CHAIN, type: 'nat', hook: 'postrouting', prio: NAT_CHAIN_PRIORITY, policy: 'accept' },
  });
  for (const f of families) out.push(masqueradeRule(f));
  return out;
}

/**
 * The one transaction that makes the kernel's table equal `plan`: `add` then
 * `delete` removes whatever is there (also a table someone altered beyond a
 * flush, e.g. a set's type), then the plan is added. nft applies the batch
 * atomically: packets see the old table or the new one, never none.
 */
export function natTransaction(plan: NatPlan): { nftables: unknown[] } {
  const table = { table: { family: NAT_TABLE_FAMILY, name: NAT_TABLE } };
  const cmds: unknown[] = [{ add: table }, { delete: table }];
  for (const o of plan ?? []) cmds.push({ add: o });
  return { nftables: cmds };
}

/** A short summary for logs: `nat 198.19.0.0/24; pools 198.19.0.0/24 198.19.1.0/24`. */
export function describeNatPools(pools: readonly NatPool[]): string {
  const list = (ps: readonly NatPool[]): string => ps.map((p) => formatCidr(p.cidr)).sort().join(' ') || '-';
  return `nat ${list(pools.filter((p) => p.natOutgoing))}; pools ${list(pools)}`;
}
