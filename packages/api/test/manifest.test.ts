import { describe, expect, it } from '@jest/globals';
import { decodeManifests, encodeResources, type Resource, validateResource } from '../src/index.js';

/** One manifest per kind, using every field the kind has. */
const FULL: Record<string, string> = {
  IPPool: `apiVersion: terrace.dev/v1
kind: IPPool
metadata:
  name: pool-a
  labels: {tier: prod, example.com/role: pods}
  annotations: {note: "first pool"}
spec:
  cidr: 10.244.0.0/16
  blockSize: 24
  nodeSelector: "rack in {'r1', 'r2'} && !has(example.com/drain)"
  disabled: false
  disableBGPExport: true
  natOutgoing: true
  allowedUses: [Workload]
  assignmentMode: Manual
  ipipMode: Never
  vxlanMode: Never
`,
  BGPPeer: `apiVersion: terrace.dev/v1
kind: BGPPeer
metadata:
  name: tor-1
spec:
  peerIP: "198.18.0.1:1179"
  asNumber: 1.10
  nodeSelector: "rack == 'r1'"
  password:
    secretKeyRef: {name: bgp-secrets, key: tor1}
  maxRestartTime: 2m
  keepaliveTime: 1m30s
  nextHopMode: Self
  ttlSecurity: 1
  sourceAddress: UseNodeIP
`,
  BGPConfiguration: `apiVersion: terrace.dev/v1
kind: BGPConfiguration
metadata:
  name: default
spec:
  nodeToNodeMeshEnabled: false
  asNumber: 64512
  listenPort: 179
  keepaliveTime: 500ms
  logSeverityScreen: Warning
  communities:
  - {name: pods, value: "64512:100"}
  - {name: big, value: "64512:1:4294967295"}
  prefixAdvertisements:
  - cidr: 10.244.0.0/16
    communities: [pods, "65000:1"]
  serviceClusterIPs: [{cidr: 10.96.0.0/12}]
  serviceExternalIPs: [{cidr: "2001:db8:5::/64"}]
`,
  Node: `apiVersion: terrace.dev/v1
kind: Node
metadata:
  name: node-1.example.com
  labels: {rack: r1}
spec:
  bgp:
    ipv4Address: 198.18.0.11/24
    ipv6Address: 2001:db8::11/64
    asNumber: 65001
    routeReflectorClusterID: 224.0.0.1
`,
  IPAMConfig: `apiVersion: terrace.dev/v1
kind: IPAMConfig
metadata:
  name: default
spec:
  strictAffinity: true
  maxBlocksPerHost: 0
  autoAllocateBlocks: false
`,
};

function one(text: string): Resource {
  const rs = decodeManifests(text, 'test.yaml');
  expect(rs).toHaveLength(1);
  return rs[0] as Resource;
}

