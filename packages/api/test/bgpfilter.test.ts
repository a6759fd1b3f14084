/** BGPFilter (Calico's kind, accepted unchanged) and BGPPeer.filters: what is stored, and one-line refusals. */
import { describe, expect, it } from '@jest/globals';
import { decodeManifests, validateResource } from '../src/index.js';

const CALICO = `apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata:
  name: my-filter
spec:
  exportV4:
    - action: Accept
      matchOperator: In
      cidr: 77.0.0.0/16
      prefixLength:
        min: 24
        max: 30
      source: RemotePeers
    - action: Reject
      interface: "eth*"
  importV4:
    - action: Reject
      matchOperator: NotIn
      cidr: 44.0.0.0/16
  exportV6:
    - action: Reject
      matchOperator: NotEqual
      cidr: 9000::0/64
  importV6:
    - action: Accept
      matchOperator: Equal
      cidr: ::/0
`;

function filter(rules: Record<string, unknown>): unknown {
  return { apiVersion: 'terrace.dev/v1', kind: 'BGPFilter', metadata: { name: 'f' }, spec: rules };
}

describe('BGPFilter', () => {
  it("accepts Calico's example unchanged and stores it as terrace.dev/v1", () => {
    const [r] = decodeManifests(CALICO);
    expect(r).toEqual({
      apiVersion: 'terrace.dev/v1',
      kind: 'BGPFilter',
      metadata: { name: 'my-filter' },
      spec: {
        exportV4: [
          { action: 'Accept', matchOperator: 'In', cidr: '77.0.0.0/16', prefixLength: { min: 24, max: 30 }, source: 'RemotePeers' },
          { action: 'Reject', interface: 'eth*' },
        ],
        importV4: [{ action: 'Reject', matchOperator: 'NotIn', cidr: '44.0.0.0/16' }],
        exportV6: [{ action: 'Reject', matchOperator: 'NotEqual', cidr: '9000::/64' }],
        importV6: [{ action: 'Accept', matchOperator: 'Equal', cidr: '::/0' }],
      },
    });
  });

  it.each([
    [{ importV4: [{ matchOperator: 'Equal', cidr: '0.0.0.0/0' }] }, 'bgpfilter/f: spec.importV4[0].action is required (Accept or Reject)'],
    [{ importV4: [{ action: 'Allow' }] }, 'bgpfilter/f: spec.importV4[0].action "Allow" is not one of Accept, Reject'],
    [{ importV4: [{ action: 'Accept', matchOperator: 'Like', cidr: '10.0.0.0/8' }] }, 'spec.importV4[0].matchOperator "Like" is not one of Equal, NotEqual, In, NotIn'],
    [{ importV4: [{ action: 'Accept', cidr: '10.0.0.0/8' }] }, 'spec.importV4[0].matchOperator is required with spec.cidr'],
    [{ importV4: [{ action: 'Accept', matchOperator: 'In' }] }, 'spec.importV4[0].matchOperator needs a cidr to compare with'],
    [{ importV4: [{ action: 'Accept', matchOperator: 'In', cidr: '2001:db8::/32' }] }, 'spec.importV4[0].cidr 2001:db8::/32 is IPv6 but this is an IPv4 rule list'],
    [{ importV6: [{ action: 'Accept', prefixLength: { max: 129 } }] }, 'spec.importV6[0].prefixLength.max 129 is out of range 0–128'],
    [{ importV4: [{ action: 'Accept', prefixLength: { min: 24, max: 16 } }] }, 'spec.importV4[0].prefixLength.min 24 is greater than max 16'],
    [{ importV4: [{ action: 'Accept', matchOperator: 'In', cidr: '10.0.0.0/8', prefixLength: { max: 7 } }] }, "prefixLength.max 7 is shorter than the cidr's /8: the rule could never match"],
    [{ importV4: [{ action: 'Accept', source: 'RemotePeers' }] }, 'spec.importV4[0].source is only valid on export rules'],
    [{ importV6: [{ action: 'Accept', interface: 'eth0' }] }, 'spec.importV6[0].interface is only valid on export rules'],
    [{ exportV4: [{ action: 'Accept', source: 'Everyone' }] }, 'spec.exportV4[0].source "Everyone" is not one of RemotePeers'],
    [{ exportV4: [{ action: 'Accept', interface: 'eth0"; }' }] }, 'spec.exportV4[0].interface "eth0\\"; }" must be an interface name or pattern'],
    [{ importV4: [{ action: 'Accept', matchOperator: 'In', cidr: '10.0.0.1/8' }] }, 'spec.importV4[0].cidr'],
    [{ importV4: [{ action: 'Accept', community: '1:1' }] }, 'spec.importV4[0].community is not a supported field'],
    [{ importV7: [] }, 'spec.importV7 is not a supported field'],
  ])('refuses %j with one line', (spec, message) => {
    let err: Error | undefined;
    try {
      validateResource(filter(spec));
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toContain(message);
    expect(err?.message).not.toContain('\n');
  });
});

describe('BGPPeer.filters', () => {
  const peer = (filters: unknown): unknown => ({ apiVersion: 'projectcalico.org/v3', kind: 'BGPPeer', metadata: { name: 'tor' }, spec: { peerIP: '198.18.0.1', asNumber: 65000, filters } });

  it('is stored in order', () => {
    expect(validateResource(peer(['b', 'a']))).toMatchObject({ spec: { filters: ['b', 'a'] } });
  });

  it.each([
    [['a', 'a'], 'bgppeer/tor: spec.filters[1] "a" is listed twice'],
    [['Not_A_Name'], 'bgppeer/tor: spec.filters[0] "Not_A_Name"'],
    [[7], 'bgppeer/tor: spec.filters[0] must be a BGPFilter name, got number'],
    ['a', 'bgppeer/tor: spec.filters must be a list'],
  ])('refuses %j', (filters, message) => {
    expect(() => validateResource(peer(filters))).toThrow(message);
  });
});
