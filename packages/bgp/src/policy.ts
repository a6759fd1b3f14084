/**
 * Per-session route policy: which prefixes a session may import and export.
 * One pure module turns the pools and a peer's BGPFilters into an ordered
 * rule list per family and direction (first matching rule wins), and holds
 * the two ways of reading a rule:
 *
 * - `ruleMatches`: the rule's own meaning (Calico's: the cidr compared with
 *   the route's prefix by the match operator, and the length within bounds).
 *   The GoBGP backend's Adj-RIB-In filters learned paths with it.
 * - `rule.ranges`: the same set of prefixes as a union of `prefix{min,max}`
 *   ranges, the only form both daemons take (a GoBGP prefix set, a BIRD
 *   prefix pattern). NotIn and NotEqual have no such form directly: their
 *   complement of the cidr is spelled out as the cidr's siblings at every
 *   level above it plus its ancestors, at most 2 × 128 + 1 ranges.
 *
 * The default import policy follows the rules: accept a prefix inside an
 * enabled pool (any length up to /32 or /128), reject the rest; so a router
 * that sends a default route or its whole table cannot fill the node's
 * routing table unless a filter says so. The export default stays what it
 * was without filters: the node announces what it originates.
 */
import {
  type BGPFilter,
  type BGPFilterMatchOperator,
  type BGPFilterRule,
  type Cidr,
  cidr as makeCidr,
  cidrContainsCidr,
  familyBits,
  formatCidr,
  type IPFamily,
  type IPPool,
  parseCidr,
} from '@terrace/api';

export type PolicyAction = 'accept' | 'reject';

/** Prefixes inside `prefix` whose length is within [min, max]; always prefix.prefix ≤ min ≤ max ≤ family bits. */
export interface PrefixRange {
  prefix: Cidr;
  min: number;
  max: number;
}

/** What a rule compares (absent cidr: any prefix of the family). */
export interface PrefixMatch {
  family: IPFamily;
  cidr?: Cidr;
  operator?: BGPFilterMatchOperator;
  min: number;
  max: number;
}

export interface PolicyRule {
  action: PolicyAction;
  match: PrefixMatch;
  /** The same prefixes as `match`, as ranges; never empty (a rule that can match nothing is dropped). */
  ranges: readonly PrefixRange[];
}

/**
 * A session's policy. Import: the rules, then reject. Export: the rules
 * apply to what the node originates; what no rule decides is announced as
 * without a policy.
 */
export interface PeerPolicy {
  import: readonly PolicyRule[];
  export: readonly PolicyRule[];
  /**
   * Learned routes this session is sent besides what we originate, with our
   * session address as next hop: the best paths (learned over iBGP or eBGP)
   * the first matching rule accepts. Absent or empty: none (a node is no
   * transit). A multi-cluster gateway passes remote pods' blocks to its own
   * cluster and its own cluster's blocks to the remote gateways.
   */
  pass?: readonly PolicyRule[];
}

const FAMILIES = [4, 6] as const;

function contains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && cidrContainsCidr(outer, inner);
}

/** The rule's meaning, read directly from its fields. */
export function ruleMatches(m: PrefixMatch, p: Cidr): boolean {
  if (p.family !== m.family || p.prefix < m.min || p.prefix > m.max) return false;
  if (m.cidr === undefined) return true;
  const inside = contains(m.cidr, p);
  const equal = inside && p.prefix === m.cidr.prefix;
  switch (m.operator) {
    case 'Equal':
      return equal;
    case 'NotEqual':
      return !equal;
    case 'In':
      return inside;
    case 'NotIn':
      return !inside;
    default:
      return false;
  }
}

/** Whether a range holds the prefix. */
export function rangeHolds(r: PrefixRange, p: Cidr): boolean {
  return p.prefix >= r.min && p.prefix <= r.max && contains(r.prefix, p);
}

/** First matching rule's action, by its ranges (what the daemons do), or undefined. */
export function decideByRanges(rules: readonly PolicyRule[], p: Cidr): PolicyAction | undefined {
  for (const r of rules) if (r.ranges.some((x) => rangeHolds(x, p))) return r.action;
  return undefined;
}

/** First matching rule's action, by the rules' meaning, or undefined. */
export function decide(rules: readonly PolicyRule[], p: Cidr): PolicyAction | undefined {
  for (const r of rules) if (ruleMatches(r.match, p)) return r.action;
  return undefined;
}

/** Whether an export policy lets a prefix we originate out: no rule rejects it first (by its ranges, as the daemons decide). */
export function exportLetsOut(rules: readonly PolicyRule[], p: Cidr): boolean {
  return decideByRanges(rules, p) !== 'reject';
}

