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

export function labManifests(extraPools: readonly PoolDef[] = [], opts: { birdNodes?: boolean } = {}): string {
  const tor = opts.birdNodes
    ? [
        torPeer('tor', [`  nodeSelector: "${BACKEND_LABEL} != 'bird'"`]),
        torPeer('tor-bfd', [`  nodeSelector: "${BACKEND_LABEL} == 'bird'"`, '  bfd:', ...bfdSpec('    ')]),
      ]
    : [torPeer('tor', [])];
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
      '',
    ].join('\n'),
    ...tor,
    ...[POOL_A, POOL_B, ...extraPools].map(poolManifest),
  ];
  return docs.join('---\n');
}
