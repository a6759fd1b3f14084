/**
 * The global export policy: a node announces only the paths it originates
 * itself (its blocks and borrowed addresses, added with AddPath), never a path
 * it learned from a peer. Without it, gobgpd passes the blocks a node learns
 * over the iBGP mesh on to its eBGP peers with itself as next hop: the
 * top-of-rack router then spreads each block over every node instead of
 * sending it to the owner, and in eBGP triangles paths outlive their
 * withdrawal. Two statements reject paths learned over iBGP and over eBGP
 * (iBGP ones pass only where a route reflector sends them to iBGP peers);
 * whatever is left (locally originated) is accepted by default. Two more
 * set the next hop towards the peers whose nextHopMode asks for it.
 *
 * gobgpd keeps policies in memory only and StartBgp clears them, so the
 * speaker checks them on every pass after BGP runs and before any peer is
 * configured; `ensureExportPolicy` changes nothing when they are in place.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  Conditions_RouteType,
  MatchSet_Type,
  PolicyDirection,
  RouteAction,
  type Policy,
  type PolicyAssignment,
  type PolicyAssignmentSchema,
  type PolicySchema,
  type Statement,
} from '../gen/gobgp_pb.js';
import type { GobgpClient } from './client.js';
import { ensurePeerSets, NEXT_HOP_KEEP_SET, NEXT_HOP_SELF_SET, REFLECT_TO_SET, type PeerSets } from './peer-sets.js';

/** Our policy's name in gobgpd; its statements are named after it. */
export const EXPORT_POLICY_NAME = 'terrace-export-own-paths';
/** gobgpd's name for the global RIB's policy assignment. */
const GLOBAL_ASSIGNMENT = 'global';

/**
 * The statements, in order. The next-hop ones only modify and fall through
 * (peer-sets.ts says whom they match). iBGP-learned paths are rejected
 * except towards the peers of the reflect-to set, which is empty (but for a
 * placeholder) unless this node is a route reflector.
 */
const STATEMENTS: readonly {
  suffix: string;
  routeType?: Conditions_RouteType;
  neighborSet?: { name: string; type: MatchSet_Type };
  nexthop?: { self?: boolean; unchanged?: boolean };
  reject?: boolean;
}[] = [
  { suffix: 'next-hop-self', neighborSet: { name: NEXT_HOP_SELF_SET, type: MatchSet_Type.ANY }, nexthop: { self: true } },
  { suffix: 'next-hop-keep', neighborSet: { name: NEXT_HOP_KEEP_SET, type: MatchSet_Type.ANY }, nexthop: { unchanged: true } },
  { suffix: 'reject-ibgp', routeType: Conditions_RouteType.INTERNAL, neighborSet: { name: REFLECT_TO_SET, type: MatchSet_Type.INVERT }, reject: true },
  { suffix: 'reject-ebgp', routeType: Conditions_RouteType.EXTERNAL, reject: true },
];

export function exportPolicy(): MessageInitShape<typeof PolicySchema> {
  return {
    name: EXPORT_POLICY_NAME,
    statements: STATEMENTS.map((r) => ({
      name: `${EXPORT_POLICY_NAME}-${r.suffix}`,
      conditions: { ...(r.routeType === undefined ? {} : { routeType: r.routeType }), ...(r.neighborSet ? { neighborSet: r.neighborSet } : {}) },
      actions: { routeAction: r.reject ? RouteAction.REJECT : RouteAction.NONE, ...(r.nexthop ? { nexthop: r.nexthop } : {}) },
    })),
  };
}

/**
 * `then`: the sessions' export filters (session-policy.ts), evaluated after
 * ours. gobgpd stops at the first policy that accepts or rejects; ours never
 * decides a path we originate (its rejects match learned paths only, its
 * next-hop statements modify and fall through), so a filter's Accept cannot
 * skip the next-hop rules, and a learned path never reaches the filters.
 * `first`: the learned paths some sessions are sent (pass-policy.ts),
 * evaluated before ours, whose rejects would otherwise stop them; it accepts
 * only learned paths of its ranges and decides nothing else.
 */
export function exportAssignment(then?: string, first?: string): MessageInitShape<typeof PolicyAssignmentSchema> {
  return {
    name: GLOBAL_ASSIGNMENT,
    direction: PolicyDirection.EXPORT,
    policies: assignedNames(then, first).map((name) => ({ name })),
    defaultAction: RouteAction.ACCEPT,
  };
}

function assignedNames(then?: string, first?: string): string[] {
  return [...(first ? [first] : []), EXPORT_POLICY_NAME, ...(then ? [then] : [])];
}

