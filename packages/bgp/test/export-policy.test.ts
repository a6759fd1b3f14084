import { describe, expect, it } from '@jest/globals';
import { create } from '@bufbuild/protobuf';
import { Conditions_RouteType, LocalPrefActionSchema, MatchSet_Type, PolicyAssignmentSchema, PolicyDirection, PolicySchema, RouteAction } from '../src/gen/gobgp_pb.js';
import { NEXT_HOP_KEEP_SET, NEXT_HOP_SELF_SET, REFLECT_TO_SET } from '../src/gobgp/peer-sets.js';
import { exportAssignment, exportAssignmentMatches, exportPolicy, exportPolicyMatches, EXPORT_POLICY_NAME } from '../src/gobgp/export-policy.js';

/** Our policy as gobgpd lists it back: it spells "no RPKI condition" as -1 or 0. */
function listed(rpkiResult = -1) {
  const p = create(PolicySchema, exportPolicy());
  for (const s of p.statements) if (s.conditions) s.conditions.rpkiResult = rpkiResult;
  return p;
}

describe('export policy', () => {
  it('sets next hops for the peers that ask, rejects learned paths (iBGP ones except to the reflect-to set)', () => {
    const p = create(PolicySchema, exportPolicy());
    expect(
      p.statements.map((s) => [s.conditions?.routeType, s.conditions?.neighborSet?.name, s.conditions?.neighborSet?.type, s.actions?.nexthop?.self, s.actions?.nexthop?.unchanged, s.actions?.routeAction]),
    ).toEqual([
      [Conditions_RouteType.NONE, NEXT_HOP_SELF_SET, MatchSet_Type.ANY, true, false, RouteAction.NONE],
      [Conditions_RouteType.NONE, NEXT_HOP_KEEP_SET, MatchSet_Type.ANY, false, true, RouteAction.NONE],
      [Conditions_RouteType.INTERNAL, REFLECT_TO_SET, MatchSet_Type.INVERT, undefined, undefined, RouteAction.REJECT],
      [Conditions_RouteType.EXTERNAL, undefined, undefined, undefined, undefined, RouteAction.REJECT],
    ]);
    const a = create(PolicyAssignmentSchema, exportAssignment());
    expect(a).toMatchObject({ name: 'global', direction: PolicyDirection.EXPORT, defaultAction: RouteAction.ACCEPT });
    expect(a.policies.map((x) => x.name)).toEqual([EXPORT_POLICY_NAME]);
  });

  it('recognises its own policy as listed, whatever the RPKI placeholder', () => {
    expect(exportPolicyMatches(listed(-1))).toBe(true);
    expect(exportPolicyMatches(listed(0))).toBe(true);
    expect(exportPolicyMatches(undefined)).toBe(false);
  });

  it('sees any other content under its name as different', () => {
    const accepting = listed();
    accepting.statements[3]!.actions!.routeAction = RouteAction.ACCEPT;
    const reflectingAll = listed();
    reflectingAll.statements[2]!.conditions!.neighborSet = undefined;
    expect(exportPolicyMatches(reflectingAll)).toBe(false);
    const notInverted = listed();
    notInverted.statements[2]!.conditions!.neighborSet!.type = MatchSet_Type.ANY;
    expect(exportPolicyMatches(notInverted)).toBe(false);
    const selfEverywhere = listed();
    selfEverywhere.statements[0]!.conditions!.neighborSet = undefined;
    expect(exportPolicyMatches(selfEverywhere)).toBe(false);
    const swapped = listed();
    swapped.statements[1]!.actions!.nexthop!.unchanged = false;
    swapped.statements[1]!.actions!.nexthop!.self = true;
    expect(exportPolicyMatches(swapped)).toBe(false);
    expect(exportPolicyMatches(accepting)).toBe(false);
    const oneMissing = listed();
    oneMissing.statements.pop();
    expect(exportPolicyMatches(oneMissing)).toBe(false);
    const narrowed = listed();
    narrowed.statements[0]!.conditions!.nextHopInList = ['198.18.0.1'];
    expect(exportPolicyMatches(narrowed)).toBe(false);
    const rewriting = listed();
    rewriting.statements[0]!.actions!.localPref = create(LocalPrefActionSchema, { value: 200 });
    expect(exportPolicyMatches(rewriting)).toBe(false);
    const renamed = listed();
    renamed.statements[0]!.name = 'other';
    expect(exportPolicyMatches(renamed)).toBe(false);
  });

  it('accepts only an assignment of our policy alone with default accept', () => {
    const ok = create(PolicyAssignmentSchema, exportAssignment());
    ok.policies = [listed()];
    expect(exportAssignmentMatches(ok)).toBe(true);
    expect(exportAssignmentMatches(undefined)).toBe(false);
    // What a daemon nobody configured lists: no policies, default accept.
    const none = create(PolicyAssignmentSchema, { name: 'global', direction: PolicyDirection.EXPORT, defaultAction: RouteAction.ACCEPT });
    expect(exportAssignmentMatches(none)).toBe(false);
    const rejecting = create(PolicyAssignmentSchema, exportAssignment());
    rejecting.policies = [listed()];
    rejecting.defaultAction = RouteAction.REJECT;
    expect(exportAssignmentMatches(rejecting)).toBe(false);
    const extra = create(PolicyAssignmentSchema, exportAssignment());
    extra.policies = [listed(), create(PolicySchema, { name: 'someone-else' })];
    expect(exportAssignmentMatches(extra)).toBe(false);
  });

  it('puts the sessions\' export filters after our policy, so that a filter\'s Accept cannot skip the next-hop rules', () => {
    // gobgpd stops at the first policy that accepts or rejects; ours only
    // rejects learned paths and modifies next hops, then falls through.
    const a = create(PolicyAssignmentSchema, exportAssignment('terrace-export-filters-abc'));
    expect(a.policies.map((p) => p.name)).toEqual([EXPORT_POLICY_NAME, 'terrace-export-filters-abc']);
    const listedBoth = create(PolicyAssignmentSchema, exportAssignment('terrace-export-filters-abc'));
    listedBoth.policies = [listed(), create(PolicySchema, { name: 'terrace-export-filters-abc' })];
    expect(exportAssignmentMatches(listedBoth, 'terrace-export-filters-abc')).toBe(true);
    const reversed = create(PolicyAssignmentSchema, exportAssignment('terrace-export-filters-abc'));
    reversed.policies = [create(PolicySchema, { name: 'terrace-export-filters-abc' }), listed()];
    expect(exportAssignmentMatches(reversed, 'terrace-export-filters-abc')).toBe(false);
  });
});
