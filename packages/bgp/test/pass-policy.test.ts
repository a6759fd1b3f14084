/** The gobgpd form of what sessions are passed (PeerPolicy.pass): a policy evaluated before the own-paths one. */
import { describe, expect, it } from '@jest/globals';
import { create } from '@bufbuild/protobuf';
import { parseCidr, parseIP } from '@terrace/api';
import { Conditions_RouteType, DefinedType, PolicyAssignmentSchema, RouteAction } from '../src/gen/gobgp_pb.js';
import { exportAssignment, exportAssignmentMatches, EXPORT_POLICY_NAME } from '../src/gobgp/export-policy.js';
import { buildPassPolicy, PASS_POLICY_PREFIX } from '../src/gobgp/pass-policy.js';
import { insideRule, type PeerPolicy, rangeHolds } from '../src/policy.js';
import type { PeerConfig } from '../src/speaker.js';

const peer = (address: string, policy?: PeerPolicy): PeerConfig => ({ address: parseIP(address), asn: 64512, ...(policy ? { policy } : {}) });
const remote = insideRule('accept', parseCidr('198.19.16.0/20'));

describe('buildPassPolicy', () => {
  it('is nothing when no session is passed learned routes', () => {
    expect(buildPassPolicy([peer('198.18.0.12'), peer('198.18.0.13', { import: [], export: [] }), peer('198.18.0.14', { import: [], export: [], pass: [] })])).toBeUndefined();
  });

  it('accepts learned paths (iBGP and eBGP, never our own) in the ranges towards that peer, with next hop self', () => {
    const b = buildPassPolicy([peer('198.18.0.12', { import: [], export: [], pass: [remote] })]);
    const name = b?.name ?? '';
    expect(name.startsWith(PASS_POLICY_PREFIX)).toBe(true);
    expect(b?.sets.map((s) => [s.definedType, s.name?.slice(name.length), s.list ?? s.prefixes])).toEqual([
      [DefinedType.NEIGHBOR, '-n0', ['198.18.0.12/32']],
      [DefinedType.PREFIX, '-p0-0', [{ ipPrefix: '198.19.16.0/20', maskLengthMin: 20, maskLengthMax: 32 }]],
    ]);
    expect((b?.policy.statements ?? []).map((s) => [s.name?.slice(name.length), s.conditions?.routeType, s.actions?.routeAction, s.actions?.nexthop?.self ?? false])).toEqual([
      ['-s0-0-i', Conditions_RouteType.INTERNAL, RouteAction.ACCEPT, true],
      ['-s0-0-e', Conditions_RouteType.EXTERNAL, RouteAction.ACCEPT, true],
    ]);
  });

  it('decides nothing for what a reject rule carves out: accept statements only, their sets without it', () => {
    // A local pool inside the remote's: its blocks must fall through to the own-paths policy (a reflector reflects them).
    const b = buildPassPolicy([peer('198.18.0.12', { import: [], export: [], pass: [insideRule('reject', parseCidr('198.19.20.0/24')), remote] })]);
    const name = b?.name ?? '';
    expect((b?.policy.statements ?? []).map((s) => [s.name?.slice(name.length), s.actions?.routeAction])).toEqual([
      ['-s0-0-i', RouteAction.ACCEPT],
      ['-s0-0-e', RouteAction.ACCEPT],
    ]);
    const set = b?.sets.find((s) => s.name === `${name}-p0-0`);
    const held = (p: string): boolean =>
      (set?.prefixes ?? []).some((x) => rangeHolds({ prefix: parseCidr(x.ipPrefix ?? ''), min: x.maskLengthMin ?? 0, max: x.maskLengthMax ?? 0 }, parseCidr(p)));
    expect(['198.19.16.0/26', '198.19.31.192/26', '198.19.20.0/26', '198.19.20.0/24', '198.19.16.0/20', '198.19.16.0/21'].map(held)).toEqual([true, true, false, false, true, true]);
  });

  it('is named by its content', () => {
    const x = buildPassPolicy([peer('198.18.0.12', { import: [], export: [], pass: [remote] })]);
    const y = buildPassPolicy([peer('198.18.0.13', { import: [], export: [], pass: [remote] })]);
    expect(x?.name).toBe(buildPassPolicy([peer('198.18.0.12', { import: [], export: [], pass: [remote] })])?.name);
    expect(x?.name).not.toBe(y?.name);
  });
});

describe('the export assignment with a pass policy', () => {
  it('puts it before the own-paths policy, and tells the order apart', () => {
    const a = create(PolicyAssignmentSchema, exportAssignment('filters-x', 'pass-y'));
    expect(a.policies.map((p) => p.name)).toEqual(['pass-y', EXPORT_POLICY_NAME, 'filters-x']);
    expect(exportAssignmentMatches(a, 'filters-x', 'pass-y')).toBe(true);
    expect(exportAssignmentMatches(a, 'filters-x')).toBe(false);
    expect(exportAssignmentMatches(create(PolicyAssignmentSchema, exportAssignment('filters-x')), 'filters-x', 'pass-y')).toBe(false);
  });
});