/** Whether an import policy lets the prefix in: a rule accepts it, or none decides and it is rejected. */
export function importAllows(rules: readonly PolicyRule[], p: Cidr): boolean {
  return decide(rules, p) === 'accept';
}

function clip(prefix: Cidr, min: number, max: number, out: PrefixRange[]): void {
  const lo = Math.max(min, prefix.prefix);
  if (lo <= max) out.push({ prefix, min: lo, max });
}

/** The prefix of length `len` that contains `c` (len ≤ c.prefix). */
function ancestor(c: Cidr, len: number): Cidr {
  const bits = familyBits(c.family);
  const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
  return makeCidr(c.family, c.base & mask, len);
}

/** The sibling of `c`'s ancestor at `len` (flip bit len-1): disjoint from `c`, together they make the parent. */
function sibling(c: Cidr, len: number): Cidr {
  const bits = familyBits(c.family);
  const a = ancestor(c, len);
  return makeCidr(c.family, a.base ^ (1n << BigInt(bits - len)), len);
}

/** `m` as ranges. */
export function rangesOf(m: PrefixMatch): PrefixRange[] {
  const bits = familyBits(m.family);
  const all = makeCidr(m.family, 0n, 0);
  const out: PrefixRange[] = [];
  const c = m.cidr;
  if (c === undefined) {
    clip(all, m.min, m.max, out);
    return out;
  }
  const l = c.prefix;
  const within = (len: number): boolean => len >= m.min && len <= m.max;
  switch (m.operator) {
    case 'Equal':
      if (within(l)) out.push({ prefix: c, min: l, max: l });
      return out;
    case 'In':
      clip(c, m.min, m.max, out);
      return out;
    case 'NotIn':
    case 'NotEqual':
      // Not inside c: the siblings at every level down to c, with anything
      // below them, and c's strict ancestors themselves.
      for (let len = 0; len < l; len++) if (within(len)) out.push({ prefix: ancestor(c, len), min: len, max: len });
      for (let len = 1; len <= l; len++) clip(sibling(c, len), m.min, m.max, out);
      // NotEqual also holds what lies strictly inside c.
      if (m.operator === 'NotEqual' && l < bits) clip(c, Math.max(m.min, l + 1), m.max, out);
      return out;
    default:
      return out;
  }
}

function ruleOf(action: PolicyAction, match: PrefixMatch): PolicyRule | undefined {
  const ranges = rangesOf(match);
  return ranges.length === 0 ? undefined : { action, match, ranges };
}

/**
 * A BGPFilter rule as a policy rule of `family`, or undefined when Terrace
 * can never match it: `interface` (our announcements are blocks and
 * addresses, not routes of an interface) and `source: RemotePeers` (export
 * rules apply to what the node originates; the only learned routes it passes
 * on are a route reflector's, which pass unfiltered) select nothing.
 */
export function compileFilterRule(r: BGPFilterRule, family: IPFamily): PolicyRule | undefined {
  if (r.interface !== undefined || r.source !== undefined) return undefined;
  const bits = familyBits(family);
  const match: PrefixMatch = { family, min: r.prefixLength?.min ?? 0, max: r.prefixLength?.max ?? bits };
  if (r.cidr !== undefined) {
    const c = parseCidr(r.cidr);
    if (c.family !== family) return undefined;
    match.cidr = c;
    match.operator = r.matchOperator ?? 'Equal';
  }
  return ruleOf(r.action === 'Accept' ? 'accept' : 'reject', match);
}

export interface PolicyInputs {
  /** Every IPPool; the enabled ones make the default import policy. */
  pools: readonly IPPool[];
  /** Every BGPFilter, by name. */
  filters: ReadonlyMap<string, BGPFilter>;
  /** The filter names the session's BGPPeer lists, in order (none for mesh sessions). */
  names: readonly string[];
  /** Names the resource the filters came from, for problems (`bgppeer/tor`). */
  where: string;
}

export interface CompiledPolicy {
  policy: PeerPolicy;
  /** One line per filter that is named but missing (its rules are then left out). */
  problems: string[];
}

/** The pools' part of the import policy: accept anything inside an enabled pool. */
export function poolRules(pools: readonly IPPool[]): PolicyRule[] {
  const out: PolicyRule[] = [];
  for (const p of [...pools].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    if (p.spec.disabled) continue;
    const c = parseCidr(p.spec.cidr);
    const r = ruleOf('accept', { family: c.family, cidr: c, operator: 'In', min: c.prefix, max: familyBits(c.family) });
    if (r) out.push(r);
  }
  return out;
}

