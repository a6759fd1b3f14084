/**
 * Whether a dead node's addresses may really be freed. A node whose liveness
 * key is gone may only be cut off from etcd while its agent, its pods and
 * its BGP sessions run on: its blocks are then still announced, and freeing
 * them would let another node hand the same addresses out again (two pods,
 * one address). So before releasing, the leader asks the live agents (route
 * queries) about everything the node announces (its affine blocks, and the
 * /32 or /128 of each address it holds in a block that is not its own), and
 * this pure function decides from their answers:
 *
 *   - a live agent learned one of those prefixes over BGP: hold, the node is
 *     cut off, not dead (the reason names the prefix, the agent and the next hop);
 *   - live agents exist but none answered: hold, nothing could be confirmed;
 *   - no live agent at all: hold too. Nobody can tell, and nobody can hand
 *     the addresses out either: the first agent that comes back (or joins)
 *     answers, and the release follows. Releasing here once let a node that
 *     was only cut off lose its addresses while the one other node's lease
 *     lapsed for a moment.
 *
 * Only a path for exactly the asked prefix counts: a default route or an
 * aggregate a ToR announces covers every block and says nothing about the node.
 */
import { formatCidr, hostCidr, parseIP } from '@terrace/api';
import type { RouteAnswer } from '@terrace/datastore';
import type { NodeHoldings } from './gc.js';
import type { HeldAddress } from './world.js';

/** What a dead node would be announcing if it still ran. */
export function announcedBy(holdings: NodeHoldings | undefined, addresses: readonly HeldAddress[]): string[] {
  const blocks = new Set(holdings?.blocks ?? []);
  const borrowed = addresses.filter((a) => !blocks.has(a.block)).map((a) => formatCidr(hostCidr(parseIP(a.ip))));
  return [...new Set([...blocks, ...borrowed])].sort();
}

export interface HoldInput {
  /** Dead nodes whose grace is over, with what each would announce. */
  candidates: readonly { node: string; prefixes: readonly string[] }[];
  /** How many live agents were asked. */
  liveAgents: number;
  /** The answers that came (undefined when the question could not even be asked). */
  answers: readonly RouteAnswer[] | undefined;
  /** Why asking failed, when it did. */
  askError?: string;
}

export interface HoldPlan {
  release: string[];
  held: { node: string; reason: string }[];
}

export function planHolds(input: HoldInput): HoldPlan {
  const { candidates, liveAgents } = input;
  if (liveAgents === 0) {
    return { release: [], held: candidates.map((c) => ({ node: c.node, reason: 'could not confirm that its routes are gone: no live agent to ask' })) };
  }
  // A starting agent has not learned the fabric's routes yet: its empty answer proves nothing.
  const usable = (input.answers ?? []).filter((a) => a.error === undefined && a.state !== 'starting');
  if (usable.length === 0) {
    const starting = (input.answers ?? []).filter((a) => a.state === 'starting').length;
    const none = `none of the ${liveAgents} live agent${liveAgents === 1 ? '' : 's'} answered in time`;
    const why = input.askError ?? (starting > 0 ? `${none} (${starting} still starting)` : none);
    return { release: [], held: candidates.map((c) => ({ node: c.node, reason: `could not confirm that its routes are gone: ${why}` })) };
  }
  const release: string[] = [];
  const held: HoldPlan['held'] = [];
  for (const c of candidates) {
    const asked = new Set(c.prefixes);
    let seen: string | undefined;
    for (const a of usable) {
      if (a.node === c.node) continue;
      for (const r of a.results) {
        const path = r.bgp.find((p) => asked.has(p.prefix) && p.prefix === r.prefix);
        if (path) {
          seen = `${path.prefix} still announced, learned by ${a.node} via ${path.nextHop}`;
          break;
        }
      }
      if (seen) break;
    }
    if (seen) held.push({ node: c.node, reason: seen });
    else release.push(c.node);
  }
  return { release, held };
}
