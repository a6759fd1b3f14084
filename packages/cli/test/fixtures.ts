/** Stored-form resources used by the table golden tests. */
import type { BGPConfiguration, BGPFilter, BGPPeer, IPAMConfig, IPPool, TerraceNode } from '@terrace/api';

export const NOW = new Date('2025-01-10T12:00:00Z');

const meta = (name: string, created: string) => ({ name, uid: `uid-${name}`, resourceVersion: '7', creationTimestamp: created });

export const pools: IPPool[] = [
  {
    apiVersion: 'terrace.dev/v1',
    kind: 'IPPool',
    metadata: meta('pool-v4', '2025-01-10T11:59:15Z'),
    spec: {
      cidr: '198.19.0.0/16',
      blockSize: 26,
      nodeSelector: 'all()',
      disabled: false,
      disableBGPExport: false,
      natOutgoing: true,
      allowedUses: ['Workload', 'Tunnel'],
      assignmentMode: 'Automatic',
      ipipMode: 'Never',
      vxlanMode: 'Never',
    },
  },
  {
    apiVersion: 'terrace.dev/v1',
    kind: 'IPPool',
    metadata: meta('pool-v6-rack-a', '2025-01-07T08:00:00Z'),
    spec: {
      cidr: 'fd00:198:19::/48',
      blockSize: 122,
      nodeSelector: "rack == 'a'",
      disabled: true,
      disableBGPExport: true,
      natOutgoing: false,
      allowedUses: ['Workload'],
      assignmentMode: 'Manual',
      ipipMode: 'Never',
      vxlanMode: 'Never',
    },
  },
];

export const peers: BGPPeer[] = [
  {
    apiVersion: 'terrace.dev/v1',
    kind: 'BGPPeer',
    metadata: meta('tor', '2025-01-10T10:30:00Z'),
    spec: { peerIP: '198.18.0.1', asNumber: 65000, keepaliveTime: '30s', password: { secretKeyRef: { name: 'bgp', key: 'tor' } } },
  },
  {
    apiVersion: 'terrace.dev/v1',
    kind: 'BGPPeer',
    metadata: meta('node-1-rr', '2025-01-10T11:58:00Z'),
    spec: { peerIP: '198.18.0.254:1179', asNumber: 64512, node: 'node-1', nextHopMode: 'Self', ttlSecurity: 1 },
  },
  {
    apiVersion: 'terrace.dev/v1',
    kind: 'BGPPeer',
    metadata: meta('rr-mesh', '2025-01-10T11:00:00Z'),
    spec: { peerSelector: 'has(route-reflector)', nodeSelector: '!has(route-reflector)' },
  },
];

export const bgpConfigs: BGPConfiguration[] = [
  {
    apiVersion: 'terrace.dev/v1',
    kind: 'BGPConfiguration',
    metadata: meta('default', '2025-01-01T00:00:00Z'),
    spec: {
      asNumber: 64512,
      nodeToNodeMeshEnabled: true,
      listenPort: 179,
      communities: [{ name: 'no-export', value: '65535:65281' }],
      serviceClusterIPs: [{ cidr: '198.19.255.0/24' }],
    },
  },
  {
    apiVersion: 'terrace.dev/v1',
    kind: 'BGPConfiguration',
    metadata: meta('node.node-1', '2025-01-10T11:00:00Z'),
    spec: { listenPort: 1179 },
  },
];

export const nodes: TerraceNode[] = [
  {
    apiVersion: 'terrace.dev/v1',
    kind: 'Node',
    metadata: meta('node-1', '2025-01-09T12:00:00Z'),
    spec: { bgp: { ipv4Address: '198.18.0.11/24', ipv6Address: 'fd00:198:18::11/64', asNumber: 64512, routeReflectorClusterID: '224.0.0.1' } },
  },
  {
    apiVersion: 'terrace.dev/v1',
    kind: 'Node',
    metadata: meta('node-2', '2025-01-10T11:59:59Z'),
    spec: { bgp: { ipv4Address: '198.18.0.12/24' } },
  },
];

export const ipamConfigs: IPAMConfig[] = [
  {
    apiVersion: 'terrace.dev/v1',
    kind: 'IPAMConfig',
    metadata: meta('default', '2025-01-10T09:00:00Z'),
    spec: { strictAffinity: false, maxBlocksPerHost: 0, autoAllocateBlocks: true },
  },
];

export const bgpFilters: BGPFilter[] = [
  {
    apiVersion: 'terrace.dev/v1',
    kind: 'BGPFilter',
    metadata: meta('tor-default-route', '2025-01-10T11:00:00Z'),
    spec: {
      importV4: [{ action: 'Accept', matchOperator: 'Equal', cidr: '0.0.0.0/0' }],
      importV6: [{ action: 'Accept', matchOperator: 'Equal', cidr: '::/0' }],
    },
  },
  {
    apiVersion: 'terrace.dev/v1',
    kind: 'BGPFilter',
    metadata: meta('hide-lab-pool', '2025-01-10T11:59:00Z'),
    spec: { exportV4: [{ action: 'Reject', matchOperator: 'In', cidr: '198.19.0.0/16' }, { action: 'Accept' }] },
  },
];
