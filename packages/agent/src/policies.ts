/**
 * Each session's route policy (@terrace/bgp policy.ts) from the pools and the
 * BGPFilters its BGPPeer names. Every session gets one, mesh sessions
 * included: the default import policy (pool prefixes only) is what keeps a
 * router's default route or full table out of the node unless a filter lets
 * it in. Pure, like peers.ts.
 *
 * With remote clusters (remote-peers.ts): every session also accepts the
 * remotes' pod prefixes; a session to a remote gateway imports only that
 * remote's, exports only prefixes inside local pools (ours and, passed on,
 * those learned from our cluster's nodes), and never a remote's routes (no
 * transit); a gateway passes the remotes' routes it learned to its other
 * sessions with itself as next hop.
 */
import { type BGPFilter, type IPPool, parseCidr } from '@terrace/api';
import { anyRule, compilePolicy, insideRule, type PeerPolicy, passText, type PolicyRule, rulesText } from '@terrace/bgp';
import type { DesiredBgp } from './peers.js';
import type { RemoteRouting } from './remote-peers.js';

export interface SessionPolicies {
  /** Peer address → its policy. */
  byAddress: ReadonlyMap<string, PeerPolicy>;
  /** A stable text of every policy, to tell whether anything changed. */
  key: string;
  /** Filters named but missing, one line each. */
  problems: string[];
}

/** A remote gateway's session: its remote's pods in; our cluster's pods out, learned ones passed. */
function remoteSessionPolicy(remote: RemoteRouting, pools: readonly IPPool[]): PeerPolicy {
  // Disabled pools too: their pods still hold addresses.
  const ours = pools.map((p) => insideRule('accept', parseCidr(p.spec.cidr)));
  return { import: remote.imports, export: [...ours, anyRule('reject', 4), anyRule('reject', 6)], pass: ours };
}

export function sessionPolicies(desired: DesiredBgp, pools: readonly IPPool[], filters: readonly BGPFilter[], remotes: readonly RemoteRouting[] = []): SessionPolicies {
  const byName = new Map(filters.map((f) => [f.metadata.name, f]));
  const bySource = new Map(remotes.map((r) => [r.source, r]));
  const remoteImports = remotes.flatMap((r) => r.imports);
  // What this node learns from the remotes it is a gateway to, and passes on to the rest of its cluster.
  const gatewayOf = new Set(desired.peers.map((p) => bySource.get(p.source)).filter((r): r is RemoteRouting => r !== undefined));
  const passOn: PolicyRule[] = [...gatewayOf].flatMap((r) => r.imports);
  const byAddress = new Map<string, PeerPolicy>();
  const problems = new Set<string>();
  const texts: string[] = [];
  for (const p of desired.peers) {
    const remote = bySource.get(p.source);
    let policy: PeerPolicy;
    if (remote) {
      policy = remoteSessionPolicy(remote, pools);
    } else {
      const c = compilePolicy({ pools, filters: byName, names: p.filters ?? [], where: p.source });
      for (const x of c.problems) problems.add(x);
      policy = { import: [...c.policy.import, ...remoteImports], export: c.policy.export, ...(passOn.length > 0 ? { pass: passOn } : {}) };
    }
    byAddress.set(p.address, policy);
    texts.push(`${p.address} import ${rulesText(policy.import)} export ${rulesText(policy.export)}${passText(policy)}`);
  }
  return { byAddress, key: texts.join('\n'), problems: [...problems] };
}
