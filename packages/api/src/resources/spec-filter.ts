/**
 * BGPFilter (Calico's kind, accepted unchanged): ordered import and export
 * rules per family that BGPPeers name in `spec.filters`. Each rule is checked
 * on its own so that a rule which could never match is an error, not a
 * silent no-op: a cidr of the other family, a length range outside the
 * family, or a range that excludes every prefix the operator admits.
 */
import { quote } from '../errors.js';
import { familyBits, type IPFamily, parseCidr } from '../net/ip.js';
import type { Fields } from './fields.js';
import {
  BGP_FILTER_ACTIONS,
  BGP_FILTER_OPERATORS,
  type BGPFilterAction,
  type BGPFilterMatchOperator,
  type BGPFilterRule,
  type BGPFilterSpec,
} from './types.js';
import { readCidr } from './values.js';

export const BGPFILTER_FIELDS = ['exportV4', 'importV4', 'exportV6', 'importV6'] as const;
const RULE_FIELDS = ['action', 'matchOperator', 'cidr', 'prefixLength', 'source', 'interface'] as const;

/** The rule lists by field, with their direction and family. */
export const BGPFILTER_LISTS: readonly { key: (typeof BGPFILTER_FIELDS)[number]; direction: 'import' | 'export'; family: IPFamily }[] = [
  { key: 'exportV4', direction: 'export', family: 4 },
  { key: 'importV4', direction: 'import', family: 4 },
  { key: 'exportV6', direction: 'export', family: 6 },
  { key: 'importV6', direction: 'import', family: 6 },
];

function readRule(r: Fields, direction: 'import' | 'export', family: IPFamily): BGPFilterRule {
  const bits = familyBits(family);
  const action = r.oneOf<BGPFilterAction>('action', BGP_FILTER_ACTIONS);
  if (action === undefined) return r.fail('action', `is required (${BGP_FILTER_ACTIONS.join(' or ')})`);
  const out: BGPFilterRule = { action };
  const op = r.oneOf<BGPFilterMatchOperator>('matchOperator', BGP_FILTER_OPERATORS);
  let cidrLen: number | undefined;
  if (r.has('cidr')) {
    const cidr = readCidr(r, 'cidr');
    const c = parseCidr(cidr);
    if (c.family !== family) r.fail('cidr', `${cidr} is IPv${c.family} but this is an IPv${family} rule list`);
    if (op === undefined) r.fail('matchOperator', `is required with spec.cidr (${BGP_FILTER_OPERATORS.join(', ')})`);
    out.matchOperator = op;
    out.cidr = cidr;
    cidrLen = c.prefix;
  } else if (op !== undefined) {
    r.fail('matchOperator', 'needs a cidr to compare with');
  }
  const pl: Fields | undefined = r.object('prefixLength', ['min', 'max']);
  if (pl) {
    const min = pl.int('min', 0, bits);
    const max = pl.int('max', 0, bits);
    if (min !== undefined && max !== undefined && min > max) pl.fail('min', `${min} is greater than max ${max}`);
    // Equal and In only match prefixes of at least the cidr's length.
    if (cidrLen !== undefined && (op === 'Equal' || op === 'In')) {
      if (max !== undefined && max < cidrLen) pl.fail('max', `${max} is shorter than the cidr's /${cidrLen}: the rule could never match`);
      if (op === 'Equal' && min !== undefined && min > cidrLen) pl.fail('min', `${min} is longer than the cidr's /${cidrLen}: the rule could never match`);
    }
    const range: { min?: number; max?: number } = {};
    if (min !== undefined) range.min = min;
    if (max !== undefined) range.max = max;
    out.prefixLength = range;
  }
  const source = r.oneOf('source', ['RemotePeers'] as const);
  if (source !== undefined) {
    if (direction === 'import') r.fail('source', 'is only valid on export rules');
    out.source = source;
  }
  const iface = r.string('interface');
  if (iface !== undefined) {
    if (direction === 'import') r.fail('interface', 'is only valid on export rules');
    if (iface === '' || iface.length > 64 || !/^[-A-Za-z0-9_.*+]+$/.test(iface)) {
      r.fail('interface', `${quote(iface)} must be an interface name or pattern (letters, digits, "-", "_", ".", "*", "+")`);
    }
    out.interface = iface;
  }
  return out;
}

export function readBGPFilterSpec(f: Fields): BGPFilterSpec {
  const out: BGPFilterSpec = {};
  for (const { key, direction, family } of BGPFILTER_LISTS) {
    const items = f.objectList(key, RULE_FIELDS);
    if (items) out[key] = items.map((r) => readRule(r, direction, family));
  }
  return out;
}
