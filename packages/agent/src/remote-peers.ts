/**
 * Multi-cluster routing on this node, from the RemoteCluster resources and
 * the state docs the controller writes for them (@terrace/api
 * multicluster.ts). Pure, like peers.ts, whose result it extends.
 *
 * - A node that a RemoteCluster's gatewayNodeSelector matches is one of this
 *   cluster's gateways to that remote: one eBGP session per remote gateway
 *   address of a family the node has a gateway address for, bound to that
 *   address (the gateway annotation, else the BGP address). The peer AS is
 *   the gateway's from the doc; a remote in our own AS gets no session (the
 *   two clusters' routes would meet over iBGP rules) but a problem line.
 * - The remote's pools, minus whatever overlaps a local pool, are what its
 *   sessions may import, and what every other session may import too, so
 *   the other nodes learn remote blocks from the gateways.
 * - A doc is used only while its RemoteCluster exists with the doc's uid: a
 *   deleted (or re-created, not yet synced) remote has no sessions and no
 *   routes, whatever doc is left.
 */
import {
  type Cidr,
  cidr as makeCidr,
  cidrContainsCidr,
  cidrsOverlap,
  familyBits,
  formatIP,
  GATEWAY_IPV4_ANNOTATION,
  GATEWAY_IPV6_ANNOTATION,
  type IPFamily,
  type IPPool,
  parseCidr,
  type RemoteCluster,
  type RemoteClusterState,
  type TerraceNode,
  tryParseIP,
} from '@terrace/api';
import { exactRule, insideRule, type PolicyRule } from '@terrace/bgp';
import { compareAddr, DEFAULT_BGP_PORT, type DesiredBgp, type DesiredPeer, nodeAddresses, type SelectorMatcher } from './peers.js';

export const REMOTE_PEER_TYPE = 'remote cluster';

export interface RemoteInputs {
  self: TerraceNode;
  /** This node's AS (DesiredBgp.global.asNumber). */
  asNumber: number;
  remotes: readonly RemoteCluster[];
  states: readonly RemoteClusterState[];
  /** Local IPPools: a remote prefix that overlaps one is never imported. */
  pools: readonly IPPool[];
  matches: SelectorMatcher;
}

/** One remote whose doc is current, and what may be learned from it. */
export interface RemoteRouting {
  name: string;
  /** `remotecluster/<name>`: the source of its sessions. */
  source: string;
  /** First-match import rules for its pods' prefixes (accepts, with rejects carving out local pools). */
  imports: PolicyRule[];
}

export interface RemotePlan {
  remotes: RemoteRouting[];
  /** Sessions to remote gateways (this node is a gateway of those remotes). */
  peers: DesiredPeer[];
  problems: string[];
}

/** The addresses remote gateways peer with on `node`, by family: its gateway annotations, else its BGP addresses. */
export function gatewayAddresses(node: TerraceNode): Partial<Record<IPFamily, string>> {
  const out = nodeAddresses(node);
  for (const key of [GATEWAY_IPV4_ANNOTATION, GATEWAY_IPV6_ANNOTATION]) {
    const ip = tryParseIP(node.metadata.annotations?.[key] ?? '');
    if (ip && ip.family === (key === GATEWAY_IPV4_ANNOTATION ? 4 : 6)) out[ip.family] = formatIP(ip);
  }
  return out;
}

/** The prefix of length `len` that holds `c`. */
function ancestor(c: Cidr, len: number): Cidr {
  const bits = familyBits(c.family);
  const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
  return makeCidr(c.family, c.base & mask, len);
}

/**
 * Import rules for prefixes inside `remote` that overlap no local pool: a
 * local pool inside it is rejected with everything in it and every prefix
 * that holds it; a local pool holding it leaves nothing to import.
 */
export function remotePoolRules(remote: Cidr, local: readonly Cidr[]): PolicyRule[] {
  const rules: PolicyRule[] = [];
  for (const l of local) {
    if (!cidrsOverlap(l, remote)) continue;
    if (cidrContainsCidr(l, remote)) return [];
    rules.push(insideRule('reject', l));
    for (let len = remote.prefix; len < l.prefix; len++) rules.push(exactRule('reject', ancestor(l, len)));
  }
  rules.push(insideRule('accept', remote));
  return rules;
}

function localPoolCidrs(pools: readonly IPPool[]): Cidr[] {
  // Disabled pools too: pods may still hold addresses there.
  return pools.map((p) => parseCidr(p.spec.cidr));
}

export function computeRemotePlan(inp: RemoteInputs): RemotePlan {
  const problems: string[] = [];
  const peers: DesiredPeer[] = [];
  const remotes: RemoteRouting[] = [];
  const local = localPoolCidrs(inp.pools);
  const mine = gatewayAddresses(inp.self);
  const docs = new Map(inp.states.map((s) => [s.name, s]));
  for (const rc of [...inp.remotes].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const name = rc.metadata.name;
    const doc = docs.get(name);
    if (!doc || (rc.metadata.uid !== undefined && doc.uid !== rc.metadata.uid)) continue;
    const source = `remotecluster/${name}`;
    const imports: PolicyRule[] = [];
    for (const p of doc.pools) {
      try {
        const c = parseCidr(p.cidr);
        const rules = remotePoolRules(c, local.filter((l) => l.family === c.family));
        if (rules.length === 0) problems.push(`${source}: pool ${p.name} (${p.cidr}) lies inside a local pool; its routes are not imported`);
        imports.push(...rules);
      } catch (e) {
        problems.push(`${source}: pool ${p.name}: ${(e as Error).message}`);
      }
    }
    remotes.push({ name, source, imports });
    const selector = rc.spec.gatewayNodeSelector;
    if (!selector || !inp.matches(selector, inp.self.metadata.labels ?? {})) continue;
    for (const gw of doc.gateways) {
      if (gw.asNumber === inp.asNumber) {
        problems.push(`${source}: gateway ${gw.name} is in AS ${gw.asNumber}, this node's AS too; remote clusters need their own AS, so no session`);
        continue;
      }
      for (const raw of gw.addresses) {
        const ip = tryParseIP(raw);
        if (!ip) {
          problems.push(`${source}: gateway ${gw.name} address ${JSON.stringify(raw)} is not an address; skipped`);
          continue;
        }
        const localAddress = mine[ip.family];
        if (!localAddress) continue;
        peers.push({
          address: formatIP(ip),
          family: ip.family,
          port: DEFAULT_BGP_PORT,
          asNumber: gw.asNumber,
          type: REMOTE_PEER_TYPE,
          source,
          localAddress,
          // The remote reaches this gateway only: never hand it another node's address.
          nextHopMode: 'Self',
        });
      }
    }
  }
  return { remotes, peers, problems };
}

/** The cluster's BGP peers with the remote sessions added (an address already peered keeps its session). */
export function withRemotePeers(desired: DesiredBgp, plan: RemotePlan): DesiredBgp {
  const taken = new Set(desired.peers.map((p) => p.address));
  const problems = [...desired.problems, ...plan.problems];
  const added: DesiredPeer[] = [];
  for (const p of plan.peers) {
    if (taken.has(p.address) || desired.global.addresses.includes(p.address)) {
      problems.push(`${p.source}: gateway address ${p.address} is already a peer of this node (or its own); no remote cluster session`);
      continue;
    }
    taken.add(p.address);
    added.push(p);
  }
  if (added.length === 0 && problems.length === desired.problems.length) return desired;
  const peers = [...desired.peers, ...added].sort((a, b) => a.family - b.family || compareAddr(a.address, b.address));
  return { ...desired, peers, problems };
}
