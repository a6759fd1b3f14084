/** Complete, valid resources of every kind, built by hand from types.ts. */
import { API_VERSION, type BGPConfiguration, type BGPPeer, type IPAMConfig, type IPPool, type Resource, type TerraceNode } from '@terrace/api';

export function pool(name: string, cidr: string, over: Partial<IPPool['spec']> = {}): IPPool {
  const v6 = cidr.includes(':');
  return {
    apiVersion: API_VERSION,
    kind: 'IPPool',
    metadata: { name, labels: { tier: 'test' } },
    spec: {
      cidr,
      blockSize: v6 ? 122 : 26,
      nodeSelector: 'all()',
      disabled: false,
      disableBGPExport: false,
      natOutgoing: true,
      allowedUses: ['Workload', 'Tunnel'],
      assignmentMode: 'Automatic',
      ipipMode: 'Never',
      vxlanMode: 'Never',
      ...over,
    },
  };
}

export function peer(name: string): BGPPeer {
  return {
    apiVersion: API_VERSION,
    kind: 'BGPPeer',
    metadata: { name, annotations: { note: 'top of rack' } },
    spec: {
      peerIP: '198.18.0.1:179',
      asNumber: 64512,
      nodeSelector: "rack == 'r1'",
      password: { secretKeyRef: { name: 'bgp', key: 'tor' } },
      maxRestartTime: '120s',
      keepaliveTime: '30s',
      nextHopMode: 'Self',
      ttlSecurity: 1,
      sourceAddress: 'UseNodeIP',
    },
  };
}

export function bgpConfig(name = 'default'): BGPConfiguration {
  return {
    apiVersion: API_VERSION,
    kind: 'BGPConfiguration',
    metadata: { name },
    spec: {
      nodeToNodeMeshEnabled: true,
      asNumber: 64512,
      listenPort: 179,
      keepaliveTime: '20s',
      logSeverityScreen: 'Info',
      communities: [{ name: 'pods', value: '64512:100' }],
      prefixAdvertisements: [{ cidr: '10.244.0.0/16', communities: ['pods', '64512:200'] }],
      serviceClusterIPs: [{ cidr: '10.96.0.0/12' }],
      serviceExternalIPs: [{ cidr: '2001:db8:ff::/112' }],
    },
  };
}

export function node(name: string): TerraceNode {
  return {
    apiVersion: API_VERSION,
    kind: 'Node',
    metadata: { name, labels: { rack: 'r1' } },
    spec: { bgp: { ipv4Address: '198.18.0.11/24', ipv6Address: '2001:db8::11/64', asNumber: 64513, routeReflectorClusterID: '224.0.0.1' } },
  };
}

export function ipamConfig(): IPAMConfig {
  return {
    apiVersion: API_VERSION,
    kind: 'IPAMConfig',
    metadata: { name: 'default' },
    spec: { strictAffinity: false, maxBlocksPerHost: 4, autoAllocateBlocks: true },
  };
}

export function allKinds(): Resource[] {
  return [pool('pool-v4', '10.244.0.0/16'), pool('pool-v6', 'fd00:244::/64'), peer('tor-1'), bgpConfig(), bgpConfig('node.n1'), node('n1'), ipamConfig()];
}

/** The resource without the fields the datastore sets, for comparing round trips. */
export function userPart(r: Resource): unknown {
  const { resourceVersion: _a, uid: _b, creationTimestamp: _c, ...metadata } = r.metadata;
  return { ...r, metadata };
}