describe('round trip', () => {
  it.each(Object.keys(FULL))('%s: decode → encode(yaml/json) → decode is stable', (kind) => {
    const r = one(FULL[kind] as string);
    expect(r.kind).toBe(kind);
    expect(r.apiVersion).toBe('terrace.dev/v1');
    for (const format of ['yaml', 'json'] as const) {
      const text = encodeResources([r], format);
      expect(decodeManifests(text)).toEqual([r]);
      // Printing again gives the same bytes.
      expect(encodeResources(decodeManifests(text), format)).toBe(text);
    }
    // Validation is idempotent on normalized resources.
    expect(validateResource(r)).toEqual(r);
  });

  it('encodes several resources as a List and reads them back', () => {
    const all = Object.values(FULL).flatMap((t) => decodeManifests(t));
    for (const format of ['yaml', 'json'] as const) {
      const text = encodeResources(all, format);
      expect(text).toContain('kind: List'.replace(': ', format === 'json' ? '": "' : ': '));
      expect(decodeManifests(text)).toEqual(all);
    }
    expect(decodeManifests(encodeResources([], 'yaml'))).toEqual([]);
  });

  it('keeps key order apiVersion, kind, metadata, spec whatever the input order', () => {
    const r = one(`spec: {cidr: 10.0.0.0/8}\nmetadata: {name: a}\nkind: IPPool\napiVersion: terrace.dev/v1\n`);
    const shuffled = { spec: { ...r.spec }, metadata: r.metadata, kind: r.kind, apiVersion: r.apiVersion } as Resource;
    const text = encodeResources([shuffled], 'yaml');
    expect(text.split('\n').slice(0, 4)).toEqual(['apiVersion: terrace.dev/v1', 'kind: IPPool', 'metadata:', '  name: a']);
    expect(Object.keys(JSON.parse(encodeResources([shuffled], 'json')) as object)).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
  });

  it('passes datastore metadata through unchanged', () => {
    const r = one(`apiVersion: terrace.dev/v1
kind: Node
metadata:
  name: n1
  resourceVersion: "42"
  uid: 0b7c3c52-5a43-4f1e-9d7e-1d2c3b4a5f60
  creationTimestamp: "2025-01-02T03:04:05Z"
`);
    expect(r.metadata).toEqual({ name: 'n1', resourceVersion: '42', uid: '0b7c3c52-5a43-4f1e-9d7e-1d2c3b4a5f60', creationTimestamp: '2025-01-02T03:04:05Z' });
    expect(one(encodeResources([r], 'yaml'))).toEqual(r);
  });
});

describe('normalization', () => {
  it('fills IPPool defaults and canonicalizes the CIDR', () => {
    expect(one('apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: v6}\nspec: {cidr: "2001:DB8:0:0::/48"}\n').spec).toEqual({
      cidr: '2001:db8::/48', blockSize: 122, nodeSelector: 'all()', disabled: false, disableBGPExport: false,
      natOutgoing: false, allowedUses: ['Workload', 'Tunnel'], assignmentMode: 'Automatic', ipipMode: 'Never', vxlanMode: 'Never',
    });
    const v4 = one('apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: v4}\nspec: {cidr: 10.0.0.0/8, nodeSelector: "", allowedUses: []}\n');
    expect(v4.spec).toMatchObject({ blockSize: 26, nodeSelector: 'all()', allowedUses: ['Workload', 'Tunnel'] });
  });

  it('accepts a block size equal to the pool', () => {
    expect(one('apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: a}\nspec: {cidr: 10.0.0.0/26, blockSize: 26}\n').spec).toMatchObject({ blockSize: 26 });
  });

  it('fills IPAMConfig defaults, with or without a spec', () => {
    const want = { strictAffinity: false, maxBlocksPerHost: 20, autoAllocateBlocks: true };
    expect(one('apiVersion: terrace.dev/v1\nkind: IPAMConfig\nmetadata: {name: default}\n').spec).toEqual(want);
    expect(one('apiVersion: terrace.dev/v1\nkind: IPAMConfig\nmetadata: {name: default}\nspec: {}\n').spec).toEqual(want);
  });

  it('stores AS numbers as numbers, from numbers, strings and asdot', () => {
    const peer = (asn: string): Resource => one(`apiVersion: terrace.dev/v1\nkind: BGPPeer\nmetadata: {name: p}\nspec: {peerIP: 198.18.0.1, asNumber: ${asn}}\n`);
    expect(peer('64512').spec).toMatchObject({ asNumber: 64512 });
    expect(peer('"64512"').spec).toMatchObject({ asNumber: 64512 });
    expect(peer('1.10').spec).toMatchObject({ asNumber: 65546 });
    expect(peer('"1.10"').spec).toMatchObject({ asNumber: 65546 });
    expect(peer('4294967295').spec).toMatchObject({ asNumber: 4294967295 });
  });

  it('reads asdot AS numbers from JSON too', () => {
    const r = one('{"apiVersion":"terrace.dev/v1","kind":"Node","metadata":{"name":"n"},"spec":{"bgp":{"asNumber":1.10}}}');
    expect(r.spec).toEqual({ bgp: { asNumber: 65546 } });
  });

  it('canonicalizes peer addresses', () => {
    const peer = (ip: string): unknown => one(`apiVersion: terrace.dev/v1\nkind: BGPPeer\nmetadata: {name: p}\nspec: {peerIP: "${ip}", asNumber: 1}\n`).spec;
    expect(peer('2001:DB8::0:1')).toMatchObject({ peerIP: '2001:db8::1' });
    expect(peer('[2001:db8::1]:179')).toMatchObject({ peerIP: '[2001:db8::1]:179' });
    expect(peer('198.18.0.1:179')).toMatchObject({ peerIP: '198.18.0.1:179' });
  });

  it('accepts a peer by selector, with no AS number', () => {
    const r = one("apiVersion: terrace.dev/v1\nkind: BGPPeer\nmetadata: {name: rr}\nspec: {nodeSelector: all(), peerSelector: \"has(route-reflector)\"}\n");
    expect(r.spec).toEqual({ nodeSelector: 'all()', peerSelector: 'has(route-reflector)' });
  });

  it('accepts per-node BGP configuration and empty specs', () => {
    expect(one('apiVersion: terrace.dev/v1\nkind: BGPConfiguration\nmetadata: {name: node.n1}\nspec: {listenPort: 1179}\n').spec).toEqual({ listenPort: 1179 });
    expect(one('apiVersion: terrace.dev/v1\nkind: BGPConfiguration\nmetadata: {name: default}\n').spec).toEqual({});
    expect(one('apiVersion: terrace.dev/v1\nkind: Node\nmetadata: {name: n}\n').spec).toEqual({});
  });

  it('treats null as absent', () => {
    expect(one('apiVersion: terrace.dev/v1\nkind: IPPool\nmetadata: {name: a, labels: null}\nspec: {cidr: 10.0.0.0/8, blockSize: null}\n').spec).toMatchObject({ blockSize: 26 });
  });
});

