/** The gobgpd form of the sessions' policies: one global policy per direction, statements per peer and rule. */
import { describe, expect, it } from '@jest/globals';
import { parseCidr, parseIP } from '@terrace/api';
import { Conditions_RouteType, DefinedType, RouteAction } from '../src/gen/gobgp_pb.js';
import { buildSessionPolicy, EXPORT_FILTER_PREFIX, IMPORT_POLICY_PREFIX } from '../src/gobgp/session-policy.js';
import type { PeerPolicy, PolicyRule } from '../src/policy.js';
import type { PeerConfig } from '../src/speaker.js';

const rule = (action: 'accept' | 'reject', cidr: string, min: number, max: number): PolicyRule => {
  const c = parseCidr(cidr);
  return { action, match: { family: c.family, cidr: c, operator: 'In', min, max }, ranges: [{ prefix: c, min, max }] };
};
const pools = [rule('accept', '198.19.0.0/16', 16, 32)];
const peer = (address: string, policy?: PeerPolicy): PeerConfig => ({ address: parseIP(address), asn: 65000, ...(policy ? { policy } : {}) });

describe('buildSessionPolicy', () => {
  it('is nothing when no session has a policy', () => {
    expect(buildSessionPolicy([peer('198.18.0.1')], 'import')).toBeUndefined();
    expect(buildSessionPolicy([peer('198.18.0.1', { import: pools, export: [] })], 'export')).toBeUndefined();
  });

  it("gives each peer its rules in order, then rejects the rest of that peer's routes", () => {
    const b = buildSessionPolicy(
      [peer('198.18.0.12', { import: pools, export: [] }), peer('198.18.0.1', { import: [rule('accept', '0.0.0.0/0', 0, 0), ...pools], export: [] })],
      'import',
    );
    expect(b?.name.startsWith(IMPORT_POLICY_PREFIX)).toBe(true);
    const name = b?.name ?? '';
    // Peers in address order: 198.18.0.1 is n0.
    expect(b?.sets.filter((s) => s.definedType === DefinedType.NEIGHBOR).map((s) => [s.name, s.list])).toEqual([
      [`${name}-n0`, ['198.18.0.1/32']],
      [`${name}-n1`, ['198.18.0.12/32']],
    ]);
    expect(b?.sets.find((s) => s.name === `${name}-p0-0`)?.prefixes).toEqual([{ ipPrefix: '0.0.0.0/0', maskLengthMin: 0, maskLengthMax: 0 }]);
    const st = b?.policy.statements ?? [];
    expect(st.map((s) => [s.name?.slice(name.length), s.conditions?.neighborSet?.name?.slice(name.length), s.conditions?.prefixSet?.name?.slice(name.length), s.actions?.routeAction])).toEqual([
      ['-s0-0', '-n0', '-p0-0', RouteAction.ACCEPT],
      ['-s0-1', '-n0', '-p0-1', RouteAction.ACCEPT],
      ['-s0-end', '-n0', undefined, RouteAction.REJECT],
      ['-s1-0', '-n1', '-p1-0', RouteAction.ACCEPT],
      ['-s1-end', '-n1', undefined, RouteAction.REJECT],
    ]);
  });

  it('limits export rules to the paths we originate, and names a policy after its content', () => {
    const policy = { import: pools, export: [rule('reject', '198.19.128.0/20', 20, 32)] };
    const b = buildSessionPolicy([peer('198.18.0.1', policy), peer('198.18.0.12', { import: pools, export: [] })], 'export');
    expect(b?.name.startsWith(EXPORT_FILTER_PREFIX)).toBe(true);
    expect(b?.policy.statements?.map((s) => [s.conditions?.routeType, s.actions?.routeAction])).toEqual([[Conditions_RouteType.LOCAL, RouteAction.REJECT]]);
    expect(buildSessionPolicy([peer('198.18.0.1', policy)], 'export')?.name).toBe(b?.name);
    const other = { ...policy, export: [rule('reject', '198.19.0.0/20', 20, 32)] };
    expect(buildSessionPolicy([peer('198.18.0.1', other)], 'export')?.name).not.toBe(b?.name);
  });
});
