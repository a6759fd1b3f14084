// Small builders for resources used by the agent's unit tests.
import {
  API_VERSION,
  type BGPConfiguration,
  type BGPConfigurationSpec,
  type BGPPeer,
  type BGPPeerSpec,
  type IPPool,
  type RemoteCluster,
  type RemoteClusterState,
  type TerraceNode,
  parseSelector,
} from '@terrace/api';
import type { SelectorMatcher } from '../src/peers.js';

export function node(name: string, v4?: string, opts: { v6?: string; as?: number; labels?: Record<string, string> } = {}): TerraceNode {
  const bgp: NonNullable<TerraceNode['spec']['bgp']> = {};
  if (v4) bgp.ipv4Address = v4;
  if (opts.v6) bgp.ipv6Address = opts.v6;
  if (opts.as !== undefined) bgp.asNumber = opts.as;
  const metadata: TerraceNode['metadata'] = { name };
  if (opts.labels) metadata.labels = opts.labels;
  return { apiVersion: API_VERSION, kind: 'Node', metadata, spec: { bgp } };
}

export function peer(name: string, spec: BGPPeerSpec): BGPPeer {
  return { apiVersion: API_VERSION, kind: 'BGPPeer', metadata: { name }, spec };
}

export function bgpConfig(name: string, spec: BGPConfigurationSpec): BGPConfiguration {
  return { apiVersion: API_VERSION, kind: 'BGPConfiguration', metadata: { name }, spec };
}

export function pool(name: string, cidr: string, opts: Partial<IPPool['spec']> = {}): IPPool {
  const v6 = cidr.includes(':');
  return {
    apiVersion: API_VERSION,
    kind: 'IPPool',
    metadata: { name },
    spec: {
      cidr,
      blockSize: v6 ? 122 : 26,
      nodeSelector: 'all()',
      disabled: false,
      disableBGPExport: false,
      natOutgoing: false,
      allowedUses: ['Workload'],
      assignmentMode: 'Automatic',
      ipipMode: 'Never',
      vxlanMode: 'Never',
      ...opts,
    },
  };
}

/** The real selector parser, as the agent uses it. */
export const matches: SelectorMatcher = (sel, labels) => parseSelector(sel).matches(labels);

/** A RemoteCluster whose gateways here are the nodes `gateways` selects. */
export function remoteCluster(name: string, gateways?: string, uid = `uid-${name}`): RemoteCluster {
  return {
    apiVersion: API_VERSION,
    kind: 'RemoteCluster',
    metadata: { name, uid },
    spec: {
      clusterName: name,
      etcd: { endpoints: ['https://198.18.9.1:2379'] },
      ...(gateways !== undefined ? { gatewayNodeSelector: gateways } : {}),
      remoteGatewaySelector: 'all()',
      staleAfter: '30s',
    },
  };
}

/** The controller's state doc for a connected remote, in the documented shape. */
export function remoteState(name: string, pools: Record<string, string>, gateways: RemoteClusterState['gateways'], uid = `uid-${name}`): RemoteClusterState {
  return {
    name,
    uid,
    clusterName: name,
    connection: 'Connected',
    stale: false,
    revision: '7',
    lastSynced: '2026-12-07T12:00:00Z',
    pools: Object.entries(pools).map(([n, cidr]) => ({ name: n, cidr, disabled: false })),
    blocks: 1,
    nodes: gateways.length,
    asNumber: gateways[0]?.asNumber ?? 64513,
    gateways,
    overlaps: [],
  };
}