/** True when a statement matches on something besides the route type, or acts besides accept/reject. */
function hasExtras(s: Statement): boolean {
  const c = s.conditions;
  const a = s.actions;
  const extraCondition =
    c !== undefined &&
    (c.prefixSet !== undefined ||
      c.asPathLength !== undefined ||
      c.asPathSet !== undefined ||
      c.communitySet !== undefined ||
      c.extCommunitySet !== undefined ||
      c.largeCommunitySet !== undefined ||
      c.nextHopInList.length > 0 ||
      c.afiSafiIn.length > 0 ||
      // gobgpd lists "no RPKI condition" as 0 (or -1 for an unknown value).
      c.rpkiResult > 0);
  const extraAction =
    a !== undefined &&
    (a.community !== undefined ||
      a.med !== undefined ||
      a.asPrepend !== undefined ||
      a.extCommunity !== undefined ||
      a.localPref !== undefined ||
      a.largeCommunity !== undefined);
  return extraCondition || extraAction;
}

/** Whether gobgpd's listed policy is exactly ours (compared field by field, not by encoding). */
export function exportPolicyMatches(listed: Policy | undefined): boolean {
  const want = exportPolicy();
  const ws = want.statements ?? [];
  if (!listed || listed.name !== want.name || listed.statements.length !== ws.length) return false;
  return ws.every((w, i) => {
    const l = listed.statements[i] as Statement;
    const wn = w.conditions?.neighborSet;
    const ln = l.conditions?.neighborSet;
    const wh = w.actions?.nexthop;
    const lh = l.actions?.nexthop;
    return (
      l.name === w.name &&
      (l.conditions?.routeType ?? Conditions_RouteType.NONE) === (w.conditions?.routeType ?? Conditions_RouteType.NONE) &&
      (ln?.name ?? '') === (wn?.name ?? '') &&
      (ln?.type ?? MatchSet_Type.ANY) === (wn?.type ?? MatchSet_Type.ANY) &&
      (lh?.self ?? false) === (wh?.self ?? false) &&
      (lh?.unchanged ?? false) === (wh?.unchanged ?? false) &&
      (lh?.address ?? '') === '' &&
      (l.actions?.routeAction ?? RouteAction.NONE) === (w.actions?.routeAction ?? RouteAction.NONE) &&
      !hasExtras(l)
    );
  });
}

/** Whether the global export assignment holds `first` (if given), our policy, then `then` (if given), with default accept. */
export function exportAssignmentMatches(listed: PolicyAssignment | undefined, then?: string, first?: string): boolean {
  const want = assignedNames(then, first);
  return (
    listed !== undefined &&
    listed.direction === PolicyDirection.EXPORT &&
    listed.defaultAction === RouteAction.ACCEPT &&
    listed.policies.length === want.length &&
    want.every((n, i) => listed.policies[i]?.name === n)
  );
}

/**
 * Brings gobgpd's global export policy to ours; resolves with true when
 * anything had to change (then sessions already up may hold advertisements
 * made under other rules: see the speaker's soft reset).
 *
 * A policy of our name with other content (another version, or edited by
 * hand) is replaced. gobgpd cannot redefine a statement in place (deleting a
 * statement from a policy leaves its name taken), so the whole policy is
 * deleted, which needs it unassigned first; meanwhile the assignment's
 * default is reject, so nothing learned slips out during the swap. Updates
 * held back then are sent by the soft reset that follows a change.
 */
export async function ensureExportPolicy(client: GobgpClient, sets: PeerSets, then?: string, first?: string): Promise<{ changed: boolean; peersChanged: Set<string> }> {
  let changed = false;
  // Before the policy: it names the sets, and gobgpd refuses a policy whose sets do not exist.
  const peersChanged = await ensurePeerSets(client, sets);
  const policies = await client.list('listPolicy', { name: EXPORT_POLICY_NAME });
  const current = policies.map((r) => r.policy).find((p) => p?.name === EXPORT_POLICY_NAME);
  if (!exportPolicyMatches(current)) {
    if (current) {
      await client.unary('setPolicyAssignment', {
        assignment: { name: GLOBAL_ASSIGNMENT, direction: PolicyDirection.EXPORT, policies: [], defaultAction: RouteAction.REJECT },
      });
      await client.unary('deletePolicy', { policy: { name: EXPORT_POLICY_NAME }, all: true, preserveStatements: false });
    }
    await client.unary('addPolicy', { policy: exportPolicy() });
    changed = true;
  }
  const assigned = await client.list('listPolicyAssignment', { name: GLOBAL_ASSIGNMENT, direction: PolicyDirection.EXPORT });
  if (!exportAssignmentMatches(assigned[0]?.assignment, then, first)) {
    // Replaces whatever was assigned: the global export policy is ours alone.
    await client.unary('setPolicyAssignment', { assignment: exportAssignment(then, first) });
    changed = true;
  }
  return { changed, peersChanged };
}