/** A session's whole policy: its filters' rules in order, then the defaults. */
export function compilePolicy(inp: PolicyInputs): CompiledPolicy {
  const problems: string[] = [];
  const imports: PolicyRule[] = [];
  const exports: PolicyRule[] = [];
  for (const name of inp.names) {
    const f = inp.filters.get(name);
    if (!f) {
      problems.push(`${inp.where}: bgpfilter/${name} does not exist; the session uses the default policy in its place`);
      continue;
    }
    for (const family of FAMILIES) {
      const spec = f.spec;
      for (const r of (family === 4 ? spec.importV4 : spec.importV6) ?? []) {
        const c = compileFilterRule(r, family);
        if (c) imports.push(c);
      }
      for (const r of (family === 4 ? spec.exportV4 : spec.exportV6) ?? []) {
        const c = compileFilterRule(r, family);
        if (c) exports.push(c);
      }
    }
  }
  return { policy: { import: [...imports, ...poolRules(inp.pools)], export: exports }, problems };
}

/** The prefixes of `r` that `q` does not hold, as ranges (same family). */
function subtractRange(r: PrefixRange, q: PrefixRange): PrefixRange[] {
  const p = r.prefix;
  const c = q.prefix;
  if (p.family !== c.family || !(cidrContainsCidr(p, c) || cidrContainsCidr(c, p))) return [r];
  const out: PrefixRange[] = [];
  if (c.prefix <= p.prefix) {
    // Everything in r lies inside q's prefix: only the lengths q does not hold are left.
    clip(p, r.min, Math.min(r.max, q.min - 1), out);
    clip(p, Math.max(r.min, q.max + 1), r.max, out);
    return out;
  }
  // q's prefix lies strictly inside r's: what is beside it (the siblings on the way down) and its
  // ancestors are left whole; inside it, the lengths q does not hold.
  for (let len = p.prefix + 1; len <= c.prefix; len++) clip(sibling(c, len), Math.max(r.min, len), r.max, out);
  for (let len = Math.max(r.min, p.prefix); len <= Math.min(r.max, c.prefix - 1); len++) out.push({ prefix: ancestor(c, len), min: len, max: len });
  clip(c, r.min, Math.min(r.max, q.min - 1), out);
  clip(c, Math.max(r.min, q.max + 1), r.max, out);
  return out;
}

/** The prefixes `from` holds and `minus` does not, as ranges. */
export function subtractRanges(from: readonly PrefixRange[], minus: readonly PrefixRange[]): PrefixRange[] {
  let out = [...from];
  for (const q of minus) out = out.flatMap((r) => subtractRange(r, q));
  return out;
}

/**
 * What each accept rule of a first-match list accepts, as ranges: its own
 * minus those of the reject rules before it (an earlier accept takes
 * nothing away: it accepts too). Their union is exactly what the list
 * accepts, so a daemon can be given accept statements only, in any order,
 * and whatever matches none falls through to what follows (gobgpd's
 * statements have one prefix-set condition, no "and not in").
 */
export function acceptedRanges(rules: readonly PolicyRule[]): PrefixRange[][] {
  const out: PrefixRange[][] = [];
  const rejected: PrefixRange[] = [];
  for (const r of rules) {
    if (r.action === 'reject') {
      rejected.push(...r.ranges);
      continue;
    }
    out.push(subtractRanges(r.ranges, rejected));
  }
  return out;
}

/** `10.0.0.0/8{8,32}`: how a range reads in logs and in BIRD's prefix patterns. */
export function formatRange(r: PrefixRange): string {
  return `${formatCidr(r.prefix)}{${r.min},${r.max}}`;
}

/** A rule for every prefix inside `c` (any length up to /32 or /128). */
export function insideRule(action: PolicyAction, c: Cidr): PolicyRule {
  const match: PrefixMatch = { family: c.family, cidr: c, operator: 'In', min: c.prefix, max: familyBits(c.family) };
  return { action, match, ranges: rangesOf(match) };
}

/** A rule for exactly the prefix `c`. */
export function exactRule(action: PolicyAction, c: Cidr): PolicyRule {
  const match: PrefixMatch = { family: c.family, cidr: c, operator: 'Equal', min: c.prefix, max: c.prefix };
  return { action, match, ranges: rangesOf(match) };
}

/** A rule for every prefix of the family. */
export function anyRule(action: PolicyAction, family: IPFamily): PolicyRule {
  const match: PrefixMatch = { family, min: 0, max: familyBits(family) };
  return { action, match, ranges: rangesOf(match) };
}

/** What a session is sent besides its own routes, as text (empty when nothing). */
export function passText(policy: PeerPolicy | undefined): string {
  const pass = policy?.pass ?? [];
  return pass.length === 0 ? '' : ` pass ${rulesText(pass)}`;
}

/** Rules as one line of text: logs, and telling whether a session's rules changed. */
export function rulesText(rules: readonly PolicyRule[]): string {
  return rules.map((r) => `${r.action} ${r.ranges.map(formatRange).join(' ')}`).join('; ');
}
