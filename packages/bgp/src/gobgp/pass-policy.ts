/**
 * The learned routes a session is sent (PeerPolicy.pass) in gobgpd. The
 * own-paths policy (export-policy.ts) rejects every learned path, so these
 * statements sit in a policy placed BEFORE it on the global export
 * assignment: per peer, a path learned over iBGP or eBGP that the rules
 * accept is accepted with our session address as next hop (gobgpd keeps an
 * iBGP peer's next hop otherwise, which the receiver of a remote cluster's
 * block could not reach). Only accept statements: what the rules reject,
 * like what they do not hold, falls through to the own-paths policy, which
 * still reflects it where this node is a route reflector (a local pool
 * carved out of a remote's pool is a reject rule; a terminal REJECT here
 * would stop its blocks being reflected). gobgpd's statement has a single
 * prefix-set condition, so each accept rule's set is its ranges minus those
 * of the reject rules before it (acceptedRanges). Named by a hash of the
 * content, switched over in one assignment like the session policies.
 */
import { createHash } from 'node:crypto';
import { formatCidr } from '@terrace/api';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { Conditions_RouteType, DefinedType, MatchSet_Type, RouteAction, type StatementSchema } from '../gen/gobgp_pb.js';
import { acceptedRanges } from '../policy.js';
import type { PeerConfig } from '../speaker.js';
import type { GobgpClient } from './client.js';
import { type BuiltPolicy, deleteOthers, ensureDefined, hostPrefix } from './session-policy.js';

export const PASS_POLICY_PREFIX = 'terrace-pass-';

type StatementInit = MessageInitShape<typeof StatementSchema>;

function draftOf(peers: readonly PeerConfig[], name: string): Pick<BuiltPolicy, 'sets'> & { statements: StatementInit[] } {
  const sets: BuiltPolicy['sets'] = [];
  const statements: StatementInit[] = [];
  const sorted = [...peers].sort((a, b) => a.address.family - b.address.family || (a.address.value < b.address.value ? -1 : 1));
  sorted.forEach((p, i) => {
    const pass = p.policy?.pass ?? [];
    if (pass.length === 0) return;
    const nset = `${name}-n${i}`;
    sets.push({ definedType: DefinedType.NEIGHBOR, name: nset, list: [hostPrefix(p)] });
    acceptedRanges(pass).forEach((ranges, j) => {
      // A rule left with nothing (its earlier rejects hold all of it) gets no statement.
      if (ranges.length === 0) return;
      const pset = `${name}-p${i}-${j}`;
      sets.push({ definedType: DefinedType.PREFIX, name: pset, prefixes: ranges.map((x) => ({ ipPrefix: formatCidr(x.prefix), maskLengthMin: x.min, maskLengthMax: x.max })) });
      // Learned paths only: what we originate keeps the own-paths rules and the session's export filters.
      for (const [suffix, routeType] of [['i', Conditions_RouteType.INTERNAL], ['e', Conditions_RouteType.EXTERNAL]] as const) {
        statements.push({
          name: `${name}-s${i}-${j}-${suffix}`,
          conditions: { routeType, neighborSet: { type: MatchSet_Type.ANY, name: nset }, prefixSet: { type: MatchSet_Type.ANY, name: pset } },
          actions: { routeAction: RouteAction.ACCEPT, nexthop: { self: true } },
        });
      }
    });
  });
  return { sets, statements };
}

/** The pass policy for the peers, or undefined when no session is passed learned routes. */
export function buildPassPolicy(peers: readonly PeerConfig[]): BuiltPolicy | undefined {
  const draft = draftOf(peers, '');
  if (draft.statements.length === 0) return undefined;
  const hash = createHash('sha256').update(JSON.stringify(draft)).digest('hex').slice(0, 12);
  const name = `${PASS_POLICY_PREFIX}${hash}`;
  const body = draftOf(peers, name);
  return { name, sets: body.sets, policy: { name, statements: body.statements } };
}

/** Defines the pass policy (to be assigned before the own-paths policy) and returns its name. */
export async function definePassPolicy(client: GobgpClient, peers: readonly PeerConfig[]): Promise<string | undefined> {
  const want = buildPassPolicy(peers);
  if (want) await ensureDefined(client, want);
  return want?.name;
}

/** Deletes pass policies no longer assigned. */
export async function prunePassPolicies(client: GobgpClient, keep: string | undefined): Promise<void> {
  await deleteOthers(client, PASS_POLICY_PREFIX, keep);
}
