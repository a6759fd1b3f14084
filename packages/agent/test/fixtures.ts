// Small builders for resources used by the agent's unit tests.
import {
  API_VERSION,
  type BGPConfiguration,
  type BGPConfigurationSpec,
  type BGPPeer,
  type BGPPeerSpec,
  type IPPool,
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
