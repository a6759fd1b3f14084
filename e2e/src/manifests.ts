/**
 * The resources a lab starts with, as the YAML an operator would apply:
 * the cluster's BGP settings (node mesh, 1 s keepalives), the top-of-rack
 * router as a global peer (with BFD when the lab's ToR runs it, towards
 * every node: BIRD nodes run BIRD's, GoBGP nodes the agent's), and the pod
 * pools.
 */
import { KEEPALIVE, LAB_BFD, NODE_ASN, POOL_A, POOL_B, RR_LABEL, TOR_ASN, TOR_IP, rrClusterId } from './plan.js';

export interface PoolDef {
  name: string;
  cidr: string;
  blockSize: number;
  /** Written only when set. */
  natOutgoing?: boolean;
}

export function poolManifest(p: PoolDef): string {
  return [
    'apiVersion: terrace.dev/v1',
    'kind: IPPool',
    'metadata:',
    `  name: ${p.name}`,
    'spec:',
    `  cidr: ${p.cidr}`,
    `  blockSize: ${p.blockSize}`,
    '  nodeSelector: all()',
    ...(p.natOutgoing === undefined ? [] : [`  natOutgoing: ${p.natOutgoing}`]),
    '',
  ].join('\n');
}

function torPeer(name: string, extra: readonly string[]): string {
  return [
    'apiVersion: terrace.dev/v1',
    'kind: BGPPeer',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    `  peerIP: ${TOR_IP}`,
    `  asNumber: ${TOR_ASN}`,
    `  keepaliveTime: ${KEEPALIVE}`,
    ...extra,
    '',
  ].join('\n');
}

const bfdSpec = (indent: string): string[] => [`${indent}interval: ${LAB_BFD.intervalMs}ms`, `${indent}multiplier: ${LAB_BFD.multiplier}`];

/**
 * Route reflection as a Calico operator sets it up: the reflectors' Nodes
 * carry a cluster id and a label (applied before their agents register,
 * which keep both), and one BGPPeer peers every node with every reflector.
 * Graceful restart as in labManifests: off unless asked for.
 */
export function reflectorManifests(nodes: readonly { name: string; index: number }[], opts: { gracefulRestart?: boolean } = {}): string {
  const docs = nodes.map(({ name, index }) =>
    ['apiVersion: terrace.dev/v1', 'kind: Node', 'metadata:', `  name: ${name}`, '  labels:', `    ${RR_LABEL}: "true"`, 'spec:', '  bgp:', `    routeReflectorClusterID: ${rrClusterId(index)}`, ''].join('\n'),
  );
  const peer = [
    'apiVersion: terrace.dev/v1',
    'kind: BGPPeer',
    'metadata:',
    '  name: peer-with-route-reflectors',
    'spec:',
    '  nodeSelector: all()',
    `  peerSelector: has(${RR_LABEL})`,
    `  keepaliveTime: ${KEEPALIVE}`,
    ...(opts.gracefulRestart ? [] : ['  maxRestartTime: 0s']),
    '',
  ].join('\n');
  return [...docs, peer].join('---\n');
}

export function labManifests(extraPools: readonly PoolDef[] = [], opts: { torBfd?: boolean; mesh?: boolean; gracefulRestart?: boolean } = {}): string {
  // Graceful restart is on unless turned off ("0s"); the lab turns it off unless asked for.
  const grOff = opts.gracefulRestart ? [] : ['  maxRestartTime: 0s'];
  const tor = [torPeer('tor', [...(opts.torBfd ? ['  bfd:', ...bfdSpec('    ')] : []), ...grOff])];
  const docs = [
    [
      'apiVersion: terrace.dev/v1',
      'kind: BGPConfiguration',
      'metadata:',
      '  name: default',
      'spec:',
      `  asNumber: ${NODE_ASN}`,
      `  nodeToNodeMeshEnabled: ${opts.mesh ?? true}`,
      `  keepaliveTime: ${KEEPALIVE}`,
      // Between every two nodes, whichever backend each runs.
      '  nodeToNodeMeshBFD:',
      ...bfdSpec('    '),
      ...(opts.gracefulRestart ? [] : ['  nodeMeshMaxRestartTime: 0s']),
      '',
    ].join('\n'),
    ...tor,
    ...[POOL_A, POOL_B, ...extraPools].map(poolManifest),
  ];
  return docs.join('---\n');
}
