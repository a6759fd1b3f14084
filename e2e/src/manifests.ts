/**
 * The resources a lab starts with, as the YAML an operator would apply:
 * the cluster's BGP settings (node mesh, 1 s keepalives), the top-of-rack
 * router as a global peer, and the pod pools. With BIRD nodes, the ToR is
 * two peers instead, chosen by the label each agent puts on its Node: one
 * with BFD for BIRD nodes, one without for GoBGP nodes (gobgpd has no BFD).
 */
import { BACKEND_LABEL, KEEPALIVE, LAB_BFD, NODE_ASN, POOL_A, POOL_B, TOR_ASN, TOR_IP } from './plan.js';

export interface PoolDef {
  name: string;
  cidr: string;
  blockSize: number;
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

export function labManifests(extraPools: readonly PoolDef[] = [], opts: { birdNodes?: boolean; gracefulRestart?: boolean } = {}): string {
  // Graceful restart is on unless turned off ("0s"); the lab turns it off unless asked for.
  const grOff = opts.gracefulRestart ? [] : ['  maxRestartTime: 0s'];
  const tor = opts.birdNodes
    ? [
        torPeer('tor', [`  nodeSelector: "${BACKEND_LABEL} != 'bird'"`, ...grOff]),
        torPeer('tor-bfd', [`  nodeSelector: "${BACKEND_LABEL} == 'bird'"`, '  bfd:', ...bfdSpec('    '), ...grOff]),
      ]
    : [torPeer('tor', grOff)];
  const docs = [
    [
      'apiVersion: terrace.dev/v1',
      'kind: BGPConfiguration',
      'metadata:',
      '  name: default',
      'spec:',
      `  asNumber: ${NODE_ASN}`,
      '  nodeToNodeMeshEnabled: true',
      `  keepaliveTime: ${KEEPALIVE}`,
      // Acted on only between two nodes that both run BIRD.
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