describe('decodeManifests documents', () => {
  it('skips empty documents and reads several', () => {
    const text = `---\n${FULL['IPPool']}---\n---\n# only a comment\n---\n${FULL['Node']}`;
    expect(decodeManifests(text).map((r) => r.metadata.name)).toEqual(['pool-a', 'node-1.example.com']);
    expect(decodeManifests('')).toEqual([]);
    expect(decodeManifests('---\n')).toEqual([]);
  });

  it('reads JSON', () => {
    const r = one('{"apiVersion":"terrace.dev/v1","kind":"IPPool","metadata":{"name":"j"},"spec":{"cidr":"10.9.0.0/16"}}');
    expect(r.metadata.name).toBe('j');
  });

  it('reads a List in either apiVersion', () => {
    for (const api of ['terrace.dev/v1', 'projectcalico.org/v3']) {
      const rs = decodeManifests(`apiVersion: ${api}\nkind: List\nitems:\n- apiVersion: ${api}\n  kind: IPPool\n  metadata: {name: a}\n  spec: {cidr: 10.0.0.0/16}\n- apiVersion: terrace.dev/v1\n  kind: Node\n  metadata: {name: a}\n`);
      expect(rs.map((r) => `${r.kind}/${r.metadata.name}/${r.apiVersion}`)).toEqual(['IPPool/a/terrace.dev/v1', 'Node/a/terrace.dev/v1']);
    }
  });

  it('allows the same name in different kinds', () => {
    expect(decodeManifests(`${FULL['IPAMConfig']}---\n${FULL['BGPConfiguration']}`)).toHaveLength(2);
  });

  it('validateResource prefixes the source when given', () => {
    expect(() => validateResource({ apiVersion: 'terrace.dev/v1', kind: 'IPPool', metadata: { name: 'a' }, spec: { cidr: 'x' } }, { source: 'patch' })).toThrow(
      'patch: ippool/a: spec.cidr "x" is not a valid CIDR',
    );
  });
});
