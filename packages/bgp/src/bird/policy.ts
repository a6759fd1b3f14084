/**
 * A session's policy (../policy.ts) in BIRD's filter language. BIRD reads
 * the rules' ranges as prefix patterns (`net ~ [ 10.0.0.0/8{8,32} ]`). First
 * match wins is written without control flow: an import rule accepts when
 * its ranges hold the route and no earlier reject rule's do (an earlier
 * accept would have accepted it anyway), then everything else is rejected;
 * an export rule rejects when no earlier accept rule holds the route, and
 * what no rule rejects goes on to the usual export filter.
 */
import { formatCidr } from '@terrace/api';
import type { PolicyAction, PolicyRule, PrefixRange } from '../policy.js';
import { intValue, invalid } from './values.js';

function rangeValue(r: PrefixRange, f: 4 | 6, where: string): string {
  if (r.prefix.family !== f) throw invalid(where, 'policy', `holds ${formatCidr(r.prefix)} in an IPv${f} rule`);
  const bits = f === 4 ? 32 : 128;
  const min = intValue(r.min, r.prefix.prefix, bits, where, 'policy range min');
  const max = intValue(r.max, r.min, bits, where, 'policy range max');
  return `${formatCidr(r.prefix)}{${min},${max}}`;
}

function setOf(ranges: readonly PrefixRange[], f: 4 | 6, where: string): string {
  return `[ ${ranges.map((r) => rangeValue(r, f, where)).join(', ')} ]`;
}

/** `if` statements that take `action` for the routes whose first matching rule says so. */
function firstMatchLines(rules: readonly PolicyRule[], f: 4 | 6, action: PolicyAction, where: string, also = ''): string[] {
  const out: string[] = [];
  const earlierOther: PrefixRange[] = [];
  for (const r of rules) {
    if (r.match.family !== f) continue;
    if (r.action !== action) {
      earlierOther.push(...r.ranges);
      continue;
    }
    const shield = earlierOther.length > 0 ? ` && !(net ~ ${setOf(earlierOther, f, where)})` : '';
    out.push(`if ${also}net ~ ${setOf(r.ranges, f, where)}${shield} then ${action};`);
  }
  return out;
}

/** The body of a session's import filter for one family: its rules, then reject. */
export function importFilterLines(rules: readonly PolicyRule[], f: 4 | 6, where: string): string[] {
  return [...firstMatchLines(rules, f, 'accept', where), 'reject;'];
}

/** The statements that reject what the export rules reject (empty when they reject nothing). */
export function exportRejectLines(rules: readonly PolicyRule[], f: 4 | 6, where: string): string[] {
  return firstMatchLines(rules, f, 'reject', where);
}

/** The statements that accept the learned routes a session is passed (PeerPolicy.pass); the rest go on to the usual filter, which rejects them. */
export function passLines(rules: readonly PolicyRule[], f: 4 | 6, where: string): string[] {
  return firstMatchLines(rules, f, 'accept', where, 'source = RTS_BGP && ');
}
