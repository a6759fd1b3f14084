/**
 * Each session's route policy (@terrace/bgp policy.ts) from the pools and the
 * BGPFilters its BGPPeer names. Every session gets one, mesh sessions
 * included: the default import policy (pool prefixes only) is what keeps a
 * router's default route or full table out of the node unless a filter lets
 * it in. Pure, like peers.ts.
 */
import type { BGPFilter, IPPool } from '@terrace/api';
import { compilePolicy, type PeerPolicy, rulesText } from '@terrace/bgp';
import type { DesiredBgp } from './peers.js';

export interface SessionPolicies {
  /** Peer address → its policy. */
  byAddress: ReadonlyMap<string, PeerPolicy>;
  /** A stable text of every policy, to tell whether anything changed. */
  key: string;
  /** Filters named but missing, one line each. */
  problems: string[];
}

export function sessionPolicies(desired: DesiredBgp, pools: readonly IPPool[], filters: readonly BGPFilter[]): SessionPolicies {
  const byName = new Map(filters.map((f) => [f.metadata.name, f]));
  const byAddress = new Map<string, PeerPolicy>();
  const problems = new Set<string>();
  const texts: string[] = [];
  for (const p of desired.peers) {
    const c = compilePolicy({ pools, filters: byName, names: p.filters ?? [], where: p.source });
    for (const x of c.problems) problems.add(x);
    byAddress.set(p.address, c.policy);
    texts.push(`${p.address} import ${rulesText(c.policy.import)} export ${rulesText(c.policy.export)}`);
  }
  return { byAddress, key: texts.join('\n'), problems: [...problems] };
}
