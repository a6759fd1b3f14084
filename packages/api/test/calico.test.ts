/** Manifests written for calicoctl, as Calico's documentation shows them, are accepted and stored as ours. */
import { describe, expect, it } from '@jest/globals';
import { decodeManifests, encodeResources } from '../src/index.js';

describe('calicoctl manifests', () => {
  it('IPPool', () => {
    const [r] = decodeManifests(`apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: my.ippool-1
spec:
  cidr: 10.1.0.0/16
  ipipMode: Never
  vxlanMode: Never
  natOutgoing: true
  disabled: false
  nodeSelector: all()
  allowedUses:
    - Workload
    - Tunnel
`);
    expect(r).toEqual({
      apiVersion: 'terrace.dev/v1', kind: 'IPPool', metadata: { name: 'my.ippool-1' },
      spec: {
        cidr: '10.1.0.0/16', blockSize: 26, nodeSelector: 'all()', disabled: false, disableBGPExport: false, natOutgoing: true,
        allowedUses: ['Workload', 'Tunnel'], assignmentMode: 'Automatic', ipipMode: 'Never', vxlanMode: 'Never',
      },
    });
  });

  it('IPv6 IPPool with a block size', () => {
    const [r] = decodeManifests(`apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: default-ipv6-ippool
spec:
  cidr: fd5f:abcd:64::/48
  blockSize: 122
  natOutgoing: false
  nodeSelector: all()
`);
    expect(r?.spec).toMatchObject({ cidr: 'fd5f:abcd:64::/48', blockSize: 122 });
  });

  it('BGPPeer, global and per node', () => {
    const rs = decodeManifests(`apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: some.name
spec:
  node: rack1-host1
  peerIP: 192.168.1.1
  asNumber: 63400
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: my-global-peer
spec:
  peerIP: 192.20.30.40
  asNumber: 64567
  password:
    secretKeyRef:
      name: bgp-secrets
      key: rr-password
  keepaliveTime: 30s
  maxRestartTime: 120s
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: peer-with-route-reflectors
spec:
  nodeSelector: all()
  peerSelector: route-reflector == 'true'
`);
    expect(rs.map((r) => r.apiVersion)).toEqual(['terrace.dev/v1', 'terrace.dev/v1', 'terrace.dev/v1']);
    expect(rs[0]?.spec).toEqual({ peerIP: '192.168.1.1', asNumber: 63400, node: 'rack1-host1' });
    expect(rs[1]?.spec).toEqual({
      peerIP: '192.20.30.40', asNumber: 64567, password: { secretKeyRef: { name: 'bgp-secrets', key: 'rr-password' } },
      maxRestartTime: '120s', keepaliveTime: '30s',
    });
    expect(rs[2]?.spec).toEqual({ nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" });
  });

  it('BGPConfiguration', () => {
    const [r] = decodeManifests(`apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  logSeverityScreen: Info
  nodeToNodeMeshEnabled: true
  asNumber: 63400
  serviceClusterIPs:
    - cidr: 10.96.0.0/12
  serviceExternalIPs:
    - cidr: 104.244.42.129/32
    - cidr: 172.217.3.0/24
  serviceLoadBalancerIPs:
    - cidr: 198.19.250.0/24
  listenPort: 178
  communities:
    - name: bgp-large-community
      value: 63400:300:100
  prefixAdvertisements:
    - cidr: 172.218.4.0/26
      communities:
        - bgp-large-community
        - 63400:120
`);
    expect(r).toMatchObject({
      apiVersion: 'terrace.dev/v1',
      kind: 'BGPConfiguration',
      spec: {
        logSeverityScreen: 'Info', nodeToNodeMeshEnabled: true, asNumber: 63400, listenPort: 178,
        communities: [{ name: 'bgp-large-community', value: '63400:300:100' }],
        prefixAdvertisements: [{ cidr: '172.218.4.0/26', communities: ['bgp-large-community', '63400:120'] }],
        serviceClusterIPs: [{ cidr: '10.96.0.0/12' }],
        serviceExternalIPs: [{ cidr: '104.244.42.129/32' }, { cidr: '172.217.3.0/24' }],
        serviceLoadBalancerIPs: [{ cidr: '198.19.250.0/24' }],
      },
    });
  });

  it('Node', () => {
    const [r] = decodeManifests(`apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: node-hostname
spec:
  bgp:
    asNumber: 64512
    ipv4Address: 10.244.0.1/24
    ipv6Address: 2001:db8:85a3::8a2e:370:7334/120
    routeReflectorClusterID: 224.0.0.1
`);
    expect(r).toEqual({
      apiVersion: 'terrace.dev/v1', kind: 'Node', metadata: { name: 'node-hostname' },
      spec: { bgp: { ipv4Address: '10.244.0.1/24', ipv6Address: '2001:db8:85a3::8a2e:370:7334/120', asNumber: 64512, routeReflectorClusterID: '224.0.0.1' } },
    });
  });

  it('IPAMConfig', () => {
    const [r] = decodeManifests(`apiVersion: projectcalico.org/v3
kind: IPAMConfig
metadata:
  name: default
spec:
  strictAffinity: false
  maxBlocksPerHost: 0
`);
    expect(r?.spec).toEqual({ strictAffinity: false, maxBlocksPerHost: 0, autoAllocateBlocks: true });
  });

  it('IPAMConfiguration, the v3 spelling of the kind', () => {
    const [r] = decodeManifests('apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\nmetadata: {name: default}\nspec: {strictAffinity: true}\n');
    expect(r?.kind).toBe('IPAMConfig');
    expect(r?.spec).toEqual({ strictAffinity: true, maxBlocksPerHost: 20, autoAllocateBlocks: true });
  });

  it('calicoctl get -o yaml output (an IPPoolList with server metadata)', () => {
    const rs = decodeManifests(`apiVersion: projectcalico.org/v3
items:
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata:
    creationTimestamp: "2024-05-01T10:00:00Z"
    name: default-ipv4-ippool
    resourceVersion: "812"
    uid: 3f6a1c0e-8d1b-4b7e-9a55-2c1d0e9f8a77
  spec:
    allowedUses:
    - Workload
    - Tunnel
    blockSize: 26
    cidr: 192.168.0.0/16
    ipipMode: Never
    natOutgoing: true
    nodeSelector: all()
    vxlanMode: Never
kind: IPPoolList
metadata:
  resourceVersion: "900"
`);
    expect(rs).toHaveLength(1);
    expect(rs[0]?.metadata).toEqual({ name: 'default-ipv4-ippool', resourceVersion: '812', uid: '3f6a1c0e-8d1b-4b7e-9a55-2c1d0e9f8a77', creationTimestamp: '2024-05-01T10:00:00Z' });
    // Printed back as ours, it reads back equal.
    expect(decodeManifests(encodeResources(rs, 'yaml'))).toEqual(rs);
    expect(encodeResources(rs, 'yaml')).toContain('apiVersion: terrace.dev/v1');
  });
});
